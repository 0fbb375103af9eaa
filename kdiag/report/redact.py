"""Remove credentials from a report before it is shown or saved.

Every string of the report goes through the one rule of `kdiag.redaction`: values of secret
headers (also `[name, value]` pairs and mapping keys named like one), secret URL query
parameters, URL userinfo, secret `Name: value` header lines and `Bearer ...` credentials in
free text all become `REDACTED`, wherever they appear in the report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kdiag.model import Report
from kdiag.redaction import REDACTED, is_secret_header, redact_text

__all__ = ["redact_report", "redact_value"]


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact a JSON-like value recursively; `key` is the mapping key it was found under."""
    if isinstance(value, str):
        if key is not None and is_secret_header(key) and value:
            return REDACTED
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # [name, value] header pairs, as some probes record raw headers
        if (len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], str)
                and is_secret_header(value[0])):
            return [value[0], REDACTED]
        return [redact_value(v) for v in value]
    return value


def redact_report(report: Report) -> Report:
    """A copy of the report with every credential replaced by `REDACTED`."""
    d = redact_value(report.to_dict())
    return Report.from_dict(d)
