"""The `watch` section of a report (`kdiag watch`) in text, Markdown and HTML.

One summary line of figures, then the timeline of events (failures and cluster changes). The
other report modules call these only when `report.watch` is set.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from typing import Any

from kdiag.shape import as_list, as_map

__all__ = ["EVENT_LIMIT", "event_rows", "summary_line", "watch_html", "watch_markdown", "watch_text"]

#: Events shown in a rendered report (the JSON keeps them all).
EVENT_LIMIT = 200


def _counts(d: Any) -> str:
    items = as_map(d)
    return ", ".join(f"{k}×{v}" for k, v in items.items()) or "none"


def summary_line(section: Mapping[str, Any]) -> str:
    req = as_map(section.get("requests"))
    conn = as_map(section.get("connections"))
    line = (f"{section.get('duration_s', 0)} s at {section.get('rate', 0)} req/s: {req.get('sent', 0)} requests, "
            f"{req.get('failed', 0)} failed (by status: {_counts(req.get('by_status'))})")
    if conn.get("opened"):
        line += (f"; WebSockets held: {conn.get('opened', 0)} opened, {conn.get('dropped', 0)} dropped "
                 f"(close codes: {_counts(conn.get('close_codes'))})")
    return line


def event_rows(section: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    for e in as_list(section.get("events"))[:EVENT_LIMIT]:
        ev = as_map(e)
        rows.append((f"{float(ev.get('t') or 0):6.2f}", str(ev.get("kind", "")), str(ev.get("object", "")),
                     str(ev.get("detail", ""))))
    return rows


def _more(section: Mapping[str, Any]) -> int:
    return max(0, len(as_list(section.get("events"))) - EVENT_LIMIT)


def watch_text(con: Any, section: Mapping[str, Any]) -> None:
    """Print the section on a rich Console."""
    from rich.text import Text

    con.print()
    con.print(Text("Watch", style="bold underline"))
    con.print(Text("  " + summary_line(section)))
    for t, kind, obj, detail in event_rows(section):
        failure = kind in ("request-failed", "connection-dropped")
        line = Text(f"  {t} s  ")
        line.append(f"{kind:<19}", style="bold red" if failure else "cyan")
        line.append(f" {obj}  ")
        line.append(detail, style="dim")
        con.print(line)
    if _more(section):
        con.print(Text(f"  … {_more(section)} more events in the JSON report", style="dim"))


def watch_markdown(section: Mapping[str, Any]) -> list[str]:
    def cell(s: str) -> str:
        return s.replace("|", "\\|").replace("\n", " ")

    lines = ["", "## Watch", "", summary_line(section), ""]
    rows = event_rows(section)
    if rows:
        lines += ["| t (s) | event | object | detail |", "|---|---|---|---|"]
        lines += [f"| {t.strip()} | {cell(k)} | {cell(o)} | {cell(d)} |" for t, k, o, d in rows]
    if _more(section):
        lines += ["", f"_… {_more(section)} more events in the JSON report._"]
    return lines


def watch_html(section: Mapping[str, Any]) -> str:
    def h(s: str) -> str:
        return html.escape(s, quote=True)

    parts = ["<h2>Watch</h2>", f"<p>{h(summary_line(section))}</p>"]
    rows = event_rows(section)
    if rows:
        parts.append("<table><tr><th>t (s)</th><th>event</th><th>object</th><th>detail</th></tr>")
        for t, k, o, d in rows:
            cls = ' class="fail"' if k in ("request-failed", "connection-dropped") else ""
            parts.append(f"<tr{cls}><td>{h(t.strip())}</td><td>{h(k)}</td><td>{h(o)}</td><td>{h(d)}</td></tr>")
        parts.append("</table>")
    if _more(section):
        parts.append(f'<p class="muted">… {_more(section)} more events in the JSON report.</p>')
    return "\n".join(parts)
