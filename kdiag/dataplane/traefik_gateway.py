"""Traefik Proxy (traefik/traefik @ fd5a576d, v3.7.9): its Gateway API and Kubernetes Ingress providers.

One data plane serves both APIs, so one profile: the GatewayClass controllerName and the
IngressClass controller (`traefik.io/ingress-controller`) both name it. The Ingress-side facts
are in dataplane-facts.md §3 ("Traefik v3").

Facts and their sources: ../shared/reference/gateway-controllers-facts.md (and dataplane-facts.md §2); every source is
kept next to the fact it supports. Facts the sheet marks UNVERIFIED are listed in `unverified`.
The controllerName is the one the project's install manifests set.
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault
from kdiag.dataplane.effective import services_matching

__all__ = ["PROFILE"]

PROFILE = Profile(
    name='traefik',
    controllers=frozenset({'traefik.io/gateway-controller', 'traefik.io/ingress-controller'}),
    class_names=frozenset({'traefik'}),
    # docker.io/traefik:v3.x, rancher/mirrored-library-traefik (RKE2/k3s); not traefik/whoami
    images=('traefik:v', 'library/traefik:', 'library-traefik:'),
    # Go reverse proxy handles Upgrade; pkg/provider/kubernetes/gateway/features.go lists HTTPRouteBackendProtocolWebSocket
    websocket_upgrade=True,
    websocket_off='nothing known (no per-route toggle)',
    # Ingress annotations (dataplane-facts.md §3): routers/services are set with this prefix; the
    # entrypoint timeouts are static configuration, not annotations.
    annotation_prefixes=('traefik.ingress.kubernetes.io/',),
    timeouts=(
        TimeoutDefault('read', 60, 'static config entryPoints.<name>.transport.respondingTimeouts.readTimeout',
                       'pkg/config/static/static_config.go DefaultReadTimeout 60s (does not bound an upgraded WebSocket)'),
        TimeoutDefault('idle', 180, 'entryPoints.<name>.transport.respondingTimeouts.idleTimeout',
                       'pkg/server/server_entrypoint_tcp.go IdleTimeout 180s (between keep-alive requests)'),
    ),
    no_route=Answer(404, 'no rule matches: Traefik answers 404 page not found',
                  'gateway-api spec (HTTPRouteRule.Matches: 404 when no rule matches)'),
    no_backend=Answer(500, 'invalid backendRef: 500',
                  'gateway-api spec (HTTPRouteRule.BackendRefs: invalid backends get 500)'),
    no_endpoints=Answer(503, 'no server: 503',
                  'gateway-api spec (SHOULD 503, kubernetes-sigs/gateway-api#3121)'),
    pods=PodAccess(label_selectors=('app.kubernetes.io/name=traefik',), namespaces=(), app_names=('traefik',)),
    controller_service=services_matching(('traefik',)),
    # features.go: no HTTPRouteRequestTimeout; httproute.go never reads rule.Timeouts; v1.6 conformance report
    route_timeouts=False,
    unverified=(
        'whether idleTimeout 180s closes idle WebSockets in v3 (code reasoning says no)',  # UNVERIFIED in gateway-controllers-facts.md
        'whether readTimeout applies after a WebSocket upgrade in v3',  # UNVERIFIED in dataplane-facts.md §3
        'Ingress provider answer with no endpoints (allowEmptyServices)',
    ),
)
