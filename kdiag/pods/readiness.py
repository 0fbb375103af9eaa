"""Readiness as Kubernetes reports it: a pod's Ready condition, EndpointSlice endpoint counts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kdiag.shape import maps, sub

__all__ = ["endpoint_counts", "pod_is_ready", "pod_ready_condition"]


def pod_ready_condition(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The pod's first condition of type Ready, or None."""
    for cond in maps(sub(pod, "status").get("conditions")):
        if cond.get("type") == "Ready":
            return cond
    return None


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """The pod's Ready condition is True."""
    cond = pod_ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


def endpoint_counts(slices: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Count endpoints of EndpointSlices by condition (nil ready/serving mean true).

    Keys: total, ready, terminating, serving_terminating (terminating but still serving),
    not_ready (neither ready nor terminating), names (targetRef names of endpoints not ready).
    """
    total = ready = terminating = serving_terminating = not_ready = 0
    names: list[str] = []
    for sl in slices:
        for ep in sl.get("endpoints") or ():
            total += 1
            cond = ep.get("conditions") or {}
            if cond.get("ready") is not False:
                ready += 1
                continue
            ref = ep.get("targetRef") or {}
            names.append(str(ref.get("name") or ",".join(ep.get("addresses") or ())))
            if cond.get("terminating") is True:
                terminating += 1
                serving_terminating += cond.get("serving") is not False
            else:
                not_ready += 1
    return {"total": total, "ready": ready, "terminating": terminating,
            "serving_terminating": serving_terminating, "not_ready": not_ready, "names": names}
