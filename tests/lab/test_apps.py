"""The lab's loopback app servers, checked with independent clients (httpx, websockets, raw sockets)."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK, InvalidStatus

from kdiag.lab.apps import KINDS, AppBehavior, AppServer, start_app

LO = "127.0.0.1"


@pytest.fixture(scope="module")
def apps() -> Iterator[AppServer]:
    with AppServer() as srv:
        yield srv


def http_get(port: int, path: str, **kw: object) -> httpx.Response:
    with httpx.Client(trust_env=False, timeout=5) as c:
        return c.get(f"http://{LO}:{port}{path}", **kw)  # type: ignore[arg-type]


def ws_url(port: int, path: str = "/ws") -> str:
    return f"ws://{LO}:{port}{path}"


@pytest.mark.parametrize(("behavior", "path", "status", "text"), [
    (AppBehavior("web", name="chat-0 v1.0.0000"), "/", 200, "chat-0 v1.0.0000: ok GET /"),
    (AppBehavior("web"), "/healthz", 200, "ok\n"),
    (AppBehavior("web", body="custom page"), "/x", 200, "custom page"),
    (AppBehavior("websocket"), "/api", 200, "websocket: ok GET /api"),
    (AppBehavior("websocket"), "/ws", 400, "'upgrade' token not found in 'Connection' header"),
    (AppBehavior("http-only"), "/ws", 200, "http-only: ok GET /ws"),
    (AppBehavior("reject-upgrade"), "/", 400, "token not found"),
    (AppBehavior("ws-426"), "/", 426, "Upgrade Required"),
    (AppBehavior("error"), "/", 500, "internal server error"),
    (AppBehavior("error", status=503, body="down"), "/healthz", 503, "down"),
    (AppBehavior("slow", delay=0.2), "/", 200, "slow: ok GET /"),
])
def test_plain_http(apps: AppServer, behavior: AppBehavior, path: str, status: int, text: str) -> None:
    r = http_get(apps.serve(behavior), path)
    assert r.status_code == status
    assert text in r.text
    if behavior.name:
        assert r.headers["X-App-Name"] == behavior.name


def test_keep_alive_serves_several_requests(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("web"))
    with httpx.Client(trust_env=False, timeout=5) as c:
        for i in range(3):
            assert c.get(f"http://{LO}:{port}/{i}").text.endswith(f"GET /{i}\n")
    assert [r.target for r in apps.requests(port)] == ["/0", "/1", "/2"]


def test_post_body_is_consumed(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("web"))
    with httpx.Client(trust_env=False, timeout=5) as c:
        assert c.post(f"http://{LO}:{port}/a", content=b"x" * 100_000).status_code == 200
        assert c.get(f"http://{LO}:{port}/b").status_code == 200


@pytest.mark.parametrize("behavior", [AppBehavior("websocket"), AppBehavior("reject-upgrade"), AppBehavior("ws-426")])
async def test_websocket_echo_and_ping(apps: AppServer, behavior: AppBehavior) -> None:
    port = apps.serve(behavior)
    async with connect(ws_url(port), proxy=None, ping_interval=None, open_timeout=5) as ws:
        assert ws.response is not None and ws.response.status_code == 101
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\x01binary")
        assert await ws.recv() == b"\x00\x01binary"
        big = "x" * 100_000
        await ws.send(big)
        assert await ws.recv() == big
        pong = await ws.ping(b"p")
        await asyncio.wait_for(pong, 5)
    assert ws.close_code == 1000


async def test_websocket_fragmented_message_is_reassembled(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("websocket"))
    async with connect(ws_url(port), proxy=None, ping_interval=None) as ws:
        await ws.send(["frag", "ment", "ed"])
        assert await ws.recv() == "fragmented"


@pytest.mark.parametrize(("behavior", "status"), [
    (AppBehavior("web"), 200), (AppBehavior("http-only"), 200), (AppBehavior("error"), 500),
])
async def test_websocket_refused(apps: AppServer, behavior: AppBehavior, status: int) -> None:
    with pytest.raises(InvalidStatus) as e:
        async with connect(ws_url(apps.serve(behavior)), proxy=None, open_timeout=5):
            pass
    assert e.value.response.status_code == status


async def test_websocket_is_silent_while_idle(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("websocket"))
    async with connect(ws_url(port), proxy=None, ping_interval=None) as ws:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(ws.recv(), 0.5)
        await ws.send("still here")
        assert await ws.recv() == "still here"


@pytest.mark.parametrize(("code", "exc"), [(1001, ConnectionClosedOK), (4000, ConnectionClosedError),
                                           (None, ConnectionClosedError)])
async def test_websocket_idle_timeout(apps: AppServer, code: int | None, exc: type[Exception]) -> None:
    port = apps.serve(AppBehavior("websocket", idle_timeout=0.3, idle_close_code=code))
    async with connect(ws_url(port), proxy=None, ping_interval=None) as ws:
        with pytest.raises(exc):
            await asyncio.wait_for(ws.recv(), 5)
    if code is None:
        assert ws.close_code == 1006 and ws.protocol.close_rcvd is None
    else:
        assert ws.close_code == code and ws.close_reason == "idle timeout"


async def test_websocket_client_close_code_is_echoed(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("websocket"))
    async with connect(ws_url(port), proxy=None, ping_interval=None) as ws:
        await ws.close(4002, "done")
    assert ws.protocol.close_rcvd is not None and ws.protocol.close_rcvd.code == 4002


@pytest.mark.parametrize(("headers", "status", "text"), [
    ({"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}, 400, "Sec-WebSocket-Key"),
    ({"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      "Sec-WebSocket-Version": "8"}, 400, "unsupported version"),
    ({"Connection": "Upgrade"}, 400, "'websocket' token not found in 'Upgrade' header"),
    ({"Upgrade": "websocket"}, 400, "'upgrade' token not found in 'Connection' header"),
])
def test_bad_handshakes(apps: AppServer, headers: dict[str, str], status: int, text: str) -> None:
    r = http_get(apps.serve(AppBehavior("websocket")), "/ws", headers=headers)
    assert r.status_code == status and text in r.text


def test_handshake_accept_is_rfc_6455(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("websocket"))
    with socket.create_connection((LO, port), timeout=5) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += s.recv(4096)
    assert data.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" in data


def test_socketio_polling_and_sessions(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("socketio"))
    r = http_get(port, "/socket.io/?EIO=4&transport=polling")
    assert r.status_code == 200 and r.text.startswith("0{")
    opened = json.loads(r.text[1:])
    assert opened["upgrades"] == ["websocket"] and opened["pingInterval"] == 25000
    assert http_get(port, f"/socket.io/?EIO=4&transport=polling&sid={opened['sid']}").status_code == 200
    # another replica (no shared sessions) does not know the sid: what missing sticky sessions look like
    other = apps.serve(AppBehavior("socketio"))
    miss = AppServer().start()
    try:
        lone = miss.serve(AppBehavior("socketio"))
        bad = http_get(lone, f"/socket.io/?EIO=4&transport=polling&sid={opened['sid']}")
        assert bad.status_code == 400 and bad.json() == {"code": 1, "message": "Session ID unknown"}
    finally:
        miss.stop()
    assert http_get(other, "/socket.io/?EIO=4&transport=flash").json() == {"code": 0, "message": "Transport unknown"}
    assert http_get(other, "/socket.io/?EIO=4&transport=websocket").json() == {"code": 3, "message": "Bad request"}
    assert http_get(other, "/socket.io/?EIO=3&transport=polling").status_code == 400
    assert http_get(other, "/").status_code == 200


async def test_socketio_websocket_transport(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("socketio"))
    async with connect(ws_url(port, "/socket.io/?EIO=4&transport=websocket"), proxy=None, ping_interval=None) as ws:
        first = await ws.recv()
        assert isinstance(first, str) and first.startswith("0{") and "sid" in json.loads(first[1:])
        await ws.send("2probe")
        assert await ws.recv() == "3probe"
        await ws.send('42["chat","hi"]')
        assert await ws.recv() == '42["chat","hi"]'


def test_closed_port_refuses(apps: AppServer) -> None:
    port = apps.closed_port()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((LO, port), timeout=5).close()
    assert apps.closed_port() != port


def test_stop_port_and_fixed_port(apps: AppServer) -> None:
    port = apps.serve(AppBehavior("web"))
    apps.stop_port(port)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((LO, port), timeout=5).close()
    again = apps.serve(AppBehavior("web", name="back"), port=port)
    assert again == port and http_get(port, "/").headers["X-App-Name"] == "back"


def test_stop_cuts_open_websockets_and_is_idempotent() -> None:
    srv = AppServer().start()
    port = srv.serve(AppBehavior("websocket"))
    s = socket.create_connection((LO, port), timeout=5)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
    assert s.recv(4096).startswith(b"HTTP/1.1 101")
    srv.stop()
    s.settimeout(5)
    try:
        rest = s.recv(4096)
    except ConnectionResetError:
        rest = b""
    assert rest == b""  # closed by the server, not left hanging
    s.close()
    assert not srv.running
    srv.stop()
    with pytest.raises(RuntimeError):
        srv.serve(AppBehavior("web"))


def test_slow_app_does_not_block_others(apps: AppServer) -> None:
    slow = apps.serve(AppBehavior("slow", delay=60))
    fast = apps.serve(AppBehavior("web"))
    s = socket.create_connection((LO, slow), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert http_get(fast, "/").status_code == 200  # answered (within httpx's 5 s) while the slow one sleeps
    s.close()


def test_loopback_only_and_known_kinds() -> None:
    with pytest.raises(ValueError):
        AppServer(host="0.0.0.0")
    with pytest.raises(ValueError):
        AppBehavior("bogus")
    assert set(KINDS) == {"web", "websocket", "http-only", "reject-upgrade", "ws-426", "error", "slow", "socketio",
                          "hangup", "https"}


def test_hangup_reads_the_request_and_closes_without_answering(apps: AppServer) -> None:
    s = socket.create_connection((LO, apps.serve(AppBehavior("hangup"))), timeout=5)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert s.recv(100) == b""
    s.close()


async def test_start_app_on_the_running_loop() -> None:
    handle = await start_app(AppBehavior("websocket", name="async"))
    try:
        async with connect(ws_url(handle.port), proxy=None, ping_interval=None) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            assert ws.response is not None and ws.response.headers["X-App-Name"] == "async"
        assert handle.requests[-1].target == "/ws"
    finally:
        await handle.close()
    with pytest.raises(OSError):
        await asyncio.open_connection(LO, handle.port)
