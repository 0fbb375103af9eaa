"""Service port → pod port resolution, the way the EndpointSlice controller does it (`FindPort`).

Core code (no lab dependency): `kdiag.lab.world` imports `resolve_target_port` from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kdiag.shape import as_int, maps, sub

__all__ = ["declared_container_ports", "resolve_target_port"]


def _serving_containers(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = sub(pod, "spec")
    containers = maps(spec.get("containers"))
    containers += [c for c in maps(spec.get("initContainers")) if c.get("restartPolicy") == "Always"]
    return containers


def declared_container_ports(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every `ports` entry of the pod's containers (and sidecar init containers)."""
    return [p for c in _serving_containers(pod) for p in maps(c.get("ports"))]


def resolve_target_port(service_port: Mapping[str, Any], pod: Mapping[str, Any]) -> int | None:
    """The pod port a Service port targets: a number as is, a name looked up in containerPorts.

    Returns None when a named targetPort matches no containerPort (the controller then leaves
    that port out for this pod), like `FindPort` in kubernetes/endpointslice. `pod` may be a
    Pod or anything with a pod `spec` (a workload's template).
    """
    target = service_port.get("targetPort", service_port.get("port"))
    number = as_int(target)
    if number is not None:
        return number
    protocol = service_port.get("protocol", "TCP")
    for p in declared_container_ports(pod):
        if p.get("name") == target and p.get("protocol", "TCP") == protocol:
            return as_int(p.get("containerPort"))
    return None
