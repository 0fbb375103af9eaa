"""Contour's HTTPProxy as the route for a host (no Ingress serves it): pure over a `Snapshot`.

An HTTPProxy with `spec.virtualhost.fqdn` is a root for that host; its `routes` match by
`conditions[].prefix` and send to `services` (name + port in the proxy's namespace); `includes`
delegate a prefix to other HTTPProxies (their routes' prefixes are appended to the include's).
Sources: Contour docs `config/request-routing.md`, `config/inclusion-delegation.md`,
`config/websockets.md` (dataplane-facts.md §3 "Contour / Envoy"). The longest matching prefix
wins, and a prefix matches as a plain string prefix (Envoy's route prefix match) [INFER: not in
the fact sheets]. Header conditions, weights across several services and `pathRewritePolicy` are
not modelled: the route's first Service is walked and the notes say so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.dataplane import profile_named
from kdiag.hosts import ingress_host_match
from kdiag.route.backend import backend_ref, resolve_backend
from kdiag.route.resolution import Resolution, RuleMatch
from kdiag.route.target import Target
from kdiag.shape import as_map, maps, sub
from kdiag.snapshot import Snapshot, obj_key

__all__ = ["KIND", "ProxyRoute", "proxies_for_host", "proxy_routes", "resolve_httpproxy"]

KIND = "HTTPProxy"
#: Nested includes followed at most this deep (Contour rejects include cycles).
_MAX_DEPTH = 8


@dataclass(frozen=True)
class ProxyRoute:
    """One route of an HTTPProxy tree, with the prefix it really serves."""

    root: Mapping[str, Any]  # the HTTPProxy with the virtualhost
    proxy: Mapping[str, Any]  # the HTTPProxy that holds the route (the root or an included one)
    index: int  # position in `proxy`'s spec.routes
    prefix: str
    route: Mapping[str, Any]
    host_match: str  # exact | wildcard

    @property
    def services(self) -> list[Mapping[str, Any]]:
        return maps(self.route.get("services"))


def _fqdn(proxy: Mapping[str, Any]) -> str:
    return str(sub(proxy, "spec", "virtualhost").get("fqdn") or "").lower().rstrip(".")


def _prefix(conditions: Any) -> str:
    return next((str(c.get("prefix")) for c in maps(conditions) if c.get("prefix")), "")


def _join(base: str, prefix: str) -> str:
    if not base or base == "/":
        return prefix or "/"
    return base.rstrip("/") + ("/" + prefix.lstrip("/") if prefix and prefix != "/" else "")


def _included(objects: Mapping[tuple[str, str], Mapping[str, Any]], proxy: Mapping[str, Any]
              ) -> Iterator[tuple[Mapping[str, Any], str]]:
    ns = obj_key(proxy)[1]
    for inc in maps(sub(proxy, "spec").get("includes")):
        child = objects.get((str(inc.get("namespace") or ns), str(inc.get("name") or "")))
        if child is not None:
            yield child, _prefix(inc.get("conditions"))


def _index(proxies: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Mapping[str, Any]]:
    return {(obj_key(p)[1], obj_key(p)[2]): p for p in proxies if p.get("kind", KIND) == KIND}


def proxies_for_host(proxies: Iterable[Mapping[str, Any]], host: str) -> list[Mapping[str, Any]]:
    """The HTTPProxies that can serve `host`: roots whose fqdn matches it and everything they
    include (transitively)."""
    index = _index(proxies)
    out: dict[tuple[str, str], Mapping[str, Any]] = {}
    todo = [p for p in index.values() if _fqdn(p) and ingress_host_match(_fqdn(p), host) is not None]
    while todo:
        p = todo.pop()
        key = (obj_key(p)[1], obj_key(p)[2])
        if key in out:
            continue
        out[key] = p
        todo.extend(child for child, _ in _included(index, p))
    return list(out.values())


def proxy_routes(proxies: Iterable[Mapping[str, Any]], host: str) -> list[ProxyRoute]:
    """Every route serving `host`, exact-host roots first (Contour rejects two roots for one fqdn)."""
    index = _index(proxies)
    out: list[ProxyRoute] = []
    roots = [(p, m) for p in index.values() if _fqdn(p) and (m := ingress_host_match(_fqdn(p), host)) is not None]
    roots.sort(key=lambda e: (e[1] != "exact", obj_key(e[0])))

    def walk(root: Mapping[str, Any], proxy: Mapping[str, Any], base: str, match: str, depth: int) -> None:
        for i, route in enumerate(maps(sub(proxy, "spec").get("routes"))):
            out.append(ProxyRoute(root, proxy, i, _join(base, _prefix(route.get("conditions")) or "/"), route, match))
        if depth < _MAX_DEPTH:
            for child, prefix in _included(index, proxy):
                walk(root, child, _join(base, prefix or "/"), match, depth + 1)

    for root, match in roots:
        walk(root, root, "", match, 0)
    return out


def _invalid_status(proxy: Mapping[str, Any]) -> str | None:
    """Contour's `status.currentStatus` when it is not `valid` (the proxy is then not served)."""
    status = str(sub(proxy, "status").get("currentStatus") or "")
    return status if status and status != "valid" else None


