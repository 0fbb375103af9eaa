"""Azure Application Gateway Ingress Controller (AGIC): an Application Gateway in front of the pods.

Facts and their sources: ../shared/reference/dataplane-facts.md §3 ("Azure Application Gateway
(AGIC)"): https://learn.microsoft.com/azure/application-gateway/ingress-controller-annotations and
https://learn.microsoft.com/azure/application-gateway/application-gateway-websocket [DOC3P].
"""

from __future__ import annotations

import difflib
import functools

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault

__all__ = ["PREFIX", "PROFILE", "closest_annotation"]

PREFIX = "appgw.ingress.kubernetes.io/"
_ANN = "https://learn.microsoft.com/azure/application-gateway/ingress-controller-annotations"
#: The annotations page's list.
KNOWN_ANNOTATIONS = frozenset("""
    backend-path-prefix backend-hostname backend-protocol ssl-redirect appgw-ssl-certificate
    appgw-trusted-root-certificate appgw-ssl-profile connection-draining connection-draining-timeout
    cookie-based-affinity request-timeout use-private-ip override-frontend-port health-probe-hostname
    health-probe-port health-probe-path health-probe-status-codes health-probe-interval health-probe-timeout
    health-probe-unhealthy-threshold waf-policy-for-path rewrite-rule-set rewrite-rule-set-custom-resource
    hostname-extension
""".split())


@functools.lru_cache(maxsize=256)
def closest_annotation(name: str) -> str | None:
    found = difflib.get_close_matches(name, sorted(KNOWN_ANNOTATIONS), n=1, cutoff=0.8)
    return found[0] if found else None


PROFILE = Profile(
    name="azure-agic",
    controllers=frozenset({"azure/application-gateway"}),
    # The IngressClass the add-on creates, and the legacy kubernetes.io/ingress.class value.
    class_names=frozenset({"azure-application-gateway", "azure/application-gateway"}),
    images=("azure-application-gateway/kubernetes-ingress",),
    cloud_lb=True,
    # §3: "WebSocket support is always on; it cannot be toggled."
    websocket_upgrade=True,
    websocket_off="nothing (always on, cannot be toggled)",
    timeouts=(
        # §3: backend HTTP-settings request timeout 30 s "also applies to the WebSocket session".
        TimeoutDefault("request", 30, f"{PREFIX}request-timeout (seconds)",
                       _ANN + "; MicrosoftDocs/azure-docs#49622 [DOC3P]", "request-timeout",
                       annotation=PREFIX + "request-timeout", websocket="lifetime", api="ingress",
                       example=f'`{PREFIX}request-timeout: "3600"` on the Ingress'),
        TimeoutDefault("connection-draining", 30, f"{PREFIX}connection-draining-timeout", _ANN,
                       annotation=PREFIX + "connection-draining-timeout", api="ingress"),
    ),
    annotation_prefixes=(PREFIX,),
    known_annotations=KNOWN_ANNOTATIONS,
    closest_annotation=closest_annotation,
    no_route=Answer(404, "no rule matches: Application Gateway answers 404", "UNVERIFIED"),
    no_backend=Answer(502, "no healthy backend: Application Gateway answers 502", "UNVERIFIED"),
    no_endpoints=Answer(502, "no healthy backend: Application Gateway answers 502", "UNVERIFIED"),
    pods=PodAccess(label_selectors=("app=ingress-appgw",), namespaces=("kube-system",)),
    unverified=(
        "status codes for no route / no healthy backend (not in the fact sheets)",
        "whether request-timeout cuts busy WebSockets too (the docs say it applies to the session)",
    ),
)
