"""Every Ingress rule path, HTTPRoute/GRPCRoute rule match and Contour HTTPProxy route, and where it
leads: the TUI's route list (`list_routes`)."""

from __future__ import annotations

from dataclasses import dataclass

from kdiag.route.backend import backend_ref, find_service_port
from kdiag.route.classes import ingress_profile, ingress_ref
from kdiag.route.ingress import ingress_rules, rule_paths
from kdiag.route.target import looks_like_websocket
from kdiag.shape import as_list, as_map, maps, sub
from kdiag.snapshot import Snapshot, obj_key

__all__ = ["RouteEntry", "list_routes"]


@dataclass(frozen=True)
class RouteEntry:
    """One Ingress rule path and where it leads (the TUI's route list)."""

    host: str
    path: str
    path_type: str
    ingress: str  # "ns/name" (for Gateway API routes: "HTTPRoute ns/name")
    service: str  # "ns/name:port" (or the resource)
    websocket: bool
    canary: bool
    tls: bool
    #: Headers a Gateway API match requires (exact values), to walk the entry as matched.
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def url(self) -> str:
        scheme = ("wss" if self.tls else "ws") if self.websocket else ("https" if self.tls else "http")
        host = self.host if self.host and not self.host.startswith("*.") else (
            "www" + self.host[1:] if self.host else "localhost")
        path = self.path if self.path.startswith("/") else "/" + self.path
        return f"{scheme}://{host}{path}"


def list_routes(snapshot: Snapshot) -> list[RouteEntry]:
    """Every Ingress rule path of the snapshot (canaries included, flagged)."""
    out: list[RouteEntry] = []
    for ing in sorted(snapshot.list("Ingress"), key=lambda i: ingress_ref(i)):
        ns = snapshot.namespace_of(ing)
        canary = ingress_profile(snapshot, ing).is_canary(ing)
        tls_hosts = {str(h).lower() for t in maps(sub(ing, "spec").get("tls"))
                     for h in as_list(t.get("hosts"))}
        for rule in ingress_rules(ing):
            host = str(rule.get("host") or "")
            for p in rule_paths(rule):
                ref = backend_ref(as_map(p.get("backend")), ns)
                sp = None
                if ref is not None and ref.service_name:
                    svc = snapshot.get("Service", ns, ref.service_name)
                    if svc is not None:
                        sp = find_service_port(svc, ref)
                path = str(p.get("path") or "/")
                out.append(RouteEntry(
                    host=host, path=path, path_type=str(p.get("pathType") or "ImplementationSpecific"),
                    ingress=ingress_ref(ing), service=ref.label if ref is not None else "",
                    websocket=looks_like_websocket(path, sp), canary=canary,
                    tls=host.lower() in tls_hosts,
                ))
    out.extend(_gateway_entries(snapshot))
    out.extend(_httpproxy_entries(snapshot))
    return out


def _httpproxy_entries(snapshot: Snapshot) -> list[RouteEntry]:
    """One entry per route of every Contour HTTPProxy tree (root virtualhost, includes followed)."""
    from kdiag.route.httpproxy import KIND, proxy_routes

    proxies = snapshot.list(KIND)
    out: list[RouteEntry] = []
    for root in sorted(proxies, key=obj_key):
        vhost = sub(root, "spec", "virtualhost")
        fqdn = str(vhost.get("fqdn") or "")
        if not fqdn:
            continue  # an included proxy: listed under its root
        tls = bool(sub(vhost, "tls").get("secretName") or sub(vhost, "tls").get("passthrough"))
        for r in proxy_routes(proxies, fqdn.lower()):
            if r.root is not root:
                continue
            _, ns, name = obj_key(r.proxy)
            first = r.services[0] if r.services else {}
            svc = snapshot.get("Service", ns, str(first.get("name"))) if first else None
            sp = next((p for p in maps(sub(svc, "spec").get("ports")) if p.get("port") == first.get("port")),
                      None) if svc is not None else None
            out.append(RouteEntry(
                host=fqdn, path=r.prefix, path_type="Prefix", ingress=f"{KIND} {ns}/{name}",
                service=f"{ns}/{first.get('name')}:{first.get('port')}" if first else "",
                websocket=r.route.get("enableWebsockets") is True or looks_like_websocket(r.prefix, sp),
                canary=False, tls=tls))
    return out


def _gateway_entries(snapshot: Snapshot) -> list[RouteEntry]:
    """One entry per HTTPRoute/GRPCRoute hostname and rule match (header/method matches listed too)."""
    from kdiag.route.gateway import gateway_routes, route_parents
    from kdiag.route.httproute import route_rules, rule_matches
    from kdiag.route.listeners import route_hostnames

    out: list[RouteEntry] = []
    for route in sorted(gateway_routes(snapshot), key=lambda r: obj_key(r)):
        _, ns, name = obj_key(route)
        kind = str(route.get("kind") or "HTTPRoute")
        tls = any(a.ok and a.listener.protocol.upper() == "HTTPS"
                  for p in route_parents(snapshot, route) for a in p.attachments)
        for host in route_hostnames(route) or [""]:
            for rule in route_rules(route):
                refs = maps(rule.get("backendRefs"))
                first = refs[0] if refs else {}
                service = f"{first.get('namespace') or ns}/{first.get('name')}:{first.get('port')}" if refs else ""
                sp = None
                if refs:
                    svc = snapshot.get("Service", str(first.get("namespace") or ns), str(first.get("name")))
                    sp = next((p for p in maps(sub(svc, "spec").get("ports")) if p.get("port") == first.get("port")),
                              None) if svc is not None else None
                for m in rule_matches(route, rule):
                    path = str(sub(m, "path").get("value") or "/")
                    out.append(RouteEntry(
                        host=host, path=path, path_type=str(sub(m, "path").get("type") or "PathPrefix"),
                        ingress=f"{kind} {ns}/{name}", service=service,
                        websocket=looks_like_websocket(path, sp), canary=False, tls=tls,
                        headers=tuple((str(h.get("name")), str(h.get("value"))) for h in maps(m.get("headers"))
                                      if (h.get("type") or "Exact") == "Exact")))
    return out
