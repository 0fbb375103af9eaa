"""A pure-Python ingress data plane that behaves like the lab's nginx (for `kdiag demo`, no nginx).

`EmulatedIngress` has `NginxIngress`'s interface and renders the same IR
(`kdiag.lab.ingress_model.IngressConfig`) with asyncio raw streams in a thread of its own: it
routes like nginx, forwards with ingress-nginx's header treatment (Upgrade/Connection map, Host,
X-Forwarded-*, X-Request-ID), answers 404/502/503/504/308 with nginx's bodies and `Server: nginx`,
tries up to three endpoints on connect errors and timeouts, splices upgraded connections and cuts
them like nginx's `proxy_read_timeout` (no data in either direction for N s → both sides closed
with no WebSocket close frame, so clients see 1006), and terminates TLS with the host's
certificate or the controller's fake one. `tests/lab/test_ingress_fidelity.py` holds both data
planes to the same answers.

Known differences: HTTP/1.1 only (nginx also offers h2 on TLS), no connection pooling upstream.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import email.utils
import os
import re
import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdiag.lab.ingress_model import (
    DEFAULT_BACKEND,
    NEXT_UPSTREAM_TRIES,
    Address,
    IngressConfig,
    Location,
    Server,
    TlsCert,
    Upstream,
    affinity_index,
    cookie_value,
    normalize_host,
    normalize_uri,
    reserve_refusing_port,
)

__all__ = ["HEADER_TOO_LARGE", "PLAIN_HTTP_ON_TLS", "REASONS", "EmulatedIngress", "error_page"]

LOOPBACK = "127.0.0.1"
MAX_HEADER = 8 * 1024 * 4  # large_client_header_buffers 4 8k
MAX_LINE = 8 * 1024  # one such buffer
MAX_UPSTREAM_HEADER = 4096  # proxy_buffer_size 4k: a bigger upstream header is a 502
MAX_BODY = 1024 * 1024  # client_max_body_size 1m
CLIENT_HEADER_TIMEOUT = 60.0
KEEPALIVE_TIMEOUT = 75.0
CLIENT_SEND_TIMEOUT = 60.0
CHUNK = 65536

#: nginx's reason phrases for the statuses it generates itself.
REASONS: dict[int, str] = {
    301: "Moved Permanently",
    308: "Permanent Redirect",
    400: "Bad Request",
    404: "Not Found",
    405: "Not Allowed",
    408: "Request Time-out",
    413: "Request Entity Too Large",
    414: "Request-URI Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    501: "Not Implemented",
    504: "Gateway Time-out",
    505: "HTTP Version Not Supported",
}

HOP_BY_HOP_REQUEST = {"connection", "keep-alive", "te", "expect", "upgrade", "transfer-encoding",
                      "content-length", "proxy"}
HIDDEN_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "server", "date", "x-pad",
                   "x-accel-expires", "x-accel-redirect", "x-accel-limit-rate", "x-accel-buffering",
                   "x-accel-charset"}
IDEMPOTENT = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"}


HEADER_TOO_LARGE = "Request Header Or Cookie Too Large"
PLAIN_HTTP_ON_TLS = "The plain HTTP request was sent to HTTPS port"


def error_page(status: int, *, header_too_large: bool = False, detail: str | None = None) -> bytes:
    """The body nginx sends for a status it generates (server_tokens off); `detail` is one of
    nginx's special 400 pages (e.g. PLAIN_HTTP_ON_TLS)."""
    title = f"{status} {REASONS.get(status, '')}".rstrip()
    if header_too_large:
        detail = HEADER_TOO_LARGE
    if detail:
        return (f"<html>\r\n<head><title>{status} {detail}</title></head>\r\n<body>\r\n"
                f"<center><h1>{title}</h1></center>\r\n<center>{detail}</center>\r\n"
                f"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n").encode()
    return (f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            f"</body>\r\n</html>\r\n").encode()


def _http_date() -> str:
    return email.utils.formatdate(usegmt=True)


@dataclass
class _Request:
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


class _BadRequest(Exception):
    def __init__(self, status: int = 400, *, too_large: bool = False) -> None:
        super().__init__(status)
        self.status = status
        self.too_large = too_large  # nginx's 494 "Request Header Or Cookie Too Large", sent as 400


