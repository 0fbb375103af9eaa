"""Byte-level relays of the fake API server: the service/pod proxy and v4.channel.k8s.io port-forward."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import WSMsgType, web

__all__ = [
    "HOP_BY_HOP",
    "HijackedResponse",
    "dial_loopback",
    "PORT_FORWARD_PROTOCOL",
    "is_loopback",
    "port_forward",
    "port_forward_error_text",
    "proxy_request",
]

PORT_FORWARD_PROTOCOL = "v4.channel.k8s.io"
#: Headers a proxy does not pass on (RFC 9110 §7.6.1), plus credentials the apiserver strips.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade",
                        "authorization", "host", "content-length"})
_MAX_BODY = 8 * 1024 * 1024
_MAX_HEAD = 64 * 1024
_CHUNK = 64 * 1024

Target = tuple[str, int]
ErrorResponder = Callable[[int, str, str], web.Response]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def dial_loopback(target: Target | None, timeout: float,
                tls: bool = False) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    if target is None or not is_loopback(target[0]):
        return None  # nothing listens, or not a lab address: never leave loopback
    ctx = None
    if tls:  # like the apiserver's proxy to "https:name:port": TLS without verification
        import ssl

        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    try:
        return await asyncio.wait_for(asyncio.open_connection(
            target[0], target[1], limit=_MAX_HEAD, ssl=ctx, server_hostname="" if tls else None),
            timeout)
    except (OSError, TimeoutError):
        return None


def _close(writer: asyncio.StreamWriter | None) -> None:
    if writer is not None:
        with contextlib.suppress(Exception):
            writer.close()


class HijackedResponse(web.StreamResponse):
    """The answer was written straight to the transport: aiohttp must not write anything more."""

    def __init__(self, status: int) -> None:
        super().__init__(status=status)

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class _Sink:
    """A payload parser that forwards every byte the client sends after an upgrade to the backend."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        if not self._writer.is_closing():
            self._writer.write(data)
        return False, b""

    def feed_eof(self) -> None:
        if not self._writer.is_closing():
            with contextlib.suppress(Exception):
                self._writer.write_eof()


def _request_head(request: web.BaseRequest, path: str, host_header: str, body: bytes,
                  upgrade: bool) -> bytes:
    lines = [f"{request.method} {path} HTTP/1.1", f"Host: {host_header}"]
    for name, value in request.headers.items():
        if name.lower() in HOP_BY_HOP:
            continue
        lines.append(f"{name}: {value}")
    peer = request.remote or "127.0.0.1"
    if "X-Forwarded-For" not in request.headers:
        lines.append(f"X-Forwarded-For: {peer}")
    if upgrade:
        lines.append(f"Connection: {request.headers.get('Connection', 'Upgrade')}")
        lines.append(f"Upgrade: {request.headers.get('Upgrade', '')}")
    else:
        lines.append("Connection: close")
        if body or request.method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _response_head(raw: bytes, keep_upgrade: bool) -> tuple[int, bytes]:
    """(status, head to send to the client): hop-by-hop headers dropped unless it is a 101."""
    text = raw.decode("latin-1")
    lines = text.split("\r\n")
    status_line = lines[0]
    parts = status_line.split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 502
    if keep_upgrade and status == 101:
        return status, raw
    out = [status_line]
    for line in lines[1:]:
        if not line:
            continue
        name = line.split(":", 1)[0].strip().lower()
        if name in ("connection", "keep-alive", "proxy-connection", "upgrade"):
            continue
        out.append(line)
    out.append("Connection: close")
    return status, ("\r\n".join(out) + "\r\n\r\n").encode("latin-1")


async def _pump(reader: asyncio.StreamReader, transport: asyncio.BaseTransport,
                idle_timeout: float | None, limit: int | None) -> None:
    sent = 0
    while limit is None or sent < limit:
        want = _CHUNK if limit is None else min(_CHUNK, limit - sent)
        try:
            chunk = await asyncio.wait_for(reader.read(want), idle_timeout)
        except (OSError, TimeoutError):
            return
        if not chunk or transport.is_closing():
            return
        transport.write(chunk)  # type: ignore[attr-defined]
        sent += len(chunk)


