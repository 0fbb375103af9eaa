"""The traffic side of `kdiag watch`: steady, bounded requests through the ingress hop and N
WebSockets held open, every outcome recorded in a `Recorder`.

- Requests: one every 1/rate s (never more; when `MAX_IN_FLIGHT` are still waiting, the tick is
  skipped, not queued). HTTP URLs send GETs; ws(s) URLs open a WebSocket and close it politely.
  Failed = no answer, a 5xx, or (WebSocket) any answer but 101.
- Held WebSockets: each pings every `PING_EVERY` s; a close frame or a cut ends it (1000/1001 are
  orderly closes, anything else — 1006 when the connection ends without a close frame — is a
  drop); it is reopened after a short pause until the watch ends.
- The backend: the data plane's upstream-address response header when it sets one (the last
  address it names answered; a failure names every address tried).
It reuses the probes' HTTP/1.1 and RFC 6455 code; nothing here retries a failed request.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.endpoint import Endpoint
from kdiag.watch.timeline import CLEAN_CLOSE_CODES, Recorder, WatchEvent

__all__ = ["MAX_IN_FLIGHT", "PING_EVERY", "UPSTREAM_HEADERS", "Traffic", "upstream_of"]

MAX_IN_FLIGHT = 32
PING_EVERY = 0.5
#: Response headers data planes use to name the upstream (lowercase); the lab sets the first.
UPSTREAM_HEADERS = ("x-upstream-addr", "x-upstream-address", "x-upstream", "x-backend-address")


def upstream_of(headers: Any) -> str | None:
    """The upstream address header's value from (name, value) pairs or a mapping, if any."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers or ()
    for item in pairs:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if str(name).lower() in UPSTREAM_HEADERS and value:
            return str(value)
    return None


@dataclass
class Traffic:
    """Drive traffic at `url` through `endpoint` until `stop` is set or `seconds` have passed."""

    url: str
    endpoint: Endpoint
    recorder: Recorder
    clock: Callable[[], float]  # seconds since the watch began
    websocket: bool
    rate: float = 20.0
    connections: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    _in_flight: int = 0
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    async def run(self, seconds: float) -> None:
        held = [asyncio.create_task(self._hold(i + 1)) for i in range(self.connections)]
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._tick()
        finally:
            self.stop.set()
            await asyncio.gather(*held, return_exceptions=True)
            if self._tasks:
                await asyncio.wait(self._tasks, timeout=self.timeout + 1.0)
            for t in self._tasks:
                t.cancel()

    async def _tick(self) -> None:
        if self.rate <= 0:
            await self.stop.wait()
            return
        interval = 1.0 / self.rate
        start = time.monotonic()
        n = 0
        while not self.stop.is_set():
            if self._in_flight < MAX_IN_FLIGHT:
                task = asyncio.create_task(self._one())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            n += 1
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self.stop.wait()

    async def _one(self) -> None:
        from kdiag.probes.http import http_exchange
        from kdiag.probes.websocket import close_politely, open_websocket

        self._in_flight += 1
        try:
            what = f"{'WebSocket' if self.websocket else 'GET'} {self.url}"
            if self.websocket:
                session = await open_websocket(self.url, self.endpoint, headers=self.headers, timeout=self.timeout)
                try:
                    result = session.result
                    status = result.status_code
                    upstream = upstream_of((result.extra or {}).get("response_headers") or ())
                    ok = status == 101
                    error = result.error or result.detail
                    if session.writer is not None:
                        await close_politely(session, wait=0.2)
                finally:
                    session.abort()
            else:
                ex = await http_exchange(self.url, self.endpoint, headers=self.headers, timeout=self.timeout,
                                         max_body=4096)
                status = ex.response.status if ex.response is not None else None
                upstream = upstream_of(ex.response.headers) if ex.response is not None else None
                ok = status is not None and status < 500
                error = ex.error or ex.detail
            t = self.clock()
            event = None
            if not ok:
                why = f"HTTP {status}" if status is not None else f"no answer: {error}"
                via = f" (upstream {upstream})" if upstream else ""
                event = WatchEvent(t, "request-failed", what, f"{why}{via}", pod=self.recorder.pod_of(upstream),
                                   address=upstream, status=status)
            self.recorder.request(t, status, ok=ok, event=event)
        finally:
            self._in_flight -= 1

    async def _hold(self, n: int) -> None:
        from kdiag.probes.websocket import close_politely, open_websocket

        name = f"WebSocket #{n}"
        while not self.stop.is_set():
            session = await open_websocket(self.url, self.endpoint, headers=self.headers, timeout=self.timeout)
            if session.writer is None or session.reader is None:
                t = self.clock()
                status = session.result.status_code
                self.recorder.add(WatchEvent(t, "connection-failed", name,
                                             f"could not open: {session.result.detail or session.result.error}",
                                             status=status))
                await self._pause(1.0)
                continue
            upstream = upstream_of((session.result.extra or {}).get("response_headers") or ())
            opened_at = self.clock()
            self.recorder.connection_opened(opened_at)
            code, reason = await self._keep(session)
            if code is None:  # we ended it: the watch is over
                await close_politely(session, wait=0.3)
                self.recorder.held = max(0, self.recorder.held - 1)
                return
            session.abort()
            t = self.clock()
            pod = self.recorder.pod_of(upstream)
            via = f" (upstream {upstream})" if upstream else ""
            kind = "connection-closed" if code in CLEAN_CLOSE_CODES else "connection-dropped"
            what = "closed" if code in CLEAN_CLOSE_CODES else "dropped"
            self.recorder.connection_closed(t, code, WatchEvent(
                t, kind, name, f"{what} with {code}{f' {reason}' if reason else ''} after {t - opened_at:.1f} s{via}",
                pod=pod, address=upstream, status=code))
            await self._pause(0.2)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self.stop.wait()

    async def _keep(self, session: Any) -> tuple[int | None, str]:
        """Ping until the peer closes (its code) or the connection is cut (1006); None when stopped."""
        from kdiag.probes.base import ProtocolError
        from kdiag.probes.wsframe import OP_CLOSE, OP_PING, encode_frame, parse_close, read_frame

        reader, writer = session.reader, session.writer
        while not self.stop.is_set():
            try:
                writer.write(encode_frame(OP_PING, b"kdiag", mask=True))
                await writer.drain()
                async with asyncio.timeout(PING_EVERY):
                    while True:
                        frame = await read_frame(reader, max_size=1 << 16)
                        if frame.opcode == OP_CLOSE:
                            code, reason = parse_close(frame.payload)
                            return code, reason
            except TimeoutError:
                continue
            except (OSError, EOFError, ProtocolError):
                return 1006, "(no close frame)"
        return None, ""
