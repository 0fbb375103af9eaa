"""Save a report from the TUI (through `kdiag.report.io.save_report`) and suggest a file name."""

from __future__ import annotations

import re
from pathlib import Path

from kdiag.model import Report

__all__ = ["FORMAT_SUFFIXES", "default_report_path", "save_report"]

FORMAT_SUFFIXES: dict[str, str] = {"json": ".json", "markdown": ".md", "html": ".html", "text": ".txt"}


def default_report_path(report: Report, fmt: str) -> str:
    """A file name like `kdiag-chatapp.com-wss.json` derived from the report's target."""
    stem = "kdiag-report"
    if report.target is not None and report.target.url:
        url = re.sub(r"^[a-z]+://", "", report.target.url)
        slug = re.sub(r"[^A-Za-z0-9.]+", "-", url).strip("-")
        if slug:
            stem = f"kdiag-{slug[:60]}"
    return stem + FORMAT_SUFFIXES.get(fmt, ".txt")


def save_report(report: Report, path: str | Path, fmt: str) -> Path:
    """Write `report` to `path` in `fmt` (json | markdown | html | text), redacted; returns the path.

    Raises OSError when the file cannot be written and ValueError for an unknown format.
    """
    from kdiag.report.io import save_report as _save

    target = Path(path).expanduser()
    _save(report, target, fmt)
    return target
