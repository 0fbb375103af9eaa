"""Every lab scenario, diagnosed end to end through the CLI: the verdict names the right hop and check.

Each case starts the whole lab on loopback (fake API server over HTTPS with a token, app servers,
the Python ingress emulation) and runs `kdiag diagnose URL --kubeconfig ...` as a user would.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from kdiag.cli import main
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS, Scenario
from tests.conftest import require_dataplane


def _argv(sc: Scenario, kubeconfig: str) -> list[str]:
    argv = ["diagnose", sc.url, "--kubeconfig", kubeconfig, "--format", "json", "--timeout", "3", "-q"]
    for k, v in sc.headers.items():
        argv += ["-H", f"{k}: {v}"]
    if sc.client_url:
        argv += ["--client-url", sc.client_url]
    if sc.page_url:
        argv += ["--page-url", sc.page_url]
    if sc.idle:
        argv += ["--idle", str(sc.idle)]
    return argv


def _diagnose(sc: Scenario, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    require_dataplane(sc)
    with Lab(sc) as lab:
        code = main(_argv(sc, str(lab.kubeconfig)))
    out = capsys.readouterr().out
    return code, json.loads(out)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenario_verdict_names_the_broken_hop(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The verdict's hop and check are the scenario's; healthy exits 0 with no error finding."""
    sc = SCENARIOS[name]
    code, report = _diagnose(sc, capsys)
    verdict = report["verdict"]
    assert report["schema"] == "kdiag.report/v1"
    if sc.expect_check is None:
        assert code == 0, verdict
        assert verdict["status"] == "ok", verdict
        assert not [f for f in report["findings"] if f["severity"] in ("error", "warning")], report["findings"]
        assert all(h["status"] == "ok" for h in report["hops"]), report["hops"]
    elif sc.verdict_status == "warn":
        assert code == 0, verdict
        assert (verdict["status"], verdict["hop"], verdict["check"]) == ("warn", sc.expect_hop, sc.expect_check)
        assert not [f for f in report["findings"] if f["severity"] == "error"], report["findings"]
    else:
        assert code == 1, verdict
        assert (verdict["hop"], verdict["check"]) == (sc.expect_hop, sc.expect_check), (
            verdict, [(f["check"], f["severity"], f["message"]) for f in report["findings"]],
            [(h["hop"], h["status"], h["summary"]) for h in report["hops"]])
        assert verdict["summary"]
    _verdict_and_fix_on_the_first_screen(report)


def _verdict_and_fix_on_the_first_screen(data: dict[str, Any]) -> None:
    """Issue 12: the default text report shows the verdict and the root cause's fix within the
    first 24 lines of an 80-column terminal (the text's own lines, wrapped at 80)."""
    import textwrap

    from kdiag.model import Report
    from kdiag.report.render import render

    report = Report.from_dict(data)
    with pytest.MonkeyPatch.context() as mp:  # a terminal of 80×24, as the text renderer sees it
        mp.setenv("COLUMNS", "80")
        mp.setenv("LINES", "24")
        text = re.sub(r"\x1b\[[0-9;]*m", "", render(report, "text", color=True))
    screen = [piece for line in text.splitlines() for piece in (textwrap.wrap(line, 80) or [""])][:24]
    first = "\n".join(screen)
    assert first.splitlines()[0].split()[0] in ("OK", "FAIL", "WARN"), first
    root = report.findings[report.verdict.finding] if report.verdict.finding is not None else None
    if root is not None and root.fix.strip():
        assert "Fix:" in first, text


def test_every_probe_records_how_the_hop_was_reached(capsys: pytest.CaptureFixture[str]) -> None:
    """Ingress through the controller's NodePort, Service via the API proxy, pods via port-forward."""
    _, report = _diagnose(SCENARIOS["healthy"], capsys)
    vias = {h["hop"]: {p["via"] for p in h["probes"]} for h in report["hops"]}
    assert vias["ingress"] == {"nodeport"}
    assert vias["service"] == {"service-proxy"}
    assert vias["pod"] == {"port-forward"}
    ws = [p for h in report["hops"] for p in h["probes"] if p["kind"] == "websocket"]
    assert ws and all(p["status_code"] == 101 for p in ws)


def test_target_port_mismatch_is_confirmed_by_probes(capsys: pytest.CaptureFixture[str]) -> None:
    """The pod answers 101 on its declared port while nothing listens on the Service's targetPort."""
    _, report = _diagnose(SCENARIOS["target-port-mismatch"], capsys)
    mismatches = [f for f in report["findings"] if f["check"] == "service-target-port-mismatch"]
    assert {f["evidence"]["service_port"] for f in mismatches} == {3001, 3002, 3003}
    finding = next(f for f in mismatches if f["evidence"]["service_port"] == 3003)  # the route's port
    assert finding["severity"] == "error"
    assert "confirmed" in finding["evidence"]
    assert report["verdict"]["summary"].startswith("Service default/chatapp-svc")
    assert "3003" in report["verdict"]["summary"]
    pod = next(h for h in report["hops"] if h["hop"] == "pod")
    assert any(p["ok"] and p["status_code"] == 101 for p in pod["probes"])


def test_forbidden_reads_degrade_to_info(capsys: pytest.CaptureFixture[str]) -> None:
    """Secrets, Events and EndpointSlices forbidden: info findings, same verdict, v1 Endpoints used."""
    _, report = _diagnose(SCENARIOS["forbidden-reads"], capsys)
    forbidden = [f for f in report["findings"] if f["check"] == "source-read-forbidden"]
    assert forbidden and all(f["severity"] == "info" for f in forbidden)
    assert report["route"]["backend"]["endpoints_source"] == "Endpoints"


async def test_walk_events_announce_the_targets_results_record() -> None:
    """Every ProbeStarted is followed by a ProbeFinished for the same hop, kind and target (TUI contract)."""
    from kdiag.events import HopFinished, ProbeFinished, ProbeStarted, RouteResolved, WalkFinished
    from kdiag.lab.demo import demo_request, lab_session

    sc = SCENARIOS["idle-timeout"]
    with Lab(sc) as lab:
        session = lab_session(lab)
        try:
            events = [ev async for ev in session.walk(demo_request(sc))]
        finally:
            await session.close()
    started = sorted((e.hop, e.kind, e.target) for e in events if isinstance(e, ProbeStarted))
    finished = sorted((e.hop, e.probe.kind, e.probe.target) for e in events if isinstance(e, ProbeFinished))
    assert started and started == finished
    assert isinstance(events[-1], WalkFinished)
    assert sum(isinstance(e, RouteResolved) for e in events) == 1
    assert {e.result.hop for e in events if isinstance(e, HopFinished)} == {
        "client", "ingress", "service", "endpoints", "pod"}
    assert {k for _, k, _ in started} >= {"websocket", "idle"}
