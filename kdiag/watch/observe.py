"""The cluster side of `kdiag watch`: API watches on the route's pods, EndpointSlices and
ReplicaSets, turned into timeline events.

`pod_changes`, `slice_changes` and `replicaset_changes` are pure: (what was, what is) → events.
`Observer` runs one read-only watch per kind in worker threads (`?watch=1`, resumed from the last
resourceVersion when the server ends a stream) and hands events to a callback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from kdiag.pods.entrypoint import entrypoint_issue
from kdiag.pods.readiness import pod_is_ready
from kdiag.pods.spec import grace_period, prestop_delay
from kdiag.watch.timeline import WatchEvent

__all__ = ["Observer", "endpoint_table", "pod_changes", "replicaset_changes", "shutdown_facts", "slice_changes"]

Obj = Mapping[str, Any]
#: (kind, previous object or None, current object or None) -> None
OnChange = Callable[[str, Obj | None, Obj | None], None]


def _md(obj: Obj | None) -> Mapping[str, Any]:
    md = (obj or {}).get("metadata")
    return md if isinstance(md, Mapping) else {}


def key_of(obj: Obj) -> str:
    md = _md(obj)
    return f"{md.get('namespace', 'default')}/{md.get('name', '')}"


def shutdown_facts(pod: Obj) -> str:
    """How the pod's containers shut down, in a few words (preStop, PID 1, grace period)."""
    spec = pod.get("spec") or {}
    parts = []
    for c in spec.get("containers") or ():
        kind, seconds = prestop_delay(c)
        pre = "no preStop" if kind == "none" else (
            f"preStop sleep {seconds:g} s" if kind == "sleep" and seconds is not None else f"preStop {kind}")
        issue = entrypoint_issue(c)
        pid1 = f", {issue.detail}" if issue is not None else ""
        parts.append(f"{c.get('name')}: {pre}{pid1}")
    return "; ".join(parts) + f"; terminationGracePeriodSeconds {grace_period(spec)}"


def pod_changes(t: float, old: Obj | None, new: Obj | None) -> list[WatchEvent]:
    ref = key_of(new or old or {})
    obj = f"Pod {ref}"
    if new is None:
        return [WatchEvent(t, "pod-deleted", obj, "the pod object is gone", pod=ref)]
    out: list[WatchEvent] = []
    if old is None:
        rs = next((r.get("name") for r in _md(new).get("ownerReferences") or () if r.get("kind") == "ReplicaSet"), None)
        out.append(WatchEvent(t, "pod-created", obj, f"created{f' by ReplicaSet {rs}' if rs else ''}", pod=ref))
    if not _md(old).get("deletionTimestamp") and _md(new).get("deletionTimestamp"):
        out.append(WatchEvent(t, "pod-terminating", obj, f"deletion began ({shutdown_facts(new)})", pod=ref))
    was = old is not None and pod_is_ready(old)
    now = pod_is_ready(new)
    if now and not was:
        out.append(WatchEvent(t, "pod-ready", obj, "Ready", pod=ref))
    elif was and not now:
        out.append(WatchEvent(t, "pod-not-ready", obj, "no longer Ready", pod=ref))
    return out


def endpoint_table(slices: Mapping[str, Obj]) -> dict[str, tuple[bool, bool, str | None, str]]:
    """address ip -> (ready, terminating, pod "ns/name" or None, "ip:port,…") over all slices."""
    out: dict[str, tuple[bool, bool, str | None, str]] = {}
    for sl in slices.values():
        ports = ",".join(str(p.get("port")) for p in sl.get("ports") or () if p.get("port"))
        for ep in sl.get("endpoints") or ():
            cond = ep.get("conditions") or {}
            ref = ep.get("targetRef") or {}
            pod = f"{ref.get('namespace', _md(sl).get('namespace', 'default'))}/{ref['name']}" \
                if ref.get("kind", "Pod") == "Pod" and ref.get("name") else None
            for ip in ep.get("addresses") or ():
                out[str(ip)] = (cond.get("ready") is not False, bool(cond.get("terminating")), pod, ports)
    return out


