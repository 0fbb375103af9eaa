"""Rich `Text` builders for hops, probes, findings and verdicts (pure: no Textual, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from rich.console import Group, RenderableType
from rich.markdown import Markdown
from rich.syntax import Syntax
from rich.text import Text

from kdiag.model import Finding, ProbeResult, RouteInfo
from kdiag.redaction import is_secret_header, redact_text
from kdiag.redaction import redact_headers as _redact_headers
from kdiag.report.common import cut_to_fit
from kdiag.tui.notes import hop_label
from kdiag.tui.state import HopView, WalkState

__all__ = [
    "REDACTED_MARK",
    "SPINNER",
    "code_renderable",
    "evidence_text",
    "finding_head",
    "finding_renderable",
    "hop_heading",
    "hop_prompt",
    "route_text",
    "probe_text",
    "redact_headers",
    "route_status_glyph",
    "split_fences",
    "status_glyph",
    "verdict_text",
]

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"

#: What the TUI shows instead of a credential (the rule is `kdiag.redaction`'s, as in reports).
REDACTED_MARK = "<redacted>"

_GLYPHS: dict[str, tuple[str, str]] = {
    "pending": ("·", "dim"),
    "ok": ("✓", "bold green"),
    "warn": ("!", "bold yellow"),
    "fail": ("✗", "bold red"),
    "skip": ("–", "dim"),
    "cancelled": ("⊘", "dim"),
}
_SEVERITY: dict[str, tuple[str, str]] = {
    "error": ("✗", "bold red"),
    "warning": ("!", "bold yellow"),
    "info": ("i", "bold cyan"),
}


def status_glyph(state: str, frame: int = 0) -> tuple[str, str]:
    """(glyph, style) for a hop state; a running hop gets spinner frame `frame`."""
    if state == "running":
        return SPINNER[frame % len(SPINNER)], "bold cyan"
    return _GLYPHS.get(state, ("?", ""))


def route_status_glyph(status: str) -> Text:
    glyph, style = _GLYPHS.get(status, ("?", ""))
    return Text(glyph, style=style)


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    if value >= 10_000:
        return f"{value / 1000:.0f} s"
    if value >= 1000:
        return f"{value / 1000:.1f} s"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def hop_prompt(view: HopView, frame: int = 0, *, width: int = 30, summary: bool = True) -> Text:
    """Two lines for the hop chain: glyph, name, timing; then the summary or what runs.

    Without `summary` (a short terminal) only the first line: the detail panel has the rest.
    """
    glyph, style = status_glyph(view.state, frame)
    label = hop_label(view.hop)
    timing = _ms(view.elapsed_ms)
    state = {"pending": "waiting", "running": "probing", "cancelled": "cancelled",
             "skip": "skipped"}.get(view.state, view.state)
    text = Text()
    text.append(f" {glyph} ", style=style)
    text.append(label, style="bold")
    right = f"{state} {timing}".strip()
    if 3 + len(label) + 1 + len(right) > width:  # a narrow chain: the state matters, the time less
        right = state
    pad = max(1, width - 3 - len(label) - len(right))
    text.append(" " * pad)
    text.append(right, style=style if view.state in ("fail", "warn") else "dim")
    if not summary:
        return text
    if view.summary:
        second = view.summary
    elif view.running:
        second = f"{view.running[-1].kind} via {view.running[-1].via}"
    else:
        second = view.description
    if second:
        text.append("\n   ")
        text.append(second if len(second) <= width - 3 else second[: width - 4] + "…", style="dim")
    return text


def hop_heading(view: HopView, *, summary: bool = True) -> Text:
    """The hop's name, state and time; then (unless `summary` is False) what happened there."""
    glyph, style = status_glyph(view.state)
    text = Text()
    text.append(f"{glyph} {hop_label(view.hop)}", style=style if view.state != "pending" else "bold")
    text.append(f"  {view.state}", style="dim")
    if view.elapsed_ms is not None:
        text.append(f"  {_ms(view.elapsed_ms)}", style="dim")
    if not summary:
        return text
    if view.summary:
        text.append(f"\n{view.summary}")
    elif view.description:
        text.append(f"\n{view.description}", style="dim")
    return text


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to display: credential-carrying header values become `<redacted>`."""
    return _redact_headers(headers, mask=REDACTED_MARK)


def _evidence_lines(key: str, value: Any) -> list[str]:
    if isinstance(value, Mapping):
        shown = redact_headers({str(k): str(v) for k, v in value.items()})
        return [f"{k}: {v}" for k, v in shown.items()]
    if isinstance(value, list | tuple):
        lines: list[str] = []
        for item in value:
            line = str(item)
            name = line.partition(":")[0]
            lines.append(f"{name}: {REDACTED_MARK}" if is_secret_header(name)
                         else redact_text(line, mask=REDACTED_MARK))
        return lines
    return redact_text(str(value), mask=REDACTED_MARK).splitlines() or [""]


def probe_text(probe: ProbeResult) -> Text:
    """One probe's evidence: outcome line, then detail, error and every extra field."""
    text = Text()
    ok_glyph, ok_style = ("✓", "bold green") if probe.ok else ("✗", "bold red")
    text.append(f"{ok_glyph} ", style=ok_style)
    text.append(probe.kind, style="bold")
    text.append(f" via {probe.via}", style="cyan")
    text.append(f" → {probe.target}")
    tail = []
    if probe.status_code is not None:
        tail.append(str(probe.status_code))
    if probe.elapsed_ms is not None:
        tail.append(_ms(probe.elapsed_ms))
    if tail:
        text.append("  " + "  ".join(tail), style=ok_style)
    if probe.detail:
        text.append(f"\n  {probe.detail}")
    if probe.error:
        text.append(f"\n  error: {probe.error}", style="red")
    for key, value in probe.extra.items():
        lines = _evidence_lines(key, value)
        text.append(f"\n  {key}:", style="dim")
        for line in lines[:40]:
            text.append(f"\n    {line}")
        if len(lines) > 40:
            text.append(f"\n    … {len(lines) - 40} more lines", style="dim")
    return text


