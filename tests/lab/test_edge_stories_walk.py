"""The edge stories (kdiag.lab.edge_scenarios) walked end to end with `kdiag diagnose`, and their
fixed twins: the verdict follows what the LB stand-in really does, not the scenario's label.

- `lb-tls-redirect-loop`: the LB stand-in ends TLS and forwards plain HTTP; the controller's 308
  comes back to the URL asked, through the LB and through the controller pod asked the same way.
- `lb-etp-local-node`: the LB stand-in sends to lab-node-2 (127.0.0.2), where nothing listens on
  the controller's NodePort; lab-node-1 (127.0.0.1) serves it.
"""

from __future__ import annotations

import asyncio
import copy
from dataclasses import replace
from typing import Any

import pytest

from kdiag.endpoint import Endpoint
from kdiag.lab.edge import EdgeSpec
from kdiag.lab.edge_scenarios import (
    EMPTY_NODE,
    HEALTH_CHECK_NODE_PORT,
    stories,
    tls_ended_at_the_lb,
)
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import HOST, SCENARIOS
from kdiag.probes.http import probe_http
from tests.conftest import require_nginx
from tests.test_scenarios import _diagnose

NAMES = {"lb-tls-redirect-loop": ("ingress", "ingress-ssl-redirect-loop"),
         "lb-etp-local-node": ("edge", "service-external-traffic-policy-local")}


