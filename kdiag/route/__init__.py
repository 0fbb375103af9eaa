"""Route resolution: which Ingress rule, canary and backend a controller picks for a URL.

Pure over a `Snapshot`. `target` parses a URL and headers into a `Target`; `classes` decides
each Ingress's IngressClass and data-plane profile; `ingress` resolves the route (host and path
`match`, `canary`, `backend` followed down to Service, `ports`, endpoints and pods) into a
`resolution.Resolution`; `gateway` does the same for Gateway API routes (`listeners`,
`httproute`, `gateway_backends`, `referencegrant`, `gateway_classes`); `choose` picks between an
Ingress and an HTTPRoute serving one host; `listing` lists every route for the TUI's route list.
"""

from __future__ import annotations

from kdiag.route.backend import (
    BackendInfo,
    BackendRef,
    EndpointInfo,
    PodPort,
    backend_ref,
    find_service_port,
    resolve_backend,
)
from kdiag.route.canary import CanaryDecision, canary_decide
from kdiag.route.choose import gateway_resolution, resolve_route
from kdiag.route.classes import (
    ClassDecision,
    claiming_profile,
    class_decision,
    ingress_profile,
    ingress_ref,
)
from kdiag.route.gateway import GatewaySide, resolve_gateway
from kdiag.route.ingress import ingress_rules, rule_paths
from kdiag.route.listing import RouteEntry, list_routes
from kdiag.route.match import PathCandidate, path_match, pick_path, spec_prefix_match
from kdiag.route.ports import resolve_target_port
from kdiag.route.resolution import Candidate, Resolution, RuleMatch
from kdiag.route.target import (
    Target,
    header_get,
    looks_like_websocket,
    normalize_path,
    parse_target,
)

__all__ = [
    "BackendInfo",
    "BackendRef",
    "Candidate",
    "CanaryDecision",
    "ClassDecision",
    "EndpointInfo",
    "GatewaySide",
    "PathCandidate",
    "PodPort",
    "Resolution",
    "RouteEntry",
    "RuleMatch",
    "Target",
    "backend_ref",
    "canary_decide",
    "claiming_profile",
    "class_decision",
    "find_service_port",
    "gateway_resolution",
    "header_get",
    "ingress_profile",
    "ingress_ref",
    "ingress_rules",
    "list_routes",
    "looks_like_websocket",
    "normalize_path",
    "parse_target",
    "path_match",
    "pick_path",
    "resolve_backend",
    "resolve_gateway",
    "resolve_route",
    "resolve_target_port",
    "rule_paths",
    "spec_prefix_match",
]
