"""A pure-Python Gateway data plane that behaves like the lab's NGF-style nginx (for `kdiag demo`).

`EmulatedGateway` reuses the emulated ingress's connection handling (`EmulatedIngress`: the
thread and event loop, nginx-strict request parsing in `kdiag.lab.ingress.downstream`, nginx's own
error pages in `pages`, upstream attempts and relaying with WebSocket splicing cut by
`proxy_read_timeout` in `upstream`) and routes like `kdiag.lab.gateway.nginx` renders: server by
Host (exact, then wildcard over one or more labels, then the default server's 404), location
(exact, then longest prefix), the first match in precedence order (method, headers, query
params), the backend by weight; 404 for no match, 500 for an invalid backendRef or all weights 0,
503 without ready endpoints, 502/504 when every endpoint fails. The request sent upstream carries
NGF's headers (`Connection: close` unless upgrading). `tests/lab/test_gateway_fidelity.py` holds
it to the same answers as real nginx.

Known differences: HTTP listeners only; a request to an `/_ngf-internal-…` path is routed like
any other path here, nginx answers it 404 (internal locations).
"""

from __future__ import annotations

import asyncio
from typing import Any

from kdiag.lab.gateway.model import GatewayConfig, MatchRule, WeightedBackend, no_ingress_config
from kdiag.lab.ingress.downstream import MAX_LINE, Request, respond_error
from kdiag.lab.ingress.emulated import LOOPBACK, EmulatedIngress
from kdiag.lab.ingress.model import IngressConfig, Location, Upstream, normalize_host, normalize_uri
from kdiag.lab.ingress.upstream import IDEMPOTENT, UpstreamFailure, attempt, relay

__all__ = ["EmulatedGateway", "ngf_upstream_request"]

#: Client headers nginx does not pass on (proxy module defaults) or that NGF's location sets.
_DROPPED = {"connection", "keep-alive", "te", "expect", "upgrade", "transfer-encoding", "content-length", "host",
            "x-forwarded-for", "x-real-ip", "x-forwarded-proto", "x-forwarded-host", "x-forwarded-port"}


def _query(target: str) -> dict[str, str]:
    """nginx's `$arg_NAME`: the first value (raw, undecoded) per case-insensitive name."""
    out: dict[str, str] = {}
    for part in target.partition("?")[2].split("&"):
        name, _, value = part.partition("=")
        if name:
            out.setdefault(name.lower(), value)
    return out


def ngf_upstream_request(req: Request, ctx: dict[str, Any]) -> bytes:
    """The request NGF's nginx sends to a pod (see `kdiag.lab.gateway.nginx._proxy`)."""
    upgrade = req.get("upgrade") or ""
    host_header = req.get("host") or ""
    xff = ", ".join(req.all("x-forwarded-for"))
    set_headers = [
        ("Host", host_header or normalize_host(host_header)),
        ("X-Forwarded-For", f"{xff}, {ctx['client']}" if xff else ctx["client"]),
        ("X-Real-IP", ctx["client"]),
        ("X-Forwarded-Proto", ctx["scheme"]),
        ("X-Forwarded-Host", normalize_host(host_header)),
        ("X-Forwarded-Port", str(ctx["server_port"])),
        ("Upgrade", upgrade),
        ("Connection", "upgrade" if upgrade else "close"),
    ]
    lines = [f"{req.method} {req.target} HTTP/1.1"]
    lines += [f"{k}: {v}" for k, v in set_headers if v]
    if req.body or req.get("content-length") is not None or req.get("transfer-encoding"):
        lines.append(f"Content-Length: {len(req.body)}")
    lines += [f"{k}: {v}" for k, v in req.headers if k.lower() not in _DROPPED]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + req.body


