"""The request being diagnosed: a URL and headers parsed into a `Target`, as nginx sees them."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.hosts import normalize_host
from kdiag.urls import check_url

__all__ = ["Target", "header_get", "looks_like_websocket", "normalize_path", "parse_target"]

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_WS_PATH = re.compile(r"(^|/)(ws|wss|websocket|websockets|socket\.io|sockjs|cable|hub|signalr)(/|$)",
                      re.IGNORECASE)
_WS_PORT_NAMES = frozenset({"ws", "wss", "websocket", "websockets", "socket", "socketio", "socket-io"})
_WS_APP_PROTOCOLS = frozenset({"ws", "wss", "kubernetes.io/ws", "kubernetes.io/wss", "websocket"})


def header_get(headers: Mapping[str, str], name: str) -> str | None:
    """A header value, case-insensitively (and `-`/`_` alike, as nginx's `$http_*`)."""
    want = name.lower().replace("_", "-")
    for k, v in headers.items():
        if k.lower().replace("_", "-") == want:
            return v
    return None


def _parse_cookies(header: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            out.setdefault(name.strip(), value.strip())
    return out


@dataclass(frozen=True)
class Target:
    """The request being diagnosed: URL parts, headers and cookies."""

    url: str
    scheme: str  # http | https | ws | wss
    host: str
    port: int
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"  # `-X/--method`: HTTPRoute method matches

    @property
    def websocket(self) -> bool:
        return self.scheme in ("ws", "wss")

    @property
    def tls(self) -> bool:
        return self.scheme in ("https", "wss")

    @property
    def request_host(self) -> str:
        """The Host the controller routes on: a Host header if given, else the URL's host."""
        h = header_get(self.headers, "Host")
        return normalize_host(h) if h else self.host

    def header(self, name: str) -> str | None:
        return header_get(self.headers, name)

    def cookie(self, name: str) -> str | None:
        """A cookie value by name, case-insensitively (like nginx's `$cookie_NAME`)."""
        want = name.lower()
        return next((v for k, v in self.cookies.items() if k.lower() == want), None)


def normalize_path(raw: str) -> str:
    """The URI path nginx matches locations against: percent-decoded, `//` merged
    (`merge_slashes on`), `.` and `..` segments resolved; a trailing slash is kept."""
    path = urllib.parse.unquote(raw or "/")
    out: list[str] = []
    segments = path.split("/")
    for seg in segments[1:] if path.startswith("/") else segments:
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    trailing = path.endswith(("/", "/.", "/..")) and bool(out)
    return "/" + "/".join(out) + ("/" if trailing else "")


def parse_target(url: str, headers: Mapping[str, str] | None = None, method: str | None = None) -> Target:
    """Parse an absolute http(s)/ws(s) URL; anything else raises `UsageError` (kdiag.urls)."""
    text = (url or "").strip()
    parts = check_url(text)
    scheme, host, port = parts.scheme, parts.host, parts.port
    hdrs = dict(headers or {})
    path = normalize_path(parts.path)
    return Target(
        url=text, scheme=scheme, host=host, port=port or _DEFAULT_PORTS[scheme], path=path,
        query=parts.query, headers=hdrs, cookies=_parse_cookies(header_get(hdrs, "Cookie")),
        method=(method or "GET").strip().upper() or "GET",
    )


def looks_like_websocket(path: str, service_port: Mapping[str, Any] | None = None) -> bool:
    """A WebSocket-looking route: a path like /ws /wss /socket.io, or a `ws` Service port."""
    if _WS_PATH.search(path or ""):
        return True
    if service_port:
        name = str(service_port.get("name") or "").lower()
        proto = str(service_port.get("appProtocol") or "").lower()
        if name in _WS_PORT_NAMES or proto in _WS_APP_PROTOCOLS:
            return True
    return False

