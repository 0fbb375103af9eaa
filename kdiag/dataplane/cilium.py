"""Cilium Gateway API (cilium/cilium, generated CiliumEnvoyConfig testdata @22b6ad89/@5e0275f7): Envoy in the agent.

Facts and their sources: ../shared/reference/gateway-controllers-facts.md (and dataplane-facts.md §2); every source is
kept next to the fact it supports. Facts the sheet marks UNVERIFIED are listed in `unverified`.
The controllerName is the one the project's install manifests set.
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault

__all__ = ["PROFILE"]

PROFILE = Profile(
    name='cilium',
    controllers=frozenset({'io.cilium/gateway-controller'}),
    images=('cilium/cilium-envoy', 'cilium/cilium'),
    # operator/pkg/model/translation/gateway-api/testdata/basic_http_listener/cec-output.yaml: upgradeConfigs websocket
    websocket_upgrade=True,
    websocket_off='nothing known (upgrades are configured on every HCM)',
    timeouts=(
        TimeoutDefault('request', None, 'HTTPRoute rules[].timeouts.request',
                       'cec-output.yaml: maxStreamDuration 0s, no route timeout (cilium/cilium#31514)'),
        TimeoutDefault('stream-idle', 300, 'Helm envoy.streamIdleTimeoutDurationSeconds (flag proxy-stream-idle-timeout-seconds)',
                       'cec-output.yaml streamIdleTimeout: 300s; cilium/cilium#34582', websocket='idle', api='gateway'),
        TimeoutDefault('upstream-idle', 60, 'Helm envoy.idleTimeoutDurationSeconds',
                       'cec-output.yaml cluster idleTimeout 60s'),
    ),
    no_route=Answer(404, 'no rule matches: Envoy answers 404',
                  'gateway-api spec (HTTPRouteRule.Matches: 404 when no rule matches)'),
    no_backend=Answer(500, 'invalid backendRef: 500',
                  'gateway-api spec (HTTPRouteRule.BackendRefs: invalid backends get 500)'),
    no_endpoints=Answer(503, 'no healthy upstream: 503',
                  'gateway-api spec (SHOULD 503, kubernetes-sigs/gateway-api#3121)'),
    pods=PodAccess(label_selectors=('k8s-app=cilium',), namespaces=('kube-system',)),
    # conformance v1.6 report standard-v1.20.0: HTTPRouteRequestTimeout supported
    route_timeouts=True,
    unverified=(
        'newest translation code not read (repository too big); facts from indexed testdata',  # UNVERIFIED in gateway-controllers-facts.md
    ),
)
