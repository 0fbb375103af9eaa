"""IngressClass decisions: which class an Ingress belongs to, whether the modelled controller
serves it (ingress-nginx's store.go `GetIngressClass`), and the data-plane profile it gets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.dataplane import (
    ASSUMED_INGRESS_PROFILE,
    UNKNOWN,
    Profile,
    annotations_of,
    is_true,
    profile_claiming,
    profile_for_class,
    profile_for_controller,
    profile_named,
)
from kdiag.shape import sub
from kdiag.snapshot import Snapshot, obj_key

__all__ = ["ClassDecision", "claiming_profile", "class_decision", "ingress_profile", "ingress_ref"]


def ingress_ref(ingress: Mapping[str, Any]) -> str:
    _, ns, name = obj_key(ingress)
    return f"{ns or 'default'}/{name}"


@dataclass(frozen=True)
class ClassDecision:
    """Which IngressClass an Ingress belongs to, and whether the controller serves it."""

    ingress: str
    class_name: str | None
    source: str  # "spec" | "annotation" | "default" | "none"
    exists: bool | None  # None: IngressClass objects unknown (manifests or not readable)
    controller: str | None
    accepted: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"ingress": self.ingress, "class": self.class_name, "source": self.source,
                "exists": self.exists, "controller": self.controller,
                "accepted": self.accepted, "reason": self.reason}

    @property
    def profile(self) -> Profile:
        """The data-plane profile of this Ingress's controller (see `profile_for_class`)."""
        return profile_for_class(self.controller, self.class_name)


@dataclass(frozen=True)
class _ClassIndex:
    """The IngressClasses of a snapshot, indexed once (not once per Ingress: that was quadratic)."""

    classes: Mapping[str, Mapping[str, Any]]
    defaults: tuple[Mapping[str, Any], ...]
    model_classes: frozenset[str]  # classes whose controller the assumed profile recognises


def _class_index(snapshot: Snapshot) -> _ClassIndex:
    cached = snapshot.__dict__.get("_kdiag_class_index")
    if isinstance(cached, _ClassIndex):
        return cached
    model = profile_named(ASSUMED_INGRESS_PROFILE)
    listed = snapshot.list("IngressClass")
    classes = {str(sub(c, "metadata").get("name")): c for c in listed}
    index = _ClassIndex(
        classes=classes,
        defaults=tuple(c for c in listed
                       if is_true(annotations_of(c).get("ingressclass.kubernetes.io/is-default-class"))),
        model_classes=frozenset(n for n, c in classes.items()
                                if model.recognises(str(sub(c, "spec").get("controller")))),
    )
    object.__setattr__(snapshot, "_kdiag_class_index", index)  # a snapshot never changes
    return index


def _default_classes(snapshot: Snapshot) -> tuple[Mapping[str, Any], ...]:
    return _class_index(snapshot).defaults


def class_decision(
    snapshot: Snapshot, ingress: Mapping[str, Any], ingress_class: str | None = None
) -> ClassDecision:
    """Which class an Ingress belongs to, and whether a controller serves it.

    With `ingress_class` the controller's class is given (ingress-nginx's `--ingress-class`,
    store.go `GetIngressClass`). Otherwise an Ingress is served when its class exists (whichever
    controller the IngressClass names: a cluster may run several), when its legacy annotation names
    ingress-nginx's class, an existing class, or a class a known controller takes without an
    IngressClass object (GKE's `gce`); without IngressClass objects (manifests) every named class
    is. An Ingress without any class follows the single default class, as ingress-nginx does.
    """
    model = profile_named(ASSUMED_INGRESS_PROFILE)
    ref = ingress_ref(ingress)
    index = _class_index(snapshot)
    classes = index.classes
    known = bool(classes) or (snapshot.source.kind == "cluster" and snapshot.readable("IngressClass"))
    spec_name = sub(ingress, "spec").get("ingressClassName")
    legacy = annotations_of(ingress).get("kubernetes.io/ingress.class")
    if spec_name:
        name, source = str(spec_name), "spec"
    elif legacy:
        name, source = str(legacy), "annotation"
    else:
        defaults = _default_classes(snapshot)
        if len(defaults) == 1:
            name, source = str(sub(defaults[0], "metadata").get("name")), "default"
        else:
            name, source = None, "none"
    cls = classes.get(name) if name else None
    controller = str(sub(cls, "spec").get("controller")) if cls else None
    exists: bool | None = (cls is not None) if known else None
    nginx_classes = index.model_classes

    def decide(accepted: bool, reason: str) -> ClassDecision:
        return ClassDecision(ref, name, source, exists, controller, accepted, reason)

    if ingress_class is not None:
        if name == ingress_class:
            return decide(True, f"class {name!r} is the controller's class")
        return decide(False, f"class {name!r} is not the controller's class {ingress_class!r}"
                      if name else "no IngressClass and no default class")
    if name is None:
        if not known:
            return decide(True, "no IngressClass given (cannot check: no IngressClass objects)")
        many = len(_default_classes(snapshot)) > 1
        return decide(False, "no ingressClassName, no kubernetes.io/ingress.class annotation and "
                      + ("more than one default IngressClass" if many else "no default IngressClass")
                      + f": {model.name} ignores it (unless --watch-ingress-without-class)")
    if source == "annotation":
        if name in nginx_classes or (name in model.class_names and (not nginx_classes or cls is None)):
            return decide(True, f"legacy annotation kubernetes.io/ingress.class={name!r}")
        if cls is not None:  # another controller's IngressClass of that name: it reads the annotation too
            return decide(True, f"legacy annotation kubernetes.io/ingress.class={name!r} "
                          f"(IngressClass {name!r}, controller {controller})")
        claimer = profile_claiming(None, name)
        if claimer is not UNKNOWN and claimer.name != model.name:  # e.g. GKE's `gce`: no IngressClass object
            return decide(True, f"legacy annotation kubernetes.io/ingress.class={name!r}: {claimer.name}'s "
                          "class (its controller reads the annotation)")
        if not known:
            return decide(True, f"legacy annotation kubernetes.io/ingress.class={name!r} "
                          "(cannot check: no IngressClass objects)")
        return decide(False, f"legacy annotation class {name!r}: no IngressClass of that name, and no "
                      "controller kdiag knows takes it")
    if not known:
        return decide(True, f"class {name!r} (cannot check: no IngressClass objects)")
    if cls is None:
        return decide(False, f"IngressClass {name!r} does not exist: no controller serves it")
    how = "default class" if source == "default" else "class"
    serving = profile_for_controller(controller or "")
    who = serving.name if serving is not UNKNOWN else "a controller kdiag does not know"
    return decide(True, f"{how} {name!r} (controller {controller}: {who})")



def claiming_profile(snapshot: Snapshot, ingress: Mapping[str, Any]) -> Profile:
    """The profile that can speak for `ingress` (`profile_claiming`): `unknown` for a named class
    no profile claims when the IngressClass is not visible."""
    d = class_decision(snapshot, ingress)
    return profile_claiming(d.controller, d.class_name)


def ingress_profile(snapshot: Snapshot, ingress: Mapping[str, Any]) -> Profile:
    """The data-plane profile serving `ingress` (by its IngressClass controller)."""
    return class_decision(snapshot, ingress).profile
