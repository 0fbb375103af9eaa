"""Which layer's timeout cut an idle WebSocket: the edge load balancer, the entry proxy, or the pod.

`layer_timeouts` lists the configured idle timeouts on a route (pure, over the snapshot): the
entry proxy's from its data-plane profile (ingress-nginx reads the Ingress annotations and the
controller ConfigMap; for a Gateway API route `Profile.rule_timeouts` reads the route and the data
plane's policy objects, e.g. Envoy Gateway's ClientTrafficPolicy/BackendTrafficPolicy, and adds
the route's request timeout), the load balancer's in front of it from the objects that configure
it. `attribute_cut` picks the layer whose timeout matches the observed time of a cut, so the
finding names that layer's own field; `request_timeout` does the same for an answer the route
timeout cut short.

Cloud load-balancer facts (dataplane-facts.md §3, gateway-controllers-facts.md "Cloud LBs"):
AWS ALB idle timeout 60 s (`alb.ingress.kubernetes.io/load-balancer-attributes:
idle_timeout.timeout_seconds=N`); AWS NLB TCP idle 350 s (Service annotation
`service.beta.kubernetes.io/aws-load-balancer-listener-attributes.TCP-<port>:
tcp.idle_timeout.seconds=N`); GKE backend service `timeoutSec` 30 s (BackendConfig
`spec.timeoutSec`, Service annotation `cloud.google.com/backend-config`); Azure Application
Gateway (AGIC) request timeout 30 s, which also applies to WebSocket sessions
(`appgw.ingress.kubernetes.io/request-timeout`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kdiag.dataplane.base import TimeoutDefault
from kdiag.dataplane.effective import effective_timeout, parse_seconds
from kdiag.dataplane.gke_gateway import backend_config_timeout
from kdiag.shape import sub
from kdiag.snapshot import Snapshot, obj_key

if TYPE_CHECKING:
    from kdiag.route import Resolution

__all__ = ["CLOUD_LBS", "REQUEST_NAMES", "CloudLB", "LayerTimeout", "attribute_cut", "edge_load_balancer",
           "layer_timeouts", "request_timeout", "tolerance"]

#: Profile timeouts that bound an idle, upgraded connection (not the request/handshake timeout).
IDLE_NAMES = ("read", "send", "stream-idle", "idle", "backend", "tunnel", "client", "server")
#: Timeouts that bound a request until its response (Envoy's route timeout): listed with the layer's
#: timeouts for the `gateway-route-timeout` finding, never matched to an idle cut.
REQUEST_NAMES = ("request",)


@dataclass(frozen=True)
class LayerTimeout:
    """A configured timeout of one layer on the route."""

    layer: str  # "edge" | "ingress" | "gateway" | "pod"
    seconds: float
    setting: str  # the exact field that changes it
    where: str  # where the value comes from ("default", "Ingress ns/name annotation ...")
    name: str = "idle"  # the profile's timeout name ("read", "stream-idle", ...)
    who: str = ""  # the data plane or load balancer ("ingress-nginx", "AWS ALB")
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "seconds": self.seconds, "setting": self.setting, "where": self.where,
                "name": self.name, "who": self.who}


@dataclass(frozen=True)
class CloudLB:
    """A cloud load balancer kind and its idle cut."""

    who: str
    seconds: float
    setting: str
    source: str
    #: Parse the configured value from an annotation value (None: not set there).
    pattern: str = ""
    annotation: str = ""


CLOUD_LBS: Mapping[str, CloudLB] = {
    "aws-alb": CloudLB("AWS ALB", 60, "alb.ingress.kubernetes.io/load-balancer-attributes: "
                       "idle_timeout.timeout_seconds=<seconds>",
                       "aws-load-balancer-controller docs/guide/ingress/annotations.md; ALB idle timeout 60 s",
                       r"idle_timeout\.timeout_seconds=(\d+)", "alb.ingress.kubernetes.io/load-balancer-attributes"),
    "aws-nlb": CloudLB("AWS NLB", 350, "service.beta.kubernetes.io/aws-load-balancer-listener-attributes.TCP-<port>: "
                       "tcp.idle_timeout.seconds=<seconds>",
                       "docs.aws.amazon.com NLB update-idle-timeout (default 350 s); LBC docs/guide/service/annotations.md",
                       r"tcp\.idle_timeout\.seconds=(\d+)", "service.beta.kubernetes.io/aws-load-balancer-listener-attributes."),
    "gke": CloudLB("GKE load balancer", 30, "BackendConfig spec.timeoutSec (Service annotation "
                   "cloud.google.com/backend-config)",
                   "Compute API BackendService.timeoutSec default 30 s (bounds a WebSocket's lifetime)"),
    "azure-agic": CloudLB("Azure Application Gateway", 30, "appgw.ingress.kubernetes.io/request-timeout",
                          "learn.microsoft.com AGIC annotations: request-timeout 30 s, also for WebSocket sessions",
                          r"^(\d+)$", "appgw.ingress.kubernetes.io/request-timeout"),
}

#: IngressClass controllers / legacy class names of the cloud LBs that can sit in front of a controller.
_CLASS_LBS = {"ingress.k8s.aws/alb": "aws-alb", "alb": "aws-alb", "gce": "gke", "k8s.io/ingress-gce": "gke",
              "azure/application-gateway": "azure-agic", "azure-application-gateway": "azure-agic"}


def tolerance(seconds: float) -> float:
    """How far an observed cut may be from a configured timeout and still be it."""
    return max(1.5, seconds * 0.1)


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    ann = sub(obj, "metadata").get("annotations")
    return ann if isinstance(ann, Mapping) else {}


def _configured(lb: CloudLB, ann: Mapping[str, str]) -> float | None:
    if not lb.pattern:
        return None
    for k, v in ann.items():
        if k == lb.annotation or (lb.annotation.endswith(".") and k.startswith(lb.annotation)):
            m = re.search(lb.pattern, str(v).strip())
            if m:
                return float(m.group(1))
    return None


def _ingress_class(snapshot: Snapshot, ing: Mapping[str, Any]) -> str:
    name = str(sub(ing, "spec").get("ingressClassName") or _annotations(ing).get("kubernetes.io/ingress.class") or "")
    cls = snapshot.get("IngressClass", None, name) if name else None
    return str(sub(cls, "spec").get("controller") or name) if cls is not None else name


def _routes_to(ing: Mapping[str, Any], svc: Mapping[str, Any]) -> bool:
    ns, name = obj_key(svc)[1], obj_key(svc)[2]
    if obj_key(ing)[1] != ns:
        return False
    spec = sub(ing, "spec")
    backends = [sub(spec, "defaultBackend")] + [sub(p, "backend") for r in spec.get("rules") or ()
                                                  for p in sub(r, "http").get("paths") or ()]
    return any(sub(b, "service").get("name") == name for b in backends)


def edge_load_balancer(snapshot: Snapshot, services: Sequence[Mapping[str, Any]]) -> tuple[str, LayerTimeout] | None:
    """The cloud load balancer in front of a data plane's Services, with its idle timeout (None: not known).

    Recognised from a cloud-LB Ingress (ALB, GKE, AGIC class) that routes to the data plane's
    Service, or from the AWS annotations of a LoadBalancer Service (NLB).
    """
    # The Ingresses of a cloud load balancer's class, found once per snapshot: a route list judges
    # every route with this, and scanning every Ingress for each made it quadratic.
    cloud = snapshot.derived("layers:cloud-lb-ingresses", lambda: tuple(
        (ing, key) for ing in snapshot.list("Ingress")
        if (key := _CLASS_LBS.get(_ingress_class(snapshot, ing))) is not None))
    for svc in services:
        for ing, key in cloud:
            if not _routes_to(ing, svc):
                continue
            lb = CLOUD_LBS[key]
            if key == "gke":  # the BackendConfig the data plane's Service names (read from the cluster too)
                found = backend_config_timeout(ing, svc, snapshot.list)
                if found is not None:
                    secs_gke = parse_seconds(found[0]) if found[0] else None
                    if secs_gke is None or math.isinf(secs_gke):
                        return None  # named but not read (or not a number): no claim about the edge's timeout
                    return key, LayerTimeout("edge", secs_gke, lb.setting, found[1], "idle", lb.who, lb.source)
            ann = _annotations(ing) if key != "gke" else _annotations(svc)
            secs = _configured(lb, ann)
            where = (f"Ingress {obj_key(ing)[1]}/{obj_key(ing)[2]}" + (f" annotation {lb.annotation}" if secs else
                                                                        " (the load balancer's default)"))
            return key, LayerTimeout("edge", secs or lb.seconds, lb.setting, where, "idle", lb.who, lb.source)
        spec, ann = sub(svc, "spec"), _annotations(svc)
        nlb = (str(ann.get("service.beta.kubernetes.io/aws-load-balancer-type", "")).lower() in ("nlb", "external")
               or spec.get("loadBalancerClass") == "service.k8s.aws/nlb")
        if spec.get("type") == "LoadBalancer" and nlb:
            lb = CLOUD_LBS["aws-nlb"]
            secs = _configured(lb, ann)
            where = f"Service {obj_key(svc)[1]}/{obj_key(svc)[2]}" + (" annotation" if secs else " (NLB default)")
            return "aws-nlb", LayerTimeout("edge", secs or lb.seconds, lb.setting, where, "tcp-idle", lb.who, lb.source)
    return None


def _rule_timeouts(snapshot: Snapshot, res: Resolution) -> list[LayerTimeout] | None:
    """A Gateway API route's timeouts as its data plane reads them from the route and its policy
    objects (`Profile.rule_timeouts`), the disabled ones left out; None when the profile makes no claim."""
    g = res.gateway
    if g is None or g.route is None:
        return None
    found = res.profile.rule_timeouts(g.route, g.hit.rule_index if g.hit is not None else None, g.gateway,
                                      g.listener.name if g.listener is not None else None, snapshot.list)
    if not found:
        return None
    return [LayerTimeout(res.entry_hop, float(t.seconds), t.setting, t.where, t.name, res.profile.name, t.source)
            for t in found if t.seconds is not None and (t.name in IDLE_NAMES or t.name in REQUEST_NAMES)]


def _entry_timeouts(snapshot: Snapshot, res: Resolution) -> list[LayerTimeout]:
    profile, hop = res.profile, res.entry_hop
    claimed = _rule_timeouts(snapshot, res)
    if claimed is not None:
        return claimed
    out: list[LayerTimeout] = []
    if res.ingress is not None:
        eff = profile.effective_timeouts(res.ingress, profile.controller_configmaps(snapshot.list("ConfigMap")))
        if eff is not None:
            for name, ev in (("read", eff.read), ("send", eff.send)):
                t = profile.timeout(name)
                out.append(LayerTimeout(hop, float(ev.seconds), t.field if t else name, ev.where, name,
                                        profile.name, t.source if t else ""))
            return out
    api = "gateway" if res.gateway is not None else "ingress"
    for t in profile.timeouts:
        if t.name not in IDLE_NAMES or not t.applies_to(api):
            continue
        if res.ingress is None:
            if t.seconds:
                out.append(LayerTimeout(hop, float(t.seconds), t.field, f"{profile.name} default", t.name,
                                        profile.name, t.source))
            continue
        # The value the profile's own fields give (route field, annotation, object, ConfigMap, default);
        # none when it lives in an object kdiag could not read, or is disabled (0) or unbounded.
        secs, where = _route_value(snapshot, res, t)
        if secs and not math.isinf(secs):
            out.append(LayerTimeout(hop, secs, t.field, where or f"{profile.name} default", t.name, profile.name,
                                    t.source))
    return out


def _route_value(snapshot: Snapshot, res: Resolution, t: TimeoutDefault) -> tuple[float | None, str]:
    """The value of `t` on the matched route: a data plane's own route field (HTTPProxy
    `timeoutPolicy.idle`), else the Ingress annotation, the object the profile reads (a GKE
    BackendConfig), the ConfigMap, the default. (None, "") when it is set in an object kdiag
    could not read: no claim."""
    profile, obj = res.profile, res.ingress
    assert obj is not None
    if res.kind in profile.route_kinds:
        route = sub(res.match.backend if res.match is not None else {}).get("route")
        own = next((r.timeouts.get(t.name) for r in profile.route_websockets(obj) if r.where == route), None)
        if own is not None and (secs := parse_seconds(own[0], t.unit)) is not None:
            return secs, f"{res.kind} {obj_key(obj)[1]}/{obj_key(obj)[2]} {own[1]}"
    backend = res.backend
    e = effective_timeout(profile, t, obj, backend.service if backend is not None else None, snapshot.list)
    if e is None:
        return None, ""
    return e.seconds, e.where


def layer_timeouts(snapshot: Snapshot, res: Resolution, services: Sequence[Mapping[str, Any]] = ()
                   ) -> tuple[LayerTimeout, ...]:
    """The configured idle timeouts on the route: the edge load balancer's (when known), the entry's."""
    out = _entry_timeouts(snapshot, res)
    edge = edge_load_balancer(snapshot, services)
    if edge is not None:
        out.insert(0, edge[1])
    return tuple(out)


def request_timeout(observed: float | None, hop: str, timeouts: Sequence[LayerTimeout]
                    ) -> tuple[LayerTimeout | None, bool]:
    """The request (route) timeout configured at `hop`, and whether an answer seen `observed` s
    after the request matches it (None, False when the hop lists none)."""
    t = next((t for t in timeouts if t.layer == hop and t.name in REQUEST_NAMES), None)
    if t is None:
        return None, False
    return t, observed is not None and abs(t.seconds - observed) <= tolerance(t.seconds)


def attribute_cut(observed: float | None, hop: str, timeouts: Sequence[LayerTimeout]) -> LayerTimeout | None:
    """The layer whose configured timeout matches a cut seen `observed` s after the socket went idle.

    Among the timeouts that match within `tolerance`, one of the hop where the cut was seen wins
    (an edge cut seen at the edge hop), then the closest. None when nothing matches (or no time).
    """
    if observed is None:
        return None
    hits = [t for t in timeouts if t.name not in REQUEST_NAMES and abs(t.seconds - observed) <= tolerance(t.seconds)]
    if not hits:
        return None
    return min(hits, key=lambda t: (t.layer != hop, abs(t.seconds - observed)))
