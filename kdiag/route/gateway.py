"""Gateway API route resolution: URL → Gateway listener → HTTPRoute/GRPCRoute rule → backendRefs.

Pure over a `Snapshot`. `resolve_gateway` finds the routes whose hostnames serve the request host,
attaches them to their parent Gateways' listeners (`kdiag.route.listeners`), picks the listener
that receives the request (protocol for the URL scheme, the URL's port, the most specific
hostname), the winning match by the spec's precedence (`kdiag.route.httproute`), then the rule's
filters and backendRefs (`kdiag.route.gateway_backends`). The route's `status.parents` entry for
the Gateway is kept as evidence next to kdiag's own attachment decision (`GatewaySide`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.dataplane import UNKNOWN, Profile
from kdiag.hosts import gateway_hostname_matches
from kdiag.route.gateway_backends import (
    BackendChoice,
    RuleFilters,
    pick_backend,
    rule_backends,
    rule_filters,
)
from kdiag.route.gateway_classes import (
    Condition,
    GatewayClassInfo,
    conditions,
    gateway_class_of,
    obj_ref_of,
)
from kdiag.route.httproute import MatchHit, match_request, precedence_key, route_rules, rule_matches
from kdiag.route.listeners import (
    Attachment,
    ListenerInfo,
    attach,
    hostname_rank,
    listeners,
    parent_gateway,
    parent_refs,
    protocol_serves,
    route_hostnames,
)
from kdiag.route.target import Target
from kdiag.shape import as_int, external_name, maps, sub
from kdiag.snapshot import Snapshot, obj_key

__all__ = ["GatewaySide", "ParentStatus", "RouteParent", "gateway_routes", "parent_status", "resolve_gateway"]

ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")


def gateway_routes(snapshot: Snapshot) -> list[Mapping[str, Any]]:
    return [r for k in ROUTE_KINDS for r in snapshot.list(k)]


@dataclass(frozen=True)
class ParentStatus:
    """A route's `status.parents` entry for one Gateway (absent: `present` False)."""

    present: bool
    conditions: Mapping[str, Condition] = field(default_factory=dict)
    controller: str | None = None
    has_status: bool = False  # the route carries a `status` at all (live objects, `get -o yaml` dumps)

    @property
    def accepted(self) -> Condition | None:
        return self.conditions.get("Accepted")

    @property
    def resolved_refs(self) -> Condition | None:
        return self.conditions.get("ResolvedRefs")

    def to_dict(self) -> dict[str, Any]:
        return {"present": self.present, "controller": self.controller,
                "conditions": [c.to_dict() for c in self.conditions.values()]}


def parent_status(route: Mapping[str, Any], gateway: Mapping[str, Any], section: str | None = None) -> ParentStatus:
    """The route's status entry for `gateway` (and listener `section` when the entry names one)."""
    _, gw_ns, gw_name = obj_key(gateway)
    route_ns = obj_key(route)[1]
    status = route.get("status")
    for p in maps(sub(route, "status").get("parents")):
        ref = sub(p, "parentRef")
        if parent_gateway(ref, route_ns) != (gw_ns, gw_name):
            continue
        if section and ref.get("sectionName") and ref.get("sectionName") != section:
            continue
        ctrl = p.get("controllerName")
        return ParentStatus(True, conditions(p), str(ctrl) if ctrl else None, True)
    return ParentStatus(False, {}, None, isinstance(status, Mapping))


@dataclass(frozen=True)
class RouteParent:
    """One (route, parentRef) and what became of it: its Gateway, attachments and status."""

    route: Mapping[str, Any]
    ref: Mapping[str, Any]
    gateway_key: tuple[str, str] | None
    gateway: Mapping[str, Any] | None
    attachments: tuple[Attachment, ...]
    problem: str  # "" | "NoMatchingParent" | "GatewayNotFound" | "NotAllowedByListeners" | "NoMatchingListenerHostname"
    status: ParentStatus

    @property
    def attached(self) -> bool:
        return any(a.ok for a in self.attachments)

    def to_dict(self) -> dict[str, Any]:
        return {"route": f"{self.route.get('kind')} {obj_ref_of(self.route)}",
                "gateway": "/".join(self.gateway_key) if self.gateway_key else None,
                "sectionName": self.ref.get("sectionName"), "attached": self.attached,
                "problem": self.problem or None, "status": self.status.to_dict()}


