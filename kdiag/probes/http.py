"""HTTP probe: one bounded HTTP/1.1 request through an Endpoint, judged by a pure function."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kdiag import __version__
from kdiag.endpoint import Endpoint
from kdiag.model import ProbeResult
from kdiag.outcomes import ErrorKind
from kdiag.probes.base import (
    ProtocolError,
    classify,
    elapsed_ms,
    failure_detail,
    parse_url,
    request_target,
)
from kdiag.probes.http1 import (
    RawResponse,
    build_request,
    exchange_head,
    lower_headers,
    read_body,
)
from kdiag.redaction import redact_headers, redact_url

__all__ = [
    "EXCERPT_CHARS",
    "Exchange",
    "RequestPlan",
    "body_excerpt",
    "exchange_result",
    "http_exchange",
    "http_signature",
    "judge_http",
    "plan_request",
    "probe_http",
]

#: How much of a body goes into evidence.
EXCERPT_CHARS = 2000

USER_AGENT = f"kdiag/{__version__}"


@dataclass(frozen=True)
class RequestPlan:
    """A request ready to send: the wire bytes, and what may be recorded about it."""

    method: str
    path: str  # request-target as sent (with the endpoint's path prefix)
    host_header: str
    server_hostname: str  # SNI when TLS
    target: str  # what results show as `target` (redacted)
    wire: bytes  # includes hidden headers: never record
    recorded: str  # request head as text, hidden headers left out, sensitive values redacted


def plan_request(
    url: str,
    endpoint: Endpoint,
    *,
    method: str = "GET",
    headers: Mapping[str, str] = {},  # noqa: B006 - read only
    protocol_headers: Iterable[tuple[str, str]] = (),
    ws: bool = False,
    body: bytes = b"",
) -> RequestPlan:
    """Work out the request line, Host, SNI and headers. Raises ValueError for a bad URL/header."""
    u = parse_url(url)
    user = [(k, str(v)) for k, v in headers.items()]
    user_host = next((v for k, v in user if k.lower() == "host"), None)
    # The endpoint's Host wins: the API server's proxy must see its own name, whatever the user sent.
    host_header = endpoint.host_header or user_host or u.authority
    path = endpoint.path_prefix.rstrip("/") + u.path if endpoint.path_prefix else u.path
    hdrs: list[tuple[str, str]] = [("Host", host_header), ("User-Agent", USER_AGENT)]
    if not ws:
        hdrs += [("Accept", "*/*"), ("Connection", "close")]
    hdrs += list(protocol_headers)
    if body or method in ("POST", "PUT", "PATCH"):
        hdrs.append(("Content-Length", str(len(body))))
    hidden = [(k, str(v)) for k, v in endpoint.hidden_headers.items()]
    # protocol headers and the endpoint's hidden ones (e.g. the API server's Authorization) win
    taken = {k.lower() for k, _ in hdrs} | {k.lower() for k, _ in hidden}
    hdrs += [(k, v) for k, v in user if k.lower() not in taken]
    wire = build_request(method, path, hdrs + hidden) + body
    shown = redact_headers(hdrs)
    recorded = "\n".join([f"{method} {redact_url(path)} HTTP/1.1"] + [f"{k}: {v}" for k, v in shown.items()])
    target = request_target(url, endpoint, websocket=ws)
    return RequestPlan(method, path, host_header, endpoint.sni or u.host, target, wire, recorded)


def body_excerpt(body: bytes, limit: int = EXCERPT_CHARS) -> str:
    """A printable excerpt of a body for evidence."""
    text = body[: limit * 2].decode("utf-8", "replace")
    return text[:limit]


def _nginx_page(status: int, h: Mapping[str, str], text: str) -> bool:
    """Did nginx itself write this error page? (Its pages end in "<center>nginx</center>".)

    `Server: nginx` alone proves nothing: nginx replaces the upstream's Server header on every
    proxied response. Only a body-less 502/503/504 (e.g. HEAD) is attributed by the header.
    """
    if "<center>nginx" in text or "<center>openresty" in text:
        return True
    server = h.get("server", "").lower()
    return not text.strip() and status in (502, 503, 504) and server.startswith(("nginx", "openresty"))


def _status_json(text: str) -> dict[str, object] | None:
    s = text.strip()
    if not s.startswith("{"):
        return None
    try:
        doc = json.loads(s)
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def http_signature(status: int, headers: Mapping[str, str], body: bytes) -> str:
    """Who answered, as far as the response tells (pure).

    One of: nginx-default-backend, nginx-no-endpoints, nginx-bad-gateway, nginx-gateway-timeout,
    nginx-error, apiserver-no-endpoints, apiserver-proxy-error, apiserver-status, socketio-error,
    redirect, app.
    """
    h = lower_headers(headers)
    text = body_excerpt(body, 4000)
    doc = _status_json(text)
    if doc is not None and doc.get("kind") == "Status":
        msg = str(doc.get("message", "")).lower()
        if "no endpoints available" in msg:
            return "apiserver-no-endpoints"
        if "error trying to reach service" in msg or "dial tcp" in msg or "connection refused" in msg:
            return "apiserver-proxy-error"
        return "apiserver-status"
    if doc is not None and isinstance(doc.get("code"), int) and "message" in doc and status >= 400:
        return "socketio-error"
    if _nginx_page(status, h, text):
        if status == 404:
            return "nginx-default-backend"
        if status == 503:
            return "nginx-no-endpoints"
        if status == 502:
            return "nginx-bad-gateway"
        if status == 504:
            return "nginx-gateway-timeout"
        if status >= 400:
            return "nginx-error"
    if 300 <= status < 400:
        return "redirect"
    return "app"


def judge_http(status: int, headers: Mapping[str, str], body: bytes) -> tuple[bool, str]:
    """(ok, one plain sentence) for an HTTP response (pure). ok = a 2xx or 3xx answer."""
    h = lower_headers(headers)
    sig = http_signature(status, headers, body)
    text = body_excerpt(body, 4000)
    if sig == "nginx-default-backend":
        return False, ("HTTP 404 from nginx's default backend: the ingress controller has no rule "
                       "for this host and path.")
    if sig == "nginx-no-endpoints":
        return False, ("HTTP 503 Service Temporarily Unavailable from nginx: the ingress has no "
                       "ready endpoint for this backend.")
    if sig == "nginx-bad-gateway":
        return False, ("HTTP 502 Bad Gateway from nginx: it could not connect to the pod, or the "
                       "pod closed the connection (refused, reset, wrong port).")
    if sig == "nginx-gateway-timeout":
        return False, "HTTP 504 Gateway Time-out from nginx: the pod did not answer within the proxy timeout."
    if sig in ("apiserver-no-endpoints", "apiserver-proxy-error", "apiserver-status"):
        doc = _status_json(text) or {}
        msg = str(doc.get("message", "")).strip()
        if sig == "apiserver-no-endpoints":
            return False, f"The API server's service proxy found no ready endpoint: {msg}."
        if sig == "apiserver-proxy-error":
            return False, f"The API server's proxy could not reach the backend: {msg}."
        return False, f"HTTP {status} from the API server: {msg or 'no message'}."
    if sig == "socketio-error":
        doc = _status_json(text) or {}
        return False, f"HTTP {status} from Engine.IO/Socket.IO: {doc.get('message')} (code {doc.get('code')})."
    if 200 <= status < 300:
        return True, f"HTTP {status}: the server answered normally."
    if 300 <= status < 400:
        loc = h.get("location")
        return True, f"HTTP {status} redirect" + (f" to {redact_url(loc)}." if loc else " without a Location.")
    if sig == "nginx-error":
        return False, f"HTTP {status} from nginx."
    low = text.lower()
    if status in (400, 426) and ("token not found in 'upgrade' header" in low
                                 or "token not found in 'connection' header" in low or status == 426):
        return False, (f"HTTP {status}: this is a WebSocket-only endpoint and the request was not a "
                       "WebSocket upgrade.")
    if status >= 500:
        return False, f"HTTP {status}: the server failed to handle the request."
    return False, f"HTTP {status}: the server refused the request."


@dataclass(frozen=True)
class Exchange:
    """One request/response on the wire. `response` is None when `error` (of `error_kind`) says why none came.

    `response.headers` are raw (Set-Cookie included) for callers that must carry cookies on;
    never put them into a result unredacted.
    """

    plan: RequestPlan | None
    response: RawResponse | None
    error: str | None
    detail: str
    elapsed_ms: float
    extra: dict[str, object]
    error_kind: ErrorKind | None = None


async def http_exchange(
    url: str,
    endpoint: Endpoint,
    *,
    headers: Mapping[str, str] = {},  # noqa: B006 - read only
    timeout: float = 5.0,
    max_body: int = 16384,
    method: str = "GET",
    body: bytes = b"",
) -> Exchange:
    """Send one request and read a bounded answer; never raises for a network outcome."""
    start = time.monotonic()
    try:
        plan = plan_request(url, endpoint, method=method.upper(), headers=headers, body=body)
    except ValueError as e:
        return Exchange(None, None, "bad request", f"Cannot probe: {e}.", 0.0, {}, ErrorKind.INVALID_REQUEST)
    extra: dict[str, object] = {"request": plan.recorded, "endpoint": endpoint.label}
    writer: asyncio.StreamWriter | None = None
    try:
        try:
            async with asyncio.timeout(timeout):
                rh = await exchange_head(endpoint, plan.wire, server_hostname=plan.server_hostname,
                                         timeout=timeout, started=start, extra=extra, skip_continue=True)
            writer = rh.writer
            extra["ttfb_ms"] = round(elapsed_ms(start), 1)
            data, truncated = await read_body(rh.reader, rh.headers, max_body=max_body,
                                              deadline=start + timeout, method=plan.method, status=rh.status)
        except (OSError, TimeoutError, EOFError, ValueError, ProtocolError) as e:
            kind, err = classify(e)
            detail = failure_detail(err, endpoint.label, timeout=timeout, waiting_for="an HTTP answer")
            return Exchange(plan, None, err, detail, elapsed_ms(start), extra, kind)
    finally:
        if writer is not None:
            writer.transport.abort()
    return Exchange(plan, RawResponse(rh.http_version, rh.status, rh.reason, rh.headers, data, truncated),
                    None, "", elapsed_ms(start), extra)


async def probe_http(
    url: str,
    endpoint: Endpoint,
    *,
    headers: Mapping[str, str] = {},  # noqa: B006 - read only
    timeout: float = 5.0,
    max_body: int = 16384,
    method: str = "GET",
) -> ProbeResult:
    """Send one request and judge the answer; never raises for a network outcome."""
    ex = await http_exchange(url, endpoint, headers=headers, timeout=timeout, max_body=max_body, method=method)
    return exchange_result(ex, endpoint, url)


def exchange_result(ex: Exchange, endpoint: Endpoint, url: str, kind: str = "http") -> ProbeResult:
    """The ProbeResult for an exchange: judged by judge_http, evidence redacted."""
    target = ex.plan.target if ex.plan is not None else redact_url(url)
    resp = ex.response
    if resp is None:
        return ProbeResult(kind, endpoint.via, target, False, elapsed_ms=ex.elapsed_ms or None, detail=ex.detail,
                           error=ex.error, extra=ex.extra, error_kind=ex.error_kind or ErrorKind.OTHER)
    hmap = lower_headers(resp.headers)
    ok, detail = judge_http(resp.status, hmap, resp.body)
    extra = {**ex.extra,
             "http_version": resp.http_version,
             "reason": resp.reason,
             "response_headers": redact_headers(resp.headers),
             "body_excerpt": body_excerpt(resp.body),
             "body_truncated": resp.body_truncated,
             "answered_by": http_signature(resp.status, hmap, resp.body)}
    return ProbeResult(kind, endpoint.via, target, ok, status_code=resp.status, elapsed_ms=ex.elapsed_ms,
                       detail=detail, error=None, extra=extra, error_kind=None if ok else ErrorKind.HTTP_STATUS)
