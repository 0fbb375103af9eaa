"""`kdiag watch URL`: traffic through the ingress hop + API watches → timeline → findings → report.

`watch_cluster` is the whole run on an open `Kube` (the CLI and the TUI live view both use it):
resolve the URL's route, pick the ingress vantage point like `kdiag diagnose`, list then watch
the route's EndpointSlices, pods and ReplicaSets (read-only), drive bounded traffic, and judge
the recorded timeline with `kdiag.watch.attribute`. Everything is bounded: at most `MAX_RATE`
requests/s, `MAX_CONNECTIONS` WebSockets and `MAX_DURATION` seconds, never more than asked.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kdiag.errors import UsageError
from kdiag.model import Finding, Report, TargetInfo, Verdict
from kdiag.vantage import Override, parse_overrides
from kdiag.watch.timeline import Recorder, WatchEvent

__all__ = ["DEFAULT_DURATION", "DEFAULT_RATE", "MAX_CONNECTIONS", "MAX_DURATION", "MAX_RATE", "WatchOptions",
           "WatchRun", "parse_rate", "run_watch", "watch_cluster"]

DEFAULT_RATE = 10.0
DEFAULT_DURATION = 60.0
MAX_RATE = 200.0
MAX_CONNECTIONS = 50
MAX_DURATION = 3600.0


def parse_rate(text: str) -> float:
    """"20", "20/s" or "20/sec" → 20.0 (bounded by MAX_RATE)."""
    raw = text.strip().lower().removesuffix("/sec").removesuffix("/s")
    try:
        rate = float(raw)
    except ValueError:
        raise UsageError(f"bad --rate {text!r}: expected requests per second, e.g. 20/s") from None
    if not 0 <= rate <= MAX_RATE:
        raise UsageError(f"bad --rate {text!r}: between 0 and {MAX_RATE:g} requests per second")
    return rate


@dataclass(frozen=True)
class WatchOptions:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    rate: float = DEFAULT_RATE
    connections: int | None = None  # None: 3 for ws(s) URLs, 0 for http(s)
    duration: float = DEFAULT_DURATION
    overrides: Sequence[Override] = ()
    timeout: float = 5.0
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None
    progress: bool = False

    @classmethod
    def from_cli(cls, *, url: str, headers: Mapping[str, str], rate: str | None, connections: int | None,
                 duration: float | None, resolve: Sequence[str], connect_to: Sequence[str], timeout: float,
                 kubeconfig: str | None, context: str | None, namespace: str | None, progress: bool) -> WatchOptions:
        from kdiag.route import parse_target

        parse_target(url, headers)  # bad URLs fail here, before any connection
        if connections is not None and not 0 <= connections <= MAX_CONNECTIONS:
            raise UsageError(f"bad --connections {connections}: between 0 and {MAX_CONNECTIONS}")
        dur = DEFAULT_DURATION if duration is None else duration
        if not 0 < dur <= MAX_DURATION:
            raise UsageError(f"bad --duration {duration:g}: more than 0 and at most {MAX_DURATION:g} seconds")
        if not 0 < timeout <= 60:
            raise UsageError(f"bad --timeout {timeout:g}: more than 0 and at most 60 seconds")
        return cls(url=url, headers=dict(headers), rate=DEFAULT_RATE if rate is None else parse_rate(rate),
                   connections=connections, duration=dur, overrides=parse_overrides(resolve, connect_to),
                   timeout=timeout, kubeconfig=kubeconfig, context=context, namespace=namespace, progress=progress)


@dataclass
class WatchRun:
    """A running (or finished) watch: what the live view reads while it goes on."""

    recorder: Recorder = field(default_factory=Recorder)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    started: float = field(default_factory=time.monotonic)
    service: str = ""
    notes: list[str] = field(default_factory=list)

    def clock(self) -> float:
        return time.monotonic() - self.started


def _selector(service: Mapping[str, Any]) -> str | None:
    sel = (service.get("spec") or {}).get("selector") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(sel.items())) or None


async def _ingress_endpoint(snapshot: Any, res: Any, target: Any, overrides: Sequence[Override]) -> Any:
    from kdiag.probes.tcp import probe_tcp
    from kdiag.vantage import ingress_candidates

    cands = ingress_candidates(snapshot, host=target.host, port=target.port, tls=target.tls, ingress=res.ingress,
                               overrides=overrides)
    if not cands:
        raise UsageError(f"no way to reach the ingress for {target.host}: give --resolve or --connect-to")
    for cand in cands:
        if (await probe_tcp(cand, timeout=2.0)).ok:
            return cand
    return cands[0]


def _reload_setting(snapshot: Any, res: Any) -> str:
    from kdiag.route import ingress_profile

    if res.ingress is None:
        return ""
    # an HTTPProxy route: its profile is the resolution's (no IngressClass decision for it)
    profile = ingress_profile(snapshot, res.ingress) if res.kind == "Ingress" else res.profile
    drain = profile.timeout("reload-drain")
    if drain is None:
        return ""
    return (f"{profile.name} stops the old workers of a reload after {drain.field} "
            f"({drain.seconds:g} s by default), closing the connections they still hold.")


def _verdict(rec: Recorder, findings: Sequence[Finding], seconds: float) -> Verdict:
    lost = rec.failed + rec.dropped
    figures = (f"{rec.failed} of {rec.sent} requests failed and {rec.dropped} of {rec.opened} held WebSocket(s) "
               f"dropped in {seconds:.0f} s")
    if lost and findings:
        top = findings[0]
        return Verdict("fail", top.hop, top.check, f"{figures}: {top.message}", 0)
    if lost:
        return Verdict("fail", None, None, f"{figures}; no pod, endpoint or reload explains them.")
    if findings:
        return Verdict("warn", findings[0].hop, findings[0].check, findings[0].message, 0)
    return Verdict("ok", None, None, f"No request failed and no WebSocket dropped in {seconds:.0f} s "
                                     f"({rec.sent} requests, {rec.opened} WebSocket(s) held).")


async def watch_cluster(kube: Any, opts: WatchOptions, run: WatchRun | None = None,
                        on_event: Callable[[WatchEvent], None] | None = None) -> Report:
    """Watch one URL on a live cluster until `opts.duration` passes or `run.stop` is set."""
    from kdiag.findings import sort_findings
    from kdiag.route import parse_target, resolve_route
    from kdiag.sources.cluster import load_cluster
    from kdiag.watch.attribute import attribute
    from kdiag.watch.observe import (
        Observer,
        endpoint_table,
        pod_changes,
        replicaset_changes,
        slice_changes,
    )
    from kdiag.watch.traffic import Traffic

    run = run or WatchRun()
    target = parse_target(opts.url, opts.headers)
    snapshot = await asyncio.to_thread(load_cluster, kube, namespace=kube.namespace, host=target.host)
    res = resolve_route(snapshot, target)
    backend = res.backend
    if backend is None or backend.service is None:
        raise UsageError(f"{opts.url} does not route to a Service kdiag can watch; `kdiag diagnose {opts.url}` "
                         "shows why")
    svc_md = backend.service.get("metadata") or {}
    ns, svc = str(svc_md.get("namespace") or kube.namespace), str(svc_md.get("name") or "")
    run.service = f"{ns}/{svc}"
    endpoint = await _ingress_endpoint(snapshot, res, target, opts.overrides)
    loop = asyncio.get_running_loop()
    rec = run.recorder
    if on_event is not None:
        rec.on_add = on_event

    def learn_addresses(slices: Mapping[str, Any]) -> None:
        for ip, (_r, _t, pod, ports) in endpoint_table(slices).items():
            if pod:
                rec.addresses[ip] = pod
                for port in filter(None, ports.split(",")):
                    rec.addresses[f"{ip}:{port}"] = pod

    def add(events: list[WatchEvent], kind: str, old: Any, new: Any, slices: Mapping[str, Any] | None) -> None:
        if kind == "Pod":
            from kdiag.watch.observe import key_of

            rec.pods[key_of(new or old)] = dict(new or old)
        if slices is not None:
            learn_addresses(slices)
        for ev in events:
            rec.add(ev)

    def on_change(kind: str, old: Any, new: Any) -> None:  # a watch thread
        t = run.clock()
        slices = None
        if kind == "Pod":
            events = pod_changes(t, old, new)
        elif kind == "ReplicaSet":
            events = replicaset_changes(t, old, new)
        else:
            from kdiag.watch.observe import key_of

            slices = dict(observer.state["EndpointSlice"])
            before = dict(slices)
            key = key_of(new or old)
            if old is None:
                before.pop(key, None)
            else:
                before[key] = old
            events = slice_changes(t, before, slices, f"{ns}/{svc}")
        loop.call_soon_threadsafe(add, events, kind, old, new, slices)

    def on_error(text: str) -> None:
        loop.call_soon_threadsafe(run.notes.append, text)

    observer = Observer(kube, ns, service=svc, selector=_selector(backend.service), on_change=on_change,
                        on_error=on_error)
    await asyncio.to_thread(observer.prime)
    for key, pod in observer.state["Pod"].items():
        rec.pods[key] = dict(pod)
    learn_addresses(observer.state["EndpointSlice"])
    rec.ready_endpoints = sum(1 for r, _t, _p, _ports in endpoint_table(observer.state["EndpointSlice"]).values() if r)
    connections = opts.connections if opts.connections is not None else (3 if target.websocket else 0)
    traffic = Traffic(url=opts.url, endpoint=endpoint, recorder=rec, clock=run.clock, websocket=target.websocket,
                      rate=opts.rate, connections=connections, headers=dict(opts.headers), timeout=opts.timeout,
                      stop=run.stop)
    run.started = time.monotonic()
    observer.start(opts.duration)
    try:
        await traffic.run(opts.duration)
        observed = run.clock()
        with contextlib.suppress(TimeoutError):  # late watch events (an endpoint removed just now)
            async with asyncio.timeout(0.5):
                await asyncio.Event().wait()
    finally:
        await asyncio.to_thread(observer.stop)
    end = run.clock()
    ing = None
    if res.ingress is not None:
        imd = res.ingress.get("metadata") or {}
        ing = f"{imd.get('namespace', ns)}/{imd.get('name')}"
    findings = sort_findings(attribute(rec.events, rec.pods, end=end, service=f"{ns}/{svc}", ingress=ing,
                                       reload_setting=_reload_setting(snapshot, res)))
    return Report(source=snapshot.source, target=TargetInfo(url=opts.url, headers=dict(opts.headers)),
                  route=res.route_info(), findings=tuple(findings), verdict=_verdict(rec, findings, observed),
                  watch=rec.section(duration=observed, rate=opts.rate))


def _progress(run: WatchRun) -> Callable[[WatchEvent], None]:
    def show(ev: WatchEvent) -> None:
        print(f"kdiag: {ev.t:6.2f} s  {ev.kind:<19} {ev.object}  {ev.detail}", file=sys.stderr, flush=True)

    return show


async def _ticker(run: WatchRun) -> None:
    rec = run.recorder
    while not run.stop.is_set():
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5.0):
                await run.stop.wait()
        print(f"kdiag: {run.clock():6.1f} s  sent {rec.sent}  failed {rec.failed}  held {rec.held}  "
              f"dropped {rec.dropped}  ready endpoints {rec.ready_endpoints}", file=sys.stderr, flush=True)


async def _run(opts: WatchOptions) -> Report:
    from kdiag.kube import Kube

    kube = await asyncio.to_thread(Kube.connect, kubeconfig=opts.kubeconfig, context=opts.context,
                                   namespace=opts.namespace)
    run = WatchRun()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
        loop.add_signal_handler(signal.SIGINT, run.stop.set)  # Ctrl+C: stop and report
    ticker = asyncio.create_task(_ticker(run)) if opts.progress else None
    try:
        await asyncio.to_thread(kube.check_access)
        if opts.progress:
            print(f"kdiag: watching {opts.url} for {opts.duration:g} s at {opts.rate:g} req/s "
                  "(Ctrl+C ends it with the report)", file=sys.stderr, flush=True)
        return await watch_cluster(kube, opts, run, on_event=_progress(run) if opts.progress else None)
    finally:
        run.stop.set()
        if ticker is not None:
            ticker.cancel()
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGINT)
        kube.close()


def run_watch(opts: WatchOptions) -> tuple[Report, int]:
    """Run a watch from the CLI: the report and the exit code (0 no failures, 1 failures)."""
    report = asyncio.run(_run(opts))
    section = report.watch or {}
    lost = int((section.get("requests") or {}).get("failed") or 0) + int(
        (section.get("connections") or {}).get("dropped") or 0)
    return report, 1 if lost else 0
