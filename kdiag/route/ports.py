"""Service port → pod port resolution, the way the EndpointSlice controller does it (`FindPort`).

Core code (no lab dependency): `kdiag.lab.world` imports `resolve_target_port` from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kdiag.pods.spec import container_ports
from kdiag.shape import as_int, sub

__all__ = ["resolve_target_port"]


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
    for p in container_ports(sub(pod, "spec")):
        if p.name == target and p.protocol == protocol:
            return p.port
    return None
