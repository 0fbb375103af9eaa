"""A synthetic cluster of any size for the scale benchmark (tests/benchmarks/bench_scale.py).

The defaults are issue 11's cluster: 200 namespaces, 20,000 Services, EndpointSlices,
Deployments and ReplicaSets, 100,000 Pods (5 per Service), 5,000 Ingresses (one per 4 Services,
two paths each, a header canary on every 23rd) and 20 Ingresses without a host. Namespace
`app-000` is the big one (745 Services, 3,725 pods); `app-tiny` holds 2 Services. Objects are
produced lazily and share their templates (spec, status): serve them with
`FakeApiServer(objects, share=True, derive_endpoints=False)`.

Names: Service `svc-NNNNN` (a global index), served at `http://svc-NNNNN.NS.example.com/` and
`/ws`; `hostless_url(k)` reaches the k-th Ingress without a host.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["BIG", "TINY", "Sizes", "host_for", "hostless_url", "namespace_plan", "synthetic_objects"]

BIG = "app-000"
TINY = "app-tiny"
CANARY_HEADER = "X-Canary"
_CONTROLLER_NS = "ingress-nginx"


@dataclass(frozen=True)
class Sizes:
    namespaces: int = 200
    services: int = 20_000
    pods_per_service: int = 5
    big_services: int = 745  # in namespace app-000
    tiny_services: int = 2  # in namespace app-tiny
    ingress_every: int = 4  # one Ingress per this many Services
    canary_every: int = 23  # a header canary on every Nth Ingress
    hostless: int = 20  # Ingresses without a host, one per namespace from app-000 on
    ingress_port: int = 9  # where the synthetic controller "listens" (nothing does: refused)


def namespace_plan(sizes: Sizes) -> list[tuple[str, int]]:
    """(namespace, number of Services) for every application namespace."""
    plan = [(BIG, sizes.big_services), (TINY, sizes.tiny_services)]
    rest = max(sizes.namespaces - len(plan), 0)
    left = max(sizes.services - sizes.big_services - sizes.tiny_services, 0)
    for i in range(rest):
        share = left // rest + (1 if i < left % rest else 0)
        plan.append((f"app-{i + 1:03d}", share))
    return plan


def host_for(service: str, namespace: str) -> str:
    return f"{service}.{namespace}.example.com"


def _ip(n: int) -> str:
    return f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"


def _meta(name: str, namespace: str, **extra: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
                          "resourceVersion": "1", "creationTimestamp": "2026-01-01T00:00:00Z"}
    md.update(extra)
    return md


_CONTAINER = {"name": "app", "image": "registry.example/app:1.0",
              "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
              "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
              "lifecycle": {"preStop": {"sleep": {"seconds": 5}}}}
_POD_SPEC = {"containers": [_CONTAINER], "terminationGracePeriodSeconds": 30}
_POD_CONDITIONS = [{"type": "Ready", "status": "True"}, {"type": "ContainersReady", "status": "True"}]
_CONTAINER_STATUSES = [{"name": "app", "ready": True, "restartCount": 0, "started": True,
                        "image": "registry.example/app:1.0", "state": {"running": {}}}]
_SVC_PORTS = [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
_SLICE_PORTS = [{"name": "http", "port": 8080, "protocol": "TCP"}]


def _app(ns: str, svc: str, index: int, pods: int) -> Iterator[dict[str, Any]]:
    labels = {"app": svc}
    tmpl = {"metadata": {"labels": labels}, "spec": _POD_SPEC}
    yield {"apiVersion": "v1", "kind": "Service", "metadata": _meta(svc, ns, labels=labels),
           "spec": {"type": "ClusterIP", "clusterIP": _ip(index), "selector": labels, "ports": _SVC_PORTS}}
    yield {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(svc, ns, labels=labels, generation=1),
           "spec": {"replicas": pods, "selector": {"matchLabels": labels}, "template": tmpl},
           "status": {"replicas": pods, "readyReplicas": pods, "availableReplicas": pods,
                      "updatedReplicas": pods, "observedGeneration": 1}}
    rs = f"{svc}-5d4f8"
    rs_labels = {"app": svc, "pod-template-hash": "5d4f8"}
    owner_dep = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": svc, "uid": f"uid-{ns}-{svc}",
                  "controller": True}]
    yield {"apiVersion": "apps/v1", "kind": "ReplicaSet",
           "metadata": _meta(rs, ns, labels=rs_labels, ownerReferences=owner_dep),
           "spec": {"replicas": pods, "selector": {"matchLabels": rs_labels},
                    "template": {"metadata": {"labels": rs_labels}, "spec": _POD_SPEC}},
           "status": {"replicas": pods, "readyReplicas": pods}}
    owner_rs = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": f"uid-{ns}-{rs}",
                 "controller": True}]
    endpoints = []
    for p in range(pods):
        name = f"{rs}-{p:05x}"
        ip = _ip(index * 8 + p + (1 << 20))
        yield {"apiVersion": "v1", "kind": "Pod",
               "metadata": _meta(name, ns, labels=rs_labels, ownerReferences=owner_rs),
               "spec": _POD_SPEC,
               "status": {"phase": "Running", "podIP": ip, "conditions": _POD_CONDITIONS,
                          "containerStatuses": _CONTAINER_STATUSES}}
        endpoints.append({"addresses": [ip], "conditions": {"ready": True, "serving": True, "terminating": False},
                          "targetRef": {"kind": "Pod", "namespace": ns, "name": name}})
    yield {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
           "metadata": _meta(f"{svc}-abcde", ns, labels={"kubernetes.io/service-name": svc}),
           "addressType": "IPv4", "endpoints": endpoints, "ports": _SLICE_PORTS}


def _path(path: str, svc: str) -> dict[str, Any]:
    return {"path": path, "pathType": "Prefix",
            "backend": {"service": {"name": svc, "port": {"number": 80}}}}


_LB = {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}


def _ingress(ns: str, name: str, host: str | None, paths: list[dict[str, Any]],
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"http": {"paths": paths}}
    if host:
        rule["host"] = host
    md = _meta(name, ns, annotations=annotations) if annotations else _meta(name, ns)
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": md,
            "spec": {"ingressClassName": "nginx", "rules": [rule]}, "status": _LB}


def _infrastructure(sizes: Sizes) -> Iterator[dict[str, Any]]:
    for n in range(2):
        yield {"apiVersion": "v1", "kind": "Node", "metadata": {"name": f"node-{n}", "uid": f"uid-node-{n}"},
               "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                          "conditions": [{"type": "Ready", "status": "True"}]}}
    yield {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
           "metadata": {"name": "nginx", "uid": "uid-class-nginx"},
           "spec": {"controller": "k8s.io/ingress-nginx"}}
    ctl = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}
    yield {"apiVersion": "v1", "kind": "Service",
           "metadata": _meta("ingress-nginx-controller", _CONTROLLER_NS, labels=ctl),
           "spec": {"type": "LoadBalancer", "clusterIP": "10.255.0.1", "selector": ctl,
                    "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]},
           "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}}
    yield {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta("ingress-nginx-controller", _CONTROLLER_NS,
                                                                     labels=ctl), "data": {}}
    yield {"apiVersion": "v1", "kind": "Pod", "metadata": _meta("ingress-nginx-controller-0", _CONTROLLER_NS,
                                                               labels=ctl),
           "spec": {"containers": [{"name": "controller", "image": "registry.k8s.io/ingress-nginx/controller",
                                    "args": ["/nginx-ingress-controller",
                                             "--configmap=$(POD_NAMESPACE)/ingress-nginx-controller"],
                                    "ports": [{"name": "http", "containerPort": 80}]}]},
           "status": {"phase": "Running", "podIP": "10.255.1.1", "conditions": _POD_CONDITIONS}}


def synthetic_objects(sizes: Sizes | None = None) -> Iterator[dict[str, Any]]:
    """Every object of the synthetic cluster, generated on the fly."""
    sizes = sizes or Sizes()
    yield from _infrastructure(sizes)
    index = 0
    ingresses = 0
    plan = namespace_plan(sizes)
    for k, (ns, count) in enumerate(plan):
        yield {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "uid": f"uid-ns-{ns}"},
               "status": {"phase": "Active"}}
        first = index
        for _ in range(count):
            svc = f"svc-{index:05d}"
            yield from _app(ns, svc, index, sizes.pods_per_service)
            if (index - first) % sizes.ingress_every == 0:
                host = host_for(svc, ns)
                yield _ingress(ns, svc, host, [_path("/", svc), _path("/ws", svc)])
                ingresses += 1
                if ingresses % sizes.canary_every == 0 and count > 1:
                    other = f"svc-{first + (index - first + 1) % count:05d}"
                    yield _ingress(ns, f"{svc}-canary", host, [_path("/", other)],
                                   {"nginx.ingress.kubernetes.io/canary": "true",
                                    "nginx.ingress.kubernetes.io/canary-by-header": CANARY_HEADER})
            index += 1
        if k < sizes.hostless and count:
            yield _ingress(ns, "catch-all", None, [_path(f"/hostless-{k}", f"svc-{first:05d}")])


def hostless_url(k: int) -> str:
    """A URL only the k-th Ingress without a host serves (no rule names its host)."""
    return f"http://unknown.example.net/hostless-{k}"
