"""Socket.IO stickiness probe: two replicas behind a loopback round-robin balancer, with and without affinity."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import pytest

from kdiag.endpoint import Endpoint
from kdiag.lab.apps import AppBehavior, AppServer
from kdiag.probes.http1 import header_get, read_body, read_head
from kdiag.probes.socketio import judge_followups, parse_open_packet, polling_url, probe_socketio

LO = "127.0.0.1"


@pytest.fixture(scope="module")
def apps() -> Iterator[AppServer]:
    with AppServer() as srv:
        yield srv


@asynccontextmanager
async def balancer(backends: list[int], *, affinity: bool) -> AsyncIterator[int]:
    """Round-robin per request; with `affinity`, a `route` cookie pins a client to one backend."""
    rr = itertools.cycle(range(len(backends)))

    async def handler(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            start, headers = await read_head(r)
            body = b""
            if header_get(headers, "content-length"):  # requests without a length have no body
                body, _ = await read_body(r, headers, max_body=1 << 16, deadline=time.monotonic() + 5)
            cookie = header_get(headers, "cookie") or ""
            pinned = [int(c.split("=", 1)[1]) for c in cookie.split("; ") if c.startswith("route=")]
            idx = pinned[0] if affinity and pinned else next(rr)
            br, bw = await asyncio.open_connection(LO, backends[idx])
            kept = [(k, v) for k, v in headers if k.lower() != "connection"]
            bw.write((start + "\r\n" + "".join(f"{k}: {v}\r\n" for k, v in kept)
                      + "Connection: close\r\n\r\n").encode("latin-1") + body)
            await bw.drain()
            resp = await br.read(1 << 20)
            while chunk := await br.read(1 << 20):
                resp += chunk
            bw.transport.abort()
            if affinity and not pinned:
                head, sep, rest = resp.partition(b"\r\n")
                resp = head + sep + f"Set-Cookie: route={idx}; Path=/; HttpOnly\r\n".encode() + rest
            w.write(resp)
            await w.drain()
        except (OSError, EOFError):
            pass
        finally:
            w.transport.abort()

    server = await asyncio.start_server(handler, LO, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


def ep(port: int) -> Endpoint:
    return Endpoint(LO, port, "ingress-address", "balancer")


async def test_single_replica_is_sticky(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("socketio"))
    r = await probe_socketio("ws://chatapp.com/socket.io/", ep(port))
    assert (r.kind, r.ok, r.error, r.status_code) == ("http", True, None, 200), r.detail
    assert r.extra["followup_statuses"] == [200, 200, 200, 200] and r.extra["probe"] == "socketio-sticky"
    posts = [q for q in apps.requests(port) if q.method == "POST"]
    assert len(posts) == 5 and all("sid=" in q.target for q in posts)  # 4 follow-ups + the close packet


async def test_two_replicas_without_affinity_are_not_sticky() -> None:
    srv_a, srv_b = AppServer().start(), AppServer().start()  # separate session stores, like two pods
    try:
        backends = [srv_a.serve(AppBehavior("socketio")), srv_b.serve(AppBehavior("socketio"))]
        async with balancer(backends, affinity=False) as port:
            r = await probe_socketio("http://chatapp.com/socket.io/?EIO=4&transport=polling", ep(port))
        assert (r.ok, r.error) == (False, "socketio: session not sticky"), r.detail
        assert 400 in r.extra["followup_statuses"] and "Session ID unknown" in r.detail
        async with balancer(backends, affinity=True) as port:
            r = await probe_socketio("http://chatapp.com/socket.io/", ep(port), headers={"Cookie": "user=1"})
        assert (r.ok, r.error) == (True, None), r.detail
        assert r.extra["affinity_cookies"] == ["route"]
        dumped = json.dumps(r.to_dict())
        assert "route=" not in dumped and "user=1" not in dumped  # cookie values never recorded
    finally:
        srv_a.stop()
        srv_b.stop()


async def test_not_a_socketio_server(apps: AppServer) -> None:
    r = await probe_socketio("http://chatapp.com/socket.io/", ep(apps.serve(AppBehavior("web"))))
    assert (r.ok, r.error) == (False, "socketio: no open packet")
    r = await probe_socketio("http://chatapp.com/socket.io/", ep(apps.closed_port()))
    assert (r.ok, r.error) == (False, "connection refused")


@pytest.mark.parametrize(("url", "sid", "expected"), [
    ("ws://chatapp.com/socket.io/", None, "http://chatapp.com/socket.io/?EIO=4&transport=polling"),
    ("wss://chatapp.com/chat/socket.io/?EIO=4&transport=websocket", "abc",
     "https://chatapp.com/chat/socket.io/?EIO=4&transport=polling&sid=abc"),
    ("http://chatapp.com:8080", None, "http://chatapp.com:8080/socket.io/?EIO=4&transport=polling"),
])
def test_polling_url(url: str, sid: str | None, expected: str) -> None:
    assert polling_url(url, sid) == expected


@pytest.mark.parametrize(("body", "sid"), [
    (b'0{"sid":"x1","upgrades":["websocket"],"pingInterval":25000}', "x1"),
    (b'0{"nosid":1}', None), (b"ok", None), (b"0{broken", None),
])
def test_parse_open_packet(body: bytes, sid: str | None) -> None:
    got = parse_open_packet(body)
    assert (got or {}).get("sid") == sid


@pytest.mark.parametrize(("statuses", "bodies", "ok", "error"), [
    ([200, 200], [b"ok", b"ok"], True, None),
    ([200, 400], [b"ok", b'{"code":1,"message":"Session ID unknown"}'], False, "socketio: session not sticky"),
    ([200, None], [b"ok", b""], False, "socketio: follow-up failed"),
])
def test_judge_followups(statuses: list[int | None], bodies: list[bytes], ok: bool, error: str | None) -> None:
    assert judge_followups(statuses, bodies)[0::2] == (ok, error)
