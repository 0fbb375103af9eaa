"""Pure parts of the TUI: walk-state folding, route filter, headers, URLs, saving, report session."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from kdiag.events import HopFinished, HopStarted, ProbeFinished, ProbeStarted, WalkFinished
from kdiag.headers import format_header_lines, parse_header_lines
from kdiag.model import Report, RouteInfo
from kdiag.session import SYMPTOMS, WalkRequest
from kdiag.tui.formatting import (
    finding_renderable,
    probe_text,
    redact_headers,
    route_text,
    verdict_text,
)
from kdiag.tui.report_session import ReportSession, report_request
from kdiag.tui.routes import RouteFilter, find_symptom, url_for_symptom
from kdiag.tui.saving import default_report_path, save_report
from kdiag.tui.screens.start import validate_url
from kdiag.tui.state import WalkState

from .fakes import (
    ROUTES,
    TARGET_PORT_FINDING,
    broken_report,
    healthy_report,
    many_routes,
    walk_events,
)

WSS = WalkRequest(url="wss://chatapp.com/wss")


class TestWalkState:
    def test_events_fill_the_hops_in_order(self) -> None:
        state = WalkState(request=WSS)
        seen: list[tuple[str, str]] = []
        for event in walk_events(WSS):
            hop = state.apply(event)
            if hop is not None and isinstance(event, HopStarted | HopFinished):
                seen.append((hop, state.hop(hop).state))
        assert seen[:4] == [("client", "running"), ("client", "ok"), ("ingress", "running"),
                            ("ingress", "fail")]
        assert state.report is not None and not state.running
        assert [v.state for v in state.hops.values()] == ["ok", "fail", "fail", "ok", "ok"]
        assert state.hop("pod").elapsed_ms == 6.4

    def test_probe_started_then_finished_clears_running(self) -> None:
        state = WalkState(request=WSS)
        probe = broken_report().hops[4].probes[0]  # type: ignore[index]
        state.apply(ProbeStarted("pod", probe.kind, probe.via, probe.target))
        assert state.hop("pod").state == "running" and len(state.hop("pod").running) == 1
        state.apply(ProbeFinished("pod", probe))
        assert state.hop("pod").running == [] and state.hop("pod").probes == [probe]

    def test_root_finding_prefers_the_routes_port(self) -> None:
        """Three ports share the check; the one about this route's port is the root cause."""
        other = replace(TARGET_PORT_FINDING, message="port 3002 (api) targets 5002",
                        evidence={"service_port": 3002, "target_port": 5002})
        report = replace(broken_report(), findings=(other, TARGET_PORT_FINDING))
        state = WalkState.from_report(report)
        assert state.root_finding() is TARGET_PORT_FINDING
        assert state.findings_for("service") == [TARGET_PORT_FINDING, other]

    def test_findings_for_puts_the_verdict_check_first(self) -> None:
        state = WalkState(request=WSS)
        state.apply(WalkFinished(broken_report()))
        assert state.findings_for("service") == [TARGET_PORT_FINDING]
        assert [f.check for f in state.findings_for("pod")] == ["pod-readiness-probe-missing"]
        assert state.findings_for("endpoints") == []

    def test_hops_missing_from_the_report_are_skipped(self) -> None:
        report = walk_events(WalkRequest(url="https://nowhere.example.com/"))[-1]
        assert isinstance(report, WalkFinished)
        state = WalkState(request=WSS)
        state.apply(HopStarted("service", "probing"))
        state.apply(report)
        assert state.hop("ingress").state == "fail"
        assert state.hop("service").state == "skip" and state.hop("pod").state == "skip"

    @pytest.mark.parametrize(("action", "running_to", "pending_to", "banner"), [
        ("cancel", "cancelled", "cancelled", "cancelled"),
        ("fail", "cancelled", "skip", "error"),
    ])
    def test_cancel_and_fail(self, action: str, running_to: str, pending_to: str,
                             banner: str) -> None:
        state = WalkState(request=WSS)
        state.apply(HopStarted("client", "checking the URL"))
        if action == "cancel":
            state.cancel()
        else:
            state.fail("boom")
        assert state.hop("client").state == running_to
        assert state.hop("pod").state == pending_to
        assert not state.running
        assert verdict_text(state)[1] == banner

    def test_from_report(self) -> None:
        state = WalkState.from_report(healthy_report())
        assert state.request.url == "https://shop.example.com/"
        assert all(v.state == "ok" for v in state.hops.values())
        text, kind = verdict_text(state)
        assert kind == "ok" and "Healthy" in text.plain


