"""Envoy Gateway (envoyproxy/gateway @ d32f2829, v1.9.0): Envoy configured from Gateways, HTTPRoutes and its policy CRDs.

Facts and their sources: ../shared/reference/gateway-controllers-facts.md (and dataplane-facts.md §2); every source is
kept next to the fact it supports. Facts the sheet marks UNVERIFIED are listed in `unverified`.
The controllerName is the one the project's install manifests set.
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault
from kdiag.dataplane.envoy_gateway_policies import POLICY_KINDS, rule_timeouts

__all__ = ["PROFILE"]

PROFILE = Profile(
    name='envoy-gateway',
    controllers=frozenset({'gateway.envoyproxy.io/gatewayclass-controller'}),
    images=('envoyproxy/gateway', 'envoyproxy/envoy'),
    # internal/xds/translator/route.go defaultUpgradeConfig = [websocket]
    websocket_upgrade=True,
    websocket_off='BackendTrafficPolicy spec.httpUpgrade listing other types only, or spec.requestBuffer (Envoy then answers 403 upgrade_failed)',
    timeouts=(
        TimeoutDefault('request', 15, 'HTTPRoute rules[].timeouts.request or BackendTrafficPolicy spec.timeout.http.requestTimeout',
                       "site/content/en/latest/tasks/traffic/http-timeouts.md: Envoy's default route timeout 15s, 504 upstream request timeout"),
        TimeoutDefault('stream-idle', 300, 'BackendTrafficPolicy spec.timeout.http.streamIdleTimeout (ClientTrafficPolicy spec.timeout.http.streamIdleTimeout)',
                       'Envoy HCM stream_idle_timeout default 5 min; api/v1alpha1/timeout_types.go', websocket='idle', api='gateway'),
        TimeoutDefault('idle', 3600, 'ClientTrafficPolicy spec.timeout.http.idleTimeout',
                       'api/v1alpha1/timeout_types.go: default 1h'),
    ),
    no_route=Answer(404, 'no rule matches: Envoy answers 404',
                  'gateway-api spec (HTTPRouteRule.Matches: 404 when no rule matches)'),
    no_backend=Answer(500, 'invalid backendRefs (or all valid ones weight 0): 500 direct response',
                  'internal/gatewayapi/route.go ~L380-440'),
    no_endpoints=Answer(503, 'no ready endpoint: 503',
                  'envoyproxy/gateway#7938 (2026-01)'),
    pods=PodAccess(label_selectors=('app.kubernetes.io/name=envoy', 'app.kubernetes.io/component=proxy'), namespaces=('envoy-gateway-system',)),
    # internal/xds/translator/route.go getEffectiveRequestTimeout: HTTPRoute timeouts.request takes precedence
    route_timeouts=True,
    # ClientTrafficPolicy / BackendTrafficPolicy (gateway.envoyproxy.io/v1alpha1) set the timeouts above
    policy_kinds=POLICY_KINDS,
    rule_timeouts=rule_timeouts,
    unverified=(
    ),
)
