"""Contour (projectcontour/contour @ 31c4bb38): Envoy configured from Ingresses, HTTPProxies and Gateways.

Facts and their sources: ../shared/reference/dataplane-facts.md §2.3 and §3 ("Contour / Envoy"),
gateway-controllers-facts.md "Envoy behaviour shared by ..."; every source is kept next to the
fact it supports (contour paths are relative to https://github.com/projectcontour/contour).
Facts the sheet marks UNVERIFIED (or that kdiag infers) are listed in `unverified`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import yaml

from kdiag.dataplane.base import (
    Answer,
    PodAccess,
    Profile,
    RouteUpgrade,
    TimeoutDefault,
    annotations_of,
)
from kdiag.dataplane.effective import configmaps_matching, services_matching
from kdiag.shape import as_map, maps

__all__ = ["PREFIX", "PROFILE", "TIMEOUT_POLICY", "WEBSOCKET_ROUTES", "httpproxy_websockets", "route_prefix",
           "websocket_route_enabled"]

PREFIX = "projectcontour.io/"
#: site/content/docs/main/config/websockets.md: the Ingress annotation listing WebSocket paths.
WEBSOCKET_ROUTES = PREFIX + "websocket-routes"
_DOCS = "https://github.com/projectcontour/contour/blob/main/site/content/docs/main/"
_ENVOY_403 = ("envoyproxy/envoy conn_manager_impl.cc: an upgrade on a route without upgrade config "
              "gets 403 upgrade_failed (gateway-controllers-facts.md)")

#: site/content/docs/main/config/annotations.md (Ingress and Service annotations).
KNOWN_ANNOTATIONS = frozenset("""
    ingress.class num-retries per-try-timeout response-timeout retry-on tls-minimum-protocol-version
    tls-maximum-protocol-version websocket-routes tls-cert-namespace max-connections max-pending-requests
    max-requests max-retries per-host-max-connections upstream-protocol.h2 upstream-protocol.h2c
    upstream-protocol.tls
""".split())


def websocket_route_enabled(ingress: Mapping[str, Any], path: str) -> bool:
    """The Ingress lists `path` in `projectcontour.io/websocket-routes` (comma-separated paths)."""
    listed = {p.strip() for p in str(annotations_of(ingress).get(WEBSOCKET_ROUTES) or "").split(",") if p.strip()}
    return path in listed or (path.rstrip("/") or "/") in {p.rstrip("/") or "/" for p in listed}


#: HTTPProxy `routes[].timeoutPolicy` keys -> the profile's timeout names (dataplane-facts.md §3
#: "Contour / Envoy": `timeoutPolicy.{response,idle,idleConnection}`; docs config/request-routing.md).
TIMEOUT_POLICY = {"response": "response", "idle": "stream-idle", "idleConnection": "upstream-idle"}


def route_prefix(route: Mapping[str, Any]) -> str:
    """The path prefix of an HTTPProxy route or include (`conditions[].prefix`; "/" without one)."""
    return next((str(c.get("prefix")) for c in maps(route.get("conditions")) if c.get("prefix")), "/")


def httpproxy_websockets(proxy: Mapping[str, Any]) -> list[RouteUpgrade]:
    """Every route of an HTTPProxy with its `enableWebsockets` (docs config/websockets.md), its
    backend Services and the per-route `timeoutPolicy` it sets."""
    spec = as_map(proxy.get("spec"))
    host = str(as_map(spec.get("virtualhost")).get("fqdn") or "")
    out = []
    for i, route in enumerate(maps(spec.get("routes"))):
        where = f"spec.routes[{i}]"
        policy = as_map(route.get("timeoutPolicy"))
        timeouts = {name: (str(policy[key]), f"{where}.timeoutPolicy.{key}")
                    for key, name in TIMEOUT_POLICY.items() if policy.get(key) is not None}
        services = tuple((str(svc.get("name") or ""), svc.get("port")) for svc in maps(route.get("services")))
        first = services[0] if services else ("", None)
        out.append(RouteUpgrade(host, route_prefix(route), first[0], first[1], route.get("enableWebsockets") is True,
                                where=where, timeouts=timeouts, services=services))
    return out


def _config_file(key: str) -> Callable[[Mapping[str, Any], Mapping[str, Any] | None,
                                        Callable[[str], Iterable[Mapping[str, Any]]]], tuple[str, str] | None]:
    """Reads `timeouts.<key>` from the `contour.yaml` key of Contour's ConfigMap (configuration.md)."""
    def resolve(_ing: Mapping[str, Any], _svc: Mapping[str, Any] | None,
                lookup: Callable[[str], Iterable[Mapping[str, Any]]]) -> tuple[str, str] | None:
        for cm in _configmaps(lookup("ConfigMap")):
            text = as_map(cm.get("data")).get("contour.yaml")
            try:
                doc = yaml.safe_load(str(text)) if text else None
            except yaml.YAMLError:
                continue
            value = as_map(as_map(doc).get("timeouts")).get(key)
            if value is not None:
                md = as_map(cm.get("metadata"))
                return str(value), f"ConfigMap {md.get('namespace') or 'default'}/{md.get('name')} contour.yaml timeouts.{key}"
        return None
    return resolve


