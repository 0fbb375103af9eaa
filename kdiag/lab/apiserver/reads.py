"""Reads of the fake API server: get, list (selectors, limit/continue), watch and pod logs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from kdiag.lab.apiserver.request_info import Target
from kdiag.lab.apiserver.responses import (
    JSON,
    error,
    item,
    json_response,
    media,
    not_acceptable,
    partial,
)
from kdiag.lab.apiserver.select import (
    SelectorError,
    decode_continue,
    encode_continue,
    field_selector,
    label_selector,
)
from kdiag.lab.apiserver.store import Store, object_key
from kdiag.lab.apiserver.table import table

__all__ = ["Logs", "Watcher", "get_response", "list_response", "log_response", "select",
           "watch_response"]

#: (namespace, pod, container, previous) -> log text, or None when there is none.
Logs = Callable[[str, str, str, bool], str | None]


@dataclass(eq=False)
class Watcher:
    """One open watch; `wake` is set when the world changes or the server stops."""

    wake: asyncio.Event = field(default_factory=asyncio.Event)


def select(request: web.Request, t: Target, store: Store) -> list[dict[str, Any]]:
    labels = label_selector(request.query.get("labelSelector"))
    fields = field_selector(request.query.get("fieldSelector"), t.resource.plural)
    return [o for o in store.objects(t.resource, t.namespace) if labels(o) and fields(o)]


def get_response(request: web.Request, t: Target, obj: Mapping[str, Any]) -> web.Response:
    negotiated = media(request.headers.get("Accept", ""), want_list=False)
    if negotiated is None:
        return not_acceptable()
    if negotiated == "table":
        return json_response(table([obj], t.resource.kind, {}, request.query.get("includeObject", "")))
    return json_response(partial(obj) if negotiated == "partial" else obj)


def list_response(request: web.Request, t: Target, store: Store) -> web.Response:
    negotiated = media(request.headers.get("Accept", ""), want_list=True)
    if negotiated is None:
        return not_acceptable()
    try:
        items = select(request, t, store)
        token = request.query.get("continue") or ""
        rv = store.resource_version
        if token:
            rv, start = decode_continue(token)
            items = [o for o in items if object_key(o) > start]
        limit_text = request.query.get("limit") or "0"
        if not limit_text.isdigit():
            raise SelectorError(f"invalid limit: {limit_text!r}")
    except SelectorError as exc:
        return error(400, "BadRequest", str(exc))
    limit = int(limit_text)
    meta: dict[str, Any] = {"resourceVersion": store.resource_version if not token else rv}
    if limit and len(items) > limit:
        page = items[:limit]
        meta["continue"] = encode_continue(meta["resourceVersion"], object_key(page[-1]))
        if not request.query.get("labelSelector") and not request.query.get("fieldSelector"):
            meta["remainingItemCount"] = len(items) - limit
        items = page
    if negotiated == "table":
        doc = table(items, t.resource.kind, meta, request.query.get("includeObject", ""))
    elif negotiated == "partial":
        doc = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
               "metadata": meta, "items": [partial(o) for o in items]}
    else:
        doc = {"kind": t.resource.list_kind, "apiVersion": t.resource.group_version,
               "metadata": meta, "items": [item(o) for o in items]}
    return json_response(doc)


async def watch_response(request: web.Request, t: Target, *, store: Callable[[], Store],
                         watchers: set[Watcher], stopping: Callable[[], bool]) -> web.StreamResponse:
    """Stream ADDED/MODIFIED/DELETED events; `store()` is the current world, re-read on each wake."""
    try:
        select(request, t, store())
    except SelectorError as exc:
        return error(400, "BadRequest", str(exc))
    try:
        timeout = float(request.query.get("timeoutSeconds") or 1800)
    except ValueError:
        timeout = 1800.0
    resp = web.StreamResponse(status=200, headers={"Content-Type": JSON,
                                                   "Cache-Control": "no-cache, private"})
    await resp.prepare(request)
    watcher = Watcher()
    watchers.add(watcher)
    deadline = time.monotonic() + timeout
    seen: dict[str, dict[str, Any]] = {}
    start_rv = request.query.get("resourceVersion") or ""
    first = True
    try:
        while not stopping():
            watcher.wake.clear()
            current_store = store()
            current = {object_key(o): o for o in select(request, t, current_store)}
            events: list[tuple[str, dict[str, Any]]] = []
            if first and start_rv not in ("", "0") and start_rv == current_store.resource_version:
                seen = dict(current)
            else:
                for k, o in current.items():
                    if k not in seen:
                        events.append(("ADDED", o))
                    elif seen[k]["metadata"]["resourceVersion"] != o["metadata"]["resourceVersion"]:
                        events.append(("MODIFIED", o))
                events += [("DELETED", o) for k, o in seen.items() if k not in current]
                seen = current
            first = False
            for kind, obj in events:
                await resp.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(watcher.wake.wait(), remaining)
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        watchers.discard(watcher)
    with contextlib.suppress(Exception):
        await resp.write_eof()
    return resp


def log_response(request: web.Request, pod: Mapping[str, Any], logs: Logs | None) -> web.Response:
    md = pod.get("metadata") or {}
    ns, name = str(md.get("namespace", "default")), str(md.get("name", ""))
    names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or ()]
    container = request.query.get("container") or ""
    if not container:
        if len(names) != 1:
            return error(400, "BadRequest", f"a container name must be specified for pod {name}, "
                                            f"choose one of: [{' '.join(names)}]")
        container = names[0]
    elif container not in names:
        return error(400, "BadRequest", f"container {container} is not valid for pod {name}")
    previous = request.query.get("previous") in ("1", "true")
    text = None
    if logs is not None:
        with contextlib.suppress(Exception):
            text = logs(ns, name, container, previous)
    if text is None:
        if previous:
            return error(400, "BadRequest", f'previous terminated container "{container}" in '
                                            f'pod "{name}" not found')
        text = ""
    tail = request.query.get("tailLines") or ""
    if tail.isdigit():
        lines = text.splitlines(keepends=True)
        text = "".join(lines[-int(tail):]) if int(tail) else ""
    body = text.encode()
    limit = request.query.get("limitBytes") or ""
    if limit.isdigit():
        body = body[:int(limit)]
    return web.Response(body=body, headers={"Content-Type": "text/plain"})
