"""Render reports (text, JSON, Markdown, HTML) and the check catalog; credentials are redacted first.

    render(report, "text" | "json" | "markdown" | "html") -> str
    render_checks_text() -> str             the catalog as tables grouped by hop
    render_check(check, "text" | "json" | "markdown") -> str

Text uses rich and has colour only on a terminal without NO_COLOR (or when `color=True`).
Lint reports (no target, route or hops) render without those sections.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import shutil
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from kdiag.catalog import HOP_ORDER, Check, catalog, reflow_prose
from kdiag.model import Finding, HopResult, ProbeResult, Report
from kdiag.report.redact import redact_report

__all__ = ["FORMATS", "render", "render_check", "render_checks_text", "use_color"]

FORMATS = ("text", "json", "markdown", "html")

_STATUS_WORD = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}
_STATUS_STYLE = {"ok": "bold green", "warn": "bold yellow", "fail": "bold red", "skip": "dim"}
_STATUS_MARK = {"ok": "✔", "warn": "!", "fail": "✘", "skip": "·"}
_SEV_STYLE = {"error": "bold red", "warning": "bold yellow", "info": "bold blue"}
_SEV_ORDER = {"error": 0, "warning": 1, "info": 2}


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


def render(report: Report, fmt: str, *, color: bool | None = None) -> str:
    """The report in one format, always redacted."""
    safe = redact_report(report)
    if fmt == "json":
        return json.dumps(safe.to_dict(), indent=2, ensure_ascii=False, default=str) + "\n"
    if fmt == "markdown":
        return _markdown(safe)
    if fmt == "html":
        return _html(safe)
    if fmt == "text":
        return _text(safe, use_color(color))
    raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")


# -- shared bits -----------------------------------------------------------------------------


def _verdict_line(report: Report) -> str:
    v = report.verdict
    where = []
    if v.hop:
        where.append(f"hop {v.hop}")
    if v.check:
        where.append(f"check {v.check}")
    return f"{v.summary}" + (f" ({', '.join(where)})" if where else "")


def _source_line(report: Report) -> str:
    s = report.source
    parts: list[str] = [s.kind]
    if s.context:
        parts.append(f"context {s.context}")
    if s.namespace:
        parts.append(f"namespace {s.namespace}")
    if s.paths:
        parts.append("paths " + ", ".join(s.paths))
    return ", ".join(parts)


def _route_rows(report: Report) -> list[tuple[str, str]]:
    r = report.route
    if r is None:
        return []
    rows: list[tuple[str, str]] = []
    if r.ingress:
        rows.append(("Ingress", r.ingress))
    if r.rule:
        rule = r.rule
        rows.append(("Rule", " ".join(str(x) for x in (rule.get("host") or "*", rule.get("path") or "",
                                                        f"({rule.get('pathType')})" if rule.get("pathType") else "") if x)))
    canary = r.canary_summary()
    if canary:
        rows.append(("Canary", canary))
    if r.service:
        backend = r.extra.get("backend")
        missing = isinstance(backend, Mapping) and backend.get("service_found") is False
        rows.append(("Service", f"{r.service}" + (f" port {r.port}" if r.port is not None else "")
                     + (" (no such Service)" if missing else "")))
    if r.target_port is not None:
        rows.append(("Target port", str(r.target_port)))
    if r.pods:
        rows.append(("Pods", ", ".join(r.pods)))
    rows += _route_extra_rows(r.extra)
    return rows


def _route_extra_rows(extra: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The few route facts a reader needs; the JSON report keeps all of them."""
    rows: list[tuple[str, str]] = []
    if extra.get("matched") is False:
        where = extra.get("default_backend")
        via = f" (Ingress {extra['default_backend_ingress']})" if extra.get("default_backend_ingress") else ""
        rows.append(("No rule matched", "the Ingress defaultBackend answers" + via if where == "ingress"
                     else "the controller's default backend answers 404"))
    cls = extra.get("ingress_class")
    if isinstance(cls, Mapping) and cls.get("class"):
        rows.append(("Ingress class", f"{cls['class']} ({cls.get('source')})"
                     + ("" if cls.get("accepted", True) else f": {cls.get('reason')}")))
    backend = extra.get("backend")
    if isinstance(backend, Mapping) and backend.get("service_found"):
        eps = backend.get("endpoints") or []
        ready = sum(1 for e in eps if e.get("ready"))
        rows.append(("Endpoints", f"{ready} of {len(eps)} ready ({backend.get('endpoints_source')})"))
    for note in extra.get("notes") or ():
        rows.append(("Note", str(note)))
    return rows


