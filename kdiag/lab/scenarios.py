"""The lab's scenarios: small clusters, one per failure of the seed stories, plus a healthy one.

A scenario is data: the Kubernetes objects the fake API server serves, what really listens on
each pod port (an `AppBehavior` of `kdiag.lab.apps`, or None for nothing), how the ingress data
plane behaves, the URL that opens on the broken route, and the verdict kdiag must reach there.
Pod IPs look realistic (10.244.x.x) but nothing ever connects to them: the lab maps every
(pod, port) to a loopback port.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCENARIOS", "Scenario", "get_scenario", "scenario_names"]

NS = "default"
HOST = "chatapp.com"
CREATED = "2026-11-20T09:00:00Z"


@dataclass(frozen=True)
class PortBehavior:
    """What listens on one pod port: an apps.AppBehavior kind (None = nothing listens)."""

    kind: str | None
    status: int = 200
    delay: float = 0.0


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    story: str  # what is broken, for `kdiag demo --list`
    objects: tuple[Mapping[str, Any], ...]
    #: (pod name, container port) -> behaviour; ports not listed are closed.
    listeners: Mapping[tuple[str, int], PortBehavior]
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    client_url: str | None = None
    page_url: str | None = None
    idle: float | None = None
    expect_hop: str | None = None
    expect_check: str | None = None
    #: The verdict status; by default "fail" when a check is expected, else "ok".
    expect_status: str | None = None
    forbidden: tuple[tuple[str, str, str | None], ...] = ()
    drop_upgrade: bool = False
    #: Secrets whose certificates the lab mints for TLS hosts: (namespace, name) -> host.
    tls_secrets: Mapping[tuple[str, str], str] = field(default_factory=dict)
    #: A Deployment the lab can roll (`kdiag.lab.rollout`); its data plane then names upstreams.
    rollout: str | None = None
    #: The entry data plane: "ingress" (ingress-nginx) or "gateway" (Gateway API: NGINX Gateway Fabric,
    #: or the Envoy flavor `data_plane` names).
    kind: str = "ingress"
    #: The controller's data plane: "ingress-nginx" (NGF for kind "gateway"), an Envoy flavor of
    #: kdiag.lab.envoy ("contour", "envoy-gateway", …), or an HAProxy controller ("haproxytech",
    #: "haproxy-ingress"), which runs real HAProxy (kdiag.lab.haproxy).
    data_plane: str = "ingress-nginx"
    #: The controller's Service (namespace, name): its NodePorts and pods lead to the data plane.
    controller_service: tuple[str, str] = ("ingress-nginx", "ingress-nginx-controller")
    #: A load balancer in front of the controller (kdiag.lab.edge.EdgeSpec): the published address is its.
    edge: Any = None

    @property
    def verdict_status(self) -> str:
        return self.expect_status or ("fail" if self.expect_check else "ok")

    @property
    def node_ports(self) -> set[int]:
        """NodePorts the scenario's objects reserve (the lab keeps its own ports off them)."""
        return {int(p["nodePort"]) for o in self.objects if o.get("kind") == "Service"
                for p in (o.get("spec") or {}).get("ports") or () if p.get("nodePort")}


# -- object builders ----------------------------------------------------------------------


def _md(name: str, ns: str | None = NS, **extra: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "uid": f"uid-{name}", "creationTimestamp": CREATED,
                          "resourceVersion": "1000"}
    if ns is not None:
        md["namespace"] = ns
    md.update(extra)
    return md


def _infra(*, http_nodeport: int = 30080, https_nodeport: int = 30443) -> list[dict[str, Any]]:
    """Namespaces, the node, the ingress class and the ingress-nginx controller's Service."""
    return [
        {"kind": "Namespace", "apiVersion": "v1", "metadata": _md(NS, None), "status": {"phase": "Active"}},
        {"kind": "Namespace", "apiVersion": "v1", "metadata": _md("ingress-nginx", None),
         "status": {"phase": "Active"}},
        {"kind": "Node", "apiVersion": "v1", "metadata": _md("lab-node-1", None, labels={
            "kubernetes.io/hostname": "lab-node-1"}),
         "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                  {"type": "Hostname", "address": "lab-node-1"}],
                    "conditions": [{"type": "Ready", "status": "True"}]}},
        {"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1",
         "metadata": _md("nginx", None, annotations={"ingressclass.kubernetes.io/is-default-class": "true"},
                         labels={"app.kubernetes.io/name": "ingress-nginx"}),
         "spec": {"controller": "k8s.io/ingress-nginx"}},
        {"kind": "Service", "apiVersion": "v1",
         "metadata": _md("ingress-nginx-controller", "ingress-nginx", labels={
             "app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}),
         "spec": {"type": "NodePort", "clusterIP": "10.96.0.20",
                  "selector": {"app.kubernetes.io/name": "ingress-nginx",
                               "app.kubernetes.io/component": "controller"},
                  "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP",
                             "nodePort": http_nodeport},
                            {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP",
                             "nodePort": https_nodeport}]}},
        {"kind": "ConfigMap", "apiVersion": "v1",
         "metadata": _md("ingress-nginx-controller", "ingress-nginx",
                         labels={"app.kubernetes.io/name": "ingress-nginx"}),
         "data": {"allow-snippet-annotations": "false"}},
    ]


