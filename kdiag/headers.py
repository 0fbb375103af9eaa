"""Request headers typed as `Name: value` lines (the CLI's -H, the TUI's header box).

One rule for both: the name is everything before the first colon, stripped, and must be
non-empty without whitespace; the value is the rest, stripped. Callers decide what an error
means (the CLI stops with a usage error; the TUI lists the bad lines).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["format_header_lines", "parse_header", "parse_header_lines"]


def parse_header(line: str) -> tuple[str, str]:
    """`Name: value` → (name, value); ValueError("expected 'Name: value', got ...") otherwise."""
    name, sep, value = line.partition(":")
    name = name.strip()
    if not sep or not name or any(c.isspace() for c in name):
        raise ValueError(f"expected 'Name: value', got {line!r}")
    return name, value.strip()


def parse_header_lines(text: str) -> tuple[dict[str, str], list[str]]:
    """`Name: value` lines → (headers, error messages). Blank lines and `#` comments are skipped."""
    headers: dict[str, str] = {}
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            name, value = parse_header(line)
        except ValueError as e:
            errors.append(f"line {number}: {e}")
            continue
        headers[name] = value
    return headers, errors


def format_header_lines(headers: Mapping[str, str]) -> str:
    """The inverse of `parse_header_lines` (values kept: this is for the edit box only)."""
    return "\n".join(f"{k}: {v}" for k, v in headers.items())
