"""kgateway (kgateway-dev/kgateway.dev docs @ 85cd0fc8; code @ 06ff8b9d): Envoy.

Facts and their sources: ../shared/reference/gateway-controllers-facts.md (and dataplane-facts.md §2); every source is
kept next to the fact it supports. Facts the sheet marks UNVERIFIED are listed in `unverified`.
The controllerName is the one the project's install manifests set.
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault

__all__ = ["PROFILE"]

PROFILE = Profile(
    name='kgateway',
    controllers=frozenset({'kgateway.dev/kgateway'}),
    images=('kgateway-dev/envoy-wrapper', 'kgateway'),
    # internal/kgateway/translator/irtranslator/fc.go: "TODO: should we enable websockets by default?"
    websocket_upgrade=False,
    websocket_off='off by default: enable with HTTPListenerPolicy spec.upgradeConfig.enabledUpgrades: [websocket] (or ListenerPolicy spec.default.httpSettings.upgradeConfig); Envoy answers 403 upgrade_failed',
    timeouts=(
        TimeoutDefault('request', 15, 'HTTPRoute rules[].timeouts.request or TrafficPolicy spec.timeouts.request',
                       'docs resiliency/timeouts: route-level timeout 15 seconds'),
        TimeoutDefault('stream-idle', 300, 'TrafficPolicy spec.timeouts.streamIdle',
                       'docs resiliency/timeouts: stream idle 5 min, 408', websocket='idle', api='gateway'),
        TimeoutDefault('idle', 3600, 'ListenerPolicy spec.default.httpSettings.idleTimeout',
                       'docs resiliency/timeouts: connection idle 1 h'),
    ),
    no_route=Answer(404, 'no rule matches: Envoy answers 404',
                  'gateway-api spec (HTTPRouteRule.Matches: 404 when no rule matches)'),
    no_backend=Answer(500, 'invalid backendRef: 500',
                  'gateway-api spec (HTTPRouteRule.BackendRefs: invalid backends get 500)'),
    no_endpoints=Answer(503, 'no healthy upstream: 503',
                  'gateway-api spec (SHOULD 503, kubernetes-sigs/gateway-api#3121)'),
    pods=PodAccess(label_selectors=('gateway.networking.k8s.io/gateway-name',), namespaces=()),
    # docs resiliency/timeouts: HTTPRoute timeouts.request sets the route timeout
    route_timeouts=True,
    unverified=(
    ),
)
