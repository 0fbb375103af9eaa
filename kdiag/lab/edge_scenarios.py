"""Demo stories of issue 10 that break between the load balancer and the controller (kdiag.lab.edge).

- `lb-tls-redirect-loop` (`ingress-ssl-redirect-loop`): the load balancer ends TLS (an AWS Classic ELB with an HTTPS
  listener, made by the in-tree annotations `aws-load-balancer-ssl-cert` and
  `aws-load-balancer-backend-protocol: http`) and forwards plain HTTP to ingress-nginx's http port;
  the Ingress has `force-ssl-redirect: "true"`, and the controller does not take the scheme from
  the load balancer's X-Forwarded-Proto (`use-forwarded-headers` is off, the default). Every https
  request arrives as http and gets 308 to the very same https URL: ERR_TOO_MANY_REDIRECTS.
  (dataplane-facts.md §1.6; lua_ingress.lua `redirect_to_https`, cited in the check.)
- `lb-etp-local-node` (`service-external-traffic-policy-local`): the controller's LoadBalancer Service has
  `externalTrafficPolicy: Local`; the controller runs on lab-node-1 only, and the load balancer
  (its health check not on `healthCheckNodePort`) sends to lab-node-2, whose NodePort drops the
  traffic (dataplane-facts.md §4). The lab's second node is 127.0.0.2: all of 127.0.0.0/8 is
  loopback on Linux, and nothing listens there.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from kdiag.lab.dataplane_scenarios import controller_pods
from kdiag.lab.edge import EdgeSpec

if TYPE_CHECKING:
    from kdiag.lab.scenarios import Scenario

__all__ = ["EMPTY_NODE", "HEALTH_CHECK_NODE_PORT", "stories"]

#: The node without a controller pod (the lab's second node: another loopback address).
EMPTY_NODE = ("lab-node-2", "127.0.0.2")
#: What the API server assigns a LoadBalancer Service with `externalTrafficPolicy: Local`.
HEALTH_CHECK_NODE_PORT = 32145

CONTROLLER_LABELS = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}


def _controller(objs: list[dict[str, Any]]) -> dict[str, Any]:
    return next(o for o in objs if o.get("kind") == "Service" and o["metadata"]["name"] == "ingress-nginx-controller")


def _base(*, annotations: dict[str, str]) -> list[dict[str, Any]]:
    """The chat app behind ingress-nginx with its controller pod (on lab-node-1)."""
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories

    return (b._infra()
            + controller_pods("ingress-nginx", "ingress-nginx-controller", dict(CONTROLLER_LABELS),
                              "registry.k8s.io/ingress-nginx/controller:v1.15.1", ports={"http": 80, "https": 443})
            + b._chat(annotations=annotations))


def tls_ended_at_the_lb(*, passthrough: bool = False) -> list[dict[str, Any]]:
    """The redirect-loop cluster; `passthrough`: the fixed one (443 -> the controller's https port,
    the Ingress with its own certificate), where the controller sees https and does not redirect."""
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories

    objs = _base(annotations={**b.WS_TIMEOUTS, "nginx.ingress.kubernetes.io/force-ssl-redirect": "true"})
    svc = _controller(objs)
    if passthrough:
        ing = next(o for o in objs if o.get("kind") == "Ingress")
        ing["spec"]["tls"] = [{"hosts": [b.HOST], "secretName": "chatapp-tls"}]
        objs.append(b._tls_secret("chatapp-tls"))
        return objs
    svc["spec"]["type"] = "LoadBalancer"  # the in-tree cloud provider makes the ELB from these annotations
    svc["metadata"]["annotations"] = {
        "service.beta.kubernetes.io/aws-load-balancer-ssl-cert":
            "arn:aws:acm:eu-west-1:123456789012:certificate/5f1c2a9e-lab",
        "service.beta.kubernetes.io/aws-load-balancer-backend-protocol": "http",
        "service.beta.kubernetes.io/aws-load-balancer-ssl-ports": "https"}
    for p in svc["spec"]["ports"]:
        if p["name"] == "https":
            p["targetPort"] = "http"  # the LB's TLS listener forwards to the controller's plain port
    return objs


def _ssl_redirect_loop() -> Scenario:
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories

    edge = EdgeSpec(port=8443, terminate_tls=True, forwarded_proto=True,
                    name="AWS Classic ELB with an HTTPS listener")
    return b.Scenario(
        name="lb-tls-redirect-loop", title="TLS ends at the load balancer: the controller redirects to https forever",
        story="The load balancer in front of ingress-nginx ends TLS (an AWS ELB HTTPS listener) and forwards "
              "plain HTTP to the controller's http port. The Ingress has force-ssl-redirect, and the controller "
              "does not trust X-Forwarded-Proto (use-forwarded-headers is off), so every https request arrives "
              "as http and gets 308 to the same https URL: the browser stops with ERR_TOO_MANY_REDIRECTS.",
        objects=tuple(tls_ended_at_the_lb()), listeners=b._chat_listeners(b.CHAT_PODS),
        url=f"https://{b.HOST}:{edge.port}/", expect_hop="ingress", expect_check="ingress-ssl-redirect-loop",
        edge=edge)


def local_policy_two_nodes() -> list[dict[str, Any]]:
    """The chat app's controller Service with `externalTrafficPolicy: Local`, on two nodes of which
    only lab-node-1 runs a controller pod."""
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories

    objs = _base(annotations=b.WS_TIMEOUTS)
    node = copy.deepcopy(next(o for o in objs if o.get("kind") == "Node"))
    name, address = EMPTY_NODE
    node["metadata"].update(name=name, uid=f"uid-{name}", labels={"kubernetes.io/hostname": name})
    node["status"]["addresses"] = [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}]
    objs.insert(objs.index(next(o for o in objs if o.get("kind") == "Node")) + 1, node)
    spec = _controller(objs)["spec"]
    spec.update(type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=HEALTH_CHECK_NODE_PORT)
    return objs


def _local_policy() -> Scenario:
    from kdiag.lab import scenarios as b  # lazily: kdiag.lab.scenarios registers these stories

    edge = EdgeSpec(port=8080, node=EMPTY_NODE[1], name="external load balancer (TCP health check off)")
    return b.Scenario(
        name="lb-etp-local-node",
        title="The load balancer sends to a node without a controller pod (externalTrafficPolicy: Local)",
        story="The ingress-nginx Service is a LoadBalancer with externalTrafficPolicy: Local (to keep client "
              "IPs). The controller runs on lab-node-1 only; the load balancer, whose health check does not use "
              "the Service's healthCheckNodePort, sends to lab-node-2, which drops the traffic. Through the "
              "controller's own pod every request works.",
        objects=tuple(local_policy_two_nodes()), listeners=b._chat_listeners(b.CHAT_PODS),
        url=f"http://{b.HOST}:{edge.port}/", expect_hop="edge", expect_check="service-external-traffic-policy-local",
        edge=edge)


def stories() -> list[Scenario]:
    return [_ssl_redirect_loop(), _local_policy()]
