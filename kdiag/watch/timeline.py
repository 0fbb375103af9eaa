"""What `kdiag watch` records: one timeline of traffic outcomes and cluster changes.

`WatchEvent` is one line of it (the JSON report's `watch.events`); `Recorder` collects events and
the figures (requests sent/failed/by status, connections opened/dropped/close codes) and the
per-second samples the live view draws. Everything here is plain data; the traffic generator
and the API watchers write into a Recorder from one event loop.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CLEAN_CLOSE_CODES", "FAILURE_KINDS", "Recorder", "Sample", "WatchEvent"]

#: Event kinds that are failures of the traffic (the rest are cluster changes or notes).
FAILURE_KINDS = frozenset({"request-failed", "connection-dropped"})
#: WebSocket close codes of an orderly close (normal, going away): not a drop.
CLEAN_CLOSE_CODES = frozenset({1000, 1001})


@dataclass(frozen=True)
class WatchEvent:
    """One thing that happened, `t` seconds after the watch began."""

    t: float
    kind: str  # request-failed | connection-dropped | connection-closed | pod-* | endpoint-* | replicaset-*
    object: str  # "Pod ns/name", "EndpointSlice ns/name", "WebSocket #2", "GET /path"
    detail: str
    pod: str | None = None  # "ns/name": the pod it is about, or the backend a request went to
    address: str | None = None  # the backend address (ip:port) the data plane named
    status: int | None = None  # HTTP status or WebSocket close code
    ready: int | None = None  # ready endpoints of the Service after an endpoint change

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"t": round(self.t, 2), "kind": self.kind, "object": self.object,
                             "detail": self.detail}
        for key in ("pod", "address", "status", "ready"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> WatchEvent:
        def opt_int(v: Any) -> int | None:
            return v if isinstance(v, int) and not isinstance(v, bool) else None

        return cls(t=float(d.get("t") or 0.0), kind=str(d.get("kind") or ""), object=str(d.get("object") or ""),
                   detail=str(d.get("detail") or ""), pod=d.get("pod") if isinstance(d.get("pod"), str) else None,
                   address=d.get("address") if isinstance(d.get("address"), str) else None,
                   status=opt_int(d.get("status")), ready=opt_int(d.get("ready")))

    @property
    def failure(self) -> bool:
        return self.kind in FAILURE_KINDS


@dataclass
class Sample:
    """One second of the live view."""

    requests: int = 0
    errors: int = 0
    held: int = 0
    endpoints: int | None = None


@dataclass
class Recorder:
    """The timeline and its figures; `now()` is the caller's clock (seconds since start)."""

    events: list[WatchEvent] = field(default_factory=list)
    sent: int = 0
    failed: int = 0
    by_status: Counter[str] = field(default_factory=Counter)
    opened: int = 0
    dropped: int = 0
    close_codes: Counter[str] = field(default_factory=Counter)
    held: int = 0
    ready_endpoints: int | None = None
    samples: list[Sample] = field(default_factory=list)
    #: Pods as last seen ("ns/name" -> object), deleted ones included (attribution reads specs).
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Backend addresses ("ip:port" and "ip") -> pod "ns/name", from the EndpointSlices.
    addresses: dict[str, str] = field(default_factory=dict)
    #: Called with every event added (progress lines, the live view).
    on_add: Callable[[WatchEvent], None] | None = None

    def sample(self, t: float) -> Sample:
        second = max(0, int(t))
        while len(self.samples) <= second:
            self.samples.append(Sample(held=self.held, endpoints=self.ready_endpoints))
        return self.samples[second]

    def add(self, event: WatchEvent) -> None:
        self.events.append(event)
        if self.on_add is not None:
            self.on_add(event)
        if event.ready is not None:
            self.ready_endpoints = event.ready
            self.sample(event.t).endpoints = event.ready

    def request(self, t: float, status: int | None, *, ok: bool, event: WatchEvent | None = None) -> None:
        self.sent += 1
        self.by_status[str(status) if status is not None else "no-answer"] += 1
        s = self.sample(t)
        s.requests += 1
        if not ok:
            self.failed += 1
            s.errors += 1
            if event is not None:
                self.add(event)

    def connection_opened(self, t: float) -> None:
        self.opened += 1
        self.held += 1
        self.sample(t).held = self.held

    def connection_closed(self, t: float, code: int, event: WatchEvent) -> None:
        self.held = max(0, self.held - 1)
        self.close_codes[str(code)] += 1
        s = self.sample(t)
        s.held = self.held
        if code not in CLEAN_CLOSE_CODES:
            self.dropped += 1
            s.errors += 1
        self.add(event)

    def pod_of(self, address: str | None) -> str | None:
        """The pod behind a backend address ("ip:port", or a list of them: the last one)."""
        if not address:
            return None
        last = address.split(",")[-1].strip()
        return self.addresses.get(last) or self.addresses.get(last.rsplit(":", 1)[0])

    def section(self, *, duration: float, rate: float) -> dict[str, Any]:
        """The JSON report's `watch` section."""
        return {
            "duration_s": round(duration, 1),
            "rate": rate,
            "requests": {"sent": self.sent, "failed": self.failed, "by_status": dict(sorted(self.by_status.items()))},
            "connections": {"opened": self.opened, "dropped": self.dropped,
                            "close_codes": dict(sorted(self.close_codes.items()))},
            "events": [e.to_dict() for e in sorted(self.events, key=lambda e: e.t)],
        }
