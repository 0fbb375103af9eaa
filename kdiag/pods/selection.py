"""Which objects carry pod specs, which Services select them, and which containers serve.

Functions over a `Snapshot`: a workload speaks for its pods (its template), a bare Pod for itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kdiag.pods.spec import container_ports
from kdiag.shape import MALFORMED, as_map, maps
from kdiag.snapshot import Snapshot, obj_key

__all__ = [
    "SpecHolder",
    "fmt_labels",
    "pod_template_replicas",
    "services_selecting",
    "serving_containers",
    "spec_holders",
]


def fmt_labels(labels: Mapping[str, Any]) -> str:
    """`k=v, k2=v2` for messages."""
    return ", ".join(f"{k}={v}" for k, v in labels.items()) or "(none)"


@dataclass(frozen=True)
class SpecHolder:
    """An object that carries a pod spec: a workload (its template) or a bare Pod."""

    obj: Mapping[str, Any]
    namespace: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]

    @property
    def ref(self) -> str:
        kind, ns, name = obj_key(self.obj)
        return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


def spec_holders(snapshot: Snapshot) -> list[SpecHolder]:
    """Every pod spec once: workloads by their template; Pods only when no owner is in the snapshot.

    Computed once per snapshot (several rules ask)."""
    return list(snapshot.derived("spec_holders", lambda: tuple(_spec_holders(snapshot))))


def _spec_holders(snapshot: Snapshot) -> list[SpecHolder]:
    out: list[SpecHolder] = []
    owned_rs: set[tuple[str, str, str]] = set()
    for rs in snapshot.list("ReplicaSet"):
        for ref in maps(as_map(rs.get("metadata")).get("ownerReferences")):
            if snapshot.get(str(ref.get("kind")), obj_key(rs)[1], str(ref.get("name"))) is not None:
                owned_rs.add(obj_key(rs))  # a Deployment in the snapshot speaks for it
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        for wl in snapshot.list(kind):
            if kind == "ReplicaSet" and obj_key(wl) in owned_rs:
                continue
            tmpl = as_map(as_map(wl.get("spec")).get("template"))
            out.append(SpecHolder(wl, obj_key(wl)[1], as_map(as_map(tmpl.get("metadata")).get("labels")),
                                  as_map(tmpl.get("spec"))))
    unseen_owners: set[tuple[str, str, str]] = set()
    for pod in snapshot.list("Pod"):
        try:
            owned = snapshot.owner_of(pod) is not None
        except MALFORMED:
            owned = False
        if owned:
            continue
        controller = next((r for r in maps(as_map(pod.get("metadata")).get("ownerReferences"))
                           if r.get("controller")), None)
        if controller is not None:  # its workload was not read: one pod speaks for its siblings
            key = (str(controller.get("kind")), obj_key(pod)[1], str(controller.get("name")))
            if key in unseen_owners:
                continue
            unseen_owners.add(key)
        out.append(SpecHolder(pod, obj_key(pod)[1], as_map(as_map(pod.get("metadata")).get("labels")),
                              as_map(pod.get("spec"))))
    return out


def services_selecting(snapshot: Snapshot, namespace: str,
                       labels: Mapping[str, str]) -> list[Mapping[str, Any]]:
    """Services of a namespace whose selector matches these labels (an index lookup)."""
    return snapshot.services_selecting(namespace, labels)


def _target_numbers(service: Mapping[str, Any], spec: Mapping[str, Any]) -> set[int]:
    ports = container_ports(spec)
    out: set[int] = set()
    for sp in (service.get("spec") or {}).get("ports") or ():
        target = sp.get("targetPort", sp.get("port"))
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
            out.add(int(target))
        else:
            out.update(p.port for p in ports if p.name == target)
    return out


def serving_containers(spec: Mapping[str, Any],
                       services: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], bool]:
    """The containers that serve a port the Services target.

    Returns (containers, identified): when no declared containerPort is targeted, all containers
    are returned and `identified` is False (kdiag cannot tell which one serves).
    """
    targets: set[int] = set()
    for svc in services:
        targets |= _target_numbers(svc, spec)
    names = {p.container for p in container_ports(spec) if p.port in targets}
    containers = maps(spec.get("containers"))
    chosen = [c for c in containers if c.get("name") in names]
    if chosen:
        return chosen, True
    return containers, False


def pod_template_replicas(owner: Mapping[str, Any]) -> int:
    """Desired replicas of a workload (1 when unset; DaemonSets count as several)."""
    if owner.get("kind") == "DaemonSet":
        return 2
    value = (owner.get("spec") or {}).get("replicas")
    try:
        return 1 if value is None else int(value)
    except (TypeError, ValueError):
        return 1
