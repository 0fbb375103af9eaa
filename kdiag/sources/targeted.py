"""Targeted reads for one URL: what a single-URL diagnosis costs does not grow with the cluster.

1. In parallel: the Ingresses of every namespace (one paged list), the IngressClasses, and,
   while the Ingress pages come in, the ingress controller (its Services by label, its pods by
   the Service's selector, the ConfigMap its `--configmap` names).
2. The route is resolved over the Ingresses that can serve the host (rules for the host, rules
   without a host, default backends): resolution over them equals resolution over all.
3. Only the route's backend Service(s) are read (GET), their EndpointSlices
   (`kubernetes.io/service-name=NAME`), their pods (the Service's selector as label selector), the
   pods' owners (GET), the route's TLS Secrets (metadata GET), nodes only when a NodePort is
   involved, and Events only when a route pod is unhealthy. For a Gateway API route, the policy
   objects of its data plane (Envoy Gateway's ClientTrafficPolicy/BackendTrafficPolicy) in the
   Gateway's and the route's namespaces; none for other data planes.
   Data-plane CRDs only when that data plane is in play (`kdiag.sources.crds`): Contour's
   HTTPProxies (one paged list, those for the host kept) and, for an Ingress route, the GKE
   BackendConfig a read Service names (one GET each).
4. When the targeted read shows something broken that needs the namespace to explain it (the
   Service does not exist, or its selector selects no pod), that namespace is read in full, as
   before, so the findings keep their hints (closest labels, the Deployment named instead).

When no rule serves the URL, the Ingresses of the 10 most similar hosts are kept for the
"closest rule" hint. Everything else is absent from the snapshot; `Snapshot.scope` records what was read so that no
finding is built about an object kdiag did not look for. A cluster-wide Ingress list that fails
(forbidden, server error) falls back to `load_cluster`'s namespace reads.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kdiag.dataplane import UNKNOWN, Profile, profile_for_controller, profiles
from kdiag.hosts import gateway_hostname_matches, ingress_host_matches
from kdiag.kube import ApiError
from kdiag.kube.access import ClusterReader
from kdiag.model import SourceInfo
from kdiag.pods.readiness import pod_is_ready
from kdiag.shape import as_list, as_map, maps, sub
from kdiag.snapshot import ReadScope, Snapshot, obj_key
from kdiag.sources.cluster import (
    MAX_EVENTS,
    MAX_WORKERS,
    NAMESPACED_KINDS,
    _Collector,
    _controller_configmap_refs,
    _get_optional,
    _namespace_jobs,
    _Reader,
    _sort_key,
    _wait,
    controller_list_selectors,
    load_cluster,
)
from kdiag.sources.crds import profiles_in_play, service_config_refs, serving_crd_routes

__all__ = ["INGRESS_PAGE", "MAX_NODES", "load_route", "serving_ingresses"]

#: Page size of the cluster-wide Ingress list (Ingresses are small; fewer round trips).
INGRESS_PAGE = 2000
#: Nodes read when a NodePort is on the route (a few addresses are enough to reach it).
MAX_NODES = 50


def serving_ingresses(ingresses: Iterable[Mapping[str, Any]], host: str) -> list[Mapping[str, Any]]:
    """Ingresses that can serve `host`: a rule for it (exact or wildcard), a rule without a
    host, or a default backend. Route resolution over these equals resolution over all."""
    out = []
    for ing in ingresses:
        spec = as_map(ing.get("spec"))
        rules = maps(spec.get("rules"))
        if (spec.get("defaultBackend") or spec.get("backend") or not rules
                or any(ingress_host_matches(r.get("host"), host) for r in rules)):
            out.append(ing)
    return out


class _Scope:
    def __init__(self) -> None:
        self.lists: set[tuple[str, str]] = {("Ingress", "*"), ("IngressClass", "")}
        self.names: set[tuple[str, str, str]] = set()
        self.namespaces: set[str] = set()

    def freeze(self) -> ReadScope:
        return ReadScope(lists=frozenset(self.lists), names=frozenset(self.names))


def _get(reader: _Reader, scope: _Scope, kind: str, ns: str, name: str) -> None:
    scope.names.add((kind, ns, name))
    _get_optional(reader.kube, reader.out, kind, ns, name)


def _selector_text(selector: Mapping[str, Any]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(selector.items()))


def _named_profiles(objects: Iterable[Mapping[str, Any]]) -> list[Profile] | None:
    """The known data planes the IngressClasses and GatewayClasses name; None (every profile)
    when no class names one kdiag knows."""
    named = (profile_for_controller(str(sub(o, "spec").get("controller" if o.get("kind") == "IngressClass"
                                                         else "controllerName") or ""))
             for o in objects if o.get("kind") in ("IngressClass", "GatewayClass"))
    known = {p.name: p for p in named if p.name != UNKNOWN.name}
    return [known[n] for n in sorted(known)] or None


def _controller(reader: _Reader, scope: _Scope, among: list[Profile] | None = None, *,
                gateways: bool = False) -> None:
    """The ingress controller: Services by label, their pods by selector, their ConfigMap (and,
    for a Gateway API route, every Gateway's data-plane Services by the gateway-name labels)."""
    from kdiag.vantage import GATEWAY_NAME_LABELS

    services: dict[tuple[str, str, str], dict[str, Any]] = {}
    selectors = controller_list_selectors(among)
    if gateways:
        selectors = tuple(dict.fromkeys((*selectors, *GATEWAY_NAME_LABELS)))
    for listed in _wait([reader.submit(reader.list, "Service", None, label_selector=sel, record_denied=False)
                         for sel in selectors]):
        for svc in listed or ():
            services[obj_key(svc)] = svc
    pod_jobs = []
    for svc in services.values():
        selector = as_map(as_map(svc.get("spec")).get("selector"))
        if selector:
            pod_jobs.append(reader.submit(reader.list, "Pod", obj_key(svc)[1],
                                          label_selector=_selector_text(selector), record_denied=False))
    pods: list[dict[str, Any]] = [p for listed in _wait(pod_jobs) for p in listed or ()]
    # the ConfigMaps the pods name (--configmap), else the names that Service's own data plane uses
    wanted = _controller_configmap_refs(pods) or {
        (obj_key(s)[1], n) for s in services.values() for p in profiles() if p.controller_service(s)
        for n in p.pods.configmap_names}
    for ns, name in sorted(wanted):
        _get(reader, scope, "ConfigMap", ns, name)


def _backend_services(res: Any) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for b in (res.main_backend, res.canary_backend):
        if b is not None and b.ref.service_name and (b.ref.namespace, b.ref.service_name) not in out:
            out.append((b.ref.namespace, b.ref.service_name))
    return out


def _tls_secrets(res: Any) -> set[tuple[str, str]]:
    out = set()
    for ing in res.ingresses:
        ns = obj_key(ing)[1]
        for tls in maps(as_map(ing.get("spec")).get("tls")):
            if tls.get("secretName"):
                out.add((ns, str(tls["secretName"])))
    return out


def _needs_nodes(services: Iterable[Mapping[str, Any]]) -> bool:
    for svc in services:
        spec = as_map(svc.get("spec"))
        if spec.get("type") == "NodePort":
            return True
        if spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local":
            return True  # which nodes run its pods decides where the load balancer's traffic is dropped
        if spec.get("type") == "LoadBalancer" and not maps(
                as_map(as_map(svc.get("status")).get("loadBalancer")).get("ingress")):
            return True
    return False


def _owners(reader: _Reader, scope: _Scope, objs: Iterable[Mapping[str, Any]]) -> list[Future[Any]]:
    seen: set[tuple[str, str, str]] = set()
    jobs = []
    for o in objs:
        ns = obj_key(o)[1]
        for ref in maps(as_map(o.get("metadata")).get("ownerReferences")):
            key = (str(ref.get("kind")), ns, str(ref.get("name")))
            if ref.get("controller") and key[0] in NAMESPACED_KINDS and key not in seen:
                seen.add(key)
                jobs.append(reader.submit(_get, reader, scope, *key))
    return jobs


def load_route(kube: ClusterReader, target: Any, *, namespace: str | None = None) -> Snapshot:
    """The snapshot one URL's walk needs (see the module docstring)."""
    from kdiag.route import resolve_route

    focus = namespace or kube.namespace or "default"
    host = str(target.host).lower().rstrip(".")
    out = _Collector()
    scope = _Scope()
    pool = ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="kdiag-read")
    try:
        reader = _Reader(kube, pool, out)
        ing_job = pool.submit(kube.list_raw, "Ingress", None, limit=INGRESS_PAGE)
        route_job = pool.submit(_gateway_routes_for, kube, host)
        _wait([reader.submit(reader.list, "IngressClass", None)])
        gw_routes: list[dict[str, Any]] = route_job.result()
        if gw_routes:  # Gateway API: the few cluster-wide objects its resolution needs
            scope.lists.update({("HTTPRoute", "*"), ("GRPCRoute", "*"), ("Gateway", "*"),
                                ("GatewayClass", ""), ("ReferenceGrant", "*")})
            _wait([reader.submit(reader.list, k, None, record_denied=False)
                   for k in ("Gateway", "GatewayClass", "ReferenceGrant")])
            if _selects_namespaces(out.objects.values()):  # allowedRoutes by namespace labels
                scope.lists.add(("Namespace", ""))
                reader.list("Namespace", None, record_denied=False)
        # The controllers' Services, pods and ConfigMaps: of the data planes the classes name
        # (while the Ingress list's pages still come in).
        _controller(reader, scope, _named_profiles(out.objects.values()), gateways=bool(gw_routes))
        try:
            ingresses: list[dict[str, Any]] = ing_job.result()
        except ApiError as e:
            if e.status == 401:
                raise
            pool.shutdown(wait=True)
            return load_cluster(kube, namespace=namespace, host=host)
        kept = serving_ingresses(ingresses, host) + gw_routes
        # A data plane's own route kinds (Contour's HTTPProxy), only when that data plane is in play.
        kept += serving_crd_routes(reader, scope.lists, host, [*out.objects.values(), *kept])

        def snapshot(objects: Iterable[Mapping[str, Any]], scope_: ReadScope | None) -> Snapshot:
            return Snapshot(objects=tuple(sorted(objects, key=_sort_key)),
                            source=SourceInfo(kind="cluster", context=kube.context, namespace=focus),
                            denied=dict(out.denied), findings=out.findings(), namespace=focus,
                            facts={"server": kube.server, "namespaces_read": sorted(scope.namespaces),
                                   "targeted_host": host, "ingresses_listed": len(ingresses),
                                   **({"kinds_not_served": sorted(out.absent)} if out.absent else {})},
                            scope=scope_)

        res = resolve_route(snapshot(list(kept) + list(out.objects.values()), None), target)
        if not res.matched and res.default_backend != "ingress":
            kept = _with_closest(kept, ingresses, host)  # the no-match finding names the closest rule
        # Phase 2: the route's Services, their EndpointSlices, TLS Secrets; a Gateway's data plane.
        backends = _backend_services(res)
        jobs: list[Future[Any]] = []
        if res.gateway is not None:
            jobs += _gateway_side(reader, scope, res, backends)
        for ns, name in backends:
            scope.names.update({("Service", ns, name), ("Endpoints", ns, name)})
            jobs.append(reader.submit(_get, reader, scope, "Service", ns, name))
            jobs.append(reader.submit(_slices, reader, ns, name))
        for ns, name in sorted(_tls_secrets(res)):
            jobs.append(reader.submit(_get, reader, scope, "Secret", ns, name))
        _wait(jobs)
        # Phase 3: pods by selector (or the whole namespace when the route is broken there), nodes.
        jobs = []
        services = [s for ns, name in backends if (s := out.objects.get(("Service", ns, name)))]
        widen = {ns for ns, name in backends if ("Service", ns, name) not in out.objects}
        pod_jobs: list[Future[Any]] = []
        for svc in services:
            ns = obj_key(svc)[1]
            selector = as_map(as_map(svc.get("spec")).get("selector"))
            if selector:
                pod_jobs.append(reader.submit(reader.list, "Pod", ns, label_selector=_selector_text(selector)))
        ctrl = [o for o in out.objects.values() if o.get("kind") == "Service"]
        if res.gateway is None:  # Ingress/HTTPProxy routes: what the Services name (GKE BackendConfig)
            jobs += [reader.submit(_get, reader, scope, *ref)
                     for ref in service_config_refs(profiles_in_play([*out.objects.values(), *kept], api="ingress"),
                                                    ctrl)]
        if _needs_nodes(ctrl):
            jobs.append(reader.submit(reader.list, "Node", None, limit=MAX_NODES, max_items=MAX_NODES))
        route_pods = [p for r in _wait(pod_jobs) if r for p in r]
        for svc in services:
            ns = obj_key(svc)[1]
            if as_map(as_map(svc.get("spec")).get("selector")) and not any(
                    obj_key(p)[1] == ns for p in route_pods):
                widen.add(ns)  # selects nothing: the namespace explains why (closest labels)
        scope.namespaces.update(ns for ns, _ in backends)
        for ns in sorted(widen):
            scope.lists.update((k, ns) for k in (*NAMESPACED_KINDS, "Endpoints"))
            jobs += _namespace_jobs(reader, ns, with_ingress=False)
        # Phase 4: the pods' owners (ReplicaSet -> Deployment), Events when a pod is unhealthy.
        owners = _owners(reader, scope, route_pods)
        _wait(owners)
        second = [o for o in out.objects.values() if o.get("kind") == "ReplicaSet"]
        _wait(_owners(reader, scope, second))
        for ns in sorted({obj_key(p)[1] for p in route_pods if _unhealthy(p)} - widen):
            jobs.append(reader.submit(reader.list, "Event", ns, max_items=MAX_EVENTS))
        _wait(jobs)
    except BaseException:
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return snapshot(list(kept) + list(out.objects.values()), scope.freeze())


