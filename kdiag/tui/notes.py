"""Short "what is this hop" notes that teach a newcomer the concept behind each hop."""

from __future__ import annotations

__all__ = ["HOP_LABELS", "HOP_NOTES", "hop_label"]

HOP_LABELS: dict[str, str] = {
    "client": "Client",
    "ingress": "Ingress",
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
