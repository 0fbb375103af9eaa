"""Where a report goes and in which format: `-o/--output FORMAT` (as in kubectl), its alias
`--format`, `--output-file FILE` (format from the extension unless `-o` is given), and `-v`.

    add_output_options(parser, formats=..., verbose=True)
    output_target(args) -> (format, file or None)
    emit(text, file)          stdout, or the file (and one line on stderr saying so)
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from kdiag.errors import UsageError

__all__ = ["EXTENSIONS", "FORMATS", "add_output_options", "emit", "format_for_file", "output_target"]

FORMATS = ("text", "json", "markdown", "html")
EXTENSIONS = {".json": "json", ".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html",
              ".txt": "text", ".text": "text"}


def _format_type(formats: Sequence[str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        if value in formats:
            return value
        hint = ""
        if os.path.splitext(value)[1] or os.sep in value:
            hint = f"; -o is the format now, write a file with --output-file {value}"
        raise argparse.ArgumentTypeError(f"unknown format {value!r} (choose from {', '.join(formats)}){hint}")

    parse.__name__ = "format"
    parse.choices = tuple(formats)  # type: ignore[attr-defined]  # read by shell completion
    return parse


def add_output_options(p: argparse.ArgumentParser, *, formats: Sequence[str] = FORMATS,
                       default: str | None = "text", output_file: bool = True, verbose: bool = True) -> None:
    """`-o/--output FORMAT` (alias `--format`), `--output-file FILE` and `-v` (repeatable)."""
    choices = "|".join(formats)
    p.add_argument("-o", "--output", "--format", dest="format", type=_format_type(formats), default=None,
                   metavar="FORMAT", help=f"report format: {choices} (default: "
                   + (f"{default}" if default else "the TUI") + "; --format is an alias)")
    p.set_defaults(format_default=default)
    if output_file:
        p.add_argument("--output-file", metavar="FILE",
                       help="write the report to FILE; the format follows its extension "
                       "(.json .md .html .txt) unless -o is given")
    if verbose:
        p.add_argument("-v", "--verbose", action="count", default=0,
                       help="text output: -v adds probes, explanations and every fix; -vv everything")


def format_for_file(path: str) -> str | None:
    """The report format a file name asks for by its extension, or None."""
    return EXTENSIONS.get(os.path.splitext(path)[1].lower())


def output_target(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """(format, file) from the parsed options; the format is None when none was asked for."""
    fmt: str | None = getattr(args, "format", None)
    file: str | None = getattr(args, "output_file", None)
    if file and fmt is None:
        fmt = format_for_file(file)
        if fmt is None:
            raise UsageError(f"cannot tell the report format from {file!r}: name it .json, .md, .html "
                             "or .txt, or add -o text|json|markdown|html")
    return fmt or getattr(args, "format_default", None), file


def emit(text: str, file: str | None) -> None:
    """Write a rendered report to stdout, or to `file` (then say so on stderr)."""
    if file:
        try:
            with open(file, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as e:
            raise UsageError(f"cannot write {file}: {e.strerror or e}") from None
        print(f"kdiag: report written to {file}", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