_configmaps = configmaps_matching(("contour",), ("contour",))

PROFILE = Profile(
    name="contour",
    # Contour's IngressClass controller and the Gateway provisioner's controllerName; installs may
    # use their own projectcontour.io/<namespace>/<name> (only Contour uses that domain).
    controllers=frozenset({"projectcontour.io/ingress-controller", "projectcontour.io/gateway-controller"}),
    controller_prefixes=("projectcontour.io/",),
    class_names=frozenset({"contour"}),
    images=("projectcontour/contour",),
    # §2.3: "If you are using Gateway API, websockets are enabled by default at the Listener level."
    websocket_upgrade=True,
    # §3 "Contour / Envoy": WebSockets must be enabled per route for Ingress/HTTPProxy.
    ingress_websocket_upgrade=False,
    websocket_off=("Ingress/HTTPProxy: off unless enabled per route (annotation projectcontour.io/websocket-routes, "
                   "HTTPProxy routes[].enableWebsockets: true); Envoy answers 403 to the upgrade otherwise"),
    websocket_route_setting=f"{WEBSOCKET_ROUTES} annotation (HTTPProxy: routes[].enableWebsockets: true)",
    websocket_route_enabled=websocket_route_enabled,
    route_kinds=("HTTPProxy",),
    route_websockets=httpproxy_websockets,
    route_timeout_fields={name: f"timeoutPolicy.{key}" for key, name in TIMEOUT_POLICY.items()},
    timeouts=(
        # §3: route response timeout 15 s (Envoy default), per route; it bounds the handshake, not an
        # established WebSocket (Envoy route timeout ends with the response headers).
        TimeoutDefault("response", 15, f"{PREFIX}response-timeout annotation (HTTPProxy routes[].timeoutPolicy.response)",
                       _DOCS + "config/request-routing.md", annotation=PREFIX + "response-timeout", unit="duration"),
        # §3: Envoy stream-idle-timeout 5 min, HCM-wide, kills idle upgraded streams.
        TimeoutDefault("stream-idle", 300, "Contour configuration timeouts.stream-idle-timeout (ConfigMap contour, "
                       "contour.yaml; HTTPProxy routes[].timeoutPolicy.idle per route)",
                       _DOCS + "configuration.md; 5-min default: pomerium/pomerium#1744, envoyproxy/gateway#4349",
                       "stream-idle-timeout", unit="duration", websocket="idle",
                       resolve=_config_file("stream-idle-timeout"),
                       example=("`timeouts: {stream-idle-timeout: 1h}` in `contour.yaml` of the `contour` ConfigMap "
                                "(or `timeoutPolicy: {idle: 1h}` on the HTTPProxy route)")),
        TimeoutDefault("connection-idle", 60, "Contour configuration timeouts.connection-idle-timeout",
                       _DOCS + "configuration.md", unit="duration", resolve=_config_file("connection-idle-timeout")),
        TimeoutDefault("upstream-idle", 3600, "HTTPProxy routes[].timeoutPolicy.idleConnection",
                       _DOCS + "config/request-routing.md"),
    ),
    annotation_prefixes=(PREFIX,),
    known_annotations=KNOWN_ANNOTATIONS,
    no_route=Answer(404, "no route matches: Envoy answers 404", "Envoy route table (gateway-api spec: 404)",
                    who="Envoy's 404"),
    no_backend=Answer(None, "the backend Service does not exist: not documented", "UNVERIFIED"),
    no_endpoints=Answer(503, "no healthy upstream: Envoy answers 503", "Envoy (gateway-api spec SHOULD 503) [INFER]"),
    # The Envoy Service traffic enters by: `envoy` (app=envoy) in Contour's quickstart manifests,
    # `<release>-envoy` (app.kubernetes.io/component=envoy) in the Helm chart. UNVERIFIED: chart
    # labels as the lab writes them, not checked against the chart here.
    pods=PodAccess(label_selectors=("app=envoy", "app.kubernetes.io/component=envoy"),
                   namespaces=("projectcontour",), service_names=("envoy", "contour-envoy"),
                   app_names=("contour",), configmap_names=("contour",)),
    controller_configmaps=_configmaps,
    controller_service=services_matching((), ("envoy", "contour-envoy")),
    route_timeouts=None,  # not in the fact sheets
    unverified=(
        "answer for a missing backend Service",
        "503 with no endpoints (Envoy behaviour, not read in Contour)",
        "Envoy 403 on an upgrade to a route without enableWebsockets (Envoy source, not Contour's)",
    ),
)
