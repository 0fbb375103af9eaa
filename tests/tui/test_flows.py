"""Pilot tests of the TUI flows against the scripted FakeSession."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, OptionList, RadioButton, Select, Static, TextArea
from textual.worker import WorkerFailed

from kdiag.model import Report
from kdiag.report.render import render
from kdiag.session import RouteRow, WalkRequest
from kdiag.tui.app import KdiagApp, make_app
from kdiag.tui.report_session import ReportSession, report_request
from kdiag.tui.screens.modals import HelpScreen, SaveReportModal
from kdiag.tui.screens.start import StartScreen
from kdiag.tui.screens.walk import WalkScreen
from kdiag.tui.widgets.hop_chain import HopChain
from kdiag.tui.widgets.hop_detail import HopDetail
from kdiag.tui.widgets.verdict import VerdictBanner

from .fakes import TARGET_PORT_FINDING, FakeSession, broken_report, many_routes

SIZE = (100, 30)
WSS = WalkRequest(url="wss://chatapp.com/wss")


async def settle(app: KdiagApp, pilot: object) -> None:
    """Wait for every worker, then drain the messages they posted."""
    for _ in range(2):
        with contextlib.suppress(WorkerFailed):  # failed workers are shown in the UI
            await app.workers.wait_for_complete()
        await pilot.pause()  # type: ignore[attr-defined]


async def routes_read(app: KdiagApp, pilot: object) -> None:
    """Wait (up to 5 s) until the start screen has its route list (possibly empty)."""
    for _ in range(50):
        await settle(app, pilot)
        if getattr(app.screen, "routes_loaded", False):
            return
        await asyncio.sleep(0.1)


def walk_screen(app: KdiagApp) -> WalkScreen:
    assert isinstance(app.screen, WalkScreen), app.screen
    return app.screen


def detail_text(app: KdiagApp) -> str:
    """The plain text of the hop detail panel, as drawn."""
    detail = app.screen.query_one(HopDetail)
    console = Console(width=100, no_color=True, record=True, file=io.StringIO())
    for static in detail.query(Static):
        console.print(static.content)
    return " ".join(console.export_text().split())  # unwrapped: assertions see whole sentences


class TestRoutes:
    async def test_filter_routes_as_you_type(self) -> None:
        """Typing narrows the table; every word must match; clearing shows all again."""
        app = make_app(FakeSession())
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            table = app.screen.query_one("#route-table", DataTable)
            assert table.row_count == 5
            await pilot.press(*"chat api")
            assert table.row_count == 1
            assert "1 of 5" in str(app.screen.query_one("#routes-message", Static).render())
            app.screen.query_one("#route-filter", Input).value = "nothing-like-this"
            await pilot.pause()
            assert table.row_count == 0
            app.screen.query_one("#route-filter", Input).value = ""
            await pilot.pause()
            assert table.row_count == 5

    async def test_enter_walks_the_highlighted_route(self) -> None:
        session = FakeSession()
        app = make_app(session)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press(*"wss", "enter")
            await settle(app, pilot)
            screen = walk_screen(app)
            assert [r.url for r in session.requests] == ["wss://chatapp.com/wss"]
            assert screen.state.report is not None
            assert screen.query_one(VerdictBanner).has_class("-fail")
            assert screen.query_one(HopChain).selected_hop == "service"

    async def test_arrow_keys_in_the_filter_move_the_table_cursor(self) -> None:
        """Type, arrow down to the route, Enter: no need to leave the filter box."""
        session = FakeSession()
        app = make_app(session)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press(*"chatapp", "down", "down", "up", "down", "enter")
            await settle(app, pilot)
            assert [r.url for r in session.requests] == ["wss://chatapp.com/wss"]

    async def test_click_on_a_route_walks_it(self) -> None:
        session = FakeSession()
        app = make_app(session)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            table = app.screen.query_one("#route-table", DataTable)
            table.move_cursor(row=4)
            await pilot.pause()
            table.action_select_cursor()
            await settle(app, pilot)
            assert [r.url for r in session.requests] == ["https://shop.example.com/"]
            assert walk_screen(app).query_one(VerdictBanner).has_class("-ok")

    async def test_five_thousand_routes_stay_filterable(self) -> None:
        """5,000 routes load, filter down to a handful and still start a walk."""
        session = FakeSession(routes_list=many_routes(5000))
        app = make_app(session)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            table = app.screen.query_one("#route-table", DataTable)
            assert table.row_count == 5000
            await pilot.press(*"needle")
            assert table.row_count == 5
            await pilot.press(*"-1007.")
            assert table.row_count == 1
            await pilot.press("enter")
            await settle(app, pilot)
            assert session.requests[-1].url == "https://needle-1007.example.com/"

    async def test_routes_error_is_shown_not_raised(self) -> None:
        app = make_app(FakeSession(fail_routes="403 Forbidden: cannot list ingresses"))
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            message = str(app.screen.query_one("#routes-message", Static).render())
            assert "Could not read routes" in message and "403 Forbidden" in message
            assert app.is_running

    async def test_switch_namespace_reloads_routes(self) -> None:
        app = make_app(FakeSession())
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            app.screen.query_one("#namespace-select", Select).value = "game"
            await settle(app, pilot)
            assert app.session.info().namespace == "game"
            assert "game" in app.sub_title
            assert app.screen.query_one("#route-table", DataTable).row_count == 1


class TestUrlAndSymptoms:
    async def test_typed_url_with_headers(self) -> None:
        session = FakeSession()
        app = make_app(session, start_url="https://shop.example.com/")
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            app.screen.query_one("#headers-input", TextArea).text = "canary: always\nX-Env: blue\n"
            app.screen.query_one("#client-url-input", Input).value = "/wss"
            app.screen.query_one("#page-url-input", Input).value = "https://shop.example.com/chat"
            await pilot.press("f2")
            await pilot.press("enter")
            await settle(app, pilot)
            request = session.requests[-1]
            assert request.url == "https://shop.example.com/"
            assert dict(request.headers) == {"canary": "always", "X-Env": "blue"}
            assert request.client_url == "/wss"
            assert request.page_url == "https://shop.example.com/chat"

    @pytest.mark.parametrize(("url", "headers", "problem"), [
        ("chatapp.com/wss", "", "must start with"),
        ("https://", "", "no host"),
        ("https://chatapp.com/", "not a header line", "Bad header"),
    ])
    async def test_bad_url_form_is_refused(self, url: str, headers: str, problem: str) -> None:
        session = FakeSession()
        app = make_app(session, start_url=url)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await settle(app, pilot)
            app.screen.query_one("#headers-input", TextArea).text = headers
            start = app.screen
            assert isinstance(start, StartScreen)
            start.walk_url()
            await settle(app, pilot)
            assert session.requests == []
            assert isinstance(app.screen, StartScreen)
            assert any(problem in (n.title + n.message) for n in app._notifications)

    async def test_symptom_drops_runs_the_idle_probe(self) -> None:
        """Symptom 'drops after a while' → pick route → the walk asks for a 65 s idle probe."""
        session = FakeSession()
        app = make_app(session)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("f3")
            symptoms = app.screen.query_one("#symptom-list", OptionList)
            assert app.screen.focused is symptoms
            symptoms.highlighted = [o.id for o in symptoms.options].index("ws-drops")
            await pilot.press("enter")
            await pilot.pause()
            hint = app.screen.query_one("#symptom-hint-routes", Static)
            assert hint.display and "idle WebSocket" in str(hint.render())
            await pilot.press(*"chatapp.com /wss", "enter")
            await settle(app, pilot)
            request = session.requests[-1]
            assert (request.url, request.idle, request.symptom) == ("wss://chatapp.com/wss", 65.0,
                                                                   "ws-drops")
            assert "idle probe: 65 s" in str(walk_screen(app).query_one("#target-bar").render())

    async def test_websocket_symptom_turns_http_route_into_ws(self) -> None:
        session = FakeSession()
        app = make_app(session, start_symptom="ws-connect")
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press(*"chatapp.com api", "enter")
            await settle(app, pilot)
            assert session.requests[-1].url == "wss://chatapp.com/api"
            assert session.requests[-1].idle is None


class TestWalk:
    async def test_open_a_hop_shows_evidence_note_and_fix(self) -> None:
        app = make_app(FakeSession(), open_walk=WSS)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            text = detail_text(app)
            assert "service-target-port-mismatch" in text and "root cause" in text
            assert TARGET_PORT_FINDING.fix in text
            assert "What is the Service hop?" in text
            await pilot.press("down", "down")  # service → endpoints → pods
            await settle(app, pilot)
            text = detail_text(app)
            assert app.screen.query_one(HopDetail).hop == "pod"
            assert "via port-forward" in text and "101" in text
            assert "response: HTTP/1.1 101 Switching Protocols" in text
            assert "readinessProbe" in text

    async def test_copy_fix_puts_it_on_the_clipboard(self) -> None:
        app = make_app(FakeSession(), open_walk=WSS)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("c")
            assert app.clipboard == TARGET_PORT_FINDING.fix

    async def test_save_report_and_reload_it(self, tmp_path: Path) -> None:
        app = make_app(FakeSession(), open_walk=WSS)
        target = tmp_path / "incident.json"
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, SaveReportModal)
            app.screen.query_one("#save-path", Input).value = str(target)
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, WalkScreen)
        loaded = Report.from_dict(json.loads(target.read_text(encoding="utf-8")))
        assert loaded.verdict.check == "service-target-port-mismatch"
        assert loaded.to_dict() == broken_report().to_dict()

    async def test_edit_headers_reruns_with_them_and_redacts_credentials(self) -> None:
        session = FakeSession()
        app = make_app(session, open_walk=WSS)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("e")
            await pilot.pause()
            app.screen.query_one("#headers-edit", TextArea).text = (
                "canary: always\nAuthorization: Bearer s3cr3t-token\n")
            await pilot.press("ctrl+s")
            await settle(app, pilot)
            assert len(session.requests) == 2
            assert dict(session.requests[-1].headers) == {
                "canary": "always", "Authorization": "Bearer s3cr3t-token"}
            bar = str(walk_screen(app).query_one("#target-bar").render())
            assert "canary: always" in bar and "<redacted>" in bar and "s3cr3t" not in bar

    async def test_walk_screen_hides_every_header_a_report_hides(self) -> None:
        """One redaction rule: X-Api-Key (and other credential headers) are hidden on screen too."""
        headers = {"X-Api-Key": "apikey-777", "X-Auth-Request-Access-Token": "tok-888", "canary": "always"}
        app = make_app(FakeSession(), open_walk=WalkRequest(url="wss://chatapp.com/wss", headers=headers))
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            bar = str(walk_screen(app).query_one("#target-bar").render())
            assert "canary: always" in bar and "X-Api-Key: <redacted>" in bar
            assert "apikey-777" not in bar and "tok-888" not in bar
            report = render(broken_report(headers=headers), "json")
            assert "apikey-777" not in report and "tok-888" not in report

    async def test_idle_action_reruns_with_duration(self) -> None:
        session = FakeSession()
        app = make_app(session, open_walk=WSS)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("i")
            await pilot.pause()
            app.screen.query_one("#idle-seconds", Input).value = "90"
            await pilot.press("enter")
            await settle(app, pilot)
            assert session.requests[-1].idle == 90.0
            assert any(p.kind == "idle" for p in walk_screen(app).state.hop("ingress").probes)

    async def test_escape_cancels_a_running_walk(self) -> None:
        session = FakeSession(hold_after=5)
        app = make_app(session, open_walk=WSS)
        async with app.run_test(size=SIZE) as pilot:
            await session.reached.wait()
            await pilot.pause()
            screen = walk_screen(app)
            assert screen.state.running and screen.state.hop("ingress").state == "running"
            assert screen.state.hop("client").state == "ok"
            await pilot.press("escape")
            await settle(app, pilot)
            assert session.cancelled == 1
            assert screen.state.cancelled and screen.state.report is None
            assert screen.query_one(VerdictBanner).has_class("-cancelled")
            assert screen.state.hop("ingress").state == "cancelled"
            assert screen.state.hop("client").state == "ok"
            await pilot.press("escape")  # now it goes back to the start screen
            await pilot.pause()
            assert isinstance(app.screen, StartScreen)

    async def test_rerun_replaces_a_running_walk(self) -> None:
        session = FakeSession(hold_after=5)
        app = make_app(session, open_walk=WSS)
        async with app.run_test(size=SIZE) as pilot:
            await session.reached.wait()
            session.release()
            session.hold_after = None
            await pilot.press("r")
            await settle(app, pilot)
            screen = walk_screen(app)
            assert len(session.requests) == 2
            assert screen.state.report is not None and not screen.state.cancelled

    async def test_failed_walk_shows_an_error_panel(self) -> None:
        app = make_app(FakeSession(fail_walk="the API server closed the connection"),
                       open_walk=WSS)
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await settle(app, pilot)
            screen = walk_screen(app)
            banner = screen.query_one(VerdictBanner)
            assert banner.has_class("-error")
            assert "the API server closed the connection" in str(banner.render())
            assert any(n.title == "The walk failed" for n in app._notifications)
            assert app.is_running

    async def test_palette_and_help(self) -> None:
        session = FakeSession()
        app = make_app(session, open_walk=WSS)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"rerun")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await settle(app, pilot)
            assert len(session.requests) == 2
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, WalkScreen)

    async def test_quit_closes_the_session(self) -> None:
        session = FakeSession()
        app = make_app(session, open_walk=WSS)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("q")
            await pilot.pause()
        assert session.closed
        assert app.return_code == 0


class TestSavedReport:
    async def test_report_is_shown_read_only(self) -> None:
        report = broken_report()
        app = make_app(ReportSession(report), open_walk=report_request(report))
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await settle(app, pilot)
            screen = walk_screen(app)
            assert screen.query_one(VerdictBanner).has_class("-fail")
            assert screen.query_one(HopChain).selected_hop == "service"
            assert screen.state.hop("pod").probes[0].status_code == 101
            await pilot.press("r")
            await pilot.pause()
            assert any("saved report" in n.message for n in app._notifications)
            assert screen.state.report is report


class TestMouseColourAndFormats:
    async def test_clicking_a_hop_opens_it(self) -> None:
        app = make_app(FakeSession(), open_walk=WSS)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            chain = app.screen.query_one(HopChain)
            # each hop is two lines; the border takes one: line 9 is the Pods hop
            assert await pilot.click(HopChain, offset=(5, 9))
            await settle(app, pilot)
            assert chain.selected_hop == "pod"
            assert app.screen.query_one(HopDetail).hop == "pod"

    async def test_no_color_still_says_what_broke(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With NO_COLOR the glyphs and words carry the verdict, not colours."""
        monkeypatch.setenv("NO_COLOR", "1")
        app = make_app(FakeSession(), open_walk=WSS)
        assert app.no_color
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            banner = str(app.screen.query_one(VerdictBanner).render())
            assert banner.startswith("✗ Broken at Service")

    @pytest.mark.parametrize(("fmt", "suffix", "marker"), [
        ("markdown", ".md", "service-target-port-mismatch"),
        ("html", ".html", "<html"),
        ("text", ".txt", "service-target-port-mismatch"),
    ])
    async def test_save_other_formats(self, tmp_path: Path, fmt: str, suffix: str,
                                      marker: str) -> None:
        app = make_app(FakeSession(), open_walk=WSS)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("s")
            await pilot.pause()
            modal = app.screen
            assert isinstance(modal, SaveReportModal)
            button = next(b for b in modal.query(RadioButton) if b.name == fmt)
            button.value = True
            await pilot.pause()
            path_input = modal.query_one("#save-path", Input)
            assert path_input.value.endswith(suffix)
            path_input.value = str(tmp_path / f"incident{suffix}")
            await pilot.press("enter")
            await pilot.pause()
        text = (tmp_path / f"incident{suffix}").read_text(encoding="utf-8")
        assert marker in text.lower() or marker in text


