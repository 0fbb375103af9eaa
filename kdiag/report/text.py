"""The report as terminal text (rich), short by default, for a tired engineer at a terminal.

    verbose 0   the verdict, the route in one line, one line per hop, the root-cause finding
                with its fix, one line per other finding (about 25 lines)
    verbose 1   (-v) + every probe (one line each), explanations, every finding's fix
    verbose 2   (-vv) + target and route tables, raw probe evidence, every finding's evidence

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
    cut_to_fit,
    finding_evidence,
    finding_message,
    probe_extra,
    probe_note,
    probe_result,
    root_finding,
    route_line,
    route_rows,
    short,
    source_line,
    specific_fix,
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


def render_text(report: Report, color: bool, verbose: int = 0) -> str:
    """The report as terminal text; `verbose` 0, 1 (-v) or 2 (-vv) as the module says."""
    from rich.text import Text

    con = console(color)
    v = report.verdict
    head = Text()
    head.append(f" {STATUS_WORD.get(v.status, v.status.upper())} ", style=_STATUS_STYLE.get(v.status, ""))
    line, shortened = verdict_line(report), False
    if verbose == 0:  # the first screen holds the verdict, the hops and the fix: the root cause has the rest
        line, shortened = _fit_verdict(con, head.plain, report)
    head.append(" " + line, style="bold")
    con.print(head)
    con.print(Text(f"source: {source_line(report)} · kdiag {report.kdiag_version} · {report.created}",
                   style="dim"))
    if verbose >= 2:
        _tables(con, report)
    elif report.target is not None:
        con.print(Text(f"route: {route_line(report)}"), soft_wrap=True)
    if report.watch is not None:
        from kdiag.report.watch import watch_text

        watch_text(con, report.watch)
    if report.hops is not None:
        con.print()
        con.print(Text("Hops", style="bold underline"))
        for h in report.hops:
            _text_hop(con, h, verbose)
    root = root_finding(report)
    explained: set[str] = set()
    if root is not None:
        con.print()
        con.print(Text("Root cause", style="bold underline"))
        _print_chunk(con, _finding(root, report, verbose, explained, is_root=True, said=not shortened), color)
    others = [f for f in report.findings if f is not root]
    if root is None:  # a root-cause block ends with its own blank line
        con.print()
    if root is None:
        con.print(Text(f"Findings ({len(others)})", style="bold underline"))
        if not others:
            con.print(Text("  none", style="dim"))
    elif others:
        con.print(Text(f"Other findings ({len(others)})", style="bold underline"))
    lint = report.hops is None
    batch: list[Any] = []  # printed in chunks: one rich print per finding is slow for 100k findings
    for f in others:
        # a lint run is a to-do list: its errors and warnings keep their message and fix
        full = verbose >= 1 or (lint and f.severity != "info")
        if full:
            batch += _finding(f, report, verbose, explained, is_root=False)
        else:
            batch.append(_finding_line(con, f))
        if len(batch) >= _CHUNK:
            _print_chunk(con, batch, color)
            batch = []
    _print_chunk(con, batch, color)
    if verbose < 2 and _hidden(report, verbose):
        if not con.file.getvalue().endswith("\n\n"):
            con.print()
        more = ("-v adds explanations and every finding in full; -vv evidence too" if lint
                else "-v adds probes, explanations and every fix; -vv everything")
        con.print(Text(f"More: {more}; -o json the whole report.", style="dim"))
    return rstrip_lines(con.file.getvalue())


def _hidden(report: Report, verbose: int) -> bool:
    """True when a higher verbosity would show more than this one did."""
    if verbose == 0:
        return bool(report.findings) or any(h.probes for h in report.hops or ())
    return any(probe_extra(p) for h in report.hops or () for p in h.probes) or any(
        finding_evidence(f) for f in report.findings) or report.target is not None


def _tables(con: Any, report: Report) -> None:
    from rich.text import Text

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


def _finding_head(f: Finding, indent: str = "  ") -> Any:
    from rich.text import Text

    line = Text(indent)
    line.append(f"{f.severity.upper():<7}", style=SEV_STYLE.get(f.severity, ""))
    line.append(f" {f.check}", style="bold")
    if f.object:
        line.append(f"  {f.object}")
    port = f.about.port
    if port is not None and (port.name or port.port is not None):
        line.append(" port " + (f"{port.name} ({port.port})" if port.name and port.port is not None
                                else str(port.name or port.port)))
    if f.evidence.get("location"):
        line.append(f"  {f.evidence['location']}", style="dim")
    return line


def _finding_line(con: Any, f: Finding) -> Any:
    """One line: severity, check, object, location, then as much of the message as fits."""
    from rich.text import Text

    line = _finding_head(f)
    msg = " ".join(finding_message(f).split())
    if f.object and msg.startswith(f.object + " "):  # the head already names the object
        msg = msg[len(f.object) + 1:]
    line.append("  ")
    line.append(Text(msg, style="dim"))
    line.truncate(con.width, overflow="ellipsis")
    return line


#: Lines the verdict takes at most in the short text report (the whole of it is under Root cause).
VERDICT_LINES = 5


def _fit_verdict(con: Any, prefix: str, report: Report) -> tuple[str, bool]:
    """The verdict line in at most VERDICT_LINES lines of the console after `prefix` (the status
    word): whole when it fits, else its summary cut at a word (with …); and whether it was cut."""
    from rich.text import Text

    def fits(summary: str) -> bool:
        line = Text(prefix + " " + verdict_line(report, summary=summary))
        return len(line.wrap(con, con.width)) <= VERDICT_LINES

    summary = report.verdict.summary
    cut = cut_to_fit(summary, fits, mark=" …")
    return verdict_line(report, summary=cut), cut != summary


def _finding(f: Finding, report: Report, verbose: int, explained: set[str], *, is_root: bool,
             said: bool = True) -> list[Any]:
    """The renderables of one finding in full: head, message, why, fix, evidence, a blank line.

    The root cause's message is left out when the verdict line `said` it whole; when the verdict
    was shortened, it follows the fix (the first screen keeps the fix)."""
    from rich.padding import Padding
    from rich.text import Text

    out: list[Any] = [_finding_head(f)]
    msg = finding_message(f)
    late: list[Any] = []
    if is_root and not said:
        late.append(Padding(Text("In full: ", style="bold").append(msg), (0, 0, 0, 4), expand=False))
    elif not (is_root and msg in report.verdict.summary):  # the verdict line already said it
        out.append(Padding(Text(msg), (0, 0, 0, 4), expand=False))
    if verbose >= 1 and f.explanation:
        if f.check not in explained:
            explained.add(f.check)
            out.append(Padding(Text("Why: ", style="bold").append(reflow_prose(f.explanation)), (0, 0, 0, 4),
                              expand=False))
        else:  # the same check explained above: do not repeat the paragraph
            out.append(Padding(Text("Why: ", style="bold").append(Text(f"as above ({f.check})", style="dim")),
                              (0, 0, 0, 4), expand=False))
    fix = f.fix if verbose >= 1 else specific_fix(f)
    if fix:
        out.append(Padding(Text("Fix: ", style="bold").append(_terminal_prose(fix)), (0, 0, 0, 4), expand=False))
    out += late
    ev = finding_evidence(f)
    if ev and verbose >= 2:
        import json

        block = json.dumps(ev, indent=2, ensure_ascii=False, default=str)
        out.append(Padding(Text("Evidence:\n", style="bold").append(Text(block, style="dim")), (0, 0, 0, 4),
                          expand=False))
    out.append(Text(""))
    return out


def _terminal_prose(text: str) -> Any:
    """Prose for a terminal: paragraphs reflowed, ``` fences dropped, code indented two spaces."""
    import re

    from rich.text import Text

    out = Text()
    for i, chunk in enumerate(re.split(r"^```[^\n]*\n(.*?)^```[ \t]*$", reflow_prose(text), flags=re.S | re.M)):
        if i % 2:
            out.append("\n".join("  " + ln for ln in chunk.rstrip("\n").splitlines()) + "\n", style="cyan")
        elif chunk.strip():
            out.append(("\n" if out.plain else "") + chunk.strip("\n") + "\n")
    out.rstrip()
    return out


_CHUNK = 600


def _print_chunk(con: Any, items: list[Any], color: bool) -> None:
    from rich.console import Group

    if not items:
        return
    if color:
        con.print(Group(*items))
    else:
        print_plain(con, items)


def _text_rows(con: Any, rows: Sequence[tuple[str, str]]) -> None:
    from rich.text import Text

    width = max((len(k) for k, _ in rows), default=0) + 2
    for k, val in rows:
        # URLs and object names stay on one line, so they can be copied
        con.print(Text(f"  {k + ':':<{width}}{val}"), soft_wrap=True)


def _text_hop(con: Any, h: HopResult, verbose: int) -> None:
    from rich.padding import Padding
    from rich.text import Text

    line = Text("  ")
    line.append(f"{_STATUS_MARK.get(h.status, '?')} {h.hop:<10}", style=_STATUS_STYLE.get(h.status, ""))
    line.append(f"{STATUS_WORD.get(h.status, h.status):<5} ", style=_STATUS_STYLE.get(h.status, ""))
    line.append(h.summary)
    if verbose == 0:  # one line per hop
        line.truncate(con.width, overflow="ellipsis")
        con.print(line, no_wrap=True, overflow="ellipsis")
        return
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
        if verbose < 2:
            continue
        for k, val in probe_extra(p).items():
            if isinstance(val, str) and "\n" in val.strip():
                block = "\n".join("  " + ln.rstrip("\r") for ln in val.strip().splitlines()[:40])
                con.print(Padding(Text(f"{k}:\n{block}", style="dim"), (0, 0, 0, 8), expand=False))
            else:
                con.print(Padding(Text(f"{k}: {short(val, 300)}", style="dim"), (0, 0, 0, 8),
                                  expand=False))
