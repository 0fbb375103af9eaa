"""One URL, two APIs: walk the Ingress rule or the Gateway API route that serves it.

`resolve_route` resolves both. When only one serves the host (a rule or route matches, or only
one kind exists for it) that one is walked. When both do — a cluster half-way through an
Ingress → Gateway migration — the one whose published address the URL reaches is walked
(`addresses`: what `--resolve`/`--connect-to` or DNS give for the host, compared with the
Ingress's `status.loadBalancer` and the Gateway's `status.addresses`). When that is not known,
the Ingress is walked: until DNS is cut over, clients still reach the old controller, and the
HTTPRoute is recorded as an alternative (its migration findings are reported either way). When
neither matches and a Contour HTTPProxy has a virtualhost for the host, the HTTPProxy is walked
(`kdiag.route.httpproxy`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from kdiag.dataplane import profiles
from kdiag.route.gateway import GatewaySide, resolve_gateway
from kdiag.route.gateway_classes import gateway_addresses
from kdiag.route.httpproxy import KIND as HTTPPROXY
from kdiag.route.httpproxy import resolve_httpproxy
from kdiag.route.ingress import resolve_route as resolve_ingress
from kdiag.route.resolution import Resolution
from kdiag.route.target import Target
from kdiag.shape import lb_addresses
from kdiag.snapshot import Snapshot

__all__ = ["gateway_resolution", "resolve_route"]


def gateway_resolution(target: Target, side: GatewaySide) -> Resolution:
    """A `Resolution` for a Gateway API route (the service and pod hops read `main_backend`)."""
    notes = list(side.filters.notes())
    if side.answer == 404:
        notes.append(side.profile.no_route.detail if side.profile.no_route.status is not None else
                     "no rule of the routes attached to this listener matches: the gateway answers 404 "
                     "(the Gateway API spec requires 404)")
    elif side.answer == 500 and side.filters.redirect is None:
        notes.append("no valid backendRef with a weight above 0: the gateway answers 500 for this rule "
                     "(the Gateway API spec requires 500 for invalid backends)")
    if side.listener is not None and side.listener.port is not None and side.listener.port != target.port:
        notes.append(f"the URL's port {target.port} is not the listener's port {side.listener.port}: a Service or "
                     "load balancer in front of the Gateway is assumed to map it")
    notes.extend(f"status and kdiag disagree: {d}" for d in side.disagreements)
    chosen = side.chosen
    main = chosen.info if chosen is not None else None
    if main is not None:
        notes.extend(main.notes)
    cls = side.gateway_class
    return Resolution(
        target=target, candidates=(), classes=(), matched=side.hit is not None, main_backend=main,
        notes=tuple(notes), controller=cls.controller if cls is not None else None, profile=side.profile,
        kind=side.route_kind, gateway=side,
    )


def _alt(kind: str, name: str | None, why: str) -> Mapping[str, Any]:
    return {"kind": kind, "name": name, "why": why}


def resolve_route(snapshot: Snapshot, target: Target, *, ingress_class: str | None = None,
                  addresses: Sequence[str] = ()) -> Resolution:
    """The route a request for `target` takes: an Ingress rule or a Gateway API route."""
    res = _resolve(snapshot, target, ingress_class=ingress_class, addresses=addresses)
    # The source lists a data plane's own route kinds only when that data plane is in play.
    own = {k for p in profiles() for k in p.route_kinds}
    absent = [k for k in snapshot.facts.get("kinds_not_served") or () if k in own]
    if absent and not res.matched:  # e.g. Contour in play but its HTTPProxy CRD is not installed
        return replace(res, notes=res.notes + (
            f"{', '.join(absent)} is not served by this API server (its CRD is not installed): "
            f"no {', '.join(absent)} was searched for {target.request_host}",))
    return res


def _resolve(snapshot: Snapshot, target: Target, *, ingress_class: str | None,
             addresses: Sequence[str]) -> Resolution:
    ing = resolve_ingress(snapshot, target, ingress_class=ingress_class, addresses=addresses)
    side = resolve_gateway(snapshot, target)
    if not ing.matched and (side is None or side.hit is None) and snapshot.list(HTTPPROXY):
        proxy = resolve_httpproxy(snapshot, target)  # Contour's own route kind serves the host
        if proxy is not None:
            return proxy
    if side is None:
        return ing
    gw = gateway_resolution(target, side)
    ing_serves = ing.matched or bool(ing.ingresses)
    if not ing_serves:
        return replace(gw, notes=gw.notes)
    if not gw.matched and side.route is None:
        return ing
    reached = set(addresses)
    gw_addrs = set(gateway_addresses(side.gateway)) if side.gateway is not None else set()
    ing_addrs = {a for i in ing.ingresses for a in lb_addresses(i)}
    if reached and reached & gw_addrs and not reached & ing_addrs:
        why = f"the URL's host reaches {sorted(reached & gw_addrs)[0]}, the Gateway's address"
        return replace(gw, alternatives=(_alt("Ingress", ing.match.ingress_ref if ing.match else None,
                                              "not walked: " + why),), notes=gw.notes + (f"walked the {gw.kind}: {why}",))
    if reached and reached & ing_addrs and not reached & gw_addrs:
        why = f"the URL's host reaches {sorted(reached & ing_addrs)[0]}, the Ingress's address"
    elif not ing.matched and gw.matched:
        return replace(gw, alternatives=(_alt("Ingress", None, "no Ingress rule matches the path"),))
    else:
        why = ("both serve this host and the address the URL reaches is not known: walked the Ingress "
               "(clients reach the old controller until DNS is cut over); walk the HTTPRoute with "
               "--resolve HOST:PORT:GATEWAY-ADDRESS")
    return replace(ing, alternatives=(_alt(side.route_kind, side.route_ref, "not walked: " + why),),
                   notes=ing.notes + (f"also served by {side.route_kind} {side.route_ref} via Gateway "
                                      f"{side.gateway_ref}: {why}",))