async def test_quit_during_a_walk_cancels_it_and_closes_the_session() -> None:
    session = FakeSession(hold_after=5)
    app = make_app(session, open_walk=WSS)
    async with app.run_test(size=SIZE) as pilot:
        await session.reached.wait()
        await pilot.press("q")
        await pilot.pause()
    assert session.cancelled == 1 and session.closed


async def test_current_context_missing_from_the_list_is_still_selectable() -> None:
    session = FakeSession(context="in-cluster", contexts=("prod-sh",), namespace="kube-public",
                          namespaces=("default",))
    app = make_app(session)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.screen.query_one("#context-select", Select).value == "in-cluster"
        assert app.screen.query_one("#namespace-select", Select).value == "kube-public"


async def test_a_lint_report_without_hops_opens_too() -> None:
    """`kdiag report show` on a lint report: no target, no hops; findings still shown."""
    from kdiag.model import Finding, SourceInfo, Verdict

    typo = Finding(check="manifest-unknown-field", severity="error", hop="manifest",
                   object="Deployment default/game", message="unknown field periodSecods",
                   fix="Rename periodSecods to periodSeconds.")
    report = Report(source=SourceInfo(kind="manifests", paths=("game.yaml",)), findings=(typo,),
                    verdict=Verdict(status="fail", hop="manifest", check=typo.check,
                                    summary="1 error in game.yaml"))
    app = make_app(ReportSession(report), open_walk=report_request(report))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        screen = walk_screen(app)
        assert screen.query_one(VerdictBanner).has_class("-fail")
        assert all(v.state == "skip" for v in screen.state.hops.values())
        assert "periodSecods" in detail_text(app)  # under "Other findings" on the client hop
        await pilot.press("c")
        assert app.clipboard == typo.fix


