"""The live cluster source: read the objects a walk needs from an API server into a Snapshot.

Reads are raw JSON lists, run concurrently in threads. When one URL is diagnosed (`host` given)
the reads are targeted: Ingresses (and HTTPRoutes) cluster-wide, then only the namespaces whose
routes can serve that host, the focus namespace, and the ingress controller's namespace; the
policy CRDs of a data plane a GatewayClass names (Envoy Gateway's) cluster-wide. A 403 on
any kind degrades: the kind is recorded in `Snapshot.denied` with a `source-read-forbidden` info
finding, and the walk goes on. Unreachable servers, TLS failures and 401 raise ClusterAccessError,
and so does an answer that is not the API server's (HTML, 5xx, truncated JSON, a redirect, a body
over the limit, a 404 on a kind every server has): "could not read the cluster: ...", no verdict.
Secrets are only ever read as metadata.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kdiag.dataplane import Profile, profiles
from kdiag.findings import make_finding
from kdiag.hosts import gateway_hostname_matches, ingress_host_matches
from kdiag.kube import RESOURCES, ApiError, Forbidden, NotFound, Unauthorized
from kdiag.kube.access import ClusterReader
from kdiag.kube.errors import unreadable
from kdiag.model import Finding, SourceInfo
from kdiag.shape import as_list, as_map
from kdiag.snapshot import Snapshot, obj_key

__all__ = [
    "controller_selectors",
    "NAMESPACED_KINDS",
    "READ_FORBIDDEN_CHECK",
    "load_cluster",
    "namespaces_for_host",
]

READ_FORBIDDEN_CHECK = "source-read-forbidden"

#: Kinds read in full for every namespace in scope (EndpointSlice falls back to Endpoints).
NAMESPACED_KINDS: tuple[str, ...] = (
    "Service",
    "EndpointSlice",
    "Pod",
    "ReplicaSet",
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Event",
    "Secret",
)


def controller_selectors(among: Iterable[Profile] | None = None) -> tuple[str, ...]:
    """Label selectors that find ingress controllers' Services, Pods and ConfigMaps (every
    profile's, or those of `among`)."""
    return tuple(dict.fromkeys(sel for p in (profiles() if among is None else among)
                               for sel in p.pods.label_selectors))


def controller_list_selectors(among: Iterable[Profile] | None = None) -> tuple[str, ...]:
    """`controller_selectors` for list requests: the `key=value` ones of one key joined into one
    `key in (v1,v2,…)` selector, so a dozen profiles cost a handful of requests, not one each."""
    by_key: dict[str, list[str]] = {}
    rest: list[str] = []
    for sel in controller_selectors(among):
        key, eq, value = sel.partition("=")
        if eq and "," not in sel and "!" not in key and value and not value.startswith("="):
            by_key.setdefault(key, []).append(value)
        else:
            rest.append(sel)
    grouped = [f"{k}={vs[0]}" if len(vs) == 1 else f"{k} in ({','.join(vs)})" for k, vs in by_key.items()]
    return (*grouped, *rest)


def _controller_configmap_names() -> tuple[str, ...]:
    """ConfigMap names the data planes' installs use when the controller's --configmap is unknown."""
    return tuple(dict.fromkeys(n for p in profiles() for n in p.pods.configmap_names))

#: Kinds every API server serves (core and apps): a 404 on listing them is not Kubernetes talking.
ALWAYS_SERVED = frozenset({"Namespace", "Node", "Service", "Endpoints", "Pod", "ConfigMap", "Secret",
                           "Event", "ReplicaSet", "Deployment", "StatefulSet", "DaemonSet"})

MAX_EVENTS = 2000
MAX_WORKERS = 8


# -- host matching ----------------------------------------------------------------------------


def _ingress_serves(ing: Mapping[str, Any], host: str) -> bool:
    spec = as_map(ing.get("spec"))
    rules = as_list(spec.get("rules"))
    if not rules:
        return bool(spec.get("defaultBackend") or spec.get("backend"))
    return any(ingress_host_matches(as_map(r).get("host"), host) for r in rules)