def route_parents(snapshot: Snapshot, route: Mapping[str, Any]) -> list[RouteParent]:
    """Every Gateway parentRef of a route, resolved and attached (other parent kinds are skipped)."""
    route_ns = obj_key(route)[1]
    out = []
    for ref in parent_refs(route):
        key = parent_gateway(ref, route_ns)
        if key is None:
            continue
        gw = snapshot.get("Gateway", key[0], key[1])
        if gw is None:
            out.append(RouteParent(route, ref, key, None, (), "GatewayNotFound",
                                   ParentStatus(False, {}, None, isinstance(route.get("status"), Mapping))))
            continue
        atts, problem = attach(snapshot, route, ref, gw)
        if not problem and not any(a.ok for a in atts):
            problem = atts[0].reason if atts else "NoMatchingParent"
        section = str(ref.get("sectionName")) if ref.get("sectionName") else None
        out.append(RouteParent(route, ref, key, gw, tuple(atts), problem, parent_status(route, gw, section)))
    return out


@dataclass(frozen=True)
class GatewaySide:
    """What Gateway API resolution decided for a request."""

    route_kind: str  # HTTPRoute | GRPCRoute
    gateway: Mapping[str, Any] | None = None
    gateway_class: GatewayClassInfo | None = None
    listener: ListenerInfo | None = None
    route: Mapping[str, Any] | None = None
    hit: MatchHit | None = None
    backends: tuple[BackendChoice, ...] = ()
    chosen: BackendChoice | None = None
    filters: RuleFilters = RuleFilters()
    parents: tuple[RouteParent, ...] = ()  # the parents of every route serving the host
    status: ParentStatus | None = None  # the matched route's status for the Gateway
    candidates: tuple[Mapping[str, Any], ...] = ()
    #: What the gateway answers itself: 404 (no rule), 500 (no valid backend), 3xx (redirect).
    answer: int | None = None
    disagreements: tuple[str, ...] = ()

    @property
    def gateway_ref(self) -> str | None:
        return obj_ref_of(self.gateway) if self.gateway is not None else None

    @property
    def route_ref(self) -> str | None:
        return obj_ref_of(self.route) if self.route is not None else None

    @property
    def profile(self) -> Profile:
        return self.gateway_class.profile if self.gateway_class is not None else UNKNOWN

    def rule_dict(self, target: Target) -> dict[str, Any] | None:
        if self.hit is None:
            return None
        p = sub(self.hit.match, "path")
        return {"host": self.hit.hostname or (self.listener.hostname if self.listener else None) or "*",
                "path": str(p.get("value") or "/"), "pathType": str(p.get("type") or "PathPrefix"),
                "index": self.hit.rule_index, "match_index": self.hit.match_index,
                "matches": [dict(m) for m in maps(self.hit.rule.get("matches"))]}


def _host_rank(names: list[str], host: str) -> tuple[int, int] | None:
    """(non-wildcard chars, chars) of the best route hostname matching `host`; None: no match."""
    if not names:
        return 0, 0
    best: tuple[int, int] | None = None
    for n in names:
        if gateway_hostname_matches(n, host):
            r = (0 if n.startswith("*.") else len(n), len(n))
            best = r if best is None or r > best else best
    return best


def _serves(lst: ListenerInfo, target: Target, host: str) -> bool:
    return protocol_serves(lst.protocol, target.scheme) and hostname_rank(lst.hostname, host) is not None


def _disagreements(parent: RouteParent | None, kdiag_ok: bool, backends: tuple[BackendChoice, ...]) -> list[str]:
    out: list[str] = []
    if parent is None or not parent.status.present:
        return out
    acc = parent.status.accepted
    if acc is not None and acc.false and kdiag_ok:
        out.append(f"status says {acc}, but kdiag finds the route attached to the listener")
    if acc is not None and acc.true and not kdiag_ok:
        out.append(f"status says Accepted=True, but kdiag finds {parent.problem or 'no attachment'}")
    rr = parent.status.resolved_refs
    bad = [b for b in backends if b.problem]
    # an ExternalName backend the controller rejects (Envoy Gateway; NGF without a dnsResolver) is no disagreement
    rejected = rr is not None and "ExternalName" in rr.message and any(
        b.info is not None and external_name(b.info.service) is not None for b in backends)
    if rr is not None and rr.false and backends and not bad and not rejected:
        out.append(f"status says {rr}, but kdiag resolves every backendRef of the matched rule")
    if rr is not None and rr.true and bad:
        out.append(f"status says ResolvedRefs=True, but kdiag finds {bad[0].label}: {bad[0].detail}")
    return out


