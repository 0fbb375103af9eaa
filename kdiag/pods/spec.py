"""What a pod spec declares: container ports, probe handlers, grace period, preStop delays."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.shape import maps

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "ContainerPort",
    "container_ports",
    "grace_period",
    "prestop_delay",
    "probe_kind",
]

#: Kubernetes' default `terminationGracePeriodSeconds`.
DEFAULT_GRACE_SECONDS = 30


@dataclass(frozen=True)
class ContainerPort:
    """One declared containerPort, with the container that declares it."""

    container: str
    port: int
    name: str
    protocol: str


def container_ports(spec: Mapping[str, Any]) -> list[ContainerPort]:
    """Declared ports of the containers, plus sidecar init containers (restartPolicy: Always)."""
    containers = maps(spec.get("containers"))
    containers += [c for c in maps(spec.get("initContainers")) if c.get("restartPolicy") == "Always"]
    out: list[ContainerPort] = []
    for c in containers:
        for p in maps(c.get("ports")):
            try:
                num = int(p.get("containerPort"))  # type: ignore[arg-type]  # bad values raise, caught
            except (TypeError, ValueError):
                continue
            out.append(ContainerPort(str(c.get("name", "")), num, str(p.get("name") or ""),
                                     str(p.get("protocol") or "TCP")))
    return out


def probe_kind(probe: Mapping[str, Any] | None) -> str | None:
    """The handler of a probe: httpGet | tcpSocket | exec | grpc, or None when there is no probe."""
    if not probe:
        return None
    for kind in ("httpGet", "tcpSocket", "exec", "grpc"):
        if probe.get(kind) is not None:
            return kind
    return "unknown"


def grace_period(spec: Mapping[str, Any]) -> int:
    """`terminationGracePeriodSeconds`, with the Kubernetes default of 30."""
    value = spec.get("terminationGracePeriodSeconds")
    try:
        return DEFAULT_GRACE_SECONDS if value is None else int(value)
    except (TypeError, ValueError):
        return DEFAULT_GRACE_SECONDS


def _parse_seconds(text: str) -> float | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)?", text.strip())
    if not m:
        return None
    return float(m.group(1)) * (60 if m.group(2) == "m" else 1)


def prestop_delay(container: Mapping[str, Any]) -> tuple[str, float | None]:
    """How the container's preStop hook delays shutdown.

    Returns (kind, seconds): kind is "none" (no preStop), "sleep" (the `sleep` action or an exec
    that runs `sleep N`; seconds may be None when N cannot be read), "exec" (a command that does
    not sleep: kdiag cannot judge it) or "httpGet".
    """
    pre = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if not pre:
        return "none", None
    if pre.get("sleep") is not None:
        try:
            return "sleep", float((pre.get("sleep") or {}).get("seconds"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return "sleep", None
    if pre.get("exec") is not None:
        cmd = " ".join(str(x) for x in (pre.get("exec") or {}).get("command") or ())
        m = re.search(r"\bsleep\s+(\S+)", cmd)
        if m:
            return "sleep", _parse_seconds(m.group(1).strip("'\";"))
        return "exec", None
    if pre.get("httpGet") is not None:
        return "httpGet", None
    return "exec", None
