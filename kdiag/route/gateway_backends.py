"""An HTTPRoute rule's backendRefs and filters: where a matched request really goes.

Each backendRef (default kind Service, weight 1, namespace of the route) is followed down like an
Ingress backend (`kdiag.route.backend`) and judged: `not-found` (no such Service, or no such
port), `not-permitted` (another namespace without a ReferenceGrant), `invalid-kind` (a kind the
data planes do not route to), `no-port`. The spec's data-plane effect: the share of traffic of
an invalid backend gets 500, all weights 0 forward nothing. Filters that change where or whether
a request goes are read: `RequestRedirect` (the gateway answers 3xx itself), `URLRewrite` (the
backend sees another path/host) and `RequestHeaderModifier` (the backend sees other headers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.route.backend import BackendInfo, BackendRef, resolve_backend
from kdiag.route.referencegrant import reference_permitted
from kdiag.shape import as_int, maps, sub
from kdiag.snapshot import Snapshot, obj_key

__all__ = ["BackendChoice", "RuleFilters", "pick_backend", "rule_backends", "rule_filters"]


@dataclass(frozen=True)
class BackendChoice:
    """One backendRef of the matched rule, judged."""

    group: str
    kind: str
    namespace: str
    name: str
    port: int | None
    weight: int
    problem: str | None  # None | "not-found" | "no-port" | "not-permitted" | "invalid-kind"
    detail: str
    info: BackendInfo | None = None
    #: The cross-namespace check could not be made (ReferenceGrants not visible).
    permission_unknown: bool = False

    @property
    def service(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def label(self) -> str:
        kind = "" if self.kind == "Service" and not self.group else f"{self.kind} "
        return f"{kind}{self.namespace}/{self.name}" + (f":{self.port}" if self.port is not None else "")

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"service": self.service, "port": self.port, "weight": self.weight}
        if self.kind != "Service" or self.group:
            d["kind"] = self.kind
            d["group"] = self.group
        if self.problem:
            d["problem"] = self.problem
            d["detail"] = self.detail
        return d


def _visible(snapshot: Snapshot, ns: str) -> bool:
    """Services of `ns` can be judged missing: a readable cluster, or manifests that carry some."""
    if snapshot.source.kind == "cluster":
        return snapshot.readable("Service")
    return bool(snapshot.list("Service", ns))


def rule_backends(snapshot: Snapshot, route: Mapping[str, Any], rule: Mapping[str, Any]) -> tuple[BackendChoice, ...]:
    """The rule's backendRefs, each followed and judged."""
    _, route_ns, _ = obj_key(route)
    route_kind = str(route.get("kind") or "HTTPRoute")
    out = []
    for ref in maps(rule.get("backendRefs")):
        group = str(ref.get("group") or "")
        kind = str(ref.get("kind") or "Service")
        ns = str(ref.get("namespace") or route_ns)
        name = str(ref.get("name") or "")
        port = as_int(ref.get("port"))
        w = as_int(ref.get("weight"))
        weight = 1 if w is None else w
        problem: str | None = None
        detail = ""
        info: BackendInfo | None = None
        unknown = False
        if group or kind != "Service":
            problem, detail = "invalid-kind", (f"backendRef kind {kind} (group {group or 'core'}) is not a Service: "
                                               "most data planes only route to Services (ResolvedRefs=False, InvalidKind)")
        else:
            ok, why = reference_permitted(snapshot, from_kind=route_kind, from_ns=route_ns, to_group="",
                                          to_kind="Service", to_ns=ns, to_name=name)
            if ok is False:
                problem, detail = "not-permitted", why
            unknown = ok is None
            if port is None and problem is None:
                problem, detail = "no-port", "a backendRef to a Service must name its port"
            info = resolve_backend(snapshot, BackendRef(ns, service_name=name, port_number=port))
            if problem is None and info.service is None and _visible(snapshot, ns):
                problem, detail = "not-found", f"Service {ns}/{name} does not exist"
            elif problem is None and info.service is not None and info.service_port is None:
                ports = [p.get("port") for p in maps(sub(info.service, "spec").get("ports"))]
                problem, detail = "not-found", f"Service {ns}/{name} has no port {port} (it has {ports})"
        out.append(BackendChoice(group, kind, ns, name, port, weight, problem, detail, info, unknown))
    return tuple(out)


def pick_backend(backends: tuple[BackendChoice, ...]) -> BackendChoice | None:
    """The backend a walk follows: the valid one with the largest weight (the first on a tie)."""
    valid = [b for b in backends if b.problem is None and b.weight > 0]
    if not valid:
        return None
    return max(valid, key=lambda b: (b.weight, -backends.index(b)))


@dataclass(frozen=True)
class RuleFilters:
    """The filters of the matched rule that change where a request goes or what it carries."""

    redirect: Mapping[str, Any] | None = None
    rewrite: Mapping[str, Any] | None = None
    header_changes: tuple[Mapping[str, Any], ...] = ()
    other: tuple[str, ...] = ()

    def notes(self) -> list[str]:
        out = []
        if self.redirect is not None:
            r = self.redirect
            code = as_int(r.get("statusCode")) or 302
            where = " ".join(f"{k}={r[k]}" for k in ("scheme", "hostname", "port") if r.get(k))
            path = sub(r, "path")
            if path:
                where += f" path {path.get('type')} {path.get('replaceFullPath') or path.get('replacePrefixMatch')}"
            out.append(f"RequestRedirect: the gateway answers {code} itself ({where.strip() or 'same URL'}); "
                       "no backend is asked, and a WebSocket handshake does not follow redirects")
        if self.rewrite is not None:
            rw = self.rewrite
            path = sub(rw, "path")
            parts = []
            if rw.get("hostname"):
                parts.append(f"Host {rw['hostname']}")
            if path:
                parts.append(f"path {path.get('type')} {path.get('replaceFullPath') or path.get('replacePrefixMatch')}")
            out.append(f"URLRewrite: the backend sees {' and '.join(parts) or 'a rewritten URL'}")
        for h in self.header_changes:
            ops = [f"{op} {', '.join(str(x.get('name') if isinstance(x, Mapping) else x) for x in (h.get(op) or []))}"
                   for op in ("set", "add", "remove") if h.get(op)]
            out.append(f"RequestHeaderModifier: {'; '.join(ops)}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"redirect": None if self.redirect is None else dict(self.redirect),
                "rewrite": None if self.rewrite is None else dict(self.rewrite),
                "header_changes": [dict(h) for h in self.header_changes], "other": list(self.other)}


def rule_filters(rule: Mapping[str, Any]) -> RuleFilters:
    redirect = rewrite = None
    headers: list[Mapping[str, Any]] = []
    other: list[str] = []
    for f in maps(rule.get("filters")):
        t = str(f.get("type") or "")
        if t == "RequestRedirect":
            redirect = sub(f, "requestRedirect")
        elif t == "URLRewrite":
            rewrite = sub(f, "urlRewrite")
        elif t == "RequestHeaderModifier":
            headers.append(sub(f, "requestHeaderModifier"))
        elif t:
            other.append(t)
    return RuleFilters(redirect, rewrite, tuple(headers), tuple(other))
