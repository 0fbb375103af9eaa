"""Data-plane profiles (DESIGN.md "Data-plane profiles"): one module per data plane.

`profile_for_controller` / `profile_for_class` pick the profile of a route's controller; route
resolution, rules and the verdict read data-plane facts from it. Register a new data plane
here: `register(my_plane.PROFILE)`.
"""

from __future__ import annotations

from kdiag.dataplane import (
    aws_lbc,
    cilium,
    envoy_gateway,
    gke_gateway,
    istio,
    kgateway,
    nginx_gateway_fabric,
    traefik_gateway,
)
from kdiag.dataplane.base import (
    Answer,
    CanarySpec,
    EffectiveValue,
    PodAccess,
    Profile,
    TimeoutDefault,
    Timeouts,
    annotations_of,
    is_true,
)
from kdiag.dataplane.ingress_nginx import PROFILE as INGRESS_NGINX
from kdiag.dataplane.registry import (
    ASSUMED_INGRESS_PROFILE,
    UNKNOWN,
    profile_for_annotation,
    profile_for_class,
    profile_for_controller,
    profile_for_image,
    profile_named,
    profiles,
    register,
    unregister,
)

__all__ = [
    "ASSUMED_INGRESS_PROFILE",
    "INGRESS_NGINX",
    "UNKNOWN",
    "Answer",
    "CanarySpec",
    "EffectiveValue",
    "PodAccess",
    "Profile",
    "TimeoutDefault",
    "Timeouts",
    "annotations_of",
    "is_true",
    "profile_for_annotation",
    "profile_for_class",
    "profile_for_controller",
    "profile_for_image",
    "profile_named",
    "profiles",
    "register",
    "unregister",
]

register(INGRESS_NGINX)
# Gateway API data planes, recognised by GatewayClass controllerName.
for _gw in (nginx_gateway_fabric, envoy_gateway, istio, cilium, kgateway, traefik_gateway, gke_gateway, aws_lbc):
    register(_gw.PROFILE)