def _route_serves(route: Mapping[str, Any], host: str) -> bool:
    names = as_list(as_map(route.get("spec")).get("hostnames"))
    return not names or any(gateway_hostname_matches(n, host) for n in names if isinstance(n, str))


def namespaces_for_host(
    ingresses: Iterable[Mapping[str, Any]], routes: Iterable[Mapping[str, Any]], host: str
) -> set[str]:
    """Namespaces whose Ingresses or HTTPRoutes can serve `host` (plus their backends' namespaces)."""
    out: set[str] = set()
    for ing in ingresses:
        if _ingress_serves(ing, host):
            out.add(obj_key(ing)[1])
    for route in routes:
        if not _route_serves(route, host):
            continue
        ns = obj_key(route)[1]
        out.add(ns)
        for parent in as_list(as_map(route.get("spec")).get("parentRefs")):
            out.add(str(as_map(parent).get("namespace") or ns))  # the Gateway and its data plane
        for rule in as_list(as_map(route.get("spec")).get("rules")):
            for ref in as_list(as_map(rule).get("backendRefs")):
                out.add(str(as_map(ref).get("namespace") or ns))
    out.discard("")
    return out


# -- reading ---------------------------------------------------------------------------------


@dataclass
class _Collector:
    """Thread-safe accumulation of objects, denials and findings."""

    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    denied: dict[str, str] = field(default_factory=dict)
    #: (kind, reason, note, cluster-wide?) -> namespaces, in the order they were denied.
    denials: dict[tuple[str, str, str, bool], list[str]] = field(default_factory=dict)
    extra_findings: list[Finding] = field(default_factory=list)
    absent: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, items: Iterable[dict[str, Any]]) -> None:
        with self.lock:
            for item in items:
                self.objects.setdefault(obj_key(item), item)

    def deny(self, kind: str, namespace: str | None, reason: str, note: str = "") -> None:
        scoped = namespace is not None and RESOURCES[kind].namespaced
        with self.lock:
            self.denied.setdefault(kind, reason)
            spaces = self.denials.setdefault((kind, reason, note, not scoped), [])
            if scoped and namespace not in spaces:
                spaces.append(namespace)  # type: ignore[arg-type]

    def findings(self) -> tuple[Finding, ...]:
        """One finding per kind and reason, naming every namespace it happened in."""
        out = [_read_finding(kind, None if cluster else sorted(spaces), reason, note)
               for (kind, reason, note, cluster), spaces in self.denials.items()]
        return tuple(out + self.extra_findings)


def _where(kind: str, namespaces: list[str] | None) -> str:
    res = RESOURCES[kind]
    if not res.namespaced:
        return res.plural
    if not namespaces:
        return f"{res.plural} in all namespaces"
    if len(namespaces) == 1:
        return f"{res.plural} in namespace {namespaces[0]}"
    return f"{res.plural} in namespaces {', '.join(namespaces)}"


def _read_finding(kind: str, namespaces: list[str] | None, reason: str, note: str) -> Finding:
    message = f"could not read {_where(kind, namespaces)}: {reason}"
    if note:
        message += f"; {note}"
    plural = RESOURCES[kind].plural
    explanation: str | None = None  # a forbidden read: the catalog's explanation and fix
    fix: str | None = None
    if reason != "forbidden":
        explanation = (
            "The API server did not answer this read properly, so kdiag went on without these "
            "objects. Checks that need them say 'cannot verify' instead of guessing."
        )
        fix = f"Retry; if it persists, check the API server (e.g. `kubectl get {plural} -v=6`)."
    evidence: dict[str, Any] = {"kind": kind, "reason": reason}
    if namespaces and RESOURCES[kind].namespaced:
        evidence["namespaces"] = list(namespaces)
    return make_finding(READ_FORBIDDEN_CHECK, object="", message=message, evidence=evidence,
                        explanation=explanation, fix=fix)


