"""GKE Gateway (gke-l7-* GatewayClasses): a Google Cloud Application Load Balancer in front of the pods.

Facts and their sources: ../shared/reference/gateway-controllers-facts.md (and dataplane-facts.md §2); every source is
kept next to the fact it supports. Facts the sheet marks UNVERIFIED are listed in `unverified`.
The controllerName is the one the project's install manifests set.
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault

__all__ = ["PROFILE"]

PROFILE = Profile(
    name='gke',
    controllers=frozenset({'networking.gke.io/gateway'}),
    images=(),
    # Google Application LBs proxy WebSockets; the backend service timeout bounds their lifetime [DOC3P]
    websocket_upgrade=True,
    websocket_off='nothing known',
    timeouts=(
        TimeoutDefault('backend', 30, 'GCPBackendPolicy (networking.gke.io/v1) spec.default.timeoutSec',
                       "Compute API BackendService.timeoutSec default 30s; bounds a WebSocket's whole lifetime [DOC3P]"),
    ),
    no_route=Answer(404, 'no rule matches: the load balancer answers 404',
                  'gateway-api spec (HTTPRouteRule.Matches: 404 when no rule matches)'),
    no_backend=Answer(None, 'invalid backend: status not documented',
                  'UNVERIFIED'),
    no_endpoints=Answer(None, 'no healthy backend (failed_to_pick_backend): 502/503 not confirmed',
                  'UNVERIFIED: cloud.google.com troubleshooting page names statusDetails only'),
    pods=PodAccess(label_selectors=(), namespaces=()),
    # conformance/reports/v1.6/gke-gateway: HTTPRouteRequestTimeout unsupported
    route_timeouts=False,
    unverified=(
        'status codes for backend_timeout / failed_to_pick_backend',  # UNVERIFIED in gateway-controllers-facts.md
        'no-backend answer',  # UNVERIFIED in gateway-controllers-facts.md
    ),
)
