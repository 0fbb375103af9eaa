"""Socket.IO stickiness probe: one Engine.IO v4 polling session, followed up like a browser would.

Long-polling sends several HTTP requests per session; they must all reach the pod that opened it
(sticky sessions), or the server answers 400 {"code":1,"message":"Session ID unknown"}. The probe
opens a session, then POSTs `polls` no-op packets with the sid (carrying any cookies the first
answer set, e.g. ingress-nginx's affinity cookie) and counts the "Session ID unknown" answers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from urllib.parse import urlencode

from kdiag.endpoint import Endpoint
from kdiag.model import ProbeResult
from kdiag.outcomes import ErrorKind
from kdiag.probes.base import elapsed_ms, parse_url
from kdiag.probes.http import exchange_result, http_exchange
from kdiag.redaction import redact_url

__all__ = ["judge_followups", "parse_open_packet", "polling_url", "probe_socketio"]


def polling_url(url: str, sid: str | None = None) -> str:
    """The Engine.IO v4 polling URL for a Socket.IO URL (ws/wss become http/https; path kept)."""
    u = parse_url(url)
    scheme = {"ws": "http", "wss": "https"}.get(u.scheme, u.scheme)
    path = u.path.split("?", 1)[0]
    if path in ("", "/"):
        path = "/socket.io/"
    q = {"EIO": "4", "transport": "polling"}
    if sid:
        q["sid"] = sid
    return f"{scheme}://{u.authority}{path}?{urlencode(q)}"


def parse_open_packet(body: bytes) -> dict[str, object] | None:
    """The handshake data of an Engine.IO open packet ('0{...}'), or None (pure)."""
    text = body.decode("utf-8", "replace").strip()
    if not text.startswith("0{"):
        return None
    try:
        data = json.loads(text[1:])
    except ValueError:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("sid"), str) else None


def judge_followups(statuses: list[int | None], bodies: list[bytes]) -> tuple[bool, str, str | None]:
    """(ok, detail, error) for the follow-up requests of one session (pure)."""
    unknown = sum(1 for b in bodies if b"Session ID unknown" in b)
    failed = sum(1 for s in statuses if s != 200)
    n = len(statuses)
    if unknown:
        return False, (f"{unknown} of {n} follow-up requests of one Socket.IO session got \"Session ID unknown\": "
                       "they reached a different replica. Enable sticky sessions (cookie affinity) or use "
                       "the websocket transport only."), "socketio: session not sticky"
    if failed:
        return False, f"{failed} of {n} follow-up requests of one Socket.IO session failed.", "socketio: follow-up failed"
    return True, f"All {n} follow-up requests of one Socket.IO session reached the same replica.", None


def _cookies(headers: tuple[tuple[str, str], ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in headers:
        if k.lower() == "set-cookie":
            pair = v.split(";", 1)[0]
            if "=" in pair:
                name, _, value = pair.partition("=")
                out[name.strip()] = value.strip()
    return out


async def probe_socketio(
    url: str,
    endpoint: Endpoint,
    *,
    headers: Mapping[str, str] = {},  # noqa: B006 - read only
    timeout: float = 5.0,
    polls: int = 4,
) -> ProbeResult:
    """Open an Engine.IO polling session and follow it up `polls` times; ok = every follow-up was served.

    The result's kind is "http"; `extra["probe"] == "socketio-sticky"`. Session ids and cookie
    values are never recorded.
    """
    start = time.monotonic()
    try:
        open_url = polling_url(url)
    except ValueError as e:
        return ProbeResult("http", endpoint.via, redact_url(url), False, detail=f"Cannot probe: {e}.",
                           error="bad request", extra={"probe": "socketio-sticky"},
                           error_kind=ErrorKind.INVALID_REQUEST)
    ex = await http_exchange(open_url, endpoint, headers=headers, timeout=timeout)
    first = exchange_result(ex, endpoint, open_url)
    info = parse_open_packet(ex.response.body) if ex.response is not None else None
    base = {**first.extra, "probe": "socketio-sticky"}
    if info is None or ex.response is None:
        detail = first.detail if not first.ok else "The answer is not an Engine.IO v4 open packet: no Socket.IO server here."
        return ProbeResult("http", first.via, first.target, False, status_code=first.status_code,
                           elapsed_ms=elapsed_ms(start), detail=detail,
                           error=first.error or "socketio: no open packet", extra=base,
                           error_kind=first.error_kind or ErrorKind.BAD_RESPONSE)
    sid = str(info["sid"])
    cookies = _cookies(ex.response.headers)
    user_cookie = next((v for k, v in headers.items() if k.lower() == "cookie"), None)
    jar = "; ".join(([user_cookie] if user_cookie else []) + [f"{k}={v}" for k, v in cookies.items()])
    follow_headers = {k: v for k, v in headers.items() if k.lower() != "cookie"}
    if jar:
        follow_headers["Cookie"] = jar
    follow_headers["Content-Type"] = "text/plain;charset=UTF-8"
    statuses: list[int | None] = []
    bodies: list[bytes] = []
    for _ in range(max(1, polls)):
        fx = await http_exchange(polling_url(url, sid), endpoint, headers=follow_headers, timeout=timeout,
                                 method="POST", body=b"6")
        statuses.append(fx.response.status if fx.response is not None else None)
        bodies.append(fx.response.body if fx.response is not None else b"")
    # close the session politely (a close packet); the answer does not matter
    await http_exchange(polling_url(url, sid), endpoint, headers=follow_headers, timeout=min(timeout, 2.0),
                        method="POST", body=b"1")
    ok, detail, error = judge_followups(statuses, bodies)
    extra = {**base, "followup_statuses": statuses, "affinity_cookies": sorted(cookies),
             "upgrades": info.get("upgrades"), "ping_interval_ms": info.get("pingInterval")}
    return ProbeResult("http", first.via, first.target, ok, status_code=first.status_code,
                       elapsed_ms=elapsed_ms(start), detail=detail, error=error, extra=extra,
                       error_kind=None if ok else ErrorKind.SESSION)
