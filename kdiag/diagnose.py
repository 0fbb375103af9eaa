"""`kdiag diagnose`: resolve a URL's route, probe every hop concurrently, and judge the walk.

Two walks share one shape (events streamed, a Report at the end):
- over a live cluster (`walk_cluster`): targeted reads, then probes from the vantage points of
  `kdiag.vantage` — Ingress, Service and Pod hops run concurrently, each with a timeout;
- over manifests (`static_report`): route resolution and static checks only, no probes.
`ClusterSession` adapts the cluster walk to the `kdiag.session.Session` protocol for the TUI.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdiag.errors import KdiagError, UsageError
from kdiag.events import (
    HopFinished,
    HopStarted,
    ProbeFinished,
    ProbeStarted,
    RouteResolved,
    WalkEvent,
    WalkFinished,
    WalkNote,
)
from kdiag.model import Finding, ObjectRef, ProbeResult, Report, RouteInfo, SourceInfo, TargetInfo
from kdiag.outcomes import ErrorKind
from kdiag.pods.readiness import pod_is_ready
from kdiag.session import RouteEvent, RouteRow, SessionInfo, WalkRequest
from kdiag.shape import external_name, sub
from kdiag.snapshot import Snapshot, obj_ref
from kdiag.urls import probe_url
from kdiag.vantage import Override, parse_overrides
from kdiag.verdict import HopProbes, RouteFacts, judge, judge_static

if TYPE_CHECKING:
    from kdiag.endpoint import Endpoint
    from kdiag.kube.access import ClusterAccess
    from kdiag.route import BackendInfo, Resolution, Target
    from kdiag.stopping import Progress

__all__ = [
    "API_VIAS",
    "ClusterSession",
    "DiagnoseOptions",
    "cluster_session",
    "route_findings",
    "run_diagnose",
    "snapshot_findings",
    "static_report",
    "walk_cluster",
]

#: Probes that reach their hop through the API server (each one connection to it).
API_VIAS = ("service-proxy", "port-forward")

MAX_PODS = 3  # pods probed per walk (ready ones first)
#: Hops whose HTTP probe follows same-origin redirects like a browser (bounded; `kdiag.probes.redirects`).
FOLLOWS_REDIRECTS = frozenset({"edge", "ingress", "gateway"})


@dataclass(frozen=True)
class DiagnoseOptions:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    client_url: str | None = None
    page_url: str | None = None
    idle: float | None = None
    overrides: tuple[Override, ...] = ()
    via: str = "auto"
    timeout: float = 5.0
    filenames: tuple[str, ...] = ()
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    progress: bool = False
    deadline: float | None = None  # seconds for the whole run (None: `stopping.default_deadline`)
    method: str | None = None

    @classmethod
    def from_cli(cls, *, url: str, headers: Mapping[str, str], client_url: str | None, page_url: str | None,
                 idle: float | None, resolve: Sequence[str], connect_to: Sequence[str], via: str,
                 timeout: float, filenames: Sequence[str], kubeconfig: str | None, context: str | None,
                 namespace: str | None, progress: bool, deadline: float | None = None,
                 method: str | None = None) -> DiagnoseOptions:
        from kdiag.options import MAX_IDLE, MAX_TIMEOUT, check_seconds
        from kdiag.urls import check_url, parse_loose_url

        if deadline is not None and not 0 < deadline < 1e7:  # also refuses nan and inf
            raise UsageError("--deadline must be a positive number of seconds")
        timeout = check_seconds(timeout, "--timeout", MAX_TIMEOUT) or timeout
        idle = check_seconds(idle, "--idle", MAX_IDLE)
        check_url(url)
        if page_url is not None:
            check_url(page_url, "--page-url")
        if client_url is not None:
            parse_loose_url(client_url, "--client-url")
        return cls(url=url, headers=dict(headers), client_url=client_url, page_url=page_url, idle=idle,
                   overrides=parse_overrides(resolve, connect_to), via=via, timeout=timeout,
                   filenames=tuple(filenames), kubeconfig=kubeconfig, context=context, namespace=namespace,
                   progress=progress, deadline=deadline, method=method)

    def request(self) -> WalkRequest:
        return WalkRequest(url=self.url, headers=dict(self.headers), client_url=self.client_url,
                           page_url=self.page_url, idle=self.idle, method=self.method)


# -- static part --------------------------------------------------------------------------


def _route_objects(snapshot: Snapshot, res: Resolution) -> dict[str, tuple[str, ...]]:
    objs: dict[str, list[str]] = {h: [] for h in ("client", res.entry_hop, "service", "endpoints", "pod")}
    for ing in res.ingresses or ((res.ingress,) if res.ingress is not None else ()):
        objs["ingress"].append(obj_ref(ing))
    g = res.gateway
    for o in (g.route, g.gateway, g.gateway_class.obj if g.gateway_class else None) if g is not None else ():
        if o is not None:
            objs["gateway"].append(obj_ref(o))
    backend = res.backend
    if backend is not None and backend.service is not None:
        svc = backend.service
        objs["service"].append(obj_ref(svc))
        for sl in snapshot.endpoint_slices_for(svc):
            objs["endpoints"].append(obj_ref(sl))
        for view in backend.pods:
            objs["pod"].append(view.ref)
            if view.owner is not None and obj_ref(view.owner) not in objs["pod"]:
                objs["pod"].append(obj_ref(view.owner))
    return {k: tuple(v) for k, v in objs.items()}


def snapshot_findings(snapshot: Snapshot, req: WalkRequest | None = None,
                      res: Resolution | None = None) -> list[Finding]:
    """Every static finding of a snapshot (the source's, then all rules), for one target (and its route) or none."""
    from kdiag.rules import RuleContext, run_rules

    return list(snapshot.findings) + run_rules(RuleContext.for_request(snapshot, req, res))


def route_findings(snapshot: Snapshot, res: Resolution, req: WalkRequest, *,
                   found: Sequence[Finding] | None = None) -> list[Finding]:
    """Static findings whose subject is an object on this route (plus client and source findings).

    `found` is `snapshot_findings(snapshot)` computed once when many routes are judged.
    """
    from kdiag.findings import sort_findings

    wanted = {ObjectRef.parse(o) for refs in _route_objects(snapshot, res).values() for o in refs}
    if found is None:
        found = snapshot_findings(snapshot, req, res)
    hit = res.gateway.hit if res.gateway is not None else None
    mine = f"{res.match.host or '*'}{res.match.path}" if res.match is not None else None

    def other_rule(f: Finding) -> bool:  # another rule of the same HTTPRoute or Ingress: another route
        r = f.about.rule
        if r is None:
            return False
        if r.path.startswith("#rule"):
            return hit is None or r.path != f"#rule{hit.rule_index}"
        return mine is not None and r.where != mine
    keep = [f for f in found if f.hop in ("client", "source") or f.about.object is None
            or (f.about.object in wanted and not other_rule(f))
            or f.check in ("ingress-no-rule-matches", "route-no-rule-matches")]
    return sort_findings(keep)


def route_facts(snapshot: Snapshot, res: Resolution, target: Target, *, live: bool) -> RouteFacts:
    """What the verdict needs to know about one resolved route."""
    from kdiag.edge_hop import edge_facts
    from kdiag.route import ingress_ref

    edge = edge_facts(snapshot, res, tls=target.tls)
    backend = res.backend
    pods = list(backend.pods) if backend is not None else []
    eps = list(backend.endpoints) if backend is not None else []
    # Endpoints are only known on a live cluster, and only behind a Service that exists.
    counted = live and backend is not None and backend.service is not None
    return RouteFacts(
        websocket=target.websocket, tls=target.tls,
        rule_matched=res.matched,
        ingress=ingress_ref(res.ingress) if res.ingress is not None else None,
        service=backend.service_ref if backend is not None and backend.service is not None else None,
        service_readable=backend is None or backend.service_readable,
        port=(backend.service_port or {}).get("port") if backend is not None else None,
        rule=f"{res.match.host or '*'}{res.match.path}" if res.match is not None else (
            f"*#rule{res.gateway.hit.rule_index}" if res.gateway is not None and res.gateway.hit else None),
        pods_total=len(pods), pods_ready=sum(1 for v in pods if v.pod is not None and pod_is_ready(v.pod)),
        endpoints_ready=sum(1 for e in eps if e.ready) if counted else None,
        endpoints_total=len(eps) if counted else None,
        external_name=external_name(backend.service) if backend is not None else None,
        objects={**_route_objects(snapshot, res), "edge": edge.pop("edge_objects")}, entry_hop=res.entry_hop,
        **edge,
    )


def _target_info(req: WalkRequest) -> TargetInfo:
    return TargetInfo(url=req.url, headers=dict(req.headers), client_url=req.client_url, page_url=req.page_url)


def static_report(snapshot: Snapshot, req: WalkRequest) -> Report:
    """A URL walked over manifests: route + static findings, no probes."""
    from kdiag.route import parse_target, resolve_route

    target = parse_target(req.url, req.headers, req.method)
    res = resolve_route(snapshot, target)
    static = route_findings(snapshot, res, req)
    hops, findings, verdict = judge_static(route_facts(snapshot, res, target, live=False), static)
    from kdiag.findings import order_report

    return order_report(Report(source=snapshot.source, target=_target_info(req), route=res.route_info(),
                               hops=hops, findings=tuple(findings), verdict=verdict))


# -- probes -------------------------------------------------------------------------------


class _Walk:
    """One live walk: runs the hop probes concurrently and streams events through a queue."""

    def __init__(self, kube: ClusterAccess, snapshot: Snapshot, res: Resolution, target: Target, req: WalkRequest,
                 *, overrides: Sequence[Override], via: str, timeout: float) -> None:
        self.kube, self.snapshot, self.res, self.target, self.req = kube, snapshot, res, target, req
        self.overrides, self.via, self.timeout = overrides, via, timeout
        self.queue: asyncio.Queue[WalkEvent] = asyncio.Queue()
        self.results: dict[str, HopProbes] = {}
        self.edge: dict[str, Any] | None = None  # route.edge, when the edge hop was walked

    async def _run_probe(self, hop: str, coro_factory: Callable[[], Awaitable[ProbeResult]], kind: str, via: str,
                         target: str) -> ProbeResult:
        await self.queue.put(ProbeStarted(hop, kind, via, target))
        try:
            result: ProbeResult = await coro_factory()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # probes should not raise; if one does, it is still a result
            result = ProbeResult(kind=kind, via=via, target=target, ok=False, detail="probe failed",
                                 error=f"{type(e).__name__}: {e}", error_kind=ErrorKind.INTERNAL)
        await self.queue.put(ProbeFinished(hop, result))
        return result

    async def _request_probes(self, hop: str, url: str, endpoint: Endpoint, *, extra: Mapping[str, Any] | None = None,
                              with_idle: bool = True, more_headers: Mapping[str, str] | None = None,
                              ) -> tuple[tuple[ProbeResult, ...], tuple[ProbeResult, ...]]:
        """The request itself (HTTP or WebSocket handshake), then the idle probe when asked; `more_headers`
        are sent on top of the user's (what a proxy in front of this hop adds)."""
        from kdiag.probes.base import request_target
        from kdiag.probes.http import probe_http
        from kdiag.probes.idle import probe_idle
        from kdiag.probes.redirects import follow_redirects
        from kdiag.probes.websocket import probe_websocket

        headers = {**self.req.headers, **(more_headers or {})}
        # `-X` reaches the app; through the API server's service proxy kdiag only ever reads (GET).
        method = "GET" if endpoint.via == "service-proxy" else (self.target.method or "GET")
        announced = request_target(url, endpoint, websocket=self.target.websocket)
        if self.target.websocket:
            primary = await self._run_probe(
                hop, lambda: probe_websocket(url, endpoint, headers=headers, timeout=self.timeout),
                "websocket", endpoint.via, announced)
        else:
            async def request() -> ProbeResult:
                first = await probe_http(url, endpoint, headers=headers, timeout=self.timeout, method=method)
                if hop not in FOLLOWS_REDIRECTS:
                    return first
                return await follow_redirects(first, url, endpoint, headers=headers, timeout=self.timeout,
                                              method=method)

            primary = await self._run_probe(hop, request, "http", endpoint.via, announced)
        if extra:
            primary = ProbeResult(**{**primary.__dict__, "extra": {**primary.extra, **extra}})
        idle: tuple[ProbeResult, ...] = ()
        if with_idle and self.req.idle and self.target.websocket and primary.ok:
            idle_s = float(self.req.idle)
            res = await self._run_probe(
                hop, lambda: probe_idle(url, endpoint, idle=idle_s, headers=headers, timeout=self.timeout),
                "idle", endpoint.via, announced)
            idle = (res,)
        return (primary,), idle

    async def service_hop(self) -> None:
        backend = self.res.backend
        if backend is None or backend.service is None or backend.service_port is None:
            why = "no Service to probe" if backend is None or backend.service is None else "the Service has no such port"
            self.results["service"] = HopProbes(skipped=why)
            return
        if external_name(backend.service) is not None:  # never resolved nor connected to (it can point anywhere)
            self.results["service"] = HopProbes(skipped=(
                f"ExternalName Service (→ {external_name(backend.service)}): a DNS name, nothing in the cluster "
                "to probe; kdiag does not resolve or connect to it"))
            return
        from kdiag.probes.base import tcp_target
        from kdiag.probes.tcp import probe_tcp

        endpoint = self._service_endpoint(backend)
        await self.queue.put(HopStarted("service", f"request to {backend.service_ref} via {endpoint.label}"))
        reach: tuple[ProbeResult, ...] = ()
        if endpoint.via == "nodeport":
            exposed = endpoint
            tcp = await self._run_probe("service", lambda: probe_tcp(exposed, timeout=min(self.timeout, 2.0)),
                                        "tcp", exposed.via, tcp_target(exposed))
            reach = (tcp,)
            if not tcp.ok:  # the NodePort is not reachable from here: test the Service itself anyway
                endpoint = self._service_proxy(backend)
        url = probe_url(self.target, tls=False)
        primary, idle = await self._request_probes("service", url, endpoint)
        self.results["service"] = HopProbes(primary=primary, idle=idle, reach=reach)

    def _service_endpoint(self, backend: BackendInfo) -> Endpoint:
        from kdiag.endpoint import Endpoint
        from kdiag.vantage import node_addresses

        spec, sp = sub(backend.service, "spec"), backend.service_port or {}
        if self.via == "direct" and spec.get("clusterIP") not in (None, "None", ""):
            return Endpoint(host=spec["clusterIP"], port=int(sp["port"]), via="direct",
                            label=f"ClusterIP {spec['clusterIP']}:{sp['port']}")
        if spec.get("type") in ("NodePort", "LoadBalancer") and sp.get("nodePort") and self.via == "auto":
            addrs = node_addresses(self.snapshot)
            if addrs:
                return Endpoint(host=addrs[0], port=int(sp["nodePort"]), via="nodeport",
                                label=f"NodePort {addrs[0]}:{sp['nodePort']}")
        return self._service_proxy(backend)

    def _service_proxy(self, backend: BackendInfo) -> Endpoint:
        """The Service port through the API server's service proxy."""
        sp = backend.service_port or {}
        port: int | str = sp.get("name") or sp.get("port") or ""
        return self.kube.service_proxy_endpoint(backend.ref.namespace, backend.ref.service_name or "", port)

    async def pod_hop(self) -> None:
        backend = self.res.backend
        if backend is None or backend.service is None or not backend.pod_ports:
            why = ("no pod selected by the Service" if backend is not None and backend.service is not None
                   else "the Service could not be read, so its pods are unknown"
                   if backend is not None and not backend.service_readable
                   else "no Service on this route, so no pod to probe")
            self.results["pod"] = HopProbes(skipped=why)
            return
        plans = self._pod_plans(backend)
        if not plans:
            self.results["pod"] = HopProbes(skipped="no running pod to probe")
            return
        await self.queue.put(HopStarted("pod", f"{len(plans)} pod(s) via "
                                               f"{'port-forward' if self.via != 'direct' else 'pod IP'}"))
        outcomes = await asyncio.gather(*(self._probe_pod(*plan) for plan in plans))
        primary = tuple(p for o in outcomes for p in o[0])
        idle = tuple(p for o in outcomes for p in o[1])
        confirm = tuple(p for o in outcomes for p in o[2])
        self.results["pod"] = HopProbes(primary=primary, idle=idle, confirm=confirm)

    def _pod_plans(self, backend: BackendInfo) -> list[tuple[Mapping[str, Any], int | None, tuple[int, ...]]]:
        """(pod, resolved target port, declared ports to confirm with) for up to MAX_PODS pods."""
        from kdiag.pods.spec import container_ports

        sp_name = str((backend.service_port or {}).get("name") or "")
        plans: list[tuple[Mapping[str, Any], int | None, tuple[int, ...]]] = []
        ranked = sorted(((v, v.pod) for v in backend.pods if v.pod is not None),
                        key=lambda vp: (not pod_is_ready(vp[1]), vp[0].name))
        by_ref = {pp.pod: pp for pp in backend.pod_ports}
        for view, pod in ranked[:MAX_PODS]:
            pp = by_ref.get(view.ref)
            port = pp.port if pp is not None else None
            confirm: tuple[int, ...] = ()
            if pp is None or not pp.declared:
                declared = container_ports(sub(pod, "spec"))
                same_name = [p.port for p in declared if sp_name and p.name == sp_name]
                confirm = tuple(same_name or [p.port for p in declared][:2])
            plans.append((pod, port, confirm))
        return plans

    async def _probe_pod(self, pod: Mapping[str, Any], port: int | None, confirm: tuple[int, ...]
                         ) -> tuple[tuple[ProbeResult, ...], tuple[ProbeResult, ...], tuple[ProbeResult, ...]]:
        md = pod.get("metadata") or {}
        ns, name = str(md.get("namespace", "default")), str(md.get("name", ""))
        primary: tuple[ProbeResult, ...] = ()
        idle: tuple[ProbeResult, ...] = ()
        extra = {"pod": f"{ns}/{name}"}
        if port is None:
            primary = (ProbeResult(kind="tcp", via="port-forward", target=f"{name}:?", ok=False,
                                   detail="the Service's named targetPort matches no containerPort of this pod",
                                   error="unresolved named port", extra=extra, error_kind=ErrorKind.NO_PORT),)
        else:
            primary, idle = await self._through_pod(ns, name, port, extra)
        confirm_results: list[ProbeResult] = []
        if confirm and not any(p.ok for p in primary):
            for cport in confirm:
                c_primary, _ = await self._through_pod(ns, name, cport, {**extra, "declared_port": cport},
                                                       idle=False)
                confirm_results.extend(c_primary)
        return primary, idle, tuple(confirm_results)

    async def _through_pod(self, ns: str, name: str, port: int, extra: Mapping[str, Any], *, idle: bool = True
                           ) -> tuple[tuple[ProbeResult, ...], tuple[ProbeResult, ...]]:
        from kdiag.endpoint import Endpoint

        url = probe_url(self.target, tls=False)
        label = f"pod {name}:{port}"
        try:
            if self.via == "direct":
                pod = self.snapshot.get("Pod", ns, name) or {}
                ip = (pod.get("status") or {}).get("podIP")
                endpoint = Endpoint(host=str(ip), port=port, via="direct", label=f"{label} (pod IP)")
                return await self._request_probes("pod", url, endpoint, extra=extra, with_idle=idle)
            async with self.kube.port_forward(ns, name, port) as (host, lport):
                endpoint = Endpoint(host=host, port=lport, via="port-forward", label=f"{label} via port-forward")
                primary, idle_r = await self._request_probes("pod", url, endpoint, extra=extra, with_idle=idle)
                if not primary[0].ok and primary[0].status_code is None:
                    err = self._bridge_error(ns, name, port)
                    if err:
                        p = primary[0]
                        primary = (ProbeResult(**{**p.__dict__, "error": "connection refused", "error_kind": ErrorKind.REFUSED,
                                                  "detail": f"nothing listens on port {port} in pod {name}: {err}",
                                                  "target": f"{name}:{port}"}),)
                return primary, idle_r
        except KdiagError as e:
            return (ProbeResult(kind="tcp", via="port-forward", target=f"{name}:{port}", ok=False,
                                detail=f"port-forward to {name}:{port} failed", error=str(e), extra=extra,
                                error_kind=ErrorKind.PORT_FORWARD),), ()

    def _bridge_error(self, ns: str, name: str, port: int) -> str | None:
        return self.kube.port_forward_error(ns, name, port)

    async def run(self) -> AsyncIterator[WalkEvent]:
        from kdiag.edge_hop import entry_walk

        entry = entry_walk(self)
        tasks = [asyncio.create_task(coro) for coro in (entry, self.service_hop(), self.pod_hop())]
        done = asyncio.gather(*tasks, return_exceptions=True)
        try:
            while not done.done() or not self.queue.empty():
                try:
                    ev = await asyncio.wait_for(self.queue.get(), timeout=0.05)
                except TimeoutError:
                    continue
                yield ev
            for r in done.result():
                if isinstance(r, BaseException) and not isinstance(r, asyncio.CancelledError):
                    raise r
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def walk_cluster(kube: ClusterAccess, req: WalkRequest, *, overrides: Sequence[Override] = (), via: str = "auto",
                       timeout: float = 5.0, snapshot: Snapshot | None = None,
                       progress: Progress | None = None) -> AsyncIterator[WalkEvent]:
    """Walk one URL through a live cluster; yields events, the last one a WalkFinished.

    `progress` records what is known so far, for a partial report."""
    from kdiag.route import parse_target, resolve_route
    from kdiag.sources.targeted import load_route

    target = parse_target(req.url, req.headers, req.method)
    started = time.monotonic()
    if snapshot is None:
        yield WalkNote(f"reading the cluster (context {kube.context or '?'}) …")
        from kdiag.stopping import in_daemon

        loaded: Snapshot = await in_daemon(lambda: load_route(kube, target, namespace=kube.namespace))
        snapshot = loaded
    res = resolve_route(snapshot, target, addresses=[o.address for o in overrides if o.host in (target.host, "*")])
    static = route_findings(snapshot, res, req)
    route: RouteInfo = res.route_info()
    yield RouteResolved(route, tuple(static))
    walk = _Walk(kube, snapshot, res, target, req, overrides=overrides, via=via, timeout=timeout)
    if progress is not None:
        progress.source, progress.route, progress.static, progress.walk = snapshot.source, route, tuple(static), walk
        progress.snapshot, progress.facts = snapshot, route_facts(snapshot, res, target, live=True)
    async for ev in walk.run():
        yield ev
    facts = route_facts(snapshot, res, target, live=True)
    if "edge" in walk.results:
        from dataclasses import replace

        facts = replace(facts, edge=True)
        route = replace(route, extra={**route.extra, "edge": walk.edge})
    hops, findings, verdict = judge(facts, walk.results, static)
    for h in hops:
        yield HopFinished(h)
    from kdiag.findings import order_report

    # What the walk cost the API server: the read, and the probes that went through it.
    through_api = sum(1 for h in hops for p in h.probes if p.via in API_VIAS)
    report = order_report(Report(source=snapshot.source, target=_target_info(req), route=route, hops=hops,
                                 findings=tuple(findings), verdict=verdict,
                                 stats={**kube.stats(), "api_probes": through_api}))
    yield WalkNote(f"walk finished in {time.monotonic() - started:.2f} s")
    yield WalkFinished(report)


# -- the command ---------------------------------------------------------------------------


def run_diagnose(opts: DiagnoseOptions) -> Report:
    from kdiag.route import parse_target

    parse_target(opts.url, opts.headers)  # bad URLs fail before any I/O
    if opts.filenames:
        from kdiag.sources.manifests import load_manifests

        snapshot = load_manifests(list(opts.filenames), namespace=opts.namespace or "default")
        return static_report(snapshot, opts.request())
    from kdiag.kube.limits import Deadline
    from kdiag.live import run_live
    from kdiag.stopping import Progress, default_deadline, run_until_stopped

    seconds = opts.deadline if opts.deadline is not None else default_deadline(opts.timeout)
    progress = Progress(target=_target_info(opts.request()), source=SourceInfo(kind="cluster"))
    return run_until_stopped(lambda dl, pr: run_live(opts, dl, pr), Deadline(seconds), progress)


# -- sessions for the TUI ------------------------------------------------------------------


class ClusterSession:
    """A `kdiag.session.Session` over one kube context (also used by the demo on the lab)."""

    def __init__(self, kube: ClusterAccess, *, kubeconfig: str | None, source_kind: str = "cluster", title: str = "",
                 contexts: Sequence[str] = (), overrides: Sequence[Override] = (), timeout: float = 5.0) -> None:
        self.kube = kube
        self.kubeconfig = kubeconfig
        self.source_kind = source_kind
        self.title = title
        self.contexts = tuple(contexts)
        self.overrides = tuple(overrides)
        self.timeout = timeout
        self._snapshot: Snapshot | None = None
        self._prefetched: concurrent.futures.Future[list[dict[str, Any]]] | None = None

    def prefetch_routes(self) -> None:
        """Start reading the namespace's Ingresses now, in a thread, for the first route list.

        The TUI calls it before Textual is imported: the API server answers while the
        interface loads, and the first rows need no request of their own.
        """
        if self._prefetched is None:
            from kdiag.kube.limits import in_thread

            self._prefetched = in_thread(self.kube.list_raw, "Ingress", self.kube.namespace)

    def info(self) -> SessionInfo:
        namespaces = tuple(self._snapshot.namespaces()) if self._snapshot is not None else ()
        return SessionInfo(source_kind=self.source_kind, context=self.kube.context, namespace=self.kube.namespace,
                           contexts=self.contexts, namespaces=namespaces, title=self.title)

    async def _load(self) -> Snapshot:
        from kdiag.sources.cluster import load_cluster

        self._snapshot = await asyncio.to_thread(load_cluster, self.kube, namespace=self.kube.namespace)
        return self._snapshot

    async def routes(self) -> list[RouteRow]:
        from kdiag.route_stream import route_rows

        snapshot = await self._load()
        return await asyncio.to_thread(route_rows, snapshot)

    def routes_stream(self) -> AsyncIterator[RouteEvent]:
        from kdiag.route_stream import cluster_route_events

        prefetched, self._prefetched = self._prefetched, None  # the first list only (F5 reads again)
        if prefetched is None:
            return cluster_route_events(self.kube, self._load)
        return cluster_route_events(self.kube, self._load, ingresses=lambda: asyncio.wrap_future(prefetched))

    async def walk(self, request: WalkRequest) -> AsyncIterator[WalkEvent]:
        async for ev in walk_cluster(self.kube, request, overrides=self.overrides, timeout=self.timeout):
            yield ev

    async def switch(self, *, context: str | None = None, namespace: str | None = None) -> ClusterSession:
        from kdiag.kube import Kube

        kube = await asyncio.to_thread(Kube.connect, kubeconfig=self.kubeconfig,
                                       context=context or self.kube.context,
                                       namespace=namespace or (None if context else self.kube.namespace))
        await asyncio.to_thread(kube.check_access)
        return ClusterSession(kube, kubeconfig=self.kubeconfig, source_kind=self.source_kind, title=self.title,
                              contexts=self.contexts, overrides=self.overrides, timeout=self.timeout)

    async def namespace_note(self) -> str | None:
        from kdiag.namespaces import missing_namespace_note

        return await asyncio.to_thread(missing_namespace_note, self.kube, self.kube.namespace)

    async def close(self) -> None:
        await asyncio.to_thread(self.kube.close)


def cluster_session(*, kubeconfig: str | None, context: str | None, namespace: str | None) -> ClusterSession:
    """Connect to a kube context for the TUI (raises KdiagError with one clear line)."""
    from kdiag.kube import Kube

    kube = Kube.connect(kubeconfig=kubeconfig, context=context, namespace=namespace)
    kube.check_access()
    try:
        contexts, _ = Kube.list_contexts(kubeconfig)
    except KdiagError:
        contexts = []
    return ClusterSession(kube, kubeconfig=kubeconfig, contexts=contexts)
