"""The `edge` hop: whatever sits between the published address and the data plane's own pods.

The entry proxy (Ingress controller or Gateway data plane) is reached twice, concurrently:
- through the published address (`kdiag.vantage` candidates: `--resolve`/`--connect-to`, the
  Ingress's `status.loadBalancer`, the Gateway's `status.addresses`, the controller's
  LoadBalancer/NodePort Service, DNS) — the `edge` hop;
- through one of its own pods (port-forward to the pod behind the controller Service's selector,
  or the Gateway's data-plane pods) — the `ingress`/`gateway` hop.
When only the first fails, a load balancer in front of the data plane is what breaks the request.
When the published address does not answer from here (a private load balancer), the entry hop is
still probed through the pod, and the edge hop says so. Without a data-plane pod (or with
`--via direct`), the entry hop is walked from the published address alone, as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kdiag.events import HopStarted, WalkNote
from kdiag.pods.readiness import pod_is_ready
from kdiag.shape import sub
from kdiag.snapshot import Snapshot, labels_match, obj_key
from kdiag.urls import probe_url
from kdiag.verdict import HopProbes

if TYPE_CHECKING:
    from kdiag.endpoint import Endpoint
    from kdiag.model import ProbeResult
    from kdiag.route import Resolution

__all__ = ["DataPlanePod", "data_plane_pod", "data_plane_services", "edge_facts", "edge_info", "edge_local_policy",
           "entry_walk", "is_socketio"]


@dataclass(frozen=True)
class DataPlanePod:
    """A pod of the route's data plane and the container port its Service sends the request to."""

    namespace: str
    name: str
    port: int
    service: str  # "ns/name" of the Service whose selector found it ("" for Gateway labels)
    #: The Service's https port targets the pod's plain-HTTP port: TLS ends before the pod (at the
    #: load balancer), so the pod is asked in plain HTTP, as the load balancer asks it.
    tls_ends_before: bool = False


def data_plane_services(snapshot: Snapshot, res: Resolution) -> list[Mapping[str, Any]]:
    """The Services that expose the route's data plane (the controller's, or the Gateway's)."""
    from kdiag.vantage import controller_services, gateway_services

    if res.gateway is not None:
        return gateway_services(snapshot, res.gateway.gateway) if res.gateway.gateway is not None else []
    services = controller_services(snapshot)
    own = [s for s in services if res.profile.controller_service(s)]
    return own or services


def _service_port(svc: Mapping[str, Any], *, port: int, tls: bool) -> Mapping[str, Any] | None:
    ports = [p for p in sub(svc, "spec").get("ports") or () if isinstance(p, Mapping)]
    return (next((p for p in ports if p.get("port") == port), None)
            or next((p for p in ports if p.get("name") == ("https" if tls else "http")), None))