def finding_head(finding: Finding, *, is_verdict: bool = False, message: bool = True) -> Text:
    """Severity, check, the root-cause marker, the object and (unless told not to) the message."""
    glyph, style = _SEVERITY.get(finding.severity, ("?", ""))
    head = Text()
    head.append(f"{glyph} {finding.severity} ", style=style)
    head.append(finding.check, style="bold")
    if is_verdict:
        head.append("  ◀ root cause", style="bold red")
    if finding.object:
        head.append(f"\n{finding.object}", style="dim")
    if message:
        head.append(f"\n{finding.message}")
    else:
        head.append("\nthe verdict above says what is wrong", style="dim italic")
    return head


_FENCE = re.compile(r"^```[ \t]*([\w+-]*)[ \t]*\n(.*?)^```[ \t]*$", re.M | re.S)


def split_fences(markdown: str) -> list[tuple[str, str, str]]:
    """(kind, text, language) pieces of `markdown`: kind "prose" or "code" (a fenced block)."""
    pieces: list[tuple[str, str, str]] = []
    at = 0
    for m in _FENCE.finditer(markdown):
        prose = markdown[at:m.start()].strip()
        if prose:
            pieces.append(("prose", prose, ""))
        pieces.append(("code", m.group(2).rstrip("\n"), m.group(1)))
        at = m.end()
    rest = markdown[at:].strip()
    if rest:
        pieces.append(("prose", rest, ""))
    return pieces


def code_renderable(code: str, language: str) -> Syntax:
    """A code block that is never wrapped mid-line (its container scrolls sideways instead)."""
    return Syntax(code, language or "text", theme="ansi_dark", word_wrap=False,
                  background_color="default")


def evidence_text(finding: Finding) -> Text | None:
    """The finding's YAML or manifest excerpt, when it carries one."""
    parts = []
    for key in ("yaml", "excerpt"):
        if key in finding.evidence:
            lines = str(finding.evidence[key]).splitlines()[:30]
            parts.append(f"{key}:\n" + "\n".join(f"  {line}" for line in lines))
    return Text("\n".join(parts), style="italic") if parts else None


def finding_renderable(finding: Finding, *, is_verdict: bool = False) -> RenderableType:
    """A finding with its fix first, then its explanation for a newcomer (both may hold Markdown).

    The TUI's finding card lays the same pieces out as widgets (code blocks scroll sideways).
    """
    parts: list[RenderableType] = [finding_head(finding, is_verdict=is_verdict)]
    if finding.fix.strip():
        parts.append(Text("Fix (c copies it)", style="bold green"))
        parts.extend(Markdown(text) if kind == "prose" else code_renderable(text, lang)
                     for kind, text, lang in split_fences(finding.fix.strip()))
    if finding.explanation.strip():
        parts.append(Text("Why", style="bold"))
        parts.append(Markdown(finding.explanation.strip()))
    evidence = evidence_text(finding)
    if evidence is not None:
        parts.append(evidence)
    return Group(*parts)


