"""Real nginx (rendered like ingress-nginx) and the Python emulation answer the same way.

One small world with a host per case runs through both data planes at once; every case asserts
the expected answer *and* that both planes gave it (status, which app answered, nginx's error
bodies, the certificate served, what the backend saw, how idle WebSockets are closed).
Without nginx (locally) the same cases check the emulation alone; in CI nginx must be there.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest
import trustme

from kdiag.lab.apps import AppBehavior, AppServer
from kdiag.lab.ingress.controller import build_ingress_config
from kdiag.lab.ingress.emulated import EmulatedIngress
from kdiag.lab.ingress.model import IngressConfig
from kdiag.lab.ingress.nginx import NginxIngress
from kdiag.lab.ingress.pages import PLAIN_HTTP_ON_TLS, error_page
from kdiag.lab.tls_certs import FAKE_CERT_CN
from tests.conftest import nginx_binary

A = "nginx.ingress.kubernetes.io/"

#: pod/app name -> what listens on its container port 8080 (None: nothing, connection refused)
APPS: dict[str, AppBehavior | None] = {
    "web": AppBehavior("web", name="web"),
    "main": AppBehavior("web", name="main"),
    "canary": AppBehavior("web", name="canary"),
    "exact": AppBehavior("web", name="exact"),
    "prefix": AppBehavior("web", name="prefix"),
    "impl": AppBehavior("web", name="impl"),
    "ws": AppBehavior("websocket", name="ws"),
    "slow": AppBehavior("slow", delay=4.0, name="slow"),
    "refused": None,
    "notready": AppBehavior("web", name="notready"),
    "mixed": AppBehavior("web", name="mixed"),  # a second pod, mixed-1, has nothing listening
}
NOT_READY = {"notready"}
RAW = "raw"  # a hand-written HTTP/1.1 server (chunked, close-delimited, odd heads), see RawHandler
BLACKHOLE = "blackhole"  # a listening socket whose accept queue is full: connects time out
STICKY_PODS = ("sticky-0", "sticky-1")  # one Service, two replicas


def _md(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": "default", **extra}


def _pod(name: str, app: str, ready: bool, ip: str) -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1", "metadata": _md(name, labels={"app": app}),
            "spec": {"containers": [{"name": "app", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def _workload(i: int, name: str, ready: bool) -> list[dict[str, Any]]:
    svc = {"kind": "Service", "apiVersion": "v1", "metadata": _md(name),
           "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    return [_pod(f"{name}-0", name, ready, f"10.244.1.{i + 10}"), svc]


def _ingress(name: str, host: str, paths: list[tuple[str, str, str]], annotations: Mapping[str, str] | None = None,
             tls_secret: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"ingressClassName": "nginx", "rules": [{"host": host, "http": {"paths": [
        {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}}
        for p, t, s in paths]}}]}
    if tls_secret:
        spec["tls"] = [{"hosts": [host], "secretName": tls_secret}]
    return {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
            "metadata": _md(name, annotations=dict(annotations or {})), "spec": spec}


def world() -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [{"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1",
                                   "metadata": {"name": "nginx"}, "spec": {"controller": "k8s.io/ingress-nginx"}}]
    for i, name in enumerate([*APPS, RAW, BLACKHOLE]):
        objs += _workload(i, name, name not in NOT_READY)
    objs.append(_pod("mixed-1", "mixed", True, "10.244.2.1"))
    objs += [_pod(pod, "sticky", True, f"10.244.3.{i}") for i, pod in enumerate(STICKY_PODS)]
    objs.append(_workload(0, "sticky", True)[1])
    objs += [
        _ingress("web", "web.test", [("/", "Prefix", "web")]),
        _ingress("ws", "ws.test", [("/", "Prefix", "ws")]),
        _ingress("idle", "idle.test", [("/", "Prefix", "ws")],
                 {A + "proxy-read-timeout": "2", A + "proxy-send-timeout": "2"}),
        _ingress("refused", "refused.test", [("/", "Prefix", "refused")]),
        _ingress("slow", "slow.test", [("/", "Prefix", "slow")], {A + "proxy-read-timeout": "1"}),
        _ingress("notready", "notready.test", [("/", "Prefix", "notready")]),
        _ingress("nosvc", "nosvc.test", [("/", "Prefix", "does-not-exist")]),
        _ingress("paths", "paths.test", [("/exact", "Exact", "exact"), ("/prefix", "Prefix", "prefix"),
                                         ("/impl", "ImplementationSpecific", "impl")]),
        _ingress("wild", "*.wild.test", [("/", "Prefix", "web")]),
        _ingress("main", "canary.test", [("/", "Prefix", "main")]),
        _ingress("canary", "canary.test", [("/", "Prefix", "canary")],
                 {A + "canary": "true", A + "canary-by-header": "X-Canary", A + "canary-by-header-value": "v2"}),
        _ingress("main2", "cookie.test", [("/", "Prefix", "main")]),
        _ingress("canary2", "cookie.test", [("/", "Prefix", "canary")],
                 {A + "canary": "true", A + "canary-by-header": "X-Canary", A + "canary-by-cookie": "beta"}),
        _ingress("tls", "tls.test", [("/", "Prefix", "web")], tls_secret="tls-cert"),
        _ingress("fake", "fake.test", [("/", "Prefix", "web")], tls_secret="missing-secret"),
        _ingress("mixed", "mixed.test", [("/", "Prefix", "mixed")]),
        _ingress("main3", "weight.test", [("/", "Prefix", "main")]),
        _ingress("canary3", "weight.test", [("/", "Prefix", "canary")], {A + "canary": "true", A + "canary-weight": "100"}),
        _ingress("wss", "wss.test", [("/", "Prefix", "ws")], tls_secret="wss-secret-missing"),
        _ingress("raw", "raw.test", [("/", "Prefix", RAW)]),
        _ingress("regex", "regex.test", [("/api/v[0-9]+", "ImplementationSpecific", "exact"),
                                         ("/api", "Prefix", "prefix")], {A + "use-regex": "true"}),
        _ingress("regex2", "regex.test", [("/static/.*\\.css", "ImplementationSpecific", "impl")]),
        _ingress("rewrite", "rewrite.test", [("/something(/|$)(.*)", "ImplementationSpecific", "web")],
                 {A + "rewrite-target": "/$2"}),
        _ingress("sticky", "sticky.test", [("/", "Prefix", "sticky")],
                 {A + "affinity": "cookie", A + "session-cookie-name": "route"}),
        _ingress("roundrobin", "roundrobin.test", [("/", "Prefix", "sticky")]),
        _ingress("blackhole", "blackhole.test", [("/", "Prefix", BLACKHOLE)], {A + "proxy-connect-timeout": "1"}),
        _ingress("overlap", "overlap.test", [("/a", "Prefix", "web"), ("/a/b", "Prefix", "main"),
                                             ("/a/b/c", "Exact", "canary"), ("/ab", "ImplementationSpecific", "exact"),
                                             ("/a/b/", "Exact", "prefix"), ("/b/", "Prefix", "impl"),
                                             ("/e/", "Prefix", "notready")]),
        _ingress("http10", "http10.test", [("/", "Prefix", "ws")], {A + "proxy-http-version": "1.0"}),
        _ingress("connhdr", "connhdr.test", [("/", "Prefix", "ws")], {A + "connection-proxy-header": "keep-alive"}),
        _ingress("other-class", "otherclass.test", [("/", "Prefix", "web")]),
    ]
    objs[-1]["spec"]["ingressClassName"] = "traefik"
    return objs


class Planes:
    """The two data planes serving the same config, plus what the test needs to talk to them."""

    def __init__(self, planes: dict[str, Any], apps: AppServer, ports: dict[str, int], ca: trustme.CA) -> None:
        self.planes = planes
        self.apps = apps
        self.ports = ports
        self.ca = ca


class RawHandler(socketserver.StreamRequestHandler):
    """Answers by path, with framings AppServer does not use; keeps connections alive."""

    def handle(self) -> None:
        try:
            self._serve()
        except OSError:
            return

    def _serve(self) -> None:
        while True:
            line = self.rfile.readline(8192)
            if not line.strip():
                return
            method, target, _ = line.decode("latin-1").split(" ", 2)
            headers: dict[str, str] = {}
            while (h := self.rfile.readline(8192)) not in (b"\r\n", b""):
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            body = self.rfile.read(int(headers.get("content-length", "0")))
            out = {
                "/chunked": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                "/close": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil close",
                "/big-header": b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 5000 + b"\r\nContent-Length: 2\r\n\r\nok",
                "/204": b"HTTP/1.1 204 No Content\r\nX-Empty: 1\r\n\r\n",
                "/reason": b"HTTP/1.1 299 Custom Reason\r\nContent-Length: 0\r\n\r\n",
                "/garbage": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
                "/early-close": b"",
            }.get(target)
            if out is None:
                echo = f"{method} {body.decode()}".encode()
                out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (
                    len(echo), b"" if method == "HEAD" else echo)
            self.wfile.write(out)
            self.wfile.flush()
            if target in ("/close", "/garbage", "/early-close"):
                return


def _backend_map(apps: AppServer, extra: dict[str, int]) -> tuple[dict[str, int], Any]:
    ports = {name: apps.serve(b) for name, b in APPS.items() if b is not None}
    ports.update(extra)
    closed = apps.closed_port()
    pod_ports = {f"{name}-0": port for name, port in ports.items()}
    for pod in STICKY_PODS:  # two replicas that tell apart which one answered
        pod_ports[pod] = apps.serve(AppBehavior("web", name=pod))

    def backends(ns: str, pod: str, port: int) -> tuple[str, int] | None:
        if port != 8080:
            return None
        if pod in pod_ports:
            return ("127.0.0.1", pod_ports[pod])
        return ("127.0.0.1", closed) if pod.rpartition("-")[0] in APPS else None

    return ports, backends


def _config(backends: Any, ca: trustme.CA) -> IngressConfig:
    cert = ca.issue_cert("tls.test")
    material = (b"".join(b.bytes() for b in cert.cert_chain_pems), cert.private_key_pem.bytes())
    return build_ingress_config(world(), backends=backends, tls_secrets={("default", "tls-cert"): material})


def _start_planes(drop_upgrade: bool) -> Iterator[Planes]:
    nginx = nginx_binary()
    if nginx is None and os.environ.get("CI"):
        pytest.fail("nginx is required in CI (.ci/run installs it) but was not found")
    ca = trustme.CA()
    raw = socketserver.ThreadingTCPServer(("127.0.0.1", 0), RawHandler)
    raw.daemon_threads = True
    threading.Thread(target=raw.serve_forever, daemon=True).start()
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    fillers = [socket.socket() for _ in range(3)]
    for filler in fillers:  # fill the accept queue: later SYNs are dropped, connects time out
        filler.setblocking(False)
        filler.connect_ex(hole.getsockname())
    with AppServer() as apps:
        ports, backends = _backend_map(apps, {RAW: int(raw.server_address[1]), BLACKHOLE: hole.getsockname()[1]})
        config = _config(backends, ca)
        real = NginxIngress(config, nginx=nginx, drop_upgrade=drop_upgrade) if nginx else None
        emu = EmulatedIngress(config, drop_upgrade=drop_upgrade)
        try:
            running: dict[str, Any] = {}
            if real is not None:
                running["nginx"] = real.start()
            running["emulated"] = emu.start()
            yield Planes(running, apps, ports, ca)
        finally:
            emu.stop()
            if real is not None:
                real.stop()
            raw.shutdown()
            raw.server_close()
            for sock in [*fillers, hole]:
                sock.close()


@pytest.fixture(scope="module")
def planes() -> Iterator[Planes]:
    yield from _start_planes(drop_upgrade=False)


@pytest.fixture(scope="module")
def dropping() -> Iterator[Planes]:
    yield from _start_planes(drop_upgrade=True)


# -- clients ---------------------------------------------------------------------------------

async def fetch(plane: Any, host: str, path: str = "/", headers: Mapping[str, str] | None = None,
                tls: bool = False, verify: ssl.SSLContext | bool = False) -> dict[str, Any]:
    port = plane.https_port if tls else plane.http_port
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}{path}"
    async with httpx.AsyncClient(trust_env=False, verify=verify, timeout=10) as client:
        r = await client.get(url, headers={"Host": host, **(headers or {})},
                             extensions={"sni_hostname": host} if tls else None)
        def ports(text: str) -> str:
            return text.replace(str(plane.https_port), "HTTPS_PORT").replace(str(plane.http_port), "HTTP_PORT")

        location = r.headers.get("location")
        if location:
            location = ports(location)
        head = [(k.decode(), ports(v.decode())) for k, v in r.headers.raw if k.lower() != b"date"]
        return {"status": r.status_code, "server": r.headers.get("server"), "app": r.headers.get("x-app-name"),
                "body": r.content if r.status_code >= 300 else r.text.split(":")[0],
                "location": location, "head": head}


async def ws_open(plane: Any, host: str, path: str = "/ws", tls: bool = False) -> Any:
    from websockets.asyncio.client import connect

    ctx = None
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return await connect(f"{'wss' if tls else 'ws'}://{host}{path}", host="127.0.0.1",
                         port=plane.https_port if tls else plane.http_port, proxy=None, ssl=ctx,
                         ping_interval=None, open_timeout=5, close_timeout=1)


async def ws_status(plane: Any, host: str, path: str = "/ws", tls: bool = False) -> int | None:
    from websockets.exceptions import InvalidStatus

    try:
        ws = await ws_open(plane, host, path, tls)
    except InvalidStatus as exc:
        return int(exc.response.status_code)
    try:
        await ws.send("hello")
        echo = await asyncio.wait_for(ws.recv(), 3)
        assert "hello" in str(echo)
        return int(ws.response.status_code)
    finally:
        await ws.close()


async def both(p: Planes, fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """(nginx's answer, the emulation's answer); nginx's is the emulation's when nginx is absent."""
    answers = await asyncio.gather(*(fn(plane, *args, **kwargs) for plane in p.planes.values()))
    return answers[0], answers[-1]


def peer_cert_cn(port: int, host: str) -> str:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw, server_hostname=host) as tls:
        der = tls.getpeercert(True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else ""


# -- HTTP cases ------------------------------------------------------------------------------

HTTP_CASES = [
    # (id, host, path, headers, expected status, expected app or None)
    ("web app", "web.test", "/", {}, 200, "web"),
    ("web app, host with port", "web.test:80", "/x", {}, 200, "web"),
    ("no rule matches the host", "nothing.test", "/", {}, 404, None),
    ("ingress of another class is ignored", "otherclass.test", "/", {}, 404, None),
    ("refused upstream", "refused.test", "/", {}, 502, None),
    ("slow upstream beyond proxy-read-timeout", "slow.test", "/", {}, 504, None),
    ("connect timeout beyond proxy-connect-timeout", "blackhole.test", "/", {}, 504, None),
    ("no ready endpoints", "notready.test", "/", {}, 503, None),
    ("backend Service missing", "nosvc.test", "/", {}, 503, None),
    ("Exact matches exactly", "paths.test", "/exact", {}, 200, "exact"),
    ("Exact does not match a longer path", "paths.test", "/exact/", {}, 404, None),
    ("Prefix matches itself", "paths.test", "/prefix", {}, 200, "prefix"),
    ("Prefix matches below itself", "paths.test", "/prefix/a/b", {}, 200, "prefix"),
    ("Prefix is element-wise", "paths.test", "/prefixes", {}, 404, None),
    ("ImplementationSpecific is an nginx prefix", "paths.test", "/impl", {}, 200, "impl"),
    ("ImplementationSpecific matches /implx too", "paths.test", "/implx", {}, 200, "impl"),
    ("path normalisation before matching", "paths.test", "/a/../prefix//x", {}, 200, "prefix"),
    ("unmatched path on a known host", "paths.test", "/", {}, 404, None),
    ("use-regex: a regex path, case-insensitive", "regex.test", "/API/V2/users", {}, 200, "exact"),
    ("use-regex: longer regex first", "regex.test", "/api/v", {}, 200, "prefix"),
    ("use-regex: Prefix loses its element-wise match", "regex.test", "/apix", {}, 200, "prefix"),
    ("use-regex applies to every Ingress of the host", "regex.test", "/x/static/a.css", {}, 404, None),
    ("use-regex applies to every Ingress of the host (match)", "regex.test", "/static/A.CSS", {}, 200, "impl"),
    ("wildcard matches one label", "a.wild.test", "/", {}, 200, "web"),
    ("wildcard does not match two labels", "a.b.wild.test", "/", {}, 404, None),
    ("wildcard does not match the bare domain", "wild.test", "/", {}, 404, None),
    ("canary: no header goes to main", "canary.test", "/", {}, 200, "main"),
    ("canary: header value matches", "canary.test", "/", {"X-Canary": "v2"}, 200, "canary"),
    ("canary: header value is case-sensitive", "canary.test", "/", {"X-Canary": "V2"}, 200, "main"),
    ("canary: 'always' is just a value when header-value is set", "canary.test", "/",
     {"X-Canary": "always"}, 200, "main"),
    ("canary: header always", "cookie.test", "/", {"X-Canary": "always"}, 200, "canary"),
    ("canary: header never beats the cookie", "cookie.test", "/", {"X-Canary": "never", "Cookie": "beta=always"},
     200, "main"),
    ("canary: cookie always", "cookie.test", "/", {"Cookie": "a=b; beta=always"}, 200, "canary"),
    ("canary: other header values fall through to the cookie", "cookie.test", "/",
     {"X-Canary": "maybe", "Cookie": "beta=always"}, 200, "canary"),
    ("canary: cookie never", "cookie.test", "/", {"Cookie": "beta=never"}, 200, "main"),
    ("canary: weight 100 always goes to the canary", "weight.test", "/", {}, 200, "canary"),
    ("auto_redirect: Prefix /b/ answers /b with 301", "overlap.test", "/b?x=1", {}, 301, None),
    ("auto_redirect also for a location without endpoints", "overlap.test", "/e", {}, 301, None),
    ("auto_redirect names $host (lower-case, no port)", "Overlap.Test:81", "/b", {}, 301, None),
    ("ssl-redirect with TLS configured", "tls.test", "/p?q=1", {}, 308, None),
    ("ssl-redirect also with the fake certificate", "fake.test", "/", {}, 308, None),
    ("ssl-redirect keeps the Host header's spelling", "Tls.Test:8080", "/x", {}, 308, None),
    ("plain WebSocket path without upgrade headers", "ws.test", "/ws", {}, 400, None),
]


@pytest.mark.parametrize(("host", "path", "headers", "status", "app"),
                         [pytest.param(*c[1:], id=c[0]) for c in HTTP_CASES])
async def test_http_answers_match(planes: Planes, host: str, path: str, headers: dict[str, str], status: int,
                                  app: str | None) -> None:
    real, emu = await both(planes, fetch, host, path, headers)
    assert real["status"] == status, real
    assert emu == real
    assert real["server"] == "nginx"
    if app is not None:
        assert real["body"] == app
    if status in (301, 404, 502, 503, 504, 308):
        assert real["body"] == error_page(status)
    if status == 308:
        assert real["location"] == f"https://{host.split(':')[0]}:HTTPS_PORT{path}"
    if status == 301:
        base, _, query = path.partition("?")
        assert real["location"] == f"http://{host.split(':')[0].lower()}:HTTP_PORT{base}/" + (
            f"?{query}" if query else "")


async def test_tls_with_secret_serves_the_host_certificate(planes: Planes) -> None:
    ctx = ssl.create_default_context()
    planes.ca.configure_trust(ctx)
    real, emu = await both(planes, fetch, "tls.test", "/", tls=True, verify=ctx)
    assert real == emu
    assert real["status"] == 200 and real["body"] == "web"
    for plane in planes.planes.values():
        assert peer_cert_cn(plane.https_port, "tls.test") != FAKE_CERT_CN


@pytest.mark.parametrize("host", ["fake.test", "web.test", "nothing.test"])
async def test_tls_without_secret_serves_the_fake_certificate(planes: Planes, host: str) -> None:
    real, emu = await both(planes, fetch, host, "/", tls=True)
    assert real == emu
    assert real["status"] == (404 if host == "nothing.test" else 200)
    for plane in planes.planes.values():
        assert peer_cert_cn(plane.https_port, host) == FAKE_CERT_CN


async def test_backend_sees_the_same_request(planes: Planes) -> None:
    port = planes.ports["web"]
    before = len(planes.apps.requests(port))
    for plane in planes.planes.values():
        await fetch(plane, "web.test", "/seen?x=1",
                    {"X-Forwarded-For": "203.0.113.9", "X-Request-ID": "req-1", "TE": "trailers",
                     "Proxy": "http://evil", "Connection": "keep-alive, X-Drop"})
    seen = planes.apps.requests(port)[before:]
    assert len(seen) == len(planes.planes)

    def shape(req: Any, plane: Any) -> dict[str, str]:
        return {k.lower(): v.replace(str(plane.http_port), "PORT") for k, v in req.headers}

    shapes = [shape(req, plane) for req, plane in zip(seen, planes.planes.values(), strict=True)]
    real, emu = shapes[0], shapes[-1]
    assert {req.target for req in seen} == {"/seen?x=1"}
    assert real == emu
    assert real["host"] == "web.test"
    assert real["x-forwarded-proto"] == "http"
    assert real["x-forwarded-port"] == "PORT"
    assert real["x-real-ip"] == "127.0.0.1"
    assert real["x-original-forwarded-for"] == "203.0.113.9"
    assert real["x-request-id"] == "req-1"
    assert "connection" not in real and "upgrade" not in real and "te" not in real and "proxy" not in real


# -- WebSocket cases -------------------------------------------------------------------------

async def test_websocket_upgrade_and_upgrade_headers(planes: Planes) -> None:
    real, emu = await both(planes, ws_status, "ws.test")
    assert real == emu == 101
    port = planes.ports["ws"]
    ups = [r for r in planes.apps.requests(port) if r.header("upgrade")]
    assert ups and all(r.header("connection") == "upgrade" and r.header("upgrade") == "websocket" for r in ups)


@pytest.mark.parametrize("host", ["http10.test", "connhdr.test"])
async def test_annotations_that_break_websockets(planes: Planes, host: str) -> None:
    """proxy-http-version 1.0 / connection-proxy-header keep-alive: the backend never sees a
    proper upgrade request, on both planes alike."""
    port = planes.ports["ws"]
    before = len(planes.apps.requests(port))
    real, emu = await both(planes, ws_status, host)
    assert real == emu
    seen = planes.apps.requests(port)[before:]
    assert len(seen) == len(planes.planes)
    assert {k.lower() for k, _ in seen[0].headers} == {k.lower() for k, _ in seen[-1].headers}
    if host == "connhdr.test":
        assert real == 400 and all(r.header("connection") == "keep-alive" for r in seen)


async def test_wss_through_tls_termination(planes: Planes) -> None:
    port = planes.ports["ws"]
    before = len(planes.apps.requests(port))
    real, emu = await both(planes, ws_status, "wss.test", tls=True)
    assert real == emu == 101
    seen = planes.apps.requests(port)[before:]
    assert [r.header("x-forwarded-proto") for r in seen] == ["https"] * len(planes.planes)


async def _idle(plane: Any, host: str, hold: float) -> dict[str, Any]:
    ws = await ws_open(plane, host)
    t0 = time.monotonic()
    try:
        await asyncio.wait_for(ws.wait_closed(), hold)
    except TimeoutError:
        await ws.close()
        return {"closed": False}
    return {"closed": True, "after": round(time.monotonic() - t0), "code": ws.close_code,
            "close_frame": ws.protocol.close_rcvd is not None}


async def _chatty_client(plane: Any) -> float:
    ws = await ws_open(plane, "idle.test")
    t0 = time.monotonic()
    try:
        for _ in range(4):  # client→server traffic alone (the app does not answer "x") keeps it open
            await ws.send(b"\x00")
            await asyncio.sleep(0.8)
        await asyncio.wait_for(ws.wait_closed(), 5)
    finally:
        await ws.close()
    return round(time.monotonic() - t0)


async def test_idle_websocket_is_dropped_after_proxy_read_timeout(planes: Planes) -> None:
    """proxy-read-timeout 2 s: both planes cut an idle WebSocket after ~2 s without a close
    frame (1006); with the default 60 s the same app stays open; and traffic from the client
    alone re-arms the timer (nginx re-arms it on traffic in either direction)."""
    (real, emu), (real_ok, emu_ok), (real_chat, emu_chat) = await asyncio.gather(
        both(planes, _idle, "idle.test", 5.0), both(planes, _idle, "ws.test", 3.0), both(planes, _chatty_client))
    assert real == emu == {"closed": True, "after": 2, "code": 1006, "close_frame": False}
    assert real_ok == emu_ok == {"closed": False}
    assert real_chat == emu_chat
    assert real_chat >= 4  # not cut at 2 s


async def test_drop_upgrade_mode_sends_a_plain_get(dropping: Planes) -> None:
    real, emu = await both(dropping, ws_status, "ws.test")
    assert real == emu == 400
    port = dropping.ports["ws"]
    recent = dropping.apps.requests(port)[-len(dropping.planes):]
    assert len(recent) == len(dropping.planes)
    for req in recent:
        assert req.header("upgrade") is None and req.header("connection") is None
    web_real, web_emu = await both(dropping, fetch, "web.test", "/")
    assert web_real == web_emu and web_real["status"] == 200


async def test_refused_upstream_is_logged_like_nginx(planes: Planes) -> None:
    await both(planes, fetch, "refused.test", "/")
    await asyncio.sleep(0.1)
    for plane in planes.planes.values():
        assert "connect() failed (111: Connection refused) while connecting to upstream" in plane.error_log_tail()


async def test_a_refused_endpoint_is_retried_on_the_next_one(planes: Planes) -> None:
    """proxy_next_upstream error timeout: with one live and one refusing pod, every request
    succeeds (round robin reaches the refusing pod at least once in four requests)."""
    refused = "(111: Connection refused) while connecting to upstream"
    for plane in planes.planes.values():
        before = plane.error_log_tail(10_000).count(refused)
        answers = [await fetch(plane, "mixed.test", f"/{i}") for i in range(4)]
        assert [a["status"] for a in answers] == [200] * 4
        assert {a["body"] for a in answers} == {"mixed"}
        await asyncio.sleep(0.1)
        assert plane.error_log_tail(10_000).count(refused) > before


async def _raw_sequence(plane: Any) -> list[tuple[Any, ...]]:
    """Several requests on one kept-alive client connection, through odd upstream framings."""
    out: list[tuple[Any, ...]] = []
    async with httpx.AsyncClient(trust_env=False, timeout=5,
                                 limits=httpx.Limits(max_connections=1)) as client:
        base = f"http://127.0.0.1:{plane.http_port}"
        for method, path, body in [("GET", "/chunked", None), ("POST", "/echo", b"abc"), ("HEAD", "/echo", None),
                                   ("GET", "/204", None), ("GET", "/reason", None), ("GET", "/close", None),
                                   ("GET", "/big-header", None), ("GET", "/early-close", None),
                                   ("GET", "/echo", None)]:
            r = await client.request(method, base + path, headers={"Host": "raw.test"}, content=body)
            out.append((method, path, r.status_code, r.reason_phrase, r.content, r.headers.get("x-empty"),
                        r.headers.get("server")))
    return out


async def test_upstream_framings_and_keepalive(planes: Planes) -> None:
    real, emu = await both(planes, _raw_sequence)
    assert real == emu
    got = {(m, p): (status, reason, body) for m, p, status, reason, body, *_ in real}
    assert got[("GET", "/chunked")] == (200, "OK", b"hello world")
    assert got[("POST", "/echo")] == (200, "OK", b"POST abc")
    assert got[("HEAD", "/echo")] == (200, "OK", b"")
    assert got[("GET", "/204")][:2] == (204, "No Content")
    assert got[("GET", "/reason")] == (299, "Custom Reason", b"")
    assert got[("GET", "/close")] == (200, "OK", b"until close")
    assert got[("GET", "/big-header")] == (502, "Bad Gateway", error_page(502))  # proxy_buffer_size 4k
    assert got[("GET", "/early-close")] == (502, "Bad Gateway", error_page(502))


MALFORMED = {
    "garbage": b"GARBAGE\r\n\r\n",
    "HTTP/1.1 without Host": b"GET / HTTP/1.1\r\n\r\n",
    "HTTP/1.0 without Host": b"GET / HTTP/1.0\r\n\r\n",
    "headers over 32k": b"GET / HTTP/1.1\r\nHost: web.test\r\nX-A: " + b"a" * 40000 + b"\r\n\r\n",
    "one header line over 8k": b"GET / HTTP/1.1\r\nHost: web.test\r\nX-A: " + b"a" * 9000 + b"\r\n\r\n",
    "request line over 8k": b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: web.test\r\n\r\n",
    "HTTP/2.0 request line": b"GET / HTTP/2.0\r\nHost: web.test\r\n\r\n",
    "lower-case method": b"get / HTTP/1.1\r\nHost: web.test\r\n\r\n",
    "space in a header name": b"GET / HTTP/1.1\r\nHost: web.test\r\nX A: b\r\n\r\n",
    "path above the root": b"GET /../x HTTP/1.1\r\nHost: web.test\r\n\r\n",
    "absolute form wins over Host": b"GET http://web.test/x HTTP/1.1\r\nHost: other.test\r\n\r\n",
    "body over 1m": b"POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 2000000\r\n\r\n",
    "bad Content-Length": b"POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: x\r\n\r\n",
    "Transfer-Encoding and Content-Length": b"POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 3\r\n"
                                            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "Transfer-Encoding gzip": b"POST / HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: gzip\r\n\r\n",
    "chunked request body": b"POST /echo HTTP/1.1\r\nHost: raw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                            b"3\r\nabc\r\n0\r\n\r\n",
    "OPTIONS *": b"OPTIONS * HTTP/1.1\r\nHost: web.test\r\n\r\n",
    "bare LF line ends": b"GET / HTTP/1.1\nHost: web.test\n\n",
    "two Host headers": b"GET / HTTP/1.1\r\nHost: web.test\r\nHost: other.test\r\n\r\n",
    "HTTP/1.0 keep-alive": b"GET /echo HTTP/1.0\r\nHost: raw.test\r\nConnection: keep-alive\r\n\r\n",
    "HTTP/1.0 close-delimited upstream": b"GET /close HTTP/1.0\r\nHost: raw.test\r\nConnection: keep-alive\r\n\r\n",
    "HEAD of an error page": b"HEAD / HTTP/1.1\r\nHost: refused.test\r\n\r\n",
    "upstream speaks no HTTP (passed on as HTTP/0.9)": b"GET /garbage HTTP/1.1\r\nHost: raw.test\r\n\r\n",
    "underscore header is dropped": b"GET /echo HTTP/1.1\r\nHost: raw.test\r\nX_Under: 1\r\n\r\n",
}


def _raw_exchange(port: int, data: bytes) -> bytes:
    """One raw request; the response head without Date, and its Content-Length body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                break
            buf += chunk
        head, _, body = buf.partition(b"\r\n\r\n")
        length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), None)
        if data.startswith(b"HEAD "):
            length = 0
        elif length is None and b"Connection: close" in head:
            length = 1 << 30  # until the server closes
        while len(body) < (length or 0):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    lines = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"date:")]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.mark.parametrize("request_bytes", [pytest.param(v, id=k) for k, v in MALFORMED.items()])
