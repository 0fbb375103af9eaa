"""One immutable snapshot of the Kubernetes objects a walk needs, whatever the source.

Objects are raw JSON dicts (as the API server sends them, or as parsed from manifests) with
`kind` and `apiVersion` always set. Sources build a snapshot once; nothing changes it after.
Treat the dicts as read-only.

The snapshot also records what could *not* be read (`denied`: a kind forbidden by RBAC) so that
checks can say "cannot verify" instead of "missing", and where each manifest object came from
(`origin`: file and line) so that findings can point at it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from kdiag.model import Finding, SourceInfo
from kdiag.shape import as_list, as_map, maps, sub

# `Snapshot.list` shadows the builtin inside the class body; annotations there use this alias.
_List = list
_T = TypeVar("_T")

__all__ = [
    "KINDS",
    "WORKLOAD_KINDS",
    "Origin",
    "PodView",
    "ReadScope",
    "Snapshot",
    "labels_match",
    "obj_key",
    "obj_ref",
    "selector_matches",
]

#: The kinds a snapshot may hold, in the order sources read them.
KINDS: tuple[str, ...] = (
    "Namespace",
    "Node",
    "IngressClass",
    "Ingress",
    "Service",
    "EndpointSlice",
    "Endpoints",
    "Pod",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Event",
    "ConfigMap",
    "Secret",  # metadata only, never data
    "Gateway",
    "HTTPRoute",
    "GatewayClass",
    "GRPCRoute",
    "ReferenceGrant",
    "HTTPProxy",  # Contour's route CRD
    "BackendConfig",  # GKE's per-Service load-balancer settings
)

WORKLOAD_KINDS: tuple[str, ...] = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")

CLUSTER_SCOPED = frozenset({"Namespace", "Node", "IngressClass", "GatewayClass"})


@dataclass(frozen=True)
class Origin:
    """Where a manifest object came from."""

    path: str
    line: int  # 1-based line of the document's first line
    doc: int = 0  # 0-based index of the document in the file

    def __str__(self) -> str:
        return f"{self.path}:{self.line}"


def obj_key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    """(kind, namespace, name); namespace is "" for cluster-scoped objects."""
    md = as_map(obj.get("metadata"))
    kind = str(obj.get("kind", ""))
    ns = "" if kind in CLUSTER_SCOPED else str(md.get("namespace") or "")
    return kind, ns, str(md.get("name") or "")


def obj_ref(obj: Mapping[str, Any]) -> str:
    """'Kind ns/name' (or 'Kind name' for cluster-scoped objects), as used in findings."""
    kind, ns, name = obj_key(obj)
    return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


def labels_match(selector: Mapping[str, str] | None, labels: Mapping[str, str] | None) -> bool:
    """A Service-style equality selector; an empty/None selector matches nothing here."""
    if not selector or not isinstance(selector, Mapping):
        return False
    labels = as_map(labels)
    return all(labels.get(k) == v for k, v in selector.items())


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str] | None) -> bool:
    """A LabelSelector (matchLabels + matchExpressions). An empty selector matches everything;
    a malformed one (not a mapping, an expression without a string key) matches nothing."""
    if selector is None or not isinstance(selector, Mapping):
        return False
    labels = as_map(labels)
    for k, v in as_map(selector.get("matchLabels")).items():
        if labels.get(k) != v:
            return False
    for expr in maps(selector.get("matchExpressions")):
        key, op, values = expr.get("key"), expr.get("operator"), as_list(expr.get("values"))
        if not isinstance(key, str):
            return False
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


@dataclass(frozen=True)
class PodView:
    """A pod, or a pod-to-be described by a workload's template (manifests have no pods).

    `pod` is the real Pod object, or None for a template. `owner` is the workload that owns or
    describes it. `spec` and `labels` are the pod spec and labels either way.
    """

    name: str
    namespace: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]
    pod: Mapping[str, Any] | None = None
    owner: Mapping[str, Any] | None = None

    @property
    def ref(self) -> str:
        if self.pod is not None:
            return obj_ref(self.pod)
        assert self.owner is not None
        return f"{obj_ref(self.owner)} (pod template)"

    @property
    def is_template(self) -> bool:
        return self.pod is None

    @property
    def containers(self) -> list[Mapping[str, Any]]:
        return list(self.spec.get("containers") or [])


@dataclass(frozen=True)
class ReadScope:
    """What a targeted read covered, so that rules never judge an object that was not read.

    `lists`: (kind, namespace) read in full ("*" = every namespace); `names`: (kind, namespace,
    name) looked up one by one (found or not). A snapshot without a scope read everything it
    holds namespaces of, as before.
    """

    lists: frozenset[tuple[str, str]] = frozenset()
    names: frozenset[tuple[str, str, str]] = frozenset()

    def covers(self, kind: str, namespace: str, name: str) -> bool:
        return ((kind, namespace) in self.lists or (kind, "*") in self.lists
                or (kind, namespace, name) in self.names)


def _first_pair(selector: Mapping[str, Any]) -> tuple[str, str]:
    key = min(selector)
    return key, str(selector[key])


@dataclass(frozen=True)
class Snapshot:
    """An immutable, indexed set of objects plus what could not be read and where they came from."""

    objects: tuple[Mapping[str, Any], ...]
    source: SourceInfo
    #: kind -> reason ("forbidden", "not found", ...) for kinds that could not be listed.
    denied: Mapping[str, str] = field(default_factory=dict)
    #: id(obj) is unstable across copies, so origins are keyed by obj_key.
    origins: Mapping[tuple[str, str, str], Origin] = field(default_factory=dict)
    #: Findings produced while reading (manifest-invalid, read-forbidden ...).
    findings: tuple[Finding, ...] = ()
    #: Namespace used when a manifest object has none, and the namespace in focus.
    namespace: str = "default"
    #: Extra facts a source knows (e.g. the API server URL), never credentials.
    facts: Mapping[str, Any] = field(default_factory=dict)
    #: What a targeted read covered (None: everything in the namespaces it holds).
    scope: ReadScope | None = None

    def __post_init__(self) -> None:
        index: dict[tuple[str, str, str], Mapping[str, Any]] = {}
        by_kind: dict[str, list[Mapping[str, Any]]] = {}
        for obj in self.objects:
            index[obj_key(obj)] = obj
            by_kind.setdefault(str(obj.get("kind", "")), []).append(obj)
        by_kind_ns: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for obj in self.objects:
            kind, ns, _ = obj_key(obj)
            by_kind_ns.setdefault((kind, ns), []).append(obj)
        object.__setattr__(self, "_index", MappingProxyType(index))
        object.__setattr__(
            self, "_by_kind", MappingProxyType({k: tuple(v) for k, v in by_kind.items()})
        )
        object.__setattr__(
            self, "_by_kind_ns", MappingProxyType({k: tuple(v) for k, v in by_kind_ns.items()})
        )
        # Derived views are pure functions of the (immutable) objects: computed once per namespace.
        object.__setattr__(self, "_pod_views", {})
        object.__setattr__(self, "_pod_label_index", {})
        object.__setattr__(self, "_service_selector_index", {})
        object.__setattr__(self, "_groups", {})
        object.__setattr__(self, "denied", MappingProxyType(dict(self.denied)))
        object.__setattr__(self, "origins", MappingProxyType(dict(self.origins)))

    # -- lookups -------------------------------------------------------------------------

    def get(self, kind: str, namespace: str | None, name: str) -> Mapping[str, Any] | None:
        ns = "" if kind in CLUSTER_SCOPED else (namespace or "")
        return self._index.get((kind, ns, name))  # type: ignore[attr-defined,no-any-return]

    def list(self, kind: str, namespace: str | None = None) -> tuple[Mapping[str, Any], ...]:
        """All objects of a kind, optionally in one namespace."""
        if namespace is None or kind in CLUSTER_SCOPED:
            items: tuple[Mapping[str, Any], ...] = self._by_kind.get(kind, ())  # type: ignore[attr-defined]
            return items
        in_ns: tuple[Mapping[str, Any], ...] = self._by_kind_ns.get((kind, namespace), ())  # type: ignore[attr-defined]
        return in_ns

    def was_read(self, kind: str, namespace: str | None, name: str) -> bool:
        """Whether the source read this object's place: absent then means it does not exist."""
        if self.scope is None:
            return True
        ns = "" if kind in CLUSTER_SCOPED else (namespace or "")
        return self.get(kind, ns, name) is not None or self.scope.covers(kind, ns, name)

    def readable(self, kind: str) -> bool:
        """False when the source could not read this kind (e.g. RBAC forbids it)."""
        return kind not in self.denied

    def origin(self, obj: Mapping[str, Any]) -> Origin | None:
        return self.origins.get(obj_key(obj))

    def namespaces(self) -> _List[str]:
        seen = {obj_key(o)[1] for o in self.objects if obj_key(o)[1]}
        seen.update(obj_key(o)[2] for o in self.list("Namespace"))
        return sorted(seen)

    def __iter__(self) -> Iterator[Mapping[str, Any]]:
        return iter(self.objects)

    def __len__(self) -> int:
        return len(self.objects)

    # -- derived views -------------------------------------------------------------------

    def owner_of(self, obj: Mapping[str, Any], _seen: frozenset[tuple[str, str, str]] = frozenset(),
                 ) -> Mapping[str, Any] | None:
        """The controlling workload of a Pod (following ReplicaSet -> Deployment).

        `ownerReferences` of any shape (not a list, items not maps) and owner cycles are tolerated.
        """
        ns = obj_key(obj)[1]
        for ref in maps(sub(obj, "metadata").get("ownerReferences")):
            if not ref.get("controller", True):
                continue
            kind, name = ref.get("kind"), ref.get("name")
            if not isinstance(kind, str) or not isinstance(name, str):
                continue
            owner = self.get(kind, ns, name)
            if owner is None or obj_key(owner) in _seen:
                continue
            if owner.get("kind") == "ReplicaSet":
                return self.owner_of(owner, _seen | {obj_key(obj), obj_key(owner)}) or owner
            return owner
        return None

    def pod_views(self, namespace: str) -> _List[PodView]:
        """Real pods of a namespace, plus templates of workloads that have no pods here.

        Manifests carry workloads but no pods; a live cluster carries both. A workload whose
        pods are present is represented by its pods only. Computed once per namespace.
        """
        cache: dict[str, tuple[PodView, ...]] = self._pod_views  # type: ignore[attr-defined]
        if namespace not in cache:
            cache[namespace] = tuple(self._build_pod_views(namespace))
        return _List(cache[namespace])

    def _build_pod_views(self, namespace: str) -> _List[PodView]:
        views: list[PodView] = []
        owners_with_pods: set[tuple[str, str, str]] = set()
        for pod in self.list("Pod", namespace):
            md = as_map(pod.get("metadata"))
            owner = self.owner_of(pod)
            if owner is not None:
                owners_with_pods.add(obj_key(owner))
            views.append(
                PodView(
                    name=str(md.get("name", "")),
                    namespace=namespace,
                    labels=as_map(md.get("labels")),
                    spec=as_map(pod.get("spec")),
                    pod=pod,
                    owner=owner,
                )
            )
        for kind in ("Deployment", "StatefulSet", "DaemonSet"):
            for wl in self.list(kind, namespace):
                if obj_key(wl) in owners_with_pods:
                    continue
                tmpl = as_map(as_map(wl.get("spec")).get("template"))
                md = as_map(tmpl.get("metadata"))
                views.append(
                    PodView(
                        name=str(sub(wl, "metadata").get("name", "")),
                        namespace=namespace,
                        labels=as_map(md.get("labels")),
                        spec=as_map(tmpl.get("spec")),
                        pod=None,
                        owner=wl,
                    )
                )
        return views

    def pods_for_service(self, service: Mapping[str, Any]) -> _List[PodView]:
        """Pods (or templates) the Service's selector matches (an index lookup, not a scan)."""
        ns = obj_key(service)[1]
        return self.views_matching(ns, sub(service, "spec", "selector"))

    def views_matching(self, namespace: str, selector: Mapping[str, Any] | None) -> _List[PodView]:
        """Pod views of a namespace whose labels carry every pair of an equality selector."""
        if not selector or not isinstance(selector, Mapping):
            return []
        index: dict[str, dict[tuple[str, str], list[PodView]]] = self._pod_label_index  # type: ignore[attr-defined]
        by_pair = index.get(namespace)
        if by_pair is None:  # built once per namespace: every (label, value) -> its views
            by_pair = {}
            for v in self.pod_views(namespace):
                for k, val in as_map(v.labels).items():
                    by_pair.setdefault((str(k), str(val)), []).append(v)
            index[namespace] = by_pair
        candidates = by_pair.get(_first_pair(selector), [])
        return [v for v in candidates if labels_match(selector, v.labels)]

    def services_selecting(self, namespace: str, labels: Mapping[str, Any] | None) -> _List[Mapping[str, Any]]:
        """Services of a namespace whose selector matches these labels (indexed by one selector pair)."""
        labels = as_map(labels)
        if not labels:
            return []
        index: dict[str, dict[tuple[str, str], list[tuple[int, Mapping[str, Any]]]]] = (
            self._service_selector_index)  # type: ignore[attr-defined]
        by_pair = index.get(namespace)
        if by_pair is None:
            by_pair = {}
            for pos, svc in enumerate(self.list("Service", namespace)):
                selector = as_map(as_map(svc.get("spec")).get("selector"))
                if selector:
                    by_pair.setdefault(_first_pair(selector), []).append((pos, svc))
            index[namespace] = by_pair
        found: list[tuple[int, Mapping[str, Any]]] = []
        for k, v in labels.items():
            for pos, svc in by_pair.get((str(k), str(v)), ()):
                if labels_match(as_map(as_map(svc.get("spec")).get("selector")), labels):
                    found.append((pos, svc))
        return [svc for _, svc in sorted(found, key=lambda e: e[0])]

    def endpoint_slices_for(self, service: Mapping[str, Any]) -> tuple[Mapping[str, Any], ...]:
        ns, name = obj_key(service)[1], obj_key(service)[2]
        return self._grouped("EndpointSlice", ns, _slice_service).get(name, ())

    def events_for(self, obj: Mapping[str, Any]) -> _List[Mapping[str, Any]]:
        kind, ns, name = obj_key(obj)
        return _List(self._grouped("Event", ns, _event_subject).get(f"{kind}/{name}", ()))

    def namespace_of(self, obj: Mapping[str, Any]) -> str:
        """The object's namespace, or the snapshot's default for an object that names none."""
        return obj_key(obj)[1] or self.namespace

    def derived(self, key: str, build: Callable[[], _T]) -> _T:
        """A value computed from the (immutable) objects once per snapshot, e.g. `spec_holders`."""
        cache: dict[str, Any] = self._groups  # type: ignore[attr-defined]
        if key not in cache:
            cache[key] = build()
        return cache[key]  # type: ignore[no-any-return]

    def _grouped(self, kind: str, namespace: str, key: Any) -> Mapping[str, tuple[Mapping[str, Any], ...]]:
        """Objects of a kind in a namespace grouped by `key(obj)`, built once (a lookup, not a scan)."""
        cache: dict[tuple[str, str], dict[str, tuple[Mapping[str, Any], ...]]] = self._groups  # type: ignore[attr-defined]
        slot = (f"grouped:{kind}", namespace)
        if slot not in cache:
            groups: dict[str, list[Mapping[str, Any]]] = {}
            for o in self.list(kind, namespace):
                k = key(o)
                if k is not None:
                    groups.setdefault(k, []).append(o)
            cache[slot] = {k: tuple(v) for k, v in groups.items()}
        return cache[slot]


def _slice_service(s: Mapping[str, Any]) -> str | None:
    name = sub(s, "metadata", "labels").get("kubernetes.io/service-name")
    return name if isinstance(name, str) else None


def _event_subject(e: Mapping[str, Any]) -> str | None:
    ref = e.get("involvedObject") or e.get("regarding") or {}
    if not isinstance(ref, Mapping):
        return None
    return f"{ref.get('kind')}/{ref.get('name')}"
