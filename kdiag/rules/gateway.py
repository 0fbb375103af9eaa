"""Static rules: Gateway API checks (GatewayClass, Gateway, listeners, route parents, rules, backends).

Status is evidence: conditions the controller wrote (GatewayClass/Gateway/listener/route parent
`Accepted`, `Programmed`, `ResolvedRefs`, `Conflicted` and their reasons) are reported as they are;
kdiag's own attachment and backend decisions (`kdiag.route.gateway`) are reported where no status
exists (manifests) and next to the status where both exist, saying when they disagree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kdiag.model import Finding, RuleRef
from kdiag.route.gateway import RouteParent, gateway_routes, route_parents
from kdiag.route.gateway_backends import rule_backends
from kdiag.route.gateway_classes import conditions, gateway_addresses, gateway_class_of, obj_ref_of
from kdiag.route.httproute import route_rules
from kdiag.route.listeners import listeners
from kdiag.rules import RuleContext, rule
from kdiag.shape import guarded, maps, sub
from kdiag.snapshot import Snapshot

__all__ = [
    "check_backends",
    "check_gateway",
    "check_gateway_class",
    "check_listeners",
    "check_no_rule_matches",
    "check_route_parents",
    "check_weights_zero",
]


def rule_ref(route: Mapping[str, Any], index: int) -> RuleRef:
    """A finding's subject rule for rule `index` of a Gateway API route (`where`: "*#rule1")."""
    return RuleRef(ingress=f"{route.get('kind')} {obj_ref_of(route)}", host="", path=f"#rule{index}")


def _gateways_visible(snap: Snapshot) -> bool:
    if snap.source.kind == "cluster":
        return snap.readable("Gateway") and "Gateway" not in (snap.facts.get("kinds_not_served") or ())
    return bool(snap.list("Gateway"))


def _live(obj: Mapping[str, Any], snap: Snapshot) -> bool:
    """The object carries controller status (a live read, or a `get -o yaml` dump)."""
    return snap.source.kind == "cluster" or isinstance(obj.get("status"), Mapping)


@rule("gateway-class-not-accepted")
def check_gateway_class(ctx: RuleContext) -> Iterator[Finding]:
    def one(gw: Mapping[str, Any]) -> Iterator[Finding]:
        cls = gateway_class_of(ctx.snapshot, gw)
        if cls.name is None:
            yield ctx.finding("gateway-class-not-accepted", gw, "the Gateway names no gatewayClassName")
            return
        if not cls.exists:
            if cls.known:
                existing = sorted(obj_ref_of(c) for c in ctx.snapshot.list("GatewayClass"))
                yield ctx.finding("gateway-class-not-accepted", gw,
                                  f"gatewayClassName {cls.name!r} names no GatewayClass, so no controller programs "
                                  f"this Gateway (existing: {', '.join(existing) or 'none'})",
                                  evidence={"class": cls.name, "existing_classes": existing})
            return
        acc = cls.accepted
        assert cls.obj is not None
        if acc is not None and not acc.true:
            yield ctx.finding("gateway-class-not-accepted", cls.obj,
                              f"GatewayClass {cls.name} is not accepted by its controller {cls.controller}: {acc}",
                              evidence={"condition": acc.to_dict(), "gateway": obj_ref_of(gw)})
        elif acc is None and _live(cls.obj, ctx.snapshot):
            yield ctx.finding("gateway-class-not-accepted", cls.obj,
                              f"GatewayClass {cls.name} has no Accepted condition: no running controller claims "
                              f"controllerName {cls.controller!r}",
                              evidence={"controller": cls.controller, "gateway": obj_ref_of(gw)})

    yield from guarded(ctx.snapshot.list("Gateway"), one)


@rule("gateway-not-programmed")
def check_gateway(ctx: RuleContext) -> Iterator[Finding]:
    def one(gw: Mapping[str, Any]) -> Iterator[Finding]:
        if not _live(gw, ctx.snapshot):
            return
        conds = conditions(sub(gw, "status"))
        for t in ("Accepted", "Programmed"):
            c = conds.get(t)
            if c is not None and c.false:
                yield ctx.finding("gateway-not-programmed", gw, f"the Gateway is not {t.lower()}: {c}",
                                  evidence={"condition": c.to_dict()})
                return
        prog = conds.get("Programmed")
        if prog is None or not prog.true:
            yield ctx.finding("gateway-not-programmed", gw,
                              "the Gateway has no Programmed=True condition: its controller has not set up a "
                              "data plane for it (yet)", evidence={"conditions": [c.to_dict() for c in conds.values()]},
                              severity="warning" if gateway_addresses(gw) else None)
        elif not gateway_addresses(gw):
            yield ctx.finding("gateway-not-programmed", gw, "the Gateway is Programmed but has no status.addresses: "
                              "clients have no address to reach it", severity="warning")

    yield from guarded(ctx.snapshot.list("Gateway"), one)


