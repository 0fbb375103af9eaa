"""Istio in Gateway API mode (istio/istio @ 86c9f01f, 1.30.3; 1.31 beta): Envoy programmed by istiod.

Facts and their sources: ../shared/reference/gateway-controllers-facts.md (and dataplane-facts.md §2); every source is
kept next to the fact it supports. Facts the sheet marks UNVERIFIED are listed in `unverified`.
The controllerName is the one the project's install manifests set.
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault

__all__ = ["PROFILE"]

PROFILE = Profile(
    name='istio',
    controllers=frozenset({'istio.io/gateway-controller'}),
    images=('istio/proxyv2',),
    # pilot/pkg/networking/core/listener_builder.go: UpgradeConfigs websocket on every HCM
    websocket_upgrade=True,
    websocket_off='nothing in Gateway API mode (upgrades are allowed on every HCM)',
    timeouts=(
        TimeoutDefault('request', None, 'HTTPRoute rules[].timeouts.request (VirtualService timeout)',
                       'pilot/pkg/networking/core/route/route.go setTimeout: route timeout disabled unless set'),
        TimeoutDefault('stream-idle', None, 'ProxyConfig connectionSettings httpStreamIdleTimeout (1.31 EDGE profile: 300s)',
                       'listener_builder.go StreamIdleTimeout 0s; istio/istio#60576 EDGE profile 300s', websocket='idle', api='gateway'),
        TimeoutDefault('idle', 3600, 'ISTIO_META_IDLE_TIMEOUT proxy metadata',
                       'Envoy default 1h'),
    ),
    no_route=Answer(404, 'no rule matches: Envoy answers 404',
                  'gateway-api spec (HTTPRouteRule.Matches: 404 when no rule matches)'),
    no_backend=Answer(500, 'invalid backendRef: 500',
                  'gateway-api spec (HTTPRouteRule.BackendRefs: invalid backends get 500)'),
    no_endpoints=Answer(503, 'no healthy upstream: 503',
                  'gateway-api spec (SHOULD 503, kubernetes-sigs/gateway-api#3121)'),
    pods=PodAccess(label_selectors=('gateway.istio.io/managed=istio.io-gateway-controller',), namespaces=()),
    # pilot/pkg/config/kube/gateway/conversion.go: timeouts.request -> route timeout
    route_timeouts=True,
    unverified=(
    ),
)
