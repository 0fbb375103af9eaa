"""AWS Load Balancer Controller (kubernetes-sigs/aws-load-balancer-controller @ 225f4456, v3.5.0): ALB/NLB.

Gateway API (controllerName gateway.k8s.aws/alb|nlb) and Ingress (IngressClass controller
ingress.k8s.aws/alb, annotations alb.ingress.kubernetes.io/*, docs/guide/ingress/annotations.md)
are one data plane, an ALB in front of the pods: one profile.

Facts and their sources: ../shared/reference/gateway-controllers-facts.md (and dataplane-facts.md §2); every source is
kept next to the fact it supports. Facts the sheet marks UNVERIFIED are listed in `unverified`.
The controllerName is the one the project's install manifests set.
"""

from __future__ import annotations

import difflib
import functools

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault
from kdiag.dataplane.effective import attribute

PREFIX = "alb.ingress.kubernetes.io/"
_ANN = "https://github.com/kubernetes-sigs/aws-load-balancer-controller/blob/main/docs/guide/ingress/annotations.md"
#: docs/guide/ingress/annotations.md (annotation table); `actions.*`, `conditions.*` and
#: `listener-attributes.*` take a name after the dot.
KNOWN_ANNOTATIONS = frozenset("""
    load-balancer-name group.name group.order tags ip-address-type scheme subnets security-groups
    customer-owned-ipv4-pool load-balancer-attributes wafv2-acl-arn waf-acl-id shield-advanced-protection
    listen-ports ssl-redirect inbound-cidrs certificate-arn ssl-policy target-type backend-protocol
    backend-protocol-version target-group-attributes healthcheck-port healthcheck-protocol healthcheck-path
    healthcheck-interval-seconds healthcheck-timeout-seconds healthy-threshold-count unhealthy-threshold-count
    success-codes auth-type auth-idp-cognito auth-idp-oidc auth-on-unauthenticated-request auth-scope
    auth-session-cookie auth-session-timeout target-node-labels manage-backend-security-group-rules
    mutual-authentication security-group-prefix-lists
""".split())
_PATTERNS = ("actions.", "conditions.", "listener-attributes.", "frontend-nlb-")


@functools.lru_cache(maxsize=256)
def closest_annotation(name: str) -> str | None:
    """The documented annotation a misspelt one was meant to be (None: not close to any, or a
    pattern such as `actions.<name>`)."""
    if name.startswith(_PATTERNS):
        return None
    found = difflib.get_close_matches(name, sorted(KNOWN_ANNOTATIONS), n=1, cutoff=0.8)
    return found[0] if found else None


__all__ = ["PROFILE"]

PROFILE = Profile(
    name='aws-alb',
    controllers=frozenset({'gateway.k8s.aws/alb', 'gateway.k8s.aws/nlb', 'ingress.k8s.aws/alb'}),
    # The class name "alb" is also Alibaba Cloud's (dataplane-facts.md §3 caveat): it claims nothing.
    claims_class_name=lambda _name: False,
    cloud_lb=True,
    images=('aws-load-balancer-controller',),
    # ALB forwards WebSocket upgrades natively [INFER: no toggle in docs/guide/gateway/l7gateway.md]
    websocket_upgrade=True,
    websocket_off='nothing known',
    timeouts=(
        TimeoutDefault('idle', 60, 'LoadBalancerConfiguration (gateway.k8s.aws/v1) spec.loadBalancerAttributes idle_timeout.timeout_seconds',
                       'docs/guide/gateway/customization.md; ALB idle timeout default 60 s (dataplane-facts.md)',
                       websocket='idle', api='gateway'),
        # dataplane-facts.md §3: ALB connection idle timeout 60 s (1-4000), Ingress annotation.
        TimeoutDefault('idle', 60, f'{PREFIX}load-balancer-attributes: idle_timeout.timeout_seconds=<seconds>',
                       _ANN + '; docs.aws.amazon.com edit-load-balancer-attributes (60 s default)',
                       'ALB idle timeout', annotation=PREFIX + 'load-balancer-attributes',
                       extract=attribute('idle_timeout.timeout_seconds'), websocket='idle', api='ingress',
                       example=f'`{PREFIX}load-balancer-attributes: idle_timeout.timeout_seconds=3600` on the Ingress'),
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
    annotation_prefixes=(PREFIX,),
    known_annotations=KNOWN_ANNOTATIONS,
    closest_annotation=closest_annotation,
    # docs/guide/gateway/l7gateway.md: HTTPRoute timeouts not supported; conformance v1.6 Partially Conformant
    route_timeouts=False,
    unverified=(
        'ALB answers for no route / no healthy target',  # UNVERIFIED in gateway-controllers-facts.md
        'WebSocket forwarding default',  # UNVERIFIED in gateway-controllers-facts.md
    ),
)
