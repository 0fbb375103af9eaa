"""Issue 12's TUI points: saved-report keys, the route filter, k9s keys, 80×24 layout, loading."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from textual.widgets import DataTable, Input, Static

from kdiag.model import Report, RouteInfo
from kdiag.session import RouteRow, WalkRequest
from kdiag.tui.app import KdiagApp, make_app
from kdiag.tui.report_session import ReportSession, ready_count, report_request
from kdiag.tui.screens.command_line import CommandLine, complete, parse_command
from kdiag.tui.screens.modals import HeadersModal, HelpScreen, IdleModal, help_text
from kdiag.tui.screens.start import StartScreen
from kdiag.tui.screens.walk import WalkScreen
from kdiag.tui.widgets.hop_chain import HopChain
from kdiag.tui.widgets.hop_detail import CodeBlock, FindingCard, HopDetail
from kdiag.tui.widgets.verdict import VerdictBanner

from .fakes import ROUTES, TARGET_PORT_FINDING, FakeSession, broken_report
from .test_flows import routes_read, settle

SMALL = (80, 24)
WSS = WalkRequest(url="wss://chatapp.com/wss")

LONG_FIX = ("In Service default/chatapp-svc:\n\n```yaml\nports:\n  - name: ws\n    port: 3003\n"
            "    targetPort: ws    # containerPort 3002 of container 'chatapp', the one that listens\n"
            "```\n\nSet each `targetPort` to a port the container listens on.")


def shown_keys(app: KdiagApp) -> set[str]:
    """The keys the footer advertises on the current screen."""
    return {key for key, active in app.active_bindings.items() if active.binding.show}


def long_report() -> Report:
    """The broken report with a long verdict and a fix holding YAML wider than the panel."""
    report = broken_report()
    finding = replace(TARGET_PORT_FINDING, fix=LONG_FIX)
    verdict = replace(report.verdict, summary=TARGET_PORT_FINDING.message + " " + " ".join(
        ["Unless the process also listens on 5003 without declaring it, connections are refused."] * 3),
        finding=0)
    return replace(report, findings=(finding, *report.findings[1:]), verdict=verdict)


class TestSavedReport:
    async def test_keys_that_cannot_work_are_not_advertised(self) -> None:
        report = broken_report()
        app = make_app(ReportSession(report), open_walk=report_request(report))
        async with app.run_test(size=(120, 30), notifications=True) as pilot:
            await settle(app, pilot)
            assert isinstance(app.screen, WalkScreen)
            keys = shown_keys(app)
            assert {"s", "c"} <= keys and not {"r", "e", "i"} & keys
            assert all(cmd[2] not in ("rerun", "edit_headers", "idle")
                       for cmd in app.screen.palette_commands())
            await pilot.press("e")  # pressing one anyway says why, and opens nothing
            await pilot.pause()
            assert isinstance(app.screen, WalkScreen)
            assert any("saved report" in n.message for n in app._notifications)
            await pilot.press("f1")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen) and app.screen.read_only

    async def test_a_live_walk_still_offers_them(self) -> None:
        app = make_app(FakeSession(), open_walk=WSS)
        async with app.run_test(size=(120, 30)) as pilot:
            await settle(app, pilot)
            assert {"r", "e", "i", "s", "c"} <= shown_keys(app)

    def test_help_of_a_saved_report_leaves_out_the_probe_keys(self) -> None:
        assert "| `r` |" in help_text() and "| `i` |" in help_text()
        text = help_text(read_only=True)
        assert "| `r` |" not in text and "| `e` |" not in text and "| `i` |" not in text
        assert "saved report" in text and "| `s` |" in text

    def test_route_list_shows_ready_over_total(self) -> None:
        route = RouteInfo(ingress="default/chatapp", service="default/chatapp-svc", port=3003,
                          pods=("Pod default/a", "Pod default/b"),
                          extra={"backend": {"endpoints": [{"pod": "default/a", "ready": True},
                                                           {"pod": "default/b", "ready": False}]}})
        report = replace(broken_report(), route=route)
        assert ready_count(report) == "1/2"
        assert ready_count(replace(report, route=replace(route, extra={}))) == "?/2"

    async def test_route_list_of_a_saved_report(self) -> None:
        route = RouteInfo(ingress="default/chatapp", service="default/chatapp-svc", port=3003,
                          pods=("Pod default/a", "Pod default/b"),
                          extra={"backend": {"endpoints": [{"pod": "default/a", "ready": True},
                                                           {"pod": "default/b", "ready": True}]}})
        rows = await ReportSession(replace(broken_report(), route=route)).routes()
        assert rows[0].pods_ready == "2/2"


class TestRootCauseOnScreen:
    async def test_the_marked_card_is_the_verdicts_finding(self) -> None:
        app = make_app(FakeSession(), open_walk=WSS)
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            cards = app.screen.query_one(HopDetail).cards()
            marked = [c for c in cards if c.is_verdict]
            assert len(marked) == 1 and marked[0] is cards[0]
            assert marked[0].finding == TARGET_PORT_FINDING
            await pilot.press("c")
            assert app.clipboard == TARGET_PORT_FINDING.fix


class TestFilter:
    async def test_the_note_is_not_searched(self) -> None:
        """`api` finds the /api route, not every route whose note mentions an API."""
        routes = [replace(r, note=f"{r.note} (the api answers 502)") for r in ROUTES]
        app = make_app(FakeSession(routes_list=routes))
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            await pilot.press(*"api")
            table = app.screen.query_one("#route-table", DataTable)
            assert table.row_count == 1
            await pilot.press("enter")
            await settle(app, pilot)
            assert walk_url(app) == "https://chatapp.com/api"

    async def test_typing_while_routes_load_keeps_reading(self) -> None:
        gate = asyncio.Event()

        class SlowSession(FakeSession):
            async def routes(self) -> list[RouteRow]:
                await gate.wait()
                return await super().routes()

        app = make_app(SlowSession())
        async with app.run_test(size=SMALL) as pilot:
            await pilot.pause()
            await pilot.press(*"chat")
            message = str(app.screen.query_one("#routes-message", Static).render())
            assert "Reading routes" in message and "No Ingress routes" not in message
            gate.set()
            await settle(app, pilot)
            message = str(app.screen.query_one("#routes-message", Static).render())
            assert "3 of 5 routes" in message


def walk_url(app: KdiagApp) -> str:
    assert isinstance(app.screen, WalkScreen)
    return app.screen.request.url


class TestKeys:
    async def test_help_and_quit_on_the_first_screen(self) -> None:
        session = FakeSession()
        app = make_app(session)
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            assert isinstance(app.focused, Input)  # the empty filter has the focus
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("q")
            await pilot.pause()
            assert isinstance(app.screen, StartScreen)
            assert app.screen.query_one("#route-filter", Input).value == ""
            await pilot.press(*"sq")  # a filter with text takes every letter
            assert app.screen.query_one("#route-filter", Input).value == "sq"
            app.screen.query_one("#route-filter", Input).value = ""
            await pilot.press("q")
            await pilot.pause()
        assert session.closed and app.return_code == 0

    async def test_ctrl_c_quits(self) -> None:
        session = FakeSession()
        app = make_app(session, open_walk=WSS)
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            await pilot.press("ctrl+c")
            await pilot.pause()
        assert session.closed and app.return_code == 0

    async def test_down_leaves_the_filter_and_j_k_move(self) -> None:
        session = FakeSession()
        app = make_app(session)
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            table = app.screen.query_one("#route-table", DataTable)
            await pilot.press("down")
            assert app.focused is table and table.cursor_row == 1
            await pilot.press("j", "j", "k")
            assert table.cursor_row == 2
            await pilot.press("up", "up", "up")  # past the first row: back to the filter
            assert isinstance(app.focused, Input) and app.focused.id == "route-filter"
            await pilot.press("down", "j", "enter")
            await settle(app, pilot)
            assert session.requests[-1].url == "wss://chatapp.com/wss"
            chain = app.screen.query_one(HopChain)
            chain.focus()
            await pilot.press("k")
            assert chain.selected_hop == "ingress"
            await pilot.press("j", "j")
            assert chain.selected_hop == "endpoints"

    async def test_command_line_switches_namespace(self) -> None:
        app = make_app(FakeSession(), open_walk=WSS)
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            await pilot.press("colon")
            await pilot.pause()
            assert isinstance(app.screen, CommandLine)
            await pilot.press(*"ns nope", "enter")
            await pilot.pause()
            error = str(app.screen.query_one("#command-error", Static).render())
            assert "No namespace 'nope'" in error and "default, game" in error
            app.screen.query_one("#command-input", Input).value = ""
            await pilot.press(*"ns g", "tab")
            await pilot.pause()
            assert app.screen.query_one("#command-input", Input).value == "ns game"
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, StartScreen)  # back on the list of the new namespace
            assert app.session.info().namespace == "game"
            assert app.screen.query_one("#route-table", DataTable).row_count == 1

    def test_completion_and_parsing(self) -> None:
        names = {"contexts": ("prod-sh", "staging"), "namespaces": ("default", "game")}
        assert complete("n", **names) == "namespace"
        assert complete("ctx st", **names) == "ctx staging"
        assert complete("ns ", **names) == "ns default"
        assert complete("ns zz", **names) is None
        assert parse_command("context staging", **names).arg == "staging"  # type: ignore[union-attr]
        assert "Unknown command 'foo'" in str(parse_command("foo", **names))
        assert "No context 'dev'" in str(parse_command("ctx dev", **names))
        assert "saved report" in str(parse_command("ns game", **names, read_only=True))


class TestSmallTerminal:
    async def test_verdict_route_and_fix_fit_at_80x24(self) -> None:
        report = long_report()
        app = make_app(ReportSession(report), open_walk=report_request(report))
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            banner = app.screen.query_one(VerdictBanner)
            shown = str(banner.render())
            # The verdict and the fix are read without scrolling: the message is shortened (…) and
            # the fix keeps a line of its own; the card below holds the whole message.
            assert shown.startswith("✗ Broken at Service (service-target-port-mismatch): ")
            assert report.verdict.summary[:60] in shown.replace("\n", " ")
            assert "…" in shown and report.verdict.summary not in shown.replace("\n", " ")
            assert shown.splitlines()[-1] == "Fix: In Service default/chatapp-svc — below (c copies it)"
            assert 4 < banner.virtual_size.height <= banner.size.height
            root_card = next(c for c in app.screen.query(FindingCard) if c.is_verdict)
            assert TARGET_PORT_FINDING.message in shown.replace("\n", " ") and not root_card.repeat_message
            route = app.screen.query_one("#route-box", Static)
            text = str(route.render())
            assert "port 3003 → targetPort 5003" in text and "→ 1 pod" in text
            rows = text.splitlines()
            assert route.content_region.height >= rows.index("→ 1 pod") + 1  # seen, not scrolled to
            block = app.screen.query_one(CodeBlock)
            longest = max(len(line) for line in block.code.splitlines())
            assert block.virtual_size.width >= longest  # one line each: it scrolls sideways
            assert block.virtual_size.height == len(block.code.splitlines())
            assert isinstance(block.parent, FindingCard)

    async def test_a_message_longer_than_the_banner_is_whole_in_its_card(self) -> None:
        report = broken_report()
        long_message = "port 3003 (ws) targets 5003: " + "the pods declare other ports; " * 30
        finding = replace(TARGET_PORT_FINDING, message=long_message, fix="Set targetPort: ws on port 3003.")
        verdict = replace(report.verdict, summary=f"Service default/chatapp-svc: {long_message}", finding=0)
        report = replace(report, findings=(finding, *report.findings[1:]), verdict=verdict)
        app = make_app(ReportSession(report), open_walk=report_request(report))
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            banner = app.screen.query_one(VerdictBanner)
            shown = str(banner.render())
            assert banner.virtual_size.height <= banner.size.height == 6
            assert shown.splitlines()[-1] == "Fix: Set targetPort: ws on port 3003."
            assert "…" in shown.splitlines()[-2]
            card = next(c for c in app.screen.query(FindingCard) if c.is_verdict)
            assert card.repeat_message
            assert long_message.strip() in str(card.query_one(Static).render()).replace("\n", " ")
            await pilot.resize_terminal(160, 24)  # wider: refitted, still without scrolling
            await settle(app, pilot)
            wide = str(banner.render())
            assert len(wide) > len(shown) and banner.virtual_size.height <= banner.size.height

    async def test_every_hop_has_its_row_and_state(self) -> None:
        report = broken_report()
        app = make_app(ReportSession(report), open_walk=report_request(report))
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            chain = app.screen.query_one(HopChain)
            assert chain.virtual_size.height <= chain.content_region.height == len(chain.hops)
            width = chain.content_region.width
            for index in range(len(chain.hops)):
                prompt = str(chain.get_option_at_index(index).prompt)
                assert "\n" not in prompt and len(prompt) <= width, prompt

    async def test_zoom_gives_the_fix_the_whole_width(self) -> None:
        report = long_report()
        app = make_app(ReportSession(report), open_walk=report_request(report))
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            detail = app.screen.query_one(HopDetail)
            narrow = detail.size.width
            await pilot.press("z")
            await pilot.pause()
            assert detail.size.width > narrow + 20
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, WalkScreen) and detail.size.width == narrow

    @pytest.mark.parametrize(("key", "modal"), [("i", IdleModal), ("e", HeadersModal)])
    async def test_dialogs_show_their_whole_explanation(self, key: str, modal: type) -> None:
        app = make_app(FakeSession(), open_walk=WSS)
        async with app.run_test(size=SMALL) as pilot:
            await settle(app, pilot)
            await pilot.press(key)
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, modal)
            text = screen.query_one(".dialog-text", Static)
            dialog = screen.query_one(".dialog")
            assert "s" in str(text.render())
            assert text.size.height >= len(str(text.render()).splitlines()) >= 1
            assert dialog.region.contains_region(text.region)
            assert screen.region.contains_region(dialog.region)
            buttons = screen.query_one(".dialog-buttons")
            assert dialog.region.contains_region(buttons.region)


class TestMissingNamespace:
    async def test_the_tui_says_a_namespace_does_not_exist(self) -> None:
        """`kdiag -n nope` on the lab: the route list says the namespace is missing (and a
        notification says it once), instead of an empty "No Ingress routes"."""
        from kdiag.diagnose import cluster_session
        from kdiag.lab.scenario_lab import Lab
        from kdiag.lab.scenarios import SCENARIOS

        for namespace, missing in (("nope", True), ("default", False)):
            with Lab(SCENARIOS["healthy"]) as lab:
                session = cluster_session(kubeconfig=str(lab.kubeconfig), context=None, namespace=namespace)
                app = make_app(session)
                async with app.run_test(size=SMALL, notifications=True) as pilot:
                    screen = app.screen
                    assert isinstance(screen, StartScreen)
                    await routes_read(app, pilot)
                    message = str(screen.query_one("#routes-message", Static).render())
                    notes = [n.message for n in app._notifications if "does not exist" in n.message]
                    if missing:
                        assert message.startswith("✗ Namespace 'nope' does not exist in context kdiag-lab"), message
                        assert "ns NAME" in message
                        assert notes == ["namespace 'nope' does not exist in context kdiag-lab; nothing is read "
                                         "from it (`kubectl get namespaces` lists them)"]
                    else:
                        assert "does not exist" not in message and not notes
                    if missing:  # reading the routes again (F5) does not say it a second time
                        screen.load_routes()
                        await settle(app, pilot)
                        again = [n for n in app._notifications if "does not exist" in n.message]
                        assert len(again) == 1 and "does not exist" in str(
                            screen.query_one("#routes-message", Static).render())
                    await session.close()

    async def test_switching_to_a_namespace_says_it_again(self) -> None:
        app = make_app(FakeSession(namespaces=("default", "game", "gone")))
        async with app.run_test(size=SMALL, notifications=True) as pilot:
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, StartScreen) and screen.namespace_note is None
            screen.switch_source(namespace="elsewhere")
            await settle(app, pilot)
            assert screen.namespace_note == "namespace 'elsewhere' does not exist in context prod-sh"
