"""HAProxy Ingress (jcmoraisjr/haproxy-ingress @ 465a51ce).

Facts and their sources: ../shared/reference/dataplane-facts.md §3 ("HAProxy Ingress"), i.e.
`docs/content/en/docs/configuration/keys.md` of https://github.com/jcmoraisjr/haproxy-ingress.
Facts the sheet does not state (kdiag infers them from HAProxy itself) are listed in `unverified`.
"""

from __future__ import annotations

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault
from kdiag.dataplane.effective import configmaps_matching, services_matching

__all__ = ["CONTROLLER_NAME", "PREFIX", "PROFILE"]

#: The IngressClass controller it watches (`--controller-class` appends "/<name>").
CONTROLLER_NAME = "haproxy-ingress.github.io/controller"
PREFIX = "haproxy-ingress.github.io/"
_KEYS = "https://github.com/jcmoraisjr/haproxy-ingress/blob/master/docs/content/en/docs/configuration/keys.md"

PROFILE = Profile(
    name="haproxy-ingress",
    family="haproxy",  # DESIGN.md's report contract names both HAProxy controllers `haproxy`
    controllers=frozenset({CONTROLLER_NAME}),
    controller_prefixes=(CONTROLLER_NAME + "/",),
    claims_class_name=lambda _name: False,  # "haproxy" is also haproxytech's default class
    images=("jcmoraisjr/haproxy-ingress", "haproxy-ingress/haproxy-ingress"),
    websocket_upgrade=True,  # HAProxy forwards upgrades, then `timeout tunnel` applies
    websocket_off="nothing known (no per-route toggle)",
    timeouts=(
        TimeoutDefault("client", 50, f"{PREFIX}timeout-client (ConfigMap timeout-client)", _KEYS, "timeout-client",
                       annotation=PREFIX + "timeout-client", configmap_key="timeout-client", unit="haproxy"),
        TimeoutDefault("server", 50, f"{PREFIX}timeout-server (ConfigMap timeout-server)", _KEYS, "timeout-server",
                       annotation=PREFIX + "timeout-server", configmap_key="timeout-server", unit="haproxy"),
        # §3: timeout-tunnel 1h (annotation haproxy-ingress.github.io/timeout-tunnel, ConfigMap key without prefix).
        TimeoutDefault("tunnel", 3600, f"{PREFIX}timeout-tunnel (ConfigMap timeout-tunnel)", _KEYS, "timeout-tunnel",
                       annotation=PREFIX + "timeout-tunnel", configmap_key="timeout-tunnel", unit="haproxy",
                       websocket="idle", api="ingress",
                       example=f'`{PREFIX}timeout-tunnel: "1h"` on the Ingress (ConfigMap key `timeout-tunnel`)'),
        TimeoutDefault("keep-alive", 60, f"{PREFIX}timeout-keep-alive", _KEYS, "timeout-keep-alive",
                       annotation=PREFIX + "timeout-keep-alive", configmap_key="timeout-keep-alive", unit="haproxy"),
    ),
    annotation_prefixes=(PREFIX,),
    shared_annotation_prefixes=("ingress.kubernetes.io/",),  # §3: "also ingress.kubernetes.io/ prefix"
    no_route=Answer(404, "no rule matches: the default backend answers 404", "UNVERIFIED"),
    no_backend=Answer(503, "no usable server: HAProxy answers 503 Service Unavailable", "HAProxy [INFER]"),
    no_endpoints=Answer(503, "no server available: HAProxy answers 503 Service Unavailable", "HAProxy [INFER]"),
    pods=PodAccess(label_selectors=("app.kubernetes.io/name=haproxy-ingress",), namespaces=("ingress-controller",),
                   app_names=("haproxy-ingress",), configmap_names=("haproxy-ingress",)),
    controller_configmaps=configmaps_matching(("haproxy-ingress",), ("haproxy-ingress",)),
    controller_service=services_matching(("haproxy-ingress",), ("haproxy-ingress",)),
    unverified=(
        "no-route status",
        "503 for no backend / no endpoints (HAProxy behaviour, not read in the controller)",
    ),
)
