"""Loopback application servers for tests and the demo: web, WebSocket, Socket.IO and broken apps.

One asyncio loop (in a thread for `AppServer`, or the caller's loop for `start_app`) serves any
number of 127.0.0.1 ports, each playing one `AppBehavior`. HTTP/1.1 and RFC 6455 framing are
hand-written (shared with the probes), so every status line and close frame is under control.
WebSocket apps answer pings and close frames and never send anything unprompted while idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import ipaddress
import json
import secrets
import socket
import ssl
import threading
import time
import typing
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from kdiag.lab.loopserver import peek_first_byte
from kdiag.lab.tls_certs import app_tls_context
from kdiag.probes.base import ProtocolError
from kdiag.probes.http1 import header_get, read_body, read_head
from kdiag.probes.wsframe import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    accept_for,
    close_payload,
    encode_frame,
    parse_close,
    read_frame,
)

_T = TypeVar("_T")

__all__ = [
    "KINDS",
    "AppBehavior",
    "AppHandle",
    "AppServer",
    "RecordedRequest",
    "start_app",
]

#: The behaviours an app can play.
KINDS: tuple[str, ...] = ("web", "websocket", "http-only", "reject-upgrade", "ws-426", "error", "slow",
                          "socketio", "hangup", "https")

_KEEPALIVE_S = 30.0
_MAX_MESSAGE = 1 << 20
_ENGINEIO_OPEN = {"upgrades": ["websocket"], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 1000000}


@dataclass(frozen=True)
class AppBehavior:
    """What an app on one port does.

    kind: web (200 page + /healthz) | websocket (101 + echo on ws_paths; a gorilla-style 400 there
    without the upgrade headers; 200 page elsewhere) | http-only (200 to everything, upgrade
    ignored) | reject-upgrade (gorilla-style on every path: 400 "'websocket' token not found in
    'Upgrade' header" unless Upgrade and Connection are both present, else 101) | ws-426 (node
    `ws`: 426 Upgrade Required to plain HTTP, 101 to an upgrade) | error (`status`, default 500,
    to everything) | slow (sleeps `delay` before the head, then like web) | socketio (Engine.IO v4
    on /socket.io/: polling open packet, 101 on transport=websocket, Engine.IO error bodies) |
    hangup (reads the request and closes the connection without answering) | https (an nginx
    TLS port: TLS clients get `web`, plain HTTP gets nginx's 400 "The plain HTTP request was sent
    to HTTPS port"). Socket.IO sessions live in one port (one replica) only.
    """

    kind: str
    ws_paths: tuple[str, ...] = ("/ws", "/wss", "/socket.io")
    status: int = 200
    delay: float = 0.0
    body: str = ""
    name: str = ""  # shows in responses (X-App-Name and bodies) so tests can tell who answered
    idle_timeout: float = 0.0  # WebSocket: close after this many seconds without a client frame (0 = never)
    idle_close_code: int | None = 1001  # with idle_timeout: close frame code, or None = drop (1006)
    headers: tuple[tuple[str, str], ...] = ()  # extra headers on every response

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown app kind {self.kind!r} (one of {', '.join(KINDS)})")


@dataclass(frozen=True)
class RecordedRequest:
    """A request head an app received (for assertions about what a proxy or probe sent)."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]

    def header(self, name: str) -> str | None:
        return header_get(self.headers, name)


def _check_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"lab apps bind loopback only, not {host}")


