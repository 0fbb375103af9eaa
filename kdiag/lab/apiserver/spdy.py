"""`kubectl port-forward` for the lab API server: SPDY/3.1 streams (portforward.k8s.io), kubelet-like.

kubectl upgrades a POST to `SPDY/3.1` and opens, per local connection, an error stream and a
data stream (headers streamtype, port, requestid). Each pair is forwarded to the loopback address
the lab maps the pod port to; when nothing listens there the kubelet's message goes on the error
stream. Only what port-forward needs is implemented: SYN_STREAM/SYN_REPLY, DATA with FIN,
RST_STREAM, PING, GOAWAY; SETTINGS and WINDOW_UPDATE are accepted and ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["PORT_FORWARD_SPDY_PROTOCOL", "SPDY_DICTIONARY", "spdy_port_forward"]

PORT_FORWARD_SPDY_PROTOCOL = "portforward.k8s.io"

_WORDS = (
    "options", "head", "post", "put", "delete", "trace", "accept", "accept-charset",
    "accept-encoding", "accept-language", "accept-ranges", "age", "allow", "authorization",
    "cache-control", "connection", "content-base", "content-encoding", "content-language",
    "content-length", "content-location", "content-md5", "content-range", "content-type", "date",
    "etag", "expect", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match",
    "if-range", "if-unmodified-since", "last-modified", "location", "max-forwards", "pragma",
    "proxy-authenticate", "proxy-authorization", "range", "referer", "retry-after", "server", "te",
    "trailer", "transfer-encoding", "upgrade", "user-agent", "vary", "via", "warning",
    "www-authenticate", "method", "get", "status", "200 OK", "version", "HTTP/1.1", "url", "public",
    "set-cookie", "keep-alive", "origin",
)
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 "
    "Unauthorized403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service "
    "UnavailableJan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, "
    "Sat, Sun, GMTchunked,text/html,image/png,image/jpg,image/gif,application/xml,"
    "application/xhtml+xml,text/plain,text/javascript,publicprivatemax-age=gzip,deflate,sdch"
    "charset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def _dictionary() -> bytes:
    out = b"".join(struct.pack(">I", len(w)) + w.encode() for w in _WORDS)
    return out + _TAIL.encode()


#: The SPDY/3 header compression dictionary (draft-mbelshe-httpbis-spdy-00 §2.6.10.1).
SPDY_DICTIONARY = _dictionary()

_SYN_STREAM, _SYN_REPLY, _RST_STREAM, _SETTINGS, _PING, _GOAWAY = 1, 2, 3, 4, 6, 7
_FLAG_FIN = 0x01
_MAX_FRAME = 16 * 1024 * 1024
_CHUNK = 32 * 1024

Target = tuple[str, int]
Stream = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Connect = Callable[[int], Awaitable[Stream | None]]


@dataclass
class _Pair:
    port: int
    error_id: int = 0
    data_id: int = 0
    writer: asyncio.StreamWriter | None = None
    task: asyncio.Task[None] | None = None
    pending: list[bytes] = field(default_factory=list)
    remote_fin: bool = False


class _Sink:
    """aiohttp payload parser that hands the upgraded bytes to an asyncio.StreamReader."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self._reader = reader

    def feed_data(self, data: bytes) -> tuple[bool, bytes]:
        self._reader.feed_data(data)
        return False, b""

    def feed_eof(self) -> None:
        self._reader.feed_eof()


