"""Gateway listeners and route attachment (gateway-api `apis/v1/gateway_types.go`, `shared_types.go`).

A route attaches to a listener when one of its parentRefs names the Gateway (and, when given,
the listener's `sectionName` and `port`), the listener's `allowedRoutes` admits the route's
namespace (`Same` by default, `All`, or a namespace `Selector`) and kind, and the listener's
hostname intersects the route's hostnames (`*.example.com` matches one or more labels).
Otherwise the route is not accepted there, with the spec's reason: `NoMatchingParent`,
`NotAllowedByListeners` or `NoMatchingListenerHostname`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.hosts import gateway_hostname_matches
from kdiag.route.gateway_classes import Condition, conditions, is_gateway_group
from kdiag.shape import as_int, as_list, maps, sub
from kdiag.snapshot import Snapshot, obj_key, selector_matches

__all__ = [
    "Attachment",
    "ListenerInfo",
    "attach",
    "hostname_rank",
    "hostnames_intersect",
    "listeners",
    "parent_gateway",
    "parent_refs",
    "protocol_serves",
    "route_hostnames",
]

_HTTP_KINDS = frozenset({"HTTPRoute", "GRPCRoute"})


@dataclass(frozen=True)
class ListenerInfo:
    """One listener of a Gateway, with its status entry."""

    gateway: Mapping[str, Any]
    name: str
    port: int | None
    protocol: str
    hostname: str | None
    spec: Mapping[str, Any]
    status: Mapping[str, Any]

    @property
    def conditions(self) -> dict[str, Condition]:
        return conditions(self.status)

    @property
    def gateway_ref(self) -> str:
        _, ns, name = obj_key(self.gateway)
        return f"{ns}/{name}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "port": self.port, "protocol": self.protocol, "hostname": self.hostname,
                "conditions": [c.to_dict() for c in self.conditions.values()]}


def listeners(gateway: Mapping[str, Any]) -> list[ListenerInfo]:
    """`spec.listeners` of a Gateway with each one's `status.listeners` entry."""
    status = {str(s.get("name")): s for s in maps(sub(gateway, "status").get("listeners"))}
    out = []
    for lst in maps(sub(gateway, "spec").get("listeners")):
        name = str(lst.get("name") or "")
        host = lst.get("hostname")
        out.append(ListenerInfo(gateway, name, as_int(lst.get("port")), str(lst.get("protocol") or ""),
                                str(host).lower() if host else None, lst, status.get(name, {})))
    return out


def protocol_serves(protocol: str, scheme: str) -> bool:
    """A listener protocol receives a request of this URL scheme (HTTPS/TLS terminate TLS)."""
    p = protocol.upper()
    if scheme in ("http", "ws"):
        return p == "HTTP"
    return p in ("HTTPS", "TLS")


def hostname_rank(listener_hostname: str | None, host: str) -> int | None:
    """How specifically a listener hostname matches the request host: 2 exact, 1 wildcard, 0 none set."""
    if not listener_hostname:
        return 0
    if not gateway_hostname_matches(listener_hostname, host):
        return None
    return 1 if listener_hostname.startswith("*.") else 2


def route_hostnames(route: Mapping[str, Any]) -> list[str]:
    return [str(h).lower() for h in as_list(sub(route, "spec").get("hostnames")) if isinstance(h, str) and h]


def _pattern_intersects(a: str, b: str) -> bool:
    if gateway_hostname_matches(a, b.replace("*", "x", 1)) if b.startswith("*.") else gateway_hostname_matches(a, b):
        return True
    return gateway_hostname_matches(b, a.replace("*", "x", 1)) if a.startswith("*.") else gateway_hostname_matches(b, a)


def hostnames_intersect(listener_hostname: str | None, names: list[str]) -> bool:
    """The listener's hostname and the route's hostnames have a host in common."""
    if not listener_hostname or not names:
        return True
    return any(_pattern_intersects(listener_hostname, n) for n in names)


