"""WebSocket probe: an RFC 6455 §4.1 opening handshake on a raw stream, judged by a pure function."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kdiag.endpoint import Endpoint
from kdiag.model import ProbeResult
from kdiag.outcomes import ErrorKind, HandshakeCase
from kdiag.probes.base import (
    ProtocolError,
    classify,
    elapsed_ms,
    failure_detail,
)
from kdiag.probes.http import RequestPlan, body_excerpt, http_signature, plan_request
from kdiag.probes.http1 import exchange_head, lower_headers, read_body
from kdiag.probes.wsframe import (
    OP_CLOSE,
    accept_for,
    close_payload,
    encode_frame,
    new_key,
    read_frame,
)
from kdiag.redaction import redact_headers, redact_url

__all__ = [
    "HandshakeJudgement",
    "WebSocketSession",
    "close_politely",
    "judge_handshake",
    "open_websocket",
    "probe_websocket",
]

# Body texts of servers that got a plain GET instead of an upgrade (a proxy dropped the headers).
_DROPPED_SIGNS = (
    "token not found in 'upgrade' header",  # gorilla/websocket
    "token not found in 'connection' header",  # gorilla/websocket
    "missing or invalid upgrade header",  # node ws
    "invalid upgrade header",  # node ws
    "missing upgrade header",  # python websockets
    "invalid upgrade header",
    "missing connection header",  # python websockets
    "invalid connection header",  # python websockets
    'can "upgrade" only to "websocket"',  # spring
    "not a websocket handshake",
    "not a valid websocket handshake",
)


@dataclass(frozen=True)
class HandshakeJudgement:
    """The verdict on one opening handshake (pure data); `case` says how it ended."""

    ok: bool
    case: HandshakeCase
    detail: str
    expected_accept: str
    received_accept: str | None = None
    subprotocol: str | None = None
    answered_by: str = "app"


def judge_handshake(
    key: str,
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    offered_subprotocols: Sequence[str] = (),
) -> HandshakeJudgement:
    """Judge a handshake answer to a request that sent `key` (pure; RFC 6455 §4.1/§4.2.2)."""
    h = lower_headers(headers)
    expected = accept_for(key)
    got = h.get("sec-websocket-accept")
    proto = h.get("sec-websocket-protocol")
    sig = http_signature(status, h, body)
    text = body_excerpt(body, 4000).lower()

    C = HandshakeCase

    def j(ok: bool, case: HandshakeCase, detail: str) -> HandshakeJudgement:
        return HandshakeJudgement(ok, case, detail, expected, got, proto, sig)

    if status == 101:
        upgrade_ok = "websocket" in [t.strip().lower() for t in h.get("upgrade", "").split(",")]
        conn_ok = "upgrade" in [t.strip().lower() for t in h.get("connection", "").split(",")]
        if not upgrade_ok or not conn_ok:
            missing = [n for n, good in (("Upgrade: websocket", upgrade_ok), ("Connection: Upgrade", conn_ok))
                       if not good]
            return j(False, C.UPGRADE_HEADERS_MISSING,
                     f"101 Switching Protocols but without {' and '.join(missing)}: not a valid WebSocket answer.")
        if got is None:
            return j(False, C.ACCEPT_MISMATCH, "101 Switching Protocols without Sec-WebSocket-Accept.")
        if got.strip() != expected:
            return j(False, C.ACCEPT_MISMATCH,
                     f"101 Switching Protocols with a wrong Sec-WebSocket-Accept ({got.strip()!r}, "
                     f"expected {expected!r}): something rewrote the handshake.")
        if proto and proto.strip() not in offered_subprotocols:
            return j(False, C.SUBPROTOCOL_NOT_OFFERED,
                     f"The server chose subprotocol {proto.strip()!r}, which the client did not offer.")
        return j(True, C.OK, "101 Switching Protocols: the WebSocket handshake succeeded.")
    if any(s in text for s in _DROPPED_SIGNS) or (sig == "socketio-error" and '"bad request"' in text):
        return j(False, C.UPGRADE_HEADER_DROPPED,
                 f"HTTP {status}: the server saw a plain request without the Upgrade/Connection headers; "
                 "a proxy in front of it probably does not forward them.")
    if status == 426:
        return j(False, C.UPGRADE_REQUIRED,
                 "HTTP 426 Upgrade Required: the server speaks only WebSocket and did not receive an "
                 "upgrade request (the Upgrade header was lost on the way, or plain HTTP was sent).")
    if status in (502, 503, 504) or sig.startswith(("nginx-", "apiserver-")):
        if sig == "nginx-default-backend":
            return j(False, C.NOT_FOUND,
                     "HTTP 404 from nginx's default backend: no Ingress rule matches this host and path.")
        what = {
            "nginx-no-endpoints": "nginx has no ready endpoint for this backend",
            "nginx-bad-gateway": "nginx could not connect to the pod or lost the connection",
            "nginx-gateway-timeout": "nginx timed out waiting for the pod",
            "apiserver-no-endpoints": "the API server's service proxy found no ready endpoint",
            "apiserver-proxy-error": "the API server's proxy could not reach the backend",
        }.get(sig, "a proxy in front of the server failed")
        return j(False, C.PROXY_ERROR, f"HTTP {status} instead of 101: {what}.")
    if status == 400:
        return j(False, C.BAD_REQUEST, "HTTP 400 Bad Request: the server rejected the WebSocket handshake.")
    if status == 401:
        return j(False, C.UNAUTHORIZED, "HTTP 401: the WebSocket endpoint requires authentication.")
    if status == 403:
        origin = " (Origin not allowed)" if "origin" in text else ""
        return j(False, C.FORBIDDEN, f"HTTP 403 Forbidden{origin}: the server refused the WebSocket handshake.")
    if status == 404:
        return j(False, C.NOT_FOUND, "HTTP 404: nothing serves WebSocket on this path.")
    if status == 405:
        return j(False, C.METHOD_NOT_ALLOWED, "HTTP 405: the server does not accept GET here.")
    if 200 <= status < 300:
        return j(False, C.UPGRADE_IGNORED,
                 f"HTTP {status} instead of 101: the server answered as plain HTTP and ignored the upgrade "
                 "(not a WebSocket endpoint, or the Upgrade header was stripped).")
    if 300 <= status < 400:
        loc = h.get("location")
        return j(False, C.REDIRECT, f"HTTP {status} redirect" + (f" to {redact_url(loc)}" if loc else "")
                 + " instead of 101 (browsers do not follow redirects for WebSockets).")
    if status >= 500:
        return j(False, C.SERVER_ERROR, f"HTTP {status}: the server failed instead of upgrading.")
    return j(False, C.UNEXPECTED_STATUS, f"HTTP {status} instead of 101 Switching Protocols.")


@dataclass
class WebSocketSession:
    """An opening handshake's outcome; `reader`/`writer` are open only when `result.ok`."""

    result: ProbeResult
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    started: float = field(default_factory=time.monotonic)

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.transport.abort()
            self.writer = None


