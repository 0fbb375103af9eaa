"""A pure-Python ingress data plane that behaves like the lab's nginx (for `kdiag demo`, no nginx).

`EmulatedIngress` has `NginxIngress`'s interface and renders the same IR
(`kdiag.lab.ingress.model.IngressConfig`) with asyncio raw streams in a thread of its own: it
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
import os
import re
import secrets
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from kdiag.lab.ingress.downstream import (
    CLIENT_HEADER_TIMEOUT,
    KEEPALIVE_TIMEOUT,
    MAX_LINE,
    BadRequest,
    Request,
    read_request,
    respond_error,
)
from kdiag.lab.ingress.model import (
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
from kdiag.lab.ingress.pages import PLAIN_HTTP_ON_TLS
from kdiag.lab.ingress.upstream import IDEMPOTENT, UpstreamFailure, attempt, relay, upstream_request
from kdiag.lab.loopserver import start_loop_thread

__all__ = ["EmulatedIngress"]

LOOPBACK = "127.0.0.1"


class EmulatedIngress:
    """Same constructor options and interface as `kdiag.lab.ingress.nginx.NginxIngress`."""

    def __init__(self, config: IngressConfig, *, nginx: str | None = None, http_port: int = 0,
                 https_port: int = 0, drop_upgrade: bool = False) -> None:
        del nginx  # accepted for interchangeability with NginxIngress
        self.config = config
        self.drop_upgrade = drop_upgrade
        #: When set, every proxied answer carries this header with the endpoints tried, like
        #: `add_header NAME $upstream_addr always` (pod IP:port as the EndpointSlice shows it).
        self.upstream_header: str | None = None
        #: The https port the ssl-redirect names (default: this data plane's own); see NginxIngress.
        self.redirect_port: int | None = None
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
        self._loop, self._thread, why = start_loop_thread(self._listen, name="kdiag-emulated-ingress",
                                                          timeout=timeout)
        if why is not None:
            self.stop()
            raise RuntimeError(f"emulated ingress did not start: {why}")
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

        default.sni_callback = pick
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
                    req = await read_request(reader, writer,
                                             CLIENT_HEADER_TIMEOUT if first else KEEPALIVE_TIMEOUT)
                except BadRequest as bad:
                    await respond_error(writer, bad.status, None, keep_alive=False,
                                        header_too_large=bad.too_large)
                    return
                if req is None:
                    return
                if plain_on_tls:
                    await respond_error(writer, 400, req, keep_alive=False, detail=PLAIN_HTTP_ON_TLS)
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

    def _access_line(self, ctx: dict[str, Any], req: Request, status: int, upstream: str,
                     alt: str, addr: str) -> None:
        self._access.append(f'{ctx["client"]} - - [{time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime())}] '
                            f'"{req.method} {req.target} {req.version}" {status} [{upstream}] [{alt}] '
                            f"{addr or '-'}")

    async def _handle(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      ctx: dict[str, Any]) -> bool:
        config = self.config
        uri = normalize_uri(req.target)
        if uri is None:
            return await respond_error(writer, 400, req, keep_alive=False)
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
            return await respond_error(writer, 301, req, keep_alive=keep, location=target,
                                       location_first=True)
        loc = server.find_location(uri)
        if loc is None or loc.upstream is None:
            self._access_line(ctx, req, 404, DEFAULT_BACKEND, "", "")
            return await respond_error(writer, 404, req, keep_alive=keep)
        scheme = ctx["scheme"]  # lua_ingress.lua: pass_access_scheme, from X-Forwarded-Proto when trusted
        if config.use_forwarded_headers and req.get("x-forwarded-proto"):
            scheme = (req.get("x-forwarded-proto") or "").strip().lower()
        if scheme == "http" and server.redirects_to_https(loc):
            # ingress-nginx: the Host header as sent, without its port; else $host
            m = re.fullmatch(r"([^:\[\]]+)(:\d+)?", req.get("host") or "")
            host = m.group(1) if m else normalize_host(host_header)
            target = f"https://{host}:{self.redirect_port or self._https_port}{req.target}"
            self._access_line(ctx, req, 308, loc.upstream.name, "", "")
            return await respond_error(writer, 308, req, keep_alive=keep, location=target)
        upstream: Upstream = loc.upstream
        if not upstream.has_endpoints:
            self._note("warn", f"{upstream.reason} (upstream {upstream.name})")
            self._access_line(ctx, req, 503, upstream.name, "", "")
            return await respond_error(writer, 503, req, keep_alive=keep)
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

    async def _proxy(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     ctx: dict[str, Any], server: Server, loc: Location, upstream: Upstream, alt: str, *,
                     start: int | None = None, extra: list[tuple[str, str]] | None = None) -> bool:
        """Try up to three endpoints (round robin, or from `start` for a sticky session); `extra`
        response headers are added like nginx's `add_header … always`."""
        payload = upstream_request(req, loc, ctx, drop_upgrade=self.drop_upgrade)
        eps = list(upstream.endpoints)
        extra = extra or []
        if start is None:
            start = self._rr.get(upstream.name, 0)
            self._rr[upstream.name] = start + 1
        order = eps[start % len(eps):] + eps[: start % len(eps)]
        idempotent = req.method in IDEMPOTENT
        last: UpstreamFailure | None = None
        tried: list[str] = []
        for ep in order[:NEXT_UPSTREAM_TRIES]:
            address = ep.address or self._dead_address
            tried.append(f"{ep.ip}:{ep.port}")
            try:
                u_reader, u_writer, status, reason, headers = await attempt(address, payload, loc, idempotent,
                                                                            self._note)
            except UpstreamFailure as fail:
                last = fail
                self._note("error", f'*{ctx["cid"]} {fail}, client: {ctx["client"]}, server: {server.host}, '
                                    f'request: "{req.method} {req.target} {req.version}", upstream: '
                                    f'"http://{address[0]}:{address[1]}{req.target}", host: "{req.get("host") or ""}"')
                if not fail.retry:
                    break
                continue
            addr = f"{address[0]}:{address[1]}"
            self._access_line(ctx, req, status, upstream.name, alt, addr)
            if self.upstream_header:
                extra = [*extra, (self.upstream_header, ", ".join(tried))]
            try:
                return await relay(req, reader, writer, u_reader, u_writer, status, reason, headers, loc, ctx,
                                   extra, drop_upgrade=self.drop_upgrade, note=self._note)
            finally:
                u_writer.close()
        assert last is not None
        code = 504 if last.timeout else 502
        self._access_line(ctx, req, code, upstream.name, alt, "")
        if self.upstream_header:
            extra = [*extra, (self.upstream_header, ", ".join(tried))]
        return await respond_error(writer, code, req, keep_alive=req.keep_alive, extra=extra)
