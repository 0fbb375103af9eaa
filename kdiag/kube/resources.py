"""Where each kind lives in the API, and the URL paths kdiag reads."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

__all__ = ["RESOURCES", "Resource", "resource", "service_proxy_path"]


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API."""

    kind: str
    api_version: str  # "v1" or "group/version"
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
        return base


RESOURCES: dict[str, Resource] = {
    r.kind: r
    for r in (
        Resource("Namespace", "v1", "namespaces", namespaced=False),
        Resource("Node", "v1", "nodes", namespaced=False),
        Resource("IngressClass", "networking.k8s.io/v1", "ingressclasses", namespaced=False),
        Resource("Ingress", "networking.k8s.io/v1", "ingresses"),
        Resource("Service", "v1", "services"),
        Resource("EndpointSlice", "discovery.k8s.io/v1", "endpointslices"),
        Resource("Endpoints", "v1", "endpoints"),
        Resource("Pod", "v1", "pods"),
        Resource("ReplicaSet", "apps/v1", "replicasets"),
        Resource("Deployment", "apps/v1", "deployments"),
        Resource("StatefulSet", "apps/v1", "statefulsets"),
        Resource("DaemonSet", "apps/v1", "daemonsets"),
        Resource("Event", "v1", "events"),
        Resource("ConfigMap", "v1", "configmaps"),
        Resource("Secret", "v1", "secrets"),
        Resource("Gateway", "gateway.networking.k8s.io/v1", "gateways"),
        Resource("HTTPRoute", "gateway.networking.k8s.io/v1", "httproutes"),
        Resource("GatewayClass", "gateway.networking.k8s.io/v1", "gatewayclasses", namespaced=False),
        Resource("GRPCRoute", "gateway.networking.k8s.io/v1", "grpcroutes"),
        # v1beta1: served by every Gateway API release that has ReferenceGrant (v1 only since v1.5)
        Resource("ReferenceGrant", "gateway.networking.k8s.io/v1beta1", "referencegrants"),
        # Envoy Gateway's policy CRDs (read only for its routes; a 404 means the CRD is not installed)
        Resource("ClientTrafficPolicy", "gateway.envoyproxy.io/v1alpha1", "clienttrafficpolicies"),
        Resource("BackendTrafficPolicy", "gateway.envoyproxy.io/v1alpha1", "backendtrafficpolicies"),
        # Data-plane CRDs, read only when the data plane in play uses them (kdiag.sources.crds):
        # Contour's own route kind, and GKE's per-Service load-balancer settings.
        Resource("HTTPProxy", "projectcontour.io/v1", "httpproxies"),
        Resource("BackendConfig", "cloud.google.com/v1", "backendconfigs"),
    )
}


def resource(kind: str) -> Resource:
    """The Resource of a kind kdiag reads; ValueError for any other kind."""
    try:
        return RESOURCES[kind]
    except KeyError:
        raise ValueError(f"kdiag.kube does not know the kind {kind!r}") from None


def service_proxy_path(namespace: str, service: str, port: int | str, *, scheme: str = "http") -> str:
    """/api/v1/namespaces/{ns}/services/{[https:]svc:port}/proxy (no trailing slash)."""
    name = f"{service}:{port}"
    if scheme == "https":
        name = f"https:{name}"
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/services/{quote(name, safe=':')}/proxy"