def _container(*, ports: Mapping[str, int], command: list[str] | None = None,
               readiness: Mapping[str, Any] | None = None, image: str = "registry.lab/chatapp:1.4.2",
               name: str = "chatapp") -> dict[str, Any]:
    c: dict[str, Any] = {
        "name": name,
        "image": image,
        "ports": [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports.items()],
        "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
    }
    if command:
        c["command"] = command
    if readiness is not None:
        c["readinessProbe"] = dict(readiness)
    return c


def _http_readiness(port: int | str) -> dict[str, Any]:
    return {"httpGet": {"path": "/healthz", "port": port}, "periodSeconds": 5}


def _deployment(name: str, labels: Mapping[str, str], container: Mapping[str, Any], replicas: int) -> dict[str, Any]:
    return {
        "kind": "Deployment", "apiVersion": "apps/v1", "metadata": _md(name, labels=dict(labels)),
        "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                 "strategy": {"type": "RollingUpdate",
                              "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": dict(labels)},
                              "spec": {"terminationGracePeriodSeconds": 30,
                                       "containers": [dict(container)]}}},
        "status": {"replicas": replicas, "readyReplicas": replicas, "updatedReplicas": replicas},
    }


def _pods(deploy: Mapping[str, Any], suffixes: list[str], ip_base: int, *, ready: bool = True,
          hash_: str = "7d9c5b8f6") -> list[dict[str, Any]]:
    name = deploy["metadata"]["name"]
    tmpl = deploy["spec"]["template"]
    rs = f"{name}-{hash_}"
    pods = []
    for i, sfx in enumerate(suffixes):
        cond = "True" if ready else "False"
        cstatus = {"ready": ready, "restartCount": 0, "started": True,
                   "state": {"running": {"startedAt": CREATED}}}
        pods.append({
            "kind": "Pod", "apiVersion": "v1",
            "metadata": _md(f"{rs}-{sfx}", labels={**tmpl["metadata"]["labels"], "pod-template-hash": hash_},
                            ownerReferences=[{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                              "uid": f"uid-{rs}", "controller": True}]),
            "spec": {**copy.deepcopy(tmpl["spec"]), "nodeName": "lab-node-1"},
            "status": {"phase": "Running", "podIP": f"10.244.1.{ip_base + i}", "hostIP": "127.0.0.1",
                       "conditions": [{"type": "Ready", "status": cond},
                                      {"type": "ContainersReady", "status": cond},
                                      {"type": "PodScheduled", "status": "True"}],
                       "containerStatuses": [{**cstatus, "name": c["name"], "image": c["image"]}
                                             for c in tmpl["spec"]["containers"]]},
        })
    replicaset = {
        "kind": "ReplicaSet", "apiVersion": "apps/v1",
        "metadata": _md(rs, labels={**tmpl["metadata"]["labels"], "pod-template-hash": hash_},
                        ownerReferences=[{"apiVersion": "apps/v1", "kind": "Deployment", "name": name,
                                          "uid": f"uid-{name}", "controller": True}]),
        "spec": {"replicas": len(suffixes), "selector": deploy["spec"]["selector"], "template": tmpl},
        "status": {"replicas": len(suffixes), "readyReplicas": len(suffixes) if ready else 0},
    }
    return [replicaset, *pods]


def _service(name: str, selector: Mapping[str, str], ports: list[tuple[str, int, int | str]]) -> dict[str, Any]:
    return {"kind": "Service", "apiVersion": "v1", "metadata": _md(name),
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.14.7", "selector": dict(selector),
                     "ports": [{"name": n, "port": p, "targetPort": t, "protocol": "TCP"} for n, p, t in ports]}}


