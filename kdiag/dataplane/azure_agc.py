"""Azure Application Gateway for Containers (AGC, the ALB Controller): a managed L7 LB in front of the pods.

Facts and their sources: ../shared/reference/gateway-controllers-facts.md "Azure Application Gateway
for Containers": MicrosoftDocs/azure-docs articles/application-gateway/for-containers/websockets.md
@0c4f6e4a and api-specification-kubernetes.md. GatewayClass/IngressClass `azure-alb-external` with
controller `alb.networking.azure.io/alb-controller` (the install's class, as shown by kubectl).
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault

__all__ = ["CONTROLLER_NAME", "PROFILE"]

CONTROLLER_NAME = "alb.networking.azure.io/alb-controller"
_WS = ("MicrosoftDocs/azure-docs articles/application-gateway/for-containers/websockets.md @0c4f6e4a")

PROFILE = Profile(
    name="azure-agc",
    controllers=frozenset({CONTROLLER_NAME}),
    class_names=frozenset({"azure-alb-external"}),
    images=("application-lb/images/alb-controller", "alb-controller"),
    cloud_lb=True,
    # websockets.md: "No configuration is required" (Gateway API) ...
    websocket_upgrade=True,
    # ... "WebSockets are only supported when using Gateway API" (not the Ingress API).
    ingress_websocket_upgrade=False,
    websocket_off=("Ingress API: WebSockets are not supported at all (use Gateway API); Gateway API: "
                   "the default health probe may mark a WebSocket-only backend unhealthy (HealthCheckPolicy)"),
    websocket_route_setting="none on the Ingress API: serve the route with Gateway API instead",
    timeouts=(
        # api-specification-kubernetes.md RoutePolicyConfig/RouteTimeouts; default UNVERIFIED.
        TimeoutDefault("route", None, "RoutePolicy (alb.networking.azure.io/v1) spec.default.timeouts.routeTimeout",
                       "api-specification-kubernetes.md (default UNVERIFIED)", api="gateway"),
    ),
    annotation_prefixes=("alb.networking.azure.io/",),
    no_route=Answer(404, "no rule matches: 404", "gateway-api spec (HTTPRouteRule.Matches: 404 when no rule matches)"),
    no_backend=Answer(500, "invalid backendRef: 500", "gateway-api spec (invalid backends get 500)"),
    no_endpoints=Answer(None, "no healthy backend: status not documented", "UNVERIFIED"),
    pods=PodAccess(label_selectors=("app=alb-controller",), namespaces=("azure-alb-system",)),
    unverified=(
        "RoutePolicy routeTimeout default and whether it bounds an upgraded WebSocket",
        "answer with no healthy backend",
        "controller pod image names",
    ),
)
