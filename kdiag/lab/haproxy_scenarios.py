"""Demo stories on real HAProxy (kdiag.lab.haproxy), rendered the way the HAProxy controllers render Ingresses.

- `haproxy-nginx-timeouts-ignored`: the chat moved from ingress-nginx to the HAProxy Kubernetes
  Ingress Controller (haproxytech) and kept `nginx.ingress.kubernetes.io/proxy-read-timeout` /
  `proxy-send-timeout: "3600"`. HAProxy never reads them: an upgraded WebSocket lives by its
  `timeout tunnel`, which the controller ConfigMap (`timeout-tunnel`) sets for every route.
- `haproxy-ingress-nginx-timeouts-ignored`: the same migration to HAProxy Ingress
  (jcmoraisjr/haproxy-ingress), whose fix is per Ingress (`haproxy-ingress.github.io/timeout-tunnel`).

Facts: dataplane-facts.md §3 ("HAProxy Tech ingress", "HAProxy Ingress" rows): after an Upgrade
HAProxy applies `timeout tunnel` (default 1h) instead of the client/server timeouts; haproxytech
sets it with the ConfigMap key `timeout-tunnel` only, haproxy-ingress also per Ingress. Both
controllers take their ConfigMap from the `--configmap=NAMESPACE/NAME` argument.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kdiag.lab.dataplane_scenarios import controller_pods, controller_service

if TYPE_CHECKING:
    from kdiag.lab.scenarios import Scenario

__all__ = ["CONTROLLERS", "TUNNEL_TIMEOUT", "stories"]

#: The platform's `timeout-tunnel` (60 s in the story), shortened so the demo shows the cut quickly.
TUNNEL_TIMEOUT = 3.0

#: How each HAProxy controller is installed (its Helm chart's names): namespace, Service/ConfigMap
#: name, pod labels, image, IngressClass controller, container ports.
CONTROLLERS: dict[str, dict[str, Any]] = {
    "haproxytech": {
        "title": "HAProxy Kubernetes Ingress Controller", "namespace": "haproxy-controller",
        "name": "haproxy-kubernetes-ingress",
        "labels": {"app.kubernetes.io/name": "kubernetes-ingress", "app.kubernetes.io/instance": "haproxy-kubernetes-ingress"},
        "image": "docker.io/haproxytech/kubernetes-ingress:3.2.1", "controller": "haproxy.org/ingress-controller/haproxy",
        "ports": {"http": 8080, "https": 8443}, "container": "kubernetes-ingress-controller",
    },
    "haproxy-ingress": {
        "title": "HAProxy Ingress", "namespace": "ingress-controller", "name": "haproxy-ingress",
        "labels": {"app.kubernetes.io/name": "haproxy-ingress", "app.kubernetes.io/instance": "haproxy-ingress"},
        "image": "quay.io/jcmoraisjr/haproxy-ingress:v0.15.0", "controller": "haproxy-ingress.github.io/controller",
        "ports": {"http": 80, "https": 443}, "container": "haproxy-ingress",
    },
}


def _infra(flavor: str) -> list[dict[str, Any]]:
    """The lab's node and namespaces, and the HAProxy controller in place of ingress-nginx: its
    IngressClass (the cluster default), NodePort Service, ConfigMap and Running pod."""
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories

    c = CONTROLLERS[flavor]
    ns, name, labels = c["namespace"], c["name"], c["labels"]
    infra = [o for o in b._infra() if o.get("kind") not in ("IngressClass", "Service", "ConfigMap")
             and (o.get("metadata") or {}).get("name") != "ingress-nginx"]
    infra.append({"kind": "Namespace", "apiVersion": "v1", "metadata": b._md(ns, None), "status": {"phase": "Active"}})
    infra.append({"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1",
                  "metadata": b._md("haproxy", None, annotations={"ingressclass.kubernetes.io/is-default-class": "true"},
                                    labels=dict(labels)),
                  "spec": {"controller": c["controller"]}})
    infra.append(controller_service(ns, name, labels, "10.96.0.40"))
    infra.append({"kind": "ConfigMap", "apiVersion": "v1", "metadata": b._md(name, ns, labels=dict(labels)),
                  "data": {"timeout-tunnel": f"{TUNNEL_TIMEOUT:g}s"}})
    pods = controller_pods(ns, name, labels, c["image"], ports=c["ports"], suffix="6b8f7d9c4-h5j2k",
                           ip="10.244.0.11", container=c["container"])
    for o in pods:  # both controllers read their ConfigMap from this argument
        spec = o["spec"]["template"]["spec"] if o["kind"] == "ReplicaSet" else o["spec"]
        spec["containers"][0]["args"] = [f"--configmap={ns}/{name}"]
    return infra + pods


def _chat() -> list[dict[str, Any]]:
    """The chat app, its Ingress still carrying the ingress-nginx timeouts, now of class haproxy."""
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories

    objs = b._chat(annotations=b.WS_TIMEOUTS)
    for o in objs:
        if o.get("kind") == "Ingress":
            o["spec"]["ingressClassName"] = "haproxy"
    return objs


def _nginx_timeouts_ignored(flavor: str, name: str) -> Scenario:
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories

    c = CONTROLLERS[flavor]
    fix = ("the controller ConfigMap key `timeout-tunnel`" if flavor == "haproxytech"
           else "`haproxy-ingress.github.io/timeout-tunnel` on the Ingress")
    return b.Scenario(
        name=name, title=f"{c['title']} ignores the ingress-nginx timeouts the Ingress kept",
        story=f"The chat moved from ingress-nginx to the {c['title']} and kept "
              f"`nginx.ingress.kubernetes.io/proxy-read-timeout: \"3600\"` (and proxy-send-timeout). HAProxy "
              f"never reads them: an upgraded WebSocket lives by HAProxy's `timeout tunnel`, which the "
              f"controller ConfigMap sets to 60 s for every route ({TUNNEL_TIMEOUT:g} s here). Idle WebSockets "
              f"drop at the Ingress while the pod keeps them open; the fix is {fix}.",
        objects=tuple(_infra(flavor) + _chat()), listeners=b._chat_listeners(b.CHAT_PODS),
        url=f"ws://{b.HOST}/wss", idle=TUNNEL_TIMEOUT + 2, expect_hop="ingress",
        expect_check="controller-field-ignored", data_plane=flavor, controller_service=(c["namespace"], c["name"]))


def stories() -> list[Scenario]:
    return [_nginx_timeouts_ignored("haproxytech", "haproxy-nginx-timeouts-ignored"),
            _nginx_timeouts_ignored("haproxy-ingress", "haproxy-ingress-nginx-timeouts-ignored")]