def _ingress(name: str, paths: list[tuple[str, str, str, int]], *, host: str = HOST,
             annotations: Mapping[str, str] | None = None, tls_secret: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ingressClassName": "nginx",
        "rules": [{"host": host, "http": {"paths": [
            {"path": path, "pathType": ptype, "backend": {"service": {"name": svc, "port": {"number": port}}}}
            for path, ptype, svc, port in paths]}}],
    }
    if tls_secret:
        spec["tls"] = [{"hosts": [host], "secretName": tls_secret}]
    return {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
            "metadata": _md(name, annotations=dict(annotations or {})), "spec": spec,
            "status": {"loadBalancer": {}}}


# -- the chat app (seed 000) and its variations ---------------------------------------------

CHAT_LABELS = {"app": "chatapp"}
CHAT_PORTS = {"web": 3000, "api": 3001, "ws": 3002}
CHAT_PODS = ["x2x7k", "q9h4z"]
WS_TIMEOUTS = {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
               "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600"}


def _chat_listeners(pods: list[str], *, hash_: str = "7d9c5b8f6", name: str = "chatapp",
                    override: Mapping[int, PortBehavior] | None = None) -> dict[tuple[str, int], PortBehavior]:
    """What listens in each chat pod: web on 3000 and 3001, WebSocket on 3002 (or `override`)."""
    ports = {3000: PortBehavior("web"), 3001: PortBehavior("web"), 3002: PortBehavior("websocket"),
             **(override or {})}
    return {(f"{name}-{hash_}-{sfx}", port): b for sfx in pods for port, b in ports.items()}


def _chat(*, target_ports: tuple[int | str, int | str, int | str] = ("web", "api", "ws"),
          backend: str = "chatapp-svc", annotations: Mapping[str, str] | None = None,
          ready: bool = True, tls_secret: str | None = None, readiness: bool = True,
          node_ports: tuple[int, int, int] | None = None) -> list[dict[str, Any]]:
    container = _container(ports=CHAT_PORTS, readiness=_http_readiness("api") if readiness else None)
    deploy = _deployment("chatapp", CHAT_LABELS, container, replicas=len(CHAT_PODS))
    if not ready:
        deploy["status"]["readyReplicas"] = 0
    svc = _service("chatapp-svc", CHAT_LABELS,
                   [("web", 3001, target_ports[0]), ("api", 3002, target_ports[1]), ("ws", 3003, target_ports[2])])
    if node_ports:
        svc["spec"]["type"] = "NodePort"
        for port, node_port in zip(svc["spec"]["ports"], node_ports, strict=True):
            port["nodePort"] = node_port
    ing = _ingress("chatapp", [("/", "Prefix", backend, 3001), ("/api", "Prefix", backend, 3002),
                               ("/wss", "Prefix", backend, 3003)],
                   annotations=WS_TIMEOUTS if annotations is None else annotations, tls_secret=tls_secret)
    return [deploy, *_pods(deploy, CHAT_PODS, 11, ready=ready), svc, ing]


def _tls_secret(name: str) -> dict[str, Any]:
    return {"kind": "Secret", "apiVersion": "v1", "type": "kubernetes.io/tls", "metadata": _md(name),
            "data": {"tls.crt": "", "tls.key": ""}}


def _healthy() -> Scenario:
    return Scenario(
        name="healthy", title="Everything works",
        story="The chat app with a correct Ingress, Service and ready pods; WebSocket timeouts raised to 1 h.",
        objects=tuple(_infra() + _chat()), listeners=_chat_listeners(CHAT_PODS),
        url=f"ws://{HOST}/wss")


def _ingress_names_deployment() -> Scenario:
    return Scenario(
        name="ingress-names-deployment", title="The Ingress names the Deployment, not the Service",
        story="Seed 000: every Ingress path points at `chatapp-deployment` — a Deployment's name. "
              "An Ingress can only send traffic to a Service, so the controller has no endpoints: 503.",
        objects=tuple(_infra() + _chat(backend="chatapp-deployment")),
        listeners=_chat_listeners(CHAT_PODS), url=f"http://{HOST}/api",
        expect_hop="ingress", expect_check="ingress-backend-service-missing")


