"""The issue-10 demo stories (kdiag.lab.dataplane_scenarios): each data plane answers as its story
says, and the lab wires the published address (LB stand-in) apart from the controller's own pod."""

from __future__ import annotations

import asyncio

from kdiag.catalog import catalog
from kdiag.endpoint import Endpoint
from kdiag.lab.dataplane_scenarios import LB_IDLE_TIMEOUT, stories
from kdiag.lab.demo import scenario_table
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS
from kdiag.probes.http import probe_http
from kdiag.probes.idle import probe_idle
from kdiag.probes.socketio import probe_socketio
from kdiag.probes.websocket import probe_websocket

EXPECTED = {
    "lb-idle-cut": ("edge", "edge-idle-timeout"),
    "contour-websocket-not-enabled": ("ingress", "ingress-websocket-not-enabled"),
    "socketio-no-affinity": ("service", "service-session-affinity-needed"),
    "backend-protocol-mismatch": ("ingress", "backend-protocol-mismatch"),
}


def _nodeport(lab: Lab) -> Endpoint:
    return Endpoint(host="127.0.0.1", port=lab.ingress_port, via="nodeport", label="controller", tls=False,
                    sni=None)


def test_stories_are_registered_with_their_hop_and_check() -> None:
    """`kdiag demo --list` (its table) tells each story with the expected hop and check."""
    assert {s.name for s in stories()} == set(EXPECTED)
    for name, (hop, check) in EXPECTED.items():
        sc = SCENARIOS[name]
        assert (sc.expect_hop, sc.expect_check) == (hop, check)
        assert check in catalog()
    out = scenario_table()
    for name, (hop, check) in EXPECTED.items():
        block = out[out.index(f"  {name} "):]
        assert f"→ expected: {hop} / {check}" in block.split("\n\n", 1)[0]


def test_lb_idle_cut_through_the_published_address_only() -> None:
    sc = SCENARIOS["lb-idle-cut"]
    with Lab(sc) as lab:
        assert lab.edge_address is not None
        host, port = lab.edge_address
        ing = next(o for o in lab.objects if o["kind"] == "Ingress")
        assert ing["status"]["loadBalancer"]["ingress"] == [{"ip": host}] and port == 8080
        svc = next(o for o in lab.objects if o["kind"] == "Service" and o["metadata"]["name"] == "ingress-nginx-controller")
        assert svc["spec"]["type"] == "LoadBalancer" and svc["status"]["loadBalancer"]["ingress"] == [{"ip": host}]
        # The controller's pod (port-forward target) serves the data plane itself.
        pod = next(o for o in lab.objects if o["kind"] == "Pod" and o["metadata"]["namespace"] == "ingress-nginx")
        assert lab.backend("ingress-nginx", pod["metadata"]["name"], 80) == ("127.0.0.1", lab.ingress_port)
        lb = Endpoint(host=host, port=port, via="ingress-address", label="lb", tls=False, sni=None)

        async def observe() -> tuple[object, object]:
            return await asyncio.gather(probe_idle(sc.url, lb, idle=sc.idle or 5, timeout=3),
                                        probe_idle(sc.url, _nodeport(lab), idle=sc.idle or 5, timeout=3))

        via_lb, direct = asyncio.run(observe())
    assert not via_lb.ok and via_lb.extra["close_code"] == 1006  # type: ignore[attr-defined]
    assert abs(float(via_lb.extra["closed_after_s"]) - LB_IDLE_TIMEOUT) < 1.0  # type: ignore[attr-defined]
    assert direct.ok  # type: ignore[attr-defined]


def test_contour_answers_403_to_the_upgrade_while_the_pod_answers_101() -> None:
    sc = SCENARIOS["contour-websocket-not-enabled"]
    with Lab(sc) as lab:
        r = asyncio.run(probe_websocket(sc.url, _nodeport(lab), timeout=3))
        assert r.status_code == 403 and r.extra["response_headers"].get("server") == "envoy"
        pod = next(k for k in sc.listeners if k[1] == 3002)
        host, port = lab.backend("default", *pod) or ("", 0)
        direct = Endpoint(host=host, port=port, via="port-forward", label="pod", tls=False, sni=None)
        assert asyncio.run(probe_websocket(sc.url, direct, timeout=3)).status_code == 101
        envoy_pod = next(o for o in lab.objects if o["kind"] == "Pod" and o["metadata"]["name"].startswith("contour-envoy"))
        assert lab.backend("projectcontour", envoy_pod["metadata"]["name"], 8080) == ("127.0.0.1", lab.ingress_port)


def test_socketio_polling_without_affinity_gets_session_id_unknown() -> None:
    sc = SCENARIOS["socketio-no-affinity"]
    with Lab(sc) as lab:
        r = asyncio.run(probe_socketio(sc.url, _nodeport(lab), timeout=3))
        assert not r.ok and "Session ID unknown" in (r.detail or ""), (r.detail, r.extra)
        pod = next(iter(sc.listeners))
        host, port = lab.backend("default", *pod) or ("", 0)
        one = Endpoint(host=host, port=port, via="port-forward", label="pod", tls=False, sni=None)
        assert asyncio.run(probe_socketio(sc.url, one, timeout=3)).ok  # one replica keeps its sessions


def test_plain_http_to_the_tls_port_is_nginx_400() -> None:
    sc = SCENARIOS["backend-protocol-mismatch"]
    with Lab(sc) as lab:
        r = asyncio.run(probe_http(sc.url, _nodeport(lab), timeout=3))
        assert r.status_code == 400
        assert "The plain HTTP request was sent to HTTPS port" in r.extra["body_excerpt"]
        pod = next(iter(sc.listeners))
        host, port = lab.backend("default", *pod) or ("", 0)
        tls = Endpoint(host=host, port=port, via="port-forward", label="pod", tls=True, sni="admin.chatapp.com")
        assert asyncio.run(probe_http("https://admin.chatapp.com/", tls, timeout=3)).status_code == 200