def resolve_httpproxy(snapshot: Snapshot, target: Target) -> Resolution | None:
    """The HTTPProxy route a request for `target` takes; None when no HTTPProxy serves the host."""
    host = target.request_host
    routes = proxy_routes(snapshot.list(KIND), host)
    if not routes:
        return None
    profile = profile_named("contour")
    controller = next((str(sub(c, "spec").get("controller")) for c in snapshot.list("IngressClass")
                       if profile.recognises(str(sub(c, "spec").get("controller") or ""))), None)
    root = routes[0].root
    notes = [f"served by Contour HTTPProxy {obj_key(root)[1]}/{obj_key(root)[2]} (virtualhost {_fqdn(root)})"]
    bad = _invalid_status(root)
    if bad:
        notes.append(f"HTTPProxy status is {bad!r}: Contour does not serve an invalid proxy "
                     f"({sub(root, 'status').get('description') or 'no description'})")
    hits = [r for r in routes if r.root is root and target.path.startswith(r.prefix)]
    if not hits:
        notes.append(f"no route of the HTTPProxy matches {target.path}: {profile.no_route.detail}")
        return Resolution(target=target, candidates=(), classes=(), matched=False, default_backend="controller",
                          notes=tuple(notes), ingresses=(root,), controller=controller, profile=profile, kind=KIND)
    best = max(hits, key=lambda r: len(r.prefix))
    services = best.services
    svc = services[0] if services else {}
    port = svc.get("port")
    ns = obj_key(best.proxy)[1] or snapshot.namespace
    # An Ingress-shaped backend (for `backend_ref`) plus the route it came from (for the rules).
    backend: dict[str, Any] = {"service": {"name": str(svc.get("name") or ""),
                                           "port": {"number": port} if isinstance(port, int) else {"name": port}},
                               "route": f"spec.routes[{best.index}]"}
    if len(services) > 1:
        notes.append(f"the route has {len(services)} services (weighted); kdiag walks the first, "
                     f"{svc.get('name')}")
    ref = backend_ref(backend, ns) if svc.get("name") else None
    main = resolve_backend(snapshot, ref) if ref is not None else None
    if ref is None:
        notes.append("the matched HTTPProxy route has no service")
    if main is not None:
        notes.extend(main.notes)
    proxy_ref = f"{obj_key(best.proxy)[1]}/{obj_key(best.proxy)[2]}"
    match = RuleMatch(best.proxy, _fqdn(root), best.host_match, best.prefix, "Prefix", "prefix", as_map(backend))
    notes.append(f"HTTPProxy {proxy_ref} spec.routes[{best.index}] (prefix {best.prefix}) -> service "
                 f"{svc.get('name')}:{port}")
    return Resolution(target=target, candidates=(), classes=(), matched=True, match=match, main_backend=main,
                      notes=tuple(notes), ingresses=(best.proxy,), controller=controller, profile=profile,
                      kind=KIND)
