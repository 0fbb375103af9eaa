"""The LB stand-in (kdiag.lab.edge): idle cut, Upgrade stripped, TLS terminated; published address."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from kdiag.endpoint import Endpoint
from kdiag.lab.apps import AppBehavior, AppServer
from kdiag.lab.edge import EdgeProxy, EdgeSpec, pick_edge_address, publish_edge, rewrite_head
from kdiag.probes.http import probe_http
from kdiag.probes.idle import probe_idle
from kdiag.probes.websocket import probe_websocket


@pytest.fixture
def apps() -> Iterator[AppServer]:
    with AppServer() as server:
        yield server


def _edge(apps: AppServer, behavior: AppBehavior, spec: EdgeSpec) -> tuple[EdgeProxy, int]:
    port = apps.serve(behavior)
    return EdgeProxy(spec, host=pick_edge_address(0), port=0, upstream=("127.0.0.1", port)), port


def _ep(edge: EdgeProxy, *, tls: bool = False) -> Endpoint:
    host, port = edge.address
    return Endpoint(host=host, port=port, via="ingress-address", label="lb", tls=tls, sni="chat.example.com")


def test_idle_connections_are_cut_after_the_idle_timeout(apps: AppServer) -> None:
    edge, _ = _edge(apps, AppBehavior("websocket"), EdgeSpec(idle_timeout=1.0))
    with edge:
        assert edge.address[0].startswith("127.") and edge.address[0] != "127.0.0.1"
        r = asyncio.run(probe_idle("ws://chat.example.com/ws", _ep(edge), idle=3.0, timeout=3))
        assert not r.ok and r.extra["close_code"] == 1006 and r.extra["closed_by"] == "drop"
        assert 0.8 < float(r.extra["closed_after_s"]) < 2.0
        assert "idle" in edge.cuts
    edge, _ = _edge(apps, AppBehavior("websocket"), EdgeSpec())
    with edge:
        r = asyncio.run(probe_idle("ws://chat.example.com/ws", _ep(edge), idle=1.5, timeout=3))
        assert r.ok, r.extra


def test_stripped_upgrade_reaches_the_backend_as_a_plain_get(apps: AppServer) -> None:
    edge, port = _edge(apps, AppBehavior("websocket"), EdgeSpec(strip_upgrade=True))
    with edge:
        r = asyncio.run(probe_websocket("ws://chat.example.com/ws", _ep(edge), timeout=3))
        assert r.status_code == 400
        seen = apps.requests(port)[-1]
        assert seen.header("upgrade") is None and "upgrade" not in (seen.header("connection") or "").lower()


def test_tls_is_terminated_and_plain_http_forwarded(apps: AppServer) -> None:
    edge, port = _edge(apps, AppBehavior("web"), EdgeSpec(terminate_tls=True, forwarded_proto=True))
    with edge:
        r = asyncio.run(probe_http("https://chat.example.com/", _ep(edge, tls=True), timeout=3))
        assert r.status_code == 200
        assert apps.requests(port)[-1].header("x-forwarded-proto") == "https"


def test_rewrite_head_is_pure() -> None:
    head = b"GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: keep-alive, Upgrade"
    out, upgrade = rewrite_head(head, strip_upgrade=True, forwarded_proto=False)
    assert not upgrade and b"Upgrade: websocket" not in out and b"Connection: keep-alive\r\n" in out
    out, upgrade = rewrite_head(head, strip_upgrade=False, forwarded_proto=True)
    assert upgrade and out.endswith(b"X-Forwarded-Proto: https\r\n\r\n")


def test_publish_edge_points_the_published_address_at_the_lb() -> None:
    objs = [{"kind": "Ingress", "metadata": {"name": "i"}, "status": {"loadBalancer": {}}},
            {"kind": "Service", "metadata": {"name": "ctl", "namespace": "ingress-nginx"},
             "spec": {"type": "NodePort", "ports": [{"name": "http", "port": 80, "nodePort": 30080}]}},
            {"kind": "Service", "metadata": {"name": "app", "namespace": "default"}, "spec": {"ports": []}}]
    out = publish_edge(objs, "127.9.8.7", 8080, tls=False,
                       controller_services=lambda s: s["metadata"]["name"] == "ctl")
    assert out[0]["status"]["loadBalancer"] == {"ingress": [{"ip": "127.9.8.7"}]}
    assert out[1]["spec"]["type"] == "LoadBalancer" and out[1]["spec"]["ports"][0] == {
        "name": "http", "port": 8080, "nodePort": 30080}
    assert out[1]["status"]["loadBalancer"]["ingress"] == [{"ip": "127.9.8.7"}]
    assert "status" not in out[2] and objs[0]["status"] == {"loadBalancer": {}}  # input untouched
