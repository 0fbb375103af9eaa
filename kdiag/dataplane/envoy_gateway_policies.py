"""Envoy Gateway's timeouts on one HTTPRoute rule, read from the route and its policy CRDs (pure).

Facts (gateway-controllers-facts.md "Envoy Gateway", checked against envoyproxy/gateway @ d32f2829
with the `fetch` tool: api/v1alpha1/timeout_types.go, clienttrafficpolicy_types.go,
backendtrafficpolicy_types.go, internal/xds/translator/route.go):

- The route (request) timeout: HTTPRoute `rules[].timeouts.request` takes precedence, then the
  BackendTrafficPolicy's `spec.timeout.http.requestTimeout` (route.go getEffectiveRequestTimeout);
  when neither is set EG writes no route timeout and Envoy's default of 15 s applies.
- The stream idle timeout of the route (route.go idleTimeout()): the BackendTrafficPolicy's
  `spec.timeout.http.streamIdleTimeout` (a route idle_timeout); else, when a ClientTrafficPolicy
  sets the listener's `spec.timeout.http.streamIdleTimeout`, that (the HCM's stream_idle_timeout);
  else, when a request timeout is set, max(1 h, request timeout), or none when it is "0s"; else the
  HCM default of 5 min.
- Policies attach with `targetRefs` (or the older single `targetRef`) to objects of their own
  namespace: ClientTrafficPolicy to a Gateway (or one listener with `sectionName`),
  BackendTrafficPolicy to a Gateway, a listener or an xRoute (a rule with `sectionName`). Only the
  most specific BackendTrafficPolicy applies unless it sets `mergeType` (then unset fields come from
  the Gateway's); among equally specific ones the oldest wins (Gateway API policy attachment).
  `targetSelectors` are matched on `matchLabels` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kdiag.dataplane.base import RouteTimeout
from kdiag.dataplane.effective import parse_seconds
from kdiag.shape import as_map, maps, sub

__all__ = ["BTP", "CTP", "POLICY_KINDS", "rule_timeouts"]

Obj = Mapping[str, Any]
Lookup = Callable[[str], Iterable[Obj]]

CTP = "ClientTrafficPolicy"
BTP = "BackendTrafficPolicy"
POLICY_KINDS = (CTP, BTP)
GROUP = "gateway.networking.k8s.io"
#: Envoy's route timeout when EG sets none (docs tasks/traffic/http-timeouts.md).
ENVOY_ROUTE_TIMEOUT = 15.0
#: Envoy's HCM stream_idle_timeout default (5 min; timeout_types.go "Default: 5 minutes").
ENVOY_STREAM_IDLE = 300.0
#: route.go idleTimeout(): a set request timeout lifts the route idle timeout to at least 1 h.
EG_IDLE_FLOOR = 3600.0
SOURCE = "envoyproxy/gateway internal/xds/translator/route.go; api/v1alpha1/timeout_types.go"


def _md(o: Obj) -> Mapping[str, Any]:
    return as_map(o.get("metadata"))


def _ref(o: Obj) -> str:
    md = _md(o)
    return f"{md.get('namespace') or 'default'}/{md.get('name')}"


def _kind_ref(o: Obj) -> str:
    return f"{o.get('kind')} {_ref(o)}"


def _selects(sel: Mapping[str, Any], kind: str, obj: Obj) -> bool:
    labels = as_map(_md(obj).get("labels"))
    want = as_map(sel.get("matchLabels"))
    return (sel.get("kind") == kind and (sel.get("group") or GROUP) == GROUP and bool(want)
            and all(labels.get(k) == v for k, v in want.items()))


def _rank(policy: Obj, targets: list[tuple[str, Obj, str | None, int]]) -> int:
    """How specifically `policy` targets one of `targets` (kind, object, section, rank): the
    highest rank it reaches, +1 for a matching sectionName; 0 when it targets none of them."""
    ns = str(_md(policy).get("namespace") or "default")
    spec = sub(policy, "spec")
    refs = maps(spec.get("targetRefs")) + ([as_map(spec["targetRef"])] if isinstance(spec.get("targetRef"), Mapping) else [])
    best = 0
    for kind, obj, section, rank in targets:
        if str(_md(obj).get("namespace") or "default") != ns:
            continue  # local references: the policy lives in its target's namespace
        for ref in refs:
            if (ref.get("group") or GROUP) != GROUP or ref.get("kind") != kind or ref.get("name") != _md(obj).get("name"):
                continue
            wanted = ref.get("sectionName")
            if wanted and wanted != section:
                continue
            best = max(best, rank + (1 if wanted else 0))
        if any(_selects(s, kind, obj) for s in maps(spec.get("targetSelectors"))):
            best = max(best, rank)
    return best


def _ordered(policies: Iterable[Obj], targets: list[tuple[str, Obj, str | None, int]]) -> list[tuple[int, Obj]]:
    """The policies that target one of `targets`, most specific first, then the oldest."""
    found = [(r, p) for p in policies if (r := _rank(p, targets))]
    return sorted(found, key=lambda rp: (-rp[0], str(_md(rp[1]).get("creationTimestamp") or ""), _ref(rp[1])))


def _http_timeout(policy: Obj, field: str) -> Any:
    return as_map(sub(sub(policy, "spec"), "timeout").get("http")).get(field)


def _btp_value(btps: list[tuple[int, Obj]], field: str) -> tuple[Any, Obj] | None:
    """The field's value from the BackendTrafficPolicy that applies: the most specific one, and
    the less specific ones only while each more specific one has `mergeType` set."""
    for _, policy in btps:
        value = _http_timeout(policy, field)
        if value is not None:
            return value, policy
        if not sub(policy, "spec").get("mergeType"):
            return None
    return None


def _secs(raw: Any) -> float | None:
    """Seconds of a Gateway API duration; None for "0s" (disabled) or a value that does not parse."""
    value = parse_seconds(raw, "duration")
    return value if value else None


def rule_timeouts(route: Obj, rule: int | None, gateway: Obj | None, listener: str | None,
                  lookup: Lookup) -> tuple[RouteTimeout, ...]:
    """The request and stream idle timeouts Envoy Gateway programs for rule `rule` of `route`
    behind `gateway`'s `listener` (see the module docstring)."""
    rules = maps(sub(route, "spec").get("rules"))
    r = rules[rule] if rule is not None and 0 <= rule < len(rules) else {}
    where_rule = f"spec.rules[{rule}]" if rule is not None else "spec.rules[]"
    route_t = [("HTTPRoute", route, str(r.get("name") or "") or None, 5)]
    gw_t = [("Gateway", gateway, listener, 1)] if gateway is not None else []
    btps = _ordered(lookup(BTP), [t for t in route_t + gw_t if t[1] is not None])
    ctps = _ordered(lookup(CTP), gw_t)
    gw = _ref(gateway) if gateway is not None else "the Gateway"
    out: list[RouteTimeout] = []

    # -- the route (request) timeout
    raw = as_map(r.get("timeouts")).get("request")
    request: float | None
    set_request = True
    if raw is not None and parse_seconds(raw, "duration") is not None:
        request = _secs(raw)
        setting = f"HTTPRoute {_ref(route)} {where_rule}.timeouts.request"
        out.append(RouteTimeout("request", request, setting, f"set to {raw} by HTTPRoute {_ref(route)}", SOURCE))
    elif (found := _btp_value(btps, "requestTimeout")) is not None and parse_seconds(found[0], "duration") is not None:
        request = _secs(found[0])
        setting = f"BackendTrafficPolicy {_ref(found[1])} spec.timeout.http.requestTimeout"
        out.append(RouteTimeout("request", request, setting, f"set to {found[0]} by {_kind_ref(found[1])}", SOURCE))
    else:
        set_request, request = False, ENVOY_ROUTE_TIMEOUT
        out.append(RouteTimeout("request", request, f"HTTPRoute {_ref(route)} {where_rule}.timeouts.request "
                                f"(or BackendTrafficPolicy spec.timeout.http.requestTimeout)",
                                f"Envoy's default route timeout ({ENVOY_ROUTE_TIMEOUT:g}s): Envoy Gateway sets none",
                                SOURCE))

    # -- the stream idle timeout (route.go idleTimeout())
    route_idle = _btp_value(btps, "streamIdleTimeout")
    listener_idle = next(((v, p) for _, p in ctps if (v := _http_timeout(p, "streamIdleTimeout")) is not None), None)
    ctp_field = f"ClientTrafficPolicy spec.timeout.http.streamIdleTimeout (targeting Gateway {gw})"
    if route_idle is not None:
        setting = f"BackendTrafficPolicy {_ref(route_idle[1])} spec.timeout.http.streamIdleTimeout"
        out.append(RouteTimeout("stream-idle", _secs(route_idle[0]), setting,
                                f"set to {route_idle[0]} by {_kind_ref(route_idle[1])}", SOURCE))
    elif listener_idle is not None:
        setting = f"ClientTrafficPolicy {_ref(listener_idle[1])} spec.timeout.http.streamIdleTimeout"
        out.append(RouteTimeout("stream-idle", _secs(listener_idle[0]), setting,
                                f"set to {listener_idle[0]} by {_kind_ref(listener_idle[1])}", SOURCE))
    elif set_request:
        idle = None if request is None else max(EG_IDLE_FLOOR, request)
        out.append(RouteTimeout("stream-idle", idle, ctp_field,
                                "Envoy Gateway's route idle timeout, max(1h, the request timeout) because a request "
                                "timeout is set (route.go idleTimeout)", SOURCE))
    else:
        out.append(RouteTimeout("stream-idle", ENVOY_STREAM_IDLE, ctp_field,
                                f"Envoy's default stream idle timeout ({ENVOY_STREAM_IDLE:g}s): no policy sets one",
                                SOURCE))
    return tuple(out)

