"""NGINX Gateway Fabric (nginx/nginx-gateway-fabric @ e55bfe33, v2.6.7): nginx rendered from Gateways and HTTPRoutes.

Facts and their sources: ../shared/reference/gateway-controllers-facts.md (and dataplane-facts.md §2); every source is
kept next to the fact it supports. Facts the sheet marks UNVERIFIED are listed in `unverified`.
The controllerName is the one the project's install manifests set.
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault

__all__ = ["PROFILE"]

PROFILE = Profile(
    name='nginx-gateway-fabric',
    controllers=frozenset({'gateway.nginx.org/nginx-gateway-controller'}),
    images=('nginx-gateway-fabric', 'nginx/nginx-gateway'),
    # internal/controller/nginx/config/servers.go updateLocationProxySettings: Upgrade/Connection headers on every location
    websocket_upgrade=True,
    websocket_off='every valid backend has appProtocol kubernetes.io/h2c (proxy_http_version 2, no Upgrade headers; #5308)',
    timeouts=(
        TimeoutDefault('read', 60, 'ProxySettingsPolicy (gateway.nginx.org/v1alpha1) spec.timeout.read',
                       'internal/controller/nginx/conf/nginx.conf sets none: nginx default proxy_read_timeout 60s', websocket='idle', api='gateway'),
        TimeoutDefault('send', 60, 'ProxySettingsPolicy spec.timeout.send',
                       'nginx default proxy_send_timeout 60s', websocket='idle', api='gateway'),
        TimeoutDefault('connect', 60, 'ProxySettingsPolicy spec.timeout.connect',
                       'nginx default proxy_connect_timeout 60s'),
    ),
    no_route=Answer(404, 'no rule matches: NGF answers 404',
                  'gateway-api spec (HTTPRouteRule.Matches: 404 when no rule matches)'),
    no_backend=Answer(500, 'invalid backendRef (or every weight 0): upstream invalid-backend-ref answers 500',
                  'split_clients.go, upstreams.go, servers_template.go: `return 500`'),
    no_endpoints=Answer(503, 'no ready endpoint: nginx-503-server.sock answers 503',
                  'servers_template.go: nginx-503-server.sock `return 503`'),
    pods=PodAccess(label_selectors=('app.kubernetes.io/name=nginx-gateway-fabric',), namespaces=('nginx-gateway',)),
    # internal/controller/state/graph/httproute.go checkForUnsupportedHTTPFields: timeouts ignored, reason UnsupportedField
    route_timeouts=False,
    unverified=(
    ),
)
