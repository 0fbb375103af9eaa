"""An immutable generation of the fake API server's objects, indexed by resource, ns and name."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.lab.apiserver.resources import RESOURCES, Resource, resources_for_kind

__all__ = ["Store", "build_store", "normalize_object", "object_key"]

_DEFAULT_CREATED = "2026-01-01T00:00:00Z"


def normalize_object(obj: Mapping[str, Any], resource: Resource, resource_version: str, *,
                     share: bool = False) -> dict[str, Any]:
    """A deep copy shaped like the apiserver returns it: served apiVersion, typed metadata.

    `share` copies only the top level and metadata: spec and status stay shared with `obj` (for
    generated worlds whose objects share templates; the server never changes them).
    """
    out = dict(obj) if share else copy.deepcopy(dict(obj))
    out["kind"] = resource.kind
    out["apiVersion"] = resource.group_version
    md = dict(out.get("metadata") or {})
    name = str(md.get("name") or "")
    md["name"] = name
    if resource.namespaced:
        md["namespace"] = str(md.get("namespace") or "default")
    else:
        md.pop("namespace", None)
    key = f"{resource.kind}/{md.get('namespace', '')}/{name}"
    md["uid"] = str(md.get("uid") or uuid.uuid5(uuid.NAMESPACE_URL, f"kdiag-lab:{key}"))
    md["resourceVersion"] = str(md.get("resourceVersion") or resource_version)
    md.setdefault("creationTimestamp", _DEFAULT_CREATED)
    if "generation" in md:
        md["generation"] = int(md["generation"])
    out["metadata"] = md
    if resource.kind == "Namespace":
        out.setdefault("status", {"phase": "Active"})
    if resource.kind == "Event" and resource.group == "events.k8s.io":
        _to_events_v1(out)
    return out


def _to_events_v1(ev: dict[str, Any]) -> None:
    """A core/v1 Event seen through events.k8s.io/v1 (field renames of the real conversion)."""
    renames = {"message": "note", "involvedObject": "regarding", "related": "related",
               "firstTimestamp": "deprecatedFirstTimestamp", "lastTimestamp": "deprecatedLastTimestamp",
               "count": "deprecatedCount", "source": "deprecatedSource"}
    for old, new in renames.items():
        if old in ev and old != new:
            ev[new] = ev.pop(old)
    if "reportingComponent" in ev:
        ev["reportingController"] = ev.pop("reportingComponent")
    if not ev.get("eventTime"):  # required in events.k8s.io/v1 (MicroTime)
        ts = str(ev.get("deprecatedFirstTimestamp") or ev["metadata"].get("creationTimestamp") or "")
        ev["eventTime"] = ts.replace("Z", ".000000Z") if ts.endswith("Z") and "." not in ts else ts


@dataclass(frozen=True)
class Store:
    """One generation of the world: resource plural key -> objects sorted by (namespace, name).

    Indexed by namespace and by name, so a namespaced list or a get costs what it returns, not
    the size of the world (the scale benchmark serves 100,000 pods).
    """

    resource_version: str
    by_resource: Mapping[tuple[str, str], tuple[dict[str, Any], ...]] = field(default_factory=dict)
    _by_ns: dict[tuple[str, str, str], tuple[dict[str, Any], ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _by_name: dict[tuple[str, str, str, str], dict[str, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_ns: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
        for (group, plural), items in self.by_resource.items():
            for o in items:
                md = o["metadata"]
                ns = str(md.get("namespace") or "")
                by_ns.setdefault((group, plural, ns), []).append(o)
                self._by_name[(group, plural, ns, str(md["name"]))] = o
        self._by_ns.update({k: tuple(v) for k, v in by_ns.items()})

    def objects(self, resource: Resource, namespace: str | None = None) -> tuple[dict[str, Any], ...]:
        if namespace is None:
            return self.by_resource.get((resource.group, resource.plural), ())
        return self._by_ns.get((resource.group, resource.plural, namespace), ())

    def get(self, resource: Resource, namespace: str | None, name: str) -> dict[str, Any] | None:
        if namespace is not None or not resource.namespaced:
            return self._by_name.get((resource.group, resource.plural, namespace or "", name))
        for o in self.by_resource.get((resource.group, resource.plural), ()):
            if o["metadata"]["name"] == name:
                return o
        return None


def object_key(obj: Mapping[str, Any]) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace', '')}/{md.get('name', '')}"


def _same_but_rv(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def strip(o: Mapping[str, Any]) -> dict[str, Any]:
        d = dict(o)
        d["metadata"] = {k: v for k, v in (o.get("metadata") or {}).items() if k != "resourceVersion"}
        return d

    return strip(a) == strip(b)


def _link_event_uids(buckets: Mapping[tuple[str, str], Mapping[str, dict[str, Any]]]) -> None:
    """Fill the uid of an Event's involvedObject/regarding from the object it names, as the
    kubelet and controllers do (`kubectl describe` selects events by involvedObject.uid)."""
    uids: dict[tuple[str, str, str], str] = {}
    for objs in buckets.values():
        for o in objs.values():
            md = o["metadata"]
            uids[(o["kind"], md.get("namespace", ""), md["name"])] = md["uid"]
    for key in (("", "events"), ("events.k8s.io", "events")):
        for ev in buckets.get(key, {}).values():
            ref = ev.get("involvedObject") if key[0] == "" else ev.get("regarding")
            if isinstance(ref, dict) and not ref.get("uid"):
                uid = uids.get((str(ref.get("kind")), str(ref.get("namespace") or ""), str(ref.get("name"))))
                if uid:
                    ref["uid"] = uid


def _missing_namespaces(objs: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Namespaces that objects live in but the world does not list (plus "default", always there)."""
    have = {(o.get("metadata") or {}).get("name") for o in objs if o.get("kind") == "Namespace"}
    used = {"default"}
    for o in objs:
        kind = str(o.get("kind") or "")
        if any(r.namespaced for r in resources_for_kind(kind)):
            used.add((o.get("metadata") or {}).get("namespace") or "default")
    return [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns},
             "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}
            for ns in sorted(used - have)]


