"""Static rules for the Service and endpoints hops: selectors, target ports, endpoints, stickiness."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kdiag.catalog import get_check
from kdiag.dataplane import ASSUMED_INGRESS_PROFILE, profile_named
from kdiag.model import Finding, PortRef
from kdiag.pods.readiness import endpoint_counts
from kdiag.pods.selection import fmt_labels, pod_template_replicas
from kdiag.pods.spec import ContainerPort, container_ports
from kdiag.route import claiming_profile
from kdiag.rules import RuleContext, rule
from kdiag.shape import guarded
from kdiag.snapshot import PodView, Snapshot, labels_match, obj_key, obj_ref

__all__ = [
    "ServiceItem",
    "describe_views",
    "ingress_backends",
    "named_port_unresolved",
    "near_misses",
    "no_ready_endpoints",
    "other_template_labels",
    "selected_services",
    "selector_matches_no_pods",
    "session_affinity_needed",
    "target_port_mismatch",
]

_LONG_POLL_MARKERS = ("socket.io", "socketio", "socket-io", "sockjs", "long-polling", "longpolling",
                      "engine.io", "signalr")


#: (service, namespace, selector) of a Service that selects pods by labels.
ServiceItem = tuple[Mapping[str, Any], str, Mapping[str, str]]


def selected_services(ctx: RuleContext) -> Iterator[ServiceItem]:
    """Services that select pods by labels: (service, namespace, selector)."""
    for svc in ctx.snapshot.list("Service"):
        spec = svc.get("spec")
        selector = spec.get("selector") if isinstance(spec, Mapping) else None
        if not selector or not isinstance(selector, Mapping) or spec.get("type") == "ExternalName":  # type: ignore[union-attr]
            continue
        yield svc, obj_key(svc)[1], selector


def describe_views(views: list[PodView], limit: int = 3) -> str:
    """Name pods/templates for a message: live pods grouped by their workload, at most `limit`."""
    groups: dict[str, list[PodView]] = {}
    for v in views:
        key = obj_ref(v.owner) if (v.owner is not None and not v.is_template) else v.ref
        groups.setdefault(key, []).append(v)
    parts = []
    for key, members in groups.items():
        if len(members) > 1:
            parts.append(f"the {len(members)} pods of {key}")
        elif members[0].is_template or members[0].owner is None:
            parts.append(key)
        else:
            parts.append(members[0].ref)
    more = len(parts) - limit
    return ", ".join(parts[:limit]) + (f" and {more} more" if more > 0 else "")


def _port_label(sp: Mapping[str, Any]) -> str:
    name = sp.get("name")
    return f"port {name!r} ({sp.get('port')})" if name else f"port {sp.get('port')}"


# -- service-selector-matches-no-pods --------------------------------------------------------


def near_misses(selector: Mapping[str, str], views: list[PodView]) -> list[tuple[PodView, list[str]]]:
    """The pods/templates that match the selector best, with what differs for each.

    Only candidates that share at least one selector label are returned (otherwise nothing is
    "near"); the list holds those with the fewest differences.
    """
    scored: list[tuple[int, PodView, list[str]]] = []
    for v in views:
        diffs: list[str] = []
        same = 0
        for k, want in selector.items():
            have = v.labels.get(k)
            if have is None:
                diffs.append(f"has no label {k} (selector wants {k}={want})")
            elif str(have) != str(want):
                diffs.append(f"has {k}={have} (selector wants {k}={want})")
            else:
                same += 1
        if same:
            scored.append((len(diffs), v, diffs))
    if not scored:
        return []
    best = min(s[0] for s in scored)
    return [(v, d) for n, v, d in scored if n == best]


def _workload_name_hits(ctx: RuleContext, ns: str, selector: Mapping[str, str]) -> list[str]:
    """Selector values that are names of workloads (or pods) instead of label values."""
    hits: list[str] = []
    for k, want in selector.items():
        for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Pod"):
            wl = ctx.snapshot.get(kind, ns, str(want))
            if wl is None:
                continue
            if kind == "Pod":
                labels = (wl.get("metadata") or {}).get("labels") or {}
            else:
                labels = (((wl.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
            hits.append(
                f"the selector value {k}={want} is the name of {kind} {ns}/{want}, but a Service "
                f"selects pods by their labels, not by workload name; that {kind}'s pods are "
                f"labelled {fmt_labels(labels)}"
            )
            break
    return hits


_VIEW_KINDS = frozenset({"Pod", "Deployment", "StatefulSet", "DaemonSet"})


def other_template_labels(ctx: RuleContext, ns: str) -> list[Mapping[str, str]]:
    """Pod-template labels of objects `Snapshot.pod_views` does not cover (Job, CronJob, ReplicaSet, CRDs)."""
    out: list[Mapping[str, str]] = []
    for obj in ctx.snapshot.objects:
        if obj.get("kind") in _VIEW_KINDS or obj_key(obj)[1] != ns:
            continue
        spec = obj.get("spec")
        if not isinstance(spec, Mapping):
            continue
        job = (spec.get("jobTemplate") or {}).get("spec") or {}
        for tmpl in (spec.get("template"), job.get("template") if isinstance(job, Mapping) else None):
            if isinstance(tmpl, Mapping):
                labels = (tmpl.get("metadata") or {}).get("labels")
                if isinstance(labels, Mapping) and labels:
                    out.append(labels)
    return out


def _pods_read(ctx: RuleContext, ns: str) -> bool:
    """Whether a live source read the pods of this namespace (targeted reads skip some)."""
    snap = ctx.snapshot
    read = snap.facts.get("namespaces_read")
    return (ns == snap.namespace or bool(snap.list("Pod", ns))
            or (isinstance(read, (list, tuple)) and "*" in read))


@rule("service-selector-matches-no-pods")
def selector_matches_no_pods(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    if not snap.readable("Pod") and snap.source.kind == "cluster":
        return
    yield from guarded(selected_services(ctx), lambda item: _selector_matches_no_pods_one(ctx, item))


def _selector_matches_no_pods_one(ctx: RuleContext, item: ServiceItem) -> Iterator[Finding]:
    svc, ns, selector = item
    snap = ctx.snapshot
    live = snap.source.kind == "cluster"
    views = snap.pod_views(ns)
    matched = snap.views_matching(ns, selector)
    if not matched and any(labels_match(selector, labels) for labels in other_template_labels(ctx, ns)):
        return  # pods come from a Job, CronJob, bare ReplicaSet or a custom workload (Rollout …)
    sel = fmt_labels(selector)
    name = obj_key(svc)[2]
    evidence: dict[str, Any] = {"selector": dict(selector)}
    if matched:
        real = [v for v in matched if not v.is_template]
        if live and not real and snap.list("Pod", ns):
            owners = ", ".join(v.ref for v in matched)
            yield ctx.finding(
                "service-selector-matches-no-pods", svc,
                f"Service {ns}/{name} selects {sel}: only the template of {owners} matches, and "
                "no pod of it exists (scaled to 0, or its pods fail to be created)",
                evidence={**evidence, "templates": [v.ref for v in matched]},
            )
        return
    if not views:
        if live:
            if not _pods_read(ctx, ns):
                return  # the source did not read this namespace's pods: nothing to judge
            msg = (f"Service {ns}/{name} selects {sel}, but namespace {ns} has no pods at all, "
                   "so the Service has no endpoints")
            yield ctx.finding("service-selector-matches-no-pods", svc, msg, evidence=evidence)
        else:
            msg = (f"Service {ns}/{name} selects {sel}, but these manifests contain no workload "
                   f"or pod in namespace {ns} to check it against (cannot verify statically)")
            yield ctx.finding("service-selector-matches-no-pods", svc, msg, evidence=evidence,
                              severity="info")
        return
    parts = [f"Service {ns}/{name} selects {sel}, but no pod"
             f"{'' if live else ' or pod template'} in namespace {ns} carries all these labels, "
             "so it gets no endpoints and every request through it fails"]
    name_hits = _workload_name_hits(ctx, ns, selector)
    parts += name_hits
    close = near_misses(selector, views)
    if close:
        evidence["closest"] = {v.ref: d for v, d in close}
        groups: dict[tuple[str, bool, tuple[str, ...]], int] = {}
        for v, diffs in close:
            by_owner = v.owner is not None and not v.is_template
            key = (obj_ref(v.owner) if by_owner else v.ref, by_owner, tuple(diffs))  # type: ignore[arg-type]
            groups[key] = groups.get(key, 0) + 1
        for (who, by_owner, what), count in list(groups.items())[:3]:
            if count > 1:
                subject = f"the {count} pods of {who} have"
            elif by_owner:
                subject = f"the pod of {who} has"
            else:
                subject = f"{who} has"
            parts.append(f"closest: {subject} {'; '.join(d.removeprefix('has ') for d in what)}")
    yield ctx.finding("service-selector-matches-no-pods", svc, "; ".join(parts) + ".",
                      evidence=evidence)


# -- target ports ----------------------------------------------------------------------------


def _is_number(target: Any) -> bool:
    return isinstance(target, int) or (isinstance(target, str) and target.isdigit())


def _describe_ports(ports: list[ContainerPort]) -> str:
    by_container: dict[str, list[str]] = {}
    for p in ports:
        label = f"{p.port}" + (f" ({p.name})" if p.name else "")
        if p.protocol != "TCP":
            label += f"/{p.protocol}"
        by_container.setdefault(p.container, []).append(label)
    return "; ".join(f"container {c!r} declares {', '.join(v)}" for c, v in by_container.items())


def _port_fix(ns: str, name: str, sp: Mapping[str, Any], target: int | str, port: ContainerPort) -> str:
    """The catalog fix, preceded by the corrected Service port when kdiag can tell which one is meant."""
    lines = ["ports:"]
    first = True
    for key in ("name", "port", "protocol"):
        if sp.get(key) is not None and not (key == "protocol" and sp.get(key) == "TCP"):
            lines.append(f"  {'- ' if first else '  '}{key}: {sp.get(key)}")
            first = False
    lines.append(f"    targetPort: {target}    # containerPort {port.port} of container {port.container!r}")
    snippet = "\n".join(lines)
    return (f"In Service {ns}/{name}:\n\n```yaml\n{snippet}\n```\n\n"
            f"{get_check('service-target-port-mismatch').fix}")


@rule("service-target-port-mismatch")
def target_port_mismatch(ctx: RuleContext) -> Iterator[Finding]:
    yield from guarded(selected_services(ctx), lambda item: _target_port_mismatch_one(ctx, item))


def _port_ref(sp: Mapping[str, Any]) -> PortRef:
    """The structured subject of one Service port."""
    number = sp.get("port")
    name = sp.get("name")
    return PortRef(port=number if isinstance(number, int) else None, name=str(name) if name else None,
                   target_port=sp.get("targetPort", number))


def _target_port_mismatch_one(ctx: RuleContext, item: ServiceItem) -> Iterator[Finding]:
    svc, ns, _selector = item
    snap = ctx.snapshot
    matched = snap.pods_for_service(svc)
    if not matched:
        return
    name = obj_key(svc)[2]
    for sp in (svc.get("spec") or {}).get("ports") or ():
        target = sp.get("targetPort", sp.get("port"))
        if not _is_number(target):
            continue
        target = int(target)
        protocol = str(sp.get("protocol") or "TCP")
        wrong: list[tuple[PodView, list[ContainerPort]]] = []
        unknown: list[PodView] = []
        for v in matched:
            ports = container_ports(v.spec)
            if not ports:
                unknown.append(v)
            elif not any(p.port == target and p.protocol == protocol for p in ports):
                wrong.append((v, ports))
        evidence = {"service_port": sp.get("port"), "target_port": target,
                    "port_name": sp.get("name")}
        port = _port_ref(sp)
        if wrong:
            first_ports = wrong[0][1]
            hint = ""
            fix = None
            same_as_port = [p for p in first_ports if p.port == sp.get("port")]
            named = [p for p in first_ports if p.name and p.name == sp.get("name")]
            if named:
                hint = f" The container port named {named[0].name!r} is {named[0].port}: did you mean targetPort: {named[0].port} (or targetPort: {named[0].name})?"
                fix = _port_fix(ns, name, sp, named[0].name, named[0])
            elif same_as_port:
                hint = f" The Service port number {sp.get('port')} is a declared containerPort: did you mean targetPort: {sp.get('port')}?"
                fix = _port_fix(ns, name, sp, same_as_port[0].port, same_as_port[0])
            refs = describe_views([v for v, _ in wrong])
            msg = (f"Service {ns}/{name} {_port_label(sp)} sends traffic to targetPort {target}/{protocol}, "
                   f"which is not a declared containerPort of {refs}: {_describe_ports(first_ports)}. "
                   f"Unless the process also listens on {target} without declaring it, connections "
                   f"to the pods are refused.{hint}")
            yield ctx.finding("service-target-port-mismatch", svc, msg, fix=fix, port=port,
                              evidence={**evidence, "pods": [v.ref for v, _ in wrong],
                                        "declared": [p.port for p in first_ports]})
        if unknown:
            refs = describe_views(unknown)
            msg = (f"Service {ns}/{name} {_port_label(sp)} sends traffic to targetPort {target}, "
                   f"but no containerPorts are declared in {refs}, so kdiag cannot verify the port "
                   "statically; a probe can (kdiag diagnose checks that something listens there)")
            yield ctx.finding("service-target-port-mismatch", svc, msg, severity="info", port=port,
                              evidence={**evidence, "pods": [v.ref for v in unknown]})


@rule("service-named-port-unresolved")
def named_port_unresolved(ctx: RuleContext) -> Iterator[Finding]:
    yield from guarded(selected_services(ctx), lambda item: _named_port_unresolved_one(ctx, item))


def _named_port_unresolved_one(ctx: RuleContext, item: ServiceItem) -> Iterator[Finding]:
    svc, ns, _selector = item
    snap = ctx.snapshot
    matched = snap.pods_for_service(svc)
    if not matched:
        return
    name = obj_key(svc)[2]
    svc_port_names = {str(p.get("name")) for p in (svc.get("spec") or {}).get("ports") or () if p.get("name")}
    for sp in (svc.get("spec") or {}).get("ports") or ():
        target = sp.get("targetPort")
        if target is None or _is_number(target):
            continue
        target = str(target)
        protocol = str(sp.get("protocol") or "TCP")
        missing: list[tuple[PodView, list[ContainerPort]]] = []
        for v in matched:
            ports = container_ports(v.spec)
            if not any(p.name == target and p.protocol == protocol for p in ports):
                missing.append((v, ports))
        if not missing:
            continue
        v0, ports0 = missing[0]
        names = sorted({p.name for p in ports0 if p.name})
        hints: list[str] = []
        if not ports0:
            hints.append(f"{v0.ref} declares no containerPorts at all")
        else:
            hints.append(f"declared containerPort names: {', '.join(names) if names else '(none, only numbers)'}")
        case = [n for n in names if n.lower() == target.lower()]
        if case:
            hints.append(f"names are case-sensitive: {case[0]!r} is not {target!r}")
        if target in svc_port_names and target not in names:
            hints.append(f"{target!r} is a Service port name; targetPort must name a containerPort")
        wrong_proto = [p for p in ports0 if p.name == target and p.protocol != protocol]
        if wrong_proto:
            hints.append(f"the containerPort {target!r} is {wrong_proto[0].protocol}, the Service port is {protocol}")
        refs = describe_views([v for v, _ in missing])
        msg = (f"Service {ns}/{name} {_port_label(sp)} targets the named port {target!r}, but no "
               f"containerPort of {refs} is named {target!r} ({'; '.join(hints)}). The EndpointSlice "
               "controller silently leaves this port out for those pods, so the Service port has no "
               "endpoints from them.")
        yield ctx.finding("service-named-port-unresolved", svc, msg, port=_port_ref(sp),
                          evidence={"service_port": sp.get("port"), "target_port": target,
                                    "pods": [v.ref for v, _ in missing], "declared_names": names})


# -- live endpoints --------------------------------------------------------------------------


def _legacy_endpoint_counts(ep: Mapping[str, Any]) -> dict[str, Any]:
    ready = not_ready = 0
    names: list[str] = []
    for subset in ep.get("subsets") or ():
        ready += len(subset.get("addresses") or ())
        for a in subset.get("notReadyAddresses") or ():
            not_ready += 1
            names.append(str((a.get("targetRef") or {}).get("name") or a.get("ip")))
    return {"total": ready + not_ready, "ready": ready, "terminating": 0,
            "serving_terminating": 0, "not_ready": not_ready, "names": names}


def _no_endpoints_answer(snap: Snapshot, ns: str, name: str) -> str:
    """" (<data plane> answers <status>)" for the data plane of the Ingresses routing to the
    Service (the assumed Ingress profile when none does); "" when that answer is not known."""
    routed = [ing for ing in snap.list("Ingress", ns) if any(b == name for b, _ in ingress_backends(ing))]
    profile = claiming_profile(snap, routed[0]) if routed else profile_named(ASSUMED_INGRESS_PROFILE)
    status = profile.no_endpoints.status
    return f" ({profile.name} answers {status})" if status is not None else ""


@rule("service-no-ready-endpoints")
def no_ready_endpoints(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    yield from guarded(snap.list("Service"), lambda item: _no_ready_endpoints_one(ctx, item))


def _no_ready_endpoints_one(ctx: RuleContext, svc: Mapping[str, Any]) -> Iterator[Finding]:
    snap = ctx.snapshot
    if (svc.get("spec") or {}).get("type") == "ExternalName":
        return
    _kind, ns, name = obj_key(svc)
    slices = snap.endpoint_slices_for(svc)
    source = "EndpointSlices"
    if slices:
        counts = endpoint_counts(slices)
    else:
        legacy = snap.get("Endpoints", ns, name)
        if legacy is None:
            return
        counts = _legacy_endpoint_counts(legacy)
        source = "Endpoints"
    if counts["total"] == 0 or counts["ready"] > 0:
        return  # no endpoints at all is the selector check's business
    detail = []
    if counts["not_ready"]:
        detail.append(f"{counts['not_ready']} not ready (readiness probe failing or containers "
                      "not started)")
    if counts["terminating"]:
        detail.append(f"{counts['terminating']} terminating, {counts['serving_terminating']} of "
                      "them still serving")
    shown = ", ".join(counts["names"][:5]) + (" …" if len(counts["names"]) > 5 else "")
    total = counts["total"]
    msg = (f"Service {ns}/{name} has {total} endpoint{'s' if total != 1 else ''} in its {source} "
           f"but none is ready: {'; '.join(detail)} [{shown}]. Traffic through the Service has "
           f"nowhere to go{_no_endpoints_answer(snap, ns, name)}.")
    yield ctx.finding("service-no-ready-endpoints", svc, msg, evidence={"source": source, **counts})


# -- session affinity ------------------------------------------------------------------------


def ingress_backends(ing: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(service name, path) pairs of an Ingress (networking.k8s.io/v1 and the old v1beta1 shape)."""
    spec = ing.get("spec") or {}
    out: list[tuple[str, str]] = []

    def name_of(backend: Mapping[str, Any]) -> str | None:
        svc = backend.get("service") or {}
        return svc.get("name") or backend.get("serviceName")

    for backend in (spec.get("defaultBackend"), spec.get("backend")):
        if backend and name_of(backend):
            out.append((str(name_of(backend)), "/"))
    for r in spec.get("rules") or ():
        for p in ((r or {}).get("http") or {}).get("paths") or ():
            b = (p or {}).get("backend") or {}
            if name_of(b):
                out.append((str(name_of(b)), str(p.get("path") or "/")))
    return out


