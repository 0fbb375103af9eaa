"""The check catalog for people: every check as tables grouped by hop, or one check explained.

    render_checks_text() -> str                         the catalog, grouped by hop
    render_check(check, "text" | "json" | "markdown")   one check
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from kdiag.catalog import HOP_ORDER, Check, catalog, reflow_prose
from kdiag.report.text import SEV_STYLE, console, rstrip_lines, use_color

__all__ = ["render_check", "render_checks_text"]


def render_checks_text(*, color: bool | None = None) -> str:
    """Every check of the catalog, grouped by hop, as tables."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    con = console(use_color(color))
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
                table.add_row(Text(c.id), Text(c.severity, style=SEV_STYLE.get(c.severity, "")),
                              Text("yes" if c.probe else ""), Text(c.title))
        con.print(table)
        con.print()
    con.print(Text("`kdiag checks ID` explains one check.", style="dim"))
    return rstrip_lines(con.file.getvalue())


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

    con = console(use_color(color))
    con.print(Text(check.id, style="bold"))
    con.print(Text(check.title))
    meta = Text("hop ")
    meta.append(check.hop, style="bold")
    meta.append(" · severity ")
    meta.append(check.severity, style=SEV_STYLE.get(check.severity, ""))
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
    return rstrip_lines(con.file.getvalue())
