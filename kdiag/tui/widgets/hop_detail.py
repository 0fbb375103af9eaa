"""The right-hand panel: one hop's objects, probe evidence, findings with fixes, and a lesson."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from kdiag.model import Finding
from kdiag.tui.formatting import finding_renderable, hop_heading, probe_text
from kdiag.tui.notes import HOP_NOTES, hop_label
from kdiag.tui.state import WalkState

__all__ = ["FindingCard", "HopDetail"]


class FindingCard(Static, can_focus=True):
    """One finding; focus it and press c to copy its fix."""

    def __init__(self, finding: Finding, *, is_verdict: bool = False) -> None:
        super().__init__(finding_renderable(finding, is_verdict=is_verdict), classes="finding-card")
        self.finding = finding
        self.is_verdict = is_verdict
        if is_verdict:
            self.add_class("-verdict")


def _section(title: str) -> Static:
    return Static(Text(title, style="bold"), classes="section-title")


class HopDetail(VerticalScroll):
    """Rebuilt whenever the selected hop or its state changes."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hop: str | None = None
        self._signature: object = None
        self._lock = asyncio.Lock()

    def _build(self, state: WalkState, hop: str) -> list[Widget]:
        view = state.hop(hop)
        widgets: list[Widget] = [Static(hop_heading(view), classes="hop-heading")]
        findings = state.findings_for(hop)
        root = state.root_finding()
        if findings:
            widgets.append(_section(f"Findings ({len(findings)}) — c copies the fix"))
            widgets.extend(FindingCard(f, is_verdict=f is root) for f in findings)
        if view.probes or view.running:
            widgets.append(_section("Probes"))
            widgets.extend(Static(probe_text(p), classes="probe") for p in view.probes)
            widgets.extend(Static(Text(f"… {r.kind} via {r.via} → {r.target}", style="dim"),
                                  classes="probe") for r in view.running)
        objects = list(view.objects) or _route_objects(state, hop)
        if objects:
            widgets.append(_section("Objects"))
            widgets.append(Static(Text("\n".join(objects)), classes="objects"))
        if hop == "client" and state.general_findings():
            widgets.append(_section("Other findings"))
            widgets.extend(FindingCard(f) for f in state.general_findings())
        if hop in HOP_NOTES:
            widgets.append(_section(f"What is the {hop_label(hop)} hop?"))
            widgets.append(Static(HOP_NOTES[hop], classes="hop-note"))
        return widgets

    async def show(self, state: WalkState, hop: str | None) -> None:
        """Show `hop`; a no-op when nothing visible changed (keeps focus and scroll)."""
        if hop is None:
            return
        async with self._lock:  # the walk worker and the hop selection both call this
            await self._show(state, hop)

    async def _show(self, state: WalkState, hop: str) -> None:
        view = state.hop(hop)
        signature = (hop, view.state, len(view.probes), len(view.running), view.summary,
                     len(state.findings), state.report is not None)
        if signature == self._signature:
            return
        same_hop = hop == self.hop
        self.hop = hop
        self._signature = signature
        async with self.batch():
            await self.remove_children()
            await self.mount_all(self._build(state, hop))
        if not same_hop:
            self.scroll_home(animate=False)

    def cards(self) -> list[FindingCard]:
        return list(self.query(FindingCard))


def _route_objects(state: WalkState, hop: str) -> list[str]:
    route = state.route
    if route is None:
        return []
    if hop == "client":
        return [f"URL {state.request.url}"] if state.request.url else []
    if hop == "ingress" and route.ingress:
        rule = dict(route.rule or {})
        where = f"{rule.get('host', '')}{rule.get('path', '')} ({rule.get('pathType', '')})"
        return [f"Ingress {route.ingress}", f"rule {where}"]
    if hop == "service" and route.service:
        return [f"Service {route.service} port {route.port} → targetPort {route.target_port}"]
    if hop == "endpoints" and route.service:
        return [f"EndpointSlices of Service {route.service}"]
    if hop == "pod":
        return [f"Pod {p}" for p in route.pods]
    return []
