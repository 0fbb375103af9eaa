"""An Ingress backend followed down: Service, Service port, targetPort per pod, endpoints, pods.

Pure over a Snapshot. Endpoints come from EndpointSlices (`kubernetes.io/service-name` label);
when there are none, or EndpointSlice is not readable, from the legacy v1 `Endpoints` object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.pods.spec import container_ports
from kdiag.route.ports import resolve_target_port
from kdiag.shape import as_int, as_list, as_map, maps, sub
from kdiag.snapshot import PodView, Snapshot, obj_key

__all__ = [
    "BackendInfo",
    "BackendRef",
    "EndpointInfo",
    "PodPort",
    "backend_ref",
    "find_service_port",
    "resolve_backend",
]


@dataclass(frozen=True)
class BackendRef:
    """What an Ingress backend names (networking/v1 or the legacy serviceName/servicePort)."""

    namespace: str
    service_name: str | None = None
    port_number: int | None = None
    port_name: str | None = None
    resource: Mapping[str, Any] | None = None

    @property
    def port(self) -> int | str | None:
        return self.port_number if self.port_number is not None else self.port_name

    @property
    def label(self) -> str:
        if self.service_name is None:
            r = self.resource or {}
            return f"{r.get('kind', 'resource')} {self.namespace}/{r.get('name', '?')}"
        return f"{self.namespace}/{self.service_name}:{self.port}"


def backend_ref(backend: Mapping[str, Any] | None, namespace: str) -> BackendRef | None:
    """Parse `backend.service.{name,port.{number,name}}`, `backend.resource`, or the legacy form."""
    if not isinstance(backend, Mapping) or not backend:
        return None
    svc = backend.get("service")
    if isinstance(svc, Mapping):
        port = as_map(svc.get("port"))
        name = port.get("name")
        return BackendRef(
            namespace,
            service_name=str(svc.get("name") or "") or None,
            port_number=as_int(port.get("number")),
            port_name=str(name) if name else None,
        )
    if backend.get("serviceName") is not None:  # extensions/v1beta1, networking.k8s.io/v1beta1
        sp = backend.get("servicePort")
        number = as_int(sp)
        return BackendRef(
            namespace,
            service_name=str(backend["serviceName"]),
            port_number=number,
            port_name=str(sp) if sp is not None and number is None else None,
        )
    if isinstance(backend.get("resource"), Mapping):
        return BackendRef(namespace, resource=backend["resource"])
    return None


def find_service_port(service: Mapping[str, Any], ref: BackendRef) -> Mapping[str, Any] | None:
    """The Service port entry a backend names (by `port` number or by port `name`)."""
    for sp in maps(sub(service, "spec").get("ports")):
        if ref.port_number is not None and sp.get("port") == ref.port_number:
            return sp
        if ref.port_name is not None and sp.get("name") == ref.port_name:
            return sp
    return None


@dataclass(frozen=True)
class PodPort:
    """The container port a Service port resolves to on one pod (or pod template)."""

    pod: str  # PodView.ref
    port: int | None  # None: a named targetPort this pod does not declare
    declared: bool  # the resolved number is a declared containerPort
    template: bool = False


@dataclass(frozen=True)
class EndpointInfo:
    address: str
    port: int | None
    ready: bool
    serving: bool
    terminating: bool
    pod: str | None = None  # "ns/name" from targetRef
    node: str | None = None
    source: str = "EndpointSlice"  # or "Endpoints"
    slice: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "port": self.port, "ready": self.ready,
                "serving": self.serving, "terminating": self.terminating, "pod": self.pod,
                "node": self.node, "source": self.source}


@dataclass(frozen=True)
class BackendInfo:
    """A backend resolved as far as the snapshot allows."""

    ref: BackendRef
    service: Mapping[str, Any] | None = None
    service_readable: bool = True
    service_port: Mapping[str, Any] | None = None
    target_port: int | str | None = None
    pods: tuple[PodView, ...] = ()
    pod_ports: tuple[PodPort, ...] = ()
    endpoints: tuple[EndpointInfo, ...] = ()
    endpoints_source: str = "none"  # "EndpointSlice" | "Endpoints" | "none"
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def service_ref(self) -> str | None:
        if self.ref.service_name is None:
            return None
        return f"{self.ref.namespace}/{self.ref.service_name}"

    @property
    def ready_endpoints(self) -> tuple[EndpointInfo, ...]:
        return tuple(e for e in self.endpoints if e.ready)

    def to_dict(self) -> dict[str, Any]:
        return {
            "service": self.service_ref,
            "service_found": self.service is not None,
            "port": self.ref.port,
            "service_port": None if self.service_port is None else dict(self.service_port),
            "target_port": self.target_port,
            "resource": None if self.ref.resource is None else dict(self.ref.resource),
            "pods": [p.ref for p in self.pods],
            "pod_ports": [{"pod": p.pod, "port": p.port, "declared": p.declared,
                           "template": p.template} for p in self.pod_ports],
            "endpoints": [e.to_dict() for e in self.endpoints],
            "endpoints_source": self.endpoints_source,
        }


def _cond(conditions: Mapping[str, Any], key: str, default: bool) -> bool:
    v = conditions.get(key)
    return default if v is None else bool(v)


def _slice_endpoints(
    snapshot: Snapshot, service: Mapping[str, Any], port_name: str
) -> list[EndpointInfo]:
    out: list[EndpointInfo] = []
    for sl in snapshot.endpoint_slices_for(service):
        ports = maps(sl.get("ports"))
        port = next((as_int(p.get("port")) for p in ports if (p.get("name") or "") == port_name), None)
        if ports and port is None:
            continue  # this slice carries other ports only
        for ep in maps(sl.get("endpoints")):
            conds = as_map(ep.get("conditions"))
            terminating = _cond(conds, "terminating", False)
            ref = as_map(ep.get("targetRef"))
            for addr in as_list(ep.get("addresses")):
                out.append(EndpointInfo(
                    address=str(addr),
                    port=port,
                    ready=_cond(conds, "ready", True),
                    serving=_cond(conds, "serving", True),
                    terminating=terminating,
                    pod=f"{ref.get('namespace') or obj_key(sl)[1]}/{ref['name']}"
                    if ref.get("kind", "Pod") == "Pod" and ref.get("name") else None,
                    node=ep.get("nodeName"),
                    source="EndpointSlice",
                    slice=str(sub(sl, "metadata").get("name", "")),
                ))
    return out


def _legacy_endpoints(
    snapshot: Snapshot, service: Mapping[str, Any], port_name: str
) -> list[EndpointInfo] | None:
    _, ns, name = obj_key(service)
    eps = snapshot.get("Endpoints", ns, name)
    if eps is None:
        return None
    out: list[EndpointInfo] = []
    for subset in maps(eps.get("subsets")):
        ports = maps(subset.get("ports"))
        port = next((as_int(p.get("port")) for p in ports if (p.get("name") or "") == port_name), None)
        if ports and port is None:
            continue
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for a in maps(subset.get(key)):
                ref = as_map(a.get("targetRef"))
                out.append(EndpointInfo(
                    address=str(a.get("ip", "")), port=port, ready=ready, serving=ready,
                    terminating=False,
                    pod=f"{ref.get('namespace') or ns}/{ref['name']}" if ref.get("name") else None,
                    node=a.get("nodeName"), source="Endpoints", slice=name,
                ))
    return out


def resolve_backend(snapshot: Snapshot, ref: BackendRef) -> BackendInfo:
    """Follow a backend reference through the snapshot as far as it goes."""
    if ref.service_name is None:
        return BackendInfo(ref, notes=("the backend is a resource, not a Service",))
    service = snapshot.get("Service", ref.namespace, ref.service_name)
    if service is None:
        return BackendInfo(ref, service_readable=snapshot.readable("Service"))
    sp = find_service_port(service, ref)
    if sp is None:
        return BackendInfo(ref, service=service)
    target = sp.get("targetPort", sp.get("port"))
    spec = service.get("spec")
    selectable = isinstance(spec, Mapping) and isinstance(spec.get("selector") or {}, Mapping)
    pods = tuple(snapshot.pods_for_service(service)) if selectable else ()
    pod_ports = []
    for view in pods:
        holder = view.pod if view.pod is not None else {"spec": view.spec}
        resolved = resolve_target_port(sp, holder)
        declared = resolved is not None and any(
            p.port == resolved for p in container_ports(view.spec))
        pod_ports.append(PodPort(view.ref, resolved, declared, view.is_template))
    port_name = str(sp.get("name") or "")
    endpoints: list[EndpointInfo] = []
    source = "none"
    notes: list[str] = []
    if snapshot.readable("EndpointSlice") and snapshot.endpoint_slices_for(service):
        endpoints, source = _slice_endpoints(snapshot, service, port_name), "EndpointSlice"
    else:
        legacy = _legacy_endpoints(snapshot, service, port_name)
        if legacy is not None:
            endpoints, source = legacy, "Endpoints"
            if not snapshot.readable("EndpointSlice"):
                notes.append("EndpointSlices are not readable; used the v1 Endpoints object")
    return BackendInfo(
        ref, service=service, service_port=sp, target_port=target, pods=pods,
        pod_ports=tuple(pod_ports), endpoints=tuple(endpoints), endpoints_source=source,
        notes=tuple(notes),
    )