@rule("gateway-listener-invalid")
def check_listeners(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot

    def one(gw: Mapping[str, Any]) -> Iterator[Finding]:
        for lst in listeners(gw):
            conds = lst.conditions
            bad = [c for t in ("Accepted", "Programmed", "ResolvedRefs") if (c := conds.get(t)) is not None and c.false]
            conflicted = conds.get("Conflicted")
            if conflicted is not None and conflicted.true:
                bad.insert(0, conflicted)
            if bad:
                yield ctx.finding("gateway-listener-invalid", gw,
                                  f"listener {lst.name} ({lst.protocol} {lst.port}) is not usable: "
                                  + "; ".join(str(c) for c in bad),
                                  evidence={"listener": lst.to_dict()})
                continue
            for ref in maps(sub(lst.spec, "tls").get("certificateRefs")):
                if (ref.get("kind") or "Secret") != "Secret" or ref.get("group"):
                    continue
                ns = str(ref.get("namespace") or obj_ref_of(gw).split("/")[0])
                visible = snap.readable("Secret") if snap.source.kind == "cluster" else bool(snap.list("Secret", ns))
                if visible and snap.get("Secret", ns, str(ref.get("name"))) is None:
                    yield ctx.finding("gateway-listener-invalid", gw,
                                      f"listener {lst.name} names the certificate Secret {ns}/{ref.get('name')}, "
                                      "which does not exist", evidence={"listener": lst.to_dict()})
        res = ctx.resolution
        if res is not None and res.gateway is not None and res.gateway.gateway is gw and res.gateway.listener is None:
            t = res.target
            have = ", ".join(f"{x.name} {x.protocol}:{x.port} {x.hostname or 'any host'}" for x in listeners(gw))
            yield ctx.finding("gateway-listener-invalid", gw,
                              f"no listener of this Gateway receives {t.scheme}://{t.request_host}:{t.port} "
                              f"(listeners: {have or 'none'})")

    yield from guarded(snap.list("Gateway"), one)


def _parent_findings(ctx: RuleContext, p: RouteParent) -> Iterator[Finding]:
    snap = ctx.snapshot
    route = p.route
    gw = "/".join(p.gateway_key) if p.gateway_key else "?"
    section = f" listener {p.ref.get('sectionName')}" if p.ref.get("sectionName") else ""
    if p.problem == "GatewayNotFound":
        if _gateways_visible(snap):
            yield ctx.finding("route-parent-missing", route, f"parentRef names Gateway {gw}, which does not exist",
                              evidence={"parentRef": dict(p.ref)})
        return
    if p.problem == "NoMatchingParent":
        names = [f"{x.name} (port {x.port})" for x in listeners(p.gateway or {})]
        yield ctx.finding("route-parent-missing", route,
                          f"parentRef to Gateway {gw}{section}"
                          + (f" port {p.ref.get('port')}" if p.ref.get("port") else "")
                          + f" matches no listener (NoMatchingParent); listeners: {', '.join(names) or 'none'}",
                          evidence={"parentRef": dict(p.ref)})
        return
    st = p.status
    acc = st.accepted
    if st.present and acc is not None and acc.false:
        agree = "" if p.problem else " (kdiag's own reading finds it attached: status and kdiag disagree)"
        yield ctx.finding("route-not-accepted", route, f"Gateway {gw} does not accept the route: {acc}{agree}",
                          evidence={"status": st.to_dict(), "kdiag": p.problem or "attached"})
        return
    if p.problem:
        details = "; ".join(a.detail for a in p.attachments if not a.ok)
        said = "" if not st.present else f" (but status says {acc})" if acc is not None else ""
        yield ctx.finding("route-not-accepted", route, f"Gateway {gw}{section} will not accept the route: "
                          f"{p.problem}: {details}{said}", evidence={"kdiag": p.problem, "status": st.to_dict()})
        return
    if not st.present and (snap.source.kind == "cluster" or st.has_status):
        yield ctx.finding("route-parent-missing", route,
                          f"the route has no status for its parent Gateway {gw}: no controller has processed this "
                          "attachment (Gateway of an unclaimed class, a controller that cannot see the namespace, "
                          "or an unsupported route kind)", evidence={"parentRef": dict(p.ref)})
    elif st.present and acc is None:
        yield ctx.finding("route-parent-missing", route, f"the route's status for Gateway {gw} has no Accepted "
                          "condition yet", evidence={"status": st.to_dict()}, severity="warning")
    for c in st.conditions.values():
        if c.type == "Accepted" and c.true and c.reason == "UnsupportedField":
            yield ctx.finding("route-not-accepted", route, f"the data plane ignores part of the route: {c}",
                              evidence={"status": st.to_dict()}, severity="warning")
        if c.type == "PartiallyInvalid" and c.true:
            yield ctx.finding("route-not-accepted", route, f"some rules were dropped: {c}",
                              evidence={"status": st.to_dict()}, severity="warning")


@rule("route-parent-missing", "route-not-accepted")
def check_route_parents(ctx: RuleContext) -> Iterator[Finding]:
    def one(route: Mapping[str, Any]) -> Iterator[Finding]:
        for p in route_parents(ctx.snapshot, route):
            yield from _parent_findings(ctx, p)

    yield from guarded(gateway_routes(ctx.snapshot), one)


@rule("route-backend-not-found", "route-backend-not-permitted")
def check_backends(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot

    def one(route: Mapping[str, Any]) -> Iterator[Finding]:
        for i, r in enumerate(route_rules(route)):
            for b in rule_backends(snap, route, r):
                if b.problem == "not-permitted":
                    yield ctx.finding("route-backend-not-permitted", route,
                                      f"rule {i}: backendRef {b.label} is in another namespace and {b.detail}: "
                                      "its share of the traffic gets 500", evidence={"backend": b.to_dict(), "rule": i},
                                      rule=rule_ref(route, i))
                elif b.problem is not None:
                    yield ctx.finding("route-backend-not-found", route,
                                      f"rule {i}: backendRef {b.label}: {b.detail}; its share of the traffic gets 500",
                                      evidence={"backend": b.to_dict(), "rule": i}, rule=rule_ref(route, i))
        for p in route_parents(snap, route):
            rr = p.status.resolved_refs
            if rr is None or not rr.false:
                continue
            if rr.reason == "UnsupportedValue" and "ExternalName" in (rr.message or ""):
                continue  # an ExternalName backend the controller rejects: service-backend-unsupported names it
            check = "route-backend-not-permitted" if rr.reason == "RefNotPermitted" else "route-backend-not-found"
            yield ctx.finding(check, route, f"Gateway {'/'.join(p.gateway_key or ())} reports {rr}",
                              evidence={"status": p.status.to_dict()})

    yield from guarded(gateway_routes(snap), one)


@rule("route-backend-weights-zero")
def check_weights_zero(ctx: RuleContext) -> Iterator[Finding]:
    def one(route: Mapping[str, Any]) -> Iterator[Finding]:
        for i, r in enumerate(route_rules(route)):
            refs = maps(r.get("backendRefs"))
            if refs and all(x.get("weight") == 0 for x in refs):
                yield ctx.finding("route-backend-weights-zero", route,
                                  f"rule {i}: every backendRef has weight 0, so no request matching it is forwarded",
                                  evidence={"rule": i, "backends": [dict(x) for x in refs]}, rule=rule_ref(route, i))

    yield from guarded(gateway_routes(ctx.snapshot), one)


@rule("route-no-rule-matches")
def check_no_rule_matches(ctx: RuleContext) -> Iterator[Finding]:
    res = ctx.resolution
    if res is None or res.gateway is None or res.gateway.hit is not None:
        return
    g = res.gateway
    t = res.target
    obj: Mapping[str, Any] | str = g.route if g.route is not None else (g.gateway or "")
    tried = [c["detail"] for c in g.candidates if c.get("reason") == "no-match"][:4]
    yield ctx.finding("route-no-rule-matches", obj,
                      f"no rule of the routes on Gateway {g.gateway_ref or '?'} matches {t.method} "
                      f"{t.request_host}{t.path}{'?' + t.query if t.query else ''}: the gateway answers 404",
                      evidence={"tried": tried, "headers": sorted(t.headers)})
