"""The LB stand-in: a load balancer in front of the ingress controller, on its own loopback address.

A scenario declares an `EdgeSpec`; the lab then (1) starts an `EdgeProxy` on a free 127.x.y.z
address at `spec.port`, forwarding to the controller's data plane, (2) publishes that address the
way a cloud does (`publish_edge`: the Ingresses' `status.loadBalancer` and the controller
Service's `type: LoadBalancer` status), while the controller's pods (port-forward) and NodePort
still reach the data plane directly. What the stand-in can do, each a common field failure:

- cut connections idle for `idle_timeout` s (AWS ALB idle timeout 60 s by default, GKE backend
  `timeoutSec` 30 s, Azure Application Gateway 30 s: dataplane-facts.md §3), with a FIN, or a RST
  when `reset_on_idle`; clients of a WebSocket see 1006;
- strip `Upgrade` (and the `upgrade` token of `Connection`), like an HTTP/1.0 hop or an L7 LB
  without WebSocket support: the handshake reaches the backend as a plain GET;
- terminate TLS and forward plain HTTP (optionally with `X-Forwarded-Proto: https`), the setup
  behind `ingress-ssl-redirect-loop` and, towards a TLS backend, `backend-protocol-mismatch`;
- send to another node's NodePort (`node`), where nothing may listen: the setup behind
  `service-external-traffic-policy-local` (kdiag.lab.edge_scenarios).
"""

from __future__ import annotations

import asyncio
import copy
import random
import socket
import ssl
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdiag.lab.loopserver import Listener, ThreadedServer, raw_pump, splice

__all__ = ["EdgeProxy", "EdgeSpec", "pick_edge_address", "publish_edge", "rewrite_head"]

Address = tuple[str, int]


@dataclass(frozen=True)
class EdgeSpec:
    """A load balancer in front of the controller, as a scenario declares it."""

    #: The listener port of the published address (unprivileged, so the lab runs without root).
    port: int = 8080
    idle_timeout: float = 0.0  # seconds without a byte either way before the LB cuts (0 = never)
    reset_on_idle: bool = False  # cut with a TCP RST instead of a FIN
    strip_upgrade: bool = False
    terminate_tls: bool = False  # TLS on `port`, plain HTTP to the controller's HTTP port
    forwarded_proto: bool = False  # with terminate_tls: add `X-Forwarded-Proto: https`
    name: str = "cloud load balancer"
    #: The node the LB sends to: it forwards to the controller's NodePort on this address (None: the
    #: lab's node 127.0.0.1, where the data plane listens). A node running no controller pod under
    #: `externalTrafficPolicy: Local` has nothing there: the LB's connections to it fail.
    node: str | None = None


def pick_edge_address(port: int, *, attempts: int = 40) -> str:
    """A loopback address other than 127.0.0.1 where `port` is free (the LB's own IP)."""
    rng = random.Random()
    for _ in range(attempts):
        host = f"127.{rng.randint(1, 254)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return host
    raise OSError(f"no loopback address with port {port} free for the LB stand-in")


def publish_edge(objects: list[dict[str, Any]], address: str, port: int, *, tls: bool,
                 controller_services: Callable[[Mapping[str, Any]], bool]) -> list[dict[str, Any]]:
    """`objects` as a cloud publishes the LB (a new list; pure): every Ingress's
    `status.loadBalancer.ingress` is the LB address, and each controller Service becomes
    `type: LoadBalancer` with that address, its http (https when `tls`) port being the LB's
    listener port. NodePorts and pods are untouched: they reach the data plane directly."""
    out = [copy.deepcopy(o) for o in objects]
    for o in out:
        if o.get("kind") == "Ingress":
            o.setdefault("status", {})["loadBalancer"] = {"ingress": [{"ip": address}]}
        elif o.get("kind") == "Service" and controller_services(o):
            spec = o.setdefault("spec", {})
            spec["type"] = "LoadBalancer"
            for p in spec.get("ports") or ():
                if p.get("name") == ("https" if tls else "http"):
                    p["port"] = port
            o["status"] = {"loadBalancer": {"ingress": [{"ip": address}]}}
    return out