async def proxy_request(request: web.Request, *, target: Target | None, path: str,
                        host_header: str, dial_error: str, error: ErrorResponder,
                        timeout: float = 5.0, idle_timeout: float = 60.0,
                        tls: bool = False) -> web.StreamResponse:
    """Forward one request to a loopback backend and relay its answer byte for byte.

    An Upgrade request that the backend answers with 101 becomes a spliced connection (the
    WebSocket then runs end to end); any other answer is passed through with its status, headers
    and body. `dial_error` is the text after "error trying to reach service: " when nothing answers.
    """
    upgrade = ("upgrade" in request.headers.get("Connection", "").lower()
               and bool(request.headers.get("Upgrade")))
    body = b""
    if not upgrade and request.can_read_body:
        body = await request.content.read(_MAX_BODY + 1)
        if len(body) > _MAX_BODY:
            return error(413, "RequestEntityTooLarge", "request body too large for the lab proxy")
    conn = await dial_loopback(target, timeout, tls)
    if conn is None:
        return error(503, "ServiceUnavailable", f"error trying to reach service: {dial_error}")
    reader, writer = conn
    try:
        writer.write(_request_head(request, path, host_header, body, upgrade) + body)
        try:
            raw_head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError, TimeoutError):
            return error(503, "ServiceUnavailable", "error trying to reach service: EOF")
        status, head = _response_head(raw_head, keep_upgrade=upgrade)
        transport = request.transport
        if transport is None or transport.is_closing():
            return HijackedResponse(status)
        request.protocol.keep_alive(False)
        if upgrade and status == 101:
            request.protocol.set_parser(_Sink(writer))  # type: ignore[arg-type]
            transport.write(head)
            await _pump(reader, transport, None, None)
        else:
            transport.write(head)
            length = _content_length(raw_head)
            if request.method != "HEAD" and status not in (204, 304) and not 100 <= status < 200:
                await _pump(reader, transport, idle_timeout, length)
        with contextlib.suppress(Exception):
            transport.close()
        return HijackedResponse(status)
    finally:
        _close(writer)


def _content_length(raw_head: bytes) -> int | None:
    for line in raw_head.decode("latin-1").split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length" and value.strip().isdigit():
            return int(value.strip())
    return None


def port_forward_error_text(pod: Mapping[str, Any], port: int) -> str:
    """The kubelet's message when nothing listens on the port inside the pod's network namespace."""
    md = pod.get("metadata") or {}
    sandbox = hashlib.sha256(f"{md.get('namespace')}/{md.get('name')}/{md.get('uid')}".encode()).hexdigest()
    netns = f"cni-{sandbox[:8]}-{sandbox[8:12]}-{sandbox[12:16]}-{sandbox[16:20]}-{sandbox[20:32]}"
    return (f"error forwarding port {port} to pod {sandbox}, uid : failed to execute portforward in "
            f"network namespace \"/var/run/netns/{netns}\": failed to connect to localhost:{port} "
            f"inside namespace \"{sandbox}\", IPv4: dial tcp4 127.0.0.1:{port}: connect: connection "
            f"refused IPv6 dial tcp6 [::1]:{port}: connect: connection refused ")


async def port_forward(request: web.Request, *, ports: list[int], pod: Mapping[str, Any],
                       resolve: Callable[[int], Awaitable[Target | None] | Target | None],
                       timeout: float = 5.0) -> web.WebSocketResponse:
    """Serve one port-forward WebSocket: v4 channel framing, like the kubelet's websocket handler."""
    ws = web.WebSocketResponse(protocols=(PORT_FORWARD_PROTOCOL,), max_msg_size=0, autoping=True)
    await ws.prepare(request)
    writers: dict[int, asyncio.StreamWriter] = {}
    tasks: list[asyncio.Task[None]] = []

    async def relay(index: int, reader: asyncio.StreamReader) -> None:
        channel = bytes([2 * index])
        while True:
            try:
                chunk = await reader.read(_CHUNK)
            except OSError:
                return
            if not chunk or ws.closed:
                return
            await ws.send_bytes(channel + chunk)

    try:
        for i, port in enumerate(ports):
            await ws.send_bytes(bytes([2 * i, port & 0xFF, port >> 8]))
            await ws.send_bytes(bytes([2 * i + 1, port & 0xFF, port >> 8]))
        for i, port in enumerate(ports):
            target = resolve(port)
            if asyncio.iscoroutine(target):
                target = await target
            conn = await dial_loopback(target, timeout)  # type: ignore[arg-type]
            if conn is None:
                await ws.send_bytes(bytes([2 * i + 1]) + port_forward_error_text(pod, port).encode())
                continue
            writers[i] = conn[1]
            tasks.append(asyncio.ensure_future(relay(i, conn[0])))
        done_all = asyncio.ensure_future(asyncio.gather(*tasks, return_exceptions=True))
        reader_task = asyncio.ensure_future(_ws_to_backends(ws, writers))
        waiting: set[asyncio.Future[Any]] = {done_all, reader_task}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        reader_task.cancel()
        done_all.cancel()
        with contextlib.suppress(BaseException):
            await reader_task
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(BaseException):
                await t
        for w in writers.values():
            _close(w)
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
    return ws


async def _ws_to_backends(ws: web.WebSocketResponse, writers: dict[int, asyncio.StreamWriter]) -> None:
    async for msg in ws:
        if msg.type != WSMsgType.BINARY or not msg.data:
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            continue
        channel, payload = msg.data[0], msg.data[1:]
        if channel % 2 or not payload:
            continue
        writer = writers.get(channel // 2)
        if writer is not None and not writer.is_closing():
            writer.write(payload)
            with contextlib.suppress(OSError):
                await writer.drain()
