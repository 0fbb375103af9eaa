"""Static rules: what an Ingress → Gateway API migration drops (`route-migration-dropped-setting`).

For every HTTPRoute rule that serves a host and path an Ingress also serves (a half-way migration,
or `kdiag lint` over both): ingress2gateway turns the largest proxy-*-timeout into
`timeouts.request` ×10 (`tcpTimeoutMultiplier = 10`), does not convert canary-by-header/cookie
nor session affinity, and the new data plane may ignore HTTPRoute timeouts altogether (NGF,
Traefik, GKE, ALB), so WebSocket timeouts tuned on the Ingress are lost
(gateway-controllers-facts.md "ingress2gateway", profiles in `kdiag.dataplane`).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from kdiag.dataplane import annotations_of
from kdiag.dataplane.ingress_nginx import PREFIX, parse_canary
from kdiag.hosts import gateway_hostname_matches
from kdiag.model import Finding
from kdiag.route.gateway import route_parents
from kdiag.route.gateway_classes import gateway_class_of, obj_ref_of
from kdiag.route.httproute import route_rules
from kdiag.route.ingress import ingress_rules, rule_paths
from kdiag.route.listeners import route_hostnames
from kdiag.rules import RuleContext, rule
from kdiag.shape import as_int, guarded, maps, sub

__all__ = ["check_migration", "duration_seconds"]

CHECK = "route-migration-dropped-setting"
_TIMEOUTS = ("proxy-read-timeout", "proxy-send-timeout", "proxy-connect-timeout")
_DUR = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s)")


def duration_seconds(text: Any) -> float | None:
    """A Gateway API / Go duration ("10h0m0s", "500ms", "1h30m") in seconds; None if it is not one."""
    if not isinstance(text, str) or not text:
        return None
    parts = _DUR.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text.strip():
        return None
    mult = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * mult[u] for n, u in parts)


def _paths(rule: Mapping[str, Any]) -> list[str]:
    ms = maps(rule.get("matches"))
    if not ms:
        return ["/"]
    return [str(sub(m, "path").get("value") or "/") for m in ms]


def _overlaps(snapshot: Any, route: Mapping[str, Any]) -> Iterator[tuple[int, Mapping[str, Any], Mapping[str, Any], str]]:
    """(rule index, rule, Ingress, "host path") for each HTTPRoute rule an Ingress path also serves."""
    names = route_hostnames(route)
    for ing in snapshot.list("Ingress"):
        for irule in ingress_rules(ing):
            ihost = str(irule.get("host") or "")
            if names and ihost and not any(gateway_hostname_matches(n, ihost) or n == ihost for n in names):
                continue
            ipaths = {str(p.get("path") or "/").rstrip("/") or "/" for p in rule_paths(irule)}
            for i, r in enumerate(route_rules(route)):
                for path in _paths(r):
                    if (path.rstrip("/") or "/") in ipaths:
                        yield i, r, ing, f"{ihost or '*'}{path}"
                        break


@rule(CHECK)
def check_migration(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot

    def one(route: Mapping[str, Any]) -> Iterator[Finding]:
        if route.get("kind") != "HTTPRoute":
            return
        names = route_hostnames(route)
        profiles = {gateway_class_of(snap, p.gateway).profile.name: gateway_class_of(snap, p.gateway).profile
                    for p in route_parents(snap, route) if p.gateway is not None}.values()
        seen: set[tuple[str, int, str]] = set()
        for i, r, ing, where in _overlaps(snap, route):
            ann = annotations_of(ing)
            ing_ref = f"Ingress {obj_ref_of(ing)}"
            secs = [v for k in _TIMEOUTS if (v := as_int(ann.get(PREFIX + k))) is not None]
            req = duration_seconds(sub(r, "timeouts").get("request"))
            ignoring = sorted(p.name for p in profiles if p.route_timeouts is False)
            if secs and req is not None and abs(req - 10 * max(secs)) < 1 and (where, i, "x10") not in seen:
                seen.add((where, i, "x10"))
                yield ctx.finding(CHECK, route,
                                  f"rule {i} ({where}): timeouts.request {sub(r, 'timeouts').get('request')} is 10× "
                                  f"the {ing_ref}'s proxy timeout ({max(secs)}s): ingress2gateway multiplies "
                                  "TCP-level timeouts by 10 into a whole-request timeout",
                                  evidence={"ingress": obj_ref_of(ing), "ingress_seconds": max(secs),
                                            "request_seconds": req})
            if secs and ignoring and (where, i, "ign") not in seen:
                seen.add((where, i, "ign"))
                read = max(secs)
                yield ctx.finding(CHECK, route,
                                  f"rule {i} ({where}): the {ing_ref} sets proxy timeouts up to {read}s (WebSocket "
                                  f"tuning), but {', '.join(ignoring)} ignores HTTPRoute timeouts: idle WebSockets "
                                  "fall back to the data plane's default", evidence={"ingress": obj_ref_of(ing),
                                                                                     "profiles": ignoring})
            canary = [c for c in snap.list("Ingress", obj_ref_of(ing).split("/")[0])
                      if (spec := parse_canary(c)) is not None and (spec.by_header or spec.by_cookie)
                      and any(gateway_hostname_matches(n, str(ir.get("host") or "")) or not names
                              for ir in ingress_rules(c) for n in (names or ["*"]))]
            has_header_rule = any(maps(m.get("headers")) for rr in route_rules(route) for m in maps(rr.get("matches")))
            if canary and not has_header_rule and (where, 0, "canary") not in seen:
                seen.add((where, 0, "canary"))
                spec = parse_canary(canary[0])
                assert spec is not None
                how = f"header {spec.by_header}" if spec.by_header else f"cookie {spec.by_cookie}"
                yield ctx.finding(CHECK, route,
                                  f"the canary Ingress {obj_ref_of(canary[0])} routes by {how}, but no rule of the "
                                  "HTTPRoute matches a header: ingress2gateway does not convert canary-by-header/"
                                  "cookie, so those requests now reach the main backend",
                                  evidence={"canary": obj_ref_of(canary[0])})
            if ann.get(PREFIX + "affinity") and not r.get("sessionPersistence") and (where, i, "aff") not in seen:
                seen.add((where, i, "aff"))
                yield ctx.finding(CHECK, route,
                                  f"rule {i} ({where}): the {ing_ref} pins clients with affinity: "
                                  f"{ann.get(PREFIX + 'affinity')}, the HTTPRoute has no sessionPersistence: "
                                  "session affinity was not carried over", evidence={"ingress": obj_ref_of(ing)})

    yield from guarded(snap.list("HTTPRoute"), one)