class _Session:
    def __init__(self, transport: asyncio.Transport, connect: Connect,
                 error_text: Callable[[int], str]) -> None:
        self.transport = transport
        self.connect = connect
        self.error_text = error_text
        self.inflate = zlib.decompressobj(zdict=SPDY_DICTIONARY)
        self.deflate = zlib.compressobj()  # no preset dictionary: readers accept either
        self.pairs: dict[str, _Pair] = {}
        self.by_stream: dict[int, _Pair] = {}

    # -- writing ---------------------------------------------------------------------------

    def _control(self, kind: int, flags: int, payload: bytes) -> None:
        if not self.transport.is_closing():
            self.transport.write(struct.pack(">HHI", 0x8003, kind, (flags << 24) | len(payload)) + payload)

    def data(self, stream_id: int, payload: bytes, fin: bool = False) -> None:
        if not self.transport.is_closing():
            flags = _FLAG_FIN if fin else 0
            self.transport.write(struct.pack(">II", stream_id & 0x7FFFFFFF,
                                             (flags << 24) | len(payload)) + payload)

    def reply(self, stream_id: int) -> None:
        block = self.deflate.compress(struct.pack(">I", 0)) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self._control(_SYN_REPLY, 0, struct.pack(">I", stream_id) + block)

    # -- reading ---------------------------------------------------------------------------

    def headers(self, block: bytes) -> dict[str, str]:
        raw = self.inflate.decompress(block)
        out: dict[str, str] = {}
        (count,), pos = struct.unpack_from(">I", raw), 4
        for _ in range(count):
            (n,) = struct.unpack_from(">I", raw, pos)
            name = raw[pos + 4:pos + 4 + n].decode("latin-1")
            pos += 4 + n
            (v,) = struct.unpack_from(">I", raw, pos)
            out[name.lower()] = raw[pos + 4:pos + 4 + v].decode("latin-1")
            pos += 4 + v
        return out

    async def run(self, reader: asyncio.StreamReader) -> None:
        try:
            while True:
                head = await reader.readexactly(8)
                first, second = struct.unpack(">II", head)
                length = second & 0xFFFFFF
                flags = second >> 24
                if length > _MAX_FRAME:
                    return
                payload = await reader.readexactly(length)
                if first & 0x80000000:
                    kind = first & 0xFFFF
                    if not await self.control(kind, flags, payload):
                        return
                else:
                    await self.on_data(first & 0x7FFFFFFF, flags, payload)
        except (asyncio.IncompleteReadError, ConnectionError, zlib.error, struct.error):
            return
        finally:
            await self.close()

    async def control(self, kind: int, flags: int, payload: bytes) -> bool:
        if kind == _SYN_STREAM:
            stream_id = struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF
            hdrs = self.headers(payload[10:])
            self.reply(stream_id)
            await self.on_stream(stream_id, hdrs, bool(flags & _FLAG_FIN))
        elif kind == _PING:
            self._control(_PING, 0, payload[:4])
        elif kind == _RST_STREAM:
            pair = self.by_stream.get(struct.unpack_from(">I", payload)[0] & 0x7FFFFFFF)
            if pair is not None and pair.writer is not None:
                pair.writer.close()
        elif kind == _GOAWAY:
            return False
        return True  # SETTINGS, WINDOW_UPDATE, HEADERS: nothing to do for port-forward

    async def on_stream(self, stream_id: int, hdrs: Mapping[str, str], fin: bool) -> None:
        request_id = hdrs.get("requestid", "")
        port_text = hdrs.get("port", "")
        pair = self.pairs.setdefault(request_id, _Pair(int(port_text) if port_text.isdigit() else 0))
        self.by_stream[stream_id] = pair
        if hdrs.get("streamtype") == "error":
            pair.error_id = stream_id
        elif hdrs.get("streamtype") == "data":
            pair.data_id = stream_id
            pair.remote_fin = fin
        if pair.error_id and pair.data_id and pair.task is None:
            pair.task = asyncio.ensure_future(self.forward(pair))

    async def on_data(self, stream_id: int, flags: int, payload: bytes) -> None:
        pair = self.by_stream.get(stream_id)
        if pair is None or stream_id != pair.data_id:
            return  # the error stream carries nothing from the client
        if pair.writer is None:
            pair.pending.append(payload)
        elif payload and not pair.writer.is_closing():
            pair.writer.write(payload)
            with contextlib.suppress(ConnectionError):
                await pair.writer.drain()
        if flags & _FLAG_FIN:
            pair.remote_fin = True
            if pair.writer is not None and pair.writer.can_write_eof():
                with contextlib.suppress(OSError):
                    pair.writer.write_eof()

    async def forward(self, pair: _Pair) -> None:
        conn = None if pair.port <= 0 else await self.connect(pair.port)
        if conn is None:
            self.data(pair.error_id, self.error_text(pair.port).encode(), fin=True)
            self.data(pair.data_id, b"", fin=True)
            return
        reader, pair.writer = conn
        for chunk in pair.pending:
            pair.writer.write(chunk)
        pair.pending.clear()
        if pair.remote_fin and pair.writer.can_write_eof():
            with contextlib.suppress(OSError):
                pair.writer.write_eof()
        try:
            while chunk := await reader.read(_CHUNK):
                self.data(pair.data_id, chunk)
        except OSError:
            pass
        finally:
            self.data(pair.data_id, b"", fin=True)
            self.data(pair.error_id, b"", fin=True)
            pair.writer.close()

    async def close(self) -> None:
        tasks = [p.task for p in self.pairs.values() if p.task is not None and not p.task.done()]
        for p in self.pairs.values():
            if p.writer is not None:
                p.writer.close()
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            self.transport.close()


async def spdy_port_forward(request: web.Request, *, pod: Mapping[str, Any],
                            resolve: Callable[[int], Target | None],
                            error_text: Callable[[Mapping[str, Any], int], str],
                            dial: Callable[[Target | None, float], Awaitable[Stream | None]],
                            hijacked: Callable[[int], web.StreamResponse],
                            timeout: float = 5.0) -> web.StreamResponse:
    """Answer kubectl's `Upgrade: SPDY/3.1` port-forward and serve its streams until it hangs up."""
    offered = [p.strip() for v in request.headers.getall("X-Stream-Protocol-Version", [])
               for p in v.split(",")]
    transport = request.transport
    if PORT_FORWARD_SPDY_PROTOCOL not in offered or transport is None:
        return web.Response(status=400, text="unable to upgrade: unable to negotiate protocol: "
                                             f"client supports {offered}, server accepts "
                                             f"{[PORT_FORWARD_SPDY_PROTOCOL]}\n")
    reader = asyncio.StreamReader(limit=_MAX_FRAME)
    request.protocol.keep_alive(False)
    request.protocol.set_parser(_Sink(reader))  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                    b"X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n")

    async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        return await dial(resolve(port), timeout)

    session = _Session(transport, connect, lambda port: error_text(pod, port))
    await session.run(reader)
    return hijacked(101)