class _Reader:
    """Runs list jobs on a thread pool and records what they return or why they failed."""

    def __init__(self, kube: ClusterReader, pool: ThreadPoolExecutor, out: _Collector) -> None:
        self.kube, self.pool, self.out = kube, pool, out

    def list(
        self,
        kind: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        max_items: int | None = None,
        limit: int | None = None,
        on_denied: Callable[[], list[dict[str, Any]] | None] | None = None,
        note: str = "",
        record_denied: bool = True,
    ) -> list[dict[str, Any]] | None:
        """List a kind; None when it could not be read (forbidden, absent, server error)."""
        try:
            if limit is not None:
                items = self.kube.list_raw(kind, namespace, label_selector=label_selector,
                                           max_items=max_items, limit=limit)
            else:
                items = self.kube.list_raw(kind, namespace, label_selector=label_selector,
                                           max_items=max_items)
        except Forbidden:
            if on_denied is not None:
                fallback = on_denied()
                if record_denied:
                    self.out.deny(kind, namespace, "forbidden", note)
                return fallback
            if record_denied:
                self.out.deny(kind, namespace, "forbidden", note)
            return None
        except NotFound as e:
            if kind in ALWAYS_SERVED:  # every API server serves these: it is not the API server
                raise unreadable(e, "every read answers 404 (a wrong server URL or path prefix?)") from None
            # The resource type is not served (e.g. no Gateway API CRDs) or the namespace is gone.
            if on_denied is not None:
                return on_denied()
            with self.out.lock:
                self.out.absent.add(kind)
            return None
        except ApiError as e:
            # Anything but a real 403/404 Status (HTML, 5xx, truncated JSON, a redirect, a body
            # over the limit, JSON that is no list) means the cluster cannot be read: no verdict.
            if isinstance(e, Unauthorized):
                raise
            raise unreadable(e) from None
        self.out.add(items)
        return items

    def submit(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Future[Any]:
        return self.pool.submit(fn, *args, **kw)


def _namespace_jobs(reader: _Reader, namespace: str, *, with_ingress: bool) -> list[Future[Any]]:
    """Read every kind a walk needs in one namespace."""
    jobs: list[Future[Any]] = []
    for kind in NAMESPACED_KINDS:
        if kind == "EndpointSlice":
            jobs.append(reader.submit(_slices_or_endpoints, reader, namespace))
        elif kind == "Event":
            jobs.append(reader.submit(reader.list, kind, namespace, max_items=MAX_EVENTS))
        else:
            jobs.append(reader.submit(reader.list, kind, namespace))
    if with_ingress:
        jobs.append(reader.submit(reader.list, "Ingress", namespace))
        jobs.append(reader.submit(reader.list, "HTTPRoute", namespace, record_denied=False))
        jobs.append(reader.submit(reader.list, "GRPCRoute", namespace, record_denied=False))
    jobs.append(reader.submit(reader.list, "ReferenceGrant", namespace, record_denied=False))
    return jobs


def _slices_or_endpoints(reader: _Reader, namespace: str | None) -> list[dict[str, Any]] | None:
    def fallback() -> list[dict[str, Any]] | None:
        return reader.list("Endpoints", namespace)

    return reader.list("EndpointSlice", namespace, on_denied=fallback,
                       note="using v1 Endpoints instead")


def _wait(jobs: Iterable[Future[Any]]) -> list[Any]:
    """Results in order; the first fatal error (unreachable, 401) is raised after all finished."""
    results: list[Any] = []
    error: BaseException | None = None
    for job in jobs:
        try:
            results.append(job.result())
        except BaseException as e:  # noqa: BLE001 - re-raised below
            error = error or e
            results.append(None)
    if error is not None:
        raise error
    return results


def _controller_configmap_refs(pods: Iterable[Mapping[str, Any]]) -> set[tuple[str, str]]:
    """(namespace, name) of ConfigMaps named by controller pods' `--configmap=` arguments."""
    refs: set[tuple[str, str]] = set()
    for pod in pods:
        ns = obj_key(pod)[1]
        for c in as_list(as_map(pod.get("spec")).get("containers")):
            for arg in as_list(as_map(c).get("args")) + as_list(as_map(c).get("command")):
                if isinstance(arg, str) and arg.startswith("--configmap="):
                    value = arg.split("=", 1)[1].replace("$(POD_NAMESPACE)", ns)
                    cm_ns, _, name = value.rpartition("/")
                    if name:
                        refs.add((cm_ns or ns, name))
    return refs


def load_cluster(
    kube: ClusterReader,
    *,
    namespace: str | None = None,
    all_namespaces: bool = False,
    host: str | None = None,
) -> Snapshot:
    """Read the snapshot a walk needs. Targeted to one host's namespaces when `host` is given."""
    focus = namespace or kube.namespace or "default"
    host = (host or "").strip().lower().rstrip(".") or None
    if host and ":" in host and not host.startswith("["):
        host = host.split(":", 1)[0]
    from kdiag.sources.crds import read_for_snapshot

    version = kube.check_access()
    out = _Collector()
    read_namespaces: set[str] = set()
    pool = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="kdiag-read")
    try:
        reader = _Reader(kube, pool, out)
        # Phase 1: cluster-scoped kinds, routes, controller Services, and the focus namespace.
        jobs: list[Future[Any]] = [
            reader.submit(reader.list, "Namespace", None),
            reader.submit(reader.list, "Node", None),
            reader.submit(reader.list, "IngressClass", None),
            reader.submit(reader.list, "Gateway", None, record_denied=False),
            reader.submit(reader.list, "GatewayClass", None, record_denied=False),
        ]
        if all_namespaces:
            for kind in ("Ingress", "Service", "Pod", "ReplicaSet", "Deployment", "StatefulSet",
                         "DaemonSet", "Secret"):
                jobs.append(reader.submit(reader.list, kind, None))
            jobs.append(reader.submit(reader.list, "Event", None, max_items=MAX_EVENTS))
            jobs.append(reader.submit(reader.list, "HTTPRoute", None, record_denied=False))
            jobs.append(reader.submit(reader.list, "GRPCRoute", None, record_denied=False))
            jobs.append(reader.submit(reader.list, "ReferenceGrant", None, record_denied=False))
            jobs.append(reader.submit(_slices_or_endpoints, reader, None))
            _wait(jobs)
            ctrl_jobs = [reader.submit(reader.list, "ConfigMap", None, label_selector=sel,
                                       record_denied=False) for sel in controller_list_selectors()]
            _wait(ctrl_jobs)
            _fetch_controller_configmaps(reader, {
                obj_key(o)[1] for o in out.objects.values()
                if o.get("kind") == "Service" and _is_controller(o)})
            read_namespaces = {obj_key(o)[1] for o in out.objects.values() if obj_key(o)[1]}
            _wait(read_for_snapshot(reader, None))  # data-plane CRDs, when their data plane is in play
        else:
            ing_job: Future[Any] | None = None
            route_job: Future[Any] | None = None
            grpc_job: Future[Any] | None = None
            if host:
                ing_job = reader.submit(reader.list, "Ingress", None, record_denied=False)
                route_job = reader.submit(reader.list, "HTTPRoute", None, record_denied=False)
                grpc_job = reader.submit(reader.list, "GRPCRoute", None, record_denied=False)
            svc_jobs = [reader.submit(reader.list, "Service", None, label_selector=sel,
                                      record_denied=False) for sel in controller_list_selectors()]
            jobs += _namespace_jobs(reader, focus, with_ingress=not host)
            jobs += svc_jobs
            read_namespaces.add(focus)
            extra: set[str] = set()
            if host:
                assert ing_job is not None and route_job is not None and grpc_job is not None
                ingresses = ing_job.result()
                if ingresses is None:  # cluster-wide forbidden: fall back to the focus namespace
                    ingresses = reader.list("Ingress", focus)
                    if ingresses is not None:
                        with out.lock:
                            out.extra_findings.append(_read_finding(
                                "Ingress", None, "forbidden",
                                f"only namespace {focus} was searched for Ingresses"))
                    ingresses = ingresses or []
                routes = route_job.result() or []
                if route_job.result() is None and "HTTPRoute" not in out.absent:
                    routes = reader.list("HTTPRoute", focus, record_denied=False) or []
                routes = list(routes) + list(grpc_job.result() or [])
                extra = namespaces_for_host(ingresses, routes, host) - {focus}
            ctrl_services = [s for r in _wait(svc_jobs) if r for s in r]
            ctrl_namespaces = {obj_key(s)[1] for s in ctrl_services} - {focus} - extra
            for ns in sorted(extra):
                jobs += _namespace_jobs(reader, ns, with_ingress=False)
            read_namespaces |= extra
            # The controller's namespace: its pods, endpoints and ConfigMaps (not everything).
            ctrl_pod_jobs: list[Future[Any]] = []
            for ns in sorted(ctrl_namespaces):
                for sel in controller_list_selectors():
                    ctrl_pod_jobs.append(reader.submit(reader.list, "Pod", ns, label_selector=sel,
                                                       record_denied=False))
                    jobs.append(reader.submit(reader.list, "ConfigMap", ns, label_selector=sel,
                                              record_denied=False))
                jobs.append(reader.submit(_slices_or_endpoints, reader, ns))
            for ns in sorted({focus} | extra):
                for sel in controller_list_selectors():
                    jobs.append(reader.submit(reader.list, "ConfigMap", ns, label_selector=sel,
                                              record_denied=False))
            _wait(jobs)
            _wait(ctrl_pod_jobs)
            _fetch_controller_configmaps(reader, {obj_key(s)[1] for s in ctrl_services})
            read_namespaces |= ctrl_namespaces
            _wait(read_for_snapshot(reader, read_namespaces))  # data-plane CRDs, when in play
        _read_policies(reader)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    objects = tuple(sorted(out.objects.values(), key=_sort_key))
    facts: dict[str, Any] = {
        "server": kube.server,
        "namespaces_read": sorted(read_namespaces) if not all_namespaces else ["*"],
        "targeted_host": host,
    }
    if version.get("gitVersion"):
        facts["server_version"] = version["gitVersion"]
    if out.absent:
        facts["kinds_not_served"] = sorted(out.absent)
    return Snapshot(
        objects=objects,
        source=SourceInfo(kind="cluster", context=kube.context, namespace=focus),
        denied=dict(out.denied),
        findings=out.findings(),
        namespace=focus,
        facts=facts,
    )