def _ws_headers(key: str, origin: str | None, subprotocols: Sequence[str]) -> list[tuple[str, str]]:
    hs = [("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Key", key),
          ("Sec-WebSocket-Version", "13")]
    if origin:
        hs.append(("Origin", origin))
    if subprotocols:
        hs.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    return hs


async def open_websocket(
    url: str,
    endpoint: Endpoint,
    *,
    headers: Mapping[str, str] = {},  # noqa: B006 - read only
    timeout: float = 5.0,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
    kind: str = "websocket",
) -> WebSocketSession:
    """Do the handshake; on success the stream stays open in the session (caller must abort())."""
    start = time.monotonic()
    key = new_key()
    try:
        plan: RequestPlan = plan_request(url, endpoint, headers=headers, ws=True,
                                         protocol_headers=_ws_headers(key, origin, subprotocols))
    except ValueError as e:
        return WebSocketSession(ProbeResult(kind, endpoint.via, redact_url(url), False,
                                            detail=f"Cannot probe: {e}.", error="bad request",
                                            error_kind=ErrorKind.INVALID_REQUEST), started=start)
    extra: dict[str, object] = {"request": plan.recorded, "endpoint": endpoint.label}
    try:
        async with asyncio.timeout(timeout):
            rh = await exchange_head(endpoint, plan.wire, server_hostname=plan.server_hostname,
                                     timeout=timeout, started=start, extra=extra)
    except (OSError, TimeoutError, EOFError, ValueError, ProtocolError) as e:
        error_kind, err = classify(e)
        detail = failure_detail(err, endpoint.label, timeout=timeout, waiting_for="a handshake answer")
        return WebSocketSession(ProbeResult(kind, endpoint.via, plan.target, False,
                                            elapsed_ms=elapsed_ms(start), detail=detail, error=err,
                                            extra=extra, error_kind=error_kind), started=start)
    reader, writer, version, status, reason, head = (rh.reader, rh.writer, rh.http_version, rh.status,
                                                     rh.reason, rh.headers)
    hmap = lower_headers(head)
    body = b""
    if status != 101:
        # Bounded: the status is known; do not wait long for a body that may never end.
        deadline = min(start + timeout, time.monotonic() + 1.0)
        body, _ = await read_body(reader, head, max_body=8192, deadline=deadline, status=status)
    judgement = judge_handshake(key, status, hmap, body, offered_subprotocols=subprotocols)
    extra.update({
        "http_version": version,
        "reason": reason,
        "response_headers": redact_headers(head),
        "body_excerpt": body_excerpt(body),
        "case": judgement.case.value,
        "answered_by": judgement.answered_by,
        "expected_accept": judgement.expected_accept,
        "received_accept": judgement.received_accept,
        "subprotocol": judgement.subprotocol,
    })
    result = ProbeResult(kind, endpoint.via, plan.target, judgement.ok, status_code=status,
                         elapsed_ms=elapsed_ms(start), detail=judgement.detail,
                         error=None if judgement.ok else f"handshake: {judgement.case.value}", extra=extra,
                         error_kind=None if judgement.ok else ErrorKind.HANDSHAKE)
    if not judgement.ok:
        writer.transport.abort()
        return WebSocketSession(result, started=start)
    return WebSocketSession(result, reader, writer, started=start)


