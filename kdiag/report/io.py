"""Saved reports: read a `kdiag.report/v1` JSON file back, or write a report in any format."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kdiag.errors import InputError
from kdiag.inputfiles import MAX_REPORT_BYTES, Unreadable, read_regular_file
from kdiag.model import SCHEMA, Report

__all__ = ["load_report", "render_loaded", "save_report"]


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_report(path: str | Path) -> Report:
    """Read a JSON report; a missing, unreadable or malformed file is an InputError (one line).

    Only a regular file of at most MAX_REPORT_BYTES (64 MiB) is read; fields of the wrong type
    are coerced or dropped by `Report.from_dict`.
    """
    p = Path(path)
    if not str(path).strip():
        raise InputError("an empty string is not a file name")
    try:
        raw = read_regular_file(p, MAX_REPORT_BYTES)
    except Unreadable as e:
        if p.is_dir():
            raise InputError(f"{path}: is a directory, not a report file") from None
        raise InputError(e.about(path)) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a kdiag report (not UTF-8 text)") from None
    try:
        data = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not a kdiag report (invalid JSON at line {e.lineno}: {e.msg})") from None
    except RecursionError:
        raise InputError(f"{path}: not a kdiag report (JSON nested too deeply)") from None
    except ValueError as e:  # NaN/Infinity, or an integer of thousands of digits
        raise InputError(f"{path}: not a kdiag report ({e})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a kdiag report (expected a JSON object)")
    if data.get("schema") != SCHEMA:
        schema = repr(data.get("schema"))
        schema = schema if len(schema) <= 60 else schema[:57] + "..."
        raise InputError(f"{path}: not a kdiag report (schema is {schema}, expected {SCHEMA!r})")
    try:
        return Report.from_dict(data)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as e:
        raise InputError(f"{path}: malformed kdiag report ({type(e).__name__}: {e})") from None


def render_loaded(report: Report, fmt: str, path: str | Path, *, color: bool | None = None,
                  verbose: int = 0) -> str:
    """Render a report read from `path`: free-form parts (evidence, probe details) of a hand-edited
    or damaged file that a renderer cannot use are an InputError naming the file, not a crash."""
    from kdiag.report.render import render

    try:
        return render(report, fmt, color=color, verbose=verbose)
    except (TypeError, ValueError, AttributeError, KeyError, IndexError, RecursionError) as e:
        raise InputError(f"{path}: malformed kdiag report ({type(e).__name__}: {e})") from None


def save_report(report: Report, path: str | Path, fmt: str = "json", *, verbose: int = 2) -> None:
    """Write the report (redacted, like every rendering) to `path` in `fmt`.

    A saved text report is complete by default (`verbose=2`, as `-vv`): it is read later, by
    someone who was not at the terminal. Raises ValueError for an unknown format and OSError
    when the file cannot be written (the TUI shows both to the user).
    """
    from kdiag.report.render import render

    text = render(report, fmt, color=False, verbose=verbose)
    Path(path).write_text(text, encoding="utf-8")
