"""What a front end (the TUI, the CLI) needs from a diagnosis backend, as a small protocol.

A `Session` is bound to one source (a cluster context + namespace, manifests, or a saved
report). It lists routes, and walks one target at a time, streaming `kdiag.events` events.
`kdiag.diagnose` provides the real implementations; tests may provide fakes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from kdiag.events import WalkEvent

__all__ = ["RouteEvent", "RouteJudged", "RouteRow", "RoutesFound", "Session", "SessionInfo", "WalkRequest",
           "SYMPTOMS", "Symptom", "stream_routes"]


@dataclass(frozen=True)
class SessionInfo:
    source_kind: str  # "cluster" | "manifests" | "report" | "demo"
    context: str | None = None
    namespace: str | None = None
    contexts: tuple[str, ...] = ()  # contexts the kubeconfig offers (for switching)
    namespaces: tuple[str, ...] = ()
    title: str = ""  # e.g. demo scenario title
    read_only: bool = False  # a saved report: no rerun


@dataclass(frozen=True)
class RouteRow:
    """One line of the route list: an Ingress rule path and where it leads."""

    url: str  # e.g. "https://chatapp.com/wss" (ws:// for WebSocket-looking routes)
    ingress: str  # "ns/name"
    host: str
    path: str
    path_type: str
    service: str  # "ns/name:port"
    pods_ready: str  # "2/3", "0/0"
    status: str  # "ok" | "warn" | "fail" from the static checks on this route
    websocket: bool = False
    note: str = ""  # the most important static finding, one line
    #: Headers a walk of this row sends (e.g. the header that selects a canary Ingress).
    headers: Mapping[str, str] = field(default_factory=dict)


#: The status of a streamed row whose static verdict is not computed yet.
PENDING = "pending"


@dataclass(frozen=True)
class RoutesFound:
    """The route list (again): every row, the cheap columns at least (status may be PENDING)."""

    rows: tuple[RouteRow, ...]


@dataclass(frozen=True)
class RouteJudged:
    """Row `index` of the last RoutesFound, now with its static verdict, pods and note."""

    index: int
    row: RouteRow


RouteEvent = RoutesFound | RouteJudged


@dataclass(frozen=True)
class WalkRequest:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    client_url: str | None = None
    page_url: str | None = None
    idle: float | None = None  # seconds; None = no idle probe
    symptom: str | None = None  # a key of SYMPTOMS when started from a symptom
    method: str | None = None  # `-X/--method` (HTTPRoute method matches); None = GET


@dataclass(frozen=True)
class Symptom:
    key: str
    label: str
    hint: str  # what kdiag will do, one line
    websocket: bool = False
    idle: float | None = None  # idle probe seconds to run


SYMPTOMS: tuple[Symptom, ...] = (
    Symptom("page", "The page does not load", "HTTP walk of every hop, TLS and DNS included"),
    Symptom("404", "404 Not Found", "which Ingress rule (if any) matches host and path"),
    Symptom("502", "502 Bad Gateway", "does the pod listen on the port the Service targets?"),
    Symptom("503", "503 Service Unavailable", "are there ready endpoints behind the Service?"),
    Symptom("504", "504 Gateway Timeout", "is the pod slow, or a timeout too short?"),
    Symptom("ws-connect", "WebSocket does not connect", "the 101 handshake at every hop",
            websocket=True),
    Symptom("ws-drops", "WebSocket drops after a while", "hold an idle WebSocket open at every hop",
            websocket=True, idle=65.0),
    Symptom("deploys", "Errors during deploys", "readiness, graceful shutdown and PID 1 checks"),
)


@runtime_checkable
class Session(Protocol):
    def info(self) -> SessionInfo: ...

    async def routes(self) -> list[RouteRow]: ...

    def routes_stream(self) -> AsyncIterator[RouteEvent]:
        """The route list as it is resolved: a RoutesFound first (cheap columns), then a
        RouteJudged per row as its static verdict is computed (see `stream_routes`)."""
        ...

    def walk(self, request: WalkRequest) -> AsyncIterator[WalkEvent]:
        """Stream a walk's events; the last one is a WalkFinished. Cancel by cancelling the task."""
        ...

    async def switch(self, *, context: str | None = None, namespace: str | None = None) -> Session:
        """A session on another context/namespace (same source kind)."""
        ...

    async def namespace_note(self) -> str | None:
        """One line when the session's namespace does not exist (see kdiag.namespaces), else None."""
        ...

    async def close(self) -> None: ...


async def stream_routes(session: object) -> AsyncIterator[RouteEvent]:
    """A session's `routes_stream()`, or its whole `routes()` list at once when it has none."""
    stream = getattr(session, "routes_stream", None)
    if callable(stream):
        async for event in stream():
            yield event
        return
    rows = await session.routes()  # type: ignore[attr-defined]
    yield RoutesFound(tuple(rows))