async def close_politely(session: WebSocketSession, *, code: int = 1000, wait: float = 0.5) -> None:
    """Send a close frame and wait briefly for the peer's, then drop the connection."""
    reader, writer = session.reader, session.writer
    if reader is None or writer is None:
        return
    try:
        writer.write(encode_frame(OP_CLOSE, close_payload(code, ""), mask=True))
        async with asyncio.timeout(wait):
            await writer.drain()
            while True:
                frame = await read_frame(reader, max_size=1 << 16)
                if frame.opcode == OP_CLOSE:
                    break
    except (OSError, TimeoutError, EOFError, ProtocolError):
        pass
    finally:
        session.abort()


async def probe_websocket(
    url: str,
    endpoint: Endpoint,
    *,
    headers: Mapping[str, str] = {},  # noqa: B006 - read only
    timeout: float = 5.0,
    origin: str | None = None,
    subprotocols: Sequence[str] = (),
) -> ProbeResult:
    """Open a WebSocket (handshake only), close it cleanly, and report; never raises for a network outcome."""
    session = await open_websocket(url, endpoint, headers=headers, timeout=timeout, origin=origin,
                                   subprotocols=subprotocols)
    try:
        if session.writer is not None:
            await close_politely(session)
    finally:
        session.abort()
    return session.result
