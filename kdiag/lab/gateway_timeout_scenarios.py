"""Demo stories of Envoy Gateway's timeouts: the chat app behind Envoy Gateway instead of NGF.

Each cluster has a GatewayClass `eg` (Envoy Gateway's controllerName), a Gateway `eg` in `default`
with one HTTP listener on port 80, the data-plane Service Envoy Gateway provisions for it in
`envoy-gateway-system` (labelled `gateway.envoyproxy.io/owning-gateway-name`; a NodePort here),
HTTPRoutes and Envoy Gateway's policy CRDs (`gateway.envoyproxy.io/v1alpha1`), with the status
the lab's Gateway controller writes. The data plane is the lab's Envoy emulation
(kdiag.lab.envoy), which takes every timeout from these objects (kdiag.lab.envoy.policies).

- `eg-route-timeout`: a report export takes 2 s; the HTTPRoute rule for /reports sets
  `timeouts.request: 1s`, so Envoy answers 504 "upstream request timeout" after 1 s while the
  pod answers 200 after 2 s.
- `eg-stream-idle-timeout`: a ClientTrafficPolicy on the Gateway sets
  `spec.timeout.http.streamIdleTimeout: 2s` (Envoy's default is 5 min); an idle WebSocket is reset
  by Envoy after 2 s while it stays open at the pod.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any

from kdiag.lab.gateway.controller import EG_CONTROLLER, with_status

if TYPE_CHECKING:
    from kdiag.lab.scenarios import Scenario

__all__ = ["EG_CONTROLLER", "EXPORT_SECONDS", "REQUEST_TIMEOUT", "STREAM_IDLE_TIMEOUT", "stories"]

G = "gateway.networking.k8s.io/v1"
EG_API = "gateway.envoyproxy.io/v1alpha1"
EG_NS = "envoy-gateway-system"
GATEWAY = "eg"
#: The demo's values (seconds): the route's request timeout and how long the export takes;
#: the ClientTrafficPolicy's stream idle timeout (Envoy's default 5 min, shortened to show quickly).
REQUEST_TIMEOUT = 1.0
EXPORT_SECONDS = 2.0
STREAM_IDLE_TIMEOUT = 2.0


def _lab() -> ModuleType:
    """kdiag.lab.scenarios, imported when a builder runs (it registers these stories at its end)."""
    return importlib.import_module("kdiag.lab.scenarios")


def _eg_infra() -> list[dict[str, Any]]:
    """Namespaces, the node, the GatewayClass, the Gateway and the Envoy Service EG provisions."""
    lab = _lab()
    labels = {"app.kubernetes.io/name": "envoy", "app.kubernetes.io/component": "proxy",
              "app.kubernetes.io/managed-by": "envoy-gateway",
              "gateway.envoyproxy.io/owning-gateway-name": GATEWAY,
              "gateway.envoyproxy.io/owning-gateway-namespace": "default"}
    return [
        *(o for o in lab._infra() if o.get("kind") in ("Namespace", "Node")
          and (o.get("metadata") or {}).get("name") != "ingress-nginx"),
        {"kind": "Namespace", "apiVersion": "v1", "metadata": lab._md(EG_NS, None), "status": {"phase": "Active"}},
        {"kind": "GatewayClass", "apiVersion": G, "metadata": lab._md("eg", None),
         "spec": {"controllerName": EG_CONTROLLER}},
        {"kind": "Gateway", "apiVersion": G, "metadata": lab._md(GATEWAY),
         "spec": {"gatewayClassName": "eg", "listeners": [
             {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "Same"}}}]}},
        {"kind": "Service", "apiVersion": "v1", "metadata": lab._md("envoy-default-eg-e41e7b31", EG_NS, labels=labels),
         "spec": {"type": "NodePort", "clusterIP": "10.96.0.40", "selector": dict(labels),
                  "ports": [{"name": "http-80", "port": 80, "targetPort": 10080, "protocol": "TCP",
                             "nodePort": 30280}]}},
    ]


def _rule(path: str, svc: str, port: int, timeouts: Mapping[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"matches": [{"path": {"type": "PathPrefix", "value": path}}],
                            "backendRefs": [{"name": svc, "port": port}]}
    if timeouts:
        rule["timeouts"] = dict(timeouts)
    return rule


def _chat_route(extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    lab = _lab()
    rules = [_rule("/wss", "chatapp-svc", 3003), *(extra or []), _rule("/api", "chatapp-svc", 3002),
             _rule("/", "chatapp-svc", 3001)]
    return {"kind": "HTTPRoute", "apiVersion": G, "metadata": lab._md("chatapp"),
            "spec": {"parentRefs": [{"name": GATEWAY, "sectionName": "http"}], "hostnames": [lab.HOST],
                     "rules": rules}}


def _chat_app() -> list[dict[str, Any]]:
    return [o for o in _lab()._chat() if o.get("kind") != "Ingress"]


REPORTS_LABELS = {"app": "reports"}
REPORTS_PODS = ["r4p2k"]


def _reports_app() -> tuple[list[dict[str, Any]], dict[tuple[str, int], Any]]:
    """The report service: one pod whose export answers after EXPORT_SECONDS."""
    lab = _lab()
    c = lab._container(ports={"http": 8080}, readiness=lab._http_readiness("http"),
                       image="registry.lab/reports:3.2.0", name="reports")
    deploy = lab._deployment("reports", REPORTS_LABELS, c, replicas=len(REPORTS_PODS))
    svc = lab._service("reports", REPORTS_LABELS, [("http", 80, "http")])
    svc["spec"]["clusterIP"] = "10.96.21.7"
    listeners = {(f"reports-7d9c5b8f6-{s}", 8080): lab.PortBehavior("slow", delay=EXPORT_SECONDS) for s in REPORTS_PODS}
    return [deploy, *lab._pods(deploy, REPORTS_PODS, 71), svc], listeners


def _accepted(policy: dict[str, Any]) -> dict[str, Any]:
    """The status Envoy Gateway writes on a policy it applied (gwapiv1 PolicyStatus, per ancestor)."""
    ancestors = [{"ancestorRef": {"group": "gateway.networking.k8s.io", "kind": t["kind"], "name": t["name"],
                                  "namespace": policy["metadata"]["namespace"]},
                  "controllerName": EG_CONTROLLER,
                  "conditions": [{"type": "Accepted", "status": "True", "reason": "Accepted",
                                  "message": "Policy has been accepted.", "lastTransitionTime": "2026-11-20T09:00:00Z"}]}
                 for t in policy["spec"]["targetRefs"]]
    return {**policy, "status": {"ancestors": ancestors}}


def _scenario(objects: list[dict[str, Any]], **kw: Any) -> Scenario:
    sc: Scenario = _lab().Scenario(objects=tuple(with_status(objects, controller=EG_CONTROLLER)), kind="gateway",
                                   data_plane="envoy-gateway", **kw)
    return sc


def _route_timeout() -> Scenario:
    lab = _lab()
    reports, listeners = _reports_app()
    timeout = {"request": f"{REQUEST_TIMEOUT:g}s"}
    return _scenario(
        _eg_infra() + _chat_app() + reports + [_chat_route([_rule("/reports", "reports", 80, timeout)])],
        name="eg-route-timeout", title="Envoy Gateway: a slow report export gets 504 after the route timeout",
        story=f"The chat app behind Envoy Gateway. The HTTPRoute rule for /reports sets `timeouts.request: "
              f"{REQUEST_TIMEOUT:g}s`; the monthly export takes {EXPORT_SECONDS:g} s, so Envoy answers 504 "
              f"\"upstream request timeout\" after {REQUEST_TIMEOUT:g} s while the pod answers 200.",
        listeners={**lab._chat_listeners(lab.CHAT_PODS), **listeners},
        url=f"http://{lab.HOST}/reports/export?month=2026-11", expect_hop="gateway", expect_check="gateway-route-timeout")


def _stream_idle_timeout() -> Scenario:
    lab = _lab()
    policy = _accepted({
        "kind": "ClientTrafficPolicy", "apiVersion": EG_API, "metadata": lab._md("client-timeouts"),
        "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}],
                 "timeout": {"http": {"streamIdleTimeout": f"{STREAM_IDLE_TIMEOUT:g}s"}}}})
    return _scenario(
        _eg_infra() + _chat_app() + [_chat_route(), policy],
        name="eg-stream-idle-timeout", title="Envoy Gateway: the stream idle timeout cuts idle WebSockets",
        story=f"The chat app behind Envoy Gateway. A ClientTrafficPolicy on the Gateway sets "
              f"`spec.timeout.http.streamIdleTimeout` (Envoy's default 5 min; {STREAM_IDLE_TIMEOUT:g} s here so it "
              f"shows quickly): a WebSocket that sends nothing is reset by Envoy (1006), never by the pod.",
        listeners=lab._chat_listeners(lab.CHAT_PODS), url=f"ws://{lab.HOST}/wss", idle=STREAM_IDLE_TIMEOUT + 2,
        expect_hop="gateway", expect_check="gateway-stream-idle-timeout")


def stories() -> list[Scenario]:
    return [_route_timeout(), _stream_idle_timeout()]