async def test_odd_and_malformed_requests(planes: Planes, request_bytes: bytes) -> None:
    answers = await asyncio.gather(
        *(asyncio.to_thread(_raw_exchange, plane.http_port, request_bytes) for plane in planes.planes.values()))
    real, emu = answers[0], answers[-1]
    if b"/garbage" in request_bytes:
        assert real == b"SSH-2.0-OpenSSH_9.6\r\n\r\n"  # no status line, no headers: HTTP/0.9
    else:
        assert real.startswith(b"HTTP/1.1 ")
    assert real == emu


def _status_and_app(port: int, path: str, host: str) -> tuple[int, str | None]:
    """A raw GET (no client-side path normalisation): status code and X-App-Name."""
    response = _raw_exchange(port, f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    lines = response.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    app = next((line.split(b":", 1)[1].strip().decode() for line in lines[1:]
                if line.lower().startswith(b"x-app-name:")), None)
    return int(lines[0].split()[1]), app


@pytest.mark.slow
def test_location_matching_agrees_on_random_paths(planes: Planes) -> None:
    """Property: for any path built from the configured segments (dot segments, escapes and
    case included), nginx and the emulation pick the same location, and the IR predicts it."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from kdiag.lab.ingress.model import normalize_uri

    config = planes.planes["emulated"].config
    segment = st.sampled_from(["a", "b", "c", "e", "ab", "", ".", "..", "A", "%61", "%2F", "x"])

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(segment, min_size=0, max_size=4), st.booleans())
    def check(segments: list[str], trailing: bool) -> None:
        path = "/" + "/".join(segments) + ("/" if trailing and segments else "")
        answers = {name: _status_and_app(plane.http_port, path, "overlap.test")
                   for name, plane in planes.planes.items()}
        reference = answers.get("nginx", answers["emulated"])
        assert reference == answers["emulated"], path
        uri = normalize_uri(path)
        if uri is None:
            assert reference[0] == 400, path
            return
        server = config.server_for("overlap.test")
        if server.auto_redirects(uri):
            assert reference[0] == 301, path
            return
        loc = server.find_location(uri)
        expected = None if loc is None or loc.upstream is None else loc.upstream.service.split("/")[1]
        if expected == "notready":
            assert reference == (503, None), path
        else:
            assert reference[1] == expected, path

    check()


async def test_connect_timeout_is_logged_like_nginx(planes: Planes) -> None:
    real, emu = await both(planes, fetch, "blackhole.test", "/")
    assert real["status"] == emu["status"] == 504
    for plane in planes.planes.values():
        assert "upstream timed out (110: Connection timed out) while connecting to upstream" in plane.error_log_tail()


@pytest.mark.parametrize(("path", "upstream_target"), [
    ("/something/abc?x=1", "/abc?x=1"),
    ("/something", "/"),
    ("/SOMETHING/a/b", "/a/b"),
])
async def test_rewrite_target(planes: Planes, path: str, upstream_target: str) -> None:
    port = planes.ports["web"]
    before = len(planes.apps.requests(port))
    real, emu = await both(planes, fetch, "rewrite.test", path)
    assert real == emu and real["status"] == 200
    seen = planes.apps.requests(port)[before:]
    assert [r.target for r in seen] == [upstream_target] * len(planes.planes)


async def _session(plane: Any, host: str, n: int) -> dict[str, Any]:
    """n requests on one client that keeps cookies: who answered, and the cookie it was given."""
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        apps = []
        first_cookie = None
        for i in range(n):
            r = await client.get(f"http://127.0.0.1:{plane.http_port}/{i}", headers={"Host": host})
            assert r.status_code == 200
            if i == 0:
                first_cookie = r.headers.get("set-cookie")
            else:
                assert r.headers.get("set-cookie") is None
            apps.append(r.headers["x-app-name"])
    return {"apps": apps, "cookie": first_cookie}


async def test_cookie_affinity_keeps_a_session_on_one_replica(planes: Planes) -> None:
    for plane in planes.planes.values():
        sessions = [await _session(plane, "sticky.test", 5) for _ in range(6)]
        for sess in sessions:
            assert len(set(sess["apps"])) == 1, sess  # sticky
            assert re.fullmatch(r"route=[0-9a-f]{32}; Path=/; HttpOnly", sess["cookie"] or ""), sess
        plain = await _session(plane, "roundrobin.test", 4)
        assert plain["cookie"] is None
        assert set(plain["apps"]) == set(STICKY_PODS)  # without affinity: round robin over both


async def test_plain_http_on_the_tls_port(planes: Planes) -> None:
    answers = await asyncio.gather(*(asyncio.to_thread(
        _raw_exchange, plane.https_port, b"GET /x HTTP/1.1\r\nHost: web.test\r\n\r\n")
        for plane in planes.planes.values()))
    assert answers[0] == answers[-1]
    assert answers[0].startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answers[0].endswith(error_page(400, detail=PLAIN_HTTP_ON_TLS))


def _tls_hello_to(port: int) -> str:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        try:
            with ctx.wrap_socket(raw, server_hostname="web.test"):
                return "handshake ok"
        except ssl.SSLError as exc:
            return str(exc.reason)


async def test_tls_on_the_plain_port(planes: Planes) -> None:
    answers = await asyncio.gather(*(asyncio.to_thread(_tls_hello_to, plane.http_port)
                                     for plane in planes.planes.values()))
    assert answers[0] == answers[-1] == "WRONG_VERSION_NUMBER"
