"""The fake API server's resource table and the legacy discovery documents built from it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = [
    "GROUP_VERSIONS",
    "RESOURCES",
    "Resource",
    "Subresource",
    "api_group",
    "api_group_list",
    "api_resource_list",
    "api_versions",
    "find_resource",
    "resources_for_kind",
    "version_info",
]

_RW_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
_RO_VERBS = ("get", "list", "watch")


@dataclass(frozen=True)
class Subresource:
    name: str  # "portforward"
    kind: str  # "PodPortForwardOptions"
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class Resource:
    group: str  # "" for core
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = _RW_VERBS
    subresources: tuple[Subresource, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"


_STATUS = Subresource("status", "", ("get", "patch", "update"))


def _status(kind: str) -> Subresource:
    return Subresource("status", kind, _STATUS.verbs)


_PROXY_VERBS = ("create", "delete", "get", "patch", "update")

RESOURCES: tuple[Resource, ...] = (
    # core/v1
    Resource("", "v1", "configmaps", "configmap", "ConfigMap", True, ("cm",)),
    Resource("", "v1", "endpoints", "endpoints", "Endpoints", True, ("ep",)),
    Resource("", "v1", "events", "event", "Event", True, ("ev",)),
    Resource("", "v1", "namespaces", "namespace", "Namespace", False, ("ns",),
             verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
             subresources=(_status("Namespace"),)),
    Resource("", "v1", "nodes", "node", "Node", False, ("no",),
             subresources=(Subresource("proxy", "NodeProxyOptions", _PROXY_VERBS), _status("Node"))),
    Resource("", "v1", "pods", "pod", "Pod", True, ("po",), ("all",),
             subresources=(
                 Subresource("log", "Pod", ("get",)),
                 Subresource("portforward", "PodPortForwardOptions", ("create", "get")),
                 Subresource("proxy", "PodProxyOptions", _PROXY_VERBS),
                 _status("Pod"),
             )),
    Resource("", "v1", "secrets", "secret", "Secret", True),
    Resource("", "v1", "serviceaccounts", "serviceaccount", "ServiceAccount", True, ("sa",)),
    Resource("", "v1", "services", "service", "Service", True, ("svc",), ("all",),
             verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"),
             subresources=(Subresource("proxy", "ServiceProxyOptions", _PROXY_VERBS),
                           _status("Service"))),
    # apps/v1
    Resource("apps", "v1", "daemonsets", "daemonset", "DaemonSet", True, ("ds",), ("all",),
             subresources=(_status("DaemonSet"),)),
    Resource("apps", "v1", "deployments", "deployment", "Deployment", True, ("deploy",), ("all",),
             subresources=(_status("Deployment"),)),
    Resource("apps", "v1", "replicasets", "replicaset", "ReplicaSet", True, ("rs",), ("all",),
             subresources=(_status("ReplicaSet"),)),
    Resource("apps", "v1", "statefulsets", "statefulset", "StatefulSet", True, ("sts",), ("all",),
             subresources=(_status("StatefulSet"),)),
    # discovery.k8s.io/v1
    Resource("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice", True),
    # events.k8s.io/v1
    # (no "ev" here: kubectl 1.30 would warn that the short name is ambiguous on every `get ev`)
    Resource("events.k8s.io", "v1", "events", "event", "Event", True),
    # authorization.k8s.io/v1: `kubectl auth can-i` answers from the forbidden matrix
    Resource("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "selfsubjectaccessreview",
             "SelfSubjectAccessReview", False, verbs=("create",)),
    # networking.k8s.io/v1
    Resource("networking.k8s.io", "v1", "ingressclasses", "ingressclass", "IngressClass", False),
    Resource("networking.k8s.io", "v1", "ingresses", "ingress", "Ingress", True, ("ing",),
             subresources=(_status("Ingress"),)),
    Resource("networking.k8s.io", "v1", "networkpolicies", "networkpolicy", "NetworkPolicy", True,
             ("netpol",)),
    # gateway.nginx.org/v1alpha1: NGINX Gateway Fabric's policy CRD that sets proxy timeouts
    Resource("gateway.nginx.org", "v1alpha1", "proxysettingspolicies", "proxysettingspolicy",
             "ProxySettingsPolicy", True, (), ("nginx-gateway-fabric",),
             subresources=(_status("ProxySettingsPolicy"),)),
    # gateway.envoyproxy.io/v1alpha1: Envoy Gateway's policy CRDs (categories "envoy-gateway", short
    # names ctp/btp: api/v1alpha1/clienttrafficpolicy_types.go, backendtrafficpolicy_types.go)
    Resource("gateway.envoyproxy.io", "v1alpha1", "backendtrafficpolicies", "backendtrafficpolicy",
             "BackendTrafficPolicy", True, ("btp",), ("envoy-gateway",),
             subresources=(_status("BackendTrafficPolicy"),)),
    Resource("gateway.envoyproxy.io", "v1alpha1", "clienttrafficpolicies", "clienttrafficpolicy",
             "ClientTrafficPolicy", True, ("ctp",), ("envoy-gateway",),
             subresources=(_status("ClientTrafficPolicy"),)),
    # projectcontour.io/v1: Contour's route CRD (shortNames proxy, proxies as its CRD declares)
    Resource("projectcontour.io", "v1", "httpproxies", "httpproxy", "HTTPProxy", True, ("proxy", "proxies"),
             (), subresources=(_status("HTTPProxy"),)),
    # cloud.google.com/v1: GKE Ingress per-Service load-balancer settings (timeoutSec ...)
    Resource("cloud.google.com", "v1", "backendconfigs", "backendconfig", "BackendConfig", True),
    # gateway.networking.k8s.io/v1 (a CRD in real clusters: categories "gateway-api")
    Resource("gateway.networking.k8s.io", "v1", "gatewayclasses", "gatewayclass", "GatewayClass",
             False, ("gc",), ("gateway-api",), subresources=(_status("GatewayClass"),)),
    Resource("gateway.networking.k8s.io", "v1", "gateways", "gateway", "Gateway", True, ("gtw",),
             ("gateway-api",), subresources=(_status("Gateway"),)),
    Resource("gateway.networking.k8s.io", "v1", "grpcroutes", "grpcroute", "GRPCRoute", True, (),
             ("gateway-api",), subresources=(_status("GRPCRoute"),)),
    Resource("gateway.networking.k8s.io", "v1", "httproutes", "httproute", "HTTPRoute", True, (),
             ("gateway-api",), subresources=(_status("HTTPRoute"),)),
    Resource("gateway.networking.k8s.io", "v1", "referencegrants", "referencegrant", "ReferenceGrant",
             True, ("refgrant",), ("gateway-api",)),
    Resource("gateway.networking.k8s.io", "v1beta1", "referencegrants", "referencegrant",
             "ReferenceGrant", True, ("refgrant",), ("gateway-api",)),
)

#: group -> versions served (preferred first), in the order `/apis` lists them.
GROUP_VERSIONS: dict[str, tuple[str, ...]] = {}
for _r in RESOURCES:
    if _r.group and _r.version not in GROUP_VERSIONS.setdefault(_r.group, ()):
        GROUP_VERSIONS[_r.group] = (*GROUP_VERSIONS[_r.group], _r.version)
_GROUP_ORDER = ("apps", "events.k8s.io", "authorization.k8s.io", "networking.k8s.io", "discovery.k8s.io",
                "gateway.networking.k8s.io", "gateway.nginx.org", "gateway.envoyproxy.io",
                "projectcontour.io", "cloud.google.com")
GROUP_VERSIONS = {g: GROUP_VERSIONS[g] for g in _GROUP_ORDER if g in GROUP_VERSIONS}


def find_resource(group: str, version: str, plural: str) -> Resource | None:
    for r in RESOURCES:
        if r.group == group and r.version == version and r.plural == plural:
            return r
    return None


def resources_for_kind(kind: str) -> Iterator[Resource]:
    """Every resource an object of this kind is served under (Event is in two groups)."""
    return (r for r in RESOURCES if r.kind == kind)


def version_info(version: str) -> dict[str, str]:
    parts = version.lstrip("v").split(".")
    major, minor = parts[0], parts[1] if len(parts) > 1 else "0"
    patch = parts[2] if len(parts) > 2 else "0"
    return {
        "major": major, "minor": minor, "gitVersion": f"v{major}.{minor}.{patch}",
        "gitCommit": "0" * 40, "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
        "goVersion": "go1.22.0", "compiler": "gc", "platform": "linux/amd64",
    }


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": server_address}]}


def api_group(group: str) -> dict[str, Any] | None:
    versions = GROUP_VERSIONS.get(group)
    if not versions:
        return None
    gvs = [{"groupVersion": f"{group}/{v}", "version": v} for v in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": gvs,
            "preferredVersion": gvs[0]}


def api_group_list() -> dict[str, Any]:
    groups = []
    for g in GROUP_VERSIONS:
        doc = api_group(g)
        assert doc is not None
        doc.pop("kind")
        doc.pop("apiVersion")
        groups.append(doc)
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """The APIResourceList of one group version; shortNames/categories on main resources only."""
    members = [r for r in RESOURCES if r.group == group and r.version == version]
    if not members:
        return None
    entries: list[dict[str, Any]] = []
    for r in members:
        main: dict[str, Any] = {"name": r.plural, "singularName": r.singular,
                                "namespaced": r.namespaced, "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            main["shortNames"] = list(r.short_names)
        if r.categories:
            main["categories"] = list(r.categories)
        entries.append(main)
        for sub in r.subresources:
            entries.append({"name": f"{r.plural}/{sub.name}", "singularName": "",
                            "namespaced": r.namespaced, "kind": sub.kind or r.kind,
                            "verbs": list(sub.verbs)})
    doc: dict[str, Any] = {"kind": "APIResourceList", "groupVersion": members[0].group_version,
                           "resources": entries}
    if group:
        doc["apiVersion"] = "v1"
    return doc
