"""The one rule for credentials: which header and query-parameter names carry secrets, and how
they are hidden in headers, URLs and free text. Used by the probes, the reports and the TUI.

- A header is secret when it is Authorization, Proxy-Authorization, Cookie, Set-Cookie (or
  another well-known credential header such as X-Api-Key), or when its dash-separated name looks
  like a credential: a part `auth`/`authorization`/`jwt`/`signature`, or `token`, `secret`,
  `password`, `passwd`, `apikey`, `api-key`, `credential` anywhere in it (X-Auth-Token,
  X-Goog-Api-Key, X-Forwarded-Access-Token). A single word or snake_case name (`secretName`,
  `token_present`: evidence fields, not headers) is secret only when it is one of the well-known
  names.
- A query parameter is secret when its (percent-decoded) name is token-like: `token`,
  `access_token`, `code`, `sig`, `X-Amz-Signature`, `x-api-key`, `access%5Ftoken` ...
- URL userinfo (`nats://user:pass@host`) and `Bearer ...`/`Basic ...` credentials are hidden too.

Pure functions, no kdiag imports: every layer may use this module.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from urllib.parse import unquote

__all__ = [
    "REDACTED",
    "is_secret_header",
    "is_secret_param",
    "redact_headers",
    "redact_text",
    "redact_url",
]

#: What a hidden value becomes (the TUI shows its own mark, `<redacted>`).
REDACTED = "REDACTED"

_SECRET_HEADERS = frozenset({
    "authorization", "proxy-authorization", "cookie", "set-cookie", "x-auth-token", "x-api-key",
    "api-key", "apikey", "x-csrf-token", "x-xsrf-token", "x-amz-security-token",
    "x-goog-api-key", "token", "auth-token",
})
#: Whole parts of a dash-separated header name that make it secret.
_HEADER_WORDS = frozenset({"auth", "authorization", "jwt", "signature"})
#: Substrings of a dash-separated header name that make it secret.
_HEADER_PARTS = ("token", "secret", "password", "passwd", "apikey", "api-key", "credential")
#: An HTTP header name (RFC 9110 token).
_HEADER_NAME = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")

#: Query parameter names that are secret as a whole.
_PARAM_NAMES = frozenset({
    "token", "access_token", "id_token", "refresh_token", "auth", "authorization", "key", "apikey",
    "api_key", "password", "passwd", "pwd", "secret", "client_secret", "sig", "signature", "jwt",
    "credential", "credentials", "session", "sessionid", "session_id", "code", "ticket",
})
#: Parts of a parameter name (split at - _ . [ ]) that make it secret anywhere in the name ...
_PARAM_WORDS = _PARAM_NAMES - {"code", "key", "auth", "session"}
#: ... and parts that do so only at its end (`x-api-key`, `oauth_session`, not `key_id`).
_PARAM_TAILS = frozenset({"key", "auth", "session"})
_PARAM_PARTS = ("token", "secret", "password", "passwd", "signature", "apikey", "credential", "jwt")

_QUERY = re.compile(r"(?P<sep>[?&;])(?P<name>[A-Za-z0-9_.\-\[\]%+]+)=(?P<value>[^&#\s\"'<>]*)")
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)(?P<user>[^/@\s\"'<>]+)@")
_HEADER_LINE = re.compile(r"(?m)^(?P<name>[A-Za-z0-9!#$%&'*+.^_`|~-]+)(?P<sep>[ \t]*:[ \t]*)(?P<value>[^\r\n]*)")
_BEARER = re.compile(r"(?i)\b(?P<scheme>bearer|basic)(?P<sp>[ \t]+)(?P<value>[A-Za-z0-9\-._~+/=:]{8,})")


def is_secret_header(name: str) -> bool:
    """True for header names whose values are credentials (compared case-insensitively)."""
    n = name.strip().lower()
    if n in _SECRET_HEADERS:
        return True
    if "-" not in n or not _HEADER_NAME.fullmatch(n):
        return False
    return any(p in _HEADER_WORDS for p in n.split("-")) or any(s in n for s in _HEADER_PARTS)


def is_secret_param(name: str) -> bool:
    """True for URL query parameter names whose values are credentials (percent-decoded first)."""
    n = unquote(name.replace("+", " ")).strip().lower()
    if n in _PARAM_NAMES:
        return True
    parts = [p for p in re.split(r"[-_.\[\]\s]+", n) if p]
    return (any(p in _PARAM_WORDS for p in parts) or (bool(parts) and parts[-1] in _PARAM_TAILS)
            or any(s in n for s in _PARAM_PARTS))


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]], *,
                   mask: str = REDACTED) -> dict[str, str]:
    """Headers (a mapping or name/value pairs) as a dict with secret values replaced by `mask`;
    a name given more than once has its values joined with ", "."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out: dict[str, str] = {}
    for name, value in pairs:
        v = mask if is_secret_header(name) else str(value)
        out[name] = f"{out[name]}, {v}" if name in out else v
    return out


def redact_url(url: str, *, mask: str = REDACTED) -> str:
    """The URL (or any text holding URLs) with userinfo and secret query values replaced."""
    if not url:
        return url
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{mask}@", url)
    return _QUERY.sub(
        lambda m: f"{m['sep']}{m['name']}={mask}" if m["value"] and is_secret_param(m["name"])
        else m.group(0), out)


def redact_text(text: str, *, mask: str = REDACTED) -> str:
    """Redact credentials inside free text: URLs, `Name: value` header lines, Bearer tokens."""
    if not text:
        return text
    out = redact_url(text, mask=mask)
    out = _HEADER_LINE.sub(lambda m: f"{m['name']}{m['sep']}{mask}" if is_secret_header(m["name"])
                           else m.group(0), out)
    return _BEARER.sub(lambda m: f"{m['scheme']}{m['sp']}{mask}" if m["value"] != mask
                       else m.group(0), out)

