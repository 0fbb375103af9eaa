"""Probes against real loopback servers: the lab apps, hand-written misbehaving servers, TLS, a header-dropping proxy."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager

import pytest
import trustme

from kdiag.endpoint import Endpoint
from kdiag.lab.apps import AppBehavior, AppServer
from kdiag.probes.http import probe_http
from kdiag.probes.http1 import read_head
from kdiag.probes.idle import probe_idle
from kdiag.probes.tcp import probe_tcp
from kdiag.probes.tls import probe_tls
from kdiag.probes.websocket import probe_websocket

LO = "127.0.0.1"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(scope="module")
def apps() -> Iterator[AppServer]:
    with AppServer() as srv:
        yield srv


def ep(port: int, **kw: object) -> Endpoint:
    return Endpoint(LO, port, kw.pop("via", "direct"), kw.pop("label", f"app :{port}"), **kw)  # type: ignore[arg-type]


@asynccontextmanager
async def raw_server(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> AsyncIterator[int]:
    async def wrapped(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await handler(r, w)
        except (OSError, EOFError, asyncio.CancelledError):
            pass
        finally:
            w.transport.abort()

    server = await asyncio.start_server(wrapped, LO, 0, ssl=ssl_context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def canned(response: bytes, *, hold: bool = False) -> Handler:
    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await read_head(r)
        w.write(response)
        await w.drain()
        if hold:
            await asyncio.sleep(30)

    return handler


@asynccontextmanager
async def dropping_proxy(backend_port: int) -> AsyncIterator[int]:
    """A tiny reverse proxy that forwards requests without Upgrade/Connection (like a misconfigured LB)."""

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        start, headers = await read_head(r)
        kept = [(k, v) for k, v in headers if k.lower() not in ("upgrade", "connection")]
        br, bw = await asyncio.open_connection(LO, backend_port)
        head = start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in kept) + "Connection: close\r\n\r\n"
        bw.write(head.encode("latin-1"))
        await bw.drain()
        while chunk := await br.read(65536):
            w.write(chunk)
            await w.drain()
        bw.transport.abort()

    async with raw_server(handler) as port:
        yield port


# -- HTTP -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("behavior", "path", "status", "ok"), [
    (AppBehavior("web", name="web-0"), "/", 200, True),
    (AppBehavior("web"), "/healthz", 200, True),
    (AppBehavior("websocket"), "/api", 200, True),
    (AppBehavior("websocket"), "/ws", 400, False),
    (AppBehavior("http-only"), "/ws", 200, True),
    (AppBehavior("reject-upgrade"), "/", 400, False),
    (AppBehavior("ws-426"), "/", 426, False),
    (AppBehavior("error"), "/", 500, False),
    (AppBehavior("error", status=503), "/", 503, False),
    (AppBehavior("socketio"), "/socket.io/?EIO=4&transport=polling", 200, True),
    (AppBehavior("socketio"), "/socket.io/?EIO=4&transport=polling&sid=nope", 400, False),
])
async def test_probe_http_against_apps(apps: AppServer, behavior: AppBehavior, path: str, status: int,
                                       ok: bool) -> None:
    port = apps.serve(behavior)
    r = await probe_http(f"http://chatapp.com{path}", ep(port), timeout=3)
    assert (r.kind, r.status_code, r.ok, r.error) == ("http", status, ok, None), r.detail
    assert r.via == "direct" and r.target == f"http://{LO}:{port}{path}"
    assert r.extra["http_version"] == "HTTP/1.1" and r.extra["request"].startswith(f"GET {path} HTTP/1.1")
    assert apps.requests(port)[-1].header("Host") == "chatapp.com"
    if behavior.name:
        assert "web-0" in r.extra["body_excerpt"] and r.extra["response_headers"]["X-App-Name"] == "web-0"


async def test_probe_http_slow_times_out(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("slow", delay=5))
    r = await probe_http("http://chatapp.com/", ep(port), timeout=0.3)
    assert (r.ok, r.status_code, r.error) == (False, None, "timeout")
    assert "0.3 s" in r.detail


async def test_probe_http_slow_within_timeout(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("slow", delay=0.2, name="slowpoke"))
    r = await probe_http("http://chatapp.com/", ep(port), timeout=5)
    assert r.ok and r.status_code == 200 and "slowpoke" in r.extra["body_excerpt"]


async def test_probe_http_bounded_body(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("web", body="x" * 200_000))
    r = await probe_http("http://chatapp.com/", ep(port), max_body=1000)
    assert r.ok and r.extra["body_truncated"] is True and len(r.extra["body_excerpt"]) == 1000


async def test_probe_http_path_prefix_and_hidden_headers(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("web"))
    e = ep(port, via="service-proxy", label="svc via proxy", path_prefix="/api/v1/namespaces/ns/services/web:80/proxy",
           host_header=f"{LO}:{port}", hidden_headers={"Authorization": "Bearer SECRET-TOKEN"})
    r = await probe_http("http://chatapp.com/x?token=t0k3n", e, headers={"X-Canary": "always"})
    seen = apps.requests(port)[-1]
    assert seen.target == "/api/v1/namespaces/ns/services/web:80/proxy/x?token=t0k3n"
    assert seen.header("Authorization") == "Bearer SECRET-TOKEN" and seen.header("X-Canary") == "always"
    assert seen.header("Host") == f"{LO}:{port}"
    assert r.ok and r.via == "service-proxy"
    dumped = json.dumps(r.to_dict())
    assert "SECRET-TOKEN" not in dumped and "Authorization" not in dumped and "t0k3n" not in dumped


async def test_probe_http_closed_port(apps: AppServer) -> None:
    r = await probe_http("http://chatapp.com/", ep(apps.closed_port()))
    assert (r.ok, r.status_code, r.error) == (False, None, "connection refused")


@pytest.mark.parametrize(("response", "error"), [
    (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "protocol error"),
    (b"", "connection closed"),
])
async def test_probe_http_misbehaving_servers(response: bytes, error: str) -> None:
    async with raw_server(canned(response)) as port:
        r = await probe_http("http://chatapp.com/", ep(port), timeout=2)
    assert (r.ok, r.status_code, r.error) == (False, None, error)


async def test_probe_http_chunked_nginx_page() -> None:
    body = b"<html><center><h1>503 Service Temporarily Unavailable</h1></center><hr><center>nginx</center></html>"
    resp = (b"HTTP/1.1 503 Service Temporarily Unavailable\r\nServer: nginx\r\nTransfer-Encoding: chunked\r\n\r\n"
            + f"{len(body[:40]):x}\r\n".encode() + body[:40] + b"\r\n"
            + f"{len(body[40:]):x}\r\n".encode() + body[40:] + b"\r\n0\r\n\r\n")
    async with raw_server(canned(resp, hold=True)) as port:
        r = await probe_http("http://chatapp.com/", ep(port), timeout=5)
    assert r.status_code == 503 and not r.ok and r.extra["answered_by"] == "nginx-no-endpoints"
    assert r.extra["body_excerpt"] == body.decode() and r.extra["body_truncated"] is False


# -- WebSocket handshake ---------------------------------------------------------------------

@pytest.mark.parametrize(("behavior", "path", "status", "case"), [
    (AppBehavior("websocket"), "/ws", 101, "ok"),
    (AppBehavior("websocket"), "/socket.io/x", 101, "ok"),
    (AppBehavior("websocket"), "/", 200, "upgrade-ignored"),
    (AppBehavior("web"), "/ws", 200, "upgrade-ignored"),
    (AppBehavior("http-only"), "/ws", 200, "upgrade-ignored"),
    (AppBehavior("reject-upgrade"), "/anything", 101, "ok"),
    (AppBehavior("ws-426"), "/", 101, "ok"),
    (AppBehavior("error"), "/ws", 500, "server-error"),
    (AppBehavior("error", status=503), "/ws", 503, "proxy-error"),
    (AppBehavior("socketio"), "/socket.io/?EIO=4&transport=websocket", 101, "ok"),
    (AppBehavior("socketio"), "/socket.io/?EIO=3&transport=websocket", 400, "bad-request"),
])
async def test_probe_websocket_against_apps(apps: AppServer, behavior: AppBehavior, path: str, status: int,
                                            case: str) -> None:
    port = apps.serve(behavior)
    r = await probe_websocket(f"ws://chatapp.com{path}", ep(port), timeout=3)
    assert (r.kind, r.status_code, r.extra["case"]) == ("websocket", status, case), r.detail
    assert r.ok is (case == "ok")
    assert r.error == (None if case == "ok" else f"handshake: {case}")
    assert r.target == f"ws://{LO}:{port}{path}"
    seen = apps.requests(port)[-1]
    assert seen.header("Upgrade") == "websocket" and seen.header("Sec-WebSocket-Version") == "13"
    assert len(seen.header("Sec-WebSocket-Key") or "") == 24


@pytest.mark.parametrize(("behavior", "status", "case"), [
    (AppBehavior("reject-upgrade"), 400, "upgrade-header-dropped"),
    (AppBehavior("websocket"), 400, "upgrade-header-dropped"),
    (AppBehavior("ws-426"), 426, "upgrade-required"),
    (AppBehavior("socketio"), 400, "upgrade-header-dropped"),
])
async def test_probe_websocket_through_header_dropping_proxy(apps: AppServer, behavior: AppBehavior,
                                                              status: int, case: str) -> None:
    port = apps.serve(behavior)
    async with dropping_proxy(port) as pport:
        path = "/socket.io/?EIO=4&transport=websocket" if behavior.kind == "socketio" else "/ws"
        r = await probe_websocket(f"ws://chatapp.com{path}", ep(pport, via="ingress-address"), timeout=3)
    assert (r.ok, r.status_code, r.extra["case"]) == (False, status, case), r.detail
    assert apps.requests(port)[-1].header("Upgrade") is None


async def test_probe_websocket_origin_subprotocol_and_hidden(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("websocket"))
    e = ep(port, hidden_headers={"Authorization": "Bearer SECRET-TOKEN"})
    r = await probe_websocket("ws://chatapp.com/ws", e, origin="https://chatapp.com", subprotocols=("chat.v1",),
                              headers={"Cookie": "sid=abc"})
    seen = apps.requests(port)[-1]
    assert r.ok and r.extra["subprotocol"] is None
    assert seen.header("Origin") == "https://chatapp.com" and seen.header("Sec-WebSocket-Protocol") == "chat.v1"
    assert seen.header("Authorization") == "Bearer SECRET-TOKEN" and seen.header("Cookie") == "sid=abc"
    dumped = json.dumps(r.to_dict())
    assert "SECRET-TOKEN" not in dumped and "sid=abc" not in dumped


async def test_probe_websocket_closed_and_slow(apps: AppServer) -> None:
    r = await probe_websocket("ws://chatapp.com/ws", ep(apps.closed_port()))
    assert (r.ok, r.error, r.status_code) == (False, "connection refused", None)
    r = await probe_websocket("ws://chatapp.com/ws", ep(apps.serve(AppBehavior("slow", delay=5))), timeout=0.3)
    assert (r.ok, r.error, r.status_code) == (False, "timeout", None)


async def test_probe_websocket_status_without_length_on_held_connection() -> None:
    """A non-101 answer with no Content-Length on a connection kept open still yields its status."""
    async with raw_server(canned(b"HTTP/1.1 403 Forbidden\r\nServer: x\r\n\r\nno token", hold=True)) as port:
        r = await probe_websocket("ws://chatapp.com/ws", ep(port), timeout=10)
    assert (r.status_code, r.extra["case"]) == (403, "forbidden")
    assert r.elapsed_ms is not None and r.elapsed_ms < 10_000  # returned before the probe timeout
    assert r.extra["body_excerpt"] == "no token"


async def test_probe_websocket_wrong_accept() -> None:
    resp = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    async with raw_server(canned(resp, hold=True)) as port:
        r = await probe_websocket("ws://chatapp.com/ws", ep(port), timeout=3)
    assert (r.ok, r.status_code, r.extra["case"]) == (False, 101, "accept-mismatch")


# -- idle ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("behavior", "ok", "code", "closed_by"), [
    (AppBehavior("websocket", idle_timeout=0.4), False, 1001, "close-frame"),
    (AppBehavior("websocket", idle_timeout=0.4, idle_close_code=4000), False, 4000, "close-frame"),
    (AppBehavior("websocket", idle_timeout=0.4, idle_close_code=None), False, 1006, "drop"),
    (AppBehavior("websocket"), True, None, None),
])
async def test_probe_idle(apps: AppServer, behavior: AppBehavior, ok: bool, code: int | None,
                          closed_by: str | None) -> None:
    port = apps.serve(behavior)
    r = await probe_idle("ws://chatapp.com/ws", ep(port), idle=1.0)
    assert (r.kind, r.ok, r.status_code) == ("idle", ok, 101), r.detail
    assert (r.extra["close_code"], r.extra["closed_by"]) == (code, closed_by)
    if ok:
        assert r.extra["closed_after_s"] is None and r.error is None
    else:
        assert 0.3 <= r.extra["closed_after_s"] < 1.0 + r.extra["waited_s"]
        assert r.error == (f"closed: {code}" if code != 1006 else "closed: 1006 (no close frame)")
        assert str(code) in r.detail
    if code == 1001:
        assert r.extra["close_reason"] == "idle timeout"


async def test_probe_idle_against_websockets_server() -> None:
    """An independent implementation (websockets) closing with a code after a while; pings are answered."""
    from websockets.asyncio.server import serve

    async def handler(ws: object) -> None:
        await ws.ping(b"hi")  # type: ignore[attr-defined]
        await asyncio.sleep(0.3)
        await ws.close(4001, "bye")  # type: ignore[attr-defined]

    async with serve(handler, LO, 0, ping_interval=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        r = await probe_idle("ws://chatapp.com/ws", ep(port), idle=2.0)
    assert not r.ok and r.extra["close_code"] == 4001 and r.extra["close_reason"] == "bye"
    assert r.extra["pings_received"] == 1


async def test_probe_idle_handshake_failure(apps: AppServer) -> None:
    r = await probe_idle("ws://chatapp.com/ws", ep(apps.serve(AppBehavior("http-only"))), idle=5)
    assert (r.kind, r.ok, r.status_code, r.error) == ("idle", False, 200, "handshake: upgrade-ignored")
    assert "idle test not run" in r.detail


async def test_probe_idle_is_cancellable(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("websocket"))
    task = asyncio.create_task(probe_idle("ws://chatapp.com/ws", ep(port), idle=60))
    await asyncio.sleep(0.3)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=5)
    assert task in done and task.cancelled()


# -- TCP -------------------------------------------------------------------------------------

async def test_probe_tcp(apps: AppServer) -> None:
    ok = await probe_tcp(ep(apps.serve(AppBehavior("web")), via="nodeport", label="NodePort"))
    assert (ok.kind, ok.ok, ok.error, ok.via) == ("tcp", True, None, "nodeport")
    closed = apps.closed_port()
    bad = await probe_tcp(ep(closed))
    assert (bad.ok, bad.error, bad.target) == (False, "connection refused", f"{LO}:{closed}")


# -- TLS -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def tls_apps(apps: AppServer, ca: trustme.CA) -> dict[str, int]:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("chatapp.com", "*.chatapp.com").configure_cert(ctx)
    ctx.set_alpn_protocols(["http/1.1"])
    return {"ws": apps.serve(AppBehavior("websocket", name="tls-ws"), ssl_context=ctx)}


@pytest.mark.parametrize(("name", "ok", "error"), [
    ("chatapp.com", True, None),
    ("api.chatapp.com", True, None),
    ("evil.com", False, "tls: certificate does not match host"),
])
async def test_probe_tls(tls_apps: dict[str, int], name: str, ok: bool, error: str | None) -> None:
    r = await probe_tls(ep(tls_apps["ws"], via="ingress-address", label="ingress"), server_name=name)
    assert (r.kind, r.ok, r.error) == ("tls", ok, error), r.detail
    assert r.extra["tls_version"] in ("TLSv1.2", "TLSv1.3") and r.extra["alpn"] == "http/1.1"
    assert r.extra["sni"] == name and "chatapp.com" in r.extra["sans"]


async def test_probe_tls_against_plain_and_closed(apps: AppServer) -> None:
    r = await probe_tls(ep(apps.serve(AppBehavior("web"))), server_name="chatapp.com", timeout=3)
    assert not r.ok and r.error is not None and r.error.startswith("tls:")
    r = await probe_tls(ep(apps.closed_port()), server_name="chatapp.com")
    assert (r.ok, r.error) == (False, "connection refused")


async def test_https_and_wss_probes_with_verification(tls_apps: dict[str, int], ca: trustme.CA) -> None:
    verify = ssl.create_default_context()
    ca.configure_trust(verify)
    port = tls_apps["ws"]
    good = ep(port, tls=True, ssl_context=verify)
    r = await probe_http("https://chatapp.com/", good)
    assert r.ok and r.target == f"https://{LO}:{port}/" and "tls-ws" in r.extra["body_excerpt"]
    w = await probe_websocket("wss://chatapp.com/wss", good)
    assert w.ok and w.target == f"wss://{LO}:{port}/wss"
    bad = await probe_http("https://evil.com/", good)
    assert (bad.ok, bad.error) == (False, "tls: certificate does not match host")
    untrusted = await probe_http("https://chatapp.com/", ep(port, tls=True, ssl_context=ssl.create_default_context()))
    assert (untrusted.ok, untrusted.error) == (False, "tls: unknown certificate authority")
    unverified = await probe_websocket("wss://evil.com/ws", ep(port, tls=True))  # tls without context: no verification
    assert unverified.ok


async def test_probe_http_head_too_large() -> None:
    resp = b"HTTP/1.1 200 OK\r\nX-Junk: " + b"a" * 200_000 + b"\r\n\r\n"
    async with raw_server(canned(resp, hold=True)) as port:
        r = await probe_http("http://chatapp.com/", ep(port), timeout=5)
    assert (r.ok, r.status_code, r.error) == (False, None, "protocol error")


async def test_probes_over_ipv6_loopback() -> None:
    try:
        srv = AppServer(host="::1").start()
        port = srv.serve(AppBehavior("websocket", name="v6"))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    try:
        e = Endpoint("::1", port, "direct", "v6 app")
        r = await probe_http("http://chatapp.com/", e)
        assert r.ok and r.target == f"http://[::1]:{port}/"
        w = await probe_websocket("ws://chatapp.com/ws", e)
        assert w.ok and w.target == f"ws://[::1]:{port}/ws"
        t = await probe_tcp(Endpoint("::1", srv.closed_port(), "direct", "v6 closed"))
        assert t.error == "connection refused" and t.target.startswith("[::1]:")
    finally:
        srv.stop()


async def test_probe_idle_socketio_open_packet_is_not_keepalive(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("socketio"))
    r = await probe_idle("ws://chatapp.com/socket.io/?EIO=4&transport=websocket", ep(port), idle=0.5)
    assert r.ok and r.extra["messages_received"] == 1 and r.extra["last_message_after_s"] < 0.5
    assert "not a pure idle test" not in r.detail


async def test_probe_tcp_timeout_on_full_backlog() -> None:
    """A listener whose accept queue is full drops SYNs: the connect times out (not refused)."""
    import socket

    lsock = socket.socket()
    lsock.bind((LO, 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    try:
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex((LO, port))
            fillers.append(c)
        await asyncio.sleep(0.1)
        r = await probe_tcp(ep(port, label="overloaded listener"), timeout=0.5)
        assert (r.ok, r.error) == (False, "timeout")
        assert "Timed out after 0.5 s" in r.detail
    finally:
        for c in fillers:
            c.close()
        lsock.close()


async def test_results_carry_the_announced_targets(apps: AppServer) -> None:
    """diagnose announces probes before they finish; the helpers give the exact target they will record."""
    from kdiag.probes.base import request_target, tcp_target, tls_target

    port = apps.serve(AppBehavior("websocket"))
    e = ep(port, path_prefix="/api/v1/namespaces/ns/services/chat:ws/proxy/")
    url = "ws://chatapp.com/wss?token=abc"
    assert (await probe_websocket(url, e)).target == request_target(url, e, websocket=True)
    assert (await probe_idle(url, e, idle=0.1)).target == request_target(url, e, websocket=True)
    assert (await probe_http(url, e)).target == request_target(url, e) == (
        f"http://{LO}:{port}/api/v1/namespaces/ns/services/chat:ws/proxy/wss?token=REDACTED")
    assert (await probe_tcp(e)).target == tcp_target(e)
    assert (await probe_tls(e, server_name="chatapp.com", timeout=2)).target == tls_target(e, "chatapp.com")


async def test_probe_http_head(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("web", name="headless"))
    r = await probe_http("http://chatapp.com/", ep(port), method="head", timeout=3)
    assert r.ok and r.status_code == 200 and r.extra["body_excerpt"] == ""
    assert r.extra["request"].startswith("HEAD / HTTP/1.1") and apps.requests(port)[-1].method == "HEAD"
    assert int(r.extra["response_headers"]["Content-Length"]) > 0  # the length of the GET body, per RFC 9110
