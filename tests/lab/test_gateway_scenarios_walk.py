"""Every Gateway API lab scenario, diagnosed end to end through the CLI: the verdict names the right hop and check.

Like tests/test_scenarios.py for the Ingress scenarios: the whole lab on loopback (fake API server,
app servers, the emulated NGF data plane behind the Gateway's NodePort Service) and `kdiag diagnose
URL --kubeconfig ... --format json`. Needs kdiag's Gateway API walk (`kdiag.route.resolve_gateway`,
the `gateway` hop and the route-* checks, branch w-gateway-core); skipped until that is merged.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from kdiag.cli import main
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS, Scenario

GW_SCENARIOS = [n for n, s in SCENARIOS.items() if s.kind == "gateway"]


def _diagnose(sc: Scenario, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    argv = ["diagnose", sc.url, "--format", "json", "--timeout", "3", "-q"]
    for k, v in sc.headers.items():
        argv += ["-H", f"{k}: {v}"]
    if sc.idle:
        argv += ["--idle", str(sc.idle)]
    with Lab(sc) as lab:
        code = main([*argv, "--kubeconfig", str(lab.kubeconfig)])
    return code, json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("name", GW_SCENARIOS)
def test_gateway_scenario_verdict_names_the_broken_hop(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    sc = SCENARIOS[name]
    code, report = _diagnose(sc, capsys)
    verdict = report["verdict"]
    assert report["route"]["kind"] == "HTTPRoute", report["route"]
    if sc.expect_check is None:
        assert code == 0, verdict
        assert verdict["status"] == "ok", verdict
        assert not [f for f in report["findings"] if f["severity"] in ("error", "warning")], report["findings"]
        assert all(h["status"] == "ok" for h in report["hops"]), report["hops"]
    else:
        assert code == 1, verdict
        assert (verdict["hop"], verdict["check"]) == (sc.expect_hop, sc.expect_check), (
            verdict, [(f["check"], f["severity"], f["message"]) for f in report["findings"]],
            [(h["hop"], h["status"], h["summary"]) for h in report["hops"]])


def test_the_gateway_hop_goes_through_the_data_plane_nodeport(capsys: pytest.CaptureFixture[str]) -> None:
    """The Gateway's status address (127.0.0.1:80) does not answer in the lab; its data-plane
    Service's NodePort does, with the URL's host as Host."""
    _, report = _diagnose(SCENARIOS["gw-healthy"], capsys)
    gateway = next(h for h in report["hops"] if h["hop"] == "gateway")
    assert {p["via"] for p in gateway["probes"]} == {"nodeport"}
    assert any(p["status_code"] == 101 for p in gateway["probes"])
