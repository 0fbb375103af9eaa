"""Static rules: client checks (the browser's WebSocket URL: absolute, mixed content, routing)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from typing import Any

from kdiag.errors import UsageError
from kdiag.model import Finding
from kdiag.route import Resolution, looks_like_websocket, parse_target, resolve_route
from kdiag.rules import RuleContext, rule

__all__ = [
    "check_mixed_content",
    "check_url_mismatch",
    "check_url_not_absolute",
    "classify_ws_url",
    "effective_ws_url",
]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
_WS_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}


def classify_ws_url(url: str) -> str:
    """How a browser's `new WebSocket(url)` argument is written.

    "absolute-ws" (ws:/wss:), "absolute-http" (http:/https:), "relative" (/path, ./x, ?q, x),
    "scheme-relative" (//host/path), "host-without-scheme" (chatapp.com/wss), "other-scheme".
    """
    u = url.strip()
    if u.startswith("//"):
        return "scheme-relative"
    if not u or u.startswith(("/", "./", "../", "?", "#")):
        return "relative"
    m = _SCHEME.match(u)
    if m:
        scheme = m.group(1).lower()
        if scheme in ("ws", "wss"):
            return "absolute-ws"
        if scheme in ("http", "https"):
            return "absolute-http"
        if "." in scheme or scheme == "localhost" or u[m.end():m.end() + 1].isdigit():
            return "host-without-scheme"  # chatapp.com:8080/wss
        return "other-scheme"
    first = u.split("/", 1)[0]
    if "." in first or first == "localhost":
        return "host-without-scheme"
    return "relative"


def effective_ws_url(client_url: str, base: str | None) -> str | None:
    """What a current browser opens for `new WebSocket(client_url)` on page `base` (WHATWG 2023):
    resolve against the page, then http→ws and https→wss; None when it cannot be resolved."""
    try:
        joined = urllib.parse.urljoin(base or "", client_url.strip())
        parts = urllib.parse.urlsplit(joined)
    except ValueError:
        return None
    scheme = _WS_SCHEMES.get(parts.scheme.lower())
    if scheme is None or not parts.netloc:
        return None
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path or "/", parts.query, ""))


def _is_websocket_context(ctx: RuleContext, client_url: str) -> bool:
    url = ctx.target.url if ctx.target is not None else ""
    scheme = urllib.parse.urlsplit(url).scheme.lower() if url else ""
    if scheme in ("ws", "wss") or classify_ws_url(client_url) == "absolute-ws":
        return True
    path = urllib.parse.urlsplit(client_url).path if "://" in client_url else client_url
    return looks_like_websocket(path)


def _fix_snippet(path: str) -> str:
    return f"""Build an absolute ws:/wss: URL from the page's own location, so it follows the page's host
and scheme (https → wss) without hard-coding a domain:

```js
const getWSURI = (path = "{path}") => {{
  const loc = window.location;
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${{scheme}}//${{loc.host}}${{path}}`;
}};
const ws = new WebSocket(getWSURI());
```"""


@rule("client-websocket-url-not-absolute")
def check_url_not_absolute(ctx: RuleContext) -> Iterator[Finding]:
    t = ctx.target
    client_url = (t.client_url or "") if t is not None else ""
    if t is None or not client_url or not _is_websocket_context(ctx, client_url):
        return
    kind = classify_ws_url(client_url)
    if kind == "absolute-ws":
        return
    base = t.page_url or t.url
    resolved = effective_ws_url(client_url, str(base) if base else None)
    path = urllib.parse.urlsplit(resolved).path if resolved else "/ws"
    ev: dict[str, Any] = {"client_url": client_url, "form": kind, "resolved_by_new_browsers": resolved,
                          "page_url": t.page_url}
    old = ("browsers before Chrome/Edge 125, Firefox 124 and Safari 17.3 throw "
           "SyntaxError in `new WebSocket(...)` and never connect")
    if kind == "host-without-scheme":
        msg = (f"the client's WebSocket URL {client_url!r} has no ws:// or wss:// scheme: {old}; newer "
               f"ones treat it as a relative path and open {resolved or 'a wrong URL'}")
        path = "/" + client_url.split("/", 1)[1] if "/" in client_url else "/"
    elif kind == "other-scheme":
        msg = f"the client's WebSocket URL {client_url!r} has a scheme browsers reject (SyntaxError)"
    else:
        form = {"absolute-http": "an http(s):// URL", "relative": "a relative URL",
                "scheme-relative": "a scheme-relative URL"}[kind]
        msg = (f"the client's WebSocket URL {client_url!r} is {form}: {old}; newer ones open "
               f"{resolved or 'it relative to the page'} (which works only if that route is right)")
    yield ctx.finding("client-websocket-url-not-absolute", "", msg, evidence=ev,
                      fix=_fix_snippet(path))


@rule("client-websocket-mixed-content")
def check_mixed_content(ctx: RuleContext) -> Iterator[Finding]:
    t = ctx.target
    page = (t.page_url or "") if t is not None else ""
    if t is None or urllib.parse.urlsplit(page).scheme.lower() != "https":
        return
    ws = t.client_url or t.url
    if urllib.parse.urlsplit(ws.strip()).scheme.lower() != "ws":
        return
    secure = "wss://" + ws.strip()[len("ws://"):]
    yield ctx.finding(
        "client-websocket-mixed-content", "",
        f"the page {page} is loaded over HTTPS but opens the insecure WebSocket {ws}: browsers "
        "block it with SecurityError (\"An insecure WebSocket connection may not be initiated "
        f"from a page loaded over HTTPS\"); use {secure}",
        evidence={"page_url": page, "websocket_url": ws, "suggested": secure})


def _route_key(r: Resolution) -> tuple[Any, ...]:
    b = r.backend
    return (r.matched, r.match.ingress_ref if r.match else None, r.match.path if r.match else None,
            r.default_backend, b.service_ref if b else None, b.ref.port if b else None)


def _describe(r: Resolution) -> str:
    b = r.backend
    if r.match is None:
        if r.default_backend == "ingress":
            return f"no rule (defaultBackend of {r.default_backend_ingress})"
        return f"no rule ({r.profile.no_route.who or r.profile.no_route.detail})"
    svc = f"Service {b.service_ref}:{b.ref.port}" if b is not None and b.service_ref else "no Service"
    return (f"Ingress {r.match.ingress_ref} rule {r.match.host or '*'}{r.match.path} "
            f"({r.match.path_type}) → {svc}")


@rule("client-websocket-url-mismatch")
def check_url_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    t, a = ctx.target, ctx.resolution
    if t is None or a is None or not t.client_url or not t.url:
        return
    client_url, url = t.client_url, t.url
    resolved = effective_ws_url(client_url, t.page_url or url)
    if resolved is None:
        return
    try:
        client = parse_target(resolved, {k: v for k, v in t.headers.items() if k.lower() != "host"})
    except UsageError:
        return
    if a.target.host != client.host and not ctx.snapshot.list("Ingress"):
        return
    b = resolve_route(ctx.snapshot, client)  # the client's own URL: a second route, on purpose
    if _route_key(a) == _route_key(b):
        return
    yield ctx.finding(
        "client-websocket-url-mismatch", "",
        f"the client opens {resolved} (from {client_url!r}), which routes to {_describe(b)}; "
        f"the target {url} routes to {_describe(a)}",
        evidence={"client_url": client_url, "client_resolved": resolved, "target_url": url,
                  "client_route": b.route_info().to_dict(), "target_route": a.route_info().to_dict()})