def _target_port_mismatch(name: str = "target-port-mismatch", forbidden: tuple[tuple[str, str, str | None], ...] = ()) -> Scenario:
    return Scenario(
        name=name,
        title="Service targetPorts do not match the container" + (" (reads forbidden)" if forbidden else ""),
        story="Seed 000: the Service forwards to targetPorts 5001-5003 but the app listens on "
              "3000-3002. The pod answers the WebSocket handshake on 3002; through the Service nothing does."
              + (" Secrets, Events and EndpointSlices cannot be read (RBAC)." if forbidden else ""),
        objects=tuple(_infra() + _chat(target_ports=(5001, 5002, 5003))),
        listeners=_chat_listeners(CHAT_PODS), url=f"ws://{HOST}/wss",
        expect_hop="service", expect_check="service-target-port-mismatch", forbidden=forbidden)


def _relative_ws_url() -> Scenario:
    return Scenario(
        name="relative-ws-url", title="The browser's WebSocket URL is relative",
        story="Seed 000, the last bug: every hop works (101 at pod, Service and Ingress), but the "
              "frontend's .env has chat_endpoint=/wss, and older browsers reject `new WebSocket('/wss')`.",
        objects=tuple(_infra() + _chat()), listeners=_chat_listeners(CHAT_PODS),
        url=f"ws://{HOST}/wss", client_url="/wss", page_url=f"http://{HOST}/",
        expect_hop="client", expect_check="client-websocket-url-not-absolute")


def _idle_timeout() -> Scenario:
    return Scenario(
        name="idle-timeout", title="WebSockets drop after a few idle seconds",
        story="Seed 001: the Ingress keeps ingress-nginx's short proxy-read-timeout (60 s by default; "
              "3 s here so it shows quickly). An idle WebSocket is cut at the Ingress, never at the pod.",
        objects=tuple(_infra() + _chat(annotations={"nginx.ingress.kubernetes.io/proxy-read-timeout": "3",
                                                    "nginx.ingress.kubernetes.io/proxy-send-timeout": "3"})),
        listeners=_chat_listeners(CHAT_PODS), url=f"ws://{HOST}/wss", idle=5.0,
        expect_hop="ingress", expect_check="websocket-idle-disconnect")


GAME_HOST = "game.example.com"


def _game(*, selector_version: str, canary_listens: bool = True) -> tuple[list[dict[str, Any]], dict[tuple[str, int], PortBehavior]]:
    labels_v1 = {"serverType": "http", "env": "production", "version": "1.0.0001"}
    c = _container(ports={"http": 80}, readiness=_http_readiness("http"), image="registry.lab/game-http:1.0.0001",
                   name="httpapp")
    deploy = _deployment("http-prod-1.0.0001", labels_v1, c, replicas=2)
    objs = [deploy, *_pods(deploy, ["a1b2c", "d3e4f"], 21, hash_="5f6d7c8b9")]
    svc = _service("http-prod", {"serverType": "http", "env": "production", "version": selector_version},
                   [("http", 80, 80)])
    ing = _ingress("game", [("/", "Prefix", "http-prod", 80)], host=GAME_HOST, annotations={})
    objs += [svc, ing]
    listeners = {(f"http-prod-1.0.0001-5f6d7c8b9-{s}", 80): PortBehavior("web") for s in ("a1b2c", "d3e4f")}
    return objs, listeners


def _selector_drift() -> Scenario:
    objs, listeners = _game(selector_version="1.0.0000")
    return Scenario(
        name="selector-drift", title="The Service selects an old version label",
        story="Seed 002: the Service selector carries `version: 1.0.0000` while the new pods are "
              "labelled `1.0.0001`. The selector matches no pod, so the Ingress answers 503.",
        objects=tuple(_infra() + objs), listeners=listeners, url=f"http://{GAME_HOST}/",
        expect_hop="service", expect_check="service-selector-matches-no-pods")


