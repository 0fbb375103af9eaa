"""The lab's Gateway API scenarios: the chat and game apps behind NGINX Gateway Fabric instead of an Ingress.

Each cluster has a GatewayClass `nginx` (NGF's controllerName), a shared Gateway in `nginx-gateway`
with one HTTP listener on port 80, the data-plane Service NGF provisions for it (a NodePort here,
labelled `gateway.networking.k8s.io/gateway-name`), HTTPRoutes, and every object carries the status
the lab's NGF controller (`kdiag.lab.gateway.controller.with_status`) writes for it, so the fake API
server serves what the data plane does. The scenarios are `kind="gateway"`: `Lab` serves them with
the Gateway data plane (`kdiag.lab.gateway`).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kdiag.lab.gateway.controller import with_status
from kdiag.lab.gateway.model import NGF_CONTROLLER

if TYPE_CHECKING:
    from kdiag.lab.scenarios import Scenario

__all__ = ["GATEWAY", "GATEWAY_NS", "gateway_scenarios"]

G = "gateway.networking.k8s.io/v1"
GATEWAY = "shared-gateway"
GATEWAY_NS = "nginx-gateway"
#: The label NGF (and others) put on a Gateway's data-plane Service and pods.
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


def _lab() -> ModuleType:
    """kdiag.lab.scenarios, imported when a builder runs: that module registers these scenarios at
    its end, so importing it at the top here would be circular."""
    return importlib.import_module("kdiag.lab.scenarios")


def _namespace(name: str, labels: Mapping[str, str] | None = None) -> dict[str, Any]:
    lab = _lab()
    return {"kind": "Namespace", "apiVersion": "v1", "metadata": lab._md(name, None, labels=dict(labels or {})),
            "status": {"phase": "Active"}}


def _gw_infra(*, allowed: Mapping[str, Any] | None = None, extra_ns: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Namespaces, the node, the GatewayClass, the shared Gateway and its data-plane Service."""
    lab = _lab()
    listener: dict[str, Any] = {"name": "http", "port": 80, "protocol": "HTTP",
                                "allowedRoutes": dict(allowed or {"namespaces": {"from": "All"}})}
    return [
        _namespace("default"), _namespace(GATEWAY_NS), *(_namespace(n) for n in extra_ns),
        {"kind": "Node", "apiVersion": "v1", "metadata": lab._md("lab-node-1", None, labels={
            "kubernetes.io/hostname": "lab-node-1"}),
         "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                  {"type": "Hostname", "address": "lab-node-1"}],
                    "conditions": [{"type": "Ready", "status": "True"}]}},
        {"kind": "GatewayClass", "apiVersion": G, "metadata": lab._md("nginx", None),
         "spec": {"controllerName": NGF_CONTROLLER}},
        {"kind": "Gateway", "apiVersion": G, "metadata": lab._md(GATEWAY, GATEWAY_NS),
         "spec": {"gatewayClassName": "nginx", "listeners": [listener]}},
        {"kind": "Service", "apiVersion": "v1",
         "metadata": lab._md(f"{GATEWAY}-nginx", GATEWAY_NS, labels={
             GATEWAY_NAME_LABEL: GATEWAY, "app.kubernetes.io/name": f"{GATEWAY}-nginx",
             "app.kubernetes.io/managed-by": "nginx-gateway-fabric"}),
         "spec": {"type": "NodePort", "clusterIP": "10.96.0.30",
                  "selector": {GATEWAY_NAME_LABEL: GATEWAY, "app.kubernetes.io/name": f"{GATEWAY}-nginx"},
                  "ports": [{"name": "port-80", "port": 80, "targetPort": 80, "protocol": "TCP",
                             "nodePort": 30180}]}},
    ]


def _route(name: str, host: str, rules: list[dict[str, Any]], *, ns: str = "default") -> dict[str, Any]:
    lab = _lab()
    return {"kind": "HTTPRoute", "apiVersion": G, "metadata": lab._md(name, ns),
            "spec": {"parentRefs": [{"name": GATEWAY, "namespace": GATEWAY_NS, "sectionName": "http"}],
                     "hostnames": [host], "rules": rules}}


