"""The report as terminal text (rich): verdict first, then target, route, hops and findings.

Colour only on a terminal without NO_COLOR (or when asked for explicitly).
"""

from __future__ import annotations

import io
import os
import shutil
import sys
from collections.abc import Sequence
from typing import Any

from kdiag.catalog import reflow_prose
from kdiag.model import Finding, HopResult, Report
from kdiag.report.common import (
    STATUS_WORD,
    finding_evidence,
    finding_message,
    probe_extra,
    probe_note,
    probe_result,
    route_rows,
    short,
    sorted_findings,
    source_line,
    target_rows,
    verdict_line,
)
from kdiag.report.plainwrap import print_plain

__all__ = ["SEV_STYLE", "console", "render_text", "rstrip_lines", "use_color"]

_STATUS_STYLE = {"ok": "bold green", "warn": "bold yellow", "fail": "bold red", "skip": "dim"}
_STATUS_MARK = {"ok": "✔", "warn": "!", "fail": "✘", "skip": "·"}
SEV_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "bold blue"}


def use_color(color: bool | None = None) -> bool:
    """Explicit choice, else colour only when stdout is a terminal and NO_COLOR is unset."""
    if color is not None:
        return color
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def console(color: bool) -> Any:
    """A rich Console writing into a string buffer (`console.file.getvalue()`)."""
    from rich.console import Console

    width = shutil.get_terminal_size((100, 24)).columns if color else 100
    return Console(file=io.StringIO(), force_terminal=color, no_color=not color,
                   color_system="standard" if color else None, width=max(60, width),
                   highlight=False, emoji=False, legacy_windows=False)


def rstrip_lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def render_text(report: Report, color: bool) -> str:
    from rich.text import Text

    con = console(color)
    v = report.verdict
    head = Text()
    head.append(f" {STATUS_WORD.get(v.status, v.status.upper())} ", style=_STATUS_STYLE.get(v.status, ""))
    head.append(" " + verdict_line(report), style="bold")
    con.print(head)
    con.print(Text(f"source: {source_line(report)} · kdiag {report.kdiag_version} · {report.created}",
                   style="dim"))
    if report.target is not None:
        con.print()
        con.print(Text("Target", style="bold underline"))
        _text_rows(con, target_rows(report))
    if report.route is not None:
        con.print()
        con.print(Text("Route", style="bold underline"))
        rows = route_rows(report)
        if not rows:
            con.print(Text("  (no route resolved)", style="dim"))
        _text_rows(con, rows)
    if report.hops is not None:
        con.print()
        con.print(Text("Hops", style="bold underline"))
        for h in report.hops:
            _text_hop(con, h)
    con.print()
    con.print(Text(f"Findings ({len(report.findings)})", style="bold underline"))
    if not report.findings:
        con.print(Text("  none", style="dim"))
    # Findings are printed in chunks, and without colour laid out by kdiag.report.plainwrap:
    # rich's fixed cost per print() dominated (100k findings took minutes). Same output.
    explained: set[str] = set()
    chunk: list[Any] = []
    for f in sorted_findings(report.findings):
        chunk.extend(_finding_block(f, explained))
        if len(chunk) >= _CHUNK:
            _print_chunk(con, chunk, color)
            chunk = []
    _print_chunk(con, chunk, color)
    return rstrip_lines(con.file.getvalue())


_CHUNK = 600


def _print_chunk(con: Any, items: list[Any], color: bool) -> None:
    from rich.console import Group

    if not items:
        return
    if color:
        con.print(Group(*items))
    else:
        print_plain(con, items)


def _finding_block(f: Finding, explained: set[str]) -> list[Any]:
    """The renderables of one finding (header, message, why, fix, evidence, a blank line)."""
    from rich.padding import Padding
    from rich.text import Text

    out: list[Any] = []
    line = Text("  ")
    line.append(f"{f.severity.upper():<7}", style=SEV_STYLE.get(f.severity, ""))
    line.append(f" {f.check}", style="bold")
    if f.object:
        line.append(f"  {f.object}")
    if f.evidence.get("location"):
        line.append(f"  {f.evidence['location']}", style="dim")
    out.append(line)
    out.append(Padding(Text(finding_message(f)), (0, 0, 0, 4), expand=False))
    if f.explanation and f.check not in explained:
        explained.add(f.check)
        out.append(Padding(Text("Why: ", style="bold").append(reflow_prose(f.explanation)), (0, 0, 0, 4), expand=False))
    elif f.explanation:  # the same check explained above: do not repeat the paragraph
        out.append(Padding(Text("Why: ", style="bold").append(Text(f"as above ({f.check})", style="dim")),
                           (0, 0, 0, 4), expand=False))
    if f.fix:
        out.append(Padding(Text("Fix: ", style="bold").append(reflow_prose(f.fix)), (0, 0, 0, 4), expand=False))
    ev = finding_evidence(f)
    if ev:
        out.append(Padding(Text("Evidence: ", style="bold").append(Text(short(ev, 400), style="dim")),
                           (0, 0, 0, 4), expand=False))
    out.append(Text(""))
    return out


def _text_rows(con: Any, rows: Sequence[tuple[str, str]]) -> None:
    from rich.text import Text

    width = max((len(k) for k, _ in rows), default=0) + 2
    for k, val in rows:
        # URLs and object names stay on one line, so they can be copied
        con.print(Text(f"  {k + ':':<{width}}{val}"), soft_wrap=True)


def _text_hop(con: Any, h: HopResult) -> None:
    from rich.padding import Padding
    from rich.text import Text

    line = Text("  ")
    line.append(f"{_STATUS_MARK.get(h.status, '?')} {h.hop:<10}", style=_STATUS_STYLE.get(h.status, ""))
    line.append(f"{STATUS_WORD.get(h.status, h.status):<5} ", style=_STATUS_STYLE.get(h.status, ""))
    line.append(h.summary)
    con.print(line)
    for p in h.probes:
        pl = Text("      ")
        pl.append(f"{p.kind} via {p.via} ", style="bold")
        pl.append(f"{p.target} ")
        pl.append("ok " if p.ok else "failed ", style="green" if p.ok else "red")
        pl.append(probe_result(p))
        note = probe_note(p)
        if note:
            pl.append(f"  {note}", style="dim")
        con.print(pl, soft_wrap=True)  # one line: the target URL stays copyable
        for k, val in probe_extra(p).items():
            if isinstance(val, str) and "\n" in val.strip():
                block = "\n".join("  " + ln.rstrip("\r") for ln in val.strip().splitlines()[:40])
                con.print(Padding(Text(f"{k}:\n{block}", style="dim"), (0, 0, 0, 8), expand=False))
            else:
                con.print(Padding(Text(f"{k}: {short(val, 300)}", style="dim"), (0, 0, 0, 8),
                                  expand=False))