def _canary_broken() -> Scenario:
    objs, listeners = _game(selector_version="1.0.0001")
    labels_c = {"serverType": "http", "env": "production", "version": "1.1.0000"}
    c = _container(ports={"http": 80}, readiness={"tcpSocket": {"port": 81}},
                   image="registry.lab/game-http:1.1.0000", name="httpapp")
    deploy = _deployment("http-prod-1.1.0000", labels_c, c, replicas=1)
    objs += [deploy, *_pods(deploy, ["z9y8x"], 31, hash_="6c7d8e9f0")]
    objs.append(_service("http-canary", labels_c, [("http", 80, 80)]))
    objs.append(_ingress("game-canary", [("/", "Prefix", "http-canary", 80)], host=GAME_HOST, annotations={
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-by-header": "Version",
        "nginx.ingress.kubernetes.io/canary-by-header-value": "1.1.0000"}))
    # The canary build listens on 8080 instead of 80: nothing answers on the port it declares.
    return Scenario(
        name="canary-broken", title="A header canary routes to a build that does not listen",
        story="Seed 002's grey release, done with ingress-nginx canary annotations: requests with "
              "`Version: 1.1.0000` go to the canary build, whose pod does not listen on port 80.",
        objects=tuple(_infra() + objs), listeners=listeners, url=f"http://{GAME_HOST}/",
        headers={"Version": "1.1.0000"}, expect_hop="pod", expect_check="pod-port-not-listening")


def _pods_not_ready() -> Scenario:
    listeners = _chat_listeners(CHAT_PODS)
    return Scenario(
        name="pods-not-ready", title="A rollout left no pod Ready",
        story="Seed 003: during a rollout the new pods fail their readiness probe, so the Service has "
              "no ready endpoint and ingress-nginx answers 503 although the processes run.",
        objects=tuple(_infra() + _chat(ready=False)), listeners=listeners, url=f"http://{HOST}/api",
        expect_hop="pod", expect_check="pod-not-ready")


def _upgrade_dropped() -> Scenario:
    return Scenario(
        name="upgrade-dropped", title="A proxy in front of the Ingress drops the Upgrade header",
        story="An intermediate proxy (an old load balancer speaking HTTP/1.0 upstream) strips "
              "`Upgrade`/`Connection`: the pod and the Service answer 101, the Ingress hop does not.",
        objects=tuple(_infra() + _chat()), listeners=_chat_listeners(CHAT_PODS),
        url=f"ws://{HOST}/wss", drop_upgrade=True,
        expect_hop="ingress", expect_check="ingress-upgrade-not-forwarded")


def _no_rule() -> Scenario:
    return Scenario(
        name="no-rule-matches", title="No Ingress rule matches the host",
        story="The browser uses www.chatapp.com but the Ingress only has a rule for chatapp.com, so "
              "the controller's default backend answers 404.",
        objects=tuple(_infra() + _chat()), listeners=_chat_listeners(CHAT_PODS),
        url=f"http://www.{HOST}/", expect_hop="ingress", expect_check="ingress-no-rule-matches")


def _tls_secret_missing() -> Scenario:
    return Scenario(
        name="tls-secret-missing", title="The Ingress names a TLS Secret that does not exist",
        story="Seed 002: `tls.secretName: chatapp-tls` was never created in this namespace, so "
              "ingress-nginx serves its self-signed 'Fake Certificate' and browsers refuse it.",
        objects=tuple(_infra() + _chat(tls_secret="chatapp-tls")), listeners=_chat_listeners(CHAT_PODS),
        url=f"https://{HOST}/", expect_hop="ingress", expect_check="ingress-tls-secret-missing")


def _ws_rejected() -> Scenario:
    listeners = _chat_listeners(CHAT_PODS, override={3002: PortBehavior("http-only")})
    return Scenario(
        name="ws-rejected", title="The app answers the WebSocket handshake with 200",
        story="The process on the WebSocket port is a plain HTTP server (a build without the chat "
              "server, or the web port wired in by mistake): it answers the upgrade with 200, at every hop.",
        objects=tuple(_infra() + _chat()), listeners=listeners, url=f"ws://{HOST}/wss",
        expect_hop="pod", expect_check="pod-websocket-rejected")


def _backend_5xx() -> Scenario:
    listeners = _chat_listeners(CHAT_PODS, override={3001: PortBehavior("error", status=500)})
    return Scenario(
        name="backend-5xx", title="The API answers 500 itself",
        story="Every hop forwards the request faithfully; the pods' API process answers "
              "500 Internal Server Error. The fix is in the application (or its logs), not in Kubernetes.",
        objects=tuple(_infra() + _chat()), listeners=listeners, url=f"http://{HOST}/api",
        expect_hop="pod", expect_check="pod-http-error")


