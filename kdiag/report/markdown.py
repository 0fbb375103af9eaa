"""The report as one self-contained Markdown document (tables escaped, evidence in <details>)."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from kdiag.model import Report
from kdiag.report.common import (
    STATUS_WORD,
    finding_evidence,
    finding_message,
    probe_extra,
    probe_note,
    probe_result,
    route_rows,
    sorted_findings,
    source_line,
    target_rows,
    verdict_line,
)

__all__ = ["render_markdown"]


def _cell(s: Any) -> str:
    text = "" if s is None else str(s)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", "<br>")


def _md_text(s: str) -> str:
    """Plain text safe in a Markdown paragraph (no accidental emphasis, links or HTML)."""
    return re.sub(r"([\\*_<>\[\]])", r"\\\1", s)


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return out


def _fence(text: str, lang: str = "") -> list[str]:
    ticks = "```"
    while ticks in text:
        ticks += "`"
    return [f"{ticks}{lang}", text, ticks]


def render_markdown(report: Report) -> str:
    v = report.verdict
    kind = "watch" if report.watch is not None else ("lint" if report.target is None else "diagnosis")
    lines = [f"# kdiag {kind}: {STATUS_WORD.get(v.status, v.status)}", ""]
    lines += [f"**Verdict:** {_md_text(verdict_line(report))}", ""]
    lines += _md_table(("", ""), [("Source", source_line(report)),
                                  ("Created", report.created),
                                  ("kdiag", report.kdiag_version)])
    if report.target is not None:
        lines += ["", "## Target", ""]
        lines += _md_table(("", ""), target_rows(report))
    if report.route is not None:
        lines += ["", "## Route", ""]
        rows = route_rows(report)
        lines += _md_table(("step", "value"), rows) if rows else ["_No route resolved._"]
    if report.watch is not None:
        from kdiag.report.watch import watch_markdown

        lines += watch_markdown(report.watch)
    if report.hops is not None:
        lines += ["", "## Hops", ""]
        lines += _md_table(("hop", "status", "summary"),
                           [(h.hop, STATUS_WORD.get(h.status, h.status), h.summary) for h in report.hops])
        probes = [(h, p) for h in report.hops for p in h.probes]
        if probes:
            lines += ["", "### Probes", ""]
            lines += _md_table(
                ("hop", "probe", "via", "target", "ok", "result", "detail"),
                [(h.hop, p.kind, p.via, f"`{p.target}`" if p.target else "", "yes" if p.ok else "no",
                  probe_result(p), probe_note(p)) for h, p in probes])
            extras = [(h, p) for h, p in probes if probe_extra(p)]
            for h, p in extras:
                lines += ["", f"<details><summary>{html.escape(f'{h.hop} {p.kind} via {p.via} evidence')}</summary>", ""]
                lines += _fence(json.dumps(probe_extra(p), indent=2, ensure_ascii=False, default=str), "json")
                lines += ["", "</details>"]
    lines += ["", f"## Findings ({len(report.findings)})", ""]
    if not report.findings:
        lines.append("_No problems found._")
    for i, f in enumerate(sorted_findings(report.findings), 1):
        title = f"### {i}. {f.severity.upper()} `{f.check}`" + (f" — {_cell(f.object)}" if f.object else "")
        lines += [title, ""]
        meta = [f"hop `{f.hop}`"]
        if f.evidence.get("location"):
            meta.append(f"at `{f.evidence['location']}`")
        lines += [", ".join(meta), "", _md_text(finding_message(f)), ""]
        if f.explanation:
            lines += [f"**Why.** {f.explanation}", ""]
        if f.fix:
            lines += ["**Fix.**", "", f.fix, ""]
        ev = finding_evidence(f)
        if ev:
            lines += ["<details><summary>Evidence</summary>", ""]
            lines += _fence(json.dumps(ev, indent=2, ensure_ascii=False, default=str), "json")
            lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"
