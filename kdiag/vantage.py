"""Vantage points: how each hop is reached from where kdiag runs (DESIGN.md "Vantage points").

- Ingress: `--connect-to`/`--resolve` first; then the Ingress's published address
  (`status.loadBalancer`); then the ingress controller's own Service (LoadBalancer address or a
  NodePort on a node's InternalIP, the bare-metal setup); then DNS of the URL's host. The URL's
  host is always sent as Host header and TLS SNI, like `curl --resolve`.
- Service: its NodePort/LoadBalancer when exposed, else the API server's service proxy.
  ClusterIPs only with `--via direct`.
- Pod: port-forward through the API server; pod IPs only with `--via direct`.
- Gateway (Gateway API routes): `--connect-to`/`--resolve`; the Gateway's `status.addresses` on
  the listener's port; its data-plane Service (LoadBalancer address, or a NodePort); DNS; and, when
  none answers, the walk port-forwards to a data-plane pod (`gateway_pods`).
Pure functions over the snapshot; the API-server endpoints come from `kdiag.kube.Kube`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kdiag.dataplane import profiles
from kdiag.endpoint import Endpoint
from kdiag.errors import UsageError
from kdiag.shape import lb_addresses
from kdiag.snapshot import Snapshot, obj_key

__all__ = [
    "Override",
    "controller_services",
    "gateway_candidates",
    "gateway_pods",
    "gateway_services",
    "ingress_candidates",
    "node_addresses",
    "parse_overrides",
]


@dataclass(frozen=True)
class Override:
    """`--resolve HOST:PORT:ADDR` (port kept) or `--connect-to HOST:PORT:ADDR:PORT2`."""

    host: str
    port: int
    address: str
    to_port: int


def _split_hostport(spec: str, parts: int, flag: str) -> list[str]:
    # Allow bracketed IPv6 addresses: HOST:PORT:[::1]:PORT2
    out: list[str] = []
    rest = spec
    while rest and len(out) < parts - 1:
        if rest.startswith("["):
            end = rest.find("]")
            if end < 0:
                break
            out.append(rest[1:end])
            rest = rest[end + 2:] if rest[end + 1:end + 2] == ":" else rest[end + 1:]
            continue
        head, sep, rest = rest.partition(":")
        out.append(head)
        if not sep:
            rest = ""
            break
    if rest:
        out.append(rest[1:-1] if rest.startswith("[") and rest.endswith("]") else rest)
    if len(out) != parts or not all(out):
        shape = "HOST:PORT:ADDR" if parts == 3 else "HOST:PORT:ADDR:PORT"
        raise UsageError(f"bad {flag} {spec!r}: expected {shape}")
    return out


def _override_host(host: str, what: str) -> str:
    from kdiag.urls import check_host

    return "*" if host == "*" else check_host(host, what)


def parse_overrides(resolve: Iterable[str] = (), connect_to: Iterable[str] = ()) -> tuple[Override, ...]:
    from kdiag.urls import check_host, check_port

    out = []
    for spec in resolve:
        host, port, addr = _split_hostport(spec, 3, "--resolve")
        what = f"bad --resolve {spec!r}"
        out.append(Override(_override_host(host, what), check_port(port, what), check_host(addr, what),
                            check_port(port, what)))
    for spec in connect_to:
        host, port, addr, port2 = _split_hostport(spec, 4, "--connect-to")
        what = f"bad --connect-to {spec!r}"
        out.append(Override(_override_host(host, what), check_port(port, what), check_host(addr, what),
                            check_port(port2, what)))
    return tuple(out)


def node_addresses(snapshot: Snapshot) -> list[str]:
    """InternalIP (then ExternalIP) of every node, ready nodes first."""
    ranked: list[tuple[int, str]] = []
    for node in snapshot.list("Node"):
        status = node.get("status") or {}
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ())
        for a in status.get("addresses") or ():
            if a.get("type") in ("InternalIP", "ExternalIP") and a.get("address"):
                ranked.append((0 if ready else 1, str(a["address"])))
    seen: list[str] = []
    for _, addr in sorted(ranked):
        if addr not in seen:
            seen.append(addr)
    return seen


def controller_services(snapshot: Snapshot) -> list[Mapping[str, Any]]:
    """Services that expose an ingress controller (as its data-plane profile recognises them)."""
    def build() -> list[Mapping[str, Any]]:
        known = profiles()
        return [svc for svc in snapshot.list("Service") if any(p.controller_service(svc) for p in known)]

    return list(snapshot.derived("vantage.controller_services", build))  # once per snapshot, not per route


def _overridden(host: str, port: int, tls: bool, overrides: Sequence[Override]) -> list[Endpoint]:
    label_host = f"{host}:{port}"
    return [Endpoint(host=o.address, port=o.to_port, via="ingress-address", tls=tls, sni=host,
                     label=f"{label_host} → {o.address}:{o.to_port} (given on the command line)")
            for o in overrides if o.host in (host.lower(), "*") and o.port == port]


#: Labels data planes put on a Gateway's own Service and pods (NGF, Istio, Envoy Gateway).
GATEWAY_NAME_LABELS = ("gateway.networking.k8s.io/gateway-name", "gateway.envoyproxy.io/owning-gateway-name")


def _of_gateway(obj: Mapping[str, Any], gateway: Mapping[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    name = (gateway.get("metadata") or {}).get("name")
    return any(labels.get(k) == name for k in GATEWAY_NAME_LABELS)


def gateway_services(snapshot: Snapshot, gateway: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The data-plane Services of a Gateway (by the gateway-name labels data planes set)."""
    ns = obj_key(gateway)[1]
    return [s for s in snapshot.list("Service") if _of_gateway(s, gateway)
            and (obj_key(s)[1] == ns or (s.get("metadata") or {}).get("labels", {}).get(
                "gateway.envoyproxy.io/owning-gateway-namespace") == ns)]


