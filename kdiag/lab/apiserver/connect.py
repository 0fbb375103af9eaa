"""Connect subresources of the fake API server: pod port-forward and the service and pod proxy."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aiohttp import web

from kdiag.lab.apiserver.relay import (
    HijackedResponse,
    dial_loopback,
    port_forward,
    port_forward_error_text,
    proxy_request,
)
from kdiag.lab.apiserver.request_info import Target, split_scheme_name_port
from kdiag.lab.apiserver.resources import find_resource
from kdiag.lab.apiserver.responses import error, status_details, status_response
from kdiag.lab.apiserver.spdy import spdy_port_forward
from kdiag.lab.apiserver.store import Store

__all__ = ["Backends", "port_forward_response", "proxy_response"]

#: (namespace, pod, container port) -> the loopback address serving it; None: nothing listens.
Backends = Callable[[str, str, int], tuple[str, int] | None]


async def port_forward_response(request: web.Request, pod: Mapping[str, Any],
                                backend: Backends) -> web.StreamResponse:
    md = pod.get("metadata") or {}
    ns, name = md.get("namespace", "default"), md.get("name", "")
    upgrade = request.headers.get("Upgrade", "").lower()
    if upgrade.startswith("spdy/3.1"):  # kubectl port-forward
        return await spdy_port_forward(request, pod=pod,
                                       resolve=lambda port: backend(ns, name, port),
                                       error_text=port_forward_error_text, dial=dial_loopback,
                                       hijacked=HijackedResponse)
    offered = {p.strip() for v in request.headers.getall("Sec-WebSocket-Protocol", [])
               for p in v.split(",")}
    if upgrade == "websocket" and "v4.channel.k8s.io" not in offered:
        # kubectl ≥1.31 first tries SPDY tunnelled in a websocket; like an apiserver without
        # that feature, refuse the upgrade so it falls back to plain SPDY/3.1
        return error(400, "BadRequest", "unable to upgrade connection: subprotocols "
                                        f"{sorted(offered)} are not supported; use "
                                        "v4.channel.k8s.io or SPDY/3.1")
    if upgrade != "websocket":
        return error(400, "BadRequest",
                     "unable to upgrade connection: this lab API server speaks port-forward "
                     "over websocket (v4.channel.k8s.io) or SPDY/3.1 (portforward.k8s.io)")
    ports: list[int] = []
    for value in request.query.getall("ports", []):
        for p in value.split(","):
            if not p.strip().isdigit() or not 0 < int(p) < 65536:
                return error(400, "BadRequest", f"invalid port number {p!r}")
            ports.append(int(p))
    if not ports:
        return error(400, "BadRequest", 'query parameter "port" is required')
    return await port_forward(request, ports=ports, pod=pod,
                              resolve=lambda port: backend(ns, name, port))


async def proxy_response(request: web.Request, t: Target, store: Store, backend: Backends,
                         rr: dict[str, int]) -> web.StreamResponse:
    """The pod or service proxy; `rr` holds the round-robin position per service port."""
    assert t.name is not None
    scheme, name, port = split_scheme_name_port(t.name)
    query = f"?{request.query_string}" if request.query_string else ""
    if not t.rest and request.method == "GET" and not request.path.endswith("/"):
        # like the apiserver: the proxy root needs its trailing slash (relative links work)
        location = request.path + "/" + query
        return web.Response(status=301, headers={"Location": location, "Content-Type": "text/html"},
                            text=f'<a href="{location}">Moved Permanently</a>.\n\n')
    path = (t.rest or "/") + query
    ns = t.namespace or "default"
    if t.resource.plural == "pods":
        pod = store.get(t.resource, ns, name)
        if pod is None:
            return status_response(404, "NotFound", f'pods "{name}" not found',
                                   status_details(t.resource, name))
        ip = (pod.get("status") or {}).get("podIP") or ""
        if not ip:
            return error(503, "ServiceUnavailable", f'pod "{name}" has no IP address')
        number = int(port) if port.isdigit() else _named_container_port(pod, port) or 80
        return await _forward(request, backend, ns, name, number, ip, path, scheme == "https")
    return await _service_proxy(request, backend, rr, ns, name, port, path, store,
                                scheme == "https")


async def _service_proxy(request: web.Request, backend: Backends, rr: dict[str, int], ns: str,
                         name: str, port: str, path: str, store: Store,
                         tls: bool = False) -> web.StreamResponse:
    core = find_resource("", "v1", "services")
    eps_res = find_resource("", "v1", "endpoints")
    assert core is not None and eps_res is not None
    port_name = port
    if port.isdigit():
        svc = store.get(core, ns, name)
        if svc is None:
            return status_response(404, "NotFound", f'services "{name}" not found',
                                   status_details(core, name))
        match = [p for p in (svc.get("spec") or {}).get("ports") or () if p.get("port") == int(port)]
        if not match:
            return error(503, "ServiceUnavailable",
                         f'no service port {port} found for service "{name}"')
        port_name = str(match[0].get("name") or "")
    eps = store.get(eps_res, ns, name)
    if eps is None:
        if store.get(core, ns, name) is None:
            return status_response(404, "NotFound", f'services "{name}" not found',
                                   status_details(core, name))
        return status_response(404, "NotFound", f'endpoints "{name}" not found',
                               status_details(eps_res, name))
    candidates: list[tuple[str, str, str, int]] = []
    for subset in eps.get("subsets") or ():
        for sp in subset.get("ports") or ():
            if str(sp.get("name") or "") != port_name:
                continue
            for addr in subset.get("addresses") or ():
                ref = addr.get("targetRef") or {}
                candidates.append((ref.get("namespace", ns), ref.get("name", ""),
                                   addr.get("ip", ""), int(sp.get("port", 0))))
    if not candidates:
        return error(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
    key = f"{ns}/{name}:{port_name}"
    i = rr.get(key, 0)
    rr[key] = i + 1
    pod_ns, pod_name, ip, number = candidates[i % len(candidates)]
    return await _forward(request, backend, pod_ns, pod_name, number, ip, path, tls)


async def _forward(request: web.Request, backend: Backends, ns: str, pod: str, port: int, ip: str,
                   path: str, tls: bool = False) -> web.StreamResponse:
    target = backend(ns, pod, port)
    display = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
    return await proxy_request(request, target=target, path=path, host_header=display,
                               dial_error=f"dial tcp {display}: connect: connection refused",
                               tls=tls,
                               error=error)


def _named_container_port(pod: Mapping[str, Any], port_name: str) -> int | None:
    for c in (pod.get("spec") or {}).get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("name") == port_name:
                return int(p["containerPort"])
    return None