def plain_text(renderable: object) -> str:
    console = Console(width=100, no_color=True, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


class TestRender:
    def test_verdict_names_hop_and_check(self) -> None:
        state = WalkState.from_report(broken_report())
        text, kind = verdict_text(state)
        assert kind == "fail"
        assert text.plain.startswith("✗ Broken at Service (service-target-port-mismatch)")

    def test_probe_text_shows_evidence_and_redacts_credentials(self) -> None:
        probe = broken_report().hops[4].probes[0]  # type: ignore[index]
        plain = probe_text(probe).plain
        assert "websocket via port-forward" in plain and "101" in plain
        assert "HTTP/1.1 101 Switching Protocols" in plain
        from kdiag.model import ProbeResult

        secret = ProbeResult(kind="http", via="direct", target="127.0.0.1:1", ok=True,
                             extra={"request_headers": {"Authorization": "Bearer abc"},
                                    "request": ["GET / HTTP/1.1", "Cookie: session=xyz"]})
        plain = probe_text(secret).plain
        assert "abc" not in plain and "xyz" not in plain and plain.count("<redacted>") == 2

    def test_probe_text_redacts_by_the_report_rule(self) -> None:
        from kdiag.model import ProbeResult

        probe = ProbeResult(kind="http", via="direct", target="127.0.0.1:1", ok=True,
                            extra={"request_headers": {"X-Api-Key": "k-111", "X-Trace": "t-1"},
                                   "raw": ["X-Goog-Api-Key: k-222", "Server: nginx"],
                                   "request": "GET /?access%5Ftoken=k-333 HTTP/1.1\r\nX-Csrf-Token: k-444\r\n"})
        plain = probe_text(probe).plain
        for secret in ("k-111", "k-222", "k-333", "k-444"):
            assert secret not in plain, secret
        assert "t-1" in plain and "Server: nginx" in plain and plain.count("<redacted>") == 4

    def test_finding_shows_explanation_and_markdown_fix(self) -> None:
        finding = replace(TARGET_PORT_FINDING, fix="Set the port:\n\n```yaml\ntargetPort: ws\n```")
        plain = plain_text(finding_renderable(finding, is_verdict=True))
        assert "◀ root cause" in plain
        assert "Why" in plain and "If no container listens there" in plain
        assert "Fix (c copies it)" in plain and "targetPort: ws" in plain
        assert "```" not in plain  # the Markdown is rendered, not shown raw

    def test_route_text(self) -> None:
        plain = route_text(broken_report().route).plain
        assert plain.splitlines()[:2] == ["Ingress default/chatapp", "  chatapp.com/wss (Prefix)"]
        assert "→ targetPort 5003" in plain and "→ 1 pod" in plain
        assert route_text(None).plain == "route not resolved yet"
        assert route_text(RouteInfo()).plain.startswith("no route")


class TestRoutesAndSymptoms:
    @pytest.mark.parametrize(("query", "expected"), [
        ("", 5), ("chatapp", 3), ("CHAT wss", 1), ("proxy-read-timeout", 0), ("warn", 1),
        ("game-socket:7003", 1), ("zzz", 0),
    ])
    def test_filter(self, query: str, expected: int) -> None:
        assert len(RouteFilter(ROUTES)(query)) == expected

    def test_filter_many(self) -> None:
        f = RouteFilter(many_routes(5000))
        assert len(f("needle")) == 5
        assert f("needle-4007.") == [4007]

    @pytest.mark.parametrize(("key", "url", "expected"), [
        ("ws-connect", "https://chatapp.com/api", "wss://chatapp.com/api"),
        ("ws-drops", "http://chatapp.com/wss", "ws://chatapp.com/wss"),
        ("ws-drops", "wss://chatapp.com/wss", "wss://chatapp.com/wss"),
        ("502", "https://chatapp.com/", "https://chatapp.com/"),
        (None, "https://chatapp.com/", "https://chatapp.com/"),
    ])
    def test_url_for_symptom(self, key: str | None, url: str, expected: str) -> None:
        assert url_for_symptom(url, find_symptom(key)) == expected

    def test_every_symptom_is_findable(self) -> None:
        assert [find_symptom(s.key) for s in SYMPTOMS] == list(SYMPTOMS)
        assert find_symptom("ws-drops").idle == 65.0  # type: ignore[union-attr]

    @pytest.mark.parametrize(("url", "ok"), [
        ("https://chatapp.com/", True), ("wss://chatapp.com/wss", True), ("ws://127.0.0.1:8080/", True),
        ("chatapp.com", False), ("ftp://chatapp.com/", False), ("https://", False), ("/wss", False),
    ])
    def test_validate_url(self, url: str, ok: bool) -> None:
        assert (validate_url(url) is None) is ok


class TestHeaders:
    def test_parse(self) -> None:
        headers, errors = parse_header_lines("canary: always\n\n# note\nX-Env:  blue \nbad line\n"
                                             "Bad Name: x\n")
        assert headers == {"canary": "always", "X-Env": "blue"}
        assert [e.split(":")[0] for e in errors] == ["line 5", "line 6"]

    def test_round_trip(self) -> None:
        headers = {"canary": "always", "X-Trace": "a:b"}
        assert parse_header_lines(format_header_lines(headers)) == (headers, [])

    def test_redact(self) -> None:
        assert redact_headers({"authorization": "Bearer x", "Cookie": "a=b", "canary": "1"}) == {
            "authorization": "<redacted>", "Cookie": "<redacted>", "canary": "1"}


    def test_redact_uses_the_one_rule(self) -> None:
        assert redact_headers({"X-Api-Key": "k", "X-Auth-Token": "t", "X-Env": "blue"}) == {
            "X-Api-Key": "<redacted>", "X-Auth-Token": "<redacted>", "X-Env": "blue"}


class TestSaving:
    def test_default_path(self) -> None:
        assert default_report_path(broken_report(), "json") == "kdiag-chatapp.com-wss.json"
        assert default_report_path(healthy_report(), "markdown") == "kdiag-shop.example.com.md"

    def test_save_json_round_trips(self, tmp_path: Path) -> None:
        path = save_report(broken_report(), tmp_path / "r.json", "json")
        loaded = Report.from_dict(json.loads(path.read_text(encoding="utf-8")))
        assert loaded.to_dict() == broken_report().to_dict()

    @pytest.mark.parametrize("fmt", ["json", "markdown", "html", "text"])
    def test_saved_reports_never_hold_credentials(self, tmp_path: Path, fmt: str) -> None:
        report = broken_report(headers={"Authorization": "Bearer s3cr3t-token", "canary": "always"})
        text = save_report(report, tmp_path / "r", fmt).read_text(encoding="utf-8")
        assert "s3cr3t" not in text and "always" in text

    def test_unknown_format_raises_valueerror(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError):
            save_report(broken_report(), tmp_path / "r.pdf", "pdf")

    def test_unwritable_path_raises_oserror(self, tmp_path: Path) -> None:
        with pytest.raises(OSError):
            save_report(broken_report(), tmp_path / "missing-dir" / "r.json", "json")


class TestReportSession:
    async def test_replays_the_report(self) -> None:
        report = broken_report()
        session = ReportSession(report)
        assert session.info().read_only
        events = [e async for e in session.walk(report_request(report))]
        assert isinstance(events[-1], WalkFinished) and events[-1].report is report
        state = WalkState(request=report_request(report))
        for event in events:
            state.apply(event)
        assert state.hop("service").state == "fail" and state.route == report.route
        rows = await session.routes()
        assert [(r.host, r.path, r.service, r.status) for r in rows] == [
            ("chatapp.com", "/wss", "default/chatapp-svc:3003", "fail")]


def test_tui_app_import_stays_off_the_network_stacks() -> None:
    """Importing the TUI must not load kubernetes, httpx, websockets or aiohttp."""
    code = ("import sys; import kdiag.tui.app\n"
            "print(','.join(m for m in ('kubernetes', 'httpx', 'websockets', 'aiohttp') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == ""


class TestEntryPoints:
    def test_the_tui_command_passes_options_and_lets_errors_through(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Building the session is the lead's `cluster_session`; its KdiagError reaches the CLI."""
        import kdiag.cli
        import kdiag.diagnose
        from kdiag.errors import ClusterAccessError

        seen: dict[str, object] = {}

        def refuse(**kwargs: object) -> None:
            seen.update(kwargs)
            raise ClusterAccessError("cannot reach the API server at https://127.0.0.1:1")

        monkeypatch.setattr(kdiag.diagnose, "cluster_session", refuse)
        monkeypatch.setattr(kdiag.cli, "require_terminal", lambda *a, **k: None)
        args = kdiag.cli.build_parser().parse_args(["--kubeconfig", "/tmp/kc", "--context", "prod", "-n", "chat"])
        with pytest.raises(ClusterAccessError):
            kdiag.cli._cmd_tui(args)
        assert seen == {"kubeconfig": "/tmp/kc", "context": "prod", "namespace": "chat"}

    @pytest.mark.parametrize(("report", "code"), [(broken_report(), 1), (healthy_report(), 0)])
    def test_run_report_tui_opens_the_saved_walk(self, monkeypatch: pytest.MonkeyPatch,
                                                 report: Report, code: int) -> None:
        from kdiag.tui import app as tui_app

        opened: list[tui_app.KdiagApp] = []
        monkeypatch.setattr(tui_app.KdiagApp, "run", lambda self, **kw: opened.append(self))
        assert tui_app.run_report_tui(report) == code
        (app,) = opened
        assert isinstance(app.session, ReportSession) and app.session.info().read_only
        assert app.initial_walk == report_request(report)
