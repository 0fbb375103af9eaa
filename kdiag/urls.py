"""URLs, hosts and ports typed by a user, checked before anything connects.

One place for the rules the CLI (`diagnose URL`, `--page-url`, `--client-url`, `--resolve`,
`--connect-to`), the TUI's URL form and `kdiag.route.parse_target` share:

- the scheme is http, https, ws or wss; a URL without one, or with a misspelt one (`htps://`),
  gets a suggestion (`did you mean https://chatapp.com/wss or wss://chatapp.com/wss?`);
- the host is an IPv4 address, an IPv6 literal in brackets (kept: `http://[::1]:80/`) or a DNS
  name whose labels are 1-63 characters (253 in all) of letters, digits, `-` and `_`
  (international names must encode to IDNA); spaces and control characters are refused;
- a port is a number from 1 to 65535.

Every problem is a `UsageError` of one line (exit 2), never a `ValueError`, `UnicodeError` or
`OverflowError` from deep inside a probe. Standard library only.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
import urllib.parse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kdiag.errors import UsageError
from kdiag.redaction import REDACTED, redact_url

if TYPE_CHECKING:
    from kdiag.route.target import Target

__all__ = [
    "probe_url",
    "MAX_URL_LENGTH",
    "SCHEMES",
    "URLParts",
    "check_host",
    "check_port",
    "check_url",
    "host_for_url",
    "parse_loose_url",
    "url_problem",
]

SCHEMES = ("http", "https", "ws", "wss")
#: Longer URLs are refused (servers refuse request lines past 8 KiB anyway).
MAX_URL_LENGTH = 8192
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")
_IPV4ISH = re.compile(r"^[0-9.]+$")


@dataclass(frozen=True)
class URLParts:
    """An absolute http(s)/ws(s) URL, checked. `host` is lowercase, without brackets."""

    scheme: str
    host: str
    port: int | None
    path: str
    query: str


def host_for_url(host: str) -> str:
    """The host as written in a URL or Host header: IPv6 literals in brackets."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def check_port(text: str | int, what: str) -> int:
    """A TCP port 1..65535 from text (or an int); anything else is a one-line UsageError."""
    raw = str(text).strip()
    if not raw.isascii() or not raw.isdigit():
        raise UsageError(f"{what}: port {raw!r} is not a number")
    if len(raw) > 5 or not 1 <= int(raw) <= 65535:
        raise UsageError(f"{what}: port {raw} is not between 1 and 65535")
    return int(raw)


def _host_problem(host: str) -> str | None:
    if not host:
        return "no host"
    if any(c.isspace() for c in host):
        return f"the host {host!r} contains a space"
    if any(ord(c) < 32 or ord(c) == 127 for c in host):
        return f"the host {host!r} contains a control character"
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return f"{host!r} is not an IPv6 address"
        return None
    if _IPV4ISH.match(host):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return f"{host!r} is not an IPv4 address"
        return None
    name = host.rstrip(".")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            return f"{host!r} is not a valid host name (it cannot be encoded as IDNA)"
    for label in name.split("."):
        if not label:
            return f"{host!r} has an empty label (two dots in a row, or a leading dot)"
        if len(label) > 63:
            return f"{host!r} has a label of {len(label)} characters (at most 63)"
        if not _LABEL.match(label):
            return (f"{host!r} is not a valid host name (labels are letters, digits and '-', "
                    "not starting or ending with '-')")
    if len(name) > 253:
        return f"the host name is {len(name)} characters long (at most 253)"
    return None


def check_host(host: str, what: str) -> str:
    """A host name or IP address (IPv6 with or without brackets), lowercased; else UsageError."""
    h = host.strip().lower()
    if h.startswith("[") and h.endswith("]"):
        h = h[1:-1]
        if ":" not in h:
            raise UsageError(f"{what}: {host!r} is not an IPv6 address")
    problem = _host_problem(h)
    if problem:
        raise UsageError(f"{what}: {problem}")
    return h


def _redact(text: str) -> str:
    """redact_url, plus the userinfo of a URL typed without a scheme (`user:pw@host/x`)."""
    first, slash, rest = text.partition("/")
    if "://" not in text and "@" in first:
        text = REDACTED + "@" + first.rpartition("@")[2] + slash + rest
    return redact_url(text)


def _show(text: str) -> str:
    """The URL as quoted in a message: credentials redacted, cut at 120 characters."""
    shown = _redact(text)
    return repr(shown if len(shown) <= 120 else shown[:117] + "...")


