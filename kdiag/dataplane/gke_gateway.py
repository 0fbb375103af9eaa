"""GKE (Gateway: gke-l7-* GatewayClasses; Ingress: class gce / gce-internal, ingress-gce): a Google
Cloud Application Load Balancer in front of the pods. One data plane, one profile; the Ingress side's
facts are in dataplane-facts.md §3 ("GKE Ingress").

Facts and their sources: ../shared/reference/gateway-controllers-facts.md (and dataplane-facts.md §2); every source is
kept next to the fact it supports. Facts the sheet marks UNVERIFIED are listed in `unverified`.
The controllerName is the one the project's install manifests set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kdiag.dataplane.base import Answer, PodAccess, Profile, TimeoutDefault, annotations_of
from kdiag.shape import as_map

#: The Service annotations that attach a BackendConfig (dataplane-facts.md §3; older: beta.).
BACKEND_CONFIG = ("cloud.google.com/backend-config", "beta.cloud.google.com/backend-config")


def _annotation_docs(svc: Mapping[str, Any]) -> Iterator[Mapping[str, Any] | None]:
    """The BackendConfig annotations the Service has, each parsed (None: not JSON)."""
    for key in BACKEND_CONFIG:
        raw = annotations_of(svc).get(key)
        if raw is None:
            continue
        try:
            yield as_map(json.loads(str(raw)))
        except ValueError:
            yield None


def _backend_config_name(svc: Mapping[str, Any], port: str = "") -> str | None:
    for doc in _annotation_docs(svc):  # the first annotation present decides
        if doc is None:
            return None
        ports = as_map(doc.get("ports"))
        name = ports.get(port) if port and port in ports else doc.get("default")
        if name is None and len(ports) == 1:
            name = next(iter(ports.values()))
        return str(name) if name else None
    return None


def backend_configs(svc: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Every BackendConfig the Service's `cloud.google.com/backend-config` annotation names (its
    `default` and its `ports` entries, dataplane-facts.md §3 "GKE Ingress"), as (kind, name)."""
    names: list[str] = []
    for doc in _annotation_docs(svc):
        if doc is None:
            continue
        for name in (doc.get("default"), *as_map(doc.get("ports")).values()):
            if isinstance(name, str) and name and name not in names:
                names.append(name)
    return tuple(("BackendConfig", n) for n in names)


def backend_config_timeout(_ing: Mapping[str, Any], svc: Mapping[str, Any] | None,
                           lookup: Callable[[str], Iterable[Mapping[str, Any]]]) -> tuple[str, str] | None:
    """`spec.timeoutSec` of the BackendConfig the backend Service names: (value, where); ("", where)
    when it is named but not visible (not read, not found, or the CRD is not served: no claim);
    None when the Service names none."""
    if svc is None:
        return None
    name = _backend_config_name(svc)
    if name is None:
        return None
    ns = as_map(svc.get("metadata")).get("namespace") or "default"
    where = f"BackendConfig {ns}/{name} spec.timeoutSec"
    for bc in lookup("BackendConfig"):
        md = as_map(bc.get("metadata"))
        if md.get("name") == name and (md.get("namespace") or "default") == ns:
            value = as_map(bc.get("spec")).get("timeoutSec")
            return (str(value), where) if value is not None else None
    return "", where


__all__ = ["BACKEND_CONFIG", "PROFILE", "backend_config_timeout", "backend_configs"]

PROFILE = Profile(
    name='gke',
    controllers=frozenset({'networking.gke.io/gateway', 'k8s.io/ingress-gce'}),
    # kubernetes.io/ingress.class: gce (external) / gce-internal (internal Application LB)
    class_names=frozenset({'gce', 'gce-internal'}),
    cloud_lb=True,
    images=(),
    # Google Application LBs proxy WebSockets; the backend service timeout bounds their lifetime [DOC3P]
    websocket_upgrade=True,
    websocket_off='nothing known',
    timeouts=(
        TimeoutDefault('backend', 30, 'GCPBackendPolicy (networking.gke.io/v1) spec.default.timeoutSec',
                       "Compute API BackendService.timeoutSec default 30s; bounds a WebSocket's whole lifetime [DOC3P]",
                       websocket='lifetime', api='gateway'),
        # dataplane-facts.md §3 "GKE Ingress": the same 30 s, set with a BackendConfig the Service names.
        TimeoutDefault('backend', 30, 'BackendConfig (cloud.google.com/v1) spec.timeoutSec, attached with the Service '
                       'annotation cloud.google.com/backend-config', "pkg.go.dev ingress-gce examples/websocket: "
                       '"not an idle timeout - a timeout on the connection lifetime" [DOC3P]', 'backend service timeout',
                       websocket='lifetime', api='ingress', resolve=backend_config_timeout,
                       example=('a BackendConfig with `spec.timeoutSec: 3600`, attached to the backend Service with '
                                '`cloud.google.com/backend-config: \'{"default": "<name>"}\'`')),
    ),
    no_route=Answer(404, 'no rule matches: the load balancer answers 404',
                  'gateway-api spec (HTTPRouteRule.Matches: 404 when no rule matches)'),
    annotation_prefixes=('ingress.gcp.kubernetes.io/', 'networking.gke.io/'),
    no_backend=Answer(None, 'invalid backend: status not documented',
                  'UNVERIFIED'),
    no_endpoints=Answer(None, 'no healthy backend (failed_to_pick_backend): 502/503 not confirmed',
                  'UNVERIFIED: cloud.google.com troubleshooting page names statusDetails only'),
    pods=PodAccess(label_selectors=(), namespaces=()),
    # BackendConfig is an Ingress-only knob: "BackendConfig/FrontendConfig NOT usable with Gateway"
    # (gateway-controllers-facts.md "GKE Gateway"); the walk reads it only for Ingress routes.
    service_configs=backend_configs,
    # conformance/reports/v1.6/gke-gateway: HTTPRouteRequestTimeout unsupported
    route_timeouts=False,
    unverified=(
        'status codes for backend_timeout / failed_to_pick_backend',  # UNVERIFIED in gateway-controllers-facts.md
        'no-backend answer',  # UNVERIFIED in gateway-controllers-facts.md
    ),
)