def verdict_text(state: WalkState, frame: int = 0, *, width: int | None = None,
                 lines: int | None = None) -> tuple[Text, str]:
    """(banner text, css class) — the class is one of running/ok/warn/fail/error/cancelled.

    Given the banner's `width` and the `lines` it may take, a finished walk's banner is fitted:
    the headline, the root finding's message (shortened with … when it would not fit) and, on a
    line of its own, the fix's first line — so the verdict and the fix are read without scrolling.
    """
    url = state.request.url or "(no URL)"
    if state.error is not None:
        return Text(f"✗ The walk could not finish: {state.error}\n  Press r to retry, "
                    "Esc to go back."), "error"
    if state.cancelled:
        return Text(f"⊘ Walk of {url} cancelled. Press r to run it again."), "cancelled"
    if state.report is None:
        last = state.notes[-1] if state.notes else "resolving the route"
        return Text(f"{SPINNER[frame % len(SPINNER)]} Walking {url}\n  {last}"), "running"
    v = state.report.verdict
    head = Text()
    if v.status == "ok":
        head.append("✓ Healthy: ", style="bold")
    else:
        glyph = "✗" if v.status == "fail" else "!"
        where = hop_label(v.hop) if v.hop else "the route"
        head.append(f"{glyph} {'Broken' if v.status == 'fail' else 'Warning'} at {where}", style="bold")
        if v.check:
            head.append(f" ({v.check})")
        head.append(": ")
    root = state.root_finding()
    if root is None or width is None or lines is None:
        return head + Text(v.summary), v.status
    fix = _fix_line(root.fix)
    message = v.summary
    if fix.plain and " Fix: " in message:  # the summary's own "Fix: …" gets a line of its own
        message = message[: message.rindex(" Fix: ")]
    return _fitted(head, message, fix, width=width, lines=lines), v.status


def _fix_line(fix: str) -> Text:
    """The fix's first line for the banner; a lead-in to a block ("In Service x:") points below."""
    first = next((line.strip() for line in fix.splitlines() if line.strip()), "")
    text = Text()
    if not first:
        return text
    text.append("Fix: ", style="bold")
    if first.endswith(":") or first.startswith("```"):
        text.append(first.rstrip(":").removeprefix("```") + " — below (c copies it)")
    else:
        text.append(first)
    return text


def _wrapped_height(text: Text, width: int) -> int:
    from io import StringIO

    from rich.console import Console

    console = Console(width=width, file=StringIO(), color_system=None)
    return len(text.wrap(console, width))


def _fitted(head: Text, message: str, fix: Text, *, width: int, lines: int) -> Text:
    """head + message, then the fix on its own line, within `lines` lines of `width` columns.

    The fix keeps at most half of the lines; the message is shortened (with …) to what is left."""
    width = max(width, 10)
    fix = fix.copy()
    fix_lines = _wrapped_height(fix, width) if fix.plain else 0
    if fix_lines > max(1, lines // 2):
        fix.truncate(max(1, lines // 2) * width - 2)
        fix.append("…")
        fix_lines = _wrapped_height(fix, width)
    room = max(1, lines - fix_lines)

    def build(msg: str) -> Text:
        text = head + Text(msg)
        return text + Text("\n") + fix if fix.plain else text

    return build(cut_to_fit(message, lambda msg: _wrapped_height(head + Text(msg), width) <= room))


def route_text(route: RouteInfo | None) -> Text:
    """The resolved route, top to bottom, for the box under the hop chain."""
    text = Text()
    if route is None:
        text.append("route not resolved yet", style="dim")
        return text
    if not (route.ingress or route.httproute or route.service or route.pods):
        text.append("no route: nothing in the cluster leads from this URL to a Service", style="dim")
        return text
    rule = dict(route.rule or {})

    def line(label: str, value: str = "", style: str = "") -> None:
        if text.plain:
            text.append("\n")
        text.append(label, style="dim")
        text.append(value, style=style)

    if route.ingress:
        line("Ingress ", route.ingress)
        if rule:
            text.append(f"\n  {rule.get('host') or '*'}{rule.get('path') or '/'}", style="bold")
            if rule.get("pathType"):
                text.append(f" ({rule['pathType']})", style="dim")
    if route.httproute:
        if route.gateway:
            line("Gateway ", route.gateway + (f" ({route.listener})" if route.listener else ""))
        line(f"{route.kind} ", route.httproute)
        if rule:
            text.append(f"\n  {rule.get('host') or '*'}{rule.get('path') or ''}", style="bold")
        backends = [b for b in route.backends if b.get("service")]
        if len(backends) > 1:
            text.append("\n  backends: " + ", ".join(f"{b['service']} ×{b.get('weight', 1)}" for b in backends),
                        style="dim")
    canary = route.canary_summary()
    if canary:
        text.append("\n  canary: ", style="dim")
        text.append(canary)
    if route.service:
        line("→ Service ", route.service)
    ports = []
    if route.port is not None:
        ports.append(f"port {route.port}")
    if route.target_port is not None:
        ports.append(f"targetPort {route.target_port}")
    if ports:
        text.append(f"\n  {' → '.join(ports)}")
    count = len(route.pods)
    line(f"→ {count} pod{'s' if count != 1 else ''}")
    for pod in route.pods[:3]:
        text.append(f"\n  {pod.split('/')[-1]}")
    if count > 3:
        text.append(f"\n  … {count - 3} more", style="dim")
    return text
