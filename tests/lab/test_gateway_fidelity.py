"""Real nginx rendered like NGINX Gateway Fabric and the Python emulation answer the same way.

One small Gateway API world with a host per case runs through both planes at once; every case
asserts the expected answer *and* that both planes gave it. Each expectation cites its source in
../shared/reference/gateway-controllers-facts.md ("NGF" section, nginx/nginx-gateway-fabric @
e55bfe33) or dataplane-facts.md §2 (the Gateway API spec). Without nginx (locally) the cases check
the emulation alone; in CI nginx must be there.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from kdiag.lab.apps import AppBehavior, AppServer
from kdiag.lab.gateway.controller import reconcile, with_status
from kdiag.lab.gateway.emulated import EmulatedGateway
from kdiag.lab.gateway.model import NGF_CONTROLLER
from kdiag.lab.gateway.nginx import NginxGateway, render_gateway_conf
from kdiag.lab.ingress.pages import error_page
from tests.conftest import nginx_binary

G = "gateway.networking.k8s.io/v1"
APPS: dict[str, AppBehavior | None] = {
    "web": AppBehavior("web", name="web"), "api": AppBehavior("web", name="api"),
    "v2": AppBehavior("web", name="v2"), "exact": AppBehavior("web", name="exact"),
    "prefix": AppBehavior("web", name="prefix"), "ws": AppBehavior("websocket", name="ws"),
    "refused": None, "notready": AppBehavior("web", name="notready"),
}
OTHER_APPS = {"shared": AppBehavior("web", name="shared"), "granted": AppBehavior("web", name="granted")}


def _md(name: str, ns: str | None = "default", **extra: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "creationTimestamp": extra.pop("created", "2026-11-01T10:00:00Z"), **extra}
    if ns:
        md["namespace"] = ns
    return md


def _workload(i: int, name: str, ns: str = "default", ready: bool = True) -> list[dict[str, Any]]:
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": _md(f"{name}-0", ns, labels={"app": name}),
           "spec": {"containers": [{"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}]},
           "status": {"phase": "Running", "podIP": f"10.244.4.{i + 10}",
                      "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}
    svc = {"kind": "Service", "apiVersion": "v1", "metadata": _md(name, ns),
           "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    return [pod, svc]


def _route(name: str, hosts: list[str], rules: list[dict[str, Any]], *, ns: str = "default",
           section: str = "http", created: str = "2026-11-01T10:00:00Z") -> dict[str, Any]:
    return {"kind": "HTTPRoute", "apiVersion": G, "metadata": _md(name, ns, created=created),
            "spec": {"parentRefs": [{"name": "gw", "namespace": "default", "sectionName": section}],
                     "hostnames": hosts, "rules": rules}}


def _to(svc: str, *, ns: str | None = None, weight: int | None = None, **match: Any) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": svc, "port": 80}
    if ns:
        ref["namespace"] = ns
    if weight is not None:
        ref["weight"] = weight
    rule: dict[str, Any] = {"backendRefs": [ref]}
    if match:
        rule["matches"] = [match]
    return rule


def _path(kind: str, value: str) -> dict[str, str]:
    return {"type": kind, "value": value}


def world() -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [
        {"kind": "Namespace", "apiVersion": "v1", "metadata": _md("default", None)},
        {"kind": "Namespace", "apiVersion": "v1", "metadata": _md("other", None, labels={"team": "shop"})},
        {"kind": "GatewayClass", "apiVersion": G, "metadata": _md("nginx", None),
         "spec": {"controllerName": NGF_CONTROLLER}},
        {"kind": "Gateway", "apiVersion": G, "metadata": _md("gw"), "spec": {"gatewayClassName": "nginx", "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}},
            {"name": "wild", "port": 80, "protocol": "HTTP", "hostname": "*.wild.test"},
            {"name": "same", "port": 80, "protocol": "HTTP", "hostname": "same.test"}]}},
        {"kind": "ReferenceGrant", "apiVersion": "gateway.networking.k8s.io/v1beta1", "metadata": _md("allow", "other"),
         "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "default"}],
                  "to": [{"group": "", "kind": "Service", "name": "granted"}]}},
        {"kind": "ProxySettingsPolicy", "apiVersion": "gateway.nginx.org/v1alpha1", "metadata": _md("short-read"),
         "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "idle"}],
                  "timeout": {"read": "2s"}}},
    ]
    for i, name in enumerate(APPS):
        objs += _workload(i, name, ready=name != "notready")
    for i, name in enumerate(OTHER_APPS):
        objs += _workload(20 + i, name, "other")
    objs += [
        _route("web", ["web.test"], [_to("web")]),
        _route("paths", ["paths.test"], [_to("exact", path=_path("Exact", "/exact")),
                                         _to("prefix", path=_path("PathPrefix", "/prefix")),
                                         _to("api", path=_path("PathPrefix", "/api/"))]),
        _route("matches", ["match.test"], [
            _to("v2", headers=[{"name": "X-Version", "value": "v2"}]),
            _to("api", method="POST"),
            _to("v2", queryParams=[{"name": "flavour", "value": "beta"}]),
            _to("web")]),
        # the older route wins a tie on the same path (dataplane-facts §2.1)
        _route("tie-new", ["tie.test"], [_to("api")], created="2026-11-02T10:00:00Z"),
        _route("tie-old", ["tie.test"], [_to("v2")], created="2026-10-01T10:00:00Z"),
        _route("ws", ["ws.test"], [_to("ws")]),
        _route("idle", ["idle.test"], [_to("ws")]),
        _route("refused", ["refused.test"], [_to("refused")]),
        _route("notready", ["notready.test"], [_to("notready")]),
        _route("nosvc", ["nosvc.test"], [_to("does-not-exist")]),
        _route("xns", ["xns.test"], [_to("shared", ns="other")]),
        _route("grant", ["grant.test"], [_to("granted", ns="other")]),
        _route("zero", ["zero.test"], [_to("web", weight=0)]),
        _route("wild", [], [_to("web")], section="wild"),
        _route("catchall", [], [_to("web", path=_path("PathPrefix", "/catchall"))]),
        _route("denied", ["denied.test"], [_to("web")], ns="other", section="same"),
        _route("nohost", ["elsewhere.test"], [_to("web")], section="same"),
    ]
    split = _route("split", ["split.test"], [_to("web")])
    split["spec"]["rules"][0]["backendRefs"].append({"name": "api", "port": 80, "weight": 0})
    objs.append(split)
    return objs


class Planes:
    def __init__(self, planes: dict[str, Any], apps: AppServer, ports: dict[str, int]) -> None:
        self.planes = planes
        self.apps = apps
        self.ports = ports


@pytest.fixture(scope="module")
def planes() -> Iterator[Planes]:
    nginx = nginx_binary()
    if nginx is None and os.environ.get("CI"):
        pytest.fail("nginx is required in CI (.ci/run installs it) but was not found")
    with AppServer() as apps:
        ports = {n: apps.serve(b) for n, b in {**APPS, **OTHER_APPS}.items() if b is not None}
        closed = apps.closed_port()

        def backends(ns: str, pod: str, port: int) -> tuple[str, int] | None:
            name = pod.rpartition("-")[0]
            if port != 8080:
                return None
            return ("127.0.0.1", ports.get(name, closed))

        config = reconcile(world(), backends=backends).config
        real = NginxGateway(config, nginx=nginx) if nginx else None
        emu = EmulatedGateway(config)
        try:
            running: dict[str, Any] = {}
            if real is not None:
                running["nginx"] = real.start()
            running["emulated"] = emu.start()
            yield Planes(running, apps, ports)
        finally:
            emu.stop()
            if real is not None:
                real.stop()


async def fetch(plane: Any, host: str, path: str = "/", headers: Mapping[str, str] | None = None,
                method: str = "GET") -> dict[str, Any]:
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        r = await client.request(method, f"http://127.0.0.1:{plane.http_port}{path}",
                                 headers={"Host": host, **(headers or {})})
        head = [(k.decode().lower(), v.decode()) for k, v in r.headers.raw if k.lower() != b"date"]
        return {"status": r.status_code, "server": r.headers.get("server"), "app": r.headers.get("x-app-name"),
                "body": r.content if r.status_code >= 300 else r.text.split(":")[0], "head": head}


async def both(p: Planes, fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """(nginx's answer, the emulation's); nginx's is the emulation's when nginx is absent."""
    answers = await asyncio.gather(*(fn(plane, *args, **kwargs) for plane in p.planes.values()))
    return answers[0], answers[-1]


# Each case: id, host, path, headers, method, status, app. Sources: S = dataplane-facts §2 (the
# Gateway API spec), N = gateway-controllers-facts "NGINX Gateway Fabric".
CASES = [
    ("one route, one backend", "web.test", "/", {}, "GET", 200, "web"),
    ("the port in Host is ignored (S §2.1)", "web.test:8080", "/x", {}, "GET", 200, "web"),
    ("no server for the host: 404 (S §2.1 no rule)", "nothing.test", "/", {}, "GET", 404, None),
    ("a route without hostnames on a listener without one", "nothing.test", "/catchall/a", {}, "GET", 200, "web"),
    ("Exact matches the path", "paths.test", "/exact", {}, "GET", 200, "exact"),
    ("Exact /exact does not match /exact/ (S §2.1)", "paths.test", "/exact/", {}, "GET", 404, None),
    ("PathPrefix matches the path itself", "paths.test", "/prefix", {}, "GET", 200, "prefix"),
    ("PathPrefix matches below it", "paths.test", "/prefix/a/b", {}, "GET", 200, "prefix"),
    ("PathPrefix is element-wise (S §2.1)", "paths.test", "/prefixed", {}, "GET", 404, None),
    ("a trailing / in PathPrefix is ignored (S §2.1)", "paths.test", "/api", {}, "GET", 200, "api"),
    ("a header match", "match.test", "/", {"X-Version": "v2"}, "GET", 200, "v2"),
    ("header values match exactly", "match.test", "/", {"X-Version": "V2"}, "GET", 200, "web"),
    ("a method match", "match.test", "/", {}, "POST", 200, "api"),
    ("a method match precedes header matches (S §2.1)", "match.test", "/", {"X-Version": "v2"}, "POST", 200, "api"),
    ("a query param match", "match.test", "/?flavour=beta", {}, "GET", 200, "v2"),
    ("no condition holds: the plain rule", "match.test", "/?flavour=alpha", {}, "GET", 200, "web"),
    ("the oldest route wins a tie (S §2.1)", "tie.test", "/", {}, "GET", 200, "v2"),
    ("nothing listens on the pod port: 502", "refused.test", "/", {}, "GET", 502, None),
    ("no ready endpoint: 503 (N status codes)", "notready.test", "/", {}, "GET", 503, None),
    ("backendRef to a missing Service: 500 (N status codes)", "nosvc.test", "/", {}, "GET", 500, None),
    ("cross-namespace ref without ReferenceGrant: 500 (N, S §2.4)", "xns.test", "/", {}, "GET", 500, None),
    ("cross-namespace ref with a ReferenceGrant", "grant.test", "/", {}, "GET", 200, "granted"),
    ("a single backend of weight 0: 500 (N status codes)", "zero.test", "/", {}, "GET", 500, None),
    ("weight 0 next to weight 1 never gets traffic", "split.test", "/", {}, "GET", 200, "web"),
    ("listener *.wild.test covers one label (S §2.1)", "a.wild.test", "/", {}, "GET", 200, "web"),
    ("listener *.wild.test covers more labels (S §2.1)", "a.b.wild.test", "/", {}, "GET", 200, "web"),
    ("*.wild.test does not cover wild.test (S §2.1)", "wild.test", "/", {}, "GET", 404, None),
    ("a route the listener does not allow is not served", "denied.test", "/", {}, "GET", 404, None),
    ("a route whose hostnames miss the listener's is not served", "elsewhere.test", "/", {}, "GET", 404, None),
]


@pytest.mark.parametrize(("host", "path", "headers", "method", "status", "app"),
                         [pytest.param(*c[1:], id=c[0]) for c in CASES])
async def test_http_answers_match(planes: Planes, host: str, path: str, headers: dict[str, str], method: str,
                                  status: int, app: str | None) -> None:
    real, emu = await both(planes, fetch, host, path, headers, method)
    assert real["status"] == status, real
    assert emu == real
    assert real["server"] == "nginx"
    if app is not None:
        assert real["app"] == app
    else:  # nginx's own page for the status
        assert real["body"] == error_page(status)


async def test_backend_sees_ngf_headers(planes: Planes) -> None:
    """NGF sends `Connection: close` without an upgrade (map $http_upgrade: '' close, N WebSocket
    fact) and X-Forwarded-* (UNVERIFIED: NGF's location template, not in the fact sheet)."""
    port = planes.ports["web"]
    before = len(planes.apps.requests(port))
    for plane in planes.planes.values():
        await fetch(plane, "web.test:81", "/seen?x=1", {"X-Forwarded-For": "203.0.113.9", "TE": "trailers",
                                                        "X-Custom": "kept"})
    seen = planes.apps.requests(port)[before:]
    assert len(seen) == len(planes.planes)
    shapes = [{k.lower(): v.replace(str(plane.http_port), "PORT") for k, v in req.headers}
              for req, plane in zip(seen, planes.planes.values(), strict=True)]
    real, emu = shapes[0], shapes[-1]
    assert real == emu
    assert {req.target for req in seen} == {"/seen?x=1"}
    assert real["host"] == "web.test:81"
    assert real["connection"] == "close" and "upgrade" not in real and "te" not in real
    assert real["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert (real["x-forwarded-host"], real["x-forwarded-port"], real["x-forwarded-proto"]) == ("web.test", "PORT", "http")
    assert real["x-custom"] == "kept"


async def _ws(plane: Any, host: str, hold: float) -> dict[str, Any]:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    try:
        ws = await connect(f"ws://{host}/ws", host="127.0.0.1", port=plane.http_port, proxy=None,
                           ping_interval=None, open_timeout=5, close_timeout=1)
    except InvalidStatus as exc:
        return {"status": exc.response.status_code}
    t0 = time.monotonic()
    try:
        await ws.send("hello")
        assert "hello" in str(await asyncio.wait_for(ws.recv(), 3))
        await asyncio.wait_for(ws.wait_closed(), hold)
    except TimeoutError:
        await ws.close()
        return {"status": 101, "closed": False}
    return {"status": 101, "closed": True, "after": round(time.monotonic() - t0), "code": ws.close_code,
            "close_frame": ws.protocol.close_rcvd is not None}


async def test_websocket_upgrades_by_default_and_idle_cut_by_the_read_timeout(planes: Planes) -> None:
    """Every NGF location forwards Upgrade/Connection (N WebSocket fact): 101 with no policy.
    nginx's default proxy_read_timeout is 60 s (N: NGF writes none); a ProxySettingsPolicy
    `timeout.read: 2s` (N fix) cuts an idle WebSocket after ~2 s with no close frame (1006)."""
    (real_ok, emu_ok), (real_idle, emu_idle) = await asyncio.gather(
        both(planes, _ws, "ws.test", 3.5), both(planes, _ws, "idle.test", 6.0))
    assert real_ok == emu_ok == {"status": 101, "closed": False}
    assert real_idle == emu_idle == {"status": 101, "closed": True, "after": 2, "code": 1006, "close_frame": False}
    ups = [r for r in planes.apps.requests(planes.ports["ws"]) if r.header("upgrade")]
    assert ups and all(r.header("connection") == "upgrade" for r in ups)


async def test_a_websocket_to_a_refusing_pod_is_502(planes: Planes) -> None:
    real, emu = await both(planes, _ws, "refused.test", 1.0)
    assert real == emu == {"status": 502}


def test_status_written_like_the_controller() -> None:
    """Route parent conditions and reasons (S §2.4), listener attachedRoutes (only Accepted routes)."""
    objs = {(o["kind"], o["metadata"]["name"]): o for o in with_status(world())}

    def cond(name: str, ctype: str) -> tuple[str, str]:
        c = next(c for c in objs[("HTTPRoute", name)]["status"]["parents"][0]["conditions"] if c["type"] == ctype)
        return c["status"], c["reason"]

    assert cond("web", "Accepted") == ("True", "Accepted")
    assert cond("denied", "Accepted") == ("False", "NotAllowedByListeners")
    assert cond("nohost", "Accepted") == ("False", "NoMatchingListenerHostname")
    assert cond("xns", "ResolvedRefs") == ("False", "RefNotPermitted")
    assert cond("xns", "Accepted") == ("True", "Accepted")  # accepted, its traffic gets 500
    assert cond("grant", "ResolvedRefs") == ("True", "ResolvedRefs")
    assert cond("nosvc", "ResolvedRefs") == ("False", "BackendNotFound")
    gw = objs[("Gateway", "gw")]["status"]
    attached = {lst["name"]: lst["attachedRoutes"] for lst in gw["listeners"]}
    assert attached == {"http": 15, "wild": 1, "same": 0}  # denied and nohost are not counted
    assert [c["type"] for c in gw["conditions"] if c["status"] == "True"] == ["Accepted", "Programmed"]
    gc = objs[("GatewayClass", "nginx")]["status"]["conditions"]
    assert gc[0]["type"] == "Accepted" and gc[0]["status"] == "True"
    for o in objs.values():
        for p in (o.get("status") or {}).get("parents") or ():
            assert p["controllerName"] == NGF_CONTROLLER


def test_route_timeouts_are_ignored_with_ngf_reason_unsupported_field() -> None:
    """N: HTTPRoute `timeouts`/`retry` are not implemented; Accepted stays True, reason UnsupportedField."""
    objs = world()
    route = next(o for o in objs if o["kind"] == "HTTPRoute" and o["metadata"]["name"] == "web")
    route["spec"]["rules"][0]["timeouts"] = {"request": "10h0m0s"}
    done = next(o for o in with_status(objs) if o["kind"] == "HTTPRoute" and o["metadata"]["name"] == "web")
    accepted = done["status"]["parents"][0]["conditions"][0]
    assert (accepted["status"], accepted["reason"]) == ("True", "UnsupportedField")
    assert "spec.rules[0].timeouts" in accepted["message"]


def test_rendering_follows_ngf(tmp_path: Any) -> None:
    """The facts the rendering encodes, in the text nginx gets (N WebSocket and timeout facts)."""
    config = reconcile(world()).config
    text = render_gateway_conf(config, prefix=tmp_path, http_port=8080)
    assert "map $http_upgrade $connection_upgrade {\n        default upgrade;\n        '' close;" in text
    assert text.count("proxy_read_timeout") == 1  # only the ProxySettingsPolicy's route; nginx default elsewhere
    assert "proxy_read_timeout 2s;" in text
    assert "server unix:" in text and "return 500;" in text and "return 503;" in text
    assert "server_name *.wild.test;" in text


@pytest.mark.parametrize(("text", "seconds"), [("3s", 3), ("500ms", 1), ("1h30m", 5400), ("10h0m0s", 36000),
                                               ("3", None), ("1d", None), ("", None)])
def test_policy_durations(text: str, seconds: int | None) -> None:
    """GEP-2257 durations as ProxySettingsPolicy and HTTPRoute timeouts write them (ingress2gateway: 10h0m0s)."""
    from kdiag.lab.gateway.controller import duration_seconds

    assert duration_seconds(text) == seconds
