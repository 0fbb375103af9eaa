"""Minimal HTTP/1.1 wire code on asyncio streams: build a request, read a head and a bounded body."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kdiag.endpoint import Endpoint
from kdiag.probes.base import ProtocolError, elapsed_ms, open_stream

__all__ = [
    "RawResponse",
    "ResponseHead",
    "exchange_head",
    "build_request",
    "header_get",
    "lower_headers",
    "parse_status_line",
    "read_body",
    "read_head",
]


@dataclass(frozen=True)
class RawResponse:
    """A response as read from the wire (headers in wire order and case)."""

    http_version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes
    body_truncated: bool


def header_get(headers: Iterable[tuple[str, str]], name: str) -> str | None:
    """All values of a header (case-insensitive) joined with ", ", or None."""
    n = name.lower()
    vals = [v for k, v in headers if k.lower() == n]
    return ", ".join(vals) if vals else None


def lower_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """A lower-cased header dict (repeated names joined with ", ")."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for k, v in items:
        key = str(k).lower()
        out[key] = f"{out[key]}, {v}" if key in out else str(v)
    return out


def _check_header_value(name: str, value: str) -> None:
    if any(c in name for c in "\r\n:") or not name or "\r" in value or "\n" in value:
        raise ValueError(f"invalid header {name!r}")


def build_request(method: str, target: str, headers: Iterable[tuple[str, str]]) -> bytes:
    """Serialise a request head; refuses CR/LF injection in names and values."""
    lines = [f"{method} {target} HTTP/1.1"]
    for name, value in headers:
        _check_header_value(name, value)
        lines.append(f"{name}: {value}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def read_head(reader: asyncio.StreamReader) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Read a start line and headers up to the blank line (bounded by the reader's limit)."""
    try:
        raw = await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as e:
        raise ProtocolError("head too large") from e
    except asyncio.IncompleteReadError as e:
        if not e.partial:
            raise
        # Some servers end lines with bare LF and close; accept what came if it is complete.
        raw = e.partial
        if b"\n\n" not in raw and b"\r\n\r\n" not in raw:
            raise
    text = raw.decode("latin-1")
    lines = text.replace("\r\n", "\n").split("\n")
    start = lines[0]
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        if not line:
            continue
        if line[0] in " \t" and headers:  # obsolete folding
            k, v = headers[-1]
            headers[-1] = (k, f"{v} {line.strip()}")
            continue
        if ":" not in line:
            raise ProtocolError(f"malformed header line {line[:60]!r}")
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return start, tuple(headers)


def parse_status_line(line: str) -> tuple[str, int, str]:
    """'HTTP/1.1 101 Switching Protocols' → ('HTTP/1.1', 101, 'Switching Protocols')."""
    parts = line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit() or len(parts[1]) != 3:
        raise ProtocolError(f"not an HTTP response: {line[:80]!r}")
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""


async def _read_chunked(reader: asyncio.StreamReader, max_body: int, buf: bytearray) -> tuple[bytes, bool]:
    while True:
        size_line = await reader.readline()
        if not size_line:
            return bytes(buf), True
        try:
            size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
        except ValueError as e:
            raise ProtocolError("bad chunk size") from e
        if size == 0:
            # trailers, up to the blank line
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    return bytes(buf), False
        room = max_body - len(buf)
        if size > room:
            buf += await reader.readexactly(room) if room > 0 else b""
            return bytes(buf), True
        buf += await reader.readexactly(size)
        await reader.readline()


async def read_body(
    reader: asyncio.StreamReader,
    headers: Iterable[tuple[str, str]],
    *,
    max_body: int,
    deadline: float,
    method: str = "GET",
    status: int = 200,
) -> tuple[bytes, bool]:
    """Read at most `max_body` bytes of a body before the monotonic `deadline`.

    Returns (body, truncated). A body still arriving at the deadline is returned as read so far
    with truncated=True (the head already told us what we need).
    """
    headers = tuple(headers)
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return b"", False
    te = (header_get(headers, "transfer-encoding") or "").lower()
    cl = header_get(headers, "content-length")
    buf = bytearray()

    async def _read() -> tuple[bytes, bool]:
        if "chunked" in te:
            return await _read_chunked(reader, max_body, buf)
        if cl is not None:
            try:
                n = int(cl.split(",")[0].strip())
            except ValueError as e:
                raise ProtocolError("bad Content-Length") from e
            want = min(n, max_body)
            while len(buf) < want:
                chunk = await reader.read(want - len(buf))
                if not chunk:
                    return bytes(buf), True
                buf.extend(chunk)
            return bytes(buf), n > max_body
        while len(buf) < max_body:  # read until close
            chunk = await reader.read(max_body - len(buf))
            if not chunk:
                return bytes(buf), False
            buf.extend(chunk)
        return bytes(buf), True

    remaining = deadline - time.monotonic()
    if remaining <= 0:
        return b"", True
    try:
        async with asyncio.timeout(remaining):
            return await _read()
    except TimeoutError:
        return bytes(buf), True
    except (asyncio.IncompleteReadError, OSError, ProtocolError) as e:
        partial = getattr(e, "partial", b"")
        return bytes(buf) + partial, True


@dataclass(frozen=True)
class ResponseHead:
    """An open connection whose response status line and headers have been read."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    http_version: str
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]


async def exchange_head(
    endpoint: Endpoint,
    wire: bytes,
    *,
    server_hostname: str | None,
    timeout: float,
    started: float,
    extra: dict[str, object],
    skip_continue: bool = False,
) -> ResponseHead:
    """Connect, send `wire` and read the response head; records `connect_ms` in `extra`.

    On any failure the connection is aborted before the exception propagates, so the caller owns
    the stream only when this returns.
    """
    reader, writer = await open_stream(endpoint, server_hostname=server_hostname, timeout=timeout)
    try:
        extra["connect_ms"] = round(elapsed_ms(started), 1)
        writer.write(wire)
        await writer.drain()
        while True:
            start_line, head = await read_head(reader)
            version, status, reason = parse_status_line(start_line)
            if not (skip_continue and status == 100):
                break
    except BaseException:
        writer.transport.abort()
        raise
    return ResponseHead(reader, writer, version, status, reason, head)
