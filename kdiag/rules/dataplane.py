"""Static rules that read the data-plane profile of each route (never naming a controller).

- `ingress-websocket-timeout`: the effective timeouts that cut an upgraded WebSocket, read from the
  profile's own fields (`TimeoutDefault.annotation`/`resolve`/`configmap_key`, see
  `kdiag.dataplane.effective`); the fix is the profile's `example` for each short one.
- `ingress-websocket-not-enabled`: a WebSocket route on a data plane that forwards upgrades only
  where a route enables them (`Profile.ingress_websocket_upgrade`, `websocket_route_enabled`,
  its own route CRDs such as Contour's HTTPProxy are judged in `kdiag.rules.route_kinds`).
- `controller-field-ignored`: another data plane's annotation on an Ingress, HTTPRoute `timeouts`
  on a data plane that ignores them (`Profile.route_timeouts is False`), and a misspelt annotation
  of a cloud load balancer (`Profile.cloud_lb`, `closest_annotation`).
- `ingress-ssl-redirect-loop`: an Ingress that redirects plain HTTP to https (`https_redirect`)
  behind a load balancer that ends TLS and forwards plain HTTP to the controller, which does not
  take the scheme from X-Forwarded-Proto (`trusts_forwarded_proto`); and a ws:// target on such
  a route (a WebSocket client does not follow the redirect).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from kdiag.dataplane import UNKNOWN, Profile, annotations_of, profiles
from kdiag.dataplane.effective import parse_seconds, websocket_limits
from kdiag.model import Finding, RuleRef
from kdiag.route import claiming_profile, class_decision, ingress_ref, looks_like_websocket
from kdiag.route.backend import backend_ref, find_service_port
from kdiag.route.gateway import route_parents
from kdiag.route.gateway_classes import gateway_class_of
from kdiag.route.httproute import route_rules
from kdiag.rules import RuleContext, rule
from kdiag.shape import as_map, guarded, maps, sub
from kdiag.snapshot import Snapshot, obj_key

__all__ = [
    "WS_TIMEOUT_MIN",
    "check_field_ignored",
    "check_ssl_redirect_loop",
    "check_websocket_not_enabled",
    "websocket_timeout_finding",
]

#: Below this, an idle WebSocket is cut too soon (ingress-nginx's docs recommend > 1 h).
WS_TIMEOUT_MIN = 3600



def _paths(ing: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for r in maps(sub(ing, "spec").get("rules")):
        for p in maps(sub(r, "http").get("paths")):
            yield str(r.get("host") or ""), str(p.get("path") or "/"), as_map(p.get("backend"))


def _service(snap: Snapshot, ing: Mapping[str, Any], backend: Mapping[str, Any]
             ) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """The backend's Service and Service port (None when missing)."""
    ref = backend_ref(backend, snap.namespace_of(ing))
    if ref is None or not ref.service_name:
        return None, None
    svc = snap.get("Service", snap.namespace_of(ing), ref.service_name)
    return svc, (find_service_port(svc, ref) if svc is not None else None)


def _secs(value: float) -> str:
    return f"{value:g}"


# -- ingress-websocket-timeout ---------------------------------------------------------------


def websocket_timeout_finding(ctx: RuleContext, ing: Mapping[str, Any], where: str, rule_ref: RuleRef, why: str,
                              profile: Profile) -> Finding | None:
    """An `ingress-websocket-timeout` finding for one WebSocket route of `ing`, or None when every
    timeout that cuts a WebSocket there is long enough, or the profile models none."""
    snap = ctx.snapshot
    host, _, path = where.partition("/")
    service = next((_service(snap, ing, b)[0] for h, p, b in _paths(ing)
                    if (h or "*") == host and p == "/" + path), None)
    limits, problems = websocket_limits(profile, ing, service, snap.list)
    short = [e for e in limits if e.seconds < WS_TIMEOUT_MIN]
    if not short:
        return None
    idle = [e for e in short if e.timeout.websocket == "idle"]
    life = [e for e in short if e.timeout.websocket == "lifetime"]
    parts = [f"{e.timeout.label} {_secs(e.seconds)} s ({e.source})" for e in limits]
    effects = []
    if idle:
        effects.append(f"a WebSocket that sends no data for {_secs(min(e.seconds for e in idle))} s is closed "
                       f"by {profile.name}")
    if life:
        effects.append(f"every WebSocket is closed after {_secs(min(e.seconds for e in life))} s by "
                       f"{profile.name}, busy or not")
    fix_lines = [f"- {e.timeout.example or e.timeout.field}" for e in short]
    fix = (f"Raise it in {profile.name}'s own terms (values of an hour or more suit WebSockets):\n\n"
           + "\n".join(fix_lines) + "\n\nKeep an application heartbeat (a message every 25-30 s) so that idle "
           "connections stay alive through every other proxy too.")
    return ctx.finding(
        "ingress-websocket-timeout", ing,
        f"WebSocket route {where} ({why}): {', '.join(parts)}; {' and '.join(effects)} "
        "(clients see close code 1006)",
        evidence={"route": where, "profile": profile.name,
                  "timeouts": {e.timeout.name: e.to_dict() for e in limits}, "problems": problems},
        rule=rule_ref, fix=fix)