def _markers(obj: Mapping[str, Any] | None) -> list[str]:
    if not obj:
        return []
    md = obj.get("metadata") or {}
    found: list[str] = []
    for src in ("labels", "annotations"):
        for k, v in (md.get(src) or {}).items():
            text = f"{k}={v}".lower()
            if any(m in text for m in _LONG_POLL_MARKERS):
                found.append(f"{src[:-1]} {k}={v}")
    return found


def _spec_markers(view: PodView) -> list[str]:
    found = [f"label {k}={v}" for k, v in view.labels.items()
             if any(m in f"{k}={v}".lower() for m in _LONG_POLL_MARKERS)]
    for c in view.containers:
        for e in c.get("env") or ():
            text = f"{e.get('name')}={e.get('value', '')}".lower()
            if any(m in text for m in _LONG_POLL_MARKERS):
                found.append(f"env {e.get('name')}={e.get('value', '')} in container {c.get('name')!r}")
    return found


def _replicas(views: list[PodView]) -> int:
    total = 0
    for v in views:
        if v.is_template and v.owner is not None:
            total += pod_template_replicas(v.owner)
        else:
            total += 1
    return total


_Routes = dict[str, list[tuple[Mapping[str, Any], str]]]


def _routes_by_service(ctx: RuleContext, ns: str, cache: dict[str, _Routes]) -> _Routes:
    """Service name -> (Ingress, path) of a namespace, built once per rule run (not per Service)."""
    if ns not in cache:
        index: _Routes = {}
        for ing in ctx.snapshot.list("Ingress", ns):
            for backend, path in ingress_backends(ing):
                index.setdefault(backend, []).append((ing, path))
        cache[ns] = index
    return cache[ns]


