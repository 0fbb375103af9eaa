"""The `gateway` hop of a live walk: the request sent to a Gateway API data plane.

Reached like the Ingress hop (`kdiag.vantage.gateway_candidates`: `--resolve`/`--connect-to`, the
Gateway's `status.addresses`, its data-plane Service, DNS) with the URL's host as Host header and
TLS SNI; when none of those answers TCP, through a port-forward to a data-plane pod on the
listener's port. Shares the probes and events of the walk in `kdiag.diagnose`.
"""

from __future__ import annotations

from typing import Any

from kdiag.events import HopStarted
from kdiag.model import ProbeResult
from kdiag.urls import probe_url
from kdiag.verdict import HopProbes

__all__ = ["gateway_hop"]


async def gateway_hop(walk: Any) -> None:
    """Probe the gateway hop of `walk` (a `kdiag.diagnose._Walk`) and store its HopProbes."""
    from kdiag.endpoint import Endpoint
    from kdiag.errors import KdiagError
    from kdiag.probes.base import tls_target
    from kdiag.probes.tcp import probe_tcp
    from kdiag.probes.tls import probe_tls
    from kdiag.vantage import gateway_candidates, gateway_pods

    t = walk.target
    side = walk.res.gateway
    lport = side.listener.port if side.listener is not None else None
    cands = gateway_candidates(walk.snapshot, host=t.host, port=t.port, tls=t.tls, gateway=side.gateway,
                               listener_port=lport, overrides=walk.overrides)
    what = "WebSocket handshake" if t.websocket else "HTTP request"
    endpoint = None
    for cand in cands:
        if (await probe_tcp(cand, timeout=min(walk.timeout, 2.0))).ok:
            endpoint = cand
            break
    pods = gateway_pods(walk.snapshot, side.gateway) if side.gateway is not None and endpoint is None else []

    async def probe(ep: Endpoint) -> None:
        await walk.queue.put(HopStarted("gateway", f"{what} to {t.host} via {ep.label}"))
        tls: tuple[ProbeResult, ...] = ()
        if t.tls:
            tls = (await walk._run_probe("gateway", lambda: probe_tls(ep, server_name=t.host, timeout=walk.timeout),
                                         "tls", ep.via, tls_target(ep, t.host)),)
        primary, idle = await walk._request_probes("gateway", probe_url(t, tls=t.tls), ep)
        walk.results["gateway"] = HopProbes(primary=primary, tls=tls, idle=idle)

    if endpoint is None and pods and lport is not None and walk.via != "direct":
        md = pods[0].get("metadata") or {}
        ns, name = str(md.get("namespace", "default")), str(md.get("name", ""))
        try:
            async with walk.kube.port_forward(ns, name, lport) as (host, port):
                await probe(Endpoint(host=host, port=port, via="port-forward", tls=t.tls, sni=t.host,
                                     label=f"data-plane pod {name}:{lport} via port-forward"))
            return
        except KdiagError:
            pass  # fall back to the best candidate, which reports the failure
    await probe(endpoint or cands[0])
