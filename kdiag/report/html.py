"""The report as one self-contained HTML page (inline CSS, everything escaped, no external links).

Order as in Markdown: verdict, fix, hops, route, findings (each check's "Why" once), then the
probes, their evidence collapsed. The page fits a phone (390 px) and a desktop without sideways
scrolling (long ids and probe details wrap) and prints with every <details> opened (print CSS).
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

__all__ = ["render_html"]

_CSS = """
*{box-sizing:border-box}html{-webkit-text-size-adjust:100%}
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0 auto;max-width:72rem;
padding:1rem 1.25rem 3rem;color:#1d1d1f;line-height:1.45;overflow-wrap:anywhere}
h1{font-size:1.5rem;margin:.5rem 0}h2{font-size:1.25rem;border-bottom:1px solid #ddd;
padding-bottom:.2rem;margin-top:2rem}h3{font-size:1.05rem;margin:.6rem 0 .3rem}
.verdict{font-size:1.1rem}.meta{color:#57606a;font-size:.9rem}
table{border-collapse:collapse;margin:.5rem 0;width:100%}
th,td{border:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#f5f5f7}table.kv th{width:9rem;font-weight:600}
table.hops td:nth-child(-n+2),table.hops th:nth-child(-n+2){width:1%;white-space:nowrap;overflow-wrap:normal}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;overflow-wrap:anywhere}
pre{background:#f5f5f7;padding:.6rem;white-space:pre-wrap;margin:.4rem 0}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.3rem;color:#fff;font-weight:600;
font-size:.85em;white-space:nowrap;-webkit-print-color-adjust:exact;print-color-adjust:exact}
.ok{background:#1a7f37}.warn,.warning{background:#9a6700}.fail,.error{background:#cf222e}
.skip,.info{background:#57606a}.finding,.probe,#fix{border:1px solid #ddd;border-radius:.4rem;
padding:.2rem 1rem;margin:1rem 0}#fix{border-color:#cf222e;border-width:2px}.muted{color:#57606a}
summary{cursor:pointer;color:#0969da}#fix h2{margin-top:.6rem}
@media (max-width:600px){body{padding:.5rem .6rem 2rem}h1{font-size:1.25rem}
.finding,.probe,#fix{padding:.1rem .6rem}th,td{padding:.25rem .35rem}table.kv th{width:6rem}}
@media print{body{max-width:none;padding:0;font-size:10.5pt}summary{color:inherit}
.finding,.probe,#fix,tr{break-inside:avoid}h2{break-after:avoid}
details::details-content{content-visibility:visible;display:block}}
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


def _badge(word: str, cls: str) -> str:
    return f'<span class="badge {_h(cls)}">{_h(word)}</span>'


def render_html(report: Report) -> str:
    v = report.verdict
    kind = "watch" if report.watch is not None else ("lint" if report.target is None else "diagnosis")
    word = STATUS_WORD.get(v.status, v.status)
    about = [f"<code>{_h(report.target.url)}</code>"] if report.target is not None else []
    about += [_h(f"source: {source_line(report)}"), _h(report.created), _h(f"kdiag {report.kdiag_version}")]
    body = [f"<h1>kdiag {kind} {_badge(word, v.status)}</h1>",
            f'<p class="verdict"><strong>Verdict:</strong> {_h(verdict_line(report))}</p>',
            f'<p class="meta">{" · ".join(about)}</p>']
    root = root_finding(report)
    if root is not None and root.fix:
        body += ['<section id="fix"><h2>Fix</h2>', f"<p>{_finding_title(root)}</p>", _prose(specific_fix(root))]
        if specific_fix(root) != root.fix.strip():
            general = root.fix.strip()[len(specific_fix(root)):]
            body.append(f"<details><summary>In general</summary>{_prose(general)}</details>")
        body.append("</section>")
    if report.hops is not None:
        body.append('<h2>Hops</h2><table class="hops"><tr><th>hop</th><th>status</th><th>summary</th></tr>')
        for h in report.hops:
            body.append(f"<tr><td>{_h(h.hop)}</td><td>{_badge(STATUS_WORD.get(h.status, h.status), h.status)}"
                        f"</td><td>{_h(h.summary)}</td></tr>")
        body.append("</table>")
    if report.target is not None or report.route is not None:
        rows = target_rows(report) + route_rows(report)
        body.append("<h2>Route</h2>")
        body.append(_kv_table(rows) if rows else '<p class="muted">No route resolved.</p>')
    if report.watch is not None:
        from kdiag.report.watch import watch_html

        body.append(watch_html(report.watch))
    body += _findings(report, root)
    body += _probes(report)
    title = _h(f"kdiag {kind}: {word} — {v.summary}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


def _kv_table(rows: Iterable[Sequence[Any]]) -> str:
    return '<table class="kv">' + "".join(f"<tr><th>{_h(k)}</th><td>{_h(val)}</td></tr>" for k, val in rows) + "</table>"


def _finding_title(f: Finding) -> str:
    loc = f.evidence.get("location")
    return (f"{_badge(f.severity.upper(), f.severity)} <code>{_h(f.check)}</code> {_h(f.object)}"
            + (f" at <code>{_h(loc)}</code>" if loc else ""))


def _findings(report: Report, root: Finding | None) -> list[str]:
    body = [f"<h2>Findings ({len(report.findings)})</h2>"]
    if not report.findings:
        body.append('<p class="muted">No problems found.</p>')
    explained: set[str] = set()
    for f in report.findings:
        loc = f.evidence.get("location")
        part = ['<div class="finding">', f"<h3>{_finding_title(f)}</h3>",
                f'<p class="muted">hop {_h(f.hop)}' + (f", at <code>{_h(loc)}</code>" if loc else "")
                + (" — <strong>root cause</strong>" if f is root else "") + "</p>",
                f"<p>{_h(finding_message(f))}</p>"]
        if f.explanation and f.check not in explained:
            explained.add(f.check)
            part += ["<h4>Why</h4>", _prose(f.explanation)]
        if f is root and f.fix:
            part.append('<p><strong>Fix:</strong> see <a href="#fix">Fix</a> above.</p>')
        elif f.fix:
            part += ["<h4>Fix</h4>", _prose(f.fix)]
        ev = finding_evidence(f)
        if ev:
            part.append("<details><summary>Evidence</summary><pre>"
                        f"{_h(json.dumps(ev, indent=2, ensure_ascii=False, default=str))}</pre></details>")
        part.append("</div>")
        body.append("\n".join(part))
    return body


def _probes(report: Report) -> list[str]:
    probes = [(h, p) for h in report.hops or () for p in h.probes]
    if not probes:
        return []
    body = [f"<h2>Probes ({len(probes)})</h2>"]
    for h, p in probes:
        result = probe_result(p)
        part = ['<div class="probe">',
                f"<h3>{_h(h.hop)}: {_h(p.kind)} via {_h(p.via)} "
                f"{_badge('ok' if p.ok else 'failed', 'ok' if p.ok else 'fail')}"
                + (f" {_h(result)}" if result else "") + "</h3>",
                f"<p><code>{_h(p.target)}</code></p>"]
        note = probe_note(p)
        if note:
            part.append(f"<p>{_h(note)}</p>")
        extra = probe_extra(p)
        if extra:
            part.append("<details><summary>Evidence</summary><pre>"
                        f"{_h(json.dumps(extra, indent=2, ensure_ascii=False, default=str))}</pre></details>")
        part.append("</div>")
        body.append("\n".join(part))
    return body
