"""Render a report in one format; credentials are redacted first.

    render(report, "text" | "json" | "markdown" | "html", verbose=0) -> str

Each format lives in its own module (text, markdown, html; JSON is the report contract itself),
imported only when that format is asked for (the text one brings rich); the catalog views are in
`kdiag.report.checks`. Lint reports (no target, route or hops) render
without those sections.
"""

from __future__ import annotations

import json
import math
from typing import Any

from kdiag.findings import order_report
from kdiag.model import Report
from kdiag.report.redact import redact_report

__all__ = ["FORMATS", "finite", "render"]

FORMATS = ("text", "json", "markdown", "html")


def finite(value: Any) -> Any:
    """A JSON-like value with NaN and infinities (a manifest's `port: .nan`) written as strings:
    JSON has no such numbers, and a report must stay valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def render(report: Report, fmt: str, *, color: bool | None = None, verbose: int = 0) -> str:
    """The report in one format, always redacted, findings in `order_findings` order.

    Text has colour per `use_color(color)` and detail per `verbose` (0, 1 = -v, 2 = -vv).
    """
    safe = order_report(redact_report(report))
    if fmt == "json":
        return json.dumps(finite(safe.to_dict()), indent=2, ensure_ascii=False, default=str,
                          allow_nan=False) + "\n"
    if fmt == "markdown":
        from kdiag.report.markdown import render_markdown

        return render_markdown(safe)
    if fmt == "html":
        from kdiag.report.html import render_html

        return render_html(safe)
    if fmt == "text":
        from kdiag.report.text import render_text, use_color

        return render_text(safe, use_color(color), verbose)
    raise ValueError(f"unknown report format {fmt!r} (expected one of {', '.join(FORMATS)})")
