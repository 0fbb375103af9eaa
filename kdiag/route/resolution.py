"""What route resolution decided: candidates, the matched rule, canary and backend (`Resolution`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.dataplane import UNKNOWN, Profile
from kdiag.model import RouteInfo
from kdiag.route.backend import BackendInfo
from kdiag.route.canary import CanaryDecision
from kdiag.route.classes import ClassDecision, ingress_ref
from kdiag.route.gateway import GatewaySide
from kdiag.route.target import Target, looks_like_websocket

__all__ = ["Candidate", "Resolution", "RuleMatch"]


@dataclass(frozen=True)
class Candidate:
    """An Ingress considered for the target, and why it was kept or rejected."""

    ingress: str
    accepted: bool
    reason: str  # "class" | "host" | "path" | "canary" | "matched" | "other-path" ...
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"ingress": self.ingress, "accepted": self.accepted, "reason": self.reason,
                "detail": self.detail}


@dataclass(frozen=True)
class RuleMatch:
    """The Ingress rule path that serves the request."""

    ingress: Mapping[str, Any]
    host: str  # rule host ("" = any host)
    host_match: str  # exact | wildcard | any
    path: str
    path_type: str
    mode: str  # exact | prefix | plain-prefix | regex
    backend: Mapping[str, Any]

    @property
    def ingress_ref(self) -> str:
        return ingress_ref(self.ingress)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "path": self.path, "pathType": self.path_type}


@dataclass(frozen=True)
class Resolution:
    """Everything route resolution decided, for the hops below and for the TUI."""

    target: Target
    candidates: tuple[Candidate, ...]
    classes: tuple[ClassDecision, ...]
    matched: bool  # an Ingress rule path matched host + path
    match: RuleMatch | None = None
    regex_mode: bool = False
    #: "ingress" (an Ingress spec.defaultBackend) or "controller" (404) when no rule matched.
    default_backend: str | None = None
    default_backend_ingress: str | None = None
    canary: CanaryDecision | None = None
    main_backend: BackendInfo | None = None
    canary_backend: BackendInfo | None = None
    notes: tuple[str, ...] = ()
    #: nginx first answers 301 to this path (auto_redirect), then serves the rule for it.
    redirect: str | None = None
    #: The Ingress objects on the route: the matched one (or the one whose defaultBackend
    #: answers) and the canary Ingress attached to the matched path, if any.
    ingresses: tuple[Mapping[str, Any], ...] = ()
    #: The data plane serving the route: its IngressClass controller and profile.
    controller: str | None = None
    profile: Profile = UNKNOWN
    #: "Ingress", the Gateway API route kind ("HTTPRoute", "GRPCRoute") with `gateway` set, or a
    #: data plane's own route kind ("HTTPProxy", `kdiag.route.httpproxy`) with `match.ingress` that object.
    kind: str = "Ingress"
    gateway: GatewaySide | None = None
    #: The other kind of route that serves the same host and was not walked, and why.
    alternatives: tuple[Mapping[str, Any], ...] = ()

    @property
    def entry_hop(self) -> str:
        """The hop of the entry proxy: `ingress`, or `gateway` for a Gateway API route."""
        return "gateway" if self.gateway is not None else "ingress"

    @property
    def backend(self) -> BackendInfo | None:
        """The backend the request goes to (the canary's when the canary is chosen)."""
        if self.canary is not None and self.canary.chosen and self.canary_backend is not None:
            return self.canary_backend
        return self.main_backend

    @property
    def ingress(self) -> Mapping[str, Any] | None:
        return self.match.ingress if self.match is not None else None

    @property
    def service_port(self) -> Mapping[str, Any] | None:
        b = self.backend
        return b.service_port if b is not None else None

    @property
    def websocket(self) -> bool:
        """The target is a WebSocket, or the matched route looks like one."""
        if self.target.websocket:
            return True
        path = self.match.path if self.match is not None else self.target.path
        return looks_like_websocket(path, self.service_port)

    def route_info(self) -> RouteInfo:
        """The report's `route` object."""
        if self.gateway is not None:
            return self._gateway_route_info(self.gateway)
        b = self.backend
        extra: dict[str, Any] = {
            "matched": self.matched,
            "default_backend": self.default_backend,
            "default_backend_ingress": self.default_backend_ingress,
            "ingress_class": next((c.to_dict() for c in self.classes
                                   if self.match is not None and c.ingress == self.match.ingress_ref),
                                  None),
            "regex_mode": self.regex_mode,
            "redirect": self.redirect,
            "candidates": [c.to_dict() for c in self.candidates],
            "notes": list(self.notes),
        }
        if b is not None:
            extra["backend"] = b.to_dict()
        own = self.kind not in ("Ingress", "HTTPRoute", "GRPCRoute")  # a data plane's own route kind
        if own:  # HTTPProxy: named as such, not as an Ingress
            route_obj = self.match.ingress if self.match is not None else (self.ingresses or (None,))[0]
            extra["route_object"] = f"{self.kind} {ingress_ref(route_obj)}" if route_obj is not None else None
        return RouteInfo(
            kind=self.kind,
            ingress=None if own else
            self.match.ingress_ref if self.match is not None else self.default_backend_ingress,
            rule=self.match.to_dict() if self.match is not None else None,
            canary=self.canary.to_dict() if self.canary is not None else None,
            service=b.service_ref if b is not None else None,
            port=b.ref.port if b is not None else None,
            target_port=b.target_port if b is not None else None,
            pods=tuple(p.ref for p in b.pods) if b is not None else (),
            dataplane={"controller": self.controller, **self.profile.report_fields()},
            extra=extra,
            alternatives=tuple(dict(a) for a in self.alternatives),
        )

    def _gateway_route_info(self, g: GatewaySide) -> RouteInfo:
        b = self.backend
        extra: dict[str, Any] = {
            "matched": self.matched,
            "gateway_class": g.gateway_class.to_dict() if g.gateway_class is not None else None,
            "listener_detail": g.listener.to_dict() if g.listener is not None else None,
            "route_status": g.status.to_dict() if g.status is not None else None,
            "filters": g.filters.to_dict(),
            "answer": g.answer,
            "parents": [p.to_dict() for p in g.parents],
            "candidates": list(g.candidates),
            "disagreements": list(g.disagreements),
            "notes": list(self.notes),
        }
        if b is not None:
            extra["backend"] = b.to_dict()
        return RouteInfo(
            kind=g.route_kind, gateway=g.gateway_ref, listener=g.listener.name if g.listener else None,
            httproute=g.route_ref, rule=g.rule_dict(self.target),
            backends=tuple(c.to_dict() for c in g.backends),
            service=b.service_ref if b is not None else None,
            port=b.ref.port if b is not None else None,
            target_port=b.target_port if b is not None else None,
            pods=tuple(p.ref for p in b.pods) if b is not None else (),
            dataplane={"controller": self.controller, **self.profile.report_fields()},
            extra=extra,
            alternatives=tuple(dict(a) for a in self.alternatives),
        )
