"""Redirects followed the way a browser follows them, bounded: does an HTTP answer end, or loop?

A browser follows 3xx answers until one is not a redirect, and gives up after 20 of them
(Chromium's `kMaxRedirects`, Firefox's `network.http.redirection-limit`): ERR_TOO_MANY_REDIRECTS.
kdiag follows at most `MAX_REDIRECTS`, through the endpoint the first request used, and only while
the Location stays on the origin that endpoint reaches (the probed URL's scheme, host and port);
a Location naming a URL already asked for is a loop, found without asking it again. Only GET and
HEAD are followed (a browser re-sends other methods on 307/308; kdiag does not send them twice).

`next_step` decides (pure); `follow_redirects` asks; `with_chain` writes the chain into the first
answer's result (`extra["redirects"]`), failing it when the chain loops or never ends.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

from kdiag.endpoint import Endpoint
from kdiag.model import ProbeResult
from kdiag.outcomes import ErrorKind
from kdiag.probes.base import default_port
from kdiag.probes.http import probe_http
from kdiag.redaction import redact_url

__all__ = ["MAX_REDIRECTS", "REDIRECT_STATUSES", "Step", "follow_redirects", "next_step", "same_url",
           "with_chain"]

#: How many redirects kdiag follows before it calls the chain endless (browsers stop at 20).
MAX_REDIRECTS = 8
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

Outcome = Literal["follow", "loop", "too-many", "leaves-origin", "ends"]


@dataclass(frozen=True)
class Step:
    """What to do after one answer: `follow` `url`, or stop because of `outcome`."""

    outcome: Outcome
    url: str | None = None  # the absolute Location (None when the answer is no redirect)


def _key(url: str) -> tuple[str, str, int, str, str]:
    """A URL as a browser compares it: scheme, host, port (the default made explicit), path, query."""
    u = urlsplit(url)
    scheme = u.scheme.lower()
    try:
        port = u.port or default_port(scheme)
    except ValueError:
        port = -1
    return scheme, (u.hostname or "").lower().rstrip("."), port, u.path or "/", u.query


def same_url(a: str, b: str) -> bool:
    """Whether two absolute URLs name the same resource (default ports and an empty path normalised)."""
    return _key(a) == _key(b)


def next_step(origin_url: str, asked: Sequence[str], status: int | None, location: str, *,
              limit: int = MAX_REDIRECTS) -> Step:
    """After the answer to `asked[-1]` (`status`, `location`): follow, or why not (pure).

    `origin_url` is the URL first probed: only Locations on its origin are followed (the endpoint
    reaches that origin and no other). A Location equal to any URL in `asked` is a loop.
    """
    if status not in REDIRECT_STATUSES or not location:
        return Step("ends")
    to = urljoin(asked[-1], location)
    if any(same_url(to, u) for u in asked):
        return Step("loop", to)
    if _key(to)[:3] != _key(origin_url)[:3]:
        return Step("leaves-origin", to)
    if len(asked) > limit:
        return Step("too-many", to)
    return Step("follow", to)


def _location(p: ProbeResult) -> str:
    hs = p.extra.get("response_headers")
    if isinstance(hs, Mapping):
        return next((str(v) for k, v in hs.items() if str(k).lower() == "location"), "")
    return ""


def with_chain(first: ProbeResult, chain: Sequence[Mapping[str, Any]], outcome: Outcome) -> ProbeResult:
    """The first answer's result carrying the chain (pure). A loop, or a chain that does not end
    within the bound, fails the result: the browser shows ERR_TOO_MANY_REDIRECTS, not a page."""
    extra = {**first.extra, "redirects": [dict(s) for s in chain], "redirect_outcome": outcome}
    if outcome not in ("loop", "too-many"):
        return replace(first, extra=extra)
    path = " → ".join([str(chain[0]["url"])] + [str(s["location"]) for s in chain])
    if outcome == "loop":
        detail = (f"HTTP {first.status_code} redirect loop: {path}. The Location names a URL already asked "
                  f"for, so a browser redirects until it stops with ERR_TOO_MANY_REDIRECTS.")
    else:
        detail = (f"HTTP {first.status_code}: still redirecting after {len(chain)} redirects ({path} …); "
                  f"a browser stops at 20 with ERR_TOO_MANY_REDIRECTS.")
    return replace(first, ok=False, detail=detail, error="redirect loop" if outcome == "loop" else "too many redirects",
                   error_kind=ErrorKind.REDIRECT_LOOP, extra=extra)


async def follow_redirects(first: ProbeResult, url: str, endpoint: Endpoint, *,
                           headers: Mapping[str, str] = {},  # noqa: B006 - read only
                           timeout: float = 5.0, method: str = "GET", limit: int = MAX_REDIRECTS) -> ProbeResult:
    """Follow the redirects after `first` (the answer to `url` through `endpoint`), at most `limit`;
    `first` unchanged when it is no redirect, or its Location leaves the origin at once. Never raises
    for a network outcome: a follow-up that fails ends the chain with that failure recorded."""
    if method.upper() not in ("GET", "HEAD") or first.status_code not in REDIRECT_STATUSES:
        return first
    asked, current = [url], first
    chain: list[dict[str, Any]] = []
    while True:
        loc = _location(current)
        step = next_step(url, asked, current.status_code, loc, limit=limit)
        if current.status_code in REDIRECT_STATUSES:
            chain.append({"url": redact_url(asked[-1]), "status": current.status_code,
                          "location": redact_url(step.url or loc)})
        elif current is not first:
            chain.append({"url": redact_url(asked[-1]), "status": current.status_code,
                          "error": current.error, "final": True})
        if step.outcome != "follow" or step.url is None:
            break
        asked.append(step.url)
        current = await probe_http(step.url, endpoint, headers=headers, timeout=timeout, method=method)
    if step.outcome == "leaves-origin" and len(asked) == 1:
        return first
    return with_chain(first, chain, step.outcome)
