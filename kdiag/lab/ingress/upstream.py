"""The upstream side of the emulated ingress: the request ingress-nginx sends to a pod, one
connection attempt with nginx's timeouts and error-log wording, and relaying the answer back
(re-chunked, HTTP/0.9 passed through, upgraded connections spliced until proxy_read_timeout)."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from kdiag.lab.ingress.downstream import CLIENT_SEND_TIMEOUT, Request
from kdiag.lab.ingress.model import Address, Location, normalize_uri
from kdiag.lab.ingress.pages import http_date

__all__ = ["IDEMPOTENT", "MAX_UPSTREAM_HEADER", "Note", "UpstreamFailure", "attempt", "relay",
           "upstream_request"]

MAX_UPSTREAM_HEADER = 4096  # proxy_buffer_size 4k: a bigger upstream header is a 502
CHUNK = 65536
#: (level, message) -> None: a line for the error log.
Note = Callable[[str, str], None]

HOP_BY_HOP_REQUEST = {"connection", "keep-alive", "te", "expect", "upgrade", "transfer-encoding",
                      "content-length", "proxy"}
HIDDEN_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "server", "date", "x-pad",
                   "x-accel-expires", "x-accel-redirect", "x-accel-limit-rate", "x-accel-buffering",
                   "x-accel-charset"}
IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}


class UpstreamFailure(Exception):
    """The upstream attempt failed: `timeout` decides 504 vs 502, `retry` whether to go on."""

    def __init__(self, message: str, *, timeout: bool, retry: bool = True) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.retry = retry



def upstream_request(req: Request, loc: Location, ctx: dict[str, Any], *, drop_upgrade: bool) -> bytes:
    version = "1.0" if drop_upgrade else loc.proxy_http_version
    upgrade = "" if drop_upgrade else (req.get("upgrade") or "")
    if drop_upgrade:
        connection = ""
    elif loc.connection_header:
        connection = loc.connection_header
    else:
        connection = "upgrade" if upgrade else ""
    host = req.get("host") or ""
    set_headers: list[tuple[str, str]] = [
        ("Host", host),
        ("Upgrade", upgrade),
        ("Connection", connection),
        ("X-Request-ID", req.get("x-request-id") or secrets.token_hex(16)),
        ("X-Real-IP", ctx["client"]),
        ("X-Forwarded-For", ctx["client"]),
        ("X-Forwarded-Host", host),
        ("X-Forwarded-Port", str(ctx["server_port"])),
        ("X-Forwarded-Proto", ctx["scheme"]),
        ("X-Forwarded-Scheme", ctx["scheme"]),
        ("X-Scheme", ctx["scheme"]),
        ("X-Original-Forwarded-For", req.get("x-forwarded-for") or ""),
    ]
    overridden = {k.lower() for k, _ in set_headers} | HOP_BY_HOP_REQUEST
    target = req.target
    if loc.rewrite_target:
        uri = normalize_uri(req.target) or "/"
        target = loc.rewrite(uri, req.target.partition("?")[2]) or req.target
    lines = [f"{req.method} {target} HTTP/{version}"]
    lines += [f"{k}: {v}" for k, v in set_headers if v]
    if req.body or req.get("content-length") is not None or req.get("transfer-encoding"):
        lines.append(f"Content-Length: {len(req.body)}")
    lines += [f"{k}: {v}" for k, v in req.headers if k.lower() not in overridden]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + req.body

async def attempt(address: Address, payload: bytes, loc: Location, idempotent: bool, note: Note
                  ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int, str, list[tuple[str, str]]]:
    try:
        u_reader, u_writer = await asyncio.wait_for(
            asyncio.open_connection(address[0], address[1], limit=MAX_UPSTREAM_HEADER),
            loc.connect_timeout)
    except TimeoutError:
        raise UpstreamFailure("upstream timed out (110: Connection timed out) while connecting to upstream",
                    timeout=True) from None
    except ConnectionRefusedError:
        raise UpstreamFailure("connect() failed (111: Connection refused) while connecting to upstream",
                    timeout=False) from None
    except OSError as exc:
        raise UpstreamFailure(f"connect() failed ({exc.errno}: {exc.strerror}) while connecting to upstream",
                    timeout=False) from None
    try:
        try:
            u_writer.write(payload)
            await asyncio.wait_for(u_writer.drain(), loc.send_timeout)
        except TimeoutError:
            raise UpstreamFailure("upstream timed out (110: Connection timed out) while sending request to upstream",
                        timeout=True, retry=idempotent) from None
        except OSError as exc:
            raise UpstreamFailure(f"send() failed ({exc.errno}: {exc.strerror}) while sending request to upstream",
                        timeout=False, retry=idempotent) from None
        try:
            status, reason, headers, raw = await read_upstream_head(u_reader, loc.read_timeout)
        except TimeoutError:
            raise UpstreamFailure("upstream timed out (110: Connection timed out) while reading response header "
                        "from upstream", timeout=True, retry=idempotent) from None
        except (asyncio.LimitOverrunError, ValueError):
            raise UpstreamFailure("upstream sent too big header while reading response header from upstream",
                        timeout=False, retry=False) from None
        except (asyncio.IncompleteReadError, OSError):
            raise UpstreamFailure("upstream prematurely closed connection while reading response header from "
                        "upstream", timeout=False, retry=idempotent) from None
        if status == 0:
            note("error", "upstream sent no valid HTTP/1.0 header while reading response header "
                                "from upstream")
            headers = [("", raw.decode("latin-1"))]
        return u_reader, u_writer, status, reason, headers
    except BaseException:
        u_writer.close()
        raise

async def read_upstream_head(u_reader: asyncio.StreamReader, timeout: float
                             ) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """(status, reason, headers, raw bytes). Status 0: not HTTP at all, which nginx passes
    on as an HTTP/0.9 response (the raw bytes, no head), as soon as a byte does not fit."""
    raw = b""
    while len(raw) < 5:
        byte = await asyncio.wait_for(u_reader.read(1), timeout)
        if not byte:
            if raw:
                return 0, "", [], raw
            raise asyncio.IncompleteReadError(raw, 5)
        raw += byte
        if not b"HTTP/".startswith(raw):
            return 0, "", [], raw
    raw += await asyncio.wait_for(u_reader.readuntil(b"\n"), timeout)
    status_line = raw.rstrip(b"\r\n").decode("latin-1")
    m = re.match(r"HTTP/\d+\.\d+ (\d{3})(?: (.*))?$", status_line)
    if m is None:
        return 0, "", [], raw
    headers: list[tuple[str, str]] = []
    total = len(raw)
    while True:
        line = await asyncio.wait_for(u_reader.readuntil(b"\n"), timeout)
        total += len(line)
        if total > MAX_UPSTREAM_HEADER:
            raise ValueError("upstream sent too big header")
        text = line.rstrip(b"\r\n").decode("latin-1")
        if not text:
            return int(m.group(1)), m.group(2) or "", headers, raw
        name, _, value = text.partition(":")
        headers.append((name.strip(), value.strip()))

async def relay(req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                u_reader: asyncio.StreamReader, u_writer: asyncio.StreamWriter, status: int, reason: str,
                headers: list[tuple[str, str]], loc: Location, ctx: dict[str, Any],
                extra: list[tuple[str, str]] | None = None, *, drop_upgrade: bool, note: Note) -> bool:
    added = [f"{k}: {v}" for k, v in extra or ()]
    if status == 0:  # HTTP/0.9 passthrough: the raw bytes, then whatever follows, then close
        writer.write(headers[0][1].encode("latin-1"))
        while True:
            try:
                data = await asyncio.wait_for(u_reader.read(CHUNK), loc.read_timeout)
            except TimeoutError:
                break
            if not data:
                break
            writer.write(data)
            await asyncio.wait_for(writer.drain(), CLIENT_SEND_TIMEOUT)
        await asyncio.wait_for(writer.drain(), CLIENT_SEND_TIMEOUT)
        return False
    if status == 101 and req.get("upgrade") and not drop_upgrade:
        head = ["HTTP/1.1 101 Switching Protocols", "Server: nginx", f"Date: {http_date()}",
                "Connection: upgrade"]
        head += [f"{k}: {v}" for k, v in headers if k.lower() not in HIDDEN_RESPONSE] + added
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await asyncio.wait_for(writer.drain(), CLIENT_SEND_TIMEOUT)
        await splice(reader, writer, u_reader, u_writer, loc, ctx, note)
        return False

    lower = {k.lower(): v for k, v in reversed(headers)}
    no_body = req.method == "HEAD" or status in (204, 304) or 100 <= status < 200
    chunked_in = "chunked" in lower.get("transfer-encoding", "").lower()
    length = None if chunked_in else lower.get("content-length")
    keep = req.keep_alive
    mode = "none" if no_body else ("length" if length is not None else ("chunked" if chunked_in else "close"))
    if mode == "close" and req.version != "HTTP/1.1":
        keep = False
    head = [f"HTTP/1.1 {status} {reason}".rstrip(), "Server: nginx", f"Date: {http_date()}"]
    if "content-type" in lower:
        head.append(f"Content-Type: {lower['content-type']}")
    if length is not None and not (no_body and req.method != "HEAD"):
        head.append(f"Content-Length: {length}")
    if mode in ("chunked", "close") and keep:
        head.append("Transfer-Encoding: chunked")
    head.append(f"Connection: {'keep-alive' if keep else 'close'}")
    head += [f"{k}: {v}" for k, v in headers
             if k.lower() not in HIDDEN_RESPONSE and k.lower() not in ("content-type", "content-length")]
    head += added
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    rechunk = mode in ("chunked", "close") and keep

    async def emit(data: bytes) -> None:
        if rechunk:
            writer.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        else:
            writer.write(data)
        await asyncio.wait_for(writer.drain(), CLIENT_SEND_TIMEOUT)

    async def upstream_read(op: Awaitable[bytes]) -> bytes:
        try:
            return await asyncio.wait_for(op, loc.read_timeout)
        except TimeoutError:
            note("error", f'*{ctx["cid"]} upstream timed out (110: Connection timed out) while '
                                f'reading upstream, client: {ctx["client"]}, request: "{req.method} {req.target}"')
            raise ConnectionAbortedError("upstream read timeout") from None

    if mode == "length":
        remaining = int(str(length))
        while remaining > 0:
            data = await upstream_read(u_reader.read(min(CHUNK, remaining)))
            if not data:
                raise ConnectionAbortedError("upstream prematurely closed connection")
            remaining -= len(data)
            await emit(data)
    elif mode == "chunked":
        while True:
            size_line = await upstream_read(u_reader.readuntil(b"\r\n"))
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await upstream_read(u_reader.readuntil(b"\r\n"))) != b"\r\n":
                    pass
                break
            while size > 0:  # bounded pieces, whatever size the upstream announces
                piece = await upstream_read(u_reader.readexactly(min(size, CHUNK)))
                size -= len(piece)
                await emit(piece)
            if await upstream_read(u_reader.readexactly(2)) != b"\r\n":
                raise ConnectionAbortedError("upstream sent invalid chunked response")
    elif mode == "close":
        while True:
            data = await upstream_read(u_reader.read(CHUNK))
            if not data:
                break
            await emit(data)
    if rechunk:
        writer.write(b"0\r\n\r\n")
    await asyncio.wait_for(writer.drain(), CLIENT_SEND_TIMEOUT)
    return keep

async def splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 u_reader: asyncio.StreamReader, u_writer: asyncio.StreamWriter, loc: Location,
                 ctx: dict[str, Any], note: Note) -> None:
    """Both directions until EOF, or until nothing moved for proxy_read_timeout (nginx re-arms
    that timer on traffic in either direction), or a write blocks for the send timeout."""
    loop = asyncio.get_running_loop()
    last = [loop.time()]
    why: list[str] = []

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, timeout: float, name: str) -> None:
        while True:
            data = await src.read(CHUNK)
            if not data:
                return
            last[0] = loop.time()
            dst.write(data)
            try:
                await asyncio.wait_for(dst.drain(), timeout)
            except TimeoutError:
                why.append(f"{name} timed out (110: Connection timed out) while proxying upgraded connection")
                return
            last[0] = loop.time()

    tasks = [asyncio.ensure_future(pump(reader, u_writer, loc.send_timeout, "upstream")),
             asyncio.ensure_future(pump(u_reader, writer, CLIENT_SEND_TIMEOUT, "client"))]
    try:
        while True:
            remaining = last[0] + loc.read_timeout - loop.time()
            if remaining <= 0:
                why.append("upstream timed out (110: Connection timed out) while proxying upgraded connection")
                break
            done, _ = await asyncio.wait(tasks, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            if done:
                break
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for msg in why:
            note("error", f'*{ctx["cid"]} {msg}, client: {ctx["client"]}')
        u_writer.close()
        writer.close()