def resolve_gateway(snapshot: Snapshot, target: Target) -> GatewaySide | None:
    """The Gateway API route for `target`; None when no Gateway API object serves its host."""
    host = target.request_host
    routes = [r for r in gateway_routes(snapshot) if _host_rank(route_hostnames(r), host) is not None]
    gateways = snapshot.list("Gateway")
    named_listener = any(lst.hostname and hostname_rank(lst.hostname, host) for g in gateways for lst in listeners(g))
    if not routes and not named_listener:
        return None
    parents = [p for r in routes for p in route_parents(snapshot, r)]
    candidates: list[dict[str, Any]] = []
    # The listeners that can receive the request, best first: the URL's port, then the hostname.
    serving: list[tuple[tuple[int, int], ListenerInfo]] = []
    for gw in gateways:
        for lst in listeners(gw):
            if _serves(lst, target, host):
                rank = hostname_rank(lst.hostname, host) or 0
                serving.append(((0 if lst.port == target.port else 1, -rank), lst))
    serving.sort(key=lambda x: x[0])
    hits: list[tuple[MatchHit, ListenerInfo, RouteParent]] = []
    for p in parents:
        if not p.attached:
            candidates.append({"route": f"{p.route.get('kind')} {obj_ref_of(p.route)}", "accepted": False,
                               "reason": p.problem, "detail": "; ".join(a.detail for a in p.attachments)
                               or f"parentRef {'/'.join(p.gateway_key or ('?', '?'))}"})
    best_rank = serving[0][0] if serving else None
    chosen_listeners = [lst for rank, lst in serving if rank == best_rank]
    for lst in chosen_listeners:
        for p in parents:
            if not any(a.ok and a.listener.gateway is lst.gateway and a.listener.name == lst.name
                       for a in p.attachments):
                continue
            names = route_hostnames(p.route)
            hr = _host_rank(names, host)
            if hr is None:
                continue
            matched_name = next((n for n in names if gateway_hostname_matches(n, host)), None)
            for ri, rule in enumerate(route_rules(p.route)):
                for mi, m in enumerate(rule_matches(p.route, rule)):
                    ok, why = match_request(m, target)
                    if ok:
                        hits.append((MatchHit(p.route, ri, mi, m, matched_name,
                                              precedence_key(m, p.route, hr, ri, mi)), lst, p))
                    else:
                        candidates.append({"route": f"{p.route.get('kind')} {obj_ref_of(p.route)}",
                                           "accepted": False, "reason": "no-match",
                                           "detail": f"rule {ri} match {mi}: {why}"})
    gw_of = chosen_listeners[0].gateway if chosen_listeners else next(
        (p.gateway for p in parents if p.gateway is not None), None)
    if not hits:
        lst0 = chosen_listeners[0] if chosen_listeners else None
        any_route = next((p for p in parents if p.gateway is gw_of), parents[0] if parents else None)
        return GatewaySide(
            route_kind=str(any_route.route.get("kind")) if any_route else "HTTPRoute",
            gateway=gw_of, gateway_class=gateway_class_of(snapshot, gw_of) if gw_of is not None else None,
            listener=lst0, route=any_route.route if any_route else None, parents=tuple(parents),
            status=any_route.status if any_route else None, candidates=tuple(candidates), answer=404)
    hits.sort(key=lambda h: h[0].key)
    hit, lst, parent = hits[0]
    for other, _, _ in hits[1:]:
        candidates.append({"route": f"{other.route.get('kind')} {obj_ref_of(other.route)}", "accepted": False,
                           "reason": "precedence", "detail": f"rule {other.rule_index} ({other.describe()}) "
                           f"loses to {obj_ref_of(hit.route)} rule {hit.rule_index} ({hit.describe()})"})
    candidates.append({"route": f"{hit.route.get('kind')} {obj_ref_of(hit.route)}", "accepted": True,
                       "reason": "matched", "detail": f"listener {lst.name}, rule {hit.rule_index}: {hit.describe()}"})
    filters = rule_filters(hit.rule)
    backends = rule_backends(snapshot, hit.route, hit.rule)
    chosen = pick_backend(backends)
    answer: int | None = None
    if filters.redirect is not None:
        answer = as_int(filters.redirect.get("statusCode")) or 302
    elif chosen is None:
        answer = 500
    return GatewaySide(
        route_kind=str(hit.route.get("kind") or "HTTPRoute"), gateway=lst.gateway,
        gateway_class=gateway_class_of(snapshot, lst.gateway), listener=lst, route=hit.route, hit=hit,
        backends=backends, chosen=chosen, filters=filters, parents=tuple(parents), status=parent.status,
        candidates=tuple(candidates), answer=answer,
        disagreements=tuple(_disagreements(parent, True, backends)),
    )