def _hop(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(h for h in report["hops"] if h["hop"] == name)


def _finding(report: dict[str, Any], check: str) -> dict[str, Any]:
    [f] = [f for f in report["findings"] if f["check"] == check]
    return f


def test_the_stories_are_registered() -> None:
    assert {s.name: (s.expect_hop, s.expect_check) for s in stories()} == NAMES
    assert all(SCENARIOS[name] is not None for name in NAMES)


def test_the_lb_really_ends_tls_and_the_controller_really_loops() -> None:
    """Below kdiag: through the LB stand-in (TLS, certificate for the host) the controller answers
    308 with a Location equal to the URL asked."""
    sc = SCENARIOS["lb-tls-redirect-loop"]
    with Lab(sc) as lab:
        assert lab.edge_address is not None
        host, port = lab.edge_address
        lb = Endpoint(host=host, port=port, via="ingress-address", label="lb", tls=True, sni=HOST)
        r = asyncio.run(probe_http(sc.url, lb, timeout=3))
    assert r.status_code == 308 and r.extra["response_headers"]["Location"] == sc.url


def test_redirect_loop_behind_a_tls_ending_lb(capsys: pytest.CaptureFixture[str]) -> None:
    sc = SCENARIOS["lb-tls-redirect-loop"]
    code, report = _diagnose(sc, capsys)
    assert code == 1
    v = report["verdict"]
    assert (v["hop"], v["check"]) == ("ingress", "ingress-ssl-redirect-loop"), v
    f = _finding(report, "ingress-ssl-redirect-loop")
    chain = f["evidence"]["redirect"]["chain"]
    assert chain == [{"url": sc.url, "status": 308, "location": sc.url}]  # the Location chain, as observed
    assert f["evidence"]["service"] == "ingress-nginx/ingress-nginx-controller"  # the static why, kept
    assert "use-forwarded-headers" in f["fix"] and f["severity"] == "error"
    edge, ingress = _hop(report, "edge"), _hop(report, "ingress")
    [lb] = [p for p in edge["probes"] if p["kind"] == "http"]
    assert lb["status_code"] == 308 and lb["error_kind"] == "redirect-loop" and edge["status"] == "fail"
    assert any(p["kind"] == "tls" and p["ok"] for p in edge["probes"])  # the LB's own certificate is fine
    [pod] = ingress["probes"]
    # the controller pod asked as the LB asks it: plain HTTP to the port the https Service port targets
    assert pod["via"] == "port-forward" and pod["target"].startswith("http://") and pod["status_code"] == 308
    assert _hop(report, "service")["status"] == "ok" and _hop(report, "pod")["status"] == "ok"


def test_tls_passed_through_to_the_controller_does_not_loop(capsys: pytest.CaptureFixture[str]) -> None:
    """The fix the check names: the LB passes TLS to the controller's https port, which has the
    Ingress's certificate; same force-ssl-redirect, no loop, nothing to report."""
    base = SCENARIOS["lb-tls-redirect-loop"]
    sc = replace(base, name="lb-tls-passthrough", objects=tuple(tls_ended_at_the_lb(passthrough=True)),
                 edge=EdgeSpec(port=base.edge.port), tls_secrets={("default", "chatapp-tls"): HOST},
                 expect_hop=None, expect_check=None)
    code, report = _diagnose(sc, capsys)
    assert (code, report["verdict"]["status"]) == (0, "ok"), report["verdict"]
    assert not [f for f in report["findings"] if f["check"] == "ingress-ssl-redirect-loop"]
    assert [p["status_code"] for p in _hop(report, "edge")["probes"] if p["kind"] == "http"] == [200]


def _trusting_forwarded_headers() -> list[dict[str, Any]]:
    objs = copy.deepcopy(tls_ended_at_the_lb())
    cm = next(o for o in objs if o.get("kind") == "ConfigMap" and o["metadata"]["name"] == "ingress-nginx-controller")
    cm["data"]["use-forwarded-headers"] = "true"
    return objs


def test_the_controller_trusting_x_forwarded_proto_does_not_loop(capsys: pytest.CaptureFixture[str]) -> None:
    """The check's first fix: the same LB (it ends TLS and sends X-Forwarded-Proto: https), the
    ConfigMap with use-forwarded-headers: "true": the controller serves the request, nothing to report."""
    base = SCENARIOS["lb-tls-redirect-loop"]
    sc = replace(base, name="lb-tls-forwarded-headers", objects=tuple(_trusting_forwarded_headers()),
                 expect_hop=None, expect_check=None)
    code, report = _diagnose(sc, capsys)
    assert (code, report["verdict"]["status"]) == (0, "ok"), report["verdict"]
    assert not [f for f in report["findings"] if f["check"] == "ingress-ssl-redirect-loop"]
    [pod] = _hop(report, "ingress")["probes"]
    assert pod["status_code"] == 200 and "X-Forwarded-Proto: https" in pod["request"]  # asked as the LB asks
    assert [p["status_code"] for p in _hop(report, "edge")["probes"] if p["kind"] == "http"] == [200]


@pytest.mark.nginx
@pytest.mark.parametrize("trust", [False, True])
def test_nginx_and_the_emulation_agree_on_forwarded_proto(trust: bool) -> None:
    """Plain HTTP with X-Forwarded-Proto: https to the controller's http port: 308 unless the ConfigMap
    trusts the header (ingress-nginx lua_ingress.lua: pass_access_scheme)."""
    nginx = require_nginx()
    base = SCENARIOS["lb-tls-redirect-loop"]
    sc = replace(base, objects=tuple(_trusting_forwarded_headers() if trust else tls_ended_at_the_lb()))
    seen = []
    for plane in ("emulated", "nginx"):
        with Lab(sc, dataplane=plane, nginx=nginx) as lab:
            ep = Endpoint(host="127.0.0.1", port=lab.ingress_port, via="nodeport", label="controller")
            r = asyncio.run(probe_http(sc.url, ep, headers={"X-Forwarded-Proto": "https"}, timeout=3))
            seen.append((r.status_code, r.extra["response_headers"].get("Location")))
    assert seen[0] == seen[1] == ((200, None) if trust else (308, sc.url)), seen


def test_the_lb_sends_to_a_node_without_a_controller_pod(capsys: pytest.CaptureFixture[str]) -> None:
    sc = SCENARIOS["lb-etp-local-node"]
    code, report = _diagnose(sc, capsys)
    assert code == 1
    v = report["verdict"]
    assert (v["hop"], v["check"]) == ("edge", "service-external-traffic-policy-local"), v
    f = _finding(report, "service-external-traffic-policy-local")  # the static warning, confirmed: one finding
    assert (f["hop"], f["severity"], f["object"]) == ("edge", "error", "Service ingress-nginx/ingress-nginx-controller")
    name, address = EMPTY_NODE
    assert f["evidence"]["nodes_without_ready_pods"] == [{"name": name, "address": address}]
    assert f["evidence"]["nodes_with_ready_pods"] == [{"name": "lab-node-1", "address": "127.0.0.1"}]
    by_node = {p["target"].rsplit(":", 1)[0]: p["ok"] for p in f["evidence"]["node_probes"]}
    assert by_node == {address: False, "127.0.0.1": True}  # probed for real, node by node
    assert f"{name} ({address})" in f["message"]
    assert f"healthCheckNodePort {HEALTH_CHECK_NODE_PORT}" in f["fix"] and "externalTrafficPolicy: Cluster" in f["fix"]
    assert _hop(report, "edge")["status"] == "fail"
    assert _hop(report, "ingress")["status"] in ("ok", "warn") and _hop(report, "ingress")["probes"][0]["via"] == "port-forward"


def test_an_lb_on_the_node_with_the_pod_works(capsys: pytest.CaptureFixture[str]) -> None:
    """Same Service, the LB sends to lab-node-1: the request works, and no error is reported."""
    base = SCENARIOS["lb-etp-local-node"]
    sc = replace(base, name="lb-etp-local-busy-node", edge=replace(base.edge, node=None))
    code, report = _diagnose(sc, capsys)
    assert code == 0 and report["verdict"]["status"] in ("ok", "warn"), report["verdict"]
    assert not [f for f in report["findings"] if f["severity"] == "error"], report["findings"]
    edge = _hop(report, "edge")
    assert edge["status"] == "ok" and not [p for p in edge["probes"] if p["kind"] == "tcp"]  # no node-by-node probe


def test_a_cluster_policy_is_not_blamed_for_a_dead_node(capsys: pytest.CaptureFixture[str]) -> None:
    """externalTrafficPolicy: Cluster and the LB still sends to an address where nothing answers: the
    edge fails, but not because of the policy."""
    base = SCENARIOS["lb-etp-local-node"]
    objs = [dict(o) for o in base.objects]
    for i, o in enumerate(objs):
        if o.get("kind") == "Service" and o["metadata"]["name"] == "ingress-nginx-controller":
            objs[i] = {**o, "spec": {**o["spec"], "externalTrafficPolicy": "Cluster"}}
    code, report = _diagnose(replace(base, name="lb-cluster-policy-dead-node", objects=tuple(objs)), capsys)
    assert report["verdict"]["hop"] == "edge" and _hop(report, "edge")["status"] == "fail"
    assert not [f for f in report["findings"] if f["check"] == "service-external-traffic-policy-local"]
    # No specific check explains it: the unexplained failure still gets its finding, and exit 1.
    assert code == 1 and report["verdict"]["check"] == "edge-probe-failed", report["verdict"]
    root = report["findings"][report["verdict"]["finding"]]
    assert root["check"] == "edge-probe-failed" and root["severity"] == "error"