def _target_rows(report: Report) -> list[tuple[str, str]]:
    t = report.target
    if t is None:
        return []
    rows = [("URL", t.url)]
    for name, value in t.headers.items():
        rows.append((f"Header {name}", value))
    if t.client_url:
        rows.append(("Client URL", t.client_url))
    if t.page_url:
        rows.append(("Page URL", t.page_url))
    return rows


def _probe_result(p: ProbeResult) -> str:
    bits = []
    if p.status_code is not None:
        bits.append(str(p.status_code))
    if p.elapsed_ms is not None:
        bits.append(f"{p.elapsed_ms:.1f} ms")
    return " ".join(bits)


def _probe_note(p: ProbeResult) -> str:
    bits = [b for b in (p.detail, f"error: {p.error}" if p.error else "") if b]
    return "; ".join(bits)


def _probe_extra(p: ProbeResult) -> dict[str, Any]:
    return {k: v for k, v in p.extra.items() if v not in (None, "", [], {})}


def _short(v: Any, limit: int = 200) -> str:
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: _SEV_ORDER.get(f.severity, 3))


def _message(f: Finding) -> str:
    """The message without a leading `file:line: ` that is already shown as the location."""
    loc = f.evidence.get("location")
    if loc and f.message.startswith(f"{loc}: "):
        return f.message[len(loc) + 2:]
    return f.message


def _evidence(f: Finding) -> dict[str, Any]:
    return {k: v for k, v in f.evidence.items() if k != "location"}


# -- text (rich) -----------------------------------------------------------------------------


def _console(color: bool) -> Any:
    from rich.console import Console

    width = shutil.get_terminal_size((100, 24)).columns if color else 100
    return Console(file=io.StringIO(), force_terminal=color, no_color=not color,
                   color_system="standard" if color else None, width=max(60, width),
                   highlight=False, emoji=False, legacy_windows=False)


def _text(report: Report, color: bool) -> str:
    from rich.padding import Padding
    from rich.text import Text

    con = _console(color)
    v = report.verdict
    head = Text()
    head.append(f" {_STATUS_WORD.get(v.status, v.status.upper())} ", style=_STATUS_STYLE.get(v.status, ""))
    head.append(" " + _verdict_line(report), style="bold")
    con.print(head)
    con.print(Text(f"source: {_source_line(report)} · kdiag {report.kdiag_version} · {report.created}",
                   style="dim"))
    if report.target is not None:
        con.print()
        con.print(Text("Target", style="bold underline"))
        _text_rows(con, _target_rows(report))
    if report.route is not None:
        con.print()
        con.print(Text("Route", style="bold underline"))
        rows = _route_rows(report)
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
    explained: set[str] = set()
    for f in _sorted_findings(report.findings):
        line = Text("  ")
        line.append(f"{f.severity.upper():<7}", style=_SEV_STYLE.get(f.severity, ""))
        line.append(f" {f.check}", style="bold")
        if f.object:
            line.append(f"  {f.object}")
        if f.evidence.get("location"):
            line.append(f"  {f.evidence['location']}", style="dim")
        con.print(line)
        con.print(Padding(Text(_message(f)), (0, 0, 0, 4), expand=False))
        if f.explanation and f.check not in explained:
            explained.add(f.check)
            con.print(Padding(Text("Why: ", style="bold").append(reflow_prose(f.explanation)), (0, 0, 0, 4), expand=False))
        elif f.explanation:  # the same check explained above: do not repeat the paragraph
            con.print(Padding(Text("Why: ", style="bold").append(Text(f"as above ({f.check})", style="dim")),
                              (0, 0, 0, 4), expand=False))
        if f.fix:
            con.print(Padding(Text("Fix: ", style="bold").append(reflow_prose(f.fix)), (0, 0, 0, 4), expand=False))
        ev = _evidence(f)
        if ev:
            con.print(Padding(Text("Evidence: ", style="bold").append(Text(_short(ev, 400), style="dim")),
                              (0, 0, 0, 4), expand=False))
        con.print()
    return _rstrip_lines(con.file.getvalue())


