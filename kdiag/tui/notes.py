"""Short "what is this hop" notes that teach a newcomer the concept behind each hop."""

from __future__ import annotations

__all__ = ["HOP_LABELS", "HOP_NOTES", "hop_label"]

HOP_LABELS: dict[str, str] = {
    "client": "Client",
    "edge": "Load balancer",
    "ingress": "Ingress",
    "gateway": "Gateway",
    "service": "Service",
    "endpoints": "Endpoints",
    "pod": "Pods",
}

HOP_NOTES: dict[str, str] = {
    "client": (
        "The client is whatever sends the request: a browser page, a mobile app, curl. "
        "It decides the URL, the headers and, for WebSockets, the ws:// or wss:// address; a "
        "relative or mistyped URL never reaches the cluster at the place you expect, even when "
        "every hop behind it is healthy."
    ),
    "ingress": (
        "An Ingress is a routing table that an ingress controller (for example ingress-nginx) "
        "turns into a reverse proxy: it matches the Host header and the path, then forwards to "
        "a Service port. Only requests that reach the controller's published address are "
        "routed, and proxy settings such as timeouts and WebSocket upgrade handling live here."
    ),
    "edge": (
        "The load balancer in front of the ingress or gateway proxy (a cloud load balancer, or any "
        "proxy between the published address and the controller's pods). kdiag reaches the proxy "
        "twice: through the published address and straight through a proxy pod. When only the "
        "first path fails, the load balancer is the cause: it may strip the WebSocket upgrade or "
        "cut idle connections sooner than the proxy behind it."
    ),
    "gateway": (
        "A Gateway is a proxy that a Gateway API implementation (NGINX Gateway Fabric, Envoy "
        "Gateway, Istio, Cilium …) runs for its listeners (port, protocol, hostname). HTTPRoutes "
        "attach to a listener through parentRefs and match host, path, method, headers and query "
        "parameters; the Gateway and each route report in their status whether they were accepted "
        "and whether their backends resolved."
    ),
    "service": (
        "A Service gives a stable name and port to a changing set of pods chosen by a label "
        "selector. Its `port` is what clients and the Ingress use; its `targetPort` is the "
        "container port traffic is sent to, and it must be a port the container really "
        "listens on."
    ),
    "endpoints": (
        "EndpointSlices list the pod IPs and ports behind a Service; the control plane keeps "
        "them in sync with the selector. Only pods that are Ready are used for traffic, so a "
        "Service with no ready endpoints answers 503 at the Ingress and refuses connections "
        "inside the cluster."
    ),
    "pod": (
        "Pods run the containers that actually answer. A pod is sent traffic only while its "
        "readiness probe passes, it must listen on the target port, and during deploys it must "
        "keep serving until it has been removed from the endpoints (preStop, grace period, "
        "SIGTERM reaching the process)."
    ),
}


def hop_label(hop: str) -> str:
    """The display name of a hop ("Pods" for "pod"); unknown hops are capitalised."""
    return HOP_LABELS.get(hop, hop.capitalize() or "General")
