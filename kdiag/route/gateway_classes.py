"""Gateway API objects read defensively: status conditions, GatewayClasses, Gateways, addresses.

Pure over raw objects and a `Snapshot` (gateway-controllers-facts.md "Spec details"). A
Gateway's GatewayClass names the controller (`spec.controllerName`) that picks the data-plane
profile; status conditions are kept as evidence (`Condition`), never trusted blindly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.dataplane import UNKNOWN, Profile, profile_for_controller
from kdiag.shape import maps, sub
from kdiag.snapshot import Snapshot, obj_key

__all__ = [
    "GATEWAY_GROUP",
    "Condition",
    "GatewayClassInfo",
    "conditions",
    "gateway_addresses",
    "gateway_class_of",
    "is_gateway_group",
    "obj_ref_of",
]

GATEWAY_GROUP = "gateway.networking.k8s.io"


def is_gateway_group(group: Any) -> bool:
    """A parentRef/targetRef group that means Gateway API (the default when unset)."""
    return group in (None, GATEWAY_GROUP)


def obj_ref_of(obj: Mapping[str, Any]) -> str:
    """"ns/name" of a namespaced object, "name" of a cluster-scoped one."""
    _, ns, name = obj_key(obj)
    return f"{ns}/{name}" if ns else name


@dataclass(frozen=True)
class Condition:
    """One status condition (type, status True/False/Unknown, reason, message)."""

    type: str
    status: str
    reason: str = ""
    message: str = ""

    @property
    def true(self) -> bool:
        return self.status == "True"

    @property
    def false(self) -> bool:
        return self.status == "False"

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "status": self.status, "reason": self.reason, "message": self.message}

    def __str__(self) -> str:
        tail = f": {self.message}" if self.message else ""
        return f"{self.type}={self.status} ({self.reason or 'no reason'}){tail}"


def conditions(holder: Any) -> dict[str, Condition]:
    """`conditions` of a status (or status entry), by type."""
    out: dict[str, Condition] = {}
    for c in maps(sub(holder).get("conditions") if isinstance(holder, Mapping) else None):
        t = str(c.get("type") or "")
        if t:
            out[t] = Condition(t, str(c.get("status") or "Unknown"), str(c.get("reason") or ""),
                               str(c.get("message") or ""))
    return out


@dataclass(frozen=True)
class GatewayClassInfo:
    """A Gateway's class: does it exist, who claims it, is it Accepted, which profile."""

    name: str | None
    obj: Mapping[str, Any] | None
    controller: str | None
    profile: Profile
    known: bool  # GatewayClass objects are visible (a cluster, or manifests that carry some)

    @property
    def exists(self) -> bool:
        return self.obj is not None

    @property
    def accepted(self) -> Condition | None:
        return conditions(sub(self.obj, "status")).get("Accepted") if self.obj is not None else None

    def to_dict(self) -> dict[str, Any]:
        acc = self.accepted
        return {"name": self.name, "exists": self.exists if self.known else None,
                "controller": self.controller, **self.profile.report_fields(),
                "accepted": acc.to_dict() if acc is not None else None}


def gateway_class_of(snapshot: Snapshot, gateway: Mapping[str, Any]) -> GatewayClassInfo:
    """The GatewayClass `spec.gatewayClassName` of a Gateway names, and its profile."""
    name = sub(gateway, "spec").get("gatewayClassName")
    name = str(name) if name else None
    known = bool(snapshot.list("GatewayClass")) or (
        snapshot.source.kind == "cluster" and snapshot.readable("GatewayClass")
        and "GatewayClass" not in (snapshot.facts.get("kinds_not_served") or ()))
    obj = snapshot.get("GatewayClass", None, name) if name else None
    controller = sub(obj, "spec").get("controllerName") if obj is not None else None
    controller = str(controller) if controller else None
    profile = profile_for_controller(controller) if controller else UNKNOWN
    return GatewayClassInfo(name, obj, controller, profile, known)


def gateway_addresses(gateway: Mapping[str, Any]) -> list[str]:
    """`status.addresses[].value` of a Gateway (IPs and hostnames)."""
    return [str(a.get("value")) for a in maps(sub(gateway, "status").get("addresses")) if a.get("value")]


