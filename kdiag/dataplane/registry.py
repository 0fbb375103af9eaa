"""The registry of data-plane profiles: which profile a controller name, image or class means.

A new data plane is one module in the `kdiag.dataplane` package that defines a module-level
`PROFILE` (a `Profile`): the registry finds every such module on first use (pkgutil, once,
in module-name order), so nothing else names controllers. `register`/`unregister` add and remove
profiles by hand (tests register fakes).
"""

from __future__ import annotations

import importlib
import pkgutil
import threading

from kdiag.dataplane.base import Profile

__all__ = [
    "ASSUMED_INGRESS_PROFILE",
    "UNKNOWN",
    "profile_claiming",
    "profile_for_class",
    "profile_for_annotation",
    "profile_for_controller",
    "profile_for_image",
    "profile_named",
    "profile_modules",
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
_discovered = False  # discovery has started (a profile module may register while it is imported)
_complete = False  # every module has been imported
#: Any thread may be the first to ask (kdiag reads clusters and resolves routes in worker threads,
#: the TUI renders in its own): a second one waits for the discovery instead of seeing half of it.
_discovery_lock = threading.RLock()

#: Modules of the package that are not data planes.
_NOT_PROFILES = frozenset({"base", "registry", "effective"})


def profile_modules() -> list[str]:
    """The names of the modules of `kdiag.dataplane` that may define a `PROFILE`, sorted."""
    package = importlib.import_module(__package__ or "kdiag.dataplane")
    return sorted(f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)
                  if not m.ispkg and m.name not in _NOT_PROFILES and not m.name.startswith("_"))


def _discover() -> None:
    """Register the `PROFILE` of every module of the package (once; later calls do nothing)."""
    global _discovered, _complete
    if _complete:
        return
    with _discovery_lock:
        if _discovered:
            return
        _discovered = True
        for name in profile_modules():
            profile = getattr(importlib.import_module(name), "PROFILE", None)
            if isinstance(profile, Profile) and profile.name not in _PROFILES:
                _PROFILES[profile.name] = profile
        _complete = True


def register(profile: Profile) -> Profile:
    """Add (or replace) a profile; returns it."""
    _discover()
    if profile.name == UNKNOWN.name:
        raise ValueError("the unknown profile is built in")
    _PROFILES[profile.name] = profile
    return profile


def unregister(name: str) -> None:
    """Remove a profile (tests register fakes)."""
    _discover()
    _PROFILES.pop(name, None)


def profiles() -> tuple[Profile, ...]:
    """Every registered profile, in registration order (`unknown` excluded)."""
    _discover()
    return tuple(_PROFILES.values())


def profile_named(name: str) -> Profile:
    """A profile by name; `unknown` when there is none."""
    _discover()
    return _PROFILES.get(name, UNKNOWN)


def profile_for_controller(controller: str | None) -> Profile:
    """The profile of an IngressClass `spec.controller` / GatewayClass `spec.controllerName`;
    `unknown` when no profile recognises it (or it is None)."""
    _discover()
    return next((p for p in _PROFILES.values() if p.recognises(controller)), UNKNOWN)


def profile_for_image(image: str) -> Profile:
    """The profile of a controller pod image; `unknown` when no profile recognises it."""
    _discover()
    return next((p for p in _PROFILES.values() if p.recognises_image(image)), UNKNOWN)


def profile_for_annotation(key: str) -> Profile:
    """The profile whose annotation prefix `key` carries; `unknown` when none."""
    _discover()
    return next((p for p in _PROFILES.values() if p.honours(key)), UNKNOWN)


def profile_claiming(controller: str | None, class_name: str | None) -> Profile:
    """Like `profile_for_class`, but strict where the IngressClass is not visible: a named class
    no profile claims (`Profile.claims_class`) is `unknown`, not the assumed profile. For claims
    that only hold for one data plane (its annotations, its answers)."""
    if controller:
        return profile_for_controller(controller)
    _discover()
    if class_name:
        return next((p for p in _PROFILES.values() if p.claims_class(class_name)), UNKNOWN)
    return profile_named(ASSUMED_INGRESS_PROFILE)


def profile_for_class(controller: str | None, class_name: str | None = None) -> Profile:
    """The profile serving an Ingress of class `class_name` whose IngressClass names `controller`.

    A known controller decides. When it is not known (the IngressClass is not visible), a
    profile whose default class name is `class_name` is used, else the assumed Ingress profile
    (kdiag's Ingress model has always assumed ingress-nginx there).
    """
    if controller:
        return profile_for_controller(controller)
    _discover()
    if class_name:
        named = next((p for p in _PROFILES.values() if class_name in p.class_names), None)
        if named is not None:
            return named
    return profile_named(ASSUMED_INGRESS_PROFILE)
