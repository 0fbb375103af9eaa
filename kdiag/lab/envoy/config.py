"""What an Envoy-based controller programs into Envoy for the lab's objects: virtual hosts, routes
(with upgrade configs and timeouts) and clusters, from Ingresses (Contour's annotations) or
HTTPRoutes (Envoy Gateway, Contour, Istio). Facts: reference/gateway-controllers-facts.md
("Envoy behaviour shared…", "Envoy Gateway", "Istio") and dataplane-facts.md §3 (Contour row).

Defaults per controller (`FLAVORS`), in seconds (0 = disabled):
- contour: Ingress/HTTPProxy routes get a WebSocket upgrade only when listed in
  `projectcontour.io/websocket-routes` (HTTPProxy `enableWebsockets`); Gateway API listeners
  allow upgrades by default (contour site/content/docs/main/config/websockets.md). Route timeout
  15 s (Envoy's default), `projectcontour.io/response-timeout` changes it ("infinity" = none);
  HCM stream idle 5 min (Contour config `timeouts.stream-idle-timeout`).
- envoy-gateway: upgrade "websocket" on every HTTPRoute route (internal/xds/translator/route.go
  defaultUpgradeConfig); route timeout 15 s unless `timeouts.request` or a BackendTrafficPolicy's
  `requestTimeout`; stream idle 5 min unless a ClientTrafficPolicy's `streamIdleTimeout`; route
  idle timeout from route.go idleTimeout() (kdiag.lab.envoy.policies: the timeouts come from these
  objects, as EG's translator takes them).
- istio: upgrades on every HCM (listener_builder.go), route timeout disabled unless
  `timeouts.request` (route.go setTimeout), HCM stream idle 0 s (disabled).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kdiag.lab.envoy.policies import EgPolicies
from kdiag.lab.ingress.model import Address, BackendsFn

__all__ = ["FLAVORS", "Cluster", "EnvoyConfig", "EnvoyFlavor", "Route", "VirtualHost", "envoy_config",
           "parse_duration"]


@dataclass(frozen=True)
class EnvoyFlavor:
    name: str
    ingress_websocket_by_default: bool
    route_timeout: float
    stream_idle_timeout: float
    ingress_class_controller: str = ""
    gateway_controller: str = ""


FLAVORS: dict[str, EnvoyFlavor] = {
    "contour": EnvoyFlavor("contour", False, 15.0, 300.0, "projectcontour.io/ingress-controller",
                           "projectcontour.io/gateway-controller"),
    "envoy-gateway": EnvoyFlavor("envoy-gateway", True, 15.0, 300.0, "",
                                 "gateway.envoyproxy.io/gatewayclass-controller"),
    "istio": EnvoyFlavor("istio", True, 0.0, 0.0, "istio.io/ingress-controller", "istio.io/gateway-controller"),
}

CONTOUR_WS_ROUTES = "projectcontour.io/websocket-routes"
CONTOUR_RESPONSE_TIMEOUT = "projectcontour.io/response-timeout"


@dataclass(frozen=True)
class Cluster:
    name: str
    endpoints: tuple[Address | None, ...] = ()  # None: the pod's port listens nowhere (refused)
    invalid: str = ""  # why the backend is invalid (Envoy Gateway: a 500 direct response)


@dataclass(frozen=True)
class Route:
    path: str
    match: str  # "exact" | "prefix" (path-separated, Ingress Prefix / PathPrefix) | "plain" (string prefix)
    cluster: Cluster
    upgrades: tuple[str, ...] = ()
    timeout: float = 15.0  # the route timeout (0 = disabled)
    idle_timeout: float | None = None  # the route's idle_timeout; None = the HCM stream idle timeout
    source: str = ""  # "Ingress default/chatapp" / "HTTPRoute default/chat"

    def matches(self, path: str) -> bool:
        if self.match == "exact":
            return path == self.path
        if self.match == "prefix":
            base = self.path.rstrip("/")
            return base == "" or path == base or path.startswith(base + "/")
        return path.startswith(self.path)


@dataclass(frozen=True)
class VirtualHost:
    domains: tuple[str, ...]  # "*" = any
    routes: tuple[Route, ...] = ()

    def serves(self, host: str) -> bool:
        return any(d == "*" or d == host or (d.startswith("*.") and host.endswith(d[1:])) for d in self.domains)


@dataclass(frozen=True)
class EnvoyConfig:
    flavor: EnvoyFlavor
    virtual_hosts: tuple[VirtualHost, ...] = ()
    stream_idle_timeout: float = 300.0
    log: tuple[str, ...] = field(default=())

    def route(self, host: str, path: str) -> Route | None:
        """Envoy's choice: the most specific virtual host, then the first matching route."""
        host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host  # lab: Host with a port still matches
        vhosts = sorted((v for v in self.virtual_hosts if v.serves(host.lower())),
                        key=lambda v: 0 if host.lower() in v.domains else 1 if "*" not in v.domains else 2)
        for vh in vhosts[:1]:
            for r in vh.routes:
                if r.matches(path):
                    return r
        return None


