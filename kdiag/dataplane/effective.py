"""Effective values of a data plane's settings, read the way each profile says (pure functions).

A `TimeoutDefault` names where its value lives (an Ingress annotation, another object such as a
GKE BackendConfig, a controller ConfigMap key) and how values are written; `effective_timeout`
follows that chain - annotation, then the other object, then the ConfigMap, then the default -
so rules never branch on the controller. Also small builders profiles share (which ConfigMaps and
Services are a controller's, and the value of one attribute in an ALB-style `k=v,k=v` list).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.dataplane.base import Profile, TimeoutDefault, annotations_of
from kdiag.shape import as_map

__all__ = [
    "EffectiveTimeout",
    "attribute",
    "configmaps_matching",
    "effective_timeout",
    "parse_seconds",
    "services_matching",
    "websocket_limits",
]

Obj = Mapping[str, Any]
Lookup = Callable[[str], Iterable[Obj]]

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|us|h|m|s|d)")
_MULT = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001, "us": 0.000001}
#: Values that switch a timeout off (Contour `infinity`, HAProxy-style `infinite`).
_DISABLED = frozenset({"infinity", "infinite", "none", "unlimited"})


def parse_seconds(raw: Any, unit: str = "s") -> float | None:
    """A timeout value in seconds (`math.inf` when it disables the timeout); None if unparsable.

    `unit` is the `TimeoutDefault.unit` of the setting: "s"/"ms" for unitless numbers, "duration"
    for Go/Envoy durations (bare numbers: seconds), "haproxy" (bare numbers: milliseconds).
    """
    text = str(raw).strip().lower()
    if not text:
        return None
    if text in _DISABLED:
        return math.inf
    if re.fullmatch(r"\d+(\.\d+)?", text):
        value = float(text)
        return value / 1000.0 if unit in ("ms", "haproxy") else value
    if unit == "s" and re.fullmatch(r"\d+s", text):
        return float(text[:-1])
    parts = _DURATION.findall(text)
    if unit in ("duration", "haproxy", "ms") and parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * _MULT[u] for n, u in parts)
    return None


@dataclass(frozen=True)
class EffectiveTimeout:
    """One timeout's effective value for a route, and where it came from."""

    timeout: TimeoutDefault
    seconds: float  # math.inf: disabled
    source: str  # "annotation" | "object" | "configmap" | "default"
    where: str

    @property
    def bounded(self) -> bool:
        return not math.isinf(self.seconds)

    def to_dict(self) -> dict[str, Any]:
        secs: float | None = None if math.isinf(self.seconds) else self.seconds
        if secs is not None and secs == int(secs):
            secs = int(secs)
        return {"seconds": secs, "source": self.source, "where": self.where, "field": self.timeout.field,
                "cuts": self.timeout.websocket}


def _ref(obj: Obj) -> str:
    md = as_map(obj.get("metadata"))
    return f"{md.get('namespace') or 'default'}/{md.get('name')}"


def effective_timeout(
    profile: Profile, t: TimeoutDefault, ingress: Obj, service: Obj | None, lookup: Lookup,
    problems: list[str] | None = None,
) -> EffectiveTimeout | None:
    """The value of `t` for a route of `ingress` (backend `service`): its annotation, the object
    `t.resolve` reads, the controller ConfigMap key, then the default. None when the value lives
    in an object kdiag cannot see (the profile then makes no claim) or there is no default."""
    out = problems if problems is not None else []
    if t.annotation:
        raw = annotations_of(ingress).get(t.annotation)
        if raw is not None:
            value = t.extract(str(raw)) if t.extract is not None else str(raw)
            if value is not None:
                secs = parse_seconds(value, t.unit)
                if secs is not None:
                    return EffectiveTimeout(t, secs, "annotation", f"Ingress {_ref(ingress)} annotation {t.annotation}")
                out.append(f"{t.annotation}: {value!r} is not a duration (ignored)")
    if t.resolve is not None:
        found = t.resolve(ingress, service, lookup)
        if found is not None:
            raw_value, where = found
            if not raw_value:
                return None  # set in an object kdiag cannot read
            secs = parse_seconds(raw_value, t.unit)
            if secs is not None:
                return EffectiveTimeout(t, secs, "object", where)
            out.append(f"{where}: {raw_value!r} is not a duration (ignored)")
    if t.configmap_key:
        for cm in profile.controller_configmaps(lookup("ConfigMap")):
            data = as_map(cm.get("data"))
            if t.configmap_key in data:
                secs = parse_seconds(data[t.configmap_key], t.unit)
                if secs is not None:
                    return EffectiveTimeout(t, secs, "configmap", f"ConfigMap {_ref(cm)} key {t.configmap_key}")
                out.append(f"ConfigMap {_ref(cm)} {t.configmap_key}: {data[t.configmap_key]!r} is not a duration")
    if t.seconds is None:
        return None
    return EffectiveTimeout(t, float(t.seconds), "default", f"{profile.name} default ({t.seconds:g}s)")


def websocket_limits(profile: Profile, ingress: Obj, service: Obj | None, lookup: Lookup,
                     ) -> tuple[list[EffectiveTimeout], list[str]]:
    """The effective timeouts that cut an upgraded WebSocket on a route of `ingress`, and the
    problems met reading them (unparsable values)."""
    problems: list[str] = []
    out = [e for t in profile.websocket_timeouts("ingress")
           if (e := effective_timeout(profile, t, ingress, service, lookup, problems)) is not None]
    return out, problems


def attribute(name: str) -> Callable[[str], str | None]:
    """The value of `name` in a `k1=v1,k2=v2` annotation (ALB load-balancer-attributes), or None."""
    def extract(value: str) -> str | None:
        for part in value.split(","):
            key, _, val = part.partition("=")
            if key.strip() == name:
                return val.strip()
        return None
    return extract


def _labels(obj: Obj) -> Mapping[str, Any]:
    return as_map(as_map(obj.get("metadata")).get("labels"))


def configmaps_matching(names: Iterable[str], app_names: Iterable[str] = ()) -> Callable[[Iterable[Obj]], list[Obj]]:
    """A `Profile.controller_configmaps`: ConfigMaps with one of `names` or an app label in `app_names`."""
    wanted, apps = frozenset(names), frozenset(app_names)

    def pick(objects: Iterable[Obj]) -> list[Obj]:
        return [cm for cm in objects if cm.get("kind", "ConfigMap") == "ConfigMap"
                and (as_map(cm.get("metadata")).get("name") in wanted
                     or _labels(cm).get("app.kubernetes.io/name") in apps)]
    return pick


def services_matching(app_names: Iterable[str], names: Iterable[str] = ()) -> Callable[[Obj], bool]:
    """A `Profile.controller_service`: a Service labelled with one of `app_names` or named one of `names`."""
    apps, wanted = frozenset(app_names), frozenset(names)

    def match(svc: Obj) -> bool:
        labels = _labels(svc)
        return (labels.get("app.kubernetes.io/name") in apps or labels.get("app") in apps
                or as_map(svc.get("metadata")).get("name") in wanted)
    return match
