"""An emulation of Envoy's observable HTTP/1.1 behaviour on loopback, for Envoy-based data planes
(Envoy Gateway, Contour, Istio, Cilium, kgateway), which do not install on the lab machines.

Only what a client can observe, each with its source (tests/lab/test_envoy_emulation.py):
- no virtual host / no route → 404, empty body (response-code-details `route_not_found`);
- an `Upgrade` to a route without that upgrade type → 403, empty body, connection closed
  (conn_manager_impl.cc "Do not allow upgrades if the route does not support it"; details
  `upgrade_failed`, counter `downstream_rq_ws_on_non_ws_route`);
- an invalid backend → 500 (Envoy Gateway's direct response, internal/gatewayapi/route.go;
  Gateway API HTTPRouteRule.BackendRefs doc);
- no endpoint → 503 `no healthy upstream` (flag UH); a refused connection → 503 `upstream
  connect error or disconnect/reset before headers. reset reason: connection failure` (UF);
- no response head within the route timeout (default 15 s, from the end of the request, so also
  for the upgrade handshake since envoy#41075) → 504 `upstream request timeout` (flag UT);
- the stream idle timeout (HCM `stream_idle_timeout`, default 5 min, or the route's
  `idle_timeout`): before the response head → 504 `stream timeout` (envoy#20026: 504 rather
  than 408 once the request was read); after a 101 → the stream is reset (TCP RST, no close
  frame: browsers report 1006).
Envoy writes lower-case header names and `server: envoy` on every answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools

from kdiag.lab.envoy.config import EnvoyConfig, Route
from kdiag.lab.ingress.downstream import BadRequest, Request, read_request
from kdiag.lab.ingress.pages import http_date
from kdiag.lab.loopserver import Listener, ThreadedServer, raw_pump, splice

__all__ = ["EnvoyEmulation"]

REASONS = {101: "Switching Protocols", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           500: "Internal Server Error", 503: "Service Unavailable", 504: "Gateway Timeout"}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}
CONNECT_FAILURE = ("upstream connect error or disconnect/reset before headers. "
                   "reset reason: connection failure")


class EnvoyEmulation(ThreadedServer):
    """Envoy's listener on `http_port` (0 = any) serving `config`; `access_log` has one line per
    request with Envoy's response flags (UH, UF, UT, NR, …) and response-code details."""

    thread_name = "kdiag-lab-envoy"

    def __init__(self, config: EnvoyConfig, *, http_port: int = 0, https_port: int = 0,
                 host: str = "127.0.0.1") -> None:
        super().__init__([Listener(host, http_port, None, "http")])
        self.config = config
        self._https_port = https_port  # accepted for interchangeability; TLS listeners are not emulated
        self._rr = itertools.count()
        self.access_log: list[str] = []

    @property
    def http_port(self) -> int:
        return self.ports["http"]

    @property
    def https_port(self) -> int:
        return self._https_port

    def reload(self, config: EnvoyConfig) -> None:
        self.config = config

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener: Listener) -> None:
        while True:
            try:
                req = await read_request(reader, writer, 300.0)
            except BadRequest as exc:
                await self._local(writer, None, exc.status, b"", "http1.codec_error", "DPE", close=True)
                return
            if req is None:
                return
            if not await self._serve(req, reader, writer):
                return

    # -- local replies ---------------------------------------------------------------------

    async def _local(self, writer: asyncio.StreamWriter, req: Request | None, status: int, body: bytes,
                     details: str, flags: str, *, close: bool = False) -> None:
        hs = [("content-length", str(len(body)))]
        if body:
            hs.append(("content-type", "text/plain"))
        hs += [("date", http_date()), ("server", "envoy")]
        if close:
            hs.append(("connection", "close"))
        self._log(req, status, flags, details)
        writer.write(_head(status, hs) + body)
        await writer.drain()

    def _log(self, req: Request | None, status: int, flags: str, details: str) -> None:
        line = f'"{req.method} {req.target}" ' if req else '"-" '
        self.access_log.append(f"{line}{status} {flags or '-'} {details}")

    # -- one request ------------------------------------------------------------------------

    async def _serve(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        path = req.target.split("?", 1)[0]
        route = self.config.route(req.get("host") or "", path)
        if route is None:
            await self._local(writer, req, 404, b"", "route_not_found", "NR")
            return req.keep_alive
        upgrade = (req.get("upgrade") or "").strip().lower()
        if upgrade and upgrade not in route.upgrades:
            await self._local(writer, req, 403, b"", "upgrade_failed", "", close=True)
            return False
        cluster = route.cluster
        if cluster.invalid:
            await self._local(writer, req, 500, b"", "direct_response", "")
            return req.keep_alive
        if not cluster.endpoints:
            await self._local(writer, req, 503, b"no healthy upstream", "no_healthy_upstream", "UH")
            return req.keep_alive
        address = cluster.endpoints[next(self._rr) % len(cluster.endpoints)]
        try:
            if address is None:
                raise ConnectionRefusedError
            u_reader, u_writer = await asyncio.wait_for(asyncio.open_connection(*address), 10.0)
        except (OSError, TimeoutError):
            await self._local(writer, req, 503, CONNECT_FAILURE.encode(),
                              "upstream_reset_before_response_started{connection_failure}", "UF")
            return req.keep_alive
        try:
            return await self._proxy(req, route, upgrade, reader, writer, u_reader, u_writer)
        finally:
            u_writer.close()

    async def _proxy(self, req: Request, route: Route, upgrade: str, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter, u_reader: asyncio.StreamReader,
                     u_writer: asyncio.StreamWriter) -> bool:
        hs = [(k, v) for k, v in req.headers if k.lower() not in HOP_BY_HOP]
        if upgrade:
            hs += [("upgrade", req.get("upgrade") or upgrade), ("connection", "upgrade")]
        else:  # the lab keeps no upstream pool: one request per upstream connection
            hs.append(("connection", "close"))
        hs += [("x-forwarded-proto", "http"), ("x-envoy-expected-rq-timeout-ms", str(int(route.timeout * 1000)))]
        if req.body:
            hs = [(k, v) for k, v in hs if k.lower() != "content-length"] + [("content-length", str(len(req.body)))]
        u_writer.write(f"{req.method} {req.target} HTTP/1.1\r\n".encode("latin-1")
                       + "".join(f"{k}: {v}\r\n" for k, v in hs).encode("latin-1") + b"\r\n" + req.body)
        await u_writer.drain()
        idle = self.config.stream_idle_timeout if route.idle_timeout is None else route.idle_timeout
        waits = [(t, why) for t, why in ((route.timeout, "route"), (idle, "idle")) if t > 0]
        limit, why = min(waits) if waits else (None, "")
        try:
            head = await asyncio.wait_for(u_reader.readuntil(b"\r\n\r\n"), limit)
        except TimeoutError:
            if why == "route":
                await self._local(writer, req, 504, b"upstream request timeout", "upstream_response_timeout", "UT")
            else:
                await self._local(writer, req, 504, b"stream timeout", "stream_idle_timeout", "SI")
            return req.keep_alive
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError):
            await self._local(writer, req, 503, b"upstream connect error or disconnect/reset before headers. "
                              b"reset reason: connection termination", "upstream_reset_before_response_started", "UC")
            return req.keep_alive
        status, headers = _parse_head(head)
        out = [(k.lower(), v) for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != "server"]
        out += [("server", "envoy"), ("x-envoy-upstream-service-time", "1")]
        self._log(req, status, "", "via_upstream")
        if status == 101 and upgrade:
            writer.write(_head(101, [*out, ("upgrade", _get(headers, "upgrade") or upgrade),
                                     ("connection", "Upgrade")]))
            await writer.drain()
            with contextlib.suppress(OSError):
                if await splice(reader, writer, u_reader, u_writer, idle=idle, reset=True) == "idle":
                    self.access_log.append(f'"{req.method} {req.target}" stream reset: stream_idle_timeout')
            return False
        length = _get(headers, "content-length")
        chunked = "chunked" in (_get(headers, "transfer-encoding") or "").lower()
        if length is not None and length.isdigit():
            writer.write(_head(status, out) + await u_reader.readexactly(int(length)))
            await writer.drain()
            return req.keep_alive
        if chunked:
            writer.write(_head(status, [*out, ("transfer-encoding", "chunked")]))
            await raw_pump(u_reader, writer, lambda: None)
            return False
        body = await u_reader.read()
        writer.write(_head(status, [*out, ("content-length", str(len(body)))]) + body)
        await writer.drain()
        return req.keep_alive


def _head(status: int, headers: list[tuple[str, str]]) -> bytes:
    return (f"HTTP/1.1 {status} {REASONS.get(status, 'OK' if status < 400 else 'Error')}\r\n"
            + "".join(f"{k}: {v}\r\n" for k, v in headers) + "\r\n").encode("latin-1")


def _parse_head(head: bytes) -> tuple[int, list[tuple[str, str]]]:
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 502
    hs = [(k.strip(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:] if ln)]
    return status, hs


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)
