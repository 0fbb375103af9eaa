"""Parse and show request headers typed as `Name: value` lines, with credentials redacted."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SENSITIVE_HEADERS", "format_header_lines", "parse_header_lines", "redact_headers"]

SENSITIVE_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})
REDACTED = "<redacted>"


def parse_header_lines(text: str) -> tuple[dict[str, str], list[str]]:
    """`Name: value` lines → (headers, error messages). Blank lines and `#` comments are skipped."""
    headers: dict[str, str] = {}
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, value = line.partition(":")
        name = name.strip()
        if not sep or not name or any(c.isspace() for c in name):
            errors.append(f"line {number}: expected 'Name: value', got {line!r}")
            continue
        headers[name] = value.strip()
    return headers, errors


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to display: credential-carrying header values are replaced."""
    return {k: (REDACTED if k.lower() in SENSITIVE_HEADERS else str(v)) for k, v in headers.items()}


def format_header_lines(headers: Mapping[str, str]) -> str:
    """The inverse of `parse_header_lines` (values kept: this is for the edit box only)."""
    return "\n".join(f"{k}: {v}" for k, v in headers.items())