def _rule(svc: str, port: int, path: str | None = None, *, ns: str | None = None,
          headers: Mapping[str, str] | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": svc, "port": port}
    if ns:
        ref["namespace"] = ns
    rule: dict[str, Any] = {"backendRefs": [ref]}
    match: dict[str, Any] = {}
    if path:
        match["path"] = {"type": "PathPrefix", "value": path}
    if headers:
        match["headers"] = [{"type": "Exact", "name": k, "value": v} for k, v in headers.items()]
    if match:
        rule["matches"] = [match]
    return rule


def _chat_route(*, ns: str | None = None) -> dict[str, Any]:
    """The chat app's Ingress, as ingress2gateway writes it (no timeouts: none were set)."""
    lab = _lab()
    return _route("chatapp", lab.HOST, [_rule("chatapp-svc", 3003, "/wss", ns=ns), _rule("chatapp-svc", 3002, "/api", ns=ns),
                                    _rule("chatapp-svc", 3001, "/", ns=ns)])


def _chat_app() -> list[dict[str, Any]]:
    lab = _lab()
    return [o for o in lab._chat() if o.get("kind") != "Ingress"]


def _in_namespace(objs: list[dict[str, Any]], ns: str) -> list[dict[str, Any]]:
    out = copy.deepcopy(objs)
    for o in out:
        o["metadata"]["namespace"] = ns
    return out


def _scenario(objects: list[dict[str, Any]], **kw: Any) -> Scenario:
    sc: Scenario = _lab().Scenario(objects=tuple(with_status(objects)), kind="gateway", **kw)
    return sc


def _gw_healthy() -> Scenario:
    lab = _lab()
    return _scenario(
        _gw_infra() + _chat_app() + [_chat_route()],
        name="gw-healthy", title="Gateway API: everything works",
        story="The chat app behind NGINX Gateway Fabric: an HTTPRoute sends /wss, /api and / to the Service; "
              "NGF forwards WebSocket upgrades on every route by default.",
        listeners=lab._chat_listeners(lab.CHAT_PODS), url=f"ws://{lab.HOST}/wss")


def _gw_route_not_accepted() -> Scenario:
    lab = _lab()
    allowed = {"namespaces": {"from": "Selector", "selector": {"matchLabels": {"shared-gateway-access": "true"}}}}
    return _scenario(
        _gw_infra(allowed=allowed) + _chat_app() + [_chat_route()],
        name="gw-route-not-accepted", title="Gateway API: the listener does not admit the route",
        story="The shared Gateway admits routes only from namespaces labelled shared-gateway-access=true; "
              "`default` is not, so NGF sets Accepted=False (NotAllowedByListeners) and the host gets 404.",
        listeners=lab._chat_listeners(lab.CHAT_PODS), url=f"http://{lab.HOST}/",
        expect_hop="gateway", expect_check="route-not-accepted")


def _gw_refgrant_missing() -> Scenario:
    lab = _lab()
    return _scenario(
        _gw_infra(extra_ns=("chat",)) + _in_namespace(_chat_app(), "chat") + [_chat_route(ns="chat")],
        name="gw-refgrant-missing", title="Gateway API: a cross-namespace backend without ReferenceGrant",
        story="The HTTPRoute in `default` sends traffic to the Service in namespace `chat`, but `chat` has no "
              "ReferenceGrant for it: ResolvedRefs=False (RefNotPermitted) and NGF answers 500.",
        listeners=lab._chat_listeners(lab.CHAT_PODS), url=f"http://{lab.HOST}/api",
        expect_hop="gateway", expect_check="route-backend-not-permitted")


def _gw_header_broken_backend() -> Scenario:
    lab = _lab()
    objs, listeners = lab._game(selector_version="1.0.0001")
    objs = [o for o in objs if o.get("kind") != "Ingress"]
    labels_c = {"serverType": "http", "env": "production", "version": "1.1.0000"}
    c = lab._container(ports={"http": 80}, readiness={"tcpSocket": {"port": 81}},
                   image="registry.lab/game-http:1.1.0000", name="httpapp")
    deploy = lab._deployment("http-prod-1.1.0000", labels_c, c, replicas=1)
    objs += [deploy, *lab._pods(deploy, ["z9y8x"], 31, hash_="6c7d8e9f0"), lab._service("http-canary", labels_c, [("http", 80, 80)])]
    route = _route("game", lab.GAME_HOST, [_rule("http-canary", 80, headers={"Version": "1.1.0000"}),
                                       _rule("http-prod", 80)])
    return _scenario(
        _gw_infra() + objs + [route],
        name="gw-header-broken-backend", title="Gateway API: a header match routes to a build that does not listen",
        story="Seed 002's grey release as an HTTPRoute header match: requests with `Version: 1.1.0000` go to "
              "the canary build, whose pod does not listen on port 80, so NGF answers 502.",
        listeners=listeners, url=f"http://{lab.GAME_HOST}/", headers={"Version": "1.1.0000"},
        expect_hop="pod", expect_check="pod-port-not-listening")


def _gw_idle_timeout() -> Scenario:
    lab = _lab()
    policy = {"kind": "ProxySettingsPolicy", "apiVersion": "gateway.nginx.org/v1alpha1",
              "metadata": lab._md("api-timeouts", GATEWAY_NS),
              "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}],
                       "timeout": {"read": "3s"}}}
    return _scenario(
        _gw_infra() + _chat_app() + [_chat_route(), policy],
        name="gw-idle-timeout", title="Gateway API: WebSockets drop after a few idle seconds",
        story="Seed 001 behind NGF: a ProxySettingsPolicy on the shared Gateway sets proxy_read_timeout "
              "(nginx's 60 s default without one; 3 s here so it shows quickly). An idle WebSocket is cut at "
              "the gateway, never at the pod.",
        listeners=lab._chat_listeners(lab.CHAT_PODS), url=f"ws://{lab.HOST}/wss", idle=5.0,
        expect_hop="gateway", expect_check="websocket-idle-disconnect")


def gateway_scenarios() -> list[Scenario]:
    return [_gw_healthy(), _gw_route_not_accepted(), _gw_refgrant_missing(), _gw_header_broken_backend(),
            _gw_idle_timeout()]