def _target(pod: Mapping[str, Any], sp: Mapping[str, Any]) -> int | None:
    from kdiag.pods.spec import container_ports

    target = sp.get("targetPort", sp.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    return next((p.port for p in container_ports(sub(pod, "spec")) if p.name == target), None)


def _ranked(pods: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    running = [p for p in pods if sub(p, "status").get("phase") == "Running"
               and not sub(p, "metadata").get("deletionTimestamp")]
    return sorted(running, key=lambda p: (not pod_is_ready(p), obj_key(p)[2]))


def data_plane_pod(snapshot: Snapshot, res: Resolution, *, tls: bool, port: int) -> DataPlanePod | None:
    """A running data-plane pod of the route and its port for the request (None: none known)."""
    from kdiag.vantage import gateway_pods

    lport: int = port
    if res.gateway is not None and res.gateway.listener is not None and res.gateway.listener.port is not None:
        lport = int(res.gateway.listener.port)
    for svc in data_plane_services(snapshot, res):
        sp = _service_port(svc, port=lport if res.gateway is not None else (443 if tls else 80), tls=tls)
        selector = sub(svc, "spec").get("selector")
        if sp is None or not isinstance(selector, Mapping) or not selector:
            continue
        ns = obj_key(svc)[1]
        pods = _ranked([p for p in snapshot.list("Pod", ns) if labels_match(selector, sub(p, "metadata").get("labels"))])
        plain = _service_port(svc, port=80, tls=False) if tls and res.gateway is None else None
        for pod in pods:
            target = _target(pod, sp)
            if target is not None:
                ends = plain is not None and plain is not sp and _target(pod, plain) == target
                return DataPlanePod(ns, obj_key(pod)[2], target, f"{ns}/{obj_key(svc)[2]}", tls_ends_before=ends)
    if res.gateway is not None and res.gateway.gateway is not None:
        pods = _ranked(gateway_pods(snapshot, res.gateway.gateway))
        if pods:
            return DataPlanePod(obj_key(pods[0])[1], obj_key(pods[0])[2], lport, "")
    return None


def edge_info(endpoint: Endpoint, snapshot: Snapshot, res: Resolution) -> dict[str, Any]:
    """The report's `route.edge`: what kind of thing the published address is, and the address."""
    from kdiag.layers import CLOUD_LBS, edge_load_balancer

    lb = edge_load_balancer(snapshot, data_plane_services(snapshot, res))
    kind = {"ingress-address": "LoadBalancer Service", "nodeport": "NodePort Service", "dns": "DNS name"}.get(
        endpoint.via, endpoint.via)
    if "given on the command line" in endpoint.label:
        kind = "address given on the command line"
    if lb is not None:
        kind = f"cloud LB ({CLOUD_LBS[lb[0]].who})"
    return {"kind": kind, "address": f"{endpoint.host}:{endpoint.port}", "label": endpoint.label}


async def _probe_hop(walk: Any, hop: str, ep: Endpoint, *, headers: Mapping[str, str] | None = None) -> HopProbes:
    """TLS (for https/wss), the request itself, the idle probe and, for Socket.IO, the stickiness probe;
    `headers` on top of the user's."""
    from kdiag.probes.base import tls_target
    from kdiag.probes.tls import probe_tls
    t = walk.target
    what = "WebSocket handshake" if t.websocket else "HTTP request"
    await walk.queue.put(HopStarted(hop, f"{what} to {t.host} via {ep.label}"))
    tls: tuple[ProbeResult, ...] = ()
    if t.tls and ep.tls:
        tls = (await walk._run_probe(hop, lambda: probe_tls(ep, server_name=t.host, timeout=walk.timeout),
                                     "tls", ep.via, tls_target(ep, t.host)),)
    primary, idle = await walk._request_probes(hop, probe_url(t, tls=t.tls), ep, more_headers=headers)
    session = await _session_probe(walk, hop, probe_url(t, tls=t.tls), ep)
    return HopProbes(primary=primary, tls=tls, idle=idle, session=session)


def is_socketio(path: str) -> bool:
    """A Socket.IO / Engine.IO URL (its default paths)."""
    return "/socket.io" in path or "/engine.io" in path


async def _session_probe(walk: Any, hop: str, url: str, ep: Endpoint) -> tuple[ProbeResult, ...]:
    """For a Socket.IO URL: one Engine.IO polling session followed up like a browser (stickiness)."""
    if not is_socketio(walk.target.path or ""):
        return ()
    from kdiag.probes.base import request_target
    from kdiag.probes.socketio import polling_url, probe_socketio

    headers = dict(walk.req.headers)
    res = await walk._run_probe(hop, lambda: probe_socketio(url, ep, headers=headers, timeout=walk.timeout),
                                "http", ep.via, request_target(polling_url(url), ep))
    return (res,)


async def _published(walk: Any) -> tuple[Endpoint | None, list[Endpoint]]:
    """The first published candidate that answers TCP (None: none does), and all candidates."""
    from kdiag.probes.tcp import probe_tcp
    from kdiag.vantage import gateway_candidates, ingress_candidates

    t, res = walk.target, walk.res
    if res.gateway is not None:
        lport = res.gateway.listener.port if res.gateway.listener is not None else None
        cands = gateway_candidates(walk.snapshot, host=t.host, port=t.port, tls=t.tls, gateway=res.gateway.gateway,
                                   listener_port=lport, overrides=walk.overrides)
    else:
        cands = ingress_candidates(walk.snapshot, host=t.host, port=t.port, tls=t.tls, ingress=res.ingress,
                                   overrides=walk.overrides)
    for cand in cands:
        if (await probe_tcp(cand, timeout=min(walk.timeout, 2.0))).ok:
            return cand, cands
    return None, cands


async def _through_pod(walk: Any, dp: DataPlanePod) -> HopProbes | None:
    """The entry hop probed through a data-plane pod (None: the port-forward could not be opened)."""
    from kdiag.endpoint import Endpoint
    from kdiag.errors import KdiagError

    t = walk.target
    # TLS ends at the load balancer: ask in plain HTTP, with the header such a load balancer adds
    how = (" (plain HTTP with X-Forwarded-Proto: https, as a load balancer that ends TLS forwards it)"
           if dp.tls_ends_before else "")
    more = {"X-Forwarded-Proto": "https"} if dp.tls_ends_before else None
    try:
        async with walk.kube.port_forward(dp.namespace, dp.name, dp.port) as (host, port):
            ep = Endpoint(host=host, port=port, via="port-forward", tls=t.tls and not dp.tls_ends_before, sni=t.host,
                          label=f"data-plane pod {dp.name}:{dp.port} via port-forward{how}")
            return await _probe_hop(walk, walk.res.entry_hop, ep, headers=more)
    except KdiagError:
        return None


async def entry_walk(walk: Any) -> None:
    """Probe the entry hop of `walk` (a `kdiag.diagnose._Walk`), and the edge hop when both paths exist."""
    import asyncio

    from kdiag.probes.base import tcp_target
    from kdiag.probes.tcp import probe_tcp

    t, res, entry = walk.target, walk.res, walk.res.entry_hop
    dp = data_plane_pod(walk.snapshot, res, tls=t.tls, port=t.port) if walk.via != "direct" else None
    if dp is None:
        await _classic(walk)
        return
    (published, cands), pod_side = await asyncio.gather(_published(walk), _through_pod(walk, dp))
    if pod_side is None:  # no port-forward (RBAC, pod gone): the published address alone, as before
        await walk.queue.put(WalkNote(f"port-forward to data-plane pod {dp.namespace}/{dp.name} failed; "
                                      f"the {entry} hop is probed through the published address only"))
        await _classic(walk)
        return
    walk.results[entry] = pod_side
    if published is None:
        first = cands[0]
        reach = await walk._run_probe("edge", lambda: probe_tcp(first, timeout=min(walk.timeout, 2.0)), "tcp",
                                      first.via, tcp_target(first))
        walk.results["edge"] = HopProbes(reach=(reach,), skipped=(
            f"the published address ({first.label}) does not answer from here (a private load balancer?); "
            f"the {entry} hop was probed through data-plane pod {dp.name} instead"))
        walk.edge = {"kind": "unreachable from here", "address": f"{first.host}:{first.port}", "label": first.label}
        return
    walk.edge = edge_info(published, walk.snapshot, res)
    hp = await _probe_hop(walk, "edge", published)
    local = edge_local_policy(walk.snapshot, data_plane_services(walk.snapshot, res), tls=t.tls)
    if local is not None and local["node_port"] and _all_failed(hp.primary):
        hp = replace(hp, reach=await _node_reach(walk, local))
    walk.results["edge"] = hp


def _all_failed(probes: Sequence[ProbeResult]) -> bool:
    return bool(probes) and not any(p.ok for p in probes)


#: Nodes whose NodePort is probed when the published address fails on an `externalTrafficPolicy: Local`
#: data-plane Service (some without a ready data-plane pod, some with one).
MAX_NODES_EACH = 3


async def _node_reach(walk: Any, local: Mapping[str, Any]) -> tuple[ProbeResult, ...]:
    """TCP to the data plane's NodePort on nodes with and without a ready data-plane pod: where the
    published address's traffic is dropped."""
    import asyncio

    from kdiag.endpoint import Endpoint
    from kdiag.probes.base import tcp_target
    from kdiag.probes.tcp import probe_tcp

    nodes = [*local["nodes_without_ready_pods"][:MAX_NODES_EACH], *local["nodes_with_ready_pods"][:MAX_NODES_EACH]]
    port = int(local["node_port"])

    async def one(node: Mapping[str, str]) -> ProbeResult:
        ep = Endpoint(host=node["address"], port=port, via="nodeport",
                      label=f"NodePort {node['address']}:{port} on node {node['name']}")
        res: ProbeResult = await walk._run_probe("edge", lambda: probe_tcp(ep, timeout=min(walk.timeout, 2.0)),
                                                 "tcp", ep.via, tcp_target(ep))
        return res

    return tuple(await asyncio.gather(*(one(n) for n in nodes)))


def edge_local_policy(snapshot: Snapshot, services: Sequence[Mapping[str, Any]], *,
                      tls: bool) -> dict[str, Any] | None:
    """The data plane's Service when it is `externalTrafficPolicy: Local` and some node runs no ready
    data-plane pod: what the published address's traffic meets on such a node (None: not the case)."""
    from kdiag.rules.service_exposure import local_policy_nodes
    from kdiag.snapshot import obj_ref

    for svc in services:
        split = local_policy_nodes(snapshot, svc)
        if not split or not split[1]:
            continue
        spec, sp = sub(svc, "spec"), _service_port(svc, port=443 if tls else 80, tls=tls)
        return {"service": obj_ref(svc), "type": spec.get("type"), "node_port": (sp or {}).get("nodePort"),
                "health_check_node_port": spec.get("healthCheckNodePort"),
                "nodes_with_ready_pods": [{"name": n, "address": a} for n, a in split[0]],
                "nodes_without_ready_pods": [{"name": n, "address": a} for n, a in split[1]]}
    return None


async def _classic(walk: Any) -> None:
    """The entry hop from the published address alone: the first candidate that answers TCP (else the
    best one, which reports the failure); a Gateway falls back to its pods as `gateway_hop` does."""
    if walk.res.entry_hop == "gateway":
        from kdiag.gateway_hop import gateway_hop

        await gateway_hop(walk)
        return
    published, cands = await _published(walk)
    walk.results["ingress"] = await _probe_hop(walk, "ingress", published or cands[0])


def _backend_tls(res: Resolution) -> bool | None:
    """The entry proxy is told to speak TLS to the backend (an annotation such as ingress-nginx's
    `backend-protocol: HTTPS`, HAProxy's `server-ssl`, or the Service port's appProtocol)."""
    ann = sub(res.ingress, "metadata").get("annotations") if res.ingress is not None else None
    for k, v in (ann or {}).items() if isinstance(ann, Mapping) else ():
        if str(k).endswith("/backend-protocol"):
            return str(v).strip().upper() in ("HTTPS", "GRPCS")
        if str(k).endswith("/server-ssl"):
            return str(v).strip().lower() == "true"
    app = str((res.service_port or {}).get("appProtocol") or "").lower()
    if app:
        return app in ("https", "kubernetes.io/wss")
    return None


def _etp_local_nodes(snapshot: Snapshot, res: Resolution) -> tuple[str, ...] | None:
    """Addresses of nodes with no ready pod of the route's Service, when it is `externalTrafficPolicy: Local`."""
    from kdiag.rules.service_exposure import nodes_without_ready_pods

    backend = res.backend
    if backend is None or backend.service is None:
        return None
    return nodes_without_ready_pods(snapshot, backend.service)


def edge_facts(snapshot: Snapshot, res: Resolution, *, tls: bool = False) -> dict[str, Any]:
    """What the verdict needs about the edge and the layers of a route (`RouteFacts` fields)."""
    from kdiag.layers import layer_timeouts
    from kdiag.snapshot import obj_ref

    services = data_plane_services(snapshot, res)
    return {"layer_timeouts": layer_timeouts(snapshot, res, services), "backend_tls": _backend_tls(res),
            "etp_local_nodes": _etp_local_nodes(snapshot, res),
            "edge_local_policy": edge_local_policy(snapshot, services, tls=tls),
            "edge_objects": tuple(obj_ref(s) for s in services)}