def build_store(objects: Iterable[Mapping[str, Any]], resource_version: str, *,
                derive_endpoints: bool, previous: Store | None = None, share: bool = False) -> Store:
    """Index objects by served resource; add derived EndpointSlices/Endpoints when asked.

    With `previous`, an object that changed gets the new resourceVersion (like a write would)
    and an unchanged one keeps its old one, so watchers and caches see real modifications.
    """
    objs = [o for o in objects if isinstance(o, Mapping)]
    if derive_endpoints:
        from kdiag.lab.world import derive_endpoint_slices
        from kdiag.lab.world import derive_endpoints as derive_v1

        kinds = {o.get("kind") for o in objs}
        derived: list[dict[str, Any]] = []
        if "EndpointSlice" not in kinds:
            derived += derive_endpoint_slices(objs)
        if "Endpoints" not in kinds:
            derived += derive_v1(objs)
        created = {((o.get("metadata") or {}).get("namespace") or "default",
                    (o.get("metadata") or {}).get("name")): (o.get("metadata") or {}).get("creationTimestamp")
                   for o in objs if o.get("kind") == "Service"}
        for d in derived:  # the controller creates them right after the Service
            md = d["metadata"]
            svc = md.get("labels", {}).get("kubernetes.io/service-name", md["name"])
            if created.get((md["namespace"], svc)):
                md.setdefault("creationTimestamp", created[(md["namespace"], svc)])
        objs += derived
    objs += _missing_namespaces(objs)
    buckets: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    for obj in objs:
        for res in resources_for_kind(str(obj.get("kind") or "")):
            norm = normalize_object(obj, res, resource_version, share=share)
            if previous is not None:
                old = previous.get(res, norm["metadata"].get("namespace"), norm["metadata"]["name"])
                if old is not None:
                    same = _same_but_rv(old, norm)
                    norm["metadata"]["resourceVersion"] = (
                        old["metadata"]["resourceVersion"] if same else resource_version)
            buckets.setdefault((res.group, res.plural), {})[object_key(norm)] = norm
    _link_event_uids(buckets)
    by_resource = {k: tuple(v[key] for key in sorted(v)) for k, v in buckets.items()}
    for r in RESOURCES:
        by_resource.setdefault((r.group, r.plural), ())
    return Store(resource_version, by_resource)
