"""Saved reports: read a `kdiag.report/v1` JSON file back, or write a report in any format."""

from __future__ import annotations

import json
from pathlib import Path

from kdiag.errors import InputError
from kdiag.model import SCHEMA, Report

__all__ = ["load_report", "save_report"]


def load_report(path: str | Path) -> Report:
    """Read a JSON report; a missing, unreadable or malformed file is an InputError (one line)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory, not a report file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a kdiag report (not UTF-8 text)") from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(f"{path}: not a kdiag report (invalid JSON at line {e.lineno}: {e.msg})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a kdiag report (expected a JSON object)")
    if data.get("schema") != SCHEMA:
        raise InputError(f"{path}: not a kdiag report (schema is {data.get('schema')!r}, expected {SCHEMA!r})")
    try:
        return Report.from_dict(data)
    except (TypeError, ValueError, AttributeError, KeyError) as e:
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