# -- ingress-websocket-not-enabled -----------------------------------------------------------


@rule("ingress-websocket-not-enabled")
def check_websocket_not_enabled(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    res = ctx.resolution
    target = (ingress_ref(res.match.ingress), res.match.host, res.match.path) \
        if res is not None and res.target.websocket and res.match is not None else None
    for ing in snap.list("Ingress"):
        profile = claiming_profile(snap, ing)
        if profile.forwards_websocket("ingress") is not False:
            continue
        for host, path, backend in _paths(ing):
            _, sp = _service(snap, ing, backend)
            asked = target == (ingress_ref(ing), host, path)
            if not (asked or looks_like_websocket(path, sp)):
                continue
            if profile.websocket_route_enabled(ing, path) is True:
                continue
            where = f"{host or '*'}{path}"
            why = "the target is a WebSocket URL" if asked else "it looks like a WebSocket route"
            yield ctx.finding(
                "ingress-websocket-not-enabled", ing,
                f"route {where} ({why}) does not get WebSocket upgrades: {profile.name}: {profile.websocket_off}",
                evidence={"route": where, "profile": profile.name, "setting": profile.websocket_route_setting},
                rule=RuleRef(ingress_ref(ing), host, path),
                fix=f"Enable WebSockets for this path in {profile.name}'s terms: "
                    f"{profile.websocket_route_setting or profile.websocket_off}.")
    # The data planes' own route kinds (Contour's HTTPProxy): kdiag.rules.route_kinds.


# -- controller-field-ignored ----------------------------------------------------------------


def _owner(key: str, serving: Profile) -> Profile | None:
    """The other data plane whose own annotation prefix `key` carries."""
    return next((p for p in profiles() if p.name != serving.name and p.owns(key)), None)


def _equivalent(owner: Profile, key: str, serving: Profile) -> str:
    """`serving`'s own field for what the other data plane's timeout annotation `key` sets."""
    t = next((t for t in owner.timeouts if t.annotation == key), None)
    if t is None or not t.websocket:
        return ""
    mine = [x for x in serving.websocket_timeouts("ingress")]
    if not mine:
        return f"; {serving.name} has no equivalent per-route WebSocket timeout"
    return "; the equivalent here: " + "; ".join(x.example or x.field for x in mine)


def _websocket_timeout(owner: Profile, key: str, value: Any, serving: Profile) -> tuple[dict[str, Any], str]:
    """For another data plane's annotation that sets a timeout cutting WebSockets: what it asks for
    (`asked_s`, which a live idle cut can contradict, see `kdiag.verdict_edge.confirm_ignored`) and
    the fix in `serving`'s own terms. ({}, "") for any other annotation."""
    t = next((t for t in owner.timeouts if t.annotation == key), None)
    mine = serving.websocket_timeouts("ingress")
    if t is None or not t.websocket or not mine:
        return {}, ""
    asked = parse_seconds(value, t.unit)
    settings = [x.example or x.field for x in mine]
    fix = (f"Use {serving.name}'s own field: {'; '.join(settings)}.\n\n"
           f"Remove `{key}`: it does nothing here. Values of an hour or more suit WebSockets; keep an "
           f"application heartbeat (a message every 25-30 s) so that idle connections stay alive through "
           f"every other proxy too.")
    return {"asked_s": asked, "cuts": t.websocket, "equivalent": settings}, fix


@rule("controller-field-ignored")
def check_field_ignored(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    for ing in snap.list("Ingress"):
        d = class_decision(snap, ing)
        if not (d.controller or d.class_name):
            continue  # nothing says which data plane serves it: no claim
        serving = claiming_profile(snap, ing)
        if serving is UNKNOWN:
            continue
        for key in sorted(annotations_of(ing)):
            if serving.honours(key):
                if serving.cloud_lb and serving.owns(key) and serving.known_annotations:
                    prefix = next(p for p in serving.annotation_prefixes if key.startswith(p))
                    name = key[len(prefix):]
                    close = serving.closest_annotation(name) if name not in serving.known_annotations else None
                    if close:
                        yield ctx.finding(
                            "controller-field-ignored", ing,
                            f"{key} is not an annotation {serving.name} knows, so the load balancer ignores it; "
                            f"did you mean {prefix}{close}?",
                            evidence={"annotation": key, "profile": serving.name, "suggestion": prefix + close})
                continue
            owner = _owner(key, serving)
            if owner is None and not serving.ignores(key):
                continue
            whose = f"{owner.name}'s annotation" if owner is not None else "another controller's annotation"
            timeout, fix = _websocket_timeout(owner, key, annotations_of(ing)[key], serving) \
                if owner is not None else ({}, "")
            yield ctx.finding(
                "controller-field-ignored", ing,
                f"{key} is {whose}, but {serving.name} serves this Ingress (class {d.class_name or '?'}) and "
                f"silently ignores it{_equivalent(owner, key, serving) if owner is not None else ''}",
                evidence={"annotation": key, "profile": serving.name, "owner": owner.name if owner else None,
                          **({"websocket_timeout": timeout} if timeout else {})}, fix=fix or None)

    def routes(route: Mapping[str, Any]) -> Iterator[Finding]:
        timed = [(i, r) for i, r in enumerate(route_rules(route)) if as_map(r.get("timeouts"))]
        if not timed:
            return
        for parent in route_parents(snap, route):
            if parent.gateway is None:
                continue
            profile = gateway_class_of(snap, parent.gateway).profile
            if profile.route_timeouts is not False:
                continue
            own = [t for t in profile.timeouts if t.applies_to("gateway") and t.api == "gateway"] or \
                [t for t in profile.timeouts if t.applies_to("gateway")]
            instead = "; ".join(dict.fromkeys(t.field for t in own)) or "its own policy"
            for i, r in timed:
                f = ctx.finding(
                    "controller-field-ignored", route,
                    f"rule {i} sets timeouts {dict(as_map(r.get('timeouts')))}, but {profile.name} does not "
                    f"implement HTTPRoute timeouts: they are ignored. Its own field: {instead}",
                    evidence={"rule": i, "profile": profile.name, "timeouts": dict(as_map(r.get("timeouts")))},
                    fix=f"Set the timeout with {profile.name}'s own field instead: {instead}.")
                yield dataclasses.replace(f, hop="gateway")
            return

    yield from guarded(snap.list("HTTPRoute"), routes)


# -- ingress-ssl-redirect-loop ---------------------------------------------------------------


def _tls_ends_before(profile: Profile, svc: Mapping[str, Any]) -> str | None:
    """A Service port 443 whose targetPort is the controller's plain-HTTP port: whatever answers
    443 on the load balancer ends TLS and forwards plain HTTP. Returns that port's description."""
    ports = maps(sub(svc, "spec").get("ports"))
    http_targets = {str(p.get("targetPort") or p.get("port")) for p in ports if p.get("port") == 80}
    for p in ports:
        if p.get("port") != 443 and str(p.get("name") or "") != "https":
            continue
        tp = str(p.get("targetPort") if p.get("targetPort") is not None else p.get("port"))
        if tp in profile.http_ports or tp in http_targets:
            return f"port {p.get('port')} -> targetPort {tp}"
    return None


@rule("ingress-ssl-redirect-loop")
def check_ssl_redirect_loop(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    res = ctx.resolution
    for ing in snap.list("Ingress"):
        profile = claiming_profile(snap, ing)
        cms = profile.controller_configmaps(snap.list("ConfigMap"))
        how = profile.https_redirect(ing, cms)
        if how is None:
            continue
        if res is not None and res.match is not None and res.match.ingress is ing and res.target.scheme == "ws":
            yield ctx.finding(
                "ingress-ssl-redirect-loop", ing,
                f"the client opens ws://{res.target.request_host}{res.target.path}, but {profile.name} answers plain "
                f"HTTP on this route with a redirect to https ({how}); a WebSocket client does not follow "
                "redirects, so the handshake fails", evidence={"setting": how, "profile": profile.name},
                fix="Open the WebSocket with wss:// (or a relative URL from an https page), or turn the redirect "
                    f"off for this route ({how}).")
        if profile.trusts_forwarded_proto(cms) is not False:
            continue
        for svc in snap.list("Service"):
            if sub(svc, "spec").get("type") != "LoadBalancer" or not profile.controller_service(svc):
                continue
            port = _tls_ends_before(profile, svc)
            if port is None:
                continue
            _, ns, name = obj_key(svc)
            yield ctx.finding(
                "ingress-ssl-redirect-loop", ing,
                f"{profile.name} redirects plain HTTP to https on this Ingress ({how}), but its LoadBalancer "
                f"Service {ns}/{name} maps {port}: the load balancer ends TLS and forwards plain HTTP, so every "
                "https request arrives as http and is redirected to https again (ERR_TOO_MANY_REDIRECTS)",
                evidence={"setting": how, "profile": profile.name, "service": f"{ns}/{name}", "port": port},
                fix=f"Make {profile.name} take the scheme from the load balancer: {profile.forwarded_proto_setting}. "
                    "Or pass TLS through to the controller (443 -> its https port).")
            break

