"""The right-hand panel: one hop's objects, probe evidence, findings with fixes, and a lesson."""

from __future__ import annotations

import asyncio

from rich.markdown import Markdown
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from kdiag.model import Finding
from kdiag.tui.formatting import (
    code_renderable,
    evidence_text,
    finding_head,
    hop_heading,
    probe_text,
    split_fences,
)
from kdiag.tui.notes import HOP_NOTES, hop_label
from kdiag.tui.state import WalkState
from kdiag.tui.widgets.verdict import VerdictBanner

__all__ = ["CodeBlock", "FindingCard", "HopDetail"]


class CodeBlock(ScrollableContainer):
    """A fenced block of a fix: lines are never wrapped; a long one scrolls sideways."""

    def __init__(self, code: str, language: str) -> None:
        super().__init__(Static(code_renderable(code, language), classes="code-text"),
                         classes="code-block")
        self.code = code


class FindingCard(Vertical, can_focus=True):
    """One finding: what is wrong, the fix (c copies it), then why. Focus it and press c."""

    def __init__(self, finding: Finding, *, is_verdict: bool = False, said: str = "") -> None:
        super().__init__(classes="finding-card")
        self.finding = finding
        self.is_verdict = is_verdict
        #: The message is left out when `said` (the verdict banner's text) already holds it.
        self.repeat_message = not (finding.message and finding.message in said)
        if is_verdict:
            self.add_class("-verdict")

    def compose(self) -> ComposeResult:
        finding = self.finding
        yield Static(finding_head(finding, is_verdict=self.is_verdict,
                                  message=self.repeat_message))
        if finding.fix.strip():
            yield Static(Text("Fix (c copies it)", style="bold green"), classes="card-title")
            for kind, text, language in split_fences(finding.fix.strip()):
                if kind == "code":
                    yield CodeBlock(text, language)
                else:
                    yield Static(Markdown(text))
        if finding.explanation.strip():
            yield Static(Text("Why", style="bold"), classes="card-title")
            yield Static(Markdown(finding.explanation.strip()))
        evidence = evidence_text(finding)
        if evidence is not None:
            yield Static(evidence)


def _section(title: str) -> Static:
    return Static(Text(title, style="bold"), classes="section-title")


class HopDetail(VerticalScroll):
    """Rebuilt whenever the selected hop or its state changes. `z` zooms it to the full screen."""

    ALLOW_MAXIMIZE = True

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.hop: str | None = None
        self._signature: object = None
        self._lock = asyncio.Lock()

    def _build(self, state: WalkState, hop: str) -> list[Widget]:
        view = state.hop(hop)
        findings = state.findings_for(hop)
        root = state.root_finding()
        said = self._said(state)
        # With findings, the fix comes first and what the probes saw after it.
        widgets: list[Widget] = [Static(hop_heading(view, summary=not findings),
                                        classes="hop-heading")]
        if findings:
            widgets.append(_section(f"Findings ({len(findings)}) — c copies the fix"))
            widgets.extend(FindingCard(f, is_verdict=f is root, said=said if f is root else "")
                           for f in findings)
            if view.summary:
                widgets.append(_section("What kdiag saw here"))
                widgets.append(Static(Text(view.summary), classes="probe"))
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
                     len(state.findings), state.report is not None, self._said(state))
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

    def _said(self, state: WalkState) -> str:
        """What the verdict banner shows (fitted to the screen: perhaps a shortened message)."""
        banners = self.screen.query(VerdictBanner) if self.is_attached else ()
        for banner in banners:
            return banner.said
        return state.report.verdict.summary if state.report is not None else ""

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
    if hop == "gateway" and route.gateway:
        return [f"Gateway {route.gateway}" + (f" listener {route.listener}" if route.listener else ""),
                *([f"{route.kind} {route.httproute}"] if route.httproute else [])]
    if hop == "service" and route.service:
        return [f"Service {route.service} port {route.port} → targetPort {route.target_port}"]
    if hop == "endpoints" and route.service:
        return [f"EndpointSlices of Service {route.service}"]
    if hop == "pod":
        return [f"Pod {p}" for p in route.pods]
    return []
