"""Progress events a walk emits while it runs (consumed by the TUI and the CLI's progress line).

A walk is an async iterator of these events, ending with exactly one `WalkFinished` that carries
the full report. Events are plain frozen dataclasses so the headless core never needs Textual.
"""

from __future__ import annotations

from dataclasses import dataclass

from kdiag.model import Finding, HopResult, ProbeResult, Report, RouteInfo

__all__ = [
    "HopFinished",
    "HopStarted",
    "ProbeFinished",
    "ProbeStarted",
    "RouteResolved",
    "WalkEvent",
    "WalkFinished",
    "WalkNote",
]


@dataclass(frozen=True)
class RouteResolved:
    """The static part is done: the route and the static findings are known."""

    route: RouteInfo
    findings: tuple[Finding, ...]


@dataclass(frozen=True)
class HopStarted:
    hop: str
    description: str  # e.g. "WebSocket handshake via port-forward to pod chat-0:3002"


@dataclass(frozen=True)
class ProbeStarted:
    hop: str
    kind: str
    via: str
    target: str


@dataclass(frozen=True)
class ProbeFinished:
    hop: str
    probe: ProbeResult


@dataclass(frozen=True)
class HopFinished:
    result: HopResult


@dataclass(frozen=True)
class WalkNote:
    """A line of progress that is not a probe (e.g. "reading the cluster ...")."""

    text: str


@dataclass(frozen=True)
class WalkFinished:
    report: Report


WalkEvent = RouteResolved | HopStarted | ProbeStarted | ProbeFinished | HopFinished | WalkNote | WalkFinished