def _reason(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _tokens(value: str | None) -> list[str]:
    return [t.strip().lower() for t in (value or "").split(",") if t.strip()]


@dataclass
class _Runtime:
    """Live connections and request logs of the apps on one loop."""

    conns: set[asyncio.Task[Any]] = field(default_factory=set)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    sids: dict[int, set[str]] = field(default_factory=dict)  # Engine.IO sessions per app port (replica)
    log: dict[int, deque[RecordedRequest]] = field(default_factory=dict)
    by_port: dict[int, set[_Conn]] = field(default_factory=dict)  # live connections per app port

    async def close_all(self) -> None:
        for w in list(self.writers):
            w.transport.abort()
        tasks = [t for t in self.conns if not t.done() and t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=2.0)


class _Conn:
    """One client connection to one app."""

    def __init__(self, behavior: AppBehavior, rt: _Runtime, port: int,
                 reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.b, self.rt, self.port, self.reader, self.writer = behavior, rt, port, reader, writer
        self.label = behavior.name or behavior.kind
        self.method = "GET"
        self.upgraded = False
        self.tls = writer.get_extra_info("sslcontext") is not None

    # -- HTTP -------------------------------------------------------------------------------
    async def send(self, status: int, body: bytes | str = b"", *, ctype: str = "text/plain; charset=utf-8",
                   headers: list[tuple[str, str]] | None = None, keep: bool = True) -> None:
        data = body.encode() if isinstance(body, str) else body
        hs = [("Content-Type", ctype), ("Content-Length", str(len(data)))]
        if self.b.name:
            hs.append(("X-App-Name", self.b.name))
        hs += list(self.b.headers) + list(headers or [])
        if not keep:
            hs.append(("Connection", "close"))
        head = f"HTTP/1.1 {status} {_reason(status)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hs) + "\r\n"
        self.writer.write(head.encode("latin-1") + (b"" if self.method == "HEAD" else data))
        await self.writer.drain()

    async def run(self) -> None:
        try:
            while True:
                try:
                    async with asyncio.timeout(_KEEPALIVE_S):
                        first = await self.reader.readexactly(1)
                        if not (b"A" <= first <= b"Z"):  # e.g. a TLS ClientHello on a plain port
                            await self.send(400, "bad request\n", keep=False)
                            return
                        start, headers = await read_head(self.reader)
                        start = first.decode("latin-1") + start
                except (TimeoutError, EOFError, OSError):
                    return
                except ProtocolError:
                    await self.send(400, "bad request\n", keep=False)
                    return
                parts = start.split(" ")
                if len(parts) != 3 or not parts[2].startswith("HTTP/"):
                    await self.send(400, "bad request line\n", keep=False)
                    return
                method, target, version = parts
                self.method = method
                self.rt.log.setdefault(self.port, deque(maxlen=200)).append(
                    RecordedRequest(method, target, headers))
                if header_get(headers, "content-length") or header_get(headers, "transfer-encoding"):
                    await read_body(self.reader, headers, max_body=_MAX_MESSAGE,
                                    deadline=time.monotonic() + 10.0)
                keep = "close" not in _tokens(header_get(headers, "connection")) and version == "HTTP/1.1"
                if not await self.dispatch(method, target, headers, keep):
                    return
        except (OSError, EOFError, ProtocolError):
            return

    def page(self, method: str, path: str) -> str:
        return self.b.body or f"{self.label}: ok {method} {path}\n"

    async def dispatch(self, method: str, target: str, headers: tuple[tuple[str, str], ...], keep: bool) -> bool:
        """Answer one request; False when the connection must end (upgraded and done, or close)."""
        b = self.b
        path = urlsplit(target).path or "/"
        query = parse_qs(urlsplit(target).query)
        upgrade_ok = "websocket" in _tokens(header_get(headers, "upgrade"))
        conn_ok = "upgrade" in _tokens(header_get(headers, "connection"))
        if b.kind == "slow" and b.delay > 0:
            await asyncio.sleep(b.delay)
        if b.kind == "hangup":  # reads the request, closes without a byte of answer
            return False
        if b.kind == "https" and not self.tls:
            from kdiag.lab.ingress.pages import PLAIN_HTTP_ON_TLS, error_page

            await self.send(400, error_page(400, detail=PLAIN_HTTP_ON_TLS), ctype="text/html", keep=False)
            return False
        if b.kind == "error":
            status = b.status if b.status >= 400 else 500
            await self.send(status, b.body or f"{self.label}: {_reason(status).lower()}\n", keep=keep)
            return keep
        if path == "/healthz":
            await self.send(200, "ok\n", keep=keep)
            return keep
        if b.kind == "socketio" and (path == "/socket.io" or path.startswith("/socket.io/")):
            return await self.socketio(method, query, headers, upgrade_ok and conn_ok, keep)
        ws_path = any(path == p or path.startswith(p.rstrip("/") + "/") for p in b.ws_paths)
        if b.kind == "reject-upgrade" or (b.kind == "websocket" and ws_path):
            if not conn_ok:
                await self.send(400, "Bad Request\n'upgrade' token not found in 'Connection' header\n", keep=False)
                return False
            if not upgrade_ok:
                await self.send(400, "Bad Request\n'websocket' token not found in 'Upgrade' header\n", keep=False)
                return False
            return await self.upgrade(method, headers)
        if b.kind == "ws-426":
            if upgrade_ok and conn_ok:
                return await self.upgrade(method, headers)
            await self.send(426, "Upgrade Required", headers=[("Upgrade", "websocket")], keep=keep)
            return keep
        await self.send(b.status if 200 <= b.status < 400 else 200, self.page(method, path), keep=keep)
        return keep

    # -- WebSocket --------------------------------------------------------------------------
    async def upgrade(self, method: str, headers: tuple[tuple[str, str], ...],
                      on_open: Callable[[], Coroutine[Any, Any, None]] | None = None,
                      on_text: Callable[[str], str | None] | None = None) -> bool:
        key = header_get(headers, "sec-websocket-key")
        version = header_get(headers, "sec-websocket-version")
        if method != "GET":
            await self.send(405, "request method is not GET\n", keep=False)
            return False
        if not key:
            await self.send(400, "Bad Request\nmissing 'Sec-WebSocket-Key' header\n", keep=False)
            return False
        if "13" not in _tokens(version):
            await self.send(400, "Bad Request\nunsupported version: 13 not found in 'Sec-Websocket-Version' header\n",
                            headers=[("Sec-WebSocket-Version", "13")], keep=False)
            return False
        hs = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
              f"Sec-WebSocket-Accept: {accept_for(key)}"]
        if self.b.name:
            hs.append(f"X-App-Name: {self.b.name}")
        self.writer.write(("\r\n".join(hs) + "\r\n\r\n").encode("latin-1"))
        await self.writer.drain()
        self.upgraded = True
        if on_open is not None:
            await on_open()
        await self.ws_loop(on_text)
        return False

    async def ws_send(self, opcode: int, payload: bytes) -> None:
        self.writer.write(encode_frame(opcode, payload, mask=False))
        await self.writer.drain()

    async def ws_loop(self, on_text: Callable[[str], str | None] | None) -> None:
        idle = self.b.idle_timeout
        parts: list[bytes] = []
        msg_op = OP_TEXT
        while True:
            try:
                async with asyncio.timeout(idle if idle > 0 else None):
                    frame = await read_frame(self.reader, max_size=_MAX_MESSAGE)
            except TimeoutError:
                if self.b.idle_close_code is None:
                    self.writer.transport.abort()
                    return
                await self.ws_send(OP_CLOSE, close_payload(self.b.idle_close_code, "idle timeout"))
                with contextlib.suppress(TimeoutError, EOFError, OSError, ProtocolError):
                    async with asyncio.timeout(1.0):
                        while (await read_frame(self.reader)).opcode != OP_CLOSE:
                            pass
                return
            except ProtocolError:
                await self.ws_send(OP_CLOSE, close_payload(1002, "protocol error"))
                return
            if frame.opcode == OP_PING:
                await self.ws_send(OP_PONG, frame.payload)
            elif frame.opcode == OP_PONG:
                pass
            elif frame.opcode == OP_CLOSE:
                code, _ = parse_close(frame.payload)
                await self.ws_send(OP_CLOSE, close_payload(None if code == 1005 else code))
                return
            elif frame.opcode in (OP_TEXT, OP_BINARY, OP_CONT):
                if frame.opcode != OP_CONT:
                    msg_op, parts = frame.opcode, []
                parts.append(frame.payload)
                if sum(map(len, parts)) > _MAX_MESSAGE:
                    await self.ws_send(OP_CLOSE, close_payload(1009, "message too big"))
                    return
                if frame.fin:
                    data = b"".join(parts)
                    if on_text is not None and msg_op == OP_TEXT:
                        reply = on_text(data.decode("utf-8", "replace"))
                        if reply is not None:
                            await self.ws_send(OP_TEXT, reply.encode())
                    else:
                        await self.ws_send(msg_op, data)
            else:
                await self.ws_send(OP_CLOSE, close_payload(1002, "unknown opcode"))
                return

    # -- Socket.IO / Engine.IO v4 -------------------------------------------------------------
    async def socketio(self, method: str, query: dict[str, list[str]], headers: tuple[tuple[str, str], ...],
                       is_upgrade: bool, keep: bool) -> bool:
        def err(code: int, message: str) -> bytes:
            return json.dumps({"code": code, "message": message}).encode()

        ctype = "application/json"
        if query.get("EIO", [""])[0] != "4":
            await self.send(400, err(5, "Unsupported protocol version"), ctype=ctype, keep=keep)
            return keep
        transport = query.get("transport", [""])[0]
        sid = query.get("sid", [None])[0]
        if transport == "polling":
            if sid is None:
                new = secrets.token_urlsafe(15)
                self.rt.sids.setdefault(self.port, set()).add(new)
                packet = "0" + json.dumps({"sid": new, **_ENGINEIO_OPEN}, separators=(",", ":"))
                await self.send(200, packet, keep=keep)
            elif sid not in self.rt.sids.get(self.port, ()):
                await self.send(400, err(1, "Session ID unknown"), ctype=ctype, keep=keep)
            else:
                await self.send(200, "ok" if method == "POST" else "6", keep=keep)
            return keep
        if transport == "websocket":
            if not is_upgrade:
                await self.send(400, err(3, "Bad request"), ctype=ctype, keep=keep)
                return keep
            if sid is not None and sid not in self.rt.sids.get(self.port, ()):
                await self.send(400, "Bad Request\nSession ID unknown\n", keep=False)
                return False
            new_sid = sid or secrets.token_urlsafe(15)

            async def on_open() -> None:
                if sid is None:  # WebSocket-only session: the open packet comes first
                    self.rt.sids.setdefault(self.port, set()).add(new_sid)
                    packet = "0" + json.dumps({"sid": new_sid, **_ENGINEIO_OPEN, "upgrades": []},
                                              separators=(",", ":"))
                    await self.ws_send(OP_TEXT, packet.encode())

            def on_text(text: str) -> str | None:
                if text == "2probe":
                    return "3probe"
                if text == "2":
                    return "3"
                if text.startswith("4"):  # message packet: echo it
                    return text
                return None

            return await self.upgrade(method, headers, on_open, on_text)
        await self.send(400, err(0, "Transport unknown"), ctype=ctype, keep=keep)
        return keep


@dataclass
class AppHandle:
    """One app serving on one port of the current loop (see `start_app`)."""

    behavior: AppBehavior
    port: int
    server: asyncio.Server
    runtime: _Runtime

    @property
    def requests(self) -> list[RecordedRequest]:
        return list(self.runtime.log.get(self.port, ()))

    async def close(self) -> None:
        self.server.close()
        await self.runtime.close_all()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                await self.server.wait_closed()


async def _start(behavior: AppBehavior, rt: _Runtime, *, host: str, port: int,
                 ssl_context: ssl.SSLContext | None) -> tuple[asyncio.Server, int]:
    _check_loopback(host)
    bound: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if behavior.kind == "https" and ssl_context is None:  # nginx's `listen 8443 ssl`
            transport = typing.cast(asyncio.Transport, writer.transport)
            transport.pause_reading()  # before any await: the first byte stays in the socket
            if await peek_first_byte(writer) == b"\x16":  # a TLS ClientHello
                await writer.start_tls(app_tls_context())
            else:
                transport.resume_reading()
        task = asyncio.current_task()
        if task is not None:
            rt.conns.add(task)
        rt.writers.add(writer)
        conn = _Conn(behavior, rt, bound[0], reader, writer)
        rt.by_port.setdefault(bound[0], set()).add(conn)
        try:
            await conn.run()
        except asyncio.CancelledError:
            pass
        finally:
            rt.by_port.get(bound[0], set()).discard(conn)
            rt.writers.discard(writer)
            if task is not None:
                rt.conns.discard(task)
            writer.transport.abort()

    server = await asyncio.start_server(handler, host, port, ssl=ssl_context, reuse_address=True)
    bound.append(server.sockets[0].getsockname()[1])
    return server, bound[0]


async def start_app(behavior: AppBehavior, *, host: str = "127.0.0.1", port: int = 0,
                    ssl_context: ssl.SSLContext | None = None) -> AppHandle:
    """Serve `behavior` on the running loop (for async tests); close with `await handle.close()`."""
    rt = _Runtime()
    server, bound = await _start(behavior, rt, host=host, port=port, ssl_context=ssl_context)
    return AppHandle(behavior, bound, server, rt)


def _quiet_exceptions(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Drop the noise of clients that vanish or fail TLS (probes do that on purpose); log the rest."""
    if isinstance(context.get("exception"), OSError | EOFError):  # ssl.SSLError is an OSError
        return
    loop.default_exception_handler(context)


class AppServer:
    """One thread + loop serving many loopback ports; usable from sync tests and the demo."""

    def __init__(self, host: str = "127.0.0.1") -> None:
        _check_loopback(host)
        self.host = host
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._rt = _Runtime()
        self._servers: dict[int, asyncio.Server] = {}
        self._reserved: list[socket.socket] = []

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> AppServer:
        if self.running:
            return self
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.set_exception_handler(_quiet_exceptions)
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="kdiag-lab-apps", daemon=True)
        self._thread.start()
        ready.wait(5.0)
        return self

    def _call(self, coro: Coroutine[Any, Any, _T], timeout: float = 10.0) -> _T:
        if self._loop is None or not self.running:
            coro.close()
            raise RuntimeError("AppServer is not started")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def serve(self, behavior: AppBehavior, *, port: int = 0, ssl_context: ssl.SSLContext | None = None) -> int:
        """Start an app; returns its bound 127.0.0.1 port."""
        server, bound = self._call(_start(behavior, self._rt, host=self.host, port=port, ssl_context=ssl_context))
        self._servers[bound] = server
        return bound

    def stop_port(self, port: int) -> None:
        """Stop one app (new connections are refused; open ones are cut), like a pod going away."""
        server = self._servers.pop(port, None)
        if server is None:
            return

        async def _close() -> None:
            server.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await server.wait_closed()

        self._call(_close())

    def terminate_port(self, port: int, *, drain: bool) -> None:
        """The app on `port` gets SIGTERM: it stops accepting (connect → refused), then either
        drains (WebSockets get a 1001 close frame, in-flight requests finish) or exits at once
        (every open connection is cut without a close frame: clients see 1006)."""
        server = self._servers.pop(port, None)

        async def _terminate() -> None:
            if server is not None:
                server.close()
            conns = list(self._rt.by_port.get(port, ()))
            for conn in conns:
                if drain and conn.upgraded:
                    with contextlib.suppress(Exception):
                        await conn.ws_send(OP_CLOSE, close_payload(1001, "going away"))
                elif not drain:
                    conn.writer.transport.abort()
            if drain and conns:
                await asyncio.sleep(0.3)
                for conn in conns:
                    conn.writer.transport.abort()

        self._call(_terminate())

    def closed_port(self) -> int:
        """A loopback port where nothing listens (connect → refused); reserved until stop()."""
        s = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET, socket.SOCK_STREAM)
        s.bind((self.host, 0))
        self._reserved.append(s)
        return int(s.getsockname()[1])

    def requests(self, port: int) -> list[RecordedRequest]:
        """The request heads the app on `port` received (latest 200)."""
        return list(self._rt.log.get(port, ()))

    def stop(self) -> None:
        """Close every app and connection, stop the loop and join the thread (idempotent)."""
        if self.running and self._loop is not None:
            async def _shutdown() -> None:
                for server in self._servers.values():
                    server.close()
                await self._rt.close_all()

            with contextlib.suppress(Exception):
                self._call(_shutdown())
            self._loop.call_soon_threadsafe(self._loop.stop)
            if self._thread is not None:
                self._thread.join(5.0)
        self._servers.clear()
        for s in self._reserved:
            s.close()
        self._reserved.clear()
        self._thread = None
        self._loop = None
