"""Pure judges that read *who* answered a probe from the answer itself (data-plane signatures).

Each judge takes a recorded `ProbeResult` (status, response headers and body excerpt in `extra`)
and says whether it carries one data plane's signature. No I/O; the verdict combines them with
what the other hops saw. Sources of every signature are named next to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from kdiag.model import ProbeResult

__all__ = [
    "ENVOY_ROUTE_TIMEOUT_BODY",
    "PLAIN_HTTP_TO_TLS_BODY",
    "envoy_stream_timeout",
    "header",
    "plain_http_to_tls_port",
    "redirect_to_itself",
    "request_of",
    "route_timeout",
    "tls_to_plain_port",
    "upgrade_refused_by_proxy",
]

#: nginx's error page for a plain HTTP request on an `ssl` listener (ngx_http_special_response.c,
#: NGX_HTTP_TO_HTTPS: "400 The plain HTTP request was sent to HTTPS port").
PLAIN_HTTP_TO_TLS_BODY = "the plain http request was sent to https port"
#: Envoy's local reply when the route timeout fires (router.cc onUpstreamTimeout: 504, body
#: "upstream request timeout", response flag UT); gateway-controllers-facts.md "Envoy behaviour".
ENVOY_ROUTE_TIMEOUT_BODY = "upstream request timeout"


def header(p: ProbeResult, name: str) -> str:
    """One response header of a recorded probe ("" when absent; names compared case-insensitively)."""
    hs = p.extra.get("response_headers")
    if isinstance(hs, Mapping):
        return next((str(v) for k, v in hs.items() if str(k).lower() == name.lower()), "")
    return ""


def _body(p: ProbeResult) -> str:
    return str(p.extra.get("body_excerpt") or "").lower()


def upgrade_refused_by_proxy(p: ProbeResult) -> bool:
    """A WebSocket handshake answered 403 with an empty body: Envoy refusing an upgrade on a route
    without upgrade config (conn_manager_impl.cc "Do not allow upgrades if the route does not support
    it": 403, empty body, details `upgrade_failed`), not the application's 403 (which has a body)."""
    return p.kind in ("websocket", "idle") and p.status_code == 403 and not _body(p).strip()


def route_timeout(p: ProbeResult) -> bool:
    """504 with Envoy's "upstream request timeout" body: the route (request) timeout fired."""
    return p.status_code == 504 and ENVOY_ROUTE_TIMEOUT_BODY in _body(p)


def envoy_stream_timeout(p: ProbeResult) -> bool:
    """408 from an Envoy-based proxy before response headers: the stream idle timeout fired
    (gateway-controllers-facts.md: route idle_timeout / HCM stream_idle_timeout -> 408)."""
    return p.status_code == 408 and "envoy" in header(p, "server").lower()


def plain_http_to_tls_port(p: ProbeResult) -> bool:
    """nginx's 400 for plain HTTP sent to a TLS port (the backend speaks TLS, the proxy did not)."""
    return p.status_code == 400 and PLAIN_HTTP_TO_TLS_BODY in _body(p)


def tls_to_plain_port(entry: ProbeResult, below: ProbeResult | None, *, backend_tls: bool | None) -> bool:
    """The proxy is told to speak TLS to the backend (`backend_tls`), answers 502, while the backend
    itself answers plain HTTP: the TLS handshake to a plain port fails (nginx logs "SSL_do_handshake()
    failed ... wrong version number" and answers 502, dataplane-facts.md §1.8)."""
    return bool(backend_tls) and entry.status_code == 502 and below is not None and below.ok \
        and below.status_code is not None


def request_of(p: ProbeResult) -> tuple[str, str, str]:
    """(scheme, host, path) the probe asked for, from its target and recorded request head."""
    target = urlsplit(p.target if "://" in p.target else f"http://{p.target}")
    scheme = target.scheme
    host, path = target.hostname or "", target.path or "/"
    lines = str(p.extra.get("request") or "").splitlines()
    if lines:
        parts = lines[0].split(" ")
        if len(parts) >= 2 and parts[1].startswith("/"):
            path = parts[1].split("?", 1)[0]
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "host":
                host = v.strip().split(":", 1)[0] if not v.strip().startswith("[") else v.strip()
    return scheme, host.lower(), path


def _same(a: str, b: str) -> bool:
    from kdiag.probes.redirects import same_url

    return bool(a) and bool(b) and same_url(a, b)


def redirect_to_itself(p: ProbeResult) -> dict[str, Any] | None:
    """An https redirect that answers the request itself (None when it is not one).

    Two shapes (ingress-nginx `ssl-redirect`/`force-ssl-redirect`, http-redirect-code 308):
    - a ws:// handshake answered 301/302/307/308 to https/wss: browsers do not follow redirects for
      WebSockets, so the socket never opens;
    - a request that already came in over TLS (or to a proxy behind a TLS-terminating load
      balancer) redirected to the very same https URL: a redirect loop. When the probe followed the
      redirects (`extra["redirects"]`, kdiag.probes.redirects), a chain that comes back to a URL
      already asked (or never ends) is the loop, and the result carries the chain.
    """
    if p.status_code not in (301, 302, 303, 307, 308):
        return None
    chain = p.extra.get("redirects")
    outcome = p.extra.get("redirect_outcome")
    if outcome in ("loop", "too-many") and isinstance(chain, list) and chain and isinstance(chain[0], Mapping):
        # followed by the probe (kdiag.probes.redirects): the chain itself shows the loop
        first = chain[0]
        return {"shape": "loop", "location": str(first.get("location") or ""), "status": p.status_code,
                "same_url": _same(str(first.get("url") or ""), str(first.get("location") or "")),
                "chain": [dict(s) for s in chain if isinstance(s, Mapping)], "outcome": outcome}
    loc = header(p, "location")
    if not loc:
        return None
    to = urlsplit(loc)
    scheme, host, path = request_of(p)
    if to.scheme not in ("https", "wss"):
        return None
    same = (to.hostname or host).lower() == host and (to.path or "/") == path
    if p.kind in ("websocket", "idle"):
        return {"shape": "websocket-redirected", "location": loc, "status": p.status_code, "same_url": same}
    if same and scheme in ("https", "wss"):
        return {"shape": "loop", "location": loc, "status": p.status_code, "same_url": True}
    return None
