"""The report as one self-contained Markdown document (tables escaped, evidence in <details>).

Order, for the reader who opens it the next morning: the verdict, the fix, the hops, the route,
the findings (root cause first; each check's "Why" once), then the probes and their evidence.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from typing import Any

from kdiag.model import Finding, Report
from kdiag.report.common import (
    STATUS_WORD,
    finding_evidence,
    finding_message,
    probe_extra,
    probe_note,
    probe_result,
    root_finding,
    route_rows,
    source_line,
    specific_fix,
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
    about = [f"`{report.target.url}`"] if report.target is not None else []
    about += [_md_text(f"source: {source_line(report)}"), _md_text(report.created), f"kdiag {_md_text(report.kdiag_version)}"]
    lines += [" · ".join(about), ""]
    root = root_finding(report)
    if root is not None and root.fix:
        lines += ["## Fix", "", _finding_title(root), "", specific_fix(root), ""]
        if specific_fix(root) != root.fix.strip():
            lines += ["<details><summary>In general</summary>", "",
                      root.fix.strip()[len(specific_fix(root)):].strip(), "", "</details>", ""]
    if report.hops is not None:
        lines += ["## Hops", ""]
        lines += _md_table(("hop", "status", "summary"),
                           [(h.hop, STATUS_WORD.get(h.status, h.status), h.summary) for h in report.hops])
        lines.append("")
    if report.target is not None or report.route is not None:
        rows = target_rows(report) + route_rows(report)
        lines += ["## Route", ""]
        lines += _md_table(("step", "value"), rows) if rows else ["_No route resolved._"]
        lines.append("")
    if report.watch is not None:
        from kdiag.report.watch import watch_markdown

        lines += watch_markdown(report.watch)
    lines += _findings(report, root)
    lines += _probes(report)
    return "\n".join(lines).rstrip() + "\n"


def _finding_title(f: Finding) -> str:
    return f"**{f.severity.upper()} `{f.check}`**" + (f" — {_md_text(f.object)}" if f.object else "") + (
        f" at `{f.evidence['location']}`" if f.evidence.get("location") else "")


def _findings(report: Report, root: Finding | None) -> list[str]:
    lines = [f"## Findings ({len(report.findings)})", ""]
    if not report.findings:
        lines += ["_No problems found._", ""]
    explained: set[str] = set()
    for i, f in enumerate(report.findings, 1):
        title = f"### {i}. {f.severity.upper()} `{f.check}`" + (f" — {_cell(f.object)}" if f.object else "")
        lines += [title + (" (root cause)" if f is root else ""), ""]
        meta = [f"hop `{f.hop}`"]
        if f.evidence.get("location"):
            meta.append(f"at `{f.evidence['location']}`")
        lines += [", ".join(meta), "", _md_text(finding_message(f)), ""]
        if f.explanation and f.check not in explained:
            explained.add(f.check)
            lines += [f"**Why.** {f.explanation}", ""]
        if f is root and f.fix:
            lines += ["**Fix:** see [Fix](#fix) above.", ""]
        elif f.fix:
            lines += ["**Fix.**", "", f.fix, ""]
        ev = finding_evidence(f)
        if ev:
            lines += ["<details><summary>Evidence</summary>", ""]
            lines += _fence(json.dumps(ev, indent=2, ensure_ascii=False, default=str), "json")
            lines += ["", "</details>", ""]
    return lines


def _probes(report: Report) -> list[str]:
    probes = [(h, p) for h in report.hops or () for p in h.probes]
    if not probes:
        return []
    lines = ["## Probes", ""]
    lines += _md_table(
        ("hop", "probe", "via", "target", "ok", "result", "detail"),
        [(h.hop, p.kind, p.via, f"`{p.target}`" if p.target else "", "yes" if p.ok else "no",
          probe_result(p), probe_note(p)) for h, p in probes])
    for h, p in probes:
        if probe_extra(p):
            lines += ["", f"<details><summary>{html.escape(f'{h.hop} {p.kind} via {p.via} evidence')}</summary>", ""]
            lines += _fence(json.dumps(probe_extra(p), indent=2, ensure_ascii=False, default=str), "json")
            lines += ["", "</details>"]
    return lines
