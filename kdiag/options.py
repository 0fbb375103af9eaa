"""Command-line values checked before anything connects: durations, file names, the terminal.

- Durations (`--timeout`, `--idle`) are finite, positive and bounded: `inf`, `nan`, `1e9` and `0`
  are one-line usage errors (exit 2). The bounds are `MAX_TIMEOUT` and `MAX_IDLE`.
- A file option given an empty value (`-o ''`) is an error, not stdout.
- The TUI needs a terminal on stdin and stdout; without one kdiag says so and suggests the
  printing commands instead of writing escape codes nobody reads.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TextIO

from kdiag.errors import UsageError

__all__ = [
    "FILE_OPTIONS",
    "MAX_IDLE",
    "MAX_TIMEOUT",
    "check_file_options",
    "check_seconds",
    "require_terminal",
]

#: Upper bound of `--timeout` (per probe), in seconds.
MAX_TIMEOUT = 300.0
#: Upper bound of `--idle` (how long an idle WebSocket is held open), in seconds: an hour covers
#: every load balancer idle timeout in common use (AWS ALB's maximum is 4000 s).
MAX_IDLE = 4000.0

#: argparse destinations that name a file to write or read, with the flag users typed.
FILE_OPTIONS = {"output_file": "--output-file", "kubeconfig": "--kubeconfig"}


def check_seconds(value: float | int | str | None, flag: str, maximum: float) -> float | None:
    """A duration in seconds: finite, > 0 and <= maximum (None stays None); else UsageError."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise UsageError(f"{flag} must be a number of seconds, not {value!r}") from None
    if math.isnan(seconds) or math.isinf(seconds):
        raise UsageError(f"{flag} must be a finite number of seconds, not {value}")
    if seconds <= 0:
        raise UsageError(f"{flag} must be a positive number of seconds")
    if seconds > maximum:
        raise UsageError(f"{flag} {value} is too long: at most {maximum:g} seconds")
    return seconds


def check_file_options(args: argparse.Namespace) -> None:
    """An empty file name (`-o ''`) is a usage error, never "stdout" or the current folder."""
    for dest, flag in FILE_OPTIONS.items():
        value = getattr(args, dest, None)
        if isinstance(value, str) and not value.strip():
            raise UsageError(f"{flag} needs a file name, got an empty string")
    for dest in ("paths", "filename"):
        for value in getattr(args, dest, None) or ():
            if isinstance(value, str) and not value.strip():
                raise UsageError("an empty string is not a file or folder name")
    file = getattr(args, "file", None)
    if isinstance(file, str) and not file.strip():
        raise UsageError("an empty string is not a file name")


def _is_tty(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):
        return False


def require_terminal(what: str, *, file: str | None = None, stdin: TextIO | None = None,
                     stdout: TextIO | None = None) -> None:
    """The interactive TUI needs a terminal on stdin and stdout; else a UsageError that says which
    printing command does the same job."""
    if _is_tty(stdin if stdin is not None else sys.stdin) and _is_tty(stdout if stdout is not None else sys.stdout):
        return
    hint = (f"use `kdiag report show {file} -o text` (or -o json, markdown, html)" if file
            else "use `kdiag diagnose URL` to print a report, or `kdiag lint PATH`")
    raise UsageError(f"{what} needs a terminal (stdin and stdout must be a TTY); {hint}")
