"""Static rules for how a Service is exposed and used: externalTrafficPolicy Local, backends the data
plane cannot use (headless, ExternalName)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kdiag.model import Finding, Severity
from kdiag.pods.readiness import pod_is_ready
from kdiag.route.gateway import route_parents
from kdiag.route.gateway_classes import Condition
from kdiag.rules import RuleContext, rule
from kdiag.shape import sub
from kdiag.snapshot import Snapshot, labels_match, obj_key, obj_ref

__all__ = ["backend_unsupported", "external_traffic_policy_local", "local_policy_nodes", "nodes_without_ready_pods"]


def _node_address(node: Mapping[str, Any]) -> str:
    for kind in ("InternalIP", "ExternalIP"):
        for a in sub(node, "status").get("addresses") or ():
            if isinstance(a, Mapping) and a.get("type") == kind and a.get("address"):
                return str(a["address"])
    return obj_key(node)[2]


def nodes_without_ready_pods(snapshot: Snapshot, svc: Mapping[str, Any]) -> tuple[str, ...] | None:
    """For a NodePort/LoadBalancer Service with `externalTrafficPolicy: Local`: the addresses of nodes
    that run no ready pod of it (None: not such a Service, or no nodes known)."""
    split = local_policy_nodes(snapshot, svc)
    return None if split is None else tuple(address for _, address in split[1])


def local_policy_nodes(snapshot: Snapshot, svc: Mapping[str, Any]) -> tuple[
        tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] | None:
    """For a NodePort/LoadBalancer Service with `externalTrafficPolicy: Local`: the nodes (name,
    address) that run a ready pod of it, and those that do not (None: not such a Service, or no
    nodes known)."""
    spec = sub(svc, "spec")
    selector = spec.get("selector")
    if spec.get("type") not in ("NodePort", "LoadBalancer") or spec.get("externalTrafficPolicy") != "Local" \
            or not isinstance(selector, Mapping) or not selector:
        return None
    nodes = snapshot.list("Node")
    if not nodes:
        return None
    pods = [p for p in snapshot.list("Pod", obj_key(svc)[1])
            if labels_match(selector, sub(p, "metadata").get("labels")) and pod_is_ready(p)]
    busy = {str(sub(p, "spec").get("nodeName") or "") for p in pods}
    named = [(obj_key(n)[2], _node_address(n)) for n in nodes]
    return (tuple(n for n in named if n[0] in busy), tuple(n for n in named if n[0] not in busy))


@rule("service-external-traffic-policy-local")
def external_traffic_policy_local(ctx: RuleContext) -> Iterator[Finding]:
    for svc in ctx.snapshot.list("Service"):
        idle = nodes_without_ready_pods(ctx.snapshot, svc)
        if not idle:
            continue
        spec = sub(svc, "spec")
        nports = [str(p.get("nodePort")) for p in spec.get("ports") or () if isinstance(p, Mapping) and p.get("nodePort")]
        where = f"NodePort {', '.join(nports)}" if nports else "its NodePorts"
        yield ctx.finding(
            "service-external-traffic-policy-local", svc,
            f"{obj_ref(svc)} has externalTrafficPolicy: Local, and {len(idle)} node(s) run no ready pod of it "
            f"({', '.join(idle[:3])}{' …' if len(idle) > 3 else ''}): {where} there drop the connection instead of "
            f"forwarding it to another node.",
            evidence={"nodes_without_ready_pods": list(idle), "type": spec.get("type")})


def _service(snapshot: Snapshot, ns: str, name: str) -> Mapping[str, Any] | None:
    return snapshot.get("Service", ns, name)


def _status_says(snap: Snapshot, route: Mapping[str, Any]) -> tuple[str, Condition] | bool:
    """The Gateway whose controller reports the route's ExternalName backend unresolved, and its
    ResolvedRefs condition (Envoy Gateway, or NGF without an NginxProxy `dnsResolver`); else True
    when every parent's controller reports ResolvedRefs=True (it uses the backend), False when the
    status does not say."""
    resolved = []
    for p in route_parents(snap, route):
        rr = p.status.resolved_refs
        if rr is not None and rr.false and "ExternalName" in (rr.message or ""):
            return "/".join(p.gateway_key or ()), rr
        resolved.append(rr is not None and rr.true)
    return bool(resolved) and all(resolved)


def _problem(svc: Mapping[str, Any], *, gateway: bool, service_upstream: bool) -> str | None:
    spec = sub(svc, "spec")
    if spec.get("type") == "ExternalName" and gateway:
        return (f"is an ExternalName Service (→ {spec.get('externalName')}); Gateway API implementations "
                "SHOULD NOT support ExternalName backends (CVE-2021-25740), so the route's backend is unresolved")
    if spec.get("clusterIP") == "None" and service_upstream:
        return ("is headless (clusterIP: None), but the Ingress sets service-upstream: \"true\", which proxies "
                "to the Service's ClusterIP: there is none")
    return None


@rule("service-backend-unsupported")
def backend_unsupported(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    for route in snap.list("HTTPRoute") + snap.list("GRPCRoute"):
        ns = obj_key(route)[1]
        for r in sub(route, "spec").get("rules") or ():
            for ref in r.get("backendRefs") or () if isinstance(r, Mapping) else ():
                if not isinstance(ref, Mapping) or ref.get("kind", "Service") != "Service" or ref.get("group", ""):
                    continue
                svc = _service(snap, str(ref.get("namespace") or ns), str(ref.get("name") or ""))
                why = _problem(svc, gateway=True, service_upstream=False) if svc is not None else None
                if why and svc is not None:
                    evidence: dict[str, Any] = {"route": obj_ref(route)}
                    severity: Severity | None = None
                    said = _status_says(snap, route)
                    if isinstance(said, tuple):  # the controller confirms it: its share of the traffic gets 500
                        gw, rr = said
                        evidence["status"] = {"gateway": gw, "reason": rr.reason, "message": rr.message}
                        why = (f"is an ExternalName Service (→ {sub(svc, 'spec').get('externalName')}), which "
                               f"Gateway {gw} does not use as a backend (ResolvedRefs=False, {rr.reason}): "
                               "its share of the traffic gets 500")
                    elif said:  # every controller resolved it (e.g. NGF with an NginxProxy dnsResolver)
                        severity = "warning"
                        why += ("; but the controller reports ResolvedRefs=True, so this data plane may use it "
                                "(NGINX Gateway Fabric does when the Gateway's NginxProxy sets dnsResolver)")
                    yield ctx.finding("service-backend-unsupported", svc,
                                      f"{obj_ref(svc)}, a backend of {obj_ref(route)}, {why}.", evidence=evidence,
                                      severity=severity)
    for ing in snap.list("Ingress"):
        ann = sub(ing, "metadata").get("annotations") or {}
        upstream = any(str(k).endswith("/service-upstream") and str(v).lower() == "true"
                       for k, v in (ann.items() if isinstance(ann, Mapping) else ()))
        if not upstream:
            continue
        ns = obj_key(ing)[1]
        for p in (q for r in sub(ing, "spec").get("rules") or () for q in sub(r, "http").get("paths") or ()):
            name = sub(sub(p, "backend"), "service").get("name")
            svc = _service(snap, ns, str(name or ""))
            why = _problem(svc, gateway=False, service_upstream=True) if svc is not None else None
            if why and svc is not None:
                yield ctx.finding("service-backend-unsupported", svc,
                                  f"{obj_ref(svc)}, a backend of {obj_ref(ing)}, {why}.",
                                  evidence={"ingress": obj_ref(ing)})