def slice_changes(t: float, before: Mapping[str, Obj], after: Mapping[str, Obj], service: str) -> list[WatchEvent]:
    """Endpoint events of a Service between two sets of its EndpointSlices (by key)."""
    old, new = endpoint_table(before), endpoint_table(after)
    ready = sum(1 for r, _t, _p, _ports in new.values() if r)
    obj = f"Service {service}"
    out: list[WatchEvent] = []
    for ip, (r, term, pod, _ports) in new.items():
        who = f" (pod {pod})" if pod else ""
        if ip not in old:
            out.append(WatchEvent(t, "endpoint-added", obj, f"{ip}{who} added, {'ready' if r else 'not ready'}",
                                  pod=pod, address=ip, ready=ready))
        elif old[ip][0] != r or old[ip][1] != term:
            state = "ready" if r else ("not ready, terminating" if term else "not ready")
            kind = "endpoint-ready" if r else "endpoint-not-ready"
            out.append(WatchEvent(t, kind, obj, f"{ip}{who} {state}", pod=pod, address=ip, ready=ready))
    for ip, (_r, _term, pod, _ports) in old.items():
        if ip not in new:
            who = f" (pod {pod})" if pod else ""
            out.append(WatchEvent(t, "endpoint-removed", obj, f"{ip}{who} removed", pod=pod, address=ip, ready=ready))
    return out


def replicaset_changes(t: float, old: Obj | None, new: Obj | None) -> list[WatchEvent]:
    ref = key_of(new or old or {})
    obj = f"ReplicaSet {ref}"

    def replicas(o: Obj | None) -> int | None:
        v = ((o or {}).get("spec") or {}).get("replicas")
        return v if isinstance(v, int) else None

    if new is None:
        return [WatchEvent(t, "replicaset-deleted", obj, "deleted")]
    if old is None:
        return [WatchEvent(t, "replicaset-created", obj, f"created with {replicas(new)} replicas")]
    if replicas(old) != replicas(new):
        return [WatchEvent(t, "replicaset-scaled", obj, f"scaled {replicas(old)} → {replicas(new)}")]
    return []


class Observer:
    """Read-only watches of pods, EndpointSlices and ReplicaSets; `on_change` gets every change."""

    def __init__(self, kube: Any, namespace: str, *, service: str, selector: str | None,
                 on_change: OnChange, on_error: Callable[[str], None] | None = None) -> None:
        self.kube, self.namespace, self.service, self.selector = kube, namespace, service, selector
        self.on_change = on_change
        self.on_error = on_error
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._streams: list[Any] = []
        self._lock = threading.Lock()
        self.state: dict[str, dict[str, Obj]] = {"Pod": {}, "EndpointSlice": {}, "ReplicaSet": {}}

    def _selectors(self) -> Iterator[tuple[str, str | None]]:
        yield "EndpointSlice", f"kubernetes.io/service-name={self.service}"
        if self.selector:
            yield "Pod", self.selector
            yield "ReplicaSet", self.selector

    def prime(self) -> None:
        """Read the current state (a list per kind) before traffic starts."""
        for kind, sel in self._selectors():
            for obj in self.kube.list_raw(kind, self.namespace, label_selector=sel):
                self.state[kind][key_of(obj)] = obj

    def start(self, seconds: float) -> None:
        for kind, sel in self._selectors():
            th = threading.Thread(target=self._watch, args=(kind, sel, seconds), daemon=True,
                                  name=f"kdiag-watch-{kind}")
            self._threads.append(th)
            th.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            streams = list(self._streams)
        for s in streams:
            s.close()
        for th in self._threads:
            th.join(3.0)

    def _watch(self, kind: str, selector: str | None, seconds: float) -> None:
        deadline = time.monotonic() + seconds + 2.0
        rv: str | None = None
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                stream = self.kube.watch(kind, self.namespace, label_selector=selector, resource_version=rv,
                                         timeout_seconds=max(1, int(deadline - time.monotonic()) + 1))
            except Exception as e:  # noqa: BLE001 - reported, then retried until the deadline
                if self.on_error is not None:
                    self.on_error(f"watch {kind}: {e}")
                self._stop.wait(1.0)
                continue
            with self._lock:
                self._streams.append(stream)
            if self._stop.is_set():
                stream.close()
            try:
                for etype, obj in stream:
                    if etype == "ERROR":  # e.g. 410 Gone: start over from the current state
                        rv = None
                        break
                    rv = str(_md(obj).get("resourceVersion") or "") or rv
                    self._apply(kind, etype, obj)
            finally:
                stream.close()
                with self._lock:
                    self._streams.remove(stream)

    def _apply(self, kind: str, etype: str, obj: Obj) -> None:
        key = key_of(obj)
        table = self.state[kind]
        old = table.get(key)
        if etype == "DELETED":
            if old is None:
                return
            del table[key]
            self.on_change(kind, old, None)
            return
        if old is not None and _md(old).get("resourceVersion") == _md(obj).get("resourceVersion"):
            return  # the synthetic ADDED of a watch started without resourceVersion
        table[key] = obj
        self.on_change(kind, old, obj)
