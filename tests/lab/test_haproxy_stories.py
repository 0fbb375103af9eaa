"""The HAProxy demo stories (kdiag.lab.haproxy_scenarios) on real HAProxy: the lab renders the
scenario's Ingresses the way each HAProxy controller does (its IngressClass, the ConfigMap its
`--configmap` argument names), HAProxy cuts the idle WebSocket at its own `timeout tunnel` while
the kept ingress-nginx annotations change nothing, kdiag names the ignored annotation, confirmed by
the cut, with the fix in HAProxy's terms, and that fix really keeps the WebSocket open."""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace
from typing import Any

import pytest

from kdiag.cli import main
from kdiag.endpoint import Endpoint
from kdiag.lab.demo import scenario_table
from kdiag.lab.haproxy.render import controller_inputs
from kdiag.lab.haproxy_scenarios import TUNNEL_TIMEOUT, stories
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS, Scenario
from kdiag.probes.idle import probe_idle
from tests.conftest import require_haproxy
from tests.test_scenarios import _diagnose

EXPECTED = {  # story -> (data plane, profile's fix in its own terms)
    "haproxy-nginx-timeouts-ignored": ("haproxytech", "`timeout-tunnel: 1h` in the controller ConfigMap"),
    "haproxy-ingress-nginx-timeouts-ignored": ("haproxy-ingress", '`haproxy-ingress.github.io/timeout-tunnel: "1h"`'),
}


def test_stories_are_registered_with_their_data_plane_hop_and_check() -> None:
    assert {s.name for s in stories()} == set(EXPECTED)
    table = scenario_table()
    for name, (data_plane, _) in EXPECTED.items():
        sc = SCENARIOS[name]
        assert (sc.data_plane, sc.expect_hop, sc.expect_check) == (data_plane, "ingress", "controller-field-ignored")
        block = table[table.index(f"  {name} "):].split("\n\n", 1)[0]
        assert "→ expected: ingress / controller-field-ignored" in block
        assert "runs real HAProxy (apt-get install haproxy)" in block
    assert table.count("runs real HAProxy") == len(EXPECTED)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_lab_reads_what_the_controller_reads(name: str) -> None:
    """The IngressClass of the flavor's controller, and the ConfigMap named by its pod's --configmap."""
    sc = SCENARIOS[name]
    cls, configmap = controller_inputs(sc.objects, sc.data_plane)
    assert cls == "haproxy" and configmap == {"timeout-tunnel": f"{TUNNEL_TIMEOUT:g}s"}
    other = "haproxy-ingress" if sc.data_plane == "haproxytech" else "haproxytech"
    assert controller_inputs(sc.objects, other) == (None, {})  # another controller's objects are not its own


def test_controller_inputs_follow_the_configmap_argument() -> None:
    sc = SCENARIOS["haproxy-nginx-timeouts-ignored"]
    objs = [copy.deepcopy(dict(o)) for o in sc.objects]
    for o in objs:
        if o["kind"] == "Pod" and o["metadata"]["namespace"] == "haproxy-controller":
            o["spec"]["containers"][0]["args"] = ["--configmap=haproxy-controller/elsewhere"]
    objs.append({"kind": "ConfigMap", "metadata": {"name": "elsewhere", "namespace": "haproxy-controller"},
                 "data": {"timeout-tunnel": "2h"}})
    assert controller_inputs(objs, "haproxytech")[1] == {"timeout-tunnel": "2h"}


def _nodeport(lab: Lab) -> Endpoint:
    return Endpoint(host="127.0.0.1", port=lab.ingress_port, via="nodeport", label="haproxy", tls=False, sni=None)


