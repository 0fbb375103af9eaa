"""HAProxy Kubernetes Ingress Controller (haproxytech/kubernetes-ingress @ fc120676, docs "3.2").

Facts and their sources: ../shared/reference/dataplane-facts.md §3 ("HAProxy Tech ingress"); paths
are relative to https://github.com/haproxytech/kubernetes-ingress. Facts the sheet does not state
(kdiag infers them from HAProxy itself) are listed in `unverified`.
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault
from kdiag.dataplane.effective import configmaps_matching, services_matching

__all__ = ["CONTROLLER_NAME", "PROFILE"]

#: pkg/k8s/main.go `CONTROLLER = "haproxy.org/ingress-controller"`; installs may append "/<class>".
CONTROLLER_NAME = "haproxy.org/ingress-controller"
_ANN = "https://github.com/haproxytech/kubernetes-ingress/blob/master/documentation/annotations.md"
_CFG = "fs/usr/local/etc/haproxy/haproxy.cfg"

PROFILE = Profile(
    name="haproxytech",
    family="haproxy",  # DESIGN.md's report contract names both HAProxy controllers `haproxy`
    controllers=frozenset({CONTROLLER_NAME}),
    controller_prefixes=(CONTROLLER_NAME + "/",),
    # Both HAProxy controllers default to the class name "haproxy": the name alone claims neither.
    claims_class_name=lambda _name: False,
    images=("haproxytech/kubernetes-ingress",),
    # HAProxy forwards the Upgrade handshake in HTTP mode and then switches to `timeout tunnel`.
    websocket_upgrade=True,
    websocket_off="nothing known (no per-route toggle)",
    timeouts=(
        TimeoutDefault("client", 50, "haproxy.org/timeout-client (ConfigMap timeout-client)", _ANN,
                       "timeout-client", unit="haproxy"),
        TimeoutDefault("server", 50, "haproxy.org/timeout-server (ConfigMap timeout-server; Ingress or Service)", _ANN,
                       "timeout-server", annotation="haproxy.org/timeout-server", configmap_key="timeout-server",
                       unit="haproxy"),
        TimeoutDefault("connect", 5, "ConfigMap timeout-connect", _ANN, "timeout-connect",
                       configmap_key="timeout-connect", unit="haproxy"),
        # §3: after an Upgrade HAProxy uses timeout-tunnel, default 1h, ConfigMap only.
        TimeoutDefault("tunnel", 3600, "ConfigMap timeout-tunnel", f"{_ANN}; {_CFG} (timeout tunnel 3600000)",
                       "timeout-tunnel", configmap_key="timeout-tunnel", unit="haproxy", websocket="idle",
                       api="ingress", example="`timeout-tunnel: 1h` in the controller ConfigMap"),
        TimeoutDefault("http-keep-alive", 60, "ConfigMap timeout-http-keep-alive", _ANN, "timeout-http-keep-alive",
                       configmap_key="timeout-http-keep-alive", unit="haproxy"),
    ),
    # §3: prefixes haproxy.org/, haproxy.com/ or ingress.kubernetes.io/.
    annotation_prefixes=("haproxy.org/", "haproxy.com/"),
    shared_annotation_prefixes=("ingress.kubernetes.io/",),
    no_route=Answer(404, "no rule matches: the controller's default-local-service answers 404",
                    "pkg/k8s/main.go DefaultLocalBackend = \"default-local-service\" [UNVERIFIED status]"),
    no_backend=Answer(503, "no usable server: HAProxy answers 503 Service Unavailable", "HAProxy [INFER]"),
    no_endpoints=Answer(503, "no server available: HAProxy answers 503 Service Unavailable", "HAProxy [INFER]"),
    pods=PodAccess(label_selectors=("app.kubernetes.io/name=kubernetes-ingress",),
                   namespaces=("haproxy-controller",),
                   app_names=("kubernetes-ingress", "haproxy-kubernetes-ingress"),
                   configmap_names=("haproxy-kubernetes-ingress", "haproxy-configmap")),
    controller_configmaps=configmaps_matching(("haproxy-kubernetes-ingress", "haproxy-configmap",
                                               "kubernetes-ingress"), ("kubernetes-ingress",)),
    controller_service=services_matching(("kubernetes-ingress",), ("haproxy-kubernetes-ingress",)),
    unverified=(
        "no-route status (default-local-service)",
        "503 for no backend / no endpoints (HAProxy behaviour, not read in the controller)",
    ),
)