class _Fail(Exception):
    """The upstream attempt failed: `timeout` decides 504 vs 502, `retry` whether to go on."""

    def __init__(self, message: str, *, timeout: bool, retry: bool = True) -> None:
        super().__init__(message)
        self.timeout = timeout
        self.retry = retry


class EmulatedIngress:
    """Same constructor options and interface as `kdiag.lab.nginx.NginxIngress`."""

    def __init__(self, config: IngressConfig, *, nginx: str | None = None, http_port: int = 0,
                 https_port: int = 0, drop_upgrade: bool = False) -> None:
        del nginx  # accepted for interchangeability with NginxIngress
        self.config = config
        self.drop_upgrade = drop_upgrade
        self._http_port = http_port
        self._https_port = https_port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._lsock: socket.socket | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._log: collections.deque[str] = collections.deque(maxlen=1000)
        self._access: collections.deque[str] = collections.deque(maxlen=1000)
        self._rr: dict[str, int] = {}
        self._conn_ids = 0
        self._dead: Any = None
        self._certdir: tempfile.TemporaryDirectory[str] | None = None
        self._contexts: dict[bytes, ssl.SSLContext] = {}
        self._default_ctx: ssl.SSLContext | None = None

    # -- facts ---------------------------------------------------------------------------------

    @property
    def http_port(self) -> int:
        return self._http_port

    @property
    def https_port(self) -> int:
        return self._https_port

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def error_log_tail(self, lines: int = 40) -> str:
        return "\n".join(list(self._log)[-lines:])

    def access_log_tail(self, lines: int = 40) -> str:
        return "\n".join(list(self._access)[-lines:])

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> EmulatedIngress:
        if self._thread is not None:
            return self
        self._dead = reserve_refusing_port()
        self._certdir = tempfile.TemporaryDirectory(prefix="kdiag-emu-certs-")
        self._build_tls(self.config)
        ready = threading.Event()
        error: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # reported to start()
                error.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._thread = threading.Thread(target=run, name="kdiag-emulated-ingress", daemon=True)
        self._thread.start()
        if not ready.wait(timeout) or error:
            self.stop()
            raise RuntimeError(f"emulated ingress did not start: {error[0] if error else 'timeout'}")
        self._note("notice", "start worker processes")
        return self

    def reload(self, config: IngressConfig) -> None:
        """New routes for new requests; open (upgraded) connections stay, as with nginx."""
        self._build_tls(config)
        self.config = config
        self._note("notice", "signal process started; reconfiguring")

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop, self._thread = None, None
        if loop is not None and thread is not None and thread.is_alive():
            fut = asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            with contextlib.suppress(Exception):
                fut.result(timeout=5)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
        if self._dead is not None:
            self._dead.close()
            self._dead = None
        if self._certdir is not None:
            self._certdir.cleanup()
            self._certdir = None

    def __enter__(self) -> EmulatedIngress:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals: setup ----------------------------------------------------------------------

    def _build_tls(self, config: IngressConfig) -> None:
        assert self._certdir is not None
        certs: list[TlsCert] = [config.fake_cert, *(s.tls for s in config.servers if s.tls)]
        for cert in certs:
            if cert.cert_pem in self._contexts:
                continue
            i = len(self._contexts)
            crt = Path(self._certdir.name) / f"{i}.crt"
            key = Path(self._certdir.name) / f"{i}.key"
            crt.write_bytes(cert.cert_pem)
            key.write_bytes(cert.key_pem)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(str(crt), str(key))
            ctx.set_alpn_protocols(["http/1.1"])
            self._contexts[cert.cert_pem] = ctx
        default = self._contexts[config.fake_cert.cert_pem]

        def pick(sslobj: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
            cert = self.config.cert_for(server_name)
            ctx = self._contexts.get(cert.cert_pem)
            if ctx is not None and ctx is not sslobj.context:
                sslobj.context = ctx

        default.sni_callback = pick  # type: ignore[assignment]
        self._default_ctx = default

    async def _listen(self) -> None:
        assert self._default_ctx is not None
        # the TLS port accepts by hand: like nginx it peeks at the first byte, so a plain HTTP
        # request there gets nginx's 400 page instead of a failed handshake
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind((LOOPBACK, self._https_port))
        lsock.listen(128)
        lsock.setblocking(False)
        self._lsock = lsock
        self._https_port = int(lsock.getsockname()[1])
        self._spawn(self._accept_tls_port(lsock))
        http = await asyncio.start_server(
            lambda r, w: self._spawn(self._serve(r, w, "http")), LOOPBACK, self._http_port, limit=MAX_LINE)
        self._servers.append(http)
        self._http_port = int(http.sockets[0].getsockname()[1])

    async def _accept_tls_port(self, lsock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            conn, _ = await loop.sock_accept(lsock)
            self._spawn(self._serve_tls_port(conn))

    async def _serve_tls_port(self, conn: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        conn.setblocking(False)
        readable: asyncio.Future[None] = loop.create_future()

        def ready() -> None:
            if not readable.done():
                readable.set_result(None)

        loop.add_reader(conn.fileno(), ready)
        try:
            await asyncio.wait_for(readable, CLIENT_HEADER_TIMEOUT)
            first = conn.recv(1, socket.MSG_PEEK)
        except (TimeoutError, OSError):
            conn.close()
            return
        finally:
            loop.remove_reader(conn.fileno())
        if not first:
            conn.close()
            return
        tls = first[0] == 0x16  # a TLS handshake record
        reader = asyncio.StreamReader(limit=MAX_LINE)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            transport, _ = await loop.connect_accepted_socket(
                lambda: protocol, conn, ssl=self._default_ctx if tls else None,
                ssl_handshake_timeout=10 if tls else None)
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError):
            conn.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        await self._serve(reader, writer, "https", plain_on_tls=not tls)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _shutdown(self) -> None:
        if self._lsock is not None:
            self._lsock.close()
            self._lsock = None
        for srv in self._servers:
            srv.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=3)
        for srv in self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(srv.wait_closed(), 1)
        self._servers.clear()

    def _note(self, level: str, message: str) -> None:
        stamp = time.strftime("%Y/%m/%d %H:%M:%S")
        self._log.append(f"{stamp} [{level}] {os.getpid()}#emu: {message}")

    @property
    def _dead_address(self) -> Address:
        if self._dead is None:
            return (LOOPBACK, 9)
        host, port = self._dead.getsockname()[:2]
        return (str(host), int(port))

    # -- internals: one client connection ------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, scheme: str, *,
                     plain_on_tls: bool = False) -> None:
        self._conn_ids += 1
        cid = self._conn_ids
        sock = writer.get_extra_info("sockname") or (LOOPBACK, 0)
        peer = writer.get_extra_info("peername") or (LOOPBACK, 0)
        ctx = {"cid": cid, "scheme": scheme, "server_port": int(sock[1]), "client": str(peer[0])}
        first = True
        try:
            while True:
                try:
                    req = await self._read_request(reader, writer,
                                                   CLIENT_HEADER_TIMEOUT if first else KEEPALIVE_TIMEOUT)
                except _BadRequest as bad:
                    await self._respond_error(writer, bad.status, None, keep_alive=False,
                                              header_too_large=bad.too_large)
                    return
                if req is None:
                    return
                if plain_on_tls:
                    await self._respond_error(writer, 400, req, keep_alive=False, detail=PLAIN_HTTP_ON_TLS)
                    return
                first = False
                keep = await self._handle(req, reader, writer, ctx)
                if not keep:
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, TimeoutError):
            return
        except (ValueError, asyncio.LimitOverrunError, OSError) as exc:  # a broken upstream or client
            self._note("error", f"*{cid} {type(exc).__name__}: {exc}")
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _read_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                            timeout: float) -> _Request | None:
        """One request head, parsed as strictly as nginx 1.22 does (LF line ends are fine)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout

        async def line(too_long: _BadRequest) -> bytes | None:
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
            got = await line(_BadRequest(414))
            if got is None:
                return None
            if got:
                first = got
                break
            deadline = loop.time() + CLIENT_HEADER_TIMEOUT
        else:
            raise _BadRequest(400)
        deadline = loop.time() + CLIENT_HEADER_TIMEOUT
        parts = first.decode("latin-1").split(" ")
        if len(parts) != 3 or not re.fullmatch(r"[A-Z_-]+", parts[0]):
            raise _BadRequest(400)
        version = re.fullmatch(r"HTTP/(\d)\.(\d)", parts[2])
        if version is None or version.group(1) == "0":
            raise _BadRequest(400)
        if version.group(1) != "1":
            raise _BadRequest(505)
        headers: list[tuple[str, str]] = []
        total = len(first)
        too_large = _BadRequest(400, too_large=True)
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
                raise _BadRequest(400)
            if not re.fullmatch(r"[A-Za-z0-9-]+", name):
                continue  # ignore_invalid_headers on, underscores_in_headers off: dropped
            headers.append((name, value.strip(" \t")))
        req = _Request(parts[0], parts[1], parts[2], headers)
        if len(req.all("host")) > 1:
            raise _BadRequest(400)
        absolute = parts[1].startswith(("http://", "https://"))
        if parts[2] == "HTTP/1.1" and req.get("host") is None and not absolute:
            raise _BadRequest(400)
        te = req.get("transfer-encoding")
        if te is not None and req.get("content-length") is not None:
            raise _BadRequest(400)
        if te is not None and te.lower() != "chunked":
            raise _BadRequest(501)
        req.body = await self._read_body(req, reader, writer)
        return req

    async def _read_body(self, req: _Request, reader: asyncio.StreamReader,
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
                raise _BadRequest(400)
            body = bytearray()
            while True:
                size_line = await asyncio.wait_for(reader.readuntil(b"\r\n"), CLIENT_HEADER_TIMEOUT)
                try:
                    size = int(size_line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise _BadRequest(400) from None
                if size == 0:
                    while (await asyncio.wait_for(reader.readuntil(b"\r\n"), CLIENT_HEADER_TIMEOUT)) != b"\r\n":
                        pass
                    return bytes(body)
                if len(body) + size > MAX_BODY:
                    raise _BadRequest(413)
                body += await asyncio.wait_for(reader.readexactly(size + 2), CLIENT_HEADER_TIMEOUT)
                del body[-2:]
        try:
            n = int(str(length))
        except ValueError:
            raise _BadRequest(400) from None
        if n < 0:
            raise _BadRequest(400)
        if n > MAX_BODY:
            raise _BadRequest(413)
        return await asyncio.wait_for(reader.readexactly(n), CLIENT_HEADER_TIMEOUT)

    async def _respond_error(self, writer: asyncio.StreamWriter, status: int, req: _Request | None, *,
                             keep_alive: bool, location: str | None = None, header_too_large: bool = False,
                             location_first: bool = False, extra: list[tuple[str, str]] | None = None,
                             detail: str | None = None) -> bool:
        body = error_page(status, header_too_large=header_too_large, detail=detail)
        head = [f"HTTP/1.1 {status} {REASONS.get(status, '')}".rstrip(), "Server: nginx",
                f"Date: {_http_date()}", "Content-Type: text/html", f"Content-Length: {len(body)}"]
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

    def _access_line(self, ctx: dict[str, Any], req: _Request, status: int, upstream: str,
                     alt: str, addr: str) -> None:
        self._access.append(f'{ctx["client"]} - - [{time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())}] '
                            f'"{req.method} {req.target} {req.version}" {status} [{upstream}] [{alt}] '
                            f"{addr or '-'}")

    async def _handle(self, req: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      ctx: dict[str, Any]) -> bool:
        config = self.config
        uri = normalize_uri(req.target)
        if uri is None:
            return await self._respond_error(writer, 400, req, keep_alive=False)
        host_header = req.get("host") or ""
        if req.target.startswith(("http://", "https://")):  # absolute form: its authority is $host
            host_header = req.target.split("://", 1)[1].split("/", 1)[0]
        server = config.server_for(host_header)
        keep = req.keep_alive
        if server.auto_redirects(uri):
            host = normalize_host(host_header) if host_header else (server.host if not server.is_default else "")
            default_port = 80 if ctx["scheme"] == "http" else 443
            port = "" if ctx["server_port"] == default_port else f":{ctx['server_port']}"
            query = req.target.partition("?")[2]
            target = f"{ctx['scheme']}://{host}{port}{uri}/" + (f"?{query}" if query else "")
            self._access_line(ctx, req, 301, "", "", "")
            return await self._respond_error(writer, 301, req, keep_alive=keep, location=target,
                                             location_first=True)
        loc = server.find_location(uri)
        if loc is None or loc.upstream is None:
            self._access_line(ctx, req, 404, DEFAULT_BACKEND, "", "")
            return await self._respond_error(writer, 404, req, keep_alive=keep)
        if ctx["scheme"] == "http" and server.redirects_to_https(loc):
            # ingress-nginx: the Host header as sent, without its port; else $host
            m = re.fullmatch(r"([^:\[\]]+)(:\d+)?", req.get("host") or "")
            host = m.group(1) if m else normalize_host(host_header)
            target = f"https://{host}:{self._https_port}{req.target}"
            self._access_line(ctx, req, 308, loc.upstream.name, "", "")
            return await self._respond_error(writer, 308, req, keep_alive=keep, location=target)
        upstream: Upstream = loc.upstream
        if not upstream.has_endpoints:
            self._note("warn", f"{upstream.reason} (upstream {upstream.name})")
            self._access_line(ctx, req, 503, upstream.name, "", "")
            return await self._respond_error(writer, 503, req, keep_alive=keep)
        alt = ""
        if loc.canary is not None:
            alt = loc.canary.upstream.name
            first = {k.lower(): v for k, v in reversed(req.headers)}
            name = loc.canary.cookie
            cookies = {name.lower(): v} if name and (v := cookie_value(req.all("cookie"), name)) is not None else {}
            if loc.canary.selects(first, cookies):
                upstream = loc.canary.upstream
        start: int | None = None
        extra: list[tuple[str, str]] = []
        name = loc.affinity_cookie
        if name and loc.canary is None and re.fullmatch(r"[A-Za-z0-9_-]+", name):
            session = cookie_value(req.all("cookie"), name)
            if not session:  # a new session: a fresh id, sent back as the cookie
                session = secrets.token_hex(16)
                extra.append(("Set-Cookie", f"{name}={session}; Path={loc.affinity_path}; HttpOnly"))
            start = affinity_index(session, len(upstream.endpoints))
        return await self._proxy(req, reader, writer, ctx, server, loc, upstream, alt, start=start, extra=extra)

    # -- internals: upstream -------------------------------------------------------------------

    def _upstream_request(self, req: _Request, loc: Location, ctx: dict[str, Any]) -> bytes:
        version = "1.0" if self.drop_upgrade else loc.proxy_http_version
        upgrade = "" if self.drop_upgrade else (req.get("upgrade") or "")
        if self.drop_upgrade:
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

    async def _attempt(self, address: Address, payload: bytes, loc: Location, idempotent: bool
                       ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, int, str, list[tuple[str, str]]]:
        try:
            u_reader, u_writer = await asyncio.wait_for(
                asyncio.open_connection(address[0], address[1], limit=MAX_UPSTREAM_HEADER),
                loc.connect_timeout)
        except TimeoutError:
            raise _Fail("upstream timed out (110: Connection timed out) while connecting to upstream",
                        timeout=True) from None
        except ConnectionRefusedError:
            raise _Fail("connect() failed (111: Connection refused) while connecting to upstream",
                        timeout=False) from None
        except OSError as exc:
            raise _Fail(f"connect() failed ({exc.errno}: {exc.strerror}) while connecting to upstream",
                        timeout=False) from None
        try:
            try:
                u_writer.write(payload)
                await asyncio.wait_for(u_writer.drain(), loc.send_timeout)
            except TimeoutError:
                raise _Fail("upstream timed out (110: Connection timed out) while sending request to upstream",
                            timeout=True, retry=idempotent) from None
            except OSError as exc:
                raise _Fail(f"send() failed ({exc.errno}: {exc.strerror}) while sending request to upstream",
                            timeout=False, retry=idempotent) from None
            try:
                status, reason, headers, raw = await self._read_upstream_head(u_reader, loc.read_timeout)
            except TimeoutError:
                raise _Fail("upstream timed out (110: Connection timed out) while reading response header "
                            "from upstream", timeout=True, retry=idempotent) from None
            except (asyncio.LimitOverrunError, ValueError):
                raise _Fail("upstream sent too big header while reading response header from upstream",
                            timeout=False, retry=False) from None
            except (asyncio.IncompleteReadError, OSError):
                raise _Fail("upstream prematurely closed connection while reading response header from "
                            "upstream", timeout=False, retry=idempotent) from None
            if status == 0:
                self._note("error", "upstream sent no valid HTTP/1.0 header while reading response header "
                                    "from upstream")
                headers = [("", raw.decode("latin-1"))]
            return u_reader, u_writer, status, reason, headers
        except BaseException:
            u_writer.close()
            raise

    @staticmethod
    async def _read_upstream_head(u_reader: asyncio.StreamReader, timeout: float
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

    async def _proxy(self, req: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ctx: dict[str, Any], server: Server, loc: Location, upstream: Upstream, alt: str, *,
                     start: int | None = None, extra: list[tuple[str, str]] | None = None) -> bool:
        """Try up to three endpoints (round robin, or from `start` for a sticky session); `extra`
        response headers are added like nginx's `add_header … always`."""
        payload = self._upstream_request(req, loc, ctx)
        eps = list(upstream.endpoints)
        extra = extra or []
        if start is None:
            start = self._rr.get(upstream.name, 0)
            self._rr[upstream.name] = start + 1
        order = eps[start % len(eps):] + eps[: start % len(eps)]
        idempotent = req.method in IDEMPOTENT
        last: _Fail | None = None
        for ep in order[:NEXT_UPSTREAM_TRIES]:
            address = ep.address or self._dead_address
            try:
                u_reader, u_writer, status, reason, headers = await self._attempt(address, payload, loc, idempotent)
            except _Fail as fail:
                last = fail
                self._note("error", f'*{ctx["cid"]} {fail}, client: {ctx["client"]}, server: {server.host}, '
                                    f'request: "{req.method} {req.target} {req.version}", upstream: '
                                    f'"http://{address[0]}:{address[1]}{req.target}", host: "{req.get("host") or ""}"')
                if not fail.retry:
                    break
                continue
            addr = f"{address[0]}:{address[1]}"
            self._access_line(ctx, req, status, upstream.name, alt, addr)
            try:
                return await self._relay(req, reader, writer, u_reader, u_writer, status, reason, headers, loc, ctx,
                                         extra)
            finally:
                u_writer.close()
        assert last is not None
        code = 504 if last.timeout else 502
        self._access_line(ctx, req, code, upstream.name, alt, "")
        return await self._respond_error(writer, code, req, keep_alive=req.keep_alive, extra=extra)

    async def _relay(self, req: _Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     u_reader: asyncio.StreamReader, u_writer: asyncio.StreamWriter, status: int, reason: str,
                     headers: list[tuple[str, str]], loc: Location, ctx: dict[str, Any],
                     extra: list[tuple[str, str]] | None = None) -> bool:
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
        if status == 101 and req.get("upgrade") and not self.drop_upgrade:
            head = ["HTTP/1.1 101 Switching Protocols", "Server: nginx", f"Date: {_http_date()}",
                    "Connection: upgrade"]
            head += [f"{k}: {v}" for k, v in headers if k.lower() not in HIDDEN_RESPONSE] + added
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            await asyncio.wait_for(writer.drain(), CLIENT_SEND_TIMEOUT)
            await self._splice(reader, writer, u_reader, u_writer, loc, ctx)
            return False

        lower = {k.lower(): v for k, v in reversed(headers)}
        no_body = req.method == "HEAD" or status in (204, 304) or 100 <= status < 200
        chunked_in = "chunked" in lower.get("transfer-encoding", "").lower()
        length = None if chunked_in else lower.get("content-length")
        keep = req.keep_alive
        mode = "none" if no_body else ("length" if length is not None else ("chunked" if chunked_in else "close"))
        if mode == "close" and req.version != "HTTP/1.1":
            keep = False
        head = [f"HTTP/1.1 {status} {reason}".rstrip(), "Server: nginx", f"Date: {_http_date()}"]
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
                self._note("error", f'*{ctx["cid"]} upstream timed out (110: Connection timed out) while '
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

    async def _splice(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      u_reader: asyncio.StreamReader, u_writer: asyncio.StreamWriter, loc: Location,
                      ctx: dict[str, Any]) -> None:
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
                self._note("error", f'*{ctx["cid"]} {msg}, client: {ctx["client"]}')
            u_writer.close()
            writer.close()