def _gateway_routes_for(kube: ClusterReader, host: str) -> list[dict[str, Any]]:
    """The HTTPRoutes/GRPCRoutes that can serve `host` (none where the API is not served or not
    readable: the Ingress walk then goes on as before)."""
    out: list[dict[str, Any]] = []
    for kind in ("HTTPRoute", "GRPCRoute"):
        try:
            routes = kube.list_raw(kind, None, limit=INGRESS_PAGE)
        except ApiError as e:
            if e.status == 401:
                raise
            continue
        for route in routes:
            names = as_list(as_map(route.get("spec")).get("hostnames"))
            if not names or any(isinstance(n, str) and gateway_hostname_matches(n, host) for n in names):
                out.append(route)
    return out


def _selects_namespaces(objects: Iterable[Mapping[str, Any]]) -> bool:
    """Whether a Gateway admits routes by namespace labels (then Namespaces must be read)."""
    return any(as_map(as_map(as_map(lst.get("allowedRoutes")).get("namespaces"))).get("from") == "Selector"
               for gw in objects if gw.get("kind") == "Gateway"
               for lst in maps(as_map(gw.get("spec")).get("listeners")))


def _gateway_side(reader: _Reader, scope: _Scope, res: Any, backends: list[tuple[str, str]]) -> list[Future[Any]]:
    """Every backendRef Service of the matched rule (weights, permissions), the Gateway's own
    data-plane Services and pods (the gateway hop is probed through them), the Secrets its
    listeners name (metadata only) and the data plane's policy objects (`Profile.policy_kinds`)."""
    side = res.gateway
    for b in side.backends:
        if b.kind == "Service" and not b.group and (b.namespace, b.name) not in backends:
            backends.append((b.namespace, b.name))
    jobs: list[Future[Any]] = []
    gw = side.gateway
    if gw is None:
        return jobs
    # The data plane's own policy CRDs (Envoy Gateway's timeouts), in the namespaces of the Gateway
    # and the route only: policies attach to objects of their own namespace. Not served: harmless.
    namespaces = sorted({obj_key(gw)[1]} | ({obj_key(side.route)[1]} if side.route is not None else set()))
    for kind in side.profile.policy_kinds:
        for ns in namespaces:
            scope.lists.add((kind, ns))
            jobs.append(reader.submit(reader.list, kind, ns))
    # Its data-plane Services and their pods came with the controllers' (the gateway-name labels
    # are among the profiles' selectors).
    gw_ns = obj_key(gw)[1]
    for listener in maps(as_map(gw.get("spec")).get("listeners")):
        for ref in maps(as_map(listener.get("tls")).get("certificateRefs")):
            if (ref.get("kind") or "Secret") == "Secret" and not ref.get("group") and ref.get("name"):
                ns = str(ref.get("namespace") or gw_ns)
                jobs.append(reader.submit(_get, reader, scope, "Secret", ns, str(ref["name"])))
    return jobs


