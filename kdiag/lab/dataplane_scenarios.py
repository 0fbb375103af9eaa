"""Demo stories of issue 10: failures that are not in ingress-nginx's own configuration.

- `lb-idle-cut`: a cloud LB (the lab's stand-in, kdiag.lab.edge) cuts idle connections long
  before the controller would; the controller's own pod answers and keeps the WebSocket open.
- `contour-websocket-not-enabled`: Contour's Envoy answers 403 to the upgrade on a route not
  listed in `projectcontour.io/websocket-routes` (kdiag.lab.envoy).
- `socketio-no-affinity`: three Socket.IO replicas, Engine.IO long-polling, no stickiness: the
  session's next poll reaches another replica, 400 {"code":1,"message":"Session ID unknown"}.
- `backend-protocol-mismatch`: the controller speaks plain HTTP to the pod's TLS port, whose
  nginx answers 400 "The plain HTTP request was sent to HTTPS port".
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from kdiag.lab.edge import EdgeSpec

if TYPE_CHECKING:
    from kdiag.lab.scenarios import Scenario

__all__ = ["LB_IDLE_TIMEOUT", "controller_pods", "controller_service", "stories"]

#: The stand-in LB's idle timeout: AWS ALB's 60 s default, shortened so the demo shows it quickly.
LB_IDLE_TIMEOUT = 3.0


def controller_pods(namespace: str, name: str, labels: dict[str, str], image: str, *,
                    ports: dict[str, int], suffix: str = "5c7b9d6f4-k2m8p", ip: str = "10.244.0.9",
                    container: str = "controller") -> list[dict[str, Any]]:
    """A controller's ReplicaSet and one Running, Ready pod (its container ports named http/https:
    the lab serves them with the data plane, so port-forward reaches the controller itself)."""
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories
    rs = f"{name}-{suffix.split('-')[0]}"
    pod_labels = {**labels, "pod-template-hash": suffix.split("-")[0]}
    spec = {"containers": [{"name": container, "image": image,
                            "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports.items()]}],
            "nodeName": "lab-node-1"}
    owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs, "uid": f"uid-{rs}", "controller": True}]
    pod = {"kind": "Pod", "apiVersion": "v1",
           "metadata": b._md(f"{name}-{suffix}", namespace, labels=pod_labels, ownerReferences=owner),
           "spec": copy.deepcopy(spec),
           "status": {"phase": "Running", "podIP": ip, "hostIP": "127.0.0.1",
                      "conditions": [{"type": t, "status": "True"} for t in ("Ready", "ContainersReady", "PodScheduled")],
                      "containerStatuses": [{"name": container, "image": image, "ready": True, "restartCount": 0,
                                             "started": True, "state": {"running": {"startedAt": "2026-11-20T09:00:00Z"}}}]}}
    replicaset = {"kind": "ReplicaSet", "apiVersion": "apps/v1",
                  "metadata": b._md(rs, namespace, labels=pod_labels),
                  "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                           "template": {"metadata": {"labels": labels}, "spec": spec}},
                  "status": {"replicas": 1, "readyReplicas": 1}}
    return [replicaset, pod]


def controller_service(namespace: str, name: str, labels: dict[str, str], cluster_ip: str) -> dict[str, Any]:
    """A data plane's NodePort Service: http 80 -> 30080 and https 443 -> 30443 on the pods'
    named ports, selecting `labels` (and labelled with them)."""
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories
    return {"kind": "Service", "apiVersion": "v1", "metadata": b._md(name, namespace, labels=dict(labels)),
            "spec": {"type": "NodePort", "clusterIP": cluster_ip, "selector": dict(labels),
                     "externalTrafficPolicy": "Cluster",
                     "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP",
                                "nodePort": 30080},
                               {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP",
                                "nodePort": 30443}]}}


def _nginx_controller_pod() -> list[dict[str, Any]]:
    return controller_pods("ingress-nginx", "ingress-nginx-controller",
                           {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"},
                           "registry.k8s.io/ingress-nginx/controller:v1.15.1", ports={"http": 80, "https": 443})


def _lb_idle_cut() -> Scenario:
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories
    edge = EdgeSpec(port=8080, idle_timeout=LB_IDLE_TIMEOUT, name="cloud load balancer (ALB-like)")
    return b.Scenario(
        name="lb-idle-cut", title="The cloud load balancer cuts idle WebSockets",
        story=f"The Ingress raised ingress-nginx's timeouts to 1 h, but the load balancer in front of the "
              f"controller (published in the Ingress status) closes connections idle for 60 s "
              f"({LB_IDLE_TIMEOUT:g} s here). Through the controller's own pod the WebSocket stays open; "
              f"through the published address it drops with 1006.",
        objects=tuple(b._infra() + _nginx_controller_pod() + b._chat(annotations=b.WS_TIMEOUTS)),
        listeners=b._chat_listeners(b.CHAT_PODS), url=f"ws://{b.HOST}:{edge.port}/wss", idle=LB_IDLE_TIMEOUT + 2,
        expect_hop="edge", expect_check="edge-idle-timeout", edge=edge)


def _contour_infra() -> list[dict[str, Any]]:
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories
    infra = [o for o in b._infra() if o.get("kind") not in ("IngressClass", "Service", "ConfigMap")
             and (o.get("metadata") or {}).get("name") != "ingress-nginx"]
    infra.append({"kind": "Namespace", "apiVersion": "v1", "metadata": b._md("projectcontour", None),
                  "status": {"phase": "Active"}})
    infra.append({"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1",
                  "metadata": b._md("contour", None, annotations={"ingressclass.kubernetes.io/is-default-class": "true"}),
                  "spec": {"controller": "projectcontour.io/ingress-controller"}})
    envoy_labels = {"app.kubernetes.io/name": "contour", "app.kubernetes.io/component": "envoy"}
    infra.append(controller_service("projectcontour", "contour-envoy", envoy_labels, "10.96.0.30"))
    infra += controller_pods("projectcontour", "contour-envoy", envoy_labels, "docker.io/envoyproxy/envoy:v1.35.3",
                             ports={"http": 8080, "https": 8443}, suffix="7f8d9c6b5-w4n2x", container="envoy")
    contour_labels = {"app.kubernetes.io/name": "contour", "app.kubernetes.io/component": "contour"}
    infra += controller_pods("projectcontour", "contour", contour_labels, "ghcr.io/projectcontour/contour:v1.33.0",
                             ports={"xds": 8001}, suffix="6d5c4b3a2-p7q8r", ip="10.244.0.10", container="contour")
    return infra


def _contour_chat() -> list[dict[str, Any]]:
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories
    objs = b._chat(annotations={"projectcontour.io/response-timeout": "3600s"})
    for o in objs:
        if o.get("kind") == "Ingress":
            o["spec"]["ingressClassName"] = "contour"
    return objs


def _contour_websocket_not_enabled() -> Scenario:
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories
    return b.Scenario(
        name="contour-websocket-not-enabled", title="Contour: WebSocket not enabled on the route",
        story="The chat app moved from ingress-nginx to Contour. Contour enables WebSocket upgrades per "
              "route only (`projectcontour.io/websocket-routes: /wss`); without it Envoy answers the "
              "handshake with 403 Forbidden (upgrade_failed) while the pod and the Service answer 101.",
        objects=tuple(_contour_infra() + _contour_chat()), listeners=b._chat_listeners(b.CHAT_PODS),
        url=f"ws://{b.HOST}/wss", expect_hop="ingress", expect_check="ingress-websocket-not-enabled",
        data_plane="contour", controller_service=("projectcontour", "contour-envoy"))


RT_LABELS = {"app": "chat-realtime"}
RT_PODS = ["b7k2m", "c4n8p", "d9r3s"]


def _socketio_no_affinity() -> Scenario:
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories
    c = b._container(ports={"http": 3000}, readiness=b._http_readiness("http"), image="registry.lab/chat-realtime:2.0.1",
                   name="realtime")
    deploy = b._deployment("chat-realtime", RT_LABELS, c, replicas=len(RT_PODS))
    svc = b._service("chat-realtime", RT_LABELS, [("http", 80, "http")])
    ing = b._ingress("chat-realtime", [("/socket.io", "Prefix", "chat-realtime", 80)], annotations=b.WS_TIMEOUTS)
    listeners = {(f"chat-realtime-7d9c5b8f6-{s}", 3000): b.PortBehavior("socketio") for s in RT_PODS}
    return b.Scenario(
        name="socketio-no-affinity", title="Socket.IO long-polling across replicas without stickiness",
        story="Three Socket.IO replicas behind one Service; the client starts with HTTP long-polling "
              "(the default). Each poll of a session may reach another replica, which answers 400 "
              "{\"code\":1,\"message\":\"Session ID unknown\"}: the session needs affinity (cookie "
              "affinity on the Ingress, or sessionAffinity: ClientIP) or the websocket-only transport.",
        objects=tuple(b._infra() + [deploy, *b._pods(deploy, RT_PODS, 41), svc, ing]), listeners=listeners,
        url=f"http://{b.HOST}/socket.io/?EIO=4&transport=polling", expect_hop="service", expect_check="service-session-affinity-needed")


ADMIN_HOST = "admin.chatapp.com"
ADMIN_LABELS = {"app": "admin"}
ADMIN_PODS = ["f2g5h"]


def _backend_protocol_mismatch() -> Scenario:
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories
    c = b._container(ports={"https": 8443}, image="registry.lab/admin-nginx:1.27", name="admin")
    deploy = b._deployment("admin", ADMIN_LABELS, c, replicas=1)
    svc = b._service("admin", ADMIN_LABELS, [("https", 443, "https")])
    svc["spec"]["clusterIP"] = "10.96.14.9"
    ing = b._ingress("admin", [("/", "Prefix", "admin", 443)], host=ADMIN_HOST, annotations={})
    listeners = {(f"admin-7d9c5b8f6-{s}", 8443): b.PortBehavior("https") for s in ADMIN_PODS}
    return b.Scenario(
        name="backend-protocol-mismatch", title="Plain HTTP to the pod's HTTPS port",
        story="The admin app's own nginx serves TLS on 8443 (Service port 443), but the Ingress lacks "
              "`nginx.ingress.kubernetes.io/backend-protocol: HTTPS`, so ingress-nginx speaks plain HTTP "
              "to it: 400 \"The plain HTTP request was sent to HTTPS port\".",
        objects=tuple(b._infra() + [deploy, *b._pods(deploy, ADMIN_PODS, 51), svc, ing]), listeners=listeners,
        url=f"http://{ADMIN_HOST}/", expect_hop="ingress", expect_check="backend-protocol-mismatch")


def stories() -> list[Scenario]:
    return [_lb_idle_cut(), _contour_websocket_not_enabled(), _socketio_no_affinity(), _backend_protocol_mismatch()]

