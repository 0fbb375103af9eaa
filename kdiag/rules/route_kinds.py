"""Rules over a data plane's own route kinds (Contour's HTTPProxy), whether read from manifests or
from a cluster (`kdiag.sources.crds`): the same check ids as for Ingresses.

- `ingress-websocket-not-enabled`: a route of such a kind that is the target's WebSocket route,
  or looks like a WebSocket route, on a data plane that forwards upgrades only where the route
  enables them (`Profile.route_websockets`; Contour: `routes[].enableWebsockets`, Envoy answers 403
  otherwise, dataplane-facts.md §3 "Contour / Envoy").
- `ingress-websocket-timeout`: a route that enables WebSockets, whose effective WebSocket
  timeouts are short: the route's own field (`Profile.route_timeout_fields`; Contour
  `routes[].timeoutPolicy.idle`), else the controller's configuration, else the default (Envoy's
  5 min stream idle timeout). The fix names the route's own field.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from kdiag.dataplane import Profile, profiles
from kdiag.dataplane.base import RouteUpgrade
from kdiag.dataplane.effective import EffectiveTimeout, effective_timeout, parse_seconds
from kdiag.model import Finding, RuleRef
from kdiag.route import ingress_ref, looks_like_websocket
from kdiag.rules import RuleContext, rule
from kdiag.rules.dataplane import WS_TIMEOUT_MIN
from kdiag.shape import as_map, maps, sub
from kdiag.snapshot import Snapshot

__all__ = ["check_route_websocket_not_enabled", "check_route_websocket_timeout", "route_limits"]


def _routes(snap: Snapshot) -> Iterator[tuple[Profile, str, Mapping[str, Any], RouteUpgrade]]:
    for profile in profiles():
        for kind in profile.route_kinds:
            for obj in snap.list(kind):
                for r in profile.route_websockets(obj):
                    yield profile, kind, obj, r


def _service_port(snap: Snapshot, obj: Mapping[str, Any], r: RouteUpgrade
                  ) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    svc = snap.get("Service", snap.namespace_of(obj), r.service) if r.service else None
    port = next((p for p in maps(sub(svc, "spec").get("ports"))
                 if r.port is not None and r.port in (p.get("port"), p.get("name"))), None) if svc is not None else None
    return svc, port


def _asked(ctx: RuleContext, obj: Mapping[str, Any], r: RouteUpgrade) -> RuleRef | None:
    """The rule reference of the target's route when `r` is the route the URL takes."""
    res = ctx.resolution
    if res is None or res.match is None or res.match.ingress is not obj:
        return None
    if as_map(res.match.backend).get("route") != r.where:
        return None
    return RuleRef(ingress_ref(obj), res.match.host, res.match.path)


def _ref(kind: str, obj: Mapping[str, Any]) -> str:
    return f"{kind} {ingress_ref(obj)}"


@rule("ingress-websocket-not-enabled")
def check_route_websocket_not_enabled(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    websocket_target = ctx.resolution is not None and ctx.resolution.target.websocket
    for profile, kind, obj, r in _routes(snap):
        if r.enabled:
            continue
        asked = _asked(ctx, obj, r) if websocket_target else None
        _, port = _service_port(snap, obj, r)
        if asked is None and not looks_like_websocket(r.path, port):
            continue
        ref = asked or RuleRef(ingress_ref(obj), r.host, r.path)
        why = "the target is a WebSocket URL" if asked else "it looks like a WebSocket route"
        field = f"{r.where}.enableWebsockets" if r.where else profile.websocket_route_setting
        yield ctx.finding(
            "ingress-websocket-not-enabled", obj,
            f"{kind} route {ref.where} (service {r.service or '?'}; {why}) does not enable WebSockets: "
            f"{profile.websocket_off}",
            evidence={"route": ref.where, "profile": profile.name, "kind": kind, "field": field},
            rule=ref,
            fix=f"Set `enableWebsockets: true` on this route ({_ref(kind, obj)} `{field}`); "
                f"{profile.name}'s setting: {profile.websocket_route_setting}.")


def route_limits(profile: Profile, kind: str, obj: Mapping[str, Any], r: RouteUpgrade,
                 service: Mapping[str, Any] | None, snap: Snapshot) -> tuple[list[EffectiveTimeout], list[str]]:
    """The effective timeouts that cut an upgraded WebSocket on route `r`: the route's own field,
    else the data plane's configuration and default (`effective_timeout`)."""
    problems: list[str] = []
    out: list[EffectiveTimeout] = []
    for t in profile.websocket_timeouts("ingress"):
        own = r.timeouts.get(t.name)
        if own is not None:
            secs = parse_seconds(own[0], t.unit)
            if secs is not None:
                out.append(EffectiveTimeout(t, secs, "route", f"{_ref(kind, obj)} {own[1]}"))
                continue
            problems.append(f"{own[1]}: {own[0]!r} is not a duration (ignored)")
        e = effective_timeout(profile, t, obj, service, snap.list, problems)
        if e is not None:
            out.append(e)
    return out, problems


def _fix_line(profile: Profile, kind: str, obj: Mapping[str, Any], r: RouteUpgrade, e: EffectiveTimeout) -> str:
    key = profile.route_timeout_fields.get(e.timeout.name)
    if key and r.where:
        return (f"- `{r.where}.{key}: 1h` on {_ref(kind, obj)} (this route only; `infinity` turns it off)"
                + (f", or for every route: {e.timeout.example}" if e.timeout.example else ""))
    return f"- {e.timeout.example or e.timeout.field}"


@rule("ingress-websocket-timeout")
def check_route_websocket_timeout(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    for profile, kind, obj, r in _routes(snap):
        if not r.enabled:
            continue  # not a WebSocket route (or the not-enabled finding says so)
        svc, _ = _service_port(snap, obj, r)
        limits, problems = route_limits(profile, kind, obj, r, svc, snap)
        short = [e for e in limits if e.seconds < WS_TIMEOUT_MIN]
        if not short:
            continue
        ref = _asked(ctx, obj, r) or RuleRef(ingress_ref(obj), r.host, r.path)
        parts = [f"{e.timeout.label} {e.seconds:g} s ({e.where})" for e in limits]
        idle = [e.seconds for e in short if e.timeout.websocket == "idle"]
        life = [e.seconds for e in short if e.timeout.websocket == "lifetime"]
        effects = ([f"a WebSocket that sends no data for {min(idle):g} s is closed by {profile.name}"] if idle else []) \
            + ([f"every WebSocket is closed after {min(life):g} s by {profile.name}, busy or not"] if life else [])
        fix = (f"Raise it in {profile.name}'s own terms (values of an hour or more suit WebSockets):\n\n"
               + "\n".join(_fix_line(profile, kind, obj, r, e) for e in short)
               + "\n\nKeep an application heartbeat (a message every 25-30 s) so that idle connections stay "
                 "alive through every other proxy too.")
        yield ctx.finding(
            "ingress-websocket-timeout", obj,
            f"{kind} WebSocket route {ref.where} (enableWebsockets): {', '.join(parts)}; {' and '.join(effects)} "
            "(clients see close code 1006)",
            evidence={"route": ref.where, "profile": profile.name, "kind": kind,
                      "timeouts": {e.timeout.name: e.to_dict() for e in limits}, "problems": problems},
            rule=ref, fix=fix)