def parent_refs(route: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return maps(sub(route, "spec").get("parentRefs"))


def parent_gateway(ref: Mapping[str, Any], route_ns: str) -> tuple[str, str] | None:
    """(namespace, name) of the Gateway a parentRef names; None for another kind of parent."""
    if not is_gateway_group(ref.get("group")) or ref.get("kind", "Gateway") != "Gateway" or not ref.get("name"):
        return None
    return str(ref.get("namespace") or route_ns), str(ref["name"])


def _allowed_kinds(lst: ListenerInfo) -> set[str]:
    kinds = maps(sub(lst.spec, "allowedRoutes").get("kinds"))
    if kinds:
        return {str(k.get("kind")) for k in kinds if is_gateway_group(k.get("group"))}
    return set(_HTTP_KINDS) if lst.protocol.upper() in ("HTTP", "HTTPS") else set()


def _namespace_allowed(snapshot: Snapshot, lst: ListenerInfo, route_ns: str) -> tuple[bool, str]:
    ns_spec = sub(lst.spec, "allowedRoutes", "namespaces")
    frm = str(ns_spec.get("from") or "Same")
    gw_ns = obj_key(lst.gateway)[1]
    if frm == "All":
        return True, "allowedRoutes.namespaces.from: All"
    if frm == "Same":
        return route_ns == gw_ns, (f"allowedRoutes.namespaces.from: Same (routes from namespace {gw_ns} only)"
                                   if route_ns != gw_ns else "same namespace")
    if frm == "Selector":
        ns_obj = snapshot.get("Namespace", None, route_ns)
        if ns_obj is None:
            # Manifests rarely carry Namespaces: the selector cannot be checked, so do not accuse it.
            return True, f"namespace {route_ns} not visible: its labels cannot be checked against the selector"
        ok = selector_matches(sub(ns_spec, "selector"), sub(ns_obj, "metadata").get("labels") or {})
        return ok, f"namespace {route_ns} {'matches' if ok else 'does not match'} allowedRoutes.namespaces.selector"
    return False, f"allowedRoutes.namespaces.from: {frm} (unknown value)"


@dataclass(frozen=True)
class Attachment:
    """Whether a route attaches to one listener through one parentRef, and why not."""

    listener: ListenerInfo
    ok: bool
    reason: str  # "Accepted" | "NotAllowedByListeners" | "NoMatchingListenerHostname"
    detail: str


def attach(snapshot: Snapshot, route: Mapping[str, Any], ref: Mapping[str, Any],
           gateway: Mapping[str, Any]) -> tuple[list[Attachment], str]:
    """The route's attachments to the listeners `ref` selects; "" or "NoMatchingParent"."""
    _, route_ns, _ = obj_key(route)
    section = ref.get("sectionName")
    port = as_int(ref.get("port"))
    chosen = [lst for lst in listeners(gateway)
              if (not section or lst.name == section) and (port is None or lst.port == port)]
    if not chosen:
        return [], "NoMatchingParent"
    names = route_hostnames(route)
    kind = str(route.get("kind") or "HTTPRoute")
    out = []
    for lst in chosen:
        ok, why = _namespace_allowed(snapshot, lst, route_ns)
        if not ok:
            out.append(Attachment(lst, False, "NotAllowedByListeners", why))
            continue
        kinds = _allowed_kinds(lst)
        if kind not in kinds:
            out.append(Attachment(lst, False, "NotAllowedByListeners",
                                  f"listener {lst.name} ({lst.protocol}) allows kinds {sorted(kinds) or 'none'}, "
                                  f"not {kind}"))
            continue
        if not hostnames_intersect(lst.hostname, names):
            out.append(Attachment(lst, False, "NoMatchingListenerHostname",
                                  f"listener hostname {lst.hostname} and route hostnames {', '.join(names)} "
                                  "have no host in common"))
            continue
        out.append(Attachment(lst, True, "Accepted", why))
    return out, ""

