"""Pure helpers that make a lab world behave like a cluster's controllers.

`derive_endpoint_slices` does what the EndpointSlice controller does for Services with a
selector; `derive_endpoints` does the same for the legacy v1 Endpoints. Both are pure functions of
the objects given, so the fake API server and the ingress data planes agree by construction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from kdiag.pods.readiness import pod_is_ready
from kdiag.route.ports import resolve_target_port

__all__ = [
    "derive_endpoint_slices",
    "derive_endpoints",
    "pod_is_ready",
    "resolve_target_port",
]


def _selected_pods(service: Mapping[str, Any], pods: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    md = service.get("metadata") or {}
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return []
    out = []
    for pod in pods:
        pmd = pod.get("metadata") or {}
        if pmd.get("namespace", "default") != md.get("namespace", "default"):
            continue
        labels = pmd.get("labels") or {}
        if not all(labels.get(k) == v for k, v in selector.items()):
            continue
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed") or not status.get("podIP"):
            continue
        out.append(pod)
    return sorted(out, key=lambda p: (p.get("metadata") or {}).get("name", ""))


def _conditions(service: Mapping[str, Any], pod: Mapping[str, Any]) -> dict[str, bool]:
    serving = pod_is_ready(pod)
    terminating = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    publish = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    return {"ready": publish or (serving and not terminating), "serving": serving,
            "terminating": terminating}


def derive_endpoint_slices(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """EndpointSlices for every Service with a selector, grouped by resolved port set."""
    objs = list(objects)
    pods = [o for o in objs if o.get("kind") == "Pod"]
    slices: list[dict[str, Any]] = []
    for svc in (o for o in objs if o.get("kind") == "Service"):
        md = svc.get("metadata") or {}
        spec = svc.get("spec") or {}
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            continue
        groups: dict[tuple[tuple[str, int, str], ...], list[Mapping[str, Any]]] = {}
        for pod in _selected_pods(svc, pods):
            pod_ports: list[tuple[str, int, str]] = []
            for sp in spec.get("ports") or ():
                resolved = resolve_target_port(sp, pod)
                if resolved is not None:
                    pod_ports.append((str(sp.get("name") or ""), resolved, str(sp.get("protocol", "TCP"))))
            groups.setdefault(tuple(pod_ports), []).append(pod)
        if not groups:
            groups[()] = []
        for ports, members in groups.items():
            digest = hashlib.sha256(repr((md.get("name"), ports)).encode()).hexdigest()[:5]
            slices.append({
                "kind": "EndpointSlice",
                "apiVersion": "discovery.k8s.io/v1",
                "metadata": {
                    "name": f"{md.get('name')}-{digest}",
                    "namespace": md.get("namespace", "default"),
                    "labels": {
                        "kubernetes.io/service-name": md.get("name"),
                        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
                    },
                    "ownerReferences": [{"apiVersion": "v1", "kind": "Service", "name": md.get("name"),
                                         "uid": md.get("uid", ""), "controller": True}],
                },
                "addressType": "IPv4",
                "endpoints": [
                    {
                        "addresses": [(p.get("status") or {}).get("podIP")],
                        "conditions": _conditions(svc, p),
                        "nodeName": (p.get("spec") or {}).get("nodeName"),
                        "targetRef": {"kind": "Pod", "namespace": (p.get("metadata") or {}).get("namespace", "default"),
                                      "name": (p.get("metadata") or {}).get("name"),
                                      "uid": (p.get("metadata") or {}).get("uid", "")},
                    }
                    for p in members
                ],
                "ports": [{"name": n, "port": port, "protocol": proto} for n, port, proto in ports],
            })
    return slices


def derive_endpoints(objects: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Legacy v1 Endpoints (subsets with addresses / notReadyAddresses) from the same rules."""
    out: list[dict[str, Any]] = []
    for sl in derive_endpoint_slices(objects):
        md = sl["metadata"]
        name = md["labels"]["kubernetes.io/service-name"]
        addresses: list[dict[str, Any]] = []
        not_ready: list[dict[str, Any]] = []
        for ep in sl["endpoints"]:
            entry = {"ip": ep["addresses"][0], "nodeName": ep.get("nodeName"), "targetRef": ep["targetRef"]}
            (addresses if ep["conditions"]["ready"] else not_ready).append(entry)
        subset: dict[str, Any] = {"ports": sl["ports"]}
        if addresses:
            subset["addresses"] = addresses
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        existing = next((e for e in out if e["metadata"]["name"] == name
                         and e["metadata"]["namespace"] == md["namespace"]), None)
        if existing is None:
            existing = {"kind": "Endpoints", "apiVersion": "v1",
                        "metadata": {"name": name, "namespace": md["namespace"]}, "subsets": []}
            out.append(existing)
        if addresses or not_ready:
            existing["subsets"].append(subset)
    return out