def _rstrip_lines(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


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
    line.append(f"{_STATUS_WORD.get(h.status, h.status):<5} ", style=_STATUS_STYLE.get(h.status, ""))
    line.append(h.summary)
    con.print(line)
    for p in h.probes:
        pl = Text("      ")
        pl.append(f"{p.kind} via {p.via} ", style="bold")
        pl.append(f"{p.target} ")
        pl.append("ok " if p.ok else "failed ", style="green" if p.ok else "red")
        pl.append(_probe_result(p))
        note = _probe_note(p)
        if note:
            pl.append(f"  {note}", style="dim")
        con.print(pl, soft_wrap=True)  # one line: the target URL stays copyable
        for k, val in _probe_extra(p).items():
            if isinstance(val, str) and "\n" in val.strip():
                block = "\n".join("  " + ln.rstrip("\r") for ln in val.strip().splitlines()[:40])
                con.print(Padding(Text(f"{k}:\n{block}", style="dim"), (0, 0, 0, 8), expand=False))
            else:
                con.print(Padding(Text(f"{k}: {_short(val, 300)}", style="dim"), (0, 0, 0, 8),
                                  expand=False))


# -- markdown --------------------------------------------------------------------------------


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


def _markdown(report: Report) -> str:
    v = report.verdict
    kind = "lint" if report.target is None else "diagnosis"
    lines = [f"# kdiag {kind}: {_STATUS_WORD.get(v.status, v.status)}", ""]
    lines += [f"**Verdict:** {_md_text(_verdict_line(report))}", ""]
    lines += _md_table(("", ""), [("Source", _source_line(report)),
                                  ("Created", report.created),
                                  ("kdiag", report.kdiag_version)])
    if report.target is not None:
        lines += ["", "## Target", ""]
        lines += _md_table(("", ""), _target_rows(report))
    if report.route is not None:
        lines += ["", "## Route", ""]
        rows = _route_rows(report)
        lines += _md_table(("step", "value"), rows) if rows else ["_No route resolved._"]
    if report.hops is not None:
        lines += ["", "## Hops", ""]
        lines += _md_table(("hop", "status", "summary"),
                           [(h.hop, _STATUS_WORD.get(h.status, h.status), h.summary) for h in report.hops])
        probes = [(h, p) for h in report.hops for p in h.probes]
        if probes:
            lines += ["", "### Probes", ""]
            lines += _md_table(
                ("hop", "probe", "via", "target", "ok", "result", "detail"),
                [(h.hop, p.kind, p.via, f"`{p.target}`" if p.target else "", "yes" if p.ok else "no",
                  _probe_result(p), _probe_note(p)) for h, p in probes])
            extras = [(h, p) for h, p in probes if _probe_extra(p)]
            for h, p in extras:
                lines += ["", f"<details><summary>{html.escape(f'{h.hop} {p.kind} via {p.via} evidence')}</summary>", ""]
                lines += _fence(json.dumps(_probe_extra(p), indent=2, ensure_ascii=False, default=str), "json")
                lines += ["", "</details>"]
    lines += ["", f"## Findings ({len(report.findings)})", ""]
    if not report.findings:
        lines.append("_No problems found._")
    for i, f in enumerate(_sorted_findings(report.findings), 1):
        title = f"### {i}. {f.severity.upper()} `{f.check}`" + (f" — {_cell(f.object)}" if f.object else "")
        lines += [title, ""]
        meta = [f"hop `{f.hop}`"]
        if f.evidence.get("location"):
            meta.append(f"at `{f.evidence['location']}`")
        lines += [", ".join(meta), "", _md_text(_message(f)), ""]
        if f.explanation:
            lines += [f"**Why.** {f.explanation}", ""]
        if f.fix:
            lines += ["**Fix.**", "", f.fix, ""]
        ev = _evidence(f)
        if ev:
            lines += ["<details><summary>Evidence</summary>", ""]
            lines += _fence(json.dumps(ev, indent=2, ensure_ascii=False, default=str), "json")
            lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


# -- html ------------------------------------------------------------------------------------

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


def _html(report: Report) -> str:
    v = report.verdict
    kind = "lint" if report.target is None else "diagnosis"
    word = _STATUS_WORD.get(v.status, v.status)
    body = [f"<h1>kdiag {kind} {_badge(word, v.status)}</h1>",
            f"<p><strong>Verdict:</strong> {_h(_verdict_line(report))}</p>",
            _html_table(None, [("Source", _source_line(report)), ("Created", report.created),
                               ("kdiag", report.kdiag_version)])]
    if report.target is not None:
        body += ["<h2>Target</h2>", _html_table(None, _target_rows(report))]
    if report.route is not None:
        rows = _route_rows(report)
        body += ["<h2>Route</h2>", _html_table(("step", "value"), rows) if rows
                 else '<p class="muted">No route resolved.</p>']
    if report.hops is not None:
        body.append("<h2>Hops</h2>")
        body.append("<table><tr><th>hop</th><th>status</th><th>summary</th></tr>")
        for h in report.hops:
            body.append(f"<tr><td>{_h(h.hop)}</td><td>{_badge(_STATUS_WORD.get(h.status, h.status), h.status)}"
                        f"</td><td>{_h(h.summary)}</td></tr>")
        body.append("</table>")
        probes = [(h, p) for h in report.hops for p in h.probes]
        if probes:
            body.append("<h3>Probes</h3><table><tr><th>hop</th><th>probe</th><th>via</th>"
                        "<th>target</th><th>ok</th><th>result</th><th>detail</th></tr>")
            for h, p in probes:
                extra = _probe_extra(p)
                detail = _h(_probe_note(p))
                if extra:
                    detail += ("<details><summary>evidence</summary><pre>"
                               f"{_h(json.dumps(extra, indent=2, ensure_ascii=False, default=str))}"
                               "</pre></details>")
                body.append(f"<tr><td>{_h(h.hop)}</td><td>{_h(p.kind)}</td><td>{_h(p.via)}</td>"
                            f"<td><code>{_h(p.target)}</code></td><td>{'yes' if p.ok else 'no'}</td>"
                            f"<td>{_h(_probe_result(p))}</td><td>{detail}</td></tr>")
            body.append("</table>")
    body.append(f"<h2>Findings ({len(report.findings)})</h2>")
    if not report.findings:
        body.append('<p class="muted">No problems found.</p>')
    for f in _sorted_findings(report.findings):
        loc = f.evidence.get("location")
        part = ['<div class="finding">',
                f"<h3>{_badge(f.severity.upper(), f.severity)} <code>{_h(f.check)}</code> {_h(f.object)}</h3>",
                f'<p class="muted">hop {_h(f.hop)}' + (f", at <code>{_h(loc)}</code>" if loc else "") + "</p>",
                f"<p>{_h(_message(f))}</p>"]
        if f.explanation:
            part += ["<h4>Why</h4>", _prose(f.explanation)]
        if f.fix:
            part += ["<h4>Fix</h4>", _prose(f.fix)]
        ev = _evidence(f)
        if ev:
            part.append("<details><summary>Evidence</summary><pre>"
                        f"{_h(json.dumps(ev, indent=2, ensure_ascii=False, default=str))}</pre></details>")
        part.append("</div>")
        body.append("\n".join(part))
    title = _h(f"kdiag {kind}: {word} — {v.summary}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{title}</title>"
            f"<style>{_CSS}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n")


# -- the catalog -----------------------------------------------------------------------------


def render_checks_text(*, color: bool | None = None) -> str:
    """Every check of the catalog, grouped by hop, as tables."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    con = _console(use_color(color))
    checks = list(catalog().values())
    hops = [h for h in HOP_ORDER if any(c.hop == h for c in checks)]
    hops += sorted({c.hop for c in checks} - set(hops))
    id_width = max((len(c.id) for c in checks), default=10)
    for hop in hops:
        table = Table(title=Text(f"{hop} hop", style="bold"), title_justify="left", expand=False,
                      show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD)
        table.add_column("id", no_wrap=True, min_width=id_width)
        table.add_column("severity", no_wrap=True)
        table.add_column("probe", no_wrap=True)
        table.add_column("title")
        for c in checks:
            if c.hop == hop:
                table.add_row(Text(c.id), Text(c.severity, style=_SEV_STYLE.get(c.severity, "")),
                              Text("yes" if c.probe else ""), Text(c.title))
        con.print(table)
        con.print()
    con.print(Text("`kdiag checks ID` explains one check.", style="dim"))
    return _rstrip_lines(con.file.getvalue())


def _example_names(check: Check) -> dict[str, list[str]]:
    ex: Mapping[str, Any] = check.examples or {}
    out: dict[str, list[str]] = {}
    for kind in ("fires", "quiet"):
        names = [str(e.get("name", f"#{i}")) for i, e in enumerate(ex.get(kind) or ()) if isinstance(e, Mapping)]
        if names:
            out[kind] = names
    if ex.get("scenarios"):
        out["scenarios"] = [str(s) for s in ex["scenarios"]]
    return out


def render_check(check: Check, fmt: str, *, color: bool | None = None) -> str:
    """One check explained: title, hop, severity, explanation, fix, references, examples."""
    examples = _example_names(check)
    if fmt == "json":
        return json.dumps(asdict(check), indent=2, ensure_ascii=False, default=str) + "\n"
    if fmt == "markdown":
        lines = [f"# {check.id}", "", f"**{check.title}** — hop `{check.hop}`, severity "
                 f"`{check.severity}`" + (", needs a live probe" if check.probe else "") + ".", "",
                 check.explanation, "", "## Fix", "", check.fix, ""]
        if check.references:
            lines += ["## References", ""] + [f"- <{r}>" for r in check.references] + [""]
        if examples:
            lines += ["## Examples", ""]
            lines += [f"- {k}: " + ", ".join(f"`{n}`" for n in v) for k, v in examples.items()]
        return "\n".join(lines).rstrip() + "\n"
    if fmt != "text":
        raise ValueError(f"unknown format {fmt!r} for a check (expected text, json or markdown)")
    from rich.text import Text

    con = _console(use_color(color))
    con.print(Text(check.id, style="bold"))
    con.print(Text(check.title))
    meta = Text("hop ")
    meta.append(check.hop, style="bold")
    meta.append(" · severity ")
    meta.append(check.severity, style=_SEV_STYLE.get(check.severity, ""))
    if check.probe:
        meta.append(" · needs a live probe")
    con.print(meta)
    con.print()
    con.print(Text("What it means", style="bold underline"))
    con.print(Text(reflow_prose(check.explanation)))
    con.print()
    con.print(Text("Fix", style="bold underline"))
    con.print(Text(reflow_prose(check.fix)))
    if check.references:
        con.print()
        con.print(Text("References", style="bold underline"))
        for r in check.references:
            con.print(Text(f"  {r}"))
    if examples:
        con.print()
        con.print(Text("Examples", style="bold underline"))
        for k, names in examples.items():
            con.print(Text(f"  {k}: {', '.join(names)}"))
    return _rstrip_lines(con.file.getvalue())
