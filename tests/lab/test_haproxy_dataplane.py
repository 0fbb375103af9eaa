"""Real HAProxy (Debian's package) rendered the way the HAProxy Ingress controllers render an
Ingress (kdiag.lab.haproxy): WebSocket upgrades pass, an idle WebSocket is cut at `timeout tunnel`
(not at `timeout client/server`), 503 without servers, routing by host and path, 404 elsewhere.
Facts: dataplane-facts.md §3 (HAProxy Tech ingress / HAProxy Ingress rows)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from kdiag.endpoint import Endpoint
from kdiag.lab.apps import AppBehavior, AppServer
from kdiag.lab.haproxy import DEFAULT_TIMEOUTS, HAProxyIngress, render_haproxy
from kdiag.probes.http import probe_http
from kdiag.probes.idle import probe_idle
from kdiag.probes.websocket import probe_websocket
from tests.conftest import require_haproxy

HOST = "chat.example.com"


def _pod(name: str, app: str, ready: bool = True) -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 3000}]}]},
            "status": {"phase": "Running", "podIP": f"10.244.1.{len(name)}",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _svc(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {"kind": "Service", "apiVersion": "v1",
            "metadata": {"name": name, "namespace": "default", "annotations": annotations or {}},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}


def _objects(annotations: dict[str, str] | None = None, *, api_ready: bool = True) -> list[dict[str, Any]]:
    paths = [("/", "web"), ("/ws", "ws"), ("/api", "api")]
    ing = {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
           "metadata": {"name": "chat", "namespace": "default", "annotations": annotations or {}},
           "spec": {"ingressClassName": "haproxy", "rules": [{"host": HOST, "http": {"paths": [
               {"path": p, "pathType": "Prefix", "backend": {"service": {"name": s, "port": {"number": 80}}}}
               for p, s in paths]}}]}}
    return [_pod("web-1", "web"), _pod("ws-1", "ws"), _pod("api-1", "api", ready=api_ready),
            _svc("web"), _svc("ws"), _svc("api"), ing]


@pytest.fixture
def apps() -> Iterator[dict[str, int]]:
    with AppServer() as server:
        yield {"web": server.serve(AppBehavior("web", name="web")),
               "ws": server.serve(AppBehavior("websocket", name="ws")),
               "api": server.serve(AppBehavior("web", name="api"))}


def _haproxy(ports: dict[str, int], objects: list[dict[str, Any]], **kw: Any) -> HAProxyIngress:
    binary = require_haproxy()
    return HAProxyIngress(objects, backends=lambda ns, pod, port: ("127.0.0.1", ports[pod.split("-")[0]]),
                          haproxy=binary, **kw)


def _app(r: Any) -> str | None:
    """Who answered (HAProxy writes header names in lower case)."""
    return next((v for k, v in r.extra["response_headers"].items() if k.lower() == "x-app-name"), None)


def _ep(h: HAProxyIngress) -> Endpoint:
    return Endpoint(host="127.0.0.1", port=h.http_port, via="nodeport", label="haproxy", tls=False, sni=None)


def test_defaults_are_the_controllers() -> None:
    """haproxytech haproxy.cfg and haproxy-ingress keys.md: client/server 50s, tunnel 1h, connect 5s."""
    assert (DEFAULT_TIMEOUTS["client"], DEFAULT_TIMEOUTS["server"], DEFAULT_TIMEOUTS["tunnel"],
            DEFAULT_TIMEOUTS["connect"]) == ("50s", "50s", "1h", "5s")
    cfg = render_haproxy(_objects({"haproxy.org/timeout-server": "10s", "haproxy-ingress.github.io/timeout-tunnel": "2h"}),
                         backends=lambda *a: ("127.0.0.1", 1), http_port=1)
    assert "  timeout tunnel 1h\n" in cfg.text and cfg.backends["default_ws_80"].timeouts == {"server": "10s"}
    other = render_haproxy(_objects({"haproxy-ingress.github.io/timeout-tunnel": "2h"}),
                           backends=lambda *a: ("127.0.0.1", 1), http_port=1, flavor="haproxy-ingress")
    assert other.backends["default_ws_80"].timeouts == {"tunnel": "2h"}  # per backend on haproxy-ingress
    cm = render_haproxy(_objects(), backends=lambda *a: None, http_port=1, configmap={"timeout-tunnel": "30m"})
    assert cm.defaults["tunnel"] == "30m" and cm.backends["default_ws_80"].servers == []


def test_routing_by_host_and_path_and_404_elsewhere(apps: dict[str, int]) -> None:
    with _haproxy(apps, _objects()) as h:
        async def names() -> list[Any]:
            urls = [f"http://{HOST}/", f"http://{HOST}/api/v1", f"http://{HOST}/apix", f"http://{HOST}:8080/api"]
            return [await probe_http(u, _ep(h), timeout=3) for u in urls]

        web, api, apix, with_port = asyncio.run(names())
        assert _app(web) == "web" and _app(api) == "api"
        assert _app(apix) == "web"  # Prefix /api is path-element wise
        assert _app(with_port) == "api"  # the Host port is ignored
        other = asyncio.run(probe_http("http://other.example.com/api", _ep(h), timeout=3))
        assert other.status_code == 404


def test_websocket_upgrade_passes(apps: dict[str, int]) -> None:
    with _haproxy(apps, _objects()) as h:
        r = asyncio.run(probe_websocket(f"ws://{HOST}/ws", _ep(h), timeout=3))
        assert r.status_code == 101 and r.ok


def test_idle_websocket_is_cut_at_timeout_tunnel_not_client_server(apps: dict[str, int]) -> None:
    """After the upgrade HAProxy applies `timeout tunnel` (here 1 s); client/server stay 50 s."""
    with _haproxy(apps, _objects(), configmap={"timeout-tunnel": "1s"}) as h:
        r = asyncio.run(probe_idle(f"ws://{HOST}/ws", _ep(h), idle=3.0, timeout=3))
        assert not r.ok and r.extra["close_code"] == 1006
        assert 0.8 < float(r.extra["closed_after_s"]) < 2.0
    with _haproxy(apps, _objects({"haproxy.org/timeout-server": "1s"})) as h:  # tunnel 1h wins after 101
        r = asyncio.run(probe_idle(f"ws://{HOST}/ws", _ep(h), idle=2.0, timeout=3))
        assert r.ok, r.extra


def test_503_without_servers(apps: dict[str, int]) -> None:
    with _haproxy(apps, _objects(api_ready=False)) as h:
        r = asyncio.run(probe_http(f"http://{HOST}/api", _ep(h), timeout=3))
        assert r.status_code == 503
        assert asyncio.run(probe_http(f"http://{HOST}/", _ep(h), timeout=3)).status_code == 200
