"""ReferenceGrant (gateway.networking.k8s.io v1 and v1beta1): may a route reach across namespaces?

A route's backendRef to an object in another namespace is only valid when a ReferenceGrant in the
target namespace lists the route (group, kind, namespace) in `spec.from` and the target (group,
kind, optional name) in `spec.to`. Without one the route gets `ResolvedRefs=False` with reason
`RefNotPermitted` and the traffic for that backend gets 500 (gateway-api `shared_types.go`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kdiag.route.gateway_classes import GATEWAY_GROUP
from kdiag.shape import maps, sub
from kdiag.snapshot import Snapshot, obj_key

__all__ = ["reference_permitted"]


def _grant_allows(grant: Mapping[str, Any], from_kind: str, from_ns: str, to_group: str, to_kind: str,
                  to_name: str) -> bool:
    spec = sub(grant, "spec")
    ok_from = any(str(f.get("group") or "") == GATEWAY_GROUP and f.get("kind") == from_kind
                  and f.get("namespace") == from_ns for f in maps(spec.get("from")))
    ok_to = any(str(t.get("group") or "") == to_group and t.get("kind") == to_kind
                and (not t.get("name") or t.get("name") == to_name) for t in maps(spec.get("to")))
    return ok_from and ok_to


def reference_permitted(snapshot: Snapshot, *, from_kind: str, from_ns: str, to_group: str, to_kind: str,
                        to_ns: str, to_name: str) -> tuple[bool | None, str]:
    """(permitted, why): True for a same-namespace reference or a matching ReferenceGrant; None
    when ReferenceGrants cannot be seen (not readable, or manifests without any)."""
    if from_ns == to_ns:
        return True, "same namespace"
    for grant in snapshot.list("ReferenceGrant", to_ns):
        if _grant_allows(grant, from_kind, from_ns, to_group, to_kind, to_name):
            return True, f"ReferenceGrant {to_ns}/{obj_key(grant)[2]} allows it"
    visible = snapshot.source.kind == "cluster" and snapshot.readable("ReferenceGrant") and (
        "ReferenceGrant" not in (snapshot.facts.get("kinds_not_served") or ()))
    if visible or snapshot.list("ReferenceGrant"):
        return False, (f"no ReferenceGrant in namespace {to_ns} allows {from_kind}s from namespace {from_ns} "
                       f"to reach {to_kind} {to_name}")
    return None, "ReferenceGrants are not visible here, so the cross-namespace reference cannot be checked"
