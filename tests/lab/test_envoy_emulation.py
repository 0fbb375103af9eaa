"""The Envoy emulation (kdiag.lab.envoy) answers as Envoy does; each test cites its source.

Sources: reference/gateway-controllers-facts.md "Envoy behaviour shared by EG / Istio / Cilium /
kgateway" (envoy conn_manager_impl.cc, router.cc), "Envoy Gateway" (internal/xds/translator/
route.go, internal/gatewayapi/route.go, docs tasks/traffic/http-timeouts.md), "Istio";
dataplane-facts.md §3 (Contour row: websocket-routes, response-timeout, stream idle 5 min).
Everything runs on loopback with the lab's app servers behind the emulation.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from kdiag.endpoint import Endpoint
from kdiag.lab.apps import AppBehavior, AppServer
from kdiag.lab.envoy import FLAVORS, EnvoyEmulation, envoy_config
from kdiag.lab.envoy.config import with_settings
from kdiag.probes.http import probe_http
from kdiag.probes.idle import probe_idle
from kdiag.probes.websocket import probe_websocket

HOST = "chat.example.com"


def _objects(*, kind: str = "Ingress", annotations: dict[str, str] | None = None, service: str = "chat",
             ready: bool = True, timeouts: dict[str, str] | None = None) -> list[dict[str, Any]]:
    pod = {"kind": "Pod", "apiVersion": "v1",
           "metadata": {"name": "chat-1", "namespace": "default", "labels": {"app": "chat"}},
           "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 3000}]}]},
           "status": {"phase": "Running", "podIP": "10.244.1.5",
                      "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    svc = {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "chat", "namespace": "default"},
           "spec": {"selector": {"app": "chat"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    cls = {"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1", "metadata": {"name": "contour"},
           "spec": {"controller": "projectcontour.io/ingress-controller"}}
    if kind == "Ingress":
        route: dict[str, Any] = {
            "kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
            "metadata": {"name": "chat", "namespace": "default", "annotations": annotations or {}},
            "spec": {"ingressClassName": "contour", "rules": [{"host": HOST, "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": service, "port": {"number": 80}}}}]}}]}}
    else:
        rule: dict[str, Any] = {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                                "backendRefs": [{"name": service, "port": 80}]}
        if timeouts:
            rule["timeouts"] = timeouts
        route = {"kind": "HTTPRoute", "apiVersion": "gateway.networking.k8s.io/v1",
                 "metadata": {"name": "chat", "namespace": "default"},
                 "spec": {"hostnames": [HOST], "rules": [rule]}}
    return [pod, svc, cls, route]


@pytest.fixture
def apps() -> Iterator[AppServer]:
    with AppServer() as server:
        yield server


def _envoy(apps: AppServer, behavior: AppBehavior, objects: list[dict[str, Any]], flavor: str,
           **settings: Any) -> EnvoyEmulation:
    port = apps.serve(behavior)
    config = envoy_config(objects, flavor=flavor, backends=lambda ns, pod, p: ("127.0.0.1", port))
    return EnvoyEmulation(with_settings(config, **settings) if settings else config)


def _ep(envoy: EnvoyEmulation) -> Endpoint:
    return Endpoint(host="127.0.0.1", port=envoy.http_port, via="nodeport", label="envoy", tls=False, sni=HOST)


def _raw(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
        return out


def test_upgrade_on_a_route_without_websocket_is_403_and_closed(apps: AppServer) -> None:
    """conn_manager_impl.cc: "Do not allow upgrades if the route does not support it" → 403, empty
    body (details upgrade_failed), connection closed. Contour: per route, websocket-routes."""
    with _envoy(apps, AppBehavior("websocket"), _objects(), "contour") as envoy:
        raw = _raw(envoy.http_port, f"GET /ws HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        assert raw.startswith(b"HTTP/1.1 403 Forbidden\r\n")
        head, _, body = raw.partition(b"\r\n\r\n")
        assert body == b"" and b"content-length: 0" in head and b"server: envoy" in head
        assert "upgrade_failed" in envoy.access_log[-1]
        r = asyncio.run(probe_http(f"http://{HOST}/", _ep(envoy), timeout=3))
        assert r.status_code == 200  # the same route without Upgrade is proxied
    enabled = _objects(annotations={"projectcontour.io/websocket-routes": "/"})
    with _envoy(apps, AppBehavior("websocket"), enabled, "contour") as envoy:
        assert asyncio.run(probe_websocket(f"ws://{HOST}/ws", _ep(envoy), timeout=3)).status_code == 101


def test_gateway_api_routes_allow_websocket_by_default(apps: AppServer) -> None:
    """Envoy Gateway route.go defaultUpgradeConfig; Istio listener_builder.go "Allow websocket upgrades"."""
    for flavor in ("envoy-gateway", "istio", "contour"):
        with _envoy(apps, AppBehavior("websocket"), _objects(kind="HTTPRoute"), flavor) as envoy:
            r = asyncio.run(probe_websocket(f"ws://{HOST}/ws", _ep(envoy), timeout=3))
            assert r.status_code == 101, flavor


def test_route_timeout_gives_504_upstream_request_timeout(apps: AppServer) -> None:
    """Envoy route timeout (default 15 s; EG docs http-timeouts.md) → 504 "upstream request timeout"."""
    assert FLAVORS["envoy-gateway"].route_timeout == 15.0 and FLAVORS["contour"].route_timeout == 15.0
    assert FLAVORS["istio"].route_timeout == 0.0  # route.go setTimeout: Notimeout unless set
    slow = AppBehavior("slow", delay=3.0)
    objs = _objects(kind="HTTPRoute", timeouts={"request": "1s"})
    with _envoy(apps, slow, objs, "envoy-gateway") as envoy:
        assert envoy.config.virtual_hosts[0].routes[0].timeout == 1.0
        started = time.monotonic()
        r = asyncio.run(probe_http(f"http://{HOST}/", _ep(envoy), timeout=5))
        assert r.status_code == 504 and 0.9 < time.monotonic() - started < 2.5
        assert r.extra["body_excerpt"] == "upstream request timeout"
        assert " UT " in envoy.access_log[-1]
    contour = _objects(annotations={"projectcontour.io/response-timeout": "1s"})
    with _envoy(apps, slow, contour, "contour") as envoy:
        assert asyncio.run(probe_http(f"http://{HOST}/", _ep(envoy), timeout=5)).status_code == 504
    default = envoy_config(_objects(kind="HTTPRoute"), flavor="envoy-gateway", backends=lambda *a: None)
    assert default.virtual_hosts[0].routes[0].timeout == 15.0


def test_stream_idle_timeout_resets_an_upgraded_websocket(apps: AppServer) -> None:
    """HCM stream_idle_timeout (default 5 min): after the 101 the stream is reset, no close frame (1006)."""
    assert FLAVORS["envoy-gateway"].stream_idle_timeout == 300.0 and FLAVORS["istio"].stream_idle_timeout == 0.0
    with _envoy(apps, AppBehavior("websocket"), _objects(kind="HTTPRoute"), "envoy-gateway",
                stream_idle_timeout=1.0) as envoy:
        r = asyncio.run(probe_idle(f"ws://{HOST}/ws", _ep(envoy), idle=3.0, timeout=3))
        assert not r.ok and r.extra["close_code"] == 1006
        assert 0.8 < float(r.extra["closed_after_s"]) < 2.0
        assert any("stream_idle_timeout" in line for line in envoy.access_log)


def test_request_timeout_lifts_the_route_idle_timeout_on_envoy_gateway(apps: AppServer) -> None:
    """EG route.go idleTimeout(): a set request timeout → route idle_timeout max(1 h, request)."""
    config = envoy_config(_objects(kind="HTTPRoute", timeouts={"request": "30s"}), flavor="envoy-gateway",
                          backends=lambda *a: None)
    assert config.virtual_hosts[0].routes[0].idle_timeout == 3600.0


def test_invalid_backend_is_500_and_no_endpoints_503(apps: AppServer) -> None:
    """EG internal/gatewayapi/route.go: invalid backendRef → 500 direct response; no ready endpoints
    → 503 "no healthy upstream" (flag UH)."""
    with _envoy(apps, AppBehavior("web"), _objects(kind="HTTPRoute", service="missing"), "envoy-gateway") as envoy:
        r = asyncio.run(probe_http(f"http://{HOST}/", _ep(envoy), timeout=3))
        assert r.status_code == 500
    with _envoy(apps, AppBehavior("web"), _objects(kind="HTTPRoute", ready=False), "envoy-gateway") as envoy:
        r = asyncio.run(probe_http(f"http://{HOST}/", _ep(envoy), timeout=3))
        assert r.status_code == 503 and r.extra["body_excerpt"] == "no healthy upstream"
        assert r.extra["response_headers"].get("server") == "envoy"


def test_no_route_is_404(apps: AppServer) -> None:
    """Gateway API: no matching route → 404; Envoy: route_not_found (flag NR), empty body."""
    with _envoy(apps, AppBehavior("web"), _objects(kind="HTTPRoute"), "envoy-gateway") as envoy:
        r = asyncio.run(probe_http("http://other.example.com/", _ep(envoy), timeout=3))
        assert r.status_code == 404 and not r.extra["body_excerpt"]
        assert " NR " in envoy.access_log[-1]
        r = asyncio.run(probe_http(f"http://{HOST}/", _ep(envoy), timeout=3))
        assert r.status_code == 200


def test_refused_connection_is_503_connection_failure(apps: AppServer) -> None:
    config = envoy_config(_objects(kind="HTTPRoute"), flavor="envoy-gateway", backends=lambda *a: None)
    with EnvoyEmulation(config) as envoy:
        r = asyncio.run(probe_http(f"http://{HOST}/", _ep(envoy), timeout=3))
        assert r.status_code == 503 and "connection failure" in r.extra["body_excerpt"]