class EmulatedGateway(EmulatedIngress):
    """Same interface as `kdiag.lab.gateway.nginx.NginxGateway` (start/stop, ports, log tails)."""

    def __init__(self, gateway: GatewayConfig, *, nginx: str | None = None, http_port: int = 0,
                 https_port: int = 0) -> None:
        super().__init__(no_ingress_config(), nginx=nginx, http_port=http_port, https_port=https_port)
        self.gateway = gateway

    def _build_tls(self, config: IngressConfig) -> None:
        del config  # HTTP listeners only

    async def _listen(self) -> None:
        http = await asyncio.start_server(
            lambda r, w: self._spawn(self._serve(r, w, "http")), LOOPBACK, self._http_port, limit=MAX_LINE)
        self._servers.append(http)
        self._http_port = int(http.sockets[0].getsockname()[1])

    async def _handle(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      ctx: dict[str, Any]) -> bool:
        uri = normalize_uri(req.target)
        if uri is None:
            return await respond_error(writer, 400, req, keep_alive=False)
        host = req.get("host") or ""
        if req.target.startswith(("http://", "https://")):
            host = req.target.split("://", 1)[1].split("/", 1)[0]
        server = self.gateway.server_for(host)
        keep = req.keep_alive
        loc = server.find_location(uri)
        headers = {k.lower(): v for k, v in reversed(req.headers)}
        match = loc.select(req.method, headers, _query(req.target)) if loc is not None else None
        if loc is None or match is None:
            self._access_line(ctx, req, 404, "", "", "")
            return await respond_error(writer, 404, req, keep_alive=keep)
        chosen = match.pick()
        if chosen is None or chosen.upstream is None:
            self._note("error", f"*{ctx['cid']} invalid backend for {match.route} rule {match.rule}: "
                                f"{chosen.problem if chosen else 'every weight is 0'}")
            self._access_line(ctx, req, 500, "invalid-backend-ref", "", "")
            # nginx closes after its own 500 (`return 500`); a split proxies the 500 server's answer
            return await respond_error(writer, 500, req, keep_alive=keep and match.deterministic == "split")
        if not chosen.upstream.has_endpoints:
            self._note("warn", f"{chosen.upstream.reason} (upstream {chosen.upstream.name})")
            self._access_line(ctx, req, 503, chosen.upstream.name, "", "")
            return await respond_error(writer, 503, req, keep_alive=keep)
        return await self._proxy_to(req, reader, writer, ctx, match, chosen)

    async def _proxy_to(self, req: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        ctx: dict[str, Any], match: MatchRule, chosen: WeightedBackend) -> bool:
        """Every endpoint once from the round-robin position (nginx: proxy_next_upstream error
        timeout, no tries limit), like `EmulatedIngress._proxy` otherwise."""
        upstream: Upstream | None = chosen.upstream
        assert upstream is not None
        t = match.timeouts
        loc = Location(modifier="", path=match.path, upstream=upstream, connect_timeout=t.connect,
                       send_timeout=t.send, read_timeout=t.read, proxy_http_version="1.1")
        payload = ngf_upstream_request(req, ctx)
        eps = list(upstream.endpoints)
        start = self._rr.get(upstream.name, 0)
        self._rr[upstream.name] = start + 1
        order = eps[start % len(eps):] + eps[: start % len(eps)]
        last: UpstreamFailure | None = None
        for ep in order:
            address = ep.address or self._dead_address
            try:
                u_reader, u_writer, status, reason, headers = await attempt(
                    address, payload, loc, req.method in IDEMPOTENT, self._note)
            except UpstreamFailure as fail:
                last = fail
                self._note("error", f'*{ctx["cid"]} {fail}, client: {ctx["client"]}, request: '
                                    f'"{req.method} {req.target} {req.version}", upstream: '
                                    f'"http://{address[0]}:{address[1]}{req.target}"')
                if not fail.retry:
                    break
                continue
            self._access_line(ctx, req, status, upstream.name, "", f"{address[0]}:{address[1]}")
            try:
                return await relay(req, reader, writer, u_reader, u_writer, status, reason, headers, loc, ctx,
                                   [], drop_upgrade=False, note=self._note)
            finally:
                u_writer.close()
        assert last is not None
        code = 504 if last.timeout else 502
        self._access_line(ctx, req, code, upstream.name, "", "")
        return await respond_error(writer, code, req, keep_alive=req.keep_alive)
