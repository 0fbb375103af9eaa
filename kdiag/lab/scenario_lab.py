"""A running lab: a scenario's app servers, ingress data plane and fake API server, all on loopback.

    with Lab(get_scenario("target-port-mismatch")) as lab:
        lab.kubeconfig      # a kubeconfig for kubectl, kdiag diagnose, or the TUI
        lab.ingress_port    # the controller's HTTP NodePort on 127.0.0.1

Everything binds 127.0.0.1 only. `stop()` tears everything down and is idempotent, so the lab
leaves no process, thread or port behind (also when started from `kdiag demo` and interrupted).
"""

from __future__ import annotations

import copy
import socket
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kdiag.lab.scenarios import Scenario

__all__ = ["HAPROXY_FLAVORS", "Lab", "free_port"]

LOOPBACK = "127.0.0.1"
#: `Scenario.data_plane` values that run real HAProxy (kdiag.lab.haproxy.FLAVORS).
HAPROXY_FLAVORS = ("haproxytech", "haproxy-ingress")


def free_port(preferred: range | None = None, *, avoid: set[int] | frozenset[int] = frozenset()) -> int:
    """A free TCP port on 127.0.0.1, from `preferred` when one is free there (e.g. NodePorts)."""
    candidates = [p for p in preferred or () if p not in avoid]
    if candidates:
        import random

        random.shuffle(candidates)
        candidates = candidates[:50]
    for port in [*candidates, 0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise OSError("no free loopback port")


NODEPORT_RANGE = range(30000, 32768)


class Lab:
    """Start/stop the lab for one scenario. `dataplane` is "emulated" (pure Python) or "nginx": how
    ingress-nginx (and NGINX Gateway Fabric) runs. A scenario whose data plane is an HAProxy
    controller always runs real HAProxy (`haproxy`: its binary, found on PATH by default); there is
    no emulation of it, so without the binary `start()` says so (KdiagError, exit 2 in `kdiag demo`)."""

    def __init__(self, scenario: Scenario, *, dataplane: str = "emulated", workdir: str | Path | None = None,
                 nginx: str = "nginx", haproxy: str | None = None) -> None:
        self.scenario = scenario
        self.dataplane = dataplane
        self._nginx_binary = nginx
        self._haproxy_binary = haproxy
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._workdir = Path(workdir) if workdir else None
        self._apps: Any = None
        self._ingress: Any = None
        self._api: Any = None
        self._edge: Any = None
        self._ports: dict[tuple[str, str, int], tuple[str, int]] = {}
        self._behaviors: dict[tuple[str, str, int], Any] = {}
        self._reload_lock = threading.Lock()
        self._closed: tuple[str, int] | None = None
        self.objects: list[dict[str, Any]] = []
        self.kubeconfig: Path | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Lab:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from kdiag.lab.apiserver.server import FakeApiServer
        from kdiag.lab.apps import AppBehavior, AppServer

        if self._workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="kdiag-lab-")
            self._workdir = Path(self._tmp.name)
        sc = self.scenario
        self._apps = AppServer().start()
        self._closed = (LOOPBACK, self._apps.closed_port())
        for (pod, port), behavior in sc.listeners.items():
            if behavior.kind is None:
                continue
            app = AppBehavior(kind=behavior.kind, status=behavior.status, delay=behavior.delay, name=f"{pod}:{port}")
            bound = self._apps.serve(app)
            self._ports[(self._namespace_of(pod), pod, port)] = (LOOPBACK, bound)
            self._behaviors[(self._namespace_of(pod), pod, port)] = app

        reserved = sc.node_ports
        http_port = free_port(NODEPORT_RANGE, avoid=reserved)
        https_port = free_port(NODEPORT_RANGE, avoid=reserved | {http_port})
        self.objects = self._objects_with_nodeports(http_port, https_port)
        self._map_controller_pods(http_port, https_port)
        edge_host = self._publish_edge()
        self._ingress = self._make_dataplane(http_port, https_port)
        if sc.edge is not None and sc.edge.terminate_tls and hasattr(self._ingress, "redirect_port"):
            # the controller's https redirect leads back to the LB (port 443 in a cloud; here the LB's port)
            self._ingress.redirect_port = sc.edge.port
        if sc.rollout and hasattr(self._ingress, "upstream_header"):
            from kdiag.lab.rollout import UPSTREAM_HEADER

            self._ingress.upstream_header = UPSTREAM_HEADER
        self._ingress.start()
        if edge_host is not None:
            self._start_edge(edge_host)

        self._api = FakeApiServer(self.objects, forbidden=sc.forbidden, backends=self.backend).start()
        self.kubeconfig = self._api.write_kubeconfig(self._workdir / "kubeconfig", context="kdiag-lab",
                                                     namespace="default")

    def _make_dataplane(self, http_port: int, https_port: int) -> Any:
        from kdiag.lab.ingress.controller import build_ingress_config

        if self.scenario.kind == "gateway":
            return self._make_gateway(http_port, https_port)

        if self.scenario.data_plane in HAPROXY_FLAVORS:
            return self._make_haproxy(http_port, https_port)
        if self.scenario.data_plane != "ingress-nginx":  # an Envoy-based controller (kdiag.lab.envoy)
            from kdiag.lab.envoy import EnvoyEmulation, envoy_config

            return EnvoyEmulation(envoy_config(self.objects, flavor=self.scenario.data_plane, backends=self.backend),
                                  http_port=http_port, https_port=https_port)
        config = build_ingress_config(self.objects, backends=self.backend, tls_secrets=self._tls_material())
        if self.dataplane == "nginx":
            from kdiag.lab.ingress.nginx import NginxIngress

            return NginxIngress(config, nginx=self._nginx_binary, http_port=http_port,
                                https_port=https_port, drop_upgrade=self.scenario.drop_upgrade)
        from kdiag.lab.ingress.emulated import EmulatedIngress

        return EmulatedIngress(config, http_port=http_port, https_port=https_port,
                               drop_upgrade=self.scenario.drop_upgrade)

    def _make_haproxy(self, http_port: int, https_port: int) -> Any:
        """Real HAProxy rendered the way the scenario's HAProxy controller renders its Ingresses."""
        from kdiag.errors import KdiagError
        from kdiag.lab.haproxy import HAProxyIngress, haproxy_binary
        from kdiag.lab.haproxy.render import controller_inputs

        binary = self._haproxy_binary or haproxy_binary()
        if binary is None:
            raise KdiagError(f"scenario {self.scenario.name!r} runs real HAProxy, which is not installed here "
                             f"(Debian/Ubuntu: apt-get install haproxy)")
        flavor = self.scenario.data_plane
        ingress_class, configmap = controller_inputs(self.objects, flavor)
        return HAProxyIngress(self.objects, backends=self.backend, flavor=flavor, haproxy=binary,
                              http_port=http_port, https_port=https_port,
                              ingress_class=ingress_class or "haproxy", configmap=configmap)

    def _make_gateway(self, http_port: int, https_port: int) -> Any:
        """NGINX Gateway Fabric's data plane for the scenario's Gateways (HTTP listeners on port 80),
        or Envoy's (kdiag.lab.envoy) when the scenario names an Envoy flavor such as envoy-gateway."""
        from kdiag.lab.gateway.controller import reconcile

        if self.scenario.data_plane != "ingress-nginx":
            from kdiag.lab.envoy import EnvoyEmulation, envoy_config

            return EnvoyEmulation(envoy_config(self.objects, flavor=self.scenario.data_plane, backends=self.backend),
                                  http_port=http_port, https_port=https_port)

        config = reconcile(self.objects, backends=self.backend).config
        if self.dataplane == "nginx":
            from kdiag.lab.gateway.nginx import NginxGateway

            return NginxGateway(config, nginx=self._nginx_binary, http_port=http_port, https_port=https_port)
        from kdiag.lab.gateway.emulated import EmulatedGateway

        return EmulatedGateway(config, http_port=http_port, https_port=https_port)

    def _tls_material(self) -> dict[tuple[str, str], tuple[bytes, bytes]]:
        """Certificates for TLS Secrets that exist in the scenario (minted by a lab CA)."""
        present = {((o.get("metadata") or {}).get("namespace", "default"), (o.get("metadata") or {}).get("name"))
                   for o in self.objects if o.get("kind") == "Secret"}
        wanted = {key: host for key, host in self.scenario.tls_secrets.items() if key in present}
        if not wanted:
            return {}
        import trustme

        ca = trustme.CA()
        out: dict[tuple[str, str], tuple[bytes, bytes]] = {}
        for key, host in wanted.items():
            cert = ca.issue_cert(host)
            out[key] = (b"".join(b.bytes() for b in cert.cert_chain_pems), cert.private_key_pem.bytes())
        return out

    def stop(self) -> None:
        for attr in ("_api", "_edge", "_ingress", "_apps"):
            part = getattr(self, attr)
            setattr(self, attr, None)
            if part is not None:
                try:
                    part.stop()
                except Exception:  # teardown must go on
                    pass
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Lab:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- facts -------------------------------------------------------------------------------

    @property
    def ingress_port(self) -> int:
        return int(self._ingress.http_port)

    @property
    def ingress_tls_port(self) -> int:
        return int(self._ingress.https_port)

    @property
    def edge_address(self) -> tuple[str, int] | None:
        """The LB stand-in's (published) address, when the scenario has an edge."""
        return None if self._edge is None else (str(self._edge.address[0]), int(self._edge.address[1]))

    @property
    def api_url(self) -> str:
        return str(self._api.url)

    @property
    def api(self) -> Any:
        return self._api

    def backend(self, namespace: str, pod: str, port: int) -> tuple[str, int] | None:
        """Where (pod, port) really listens; a reserved closed port when nothing does."""
        return self._ports.get((namespace, pod, port), self._closed)

    # -- changes over time (kdiag.lab.rollout) ---------------------------------------------------

    def pod_ports(self, namespace: str, pod: str) -> list[int]:
        """The ports where an app of the pod listens (or listened)."""
        return sorted(port for (ns, name, port) in self._behaviors if (ns, name) == (namespace, pod))

    def copy_listener(self, namespace: str, pod: str, new_pod: str, port: int) -> None:
        """Start the app of `pod`:`port` for a new pod of the same template."""
        from dataclasses import replace

        app = replace(self._behaviors[(namespace, pod, port)], name=f"{new_pod}:{port}")
        self._ports[(namespace, new_pod, port)] = (LOOPBACK, self._apps.serve(app))
        self._behaviors[(namespace, new_pod, port)] = app

    def terminate_listener(self, namespace: str, pod: str, port: int, *, drain: bool) -> None:
        """SIGTERM to the app of pod:port (see `AppServer.terminate_port`)."""
        address = self._ports.pop((namespace, pod, port), None)
        if address is not None and self._apps is not None:
            self._apps.terminate_port(address[1], drain=drain)

    def reload_dataplane(self, objects: list[dict[str, Any]]) -> None:
        """The ingress controller syncs: new routes and endpoints (open connections stay)."""
        from kdiag.lab.ingress.controller import build_ingress_config

        with self._reload_lock:
            if self._ingress is None or self.scenario.data_plane != "ingress-nginx":
                return
            self._ingress.reload(build_ingress_config(objects, backends=self.backend,
                                                      tls_secrets=self._tls_material()))

    def _namespace_of(self, pod: str) -> str:
        for o in self.scenario.objects:
            if o.get("kind") == "Pod" and (o.get("metadata") or {}).get("name") == pod:
                return str((o.get("metadata") or {}).get("namespace", "default"))
        return "default"

    def _objects_with_nodeports(self, http_port: int, https_port: int) -> list[dict[str, Any]]:
        objs = [copy.deepcopy(dict(o)) for o in self.scenario.objects]
        for o in objs:
            md: Mapping[str, Any] = o.get("metadata") or {}
            if o.get("kind") == "Service" and (md.get("namespace"), md.get("name")) == self.scenario.controller_service:
                for p in o["spec"]["ports"]:
                    p["nodePort"] = http_port if p["name"] == "http" else https_port
            elif o.get("kind") == "Service" and {"gateway.networking.k8s.io/gateway-name",
                                                 "gateway.envoyproxy.io/owning-gateway-name"} & set(md.get("labels") or {}):
                for p in o["spec"]["ports"]:  # a Gateway's data-plane Service (kdiag.lab.gateway_scenarios)
                    p["nodePort"] = http_port if p.get("port") == 80 else https_port
        return objs

    # -- the controller's own pods and the LB in front (kdiag.lab.edge) --------------------------

    def _controller_selected(self, svc: Mapping[str, Any]) -> bool:
        md = svc.get("metadata") or {}
        return (md.get("namespace"), md.get("name")) == self.scenario.controller_service

    def _map_controller_pods(self, http_port: int, https_port: int) -> None:
        """Pods selected by the controller's Service serve the data plane on their http/https ports
        (what a port-forward to the controller pod reaches)."""
        svc = next((o for o in self.objects if o.get("kind") == "Service" and self._controller_selected(o)), None)
        selector = ((svc or {}).get("spec") or {}).get("selector") or {}
        if not selector:
            return
        for pod in self.objects:
            md = pod.get("metadata") or {}
            if pod.get("kind") != "Pod" or md.get("namespace") != self.scenario.controller_service[0] or \
                    not all((md.get("labels") or {}).get(k) == v for k, v in selector.items()):
                continue
            for c in (pod.get("spec") or {}).get("containers") or ():
                for p in c.get("ports") or ():
                    bound = {"http": http_port, "https": https_port}.get(str(p.get("name")))
                    if bound:
                        self._ports[(str(md["namespace"]), str(md["name"]), int(p["containerPort"]))] = (LOOPBACK, bound)

    def _publish_edge(self) -> str | None:
        """Pick the LB's loopback address and publish it in the objects (before the API server starts)."""
        edge = self.scenario.edge
        if edge is None:
            return None
        from kdiag.lab.edge import pick_edge_address, publish_edge

        host = pick_edge_address(edge.port)
        tls = self.scenario.url.startswith(("https:", "wss:"))
        self.objects = publish_edge(self.objects, host, edge.port, tls=tls,
                                    controller_services=self._controller_selected)
        return host

    def _start_edge(self, host: str) -> None:
        from kdiag.lab.edge import EdgeProxy

        edge = self.scenario.edge
        tls = self.scenario.url.startswith(("https:", "wss:"))
        target = self.ingress_tls_port if tls and not edge.terminate_tls else self.ingress_port
        cert = self._edge_certificate() if edge.terminate_tls else None
        self._edge = EdgeProxy(edge, host=host, upstream=(edge.node or LOOPBACK, target), cert=cert).start()

    def _edge_certificate(self) -> tuple[bytes, bytes]:
        """The LB's certificate for the scenario's host (as a cloud certificate manager issues one)."""
        from urllib.parse import urlsplit

        import trustme

        cert = trustme.CA().issue_cert(urlsplit(self.scenario.url).hostname or "localhost")
        return b"".join(b.bytes() for b in cert.cert_chain_pems), cert.private_key_pem.bytes()