def gateway_pods(snapshot: Snapshot, gateway: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The data-plane pods of a Gateway, running ones first."""
    pods = [p for p in snapshot.list("Pod") if _of_gateway(p, gateway)]
    return sorted(pods, key=lambda p: ((p.get("status") or {}).get("phase") != "Running", obj_key(p)[2]))


def gateway_candidates(snapshot: Snapshot, *, host: str, port: int, tls: bool, gateway: Mapping[str, Any] | None,
                       listener_port: int | None, overrides: Sequence[Override] = ()) -> list[Endpoint]:
    """Where to send the request for the gateway hop, best first (none probed yet)."""
    out = _overridden(host, port, tls, overrides)
    if out:
        return out
    lport = listener_port or port
    if gateway is not None:
        for a in (gateway.get("status") or {}).get("addresses") or ():
            if a.get("value"):
                out.append(Endpoint(host=str(a["value"]), port=lport, via="ingress-address", tls=tls, sni=host,
                                    label=f"the Gateway's address {a['value']}:{lport}"))
        for svc in gateway_services(snapshot, gateway):
            spec = svc.get("spec") or {}
            sp = next((p for p in spec.get("ports") or () if p.get("port") == lport), None)
            if sp is None:
                continue
            out += _service_endpoints(snapshot, svc, sp, host=host, tls=tls, what="data-plane Service")
    out.append(Endpoint(host=host, port=port, via="dns", tls=tls, sni=host, label=f"DNS for {host}:{port}"))
    return out


def _service_endpoints(snapshot: Snapshot, svc: Mapping[str, Any], sp: Mapping[str, Any], *, host: str,
                       tls: bool, what: str) -> list[Endpoint]:
    """A data plane's Service port reached from outside: its load-balancer addresses, then its
    NodePort on (at most two) nodes."""
    out: list[Endpoint] = []
    ns, name = obj_key(svc)[1], obj_key(svc)[2]
    for addr in lb_addresses(svc):
        out.append(Endpoint(host=addr, port=int(sp["port"]), via="ingress-address", tls=tls, sni=host,
                            label=f"{what} {ns}/{name} load balancer {addr}:{sp['port']}"))
    if (svc.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer") and sp.get("nodePort"):
        for addr in node_addresses(snapshot)[:2]:
            out.append(Endpoint(host=addr, port=int(sp["nodePort"]), via="nodeport", tls=tls, sni=host,
                                label=f"{what} {ns}/{name} NodePort {addr}:{sp['nodePort']}"))
    return out


def ingress_candidates(snapshot: Snapshot, *, host: str, port: int, tls: bool,
                       ingress: Mapping[str, Any] | None,
                       overrides: Sequence[Override] = ()) -> list[Endpoint]:
    """Where to send the request for the Ingress hop, best first (none probed yet)."""
    out = _overridden(host, port, tls, overrides)
    if out:
        return out
    if ingress is not None:
        for addr in lb_addresses(ingress):
            out.append(Endpoint(host=addr, port=port, via="ingress-address", tls=tls, sni=host,
                                label=f"the Ingress's published address {addr}:{port}"))
    for svc in controller_services(snapshot):
        spec = svc.get("spec") or {}
        ports = spec.get("ports") or []
        want = 443 if tls else 80
        sp = next((p for p in ports if p.get("port") == want), None) or next(
            (p for p in ports if p.get("name") == ("https" if tls else "http")), None)
        if sp is None:
            continue
        out += _service_endpoints(snapshot, svc, sp, host=host, tls=tls, what="controller Service")
    out.append(Endpoint(host=host, port=port, via="dns", tls=tls, sni=host, label=f"DNS for {host}:{port}"))
    return out
