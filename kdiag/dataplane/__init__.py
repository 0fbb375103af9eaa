"""Data-plane profiles (DESIGN.md "Data-plane profiles"): one module per data plane.

`profile_for_controller` / `profile_for_class` pick the profile of a route's controller; route
resolution, rules and the verdict read data-plane facts from it. A new data plane is one module
here that defines `PROFILE`; the registry finds it (no `register` line needed).
"""

from __future__ import annotations

from kdiag.dataplane.base import (
    Affinity,
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
    profile_claiming,
    profile_for_annotation,
    profile_for_class,
    profile_for_controller,
    profile_for_image,
    profile_modules,
    profile_named,
    profiles,
    register,
    unregister,
)

__all__ = [
    "ASSUMED_INGRESS_PROFILE",
    "INGRESS_NGINX",
    "UNKNOWN",
    "Affinity",
    "Answer",
    "CanarySpec",
    "EffectiveValue",
    "PodAccess",
    "Profile",
    "TimeoutDefault",
    "Timeouts",
    "annotations_of",
    "is_true",
    "profile_claiming",
    "profile_for_annotation",
    "profile_for_class",
    "profile_for_controller",
    "profile_for_image",
    "profile_modules",
    "profile_named",
    "profiles",
    "register",
    "unregister",
]