class TestClusterTextIsNotMarkup:
    """Paths, notes and what the user types are shown as written: `[…]` is not Rich/Textual markup
    (a regex path like `/api/[0-9]+` lost its brackets, and `[/x]` crashed the screen)."""

    ROWS = [RouteRow(url="http://a.example.com/api/[0-9]+", ingress="default/regex", host="a.example.com",
                     path="/api/[0-9]+", path_type="ImplementationSpecific", service="default/api:80",
                     pods_ready="1/1", status="warn", note="probe failed: GET [/healthz] answered 500"),
            RouteRow(url="http://b.example.com/[/x]", ingress="default/odd", host="b.example.com",
                     path="/[/x]", path_type="Prefix", service="default/b:80", pods_ready="1/1", status="ok")]

    async def test_route_cells_and_messages_keep_their_brackets(self) -> None:
        app = make_app(FakeSession(routes_list=list(self.ROWS)))
        async with app.run_test(size=(140, 30)) as pilot:
            await routes_read(app, pilot)
            table = app.screen.query_one("#route-table", DataTable)
            assert table.row_count == 2
            drawn = [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(2)]
            assert drawn[0][2] == "/api/[0-9]+" and drawn[1][2] == "/[/x]"
            assert "[/healthz]" in drawn[0][5]
            await pilot.press(*"[/x]z")  # matches nothing: the message repeats the query
            await pilot.pause()
            assert table.row_count == 0
            message = str(app.screen.query_one("#routes-message", Static).render())
            assert "No route matches '[/x]z'" in message
            app.screen.query_one("#route-filter", Input).value = ""
            await pilot.pause()
            assert table.row_count == 2
            app.screen.notify("cannot walk http://b.example.com/[/x]")  # a notification: plain text too
            await pilot.pause()
            assert any("[/x]" in str(n.message) for n in app._notifications)