def _backend_hangs_up() -> Scenario:
    listeners = _chat_listeners(CHAT_PODS, override={3001: PortBehavior("hangup")})
    return Scenario(
        name="backend-hangs-up", title="The API process closes the connection without answering",
        story="The pods' API port accepts the connection, reads the request and closes it without a "
              "byte of answer (a crash on the request, another protocol on the port). No specific "
              "check explains it; the pod hop is still named.",
        objects=tuple(_infra() + _chat()), listeners=listeners, url=f"http://{HOST}/api",
        expect_hop="pod", expect_check="pod-probe-failed")


def _nodeport_closed() -> Scenario:
    return Scenario(
        name="nodeport-closed", title="The Service's NodePort does not answer from here",
        story="Seed 000's debugging step: the Service is exposed as a NodePort, but nothing answers on "
              "the node's port from where kdiag runs (a firewall, or externalTrafficPolicy: Local on a node "
              "without pods). The Service itself works through the API server's proxy, so this is a warning.",
        objects=tuple(_infra() + _chat(node_ports=(30301, 30302, 30303))), listeners=_chat_listeners(CHAT_PODS),
        url=f"ws://{HOST}/wss", expect_hop="service", expect_check="service-nodeport-unreachable",
        expect_status="warn")


def _rollout(graceful: bool) -> Scenario:
    objs = _infra() + _chat()
    for o in objs:  # the chat pods' shutdown: a 2 s preStop sleep, or none at all
        for c in ((o.get("spec") or {}).get("template") or o).get("spec", {}).get("containers") or ():
            c["lifecycle"] = {"preStop": {"sleep": {"seconds": 2}}} if graceful else {}
    name = "rollout-graceful" if graceful else "rollout-no-prestop"
    return Scenario(
        name=name, title="A rolling update " + ("with a preStop delay" if graceful else "of pods without preStop"),
        story="Seed 003: `kdiag watch` keeps WebSockets open while the lab restarts the chatapp Deployment; "
              + ("a 2 s preStop sleep keeps old pods serving until routing moved on: no request is lost."
                 if graceful else "old pods exit on SIGTERM while the ingress still routes to them: "
                                  "WebSockets drop with 1006."),
        objects=tuple(objs), listeners=_chat_listeners(CHAT_PODS), url=f"ws://{HOST}/wss", rollout="chatapp",
        expect_hop=None if graceful else "pod", expect_check=None if graceful else "pod-no-graceful-shutdown",
        expect_status=None if graceful else "warn")


FORBIDDEN_READS: tuple[tuple[str, str, str | None], ...] = (
    ("list", "secrets", "*"), ("get", "secrets", "*"), ("list", "events", "*"),
    ("list", "endpointslices", "*"), ("get", "endpointslices", "*"),
)

_BUILDERS: tuple[Callable[[], Scenario], ...] = (
    _ingress_names_deployment,
    _target_port_mismatch,
    _relative_ws_url,
    _idle_timeout,
    _selector_drift,
    _canary_broken,
    _pods_not_ready,
    _upgrade_dropped,
    _no_rule,
    _tls_secret_missing,
    lambda: _target_port_mismatch("forbidden-reads", FORBIDDEN_READS),
    _ws_rejected,
    _backend_5xx,
    _backend_hangs_up,
    _nodeport_closed,
    _healthy,
    lambda: _rollout(False),
    lambda: _rollout(True),
)

def _gateway_scenarios() -> list[Scenario]:
    from kdiag.lab.gateway_scenarios import gateway_scenarios  # built on the helpers above

    return gateway_scenarios()


def _dataplane_stories() -> list[Scenario]:
    from kdiag.lab.dataplane_scenarios import stories  # built on the helpers above
    from kdiag.lab.edge_scenarios import stories as edge_stories
    from kdiag.lab.gateway_backend_scenarios import stories as gateway_backends
    from kdiag.lab.gateway_timeout_scenarios import stories as gateway_timeouts
    from kdiag.lab.haproxy_scenarios import stories as haproxy_stories

    return stories() + edge_stories() + haproxy_stories() + gateway_timeouts() + gateway_backends()


SCENARIOS: dict[str, Scenario] = {
    s.name: s for s in (*(b() for b in _BUILDERS), *_gateway_scenarios(), *_dataplane_stories())}


def scenario_names() -> list[str]:
    return list(SCENARIOS)


def get_scenario(name: str) -> Scenario:
    from kdiag.errors import UsageError

    try:
        return SCENARIOS[name]
    except KeyError:
        raise UsageError(f"unknown scenario {name!r}; `kdiag demo --list` shows them") from None
