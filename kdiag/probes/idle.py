"""Idle probe: open a WebSocket, stay silent, and record whether, when and how it gets closed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping

from kdiag.endpoint import Endpoint
from kdiag.model import ProbeResult
from kdiag.outcomes import ErrorKind
from kdiag.probes.base import ProtocolError, classify, elapsed_ms
from kdiag.probes.websocket import close_politely, open_websocket
from kdiag.probes.wsframe import (
    CLOSE_CODES,
    OP_CLOSE,
    OP_PING,
    OP_PONG,
    close_payload,
    encode_frame,
    parse_close,
    read_frame,
)

__all__ = ["idle_margin", "probe_idle"]


def idle_margin(idle: float) -> float:
    """Extra seconds to wait past `idle`, so a proxy closing at exactly `idle` s is still seen."""
    return min(2.0, 0.25 + idle * 0.02)


async def probe_idle(
    url: str,
    endpoint: Endpoint,
    *,
    idle: float,
    headers: Mapping[str, str] = {},  # noqa: B006 - read only
    timeout: float = 5.0,
    origin: str | None = None,
) -> ProbeResult:
    """Handshake, then send nothing (no pings) for `idle` s (+ a margin); ok = still open.

    Server pings are answered (RFC 6455 requires it). Cancelling the task stops it at once.
    """
    session = await open_websocket(url, endpoint, headers=headers, timeout=timeout, origin=origin,
                                   kind="idle")
    hs = session.result
    if session.reader is None or session.writer is None:
        return ProbeResult("idle", hs.via, hs.target, False, status_code=hs.status_code,
                           elapsed_ms=hs.elapsed_ms, detail=f"Handshake failed, idle test not run: {hs.detail}",
                           error=hs.error, extra={**hs.extra, "idle_s": idle}, error_kind=hs.error_kind)
    reader, writer = session.reader, session.writer
    waited = idle + idle_margin(idle)
    opened = time.monotonic()
    deadline = opened + waited
    messages = pings = 0
    last_message: float | None = None
    close_code: int | None = None
    close_reason = ""
    closed_by: str | None = None
    reset = False
    closed_at: float | None = None
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                async with asyncio.timeout(remaining):
                    frame = await read_frame(reader, max_size=1 << 20)
            except TimeoutError:
                break
            except (OSError, EOFError, ProtocolError) as e:
                closed_at = time.monotonic()
                closed_by, close_code = "drop", 1006
                reset = classify(e).kind == ErrorKind.RESET
                if isinstance(e, ProtocolError):
                    closed_by = "protocol-error"
                break
            if frame.opcode == OP_CLOSE:
                closed_at = time.monotonic()
                close_code, close_reason = parse_close(frame.payload)
                closed_by = "close-frame"
                try:
                    writer.write(encode_frame(OP_CLOSE, close_payload(close_code if close_code != 1005 else None),
                                              mask=True))
                    await asyncio.wait_for(writer.drain(), 0.5)
                except (OSError, TimeoutError):
                    pass
                break
            if frame.opcode == OP_PING:
                pings += 1
                try:
                    writer.write(encode_frame(OP_PONG, frame.payload, mask=True))
                    await asyncio.wait_for(writer.drain(), 1.0)
                except (OSError, TimeoutError):
                    pass
            elif frame.opcode != OP_PONG:
                messages += 1
                last_message = time.monotonic() - opened
        closed_after = None if closed_at is None else round(closed_at - opened, 2)
        if closed_by is None:
            await close_politely(session)
    finally:
        session.abort()
    extra = {**hs.extra, "idle_s": idle, "waited_s": round(waited, 2), "closed_after_s": closed_after,
             "close_code": close_code, "close_reason": close_reason or None, "closed_by": closed_by,
             "messages_received": messages, "pings_received": pings,
             "last_message_after_s": None if last_message is None else round(last_message, 2)}
    if closed_by is None:
        note = ""
        if last_message is not None and last_message >= 1.0:
            note = (f" (the server sent {messages} message(s), the last after {last_message:.1f} s; server "
                    "traffic resets proxies' idle timers, so this was not a pure idle test)")
        elif pings:
            note = f" (the server sent {pings} ping(s), which keep proxies' idle timers from firing)"
        return ProbeResult("idle", hs.via, hs.target, True, status_code=101, elapsed_ms=elapsed_ms(session.started),
                           detail=f"Still open after {waited:.1f} s without traffic from the client{note}.",
                           extra=extra)
    if closed_by == "close-frame":
        meaning = CLOSE_CODES.get(close_code or 0, "")
        reason = f" {close_reason!r}" if close_reason else ""
        detail = (f"Closed by the other side after {closed_after:.1f} s of silence with close frame "
                  f"{close_code}{' (' + meaning + ')' if meaning else ''}{reason}.")
        error, kind = f"closed: {close_code}", ErrorKind.CLOSED
    elif closed_by == "protocol-error":
        detail = f"The other side sent an invalid frame after {closed_after:.1f} s."
        error, kind = "protocol error", ErrorKind.BAD_RESPONSE
    else:
        how = "reset" if reset else "dropped"
        detail = (f"The connection was {how} without a close frame (1006) after {closed_after:.1f} s of "
                  "silence: typically a proxy or load-balancer idle timeout.")
        error = "closed: 1006 (no close frame)"
        kind = ErrorKind.RESET if reset else ErrorKind.CLOSED
    return ProbeResult("idle", hs.via, hs.target, False, status_code=101, elapsed_ms=elapsed_ms(session.started),
                       detail=detail, error=error, extra=extra, error_kind=kind)
