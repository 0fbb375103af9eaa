"""The TUI's route list, streamed: rows as soon as the Ingresses are read, verdicts as computed.

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

from kdiag.kube import ApiError
from kdiag.model import Finding, SourceInfo
from kdiag.session import PENDING, RouteEvent, RouteJudged, RouteRow, RoutesFound
from kdiag.snapshot import Snapshot

__all__ = ["BATCH", "cheap_rows", "cluster_route_events"]

#: Rows judged per worker-thread hop (small: the UI gets the loop back between batches).
BATCH = 16


def cheap_rows(snapshot: Snapshot, entries: Sequence[Any]) -> tuple[RouteRow, ...]:
    """Rows with what the Ingresses alone say: no pods, no verdict yet."""
    from kdiag.diagnose import _canary_selector

    rows = []
    for e in entries:
        headers, note = _canary_selector(snapshot, e) if e.canary else ({}, "")
        rows.append(RouteRow(url=e.url, ingress=e.ingress, host=e.host, path=e.path, path_type=e.path_type,
                             service=e.service, pods_ready="…", status=PENDING, websocket=e.websocket,
                             note=note, headers=headers))
    return tuple(rows)


def _key(e: Any) -> tuple[str, str, str, str]:
    return e.ingress, e.host, e.path, e.path_type


def _judge(snapshot: Snapshot, entries: Sequence[Any], found: Sequence[Finding]) -> list[RouteRow]:
    from kdiag.diagnose import route_row

    return [route_row(snapshot, e, found) for e in entries]


async def cluster_route_events(kube: Any, load: Callable[[], Awaitable[Snapshot]]) -> AsyncIterator[RouteEvent]:
    """RoutesFound (cheap), then RouteJudged per row; `load` reads the whole namespace."""
    from kdiag.diagnose import snapshot_findings
    from kdiag.route import list_routes

    ns = kube.namespace
    shown: list[tuple[str, str, str, str]] = []
    try:
        ingresses = await asyncio.to_thread(kube.list_raw, "Ingress", ns)
    except ApiError:
        ingresses = None  # forbidden or failing: the full read below says why
    if ingresses:
        quick = Snapshot(objects=tuple(ingresses), namespace=ns,
                         source=SourceInfo(kind="cluster", context=kube.context, namespace=ns))
        entries = list_routes(quick)
        shown = [_key(e) for e in entries]
        yield RoutesFound(cheap_rows(quick, entries))
    snapshot = await load()
    entries = list_routes(snapshot)
    if [_key(e) for e in entries] != shown:  # changed in between (or not read above): start over
        yield RoutesFound(cheap_rows(snapshot, entries))
    found = await asyncio.to_thread(snapshot_findings, snapshot)
    for start in range(0, len(entries), BATCH):
        rows = await asyncio.to_thread(_judge, snapshot, entries[start:start + BATCH], found)
        for offset, row in enumerate(rows):
            yield RouteJudged(start + offset, row)