@rule("service-session-affinity-needed")
def session_affinity_needed(ctx: RuleContext) -> Iterator[Finding]:
    routes: dict[str, _Routes] = {}
    yield from guarded(selected_services(ctx), lambda item: _session_affinity_needed_one(ctx, item, routes))


def _session_affinity_needed_one(ctx: RuleContext, item: ServiceItem,
                                 by_ns: dict[str, _Routes]) -> Iterator[Finding]:
    svc, ns, _selector = item
    snap = ctx.snapshot
    views = snap.pods_for_service(svc)
    replicas = _replicas(views)
    if replicas < 2:
        return
    name = obj_key(svc)[2]
    routes = _routes_by_service(ctx, ns, by_ns).get(name, [])
    markers = _markers(svc)
    for v in views:
        markers += _spec_markers(v) + _markers(v.owner)
    for ing, path in routes:
        if "socket.io" in path.lower() or "sockjs" in path.lower():
            markers.append(f"Ingress {obj_key(ing)[1]}/{obj_key(ing)[2]} path {path}")
    markers = list(dict.fromkeys(markers))
    if not markers:
        return
    client_ip = (svc.get("spec") or {}).get("sessionAffinity") == "ClientIP"
    evidence = {"replicas": replicas, "signals": markers}
    why = f"{'; '.join(markers[:3])}"
    if not routes:
        if client_ip:
            return
        yield ctx.finding(
            "service-session-affinity-needed", svc,
            f"Service {ns}/{name} spreads {replicas} replicas that serve Socket.IO / long-polling "
            f"({why}) without sticky sessions: the polling requests of one session land on "
            "different pods, which answer 400 \"Session ID unknown\".",
            evidence=evidence,
        )
        return
    seen: set[tuple[str, str, str]] = set()
    for ing, _path in routes:
        if obj_key(ing) in seen:
            continue
        seen.add(obj_key(ing))
        profile = claiming_profile(snap, ing)
        affinity = profile.affinity
        sticky = affinity.sticky(ing)
        if sticky is None:
            continue  # the data plane's affinity is not known: no claim
        defeated = affinity.defeated_by(ing)
        if sticky and defeated is None:
            continue
        ing_ref = f"{obj_key(ing)[1]}/{obj_key(ing)[2]}"
        if sticky:
            reason = f"Ingress {ing_ref} asks for affinity but also sets {defeated}"
        else:
            reason = f"Ingress {ing_ref} has no {affinity.setting}"
        note = (f" Service sessionAffinity: ClientIP does not help here: {profile.name} "
                "proxies straight to pod IPs, bypassing the Service's load balancing."
                ) if client_ip and affinity.bypasses_service else ""
        yield ctx.finding(
            "service-session-affinity-needed", ing,
            f"Service {ns}/{name} has {replicas} replicas serving Socket.IO / long-polling ({why}), "
            f"and {reason}: the polling requests of one session land on different pods, which "
            f"answer 400 \"Session ID unknown\".{note}",
            evidence={**evidence, "service": f"{ns}/{name}"},
        )