def _read_policies(reader: _Reader) -> None:
    """The policy CRDs of the data planes the GatewayClasses name (Envoy Gateway's timeouts), one
    cluster-wide list per kind, only when such a class exists (a CRD not served: harmless)."""
    from kdiag.dataplane import profile_for_controller

    classes = [o for o in list(reader.out.objects.values()) if o.get("kind") == "GatewayClass"]
    kinds = dict.fromkeys(k for c in classes
                          for k in profile_for_controller(str(as_map(c.get("spec")).get("controllerName") or ""))
                          .policy_kinds)
    _wait([reader.submit(reader.list, kind, None) for kind in kinds])


def _is_controller(obj: Mapping[str, Any]) -> bool:
    labels = as_map(as_map(obj.get("metadata")).get("labels"))
    return any(labels.get(k) == v for k, _, v in (sel.partition("=") for sel in controller_selectors()))


def _fetch_controller_configmaps(reader: _Reader, namespaces: set[str]) -> None:
    """Get the ConfigMaps named by controller pods' --configmap (else well-known names)."""
    out = reader.out
    pods = [o for o in list(out.objects.values()) if o.get("kind") == "Pod" and _is_controller(o)]
    wanted = _controller_configmap_refs(pods)
    if not wanted:
        wanted = {(ns, n) for ns in namespaces for n in _controller_configmap_names()}
    missing = sorted(w for w in wanted if ("ConfigMap", w[0], w[1]) not in out.objects)
    _wait([reader.submit(_get_optional, reader.kube, out, "ConfigMap", ns, name)
           for ns, name in missing])


def _get_optional(kube: ClusterReader, out: _Collector, kind: str, namespace: str, name: str) -> None:
    try:
        obj = kube.get_raw(kind, namespace, name)
    except Forbidden:
        out.deny(kind, namespace, "forbidden")
        return
    except ApiError as e:
        if isinstance(e, Unauthorized):
            raise
        raise unreadable(e) from None
    if obj is not None:
        out.add([obj])


_KIND_ORDER = {k: i for i, k in enumerate(RESOURCES)}


def _sort_key(obj: Mapping[str, Any]) -> tuple[int, str, str]:
    kind, ns, name = obj_key(obj)
    return _KIND_ORDER.get(kind, len(_KIND_ORDER)), ns, name