def _suggest(scheme: str, rest: str) -> str:
    if not scheme:
        return _redact(f"did you mean https://{rest} or wss://{rest}?")
    close = difflib.get_close_matches(scheme, SCHEMES, n=2, cutoff=0.5)
    if not close:
        return "expected http://, https://, ws:// or wss://"
    return _redact("did you mean " + " or ".join(f"{c}://{rest}" for c in close) + "?")


def _split(text: str, what: str) -> tuple[str, str, str, str]:
    """scheme, netloc, path, query of `text`, or UsageError with a suggestion."""
    m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://(.*)$", text, re.DOTALL)
    if m is None:
        head, colon, rest = text.partition(":")
        if colon and difflib.get_close_matches(head.lower(), SCHEMES, n=1, cutoff=0.6) \
                and not rest[:1].isdigit():  # `https:/x`, `http:x`: slashes missing
            raise UsageError(f"bad {what} {_show(text)}: {_suggest(head.lower(), rest.lstrip('/'))}")
        raise UsageError(f"bad {what} {_show(text)}: it must start with http://, https://, ws:// or wss://; {_suggest('', text.lstrip('/'))}")
    scheme, rest = m.group(1).lower(), m.group(2)
    if scheme not in SCHEMES:
        raise UsageError(f"bad {what} {_show(text)}: the scheme {m.group(1)!r} is not supported; "
                         f"{_suggest(scheme, rest)}")
    netloc, tail = re.match(r"^([^/?#]*)(.*)$", rest, re.DOTALL).groups()  # type: ignore[union-attr]
    after = urllib.parse.urlsplit("http://x" + tail)
    return scheme, netloc, after.path or "/", after.query


def check_url(url: str, what: str = "URL") -> URLParts:
    """Check an absolute http(s)/ws(s) URL; every problem is a one-line UsageError."""
    text = (url or "").strip()
    if not text:
        raise UsageError(f"bad {what}: it is empty")
    if len(text) > MAX_URL_LENGTH:
        raise UsageError(f"bad {what}: {len(text)} characters long (at most {MAX_URL_LENGTH})")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise UsageError(f"bad {what} {_show(text)}: it contains a control character")
    scheme, netloc, path, query = _split(text, what)
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise UsageError(f"bad {what} {_show(text)}: the IPv6 address has no closing ']'")
        host, after = hostport[1:end], hostport[end + 1:]
        if after and not after.startswith(":"):
            raise UsageError(f"bad {what} {_show(text)}: unexpected {after!r} after the IPv6 address")
        port_text = after[1:] if after else None
        if not host or ":" not in host:
            raise UsageError(f"bad {what} {_show(text)}: {host!r} in brackets is not an IPv6 address")
    else:
        if "[" in hostport or "]" in hostport:
            raise UsageError(f"bad {what} {_show(text)}: brackets belong around an IPv6 address only")
        host, colon, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if colon else None
    problem = _host_problem(host.lower())
    if problem:
        raise UsageError(f"bad {what} {_show(text)}: {problem}")
    port = None
    if port_text is not None and port_text != "":
        port = check_port(port_text, f"bad {what} {_show(text)}")
    return URLParts(scheme=scheme, host=host.lower(), port=port, path=path, query=query)


def url_problem(url: str, what: str = "URL") -> str | None:
    """None when `url` can be walked, else the one-line problem (for forms)."""
    try:
        check_url(url, what)
    except UsageError as e:
        return str(e)
    return None


def parse_loose_url(url: str, what: str) -> None:
    """A URL that may be relative or of any scheme (`--client-url /wss`): it must only parse.

    Rules judge its scheme; a value urllib cannot split (`ws://[::1`) is a UsageError.
    """
    text = url.strip()
    if len(text) > MAX_URL_LENGTH:
        raise UsageError(f"bad {what}: {len(text)} characters long (at most {MAX_URL_LENGTH})")
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise UsageError(f"bad {what} {_show(text)}: {e}") from None
    if port == 0:
        raise UsageError(f"bad {what} {_show(text)}: port 0 is not between 1 and 65535")
    if parts.netloc:
        host = parts.netloc.rpartition("@")[2]
        host = host[1:host.find("]")] if host.startswith("[") else host.partition(":")[0]
        problem = _host_problem(host.lower())
        if problem:
            raise UsageError(f"bad {what} {_show(text)}: {problem}")


def probe_url(target: Target, *, tls: bool) -> str:
    """The URL a probe requests for `target`: its scheme (TLS or not, WebSocket or not), host
    (IPv6 literals bracketed), port unless the default, path and query."""
    scheme = ("wss" if tls else "ws") if target.websocket else ("https" if tls else "http")
    port = "" if target.port in (80, 443) else f":{target.port}"
    query = f"?{target.query}" if target.query else ""
    return f"{scheme}://{host_for_url(target.host)}{port}{target.path or '/'}{query}"
