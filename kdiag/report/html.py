"""The report as one self-contained HTML page (inline CSS, everything escaped, no external links)."""

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

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:72rem;
padding:0 1rem;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6rem}h2{border-bottom:1px solid #ddd;padding-bottom:.2rem;margin-top:2rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f5f5f7}code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f5f5f7;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.3rem;color:#fff;font-weight:600}
.ok{background:#1a7f37}.warn,.warning{background:#9a6700}.fail,.error{background:#cf222e}
.skip,.info{background:#57606a}.finding{border:1px solid #ddd;border-radius:.4rem;padding:.2rem 1rem;
margin:1rem 0}.muted{color:#57606a}
"""


def _h(s: Any) -> str:
    return html.escape("" if s is None else str(s), quote=True)


def _inline(s: str) -> str:
    """Escape, then turn `code` spans into <code>."""
    parts = re.split(r"(`[^`\n]+`)", s)
    return "".join(f"<code>{_h(p[1:-1])}</code>" if p.startswith("`") and p.endswith("`") and len(p) > 1
                   else _h(p) for p in parts)


def _prose(text: str) -> str:
    """A tiny Markdown subset for explanations and fixes: paragraphs, ``` fences, `code`."""
    out: list[str] = []
    chunks = re.split(r"^```[^\n]*\n(.*?)^```[ \t]*$", text, flags=re.S | re.M)
    for i, chunk in enumerate(chunks):
        if i % 2:
            out.append(f"<pre><code>{_h(chunk.rstrip())}</code></pre>")
            continue
        for para in re.split(r"\n\s*\n", chunk.strip()):
            if para.strip():
                out.append(f"<p>{_inline(para.strip())}</p>")
    return "\n".join(out)


def _html_table(header: Sequence[str] | None, rows: Iterable[Sequence[Any]]) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{_h(c)}</th>" for c in header) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td>{_h(c)}</td>" for c in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _badge(word: str, cls: str) -> str:
    return f'<span class="badge {_h(cls)}">{_h(word)}</span>'


def render_html(report: Report) -> str:
    v = report.verdict
    kind = "watch" if report.watch is not None else ("lint" if report.target is None else "diagnosis")
    word = STATUS_WORD.get(v.status, v.status)
    body = [f"<h1>kdiag {kind} {_badge(word, v.status)}</h1>",
            f"<p><strong>Verdict:</strong> {_h(verdict_line(report))}</p>",
            _html_table(None, [("Source", source_line(report)), ("Created", report.created),
                               ("kdiag", report.kdiag_version)])]
    if report.target is not None:
        body += ["<h2>Target</h2>", _html_table(None, target_rows(report))]
    if report.route is not None:
        rows = route_rows(report)
        body += ["<h2>Route</h2>", _html_table(("step", "value"), rows) if rows
                 else '<p class="muted">No route resolved.</p>']
    if report.watch is not None:
        from kdiag.report.watch import watch_html

        body.append(watch_html(report.watch))
    if report.hops is not None:
        body.append("<h2>Hops</h2>")
        body.append("<table><tr><th>hop</th><th>status</th><th>summary</th></tr>")
        for h in report.hops:
            body.append(f"<tr><td>{_h(h.hop)}</td><td>{_badge(STATUS_WORD.get(h.status, h.status), h.status)}"
                        f"</td><td>{_h(h.summary)}</td></tr>")
        body.append("</table>")
        probes = [(h, p) for h in report.hops for p in h.probes]
        if probes:
            body.append("<h3>Probes</h3><table><tr><th>hop</th><th>probe</th><th>via</th>"
                        "<th>target</th><th>ok</th><th>result</th><th>detail</th></tr>")
            for h, p in probes:
                extra = probe_extra(p)
                detail = _h(probe_note(p))
                if extra:
                    detail += ("<details><summary>evidence</summary><pre>"
                               f"{_h(json.dumps(extra, indent=2, ensure_ascii=False, default=str))}"
                               "</pre></details>")
                body.append(f"<tr><td>{_h(h.hop)}</td><td>{_h(p.kind)}</td><td>{_h(p.via)}</td>"
                            f"<td><code>{_h(p.target)}</code></td><td>{'yes' if p.ok else 'no'}</td>"
                            f"<td>{_h(probe_result(p))}</td><td>{detail}</td></tr>")
            body.append("</table>")
    body.append(f"<h2>Findings ({len(report.findings)})</h2>")
    if not report.findings:
        body.append('<p class="muted">No problems found.</p>')
    for f in sorted_findings(report.findings):
        loc = f.evidence.get("location")
        part = ['<div class="finding">',
                f"<h3>{_badge(f.severity.upper(), f.severity)} <code>{_h(f.check)}</code> {_h(f.object)}</h3>",
                f'<p class="muted">hop {_h(f.hop)}' + (f", at <code>{_h(loc)}</code>" if loc else "") + "</p>",
                f"<p>{_h(finding_message(f))}</p>"]
        if f.explanation:
            part += ["<h4>Why</h4>", _prose(f.explanation)]
        if f.fix:
            part += ["<h4>Fix</h4>", _prose(f.fix)]
        ev = finding_evidence(f)
        if ev:
            part.append("<details><summary>Evidence</summary><pre>"
                        f"{_h(json.dumps(ev, indent=2, ensure_ascii=False, default=str))}</pre></details>")
        part.append("</div>")
        body.append("\n".join(part))
    title = _h(f"kdiag {kind}: {word} — {v.summary}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")
