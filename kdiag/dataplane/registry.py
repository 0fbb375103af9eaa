"""The registry of data-plane profiles: which profile a controller name, image or class means.

A new data plane is one module that builds a `Profile` and one `register` call (in
`kdiag.dataplane.__init__`); nothing else names controllers.
"""

from __future__ import annotations

from kdiag.dataplane.base import Profile

__all__ = [
    "ASSUMED_INGRESS_PROFILE",
    "UNKNOWN",
    "profile_for_class",
    "profile_for_annotation",
    "profile_for_controller",
    "profile_for_image",
    "profile_named",
    "profiles",
    "register",
    "unregister",
]

#: A data plane kdiag does not know: no canary, regex or timeout model, no status claims.
UNKNOWN = Profile(name="unknown")

#: The profile kdiag's Ingress model assumes when it cannot see which controller serves an
#: Ingress (no IngressClass objects, as with manifests): the one it was built around.
ASSUMED_INGRESS_PROFILE = "ingress-nginx"

_PROFILES: dict[str, Profile] = {}


def register(profile: Profile) -> Profile:
    """Add (or replace) a profile; returns it."""
    if profile.name == UNKNOWN.name:
        raise ValueError("the unknown profile is built in")
    _PROFILES[profile.name] = profile
    return profile


def unregister(name: str) -> None:
    """Remove a profile (tests register fakes)."""
    _PROFILES.pop(name, None)


def profiles() -> tuple[Profile, ...]:
    """Every registered profile, in registration order (`unknown` excluded)."""
    return tuple(_PROFILES.values())


def profile_named(name: str) -> Profile:
    """A profile by name; `unknown` when there is none."""
    return _PROFILES.get(name, UNKNOWN)


def profile_for_controller(controller: str | None) -> Profile:
    """The profile of an IngressClass `spec.controller` / GatewayClass `spec.controllerName`;
    `unknown` when no profile recognises it (or it is None)."""
    return next((p for p in _PROFILES.values() if p.recognises(controller)), UNKNOWN)


def profile_for_image(image: str) -> Profile:
    """The profile of a controller pod image; `unknown` when no profile recognises it."""
    return next((p for p in _PROFILES.values() if p.recognises_image(image)), UNKNOWN)


def profile_for_annotation(key: str) -> Profile:
    """The profile whose annotation prefix `key` carries; `unknown` when none."""
    return next((p for p in _PROFILES.values() if p.honours(key)), UNKNOWN)


def profile_for_class(controller: str | None, class_name: str | None = None) -> Profile:
    """The profile serving an Ingress of class `class_name` whose IngressClass names `controller`.

    A known controller decides. When it is not known (the IngressClass is not visible), a
    profile whose default class name is `class_name` is used, else the assumed Ingress profile
    (kdiag's Ingress model has always assumed ingress-nginx there).
    """
    if controller:
        return profile_for_controller(controller)
    if class_name:
        named = next((p for p in _PROFILES.values() if class_name in p.class_names), None)
        if named is not None:
            return named
    return profile_named(ASSUMED_INGRESS_PROFILE)
