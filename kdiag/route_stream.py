"""The route list (`route_rows`, one row judged by `route_row`) and the TUI's streamed version.

Streamed: rows as soon as the Ingresses are read, verdicts as they are computed.

1. One list of the namespace's Ingresses: every rule path becomes a row with its cheap columns
   (host, path, Service, canary headers) and status PENDING — on screen within one request.
2. The namespace is read in full (`load_cluster`, what the static checks need) and the rules run
   once over it (linear: label and selector indexes).
3. Each row is judged (route resolution + the findings about its objects) and sent as a
   RouteJudged, a few at a time in a worker thread, so the event loop (typing, filtering)
   never waits for the whole list.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from kdiag.errors import KdiagError
from kdiag.model import Finding, SourceInfo
from kdiag.pods.readiness import pod_is_ready
from kdiag.session import PENDING, RouteEvent, RouteJudged, RouteRow, RoutesFound, WalkRequest
from kdiag.snapshot import Snapshot
from kdiag.verdict import about_route

__all__ = ["BATCH", "cheap_rows", "cluster_route_events", "route_row", "route_rows"]

#: Rows judged per worker-thread hop (small: the UI gets the loop back between batches).
BATCH = 16


def route_rows(snapshot: Snapshot) -> list[RouteRow]:
    """Every Ingress rule path as a RouteRow, with a status from the static checks on its route."""
    from kdiag.diagnose import snapshot_findings
    from kdiag.route import list_routes

    # The rules run once; each route keeps the findings about its own objects. (Route rows carry
    # no client URL, so no target-dependent finding is lost.)
    found = snapshot_findings(snapshot)
    return [route_row(snapshot, entry, found) for entry in list_routes(snapshot)]


def route_row(snapshot: Snapshot, entry: Any, found: Sequence[Finding]) -> RouteRow:
    """One route entry judged: `found` is `snapshot_findings(snapshot)`, computed once."""
    from kdiag.diagnose import route_facts, route_findings
    from kdiag.route import parse_target, resolve_route

    url = entry.url
    headers, canary_note = _canary_selector(snapshot, entry) if entry.canary else (dict(entry.headers), "")
    req = WalkRequest(url=url, headers=headers)
    try:
        target = parse_target(url, headers)
        res = resolve_route(snapshot, target)
        facts = route_facts(snapshot, res, target, live=snapshot.source.kind == "cluster")
        findings = [f for f in route_findings(snapshot, res, req, found=found) if about_route(f, facts)]
    except KdiagError:
        findings = []
        res = None
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    backend = res.backend if res is not None else None
    pods = list(backend.pods) if backend is not None else []
    ready = sum(1 for v in pods if v.pod is not None and pod_is_ready(v.pod))
    important = errors or warnings
    note = important[0] if important else None
    return RouteRow(
        url=url, ingress=entry.ingress, host=entry.host, path=entry.path, path_type=entry.path_type,
        service=entry.service, pods_ready=f"{ready}/{len(pods)}",
        status="fail" if errors else ("warn" if warnings else "ok"),
        websocket=entry.websocket, note=note.message if note is not None else canary_note,
        headers=headers)


def _canary_selector(snapshot: Snapshot, entry: Any) -> tuple[dict[str, str], str]:
    """The request headers that route to a canary Ingress, and a note describing the canary."""
    from kdiag.route import ingress_profile

    ns, _, name = entry.ingress.partition("/")
    ing = snapshot.get("Ingress", ns, name)
    spec = ingress_profile(snapshot, ing).parse_canary(ing) if ing is not None else None
    if spec is None:
        return {}, "canary"
    if spec.by_header:
        value = spec.by_header_value or "always"
        return {spec.by_header: value}, f"canary: requests with header {spec.by_header}: {value}"
    if spec.by_cookie:
        return {"Cookie": f"{spec.by_cookie}=always"}, f"canary: requests with cookie {spec.by_cookie}=always"
    share = spec.weight / spec.effective_weight_total
    return {}, f"canary by weight: {share:.0%} of requests (a walk follows the main backend)"


def cheap_rows(snapshot: Snapshot, entries: Sequence[Any]) -> tuple[RouteRow, ...]:
    """Rows with what the Ingresses alone say: no pods, no verdict yet."""
    rows = []
    for e in entries:
        headers, note = _canary_selector(snapshot, e) if e.canary else (dict(e.headers), "")
        rows.append(RouteRow(url=e.url, ingress=e.ingress, host=e.host, path=e.path, path_type=e.path_type,
                             service=e.service, pods_ready="…", status=PENDING, websocket=e.websocket,
                             note=note, headers=headers))
    return tuple(rows)


def _key(e: Any) -> tuple[str, str, str, str]:
    return e.ingress, e.host, e.path, e.path_type


def _judge(snapshot: Snapshot, entries: Sequence[Any], found: Sequence[Finding]) -> list[RouteRow]:
    return [route_row(snapshot, e, found) for e in entries]


async def cluster_route_events(kube: Any, load: Callable[[], Awaitable[Snapshot]], *,
                               ingresses: Callable[[], Awaitable[list[dict[str, Any]]]] | None = None,
                               ) -> AsyncIterator[RouteEvent]:
    """RoutesFound (cheap), then RouteJudged per row; `load` reads the whole namespace.

    `ingresses` reads the namespace's Ingresses (default: one list now; a session may have
    started it earlier). The full read starts as soon as they are in, before the rows are
    shown, so the API server works on it while the screen draws them.
    """
    from kdiag.diagnose import snapshot_findings
    from kdiag.kube import ApiError
    from kdiag.route import list_routes

    ns = kube.namespace
    shown: list[tuple[str, str, str, str]] | None = None  # the rows already sent, if any
    try:
        listed = await (ingresses() if ingresses is not None else asyncio.to_thread(kube.list_raw, "Ingress", ns))
    except ApiError:
        listed = None  # forbidden or failing: the full read below says why
    full = asyncio.ensure_future(load())
    try:
        if listed:
            quick = Snapshot(objects=tuple(listed), namespace=ns,
                             source=SourceInfo(kind="cluster", context=kube.context, namespace=ns))
            entries = list_routes(quick)
            shown = [_key(e) for e in entries]
            yield RoutesFound(cheap_rows(quick, entries))
        snapshot = await full
    finally:
        if not full.done():  # the consumer stopped early (a reload, a switch, quit)
            full.cancel()
    entries = list_routes(snapshot)
    if [_key(e) for e in entries] != shown:  # changed in between, or not sent above (none): start over
        yield RoutesFound(cheap_rows(snapshot, entries))
    found = await asyncio.to_thread(snapshot_findings, snapshot)
    for start in range(0, len(entries), BATCH):
        rows = await asyncio.to_thread(_judge, snapshot, entries[start:start + BATCH], found)
        for offset, row in enumerate(rows):
            yield RouteJudged(start + offset, row)
