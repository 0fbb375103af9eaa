"""AWS Load Balancer Controller Gateway API (kubernetes-sigs/aws-load-balancer-controller @ 225f4456, v3.5.0): ALB/NLB.

Facts and their sources: ../shared/reference/gateway-controllers-facts.md (and dataplane-facts.md §2); every source is
kept next to the fact it supports. Facts the sheet marks UNVERIFIED are listed in `unverified`.
The controllerName is the one the project's install manifests set.
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault

__all__ = ["PROFILE"]

PROFILE = Profile(
    name='aws-alb',
    controllers=frozenset({'gateway.k8s.aws/alb', 'gateway.k8s.aws/nlb'}),
    images=('aws-load-balancer-controller',),
    # ALB forwards WebSocket upgrades natively [INFER: no toggle in docs/guide/gateway/l7gateway.md]
    websocket_upgrade=True,
    websocket_off='nothing known',
    timeouts=(
        TimeoutDefault('idle', 60, 'LoadBalancerConfiguration (gateway.k8s.aws/v1) spec.loadBalancerAttributes idle_timeout.timeout_seconds',
                       'docs/guide/gateway/customization.md; ALB idle timeout default 60 s (dataplane-facts.md)'),
        TimeoutDefault('nlb-tcp-idle', 350, 'LoadBalancerConfiguration spec.listenerConfigurations[].listenerAttributes tcp.idle_timeout.seconds',
                       'docs.aws.amazon.com NLB update-idle-timeout: default 350 s'),
    ),
    no_route=Answer(404, "no rule matches: the ALB's default action answers 404 [UNVERIFIED]",
                  'UNVERIFIED'),
    no_backend=Answer(None, 'not known',
                  'UNVERIFIED'),
    no_endpoints=Answer(503, 'no healthy target: ALB answers 503 [UNVERIFIED]',
                  'UNVERIFIED'),
    pods=PodAccess(label_selectors=(), namespaces=()),
    # docs/guide/gateway/l7gateway.md: HTTPRoute timeouts not supported; conformance v1.6 Partially Conformant
    route_timeouts=False,
    unverified=(
        'ALB answers for no route / no healthy target',  # UNVERIFIED in gateway-controllers-facts.md
        'WebSocket forwarding default',  # UNVERIFIED in gateway-controllers-facts.md
    ),
)
