"""The client side of the emulated ingress: request heads and bodies read as strictly as nginx
1.22 does, and the answers nginx generates itself (error pages, redirects)."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

from kdiag.lab.ingress.pages import REASONS, error_page, http_date

__all__ = ["CLIENT_HEADER_TIMEOUT", "CLIENT_SEND_TIMEOUT", "KEEPALIVE_TIMEOUT", "MAX_LINE",
           "BadRequest", "Request", "read_request", "respond_error"]

MAX_HEADER = 8 * 1024 * 4  # large_client_header_buffers 4 8k
MAX_LINE = 8 * 1024  # one such buffer
MAX_BODY = 1024 * 1024  # client_max_body_size 1m
CLIENT_HEADER_TIMEOUT = 60.0
KEEPALIVE_TIMEOUT = 75.0
CLIENT_SEND_TIMEOUT = 60.0


@dataclass
class Request:
    """One client request: its head as received and its (de-chunked) body."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    body: bytes = b""

    def get(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def all(self, name: str) -> list[str]:
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    @property
    def keep_alive(self) -> bool:
        conn = (self.get("connection") or "").lower()
        if self.version == "HTTP/1.1":
            return "close" not in conn
        return "keep-alive" in conn


class BadRequest(Exception):
    """nginx answers the client with `status` (and closes) instead of proxying."""

    def __init__(self, status: int = 400, *, too_large: bool = False) -> None:
        super().__init__(status)
        self.status = status
        self.too_large = too_large  # nginx's 494 "Request Header Or Cookie Too Large", sent as 400



async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       timeout: float) -> Request | None:
    """One request head, parsed as strictly as nginx 1.22 does (LF line ends are fine)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout

    async def line(too_long: BadRequest) -> bytes | None:
        try:
            raw = await asyncio.wait_for(reader.readline(), max(0.01, deadline - loop.time()))
        except ValueError:  # longer than one 8k buffer
            raise too_long from None
        except TimeoutError:  # nginx closes without an answer (408 only in its log)
            return None
        if not raw.endswith(b"\n"):  # the client went away mid-line
            return None
        return raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]

    first = b""
    for _ in range(8):  # nginx skips empty lines before the request line
        got = await line(BadRequest(414))
        if got is None:
            return None
        if got:
            first = got
            break
        deadline = loop.time() + CLIENT_HEADER_TIMEOUT
    else:
        raise BadRequest(400)
    deadline = loop.time() + CLIENT_HEADER_TIMEOUT
    parts = first.decode("latin-1").split(" ")
    if len(parts) != 3 or not re.fullmatch(r"[A-Z_-]+", parts[0]):
        raise BadRequest(400)
    version = re.fullmatch(r"HTTP/(\d)\.(\d)", parts[2])
    if version is None or version.group(1) == "0":
        raise BadRequest(400)
    if version.group(1) != "1":
        raise BadRequest(505)
    headers: list[tuple[str, str]] = []
    total = len(first)
    too_large = BadRequest(400, too_large=True)
    while True:
        got = await line(too_large)
        if got is None:
            return None
        if not got:
            break
        total += len(got)
        if total > MAX_HEADER:
            raise too_large
        text = got.decode("latin-1")
        name, sep, value = text.partition(":")
        if not sep or not name or any(c <= " " or c == "\x7f" for c in name):
            raise BadRequest(400)
        if not re.fullmatch(r"[A-Za-z0-9-]+", name):
            continue  # ignore_invalid_headers on, underscores_in_headers off: dropped
        headers.append((name, value.strip(" \t")))
    req = Request(parts[0], parts[1], parts[2], headers)
    if len(req.all("host")) > 1:
        raise BadRequest(400)
    absolute = parts[1].startswith(("http://", "https://"))
    if parts[2] == "HTTP/1.1" and req.get("host") is None and not absolute:
        raise BadRequest(400)
    te = req.get("transfer-encoding")
    if te is not None and req.get("content-length") is not None:
        raise BadRequest(400)
    if te is not None and te.lower() != "chunked":
        raise BadRequest(501)
    req.body = await _read_body(req, reader, writer)
    return req

async def _read_body(req: Request, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> bytes:
    te = (req.get("transfer-encoding") or "").lower()
    length = req.get("content-length")
    if not te and length is None:
        return b""
    if (req.get("expect") or "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        await writer.drain()
    if te:
        if te != "chunked":
            raise BadRequest(400)
        body = bytearray()
        while True:
            size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), CLIENT_HEADER_TIMEOUT)
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadRequest(400) from None
            if size == 0:
                while (await asyncio.wait_for(reader.readuntil(b"\r\n"), CLIENT_HEADER_TIMEOUT)) != b"\r\n":
                    pass
                return bytes(body)
            if len(body) + size > MAX_BODY:
                raise BadRequest(413)
            body += await asyncio.wait_for(reader.readexactly(size + 2), CLIENT_HEADER_TIMEOUT)
            del body[-2:]
    try:
        n = int(str(length))
    except ValueError:
        raise BadRequest(400) from None
    if n < 0:
        raise BadRequest(400)
    if n > MAX_BODY:
        raise BadRequest(413)
    return await asyncio.wait_for(reader.readexactly(n), CLIENT_HEADER_TIMEOUT)

async def respond_error(writer: asyncio.StreamWriter, status: int, req: Request | None, *,
                        keep_alive: bool, location: str | None = None, header_too_large: bool = False,
                        location_first: bool = False, extra: list[tuple[str, str]] | None = None,
                        detail: str | None = None) -> bool:
    body = error_page(status, header_too_large=header_too_large, detail=detail)
    head = [f"HTTP/1.1 {status} {REASONS.get(status, '')}".rstrip(), "Server: nginx",
            f"Date: {http_date()}", "Content-Type: text/html", f"Content-Length: {len(body)}"]
    if location and location_first:  # nginx writes a relative Location (made absolute) here
        head.append(f"Location: {location}")
    head.append(f"Connection: {'keep-alive' if keep_alive else 'close'}")
    if location and not location_first:
        head.append(f"Location: {location}")
    head += [f"{k}: {v}" for k, v in extra or ()]
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
    if req is None or req.method != "HEAD":
        writer.write(body)
    await asyncio.wait_for(writer.drain(), CLIENT_SEND_TIMEOUT)
    return keep_alive