#: Hosts kept for the "closest rule" hint when no rule serves the URL.
CLOSEST_HOSTS = 10


def _with_closest(kept: list[Mapping[str, Any]], ingresses: list[dict[str, Any]], host: str
                  ) -> list[Mapping[str, Any]]:
    """`kept` plus the Ingresses of the hosts most similar to `host` (not all of them: rules
    would judge every Ingress of the cluster to report one finding)."""
    by_host: dict[str, list[dict[str, Any]]] = {}
    for ing in ingresses:
        for r in maps(as_map(ing.get("spec")).get("rules")):
            if isinstance(r.get("host"), str) and r["host"]:
                by_host.setdefault(r["host"].lower(), []).append(ing)
    close = difflib.get_close_matches(host, list(by_host), n=CLOSEST_HOSTS, cutoff=0.0)
    out = {id(i): i for i in kept}
    for h in close:
        out.update((id(i), i) for i in by_host[h])
    return list(out.values())


def _slices(reader: _Reader, namespace: str, service: str) -> None:
    def fallback() -> list[dict[str, Any]] | None:
        _get_optional(reader.kube, reader.out, "Endpoints", namespace, service)
        return []

    reader.list("EndpointSlice", namespace, label_selector=f"kubernetes.io/service-name={service}",
                on_denied=fallback, note="using v1 Endpoints instead")


def _unhealthy(pod: Mapping[str, Any]) -> bool:
    restarts = any(int(as_map(c).get("restartCount") or 0) > 0
                   for c in as_list(as_map(pod.get("status")).get("containerStatuses")))
    return restarts or not pod_is_ready(pod)

