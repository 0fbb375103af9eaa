"""Remove credentials from a report before it is shown or saved.

Header values named Authorization, Cookie, Set-Cookie, Proxy-Authorization (and other obviously
secret headers such as X-Auth-Token or X-Api-Key), token-like URL query parameters (`token`,
`access_token`, `sig`, `X-Amz-Signature` ...), URL userinfo (`nats://user:pass@host`) and
`Bearer ...` credentials in free text all become `REDACTED`, wherever they appear in the report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from kdiag.model import Report

__all__ = ["REDACTED", "redact_report", "redact_text", "redact_value", "secret_header"]

REDACTED = "REDACTED"

_SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-auth-token", "x-api-key",
    "api-key", "apikey", "x-csrf-token", "x-xsrf-token", "x-amz-security-token",
    "x-goog-api-key",
})
_SECRET_WORDS = frozenset({
    "token", "access_token", "id_token", "refresh_token", "auth", "authorization", "key", "apikey",
    "api_key", "password", "passwd", "pwd", "secret", "client_secret", "sig", "signature", "jwt",
    "credential", "credentials", "session", "sessionid", "session_id", "code", "ticket",
})
_SECRET_PARTS = ("token", "secret", "password", "passwd", "signature", "apikey", "credential", "jwt")

_QUERY = re.compile(r"(?P<sep>[?&;])(?P<name>[A-Za-z0-9_.\-\[\]]+)=(?P<value>[^&#\s\"'<>]*)")
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/@\s\"'<>]+)@")
_HEADER_LINE = re.compile(
    r"(?im)^(?P<name>authorization|proxy-authorization|cookie|set-cookie|x-auth-token|x-api-key)"
    r"(?P<sep>[ \t]*:[ \t]*)(?P<value>[^\r\n]*)"
)
_BEARER = re.compile(r"(?i)\b(?P<scheme>bearer|basic)(?P<sp>[ \t]+)(?P<value>[A-Za-z0-9\-._~+/=:]{8,})")


def secret_header(name: str) -> bool:
    """True for header names whose values are credentials."""
    n = name.strip().lower()
    return n in _SECRET_HEADERS or (
        n.startswith("x-") and any(w in n for w in ("token", "secret", "password", "api-key", "apikey")))


def _secret_param(name: str) -> bool:
    n = name.lower()
    if n in _SECRET_WORDS:
        return True
    parts = re.split(r"[-_.\[\]]+", n)
    return any(p in _SECRET_WORDS - {"code", "key", "auth", "session"} for p in parts) or any(
        s in n for s in _SECRET_PARTS)


def redact_text(text: str) -> str:
    """Redact credentials inside one string (URLs, header lines, Bearer tokens)."""
    if not text:
        return text
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{REDACTED}@", text)
    out = _QUERY.sub(
        lambda m: f"{m['sep']}{m['name']}={REDACTED}" if _secret_param(m["name"]) and m["value"]
        else m.group(0), out)
    out = _HEADER_LINE.sub(lambda m: f"{m['name']}{m['sep']}{REDACTED}", out)
    out = _BEARER.sub(lambda m: f"{m['scheme']}{m['sp']}{REDACTED}" if m["value"] != REDACTED
                      else m.group(0), out)
    return out


def redact_value(value: Any, key: str | None = None) -> Any:
    """Redact a JSON-like value recursively; `key` is the mapping key it was found under."""
    if isinstance(value, str):
        if key is not None and secret_header(key) and value:
            return REDACTED
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        # [name, value] header pairs, as some probes record raw headers
        if (len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], str)
                and secret_header(value[0])):
            return [value[0], REDACTED]
        return [redact_value(v) for v in value]
    return value


def redact_report(report: Report) -> Report:
    """A copy of the report with every credential replaced by `REDACTED`."""
    d = redact_value(report.to_dict())
    return Report.from_dict(d)
