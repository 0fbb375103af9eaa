"""End to end on the lab: the edge hop, reached through a load balancer stand-in and a data-plane pod.

The healthy chat scenario gains an ingress-nginx controller pod (selected by the controller
Service); the fake API server port-forwards to it by forwarding to the lab's ingress data plane.
The published address is a small loopback TCP proxy defined here (an LB stand-in: it passes
bytes, or strips the upgrade headers like an HTTP-mode LB without WebSocket support, or cuts
connections idle for N seconds), given to kdiag with `--connect-to`. Loopback only.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from kdiag.diagnose import DiagnoseOptions, run_diagnose
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import HOST, SCENARIOS

CONTROLLER_POD = "ingress-nginx-controller-5f7d8-abcde"


class LoopbackLB:
    """A TCP proxy on 127.0.0.1 in front of `upstream`: `strip_upgrade` drops the Upgrade and
    Connection request headers (an HTTP-mode LB without WebSockets); `idle_cut` closes a
    connection after that many silent seconds (an LB idle timeout)."""

    def __init__(self, upstream: tuple[str, int], *, strip_upgrade: bool = False, idle_cut: float | None = None):
        self.upstream, self.strip_upgrade, self.idle_cut = upstream, strip_upgrade, idle_cut
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            up = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        try:
            if self.strip_upgrade:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = client.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                top, _, rest = head.partition(b"\r\n\r\n")
                lines = [ln for ln in top.split(b"\r\n")
                         if not ln.lower().startswith((b"upgrade:", b"connection:"))]
                up.sendall(b"\r\n".join(lines) + b"\r\n\r\n" + rest)
            while not self._stop.is_set():
                ready, _, _ = select.select([client, up], [], [], self.idle_cut or 0.5)
                if not ready:
                    if self.idle_cut:
                        return  # idle: drop both sides without a word (like an LB idle timeout)
                    continue
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (up if s is client else client).sendall(data)
        except OSError:
            pass
        finally:
            client.close()
            up.close()

    def close(self) -> None:
        self._stop.set()
        self.sock.close()


class EdgeLab(Lab):
    """The lab with an ingress-nginx controller pod whose port 80 is the lab's ingress data plane."""

    def backend(self, namespace: str, pod: str, port: int) -> tuple[str, int] | None:
        if (namespace, pod) == ("ingress-nginx", CONTROLLER_POD) and self._ingress is not None:
            return ("127.0.0.1", self.ingress_port)
        return super().backend(namespace, pod, port)


def _controller_pod() -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": CONTROLLER_POD, "namespace": "ingress-nginx", "uid": "uid-ctrl",
                         "creationTimestamp": "2026-11-01T10:00:00Z", "resourceVersion": "1000",
                         "labels": {"app.kubernetes.io/name": "ingress-nginx",
                                    "app.kubernetes.io/component": "controller"}},
            "spec": {"nodeName": "lab-node-1", "containers": [{
                "name": "controller", "image": "registry.k8s.io/ingress-nginx/controller:v1.15.1",
                "ports": [{"name": "http", "containerPort": 80}, {"name": "https", "containerPort": 443}]}]},
            "status": {"phase": "Running", "podIP": "10.244.0.5",
                       "conditions": [{"type": "Ready", "status": "True"}]}}


@pytest.fixture()
def lab() -> Iterator[EdgeLab]:
    base = SCENARIOS["idle-timeout"]
    sc = replace(base, name="edge-e2e", objects=tuple(base.objects) + (_controller_pod(),))
    with EdgeLab(sc) as running:
        yield running


def _diagnose(lab: EdgeLab, lb_port: int, *, idle: float | None = None) -> dict[str, Any]:
    opts = DiagnoseOptions.from_cli(
        url=f"ws://{HOST}/wss", headers={}, client_url=None, page_url=None, idle=idle, resolve=(),
        connect_to=(f"{HOST}:80:127.0.0.1:{lb_port}",), via="auto", timeout=3.0, filenames=(),
        kubeconfig=str(lab.kubeconfig), context=None, namespace=None, progress=False)
    return run_diagnose(opts).to_dict()


def _hop(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(h for h in report["hops"] if h["hop"] == name)


def test_an_lb_that_strips_the_upgrade_is_named_at_the_edge(lab: EdgeLab) -> None:
    lb = LoopbackLB(("127.0.0.1", lab.ingress_port), strip_upgrade=True)
    try:
        report = _diagnose(lab, lb.port)
    finally:
        lb.close()
    assert [h["hop"] for h in report["hops"]] == ["client", "edge", "ingress", "service", "endpoints", "pod"]
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == ("edge", "edge-upgrade-not-forwarded")
    ingress = _hop(report, "ingress")
    assert ingress["status"] in ("ok", "warn") and ingress["probes"][0]["via"] == "port-forward"
    assert ingress["probes"][0]["status_code"] == 101
    edge = _hop(report, "edge")
    assert edge["status"] == "fail" and edge["probes"][0]["status_code"] != 101
    assert report["route"]["edge"]["address"] == f"127.0.0.1:{lb.port}"


def test_an_lb_idle_cut_is_attributed_to_the_edge(lab: EdgeLab) -> None:
    """The Ingress's proxy-read-timeout is 3 s in this scenario; the LB stand-in cuts at 1.5 s."""
    lb = LoopbackLB(("127.0.0.1", lab.ingress_port), idle_cut=1.5)
    try:
        report = _diagnose(lab, lb.port, idle=2.5)
    finally:
        lb.close()
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == ("edge", "edge-idle-timeout"), report["verdict"]
    f = next(f for f in report["findings"] if f["check"] == "edge-idle-timeout")
    assert f["evidence"]["controller_timeouts"][0]["seconds"] == 3.0
    assert _hop(report, "ingress")["status"] in ("ok", "warn")


def test_a_private_lb_still_gets_the_ingress_hop_probed_through_the_pod(lab: EdgeLab) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: an LB address not reachable from this laptop
    report = _diagnose(lab, port)
    edge, ingress = _hop(report, "edge"), _hop(report, "ingress")
    assert edge["status"] == "skip" and "does not answer from here" in edge["summary"]
    assert ingress["status"] in ("ok", "warn") and ingress["probes"][0]["via"] == "port-forward"
    assert report["verdict"]["status"] in ("ok", "warn")


def test_a_working_lb_leaves_every_hop_ok(lab: EdgeLab) -> None:
    lb = LoopbackLB(("127.0.0.1", lab.ingress_port))
    try:
        report = _diagnose(lab, lb.port)
    finally:
        lb.close()
    assert _hop(report, "edge")["status"] == "ok" and _hop(report, "ingress")["status"] in ("ok", "warn")
    assert report["verdict"]["check"] != "edge-upgrade-not-forwarded"