def rewrite_head(head: bytes, *, strip_upgrade: bool, forwarded_proto: bool) -> tuple[bytes, bool]:
    """A request head as the LB forwards it, and whether it still asks for an upgrade (pure)."""
    lines = head.decode("latin-1").split("\r\n")
    out = [lines[0]]
    upgrade = False
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        key = name.strip().lower()
        if key == "upgrade":
            if strip_upgrade:
                continue
            upgrade = True
        if key == "connection" and strip_upgrade:
            tokens = [t.strip() for t in value.split(",") if t.strip() and t.strip().lower() != "upgrade"]
            if not tokens:
                continue
            line = f"{name}: {', '.join(tokens)}"
        if key == "x-forwarded-proto" and forwarded_proto:
            continue
        out.append(line)
    if forwarded_proto:
        out.append("X-Forwarded-Proto: https")
    return ("\r\n".join(out) + "\r\n\r\n").encode("latin-1"), upgrade


class EdgeProxy(ThreadedServer):
    """The LB stand-in on `host:port`, forwarding to `upstream` (the controller's data plane)."""

    thread_name = "kdiag-lab-edge"

    def __init__(self, spec: EdgeSpec, *, host: str, upstream: Address, port: int | None = None,
                 cert: tuple[bytes, bytes] | None = None) -> None:
        self.spec = spec
        self.upstream = upstream
        self._certdir: tempfile.TemporaryDirectory[str] | None = None
        ctx: ssl.SSLContext | None = None
        if spec.terminate_tls:
            if cert is None:
                from kdiag.lab.tls_certs import fake_certificate

                cert = fake_certificate()
            self._certdir = tempfile.TemporaryDirectory(prefix="kdiag-edge-")
            crt, key = Path(self._certdir.name, "tls.crt"), Path(self._certdir.name, "tls.key")
            crt.write_bytes(cert[0])
            key.write_bytes(cert[1])
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(str(crt), str(key))
        super().__init__([Listener(host, spec.port if port is None else port, ctx, "edge")])
        self.cuts: list[str] = []  # why each connection ended ("eof" / "idle")

    @property
    def address(self) -> Address:
        return self.listeners[0].host, self.ports["edge"]

    def stop(self) -> None:
        super().stop()
        if self._certdir is not None:
            self._certdir.cleanup()
            self._certdir = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, listener: Listener) -> None:
        try:
            u_reader, u_writer = await asyncio.wait_for(asyncio.open_connection(*self.upstream), 5.0)
        except (OSError, TimeoutError):
            writer.transport.abort()  # an LB with no healthy target: the connection is refused/reset
            return
        http = self.spec.strip_upgrade or self.spec.forwarded_proto
        why = await splice(reader, writer, u_reader, u_writer, idle=self.spec.idle_timeout,
                           reset=self.spec.reset_on_idle, a_to_b=self._http_pump if http else raw_pump)
        self.cuts.append(why)

    async def _http_pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                         touch: Callable[[], None]) -> None:
        """Client → controller, request by request: heads rewritten, bodies by Content-Length;
        after a forwarded upgrade, raw bytes."""
        while True:
            try:
                head = await src.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                break
            touch()
            new, upgrade = rewrite_head(head[:-4], strip_upgrade=self.spec.strip_upgrade,
                                        forwarded_proto=self.spec.forwarded_proto)
            dst.write(new)
            length = next((int(v) for k, _, v in (ln.partition(":") for ln in new.decode("latin-1").split("\r\n"))
                           if k.strip().lower() == "content-length" and v.strip().isdigit()), 0)
            if length:
                dst.write(await src.readexactly(length))
            await dst.drain()
            touch()
            if upgrade:
                await raw_pump(src, dst, touch)
                return
        if dst.can_write_eof():
            dst.write_eof()