def _pod(lab: Lab, sc: Scenario) -> Endpoint:
    pod = next(k for k in sc.listeners if k[1] == 3002)
    host, port = lab.backend("default", *pod) or ("", 0)
    return Endpoint(host=host, port=port, via="port-forward", label="pod", tls=False, sni=None)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_haproxy_cuts_the_idle_websocket_at_its_tunnel_timeout(name: str) -> None:
    sc = SCENARIOS[name]
    with Lab(sc, haproxy=require_haproxy()) as lab:
        assert "  timeout tunnel 3s\n" in lab._ingress.config.text  # from the controller ConfigMap
        assert "3600" not in lab._ingress.config.text  # the ingress-nginx annotations change nothing
        controller = next(o for o in lab.objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == sc.controller_service[0])
        port = controller["spec"]["containers"][0]["ports"][0]["containerPort"]
        assert lab.backend(sc.controller_service[0], controller["metadata"]["name"], port) == ("127.0.0.1", lab.ingress_port)

        async def observe() -> tuple[Any, Any]:
            return await asyncio.gather(probe_idle(sc.url, _nodeport(lab), idle=sc.idle or 5, timeout=3),
                                        probe_idle(sc.url, _pod(lab, sc), idle=sc.idle or 5, timeout=3))

        via_haproxy, direct = asyncio.run(observe())
    assert not via_haproxy.ok and via_haproxy.extra["close_code"] == 1006
    assert abs(float(via_haproxy.extra["closed_after_s"]) - TUNNEL_TIMEOUT) < 1.0
    assert direct.ok


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_walk_names_the_ignored_annotation_confirmed_by_the_cut(name: str,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    sc = SCENARIOS[name]
    data_plane, fix = EXPECTED[name]
    code, report = _diagnose(sc, capsys)
    verdict = report["verdict"]
    assert code == 1 and (verdict["hop"], verdict["check"]) == ("ingress", "controller-field-ignored"), verdict
    assert report["route"]["dataplane"]["profile"] == "haproxy"  # DESIGN.md's contract name; the variant is ours
    assert report["route"]["dataplane"]["variant"] == data_plane
    root = report["findings"][verdict["finding"]]
    assert root["severity"] == "error" and root["evidence"]["annotation"].startswith("nginx.ingress.kubernetes.io/")
    assert "Confirmed: an idle WebSocket was cut after" in root["message"]
    assert root["evidence"]["layer"]["name"] == "tunnel" and root["evidence"]["layer"]["seconds"] == TUNNEL_TIMEOUT
    assert fix in root["fix"] and "nginx.ingress.kubernetes.io/proxy-read-timeout: \"3600\"" not in root["fix"]
    assert fix in verdict["summary"]
    # The cut itself stays as the supporting finding, attributed to HAProxy's tunnel timeout.
    cut = next(f for f in report["findings"] if f["check"] == "websocket-idle-disconnect")
    assert cut["severity"] == "error" and cut["evidence"]["layer"]["matched"] is True
    assert "timeout-tunnel" in cut["evidence"]["layer"]["setting"]
    # One ignored annotation is confirmed by the cut; the other stays a warning.
    ignored = sorted(f["severity"] for f in report["findings"] if f["check"] == "controller-field-ignored")
    assert ignored == ["error", "warning"]


def _fixed(sc: Scenario) -> Scenario:
    """The story with the fix in HAProxy's own terms (as the finding says) and the nginx annotations kept."""
    objs = [copy.deepcopy(dict(o)) for o in sc.objects]
    for o in objs:
        if sc.data_plane == "haproxytech" and o["kind"] == "ConfigMap":
            o["data"]["timeout-tunnel"] = "1h"
        if sc.data_plane == "haproxy-ingress" and o["kind"] == "Ingress":
            o["metadata"]["annotations"]["haproxy-ingress.github.io/timeout-tunnel"] = "1h"
    return replace(sc, objects=tuple(objs))


@pytest.mark.parametrize("name", list(EXPECTED))
def test_the_fix_in_haproxys_terms_keeps_the_websocket_open(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """On real HAProxy the named fix works: no cut, no error; the kept annotations are still worth a warning."""
    code, report = _diagnose(_fixed(SCENARIOS[name]), capsys)
    assert code == 0 and report["verdict"]["status"] == "warn", report["verdict"]
    assert not [f for f in report["findings"] if f["severity"] == "error"], report["findings"]
    assert {f["check"] for f in report["findings"] if f["severity"] == "warning"} == {"controller-field-ignored"}
    hops = {h["hop"]: h["status"] for h in report["hops"]}
    assert hops["ingress"] in ("ok", "warn"), hops


def test_without_haproxy_the_demo_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """No emulation stands in for HAProxy: `kdiag demo` on such a story is one line and exit 2."""
    import kdiag.lab.haproxy

    monkeypatch.setattr(kdiag.lab.haproxy, "haproxy_binary", lambda: None)
    assert main(["demo", "haproxy-nginx-timeouts-ignored"]) == 2
    err = capsys.readouterr().err
    assert "apt-get install haproxy" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
