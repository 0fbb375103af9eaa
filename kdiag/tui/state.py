"""The walk as the TUI sees it: a pure fold of `kdiag.events` into per-hop views (no Textual)."""

from __future__ import annotations

from dataclasses import dataclass, field

from kdiag.events import (
    HopFinished,
    HopStarted,
    ProbeFinished,
    ProbeStarted,
    RouteResolved,
    WalkEvent,
    WalkFinished,
    WalkNote,
)
from kdiag.findings import names_route_port
from kdiag.model import (
    GATEWAY_HOPS,
    HOPS,
    Finding,
    HopResult,
    ProbeResult,
    Report,
    RouteInfo,
    severity_rank,
)
from kdiag.session import WalkRequest

__all__ = ["HopView", "WalkState", "HopState"]

#: pending | running | ok | warn | fail | skip | cancelled
HopState = str


@dataclass
class HopView:
    """Everything known about one hop so far."""

    hop: str
    state: HopState = "pending"
    description: str = ""
    summary: str = ""
    probes: list[ProbeResult] = field(default_factory=list)
    running: list[ProbeStarted] = field(default_factory=list)
    objects: tuple[str, ...] = ()

    @property
    def elapsed_ms(self) -> float | None:
        """The longest probe of this hop (probes of one hop may run concurrently)."""
        times = [p.elapsed_ms for p in self.probes if p.elapsed_ms is not None]
        return max(times) if times else None

    @property
    def busy(self) -> bool:
        return self.state == "running"


@dataclass
class WalkState:
    """Folds walk events; the screen re-renders from it."""

    request: WalkRequest
    hops: dict[str, HopView] = field(default_factory=dict)
    route: RouteInfo | None = None
    static_findings: tuple[Finding, ...] = ()
    notes: list[str] = field(default_factory=list)
    report: Report | None = None
    error: str | None = None
    cancelled: bool = False

    def __post_init__(self) -> None:
        if not self.hops:
            self.hops = {h: HopView(h) for h in HOPS}

    @property
    def running(self) -> bool:
        return self.report is None and self.error is None and not self.cancelled

    def hop_names(self) -> list[str]:
        """The hops of this walk, client first: `gateway` in place of `ingress` for a Gateway API
        route, and `edge` (the load balancer in front) once the walk has reached it."""
        route = self.report.route if self.report is not None and self.report.route is not None else self.route
        names = list(GATEWAY_HOPS if route is not None and route.kind in ("HTTPRoute", "GRPCRoute") else HOPS)
        edge = self.hops.get("edge")
        if edge is not None and (edge.state != "pending" or edge.probes):
            names.insert(1, "edge")
        return names

    def hop(self, name: str) -> HopView:
        if name not in self.hops:
            self.hops[name] = HopView(name)
        return self.hops[name]

    def apply(self, event: WalkEvent) -> str | None:
        """Apply one event; returns the hop it changed (None for walk-wide events)."""
        if isinstance(event, RouteResolved):
            self.route = event.route
            self.static_findings = tuple(event.findings)
            return None
        if isinstance(event, WalkNote):
            self.notes.append(event.text)
            return None
        if isinstance(event, HopStarted):
            view = self.hop(event.hop)
            view.state = "running"
            view.description = event.description
            return event.hop
        if isinstance(event, ProbeStarted):
            view = self.hop(event.hop)
            if view.state == "pending":
                view.state = "running"
            view.running.append(event)
            return event.hop
        if isinstance(event, ProbeFinished):
            view = self.hop(event.hop)
            view.probes.append(event.probe)
            view.running = [
                r for r in view.running
                if not (r.kind == event.probe.kind and r.via == event.probe.via
                        and r.target == event.probe.target)
            ]
            return event.hop
        if isinstance(event, HopFinished):
            self._apply_result(event.result.hop, event.result)
            return event.result.hop
        if isinstance(event, WalkFinished):
            self.finish(event.report)
            return None
        return None

    def _apply_result(self, name: str, result: HopResult) -> None:
        view = self.hop(name)
        view.state = result.status
        view.summary = result.summary
        view.objects = result.objects
        view.running = []
        if result.probes:
            view.probes = list(result.probes)

    def finish(self, report: Report) -> None:
        """The final report wins over anything streamed; hops it does not mention are skipped."""
        self.report = report
        if report.route is not None:
            self.route = report.route
        seen = set()
        for result in report.hops or ():
            self._apply_result(result.hop, result)
            seen.add(result.hop)
        for name, view in self.hops.items():
            if name not in seen and view.state in ("pending", "running"):
                view.state = "skip"
                view.running = []

    def cancel(self) -> None:
        self.cancelled = True
        for view in self.hops.values():
            if view.state in ("pending", "running"):
                view.state = "cancelled"
                view.running = []

    def fail(self, message: str) -> None:
        self.error = message
        for view in self.hops.values():
            if view.state == "running":
                view.state = "cancelled"
                view.running = []
            elif view.state == "pending":
                view.state = "skip"

    @property
    def findings(self) -> tuple[Finding, ...]:
        return self.report.findings if self.report is not None else self.static_findings

    def _about_route(self, finding: Finding) -> bool:
        """Is the finding about this route's Service port (several ports may share a check)?"""
        return self.route is not None and names_route_port(finding.about, port=self.route.port)

    def root_finding(self) -> Finding | None:
        """The finding the verdict points at (by its index; older reports: by its check and hop)."""
        verdict = self.report.verdict if self.report is not None else None
        if verdict is None or not verdict.check:
            return None
        findings = self.findings
        if verdict.finding is not None and 0 <= verdict.finding < len(findings):
            return findings[verdict.finding]
        found = [f for f in findings if f.check == verdict.check]
        found.sort(key=lambda f: (f.hop != verdict.hop, not self._about_route(f)))
        return found[0] if found else None

    def findings_for(self, hop: str) -> list[Finding]:
        """This hop's findings: the root cause first, then by severity."""
        root = self.root_finding()
        found = [f for f in self.findings if f.hop == hop]
        return sorted(found, key=lambda f: (f is not root, not self._about_route(f),
                                            -severity_rank(f.severity)))

    def general_findings(self) -> list[Finding]:
        """Findings tied to no hop of the chain (e.g. manifest checks)."""
        return [f for f in self.findings if f.hop not in self.hops]

    @classmethod
    def from_report(cls, report: Report) -> WalkState:
        target = report.target
        request = WalkRequest(url=target.url if target else "", headers=dict(target.headers) if target else {})
        state = cls(request=request)
        state.static_findings = report.findings
        state.finish(report)
        return state