def parse_duration(value: str | None) -> float | None:
    """A GEP-2257 / Go duration ("15s", "1m30s", "500ms", "1h") or Contour's "infinity"/"0s"."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("infinity", "infinite"):
        return 0.0
    import re

    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    return sum(float(n) * scale[u] for n, u in parts)


def _md(o: Mapping[str, Any]) -> Mapping[str, Any]:
    return o.get("metadata") or {}


def _cluster(resolver: Any, ns: str, name: str | None, port: int | str | None) -> Cluster:
    if not name or port in (None, ""):
        return Cluster(f"{ns}/{name}:{port}", invalid="backend without a Service name or port")
    up = resolver.upstream(ns, {"service": {"name": name, "port": {"number": port} if isinstance(port, int)
                                            else {"name": port}}})
    if up is None:
        return Cluster(f"{ns}/{name}:{port}", invalid="not a Service backend")
    if up.reason and not up.endpoints and ("does not exist" in up.reason or "does not have port" in up.reason):
        return Cluster(up.name, invalid=up.reason)
    return Cluster(up.name, tuple(e.address for e in up.endpoints))


def _ingress_routes(ing: Mapping[str, Any], flavor: EnvoyFlavor, resolver: Any) -> dict[str, list[Route]]:
    ns = str(_md(ing).get("namespace", "default"))
    ann = _md(ing).get("annotations") or {}
    ws_paths = {p.strip() for p in str(ann.get(CONTOUR_WS_ROUTES, "")).split(",") if p.strip()}
    timeout = parse_duration(ann.get(CONTOUR_RESPONSE_TIMEOUT))
    out: dict[str, list[Route]] = {}
    for rule in (ing.get("spec") or {}).get("rules") or ():
        host = str(rule.get("host") or "*")
        for p in (rule.get("http") or {}).get("paths") or ():
            svc = (p.get("backend") or {}).get("service") or {}
            port_ref = svc.get("port") or {}
            cluster = _cluster(resolver, ns, svc.get("name"), port_ref.get("number") or port_ref.get("name"))
            path = str(p.get("path") or "/")
            ptype = p.get("pathType", "ImplementationSpecific")
            ws = flavor.ingress_websocket_by_default or path in ws_paths
            out.setdefault(host, []).append(Route(
                path, "exact" if ptype == "Exact" else "prefix" if ptype == "Prefix" else "plain", cluster,
                ("websocket",) if ws else (), flavor.route_timeout if timeout is None else timeout,
                source=f"Ingress {ns}/{_md(ing).get('name')}"))
    return out


def _httproute_routes(hr: Mapping[str, Any], flavor: EnvoyFlavor, resolver: Any,
                      policies: EgPolicies | None = None) -> dict[str, list[Route]]:
    ns = str(_md(hr).get("namespace", "default"))
    spec = hr.get("spec") or {}
    out: dict[str, list[Route]] = {}
    for rule in spec.get("rules") or ():
        timeout = parse_duration((rule.get("timeouts") or {}).get("request"))
        idle: float | None = None
        if policies is not None:  # Envoy Gateway: its policies and route.go idleTimeout() (kdiag.lab.envoy.policies)
            eg = policies.rule(hr, rule)
            timeout, idle = eg.timeout, eg.idle_timeout
        refs = rule.get("backendRefs") or []
        ref = refs[0] if refs else {}
        svc = resolver.services.get(f"{ref.get('namespace') or ns}/{ref.get('name')}") if ref else None
        if flavor.name == "envoy-gateway" and (svc or {}).get("spec", {}).get("type") == "ExternalName":
            # EG rejects an ExternalName backendRef: the rule is a 500 direct response (kdiag.lab.gateway.controller
            # _external_name cites the source; the route's ResolvedRefs status comes from there)
            cluster = Cluster(f"{ref.get('namespace') or ns}/{ref.get('name')}",
                              invalid="ExternalName Service: not supported as a backend")
        elif ref and ref.get("kind", "Service") == "Service" and ref.get("group", "") in ("", "core"):
            cluster = _cluster(resolver, str(ref.get("namespace") or ns), ref.get("name"), ref.get("port"))
        else:
            cluster = Cluster(f"{ns}/{ref.get('name')}", invalid="unsupported or missing backendRef")
        for m in rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]:
            pm = m.get("path") or {"type": "PathPrefix", "value": "/"}
            r = Route(str(pm.get("value") or "/"), "exact" if pm.get("type") == "Exact" else "prefix", cluster,
                      ("websocket",), flavor.route_timeout if timeout is None else timeout, idle,
                      source=f"HTTPRoute {ns}/{_md(hr).get('name')}")
            for host in spec.get("hostnames") or ["*"]:
                out.setdefault(str(host), []).append(r)
    return out


def _serves_ingress(ing: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]], flavor: EnvoyFlavor) -> bool:
    name = (ing.get("spec") or {}).get("ingressClassName") or (_md(ing).get("annotations") or {}).get(
        "kubernetes.io/ingress.class")
    cls = classes.get(str(name)) if name else None
    return cls is not None and (cls.get("spec") or {}).get("controller") == flavor.ingress_class_controller


def envoy_config(objects: Iterable[Mapping[str, Any]], *, flavor: str, backends: BackendsFn,
                 stream_idle_timeout: float | None = None) -> EnvoyConfig:
    """The Envoy configuration the `flavor` controller programs for `objects` (pure but for
    `backends`, which says where each pod port listens in the lab)."""
    from kdiag.lab.ingress.controller import ServiceResolver

    fl = FLAVORS[flavor]
    objs = [o for o in objects if isinstance(o, Mapping)]
    resolver = ServiceResolver(objs, backends)
    classes = {str(_md(o).get("name")): o for o in objs if o.get("kind") == "IngressClass"}
    by_host: dict[str, list[Route]] = {}
    log: list[str] = []
    policies = EgPolicies(objs, parse_duration) if fl.name == "envoy-gateway" else None
    for o in objs:
        if o.get("kind") == "Ingress" and _serves_ingress(o, classes, fl):
            found = _ingress_routes(o, fl, resolver)
        elif o.get("kind") == "HTTPRoute":
            found = _httproute_routes(o, fl, resolver, policies)
        else:
            continue
        for host, routes in found.items():
            by_host.setdefault(host, []).extend(routes)
            log += [f"{r.source}: {host}{r.path} -> {r.cluster.name} upgrades={list(r.upgrades)} "
                    f"timeout={r.timeout:g}s" for r in routes]
    vhosts = []
    for host, routes in by_host.items():
        # Exact before prefix, longer paths first (how the controllers sort Envoy routes).
        ordered = sorted(routes, key=lambda r: (r.match != "exact", -len(r.path)))
        vhosts.append(VirtualHost((host,), tuple(ordered)))
    idle = fl.stream_idle_timeout
    listener = policies.stream_idle_timeout() if policies is not None else None
    if listener is not None:
        idle = listener[0]
        log.append(f"{listener[1]}: stream_idle_timeout={idle:g}s")
    if stream_idle_timeout is not None:  # set where no object shows it (tests of the unexplained cut)
        idle = stream_idle_timeout
    return EnvoyConfig(fl, tuple(vhosts), idle, tuple(log))


def with_settings(config: EnvoyConfig, **changes: Any) -> EnvoyConfig:
    """A copy with HCM-level settings changed (e.g. stream_idle_timeout from a policy)."""
    return replace(config, **changes)
