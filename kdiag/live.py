"""The live run of `kdiag diagnose`: connect (credential plugins included), walk, progress lines.

Every blocking step runs in a daemon thread (`kdiag.stopping.in_daemon`) and ends by the run's
`Deadline`, so neither a slow API server nor Ctrl+C can leave the process waiting on a thread.
"""

from __future__ import annotations

import sys

from kdiag.diagnose import DiagnoseOptions, walk_cluster
from kdiag.events import ProbeFinished, RouteResolved, WalkEvent, WalkFinished, WalkNote
from kdiag.kube import Kube
from kdiag.kube.limits import Deadline
from kdiag.model import Report, SourceInfo
from kdiag.stopping import Progress, in_daemon
from kdiag.verdict import probe_sentence

__all__ = ["progress_line", "run_live"]


def progress_line(ev: WalkEvent) -> str | None:
    if isinstance(ev, WalkNote):
        return f"kdiag: {ev.text}"
    if isinstance(ev, RouteResolved):
        r = ev.route
        named = r.ingress or (f"{r.kind} {r.httproute}" if r.httproute else r.extra.get("route_object"))
        where = f"{named} → {r.service}:{r.port}" if named else "no Ingress rule"
        return f"kdiag: route: {where}"
    if isinstance(ev, ProbeFinished):
        p = ev.probe
        mark = "ok " if p.ok else "FAIL"
        return f"kdiag: [{mark}] {ev.hop:<9} {p.kind:<9} {probe_sentence(p)}"  # as the report says it
    return None


async def run_live(opts: DiagnoseOptions, deadline: Deadline, progress: Progress) -> Report:
    """Connect, check access and walk the URL, bounded by `deadline`; `progress` learns as it goes."""
    kube = await in_daemon(lambda: Kube.connect(kubeconfig=opts.kubeconfig, context=opts.context,
                                                namespace=opts.namespace, deadline=deadline))
    progress.source = SourceInfo(kind="cluster", context=kube.context, namespace=kube.namespace)
    try:
        await in_daemon(kube.check_access)
        from kdiag.namespaces import missing_namespace_note

        note = await in_daemon(lambda: missing_namespace_note(kube, opts.namespace))
        if note:
            print(f"kdiag: {note}", file=sys.stderr, flush=True)
        report: Report | None = None
        async for ev in walk_cluster(kube, opts.request(), overrides=opts.overrides, via=opts.via,
                                     timeout=opts.timeout, progress=progress):
            if opts.progress:
                line = progress_line(ev)
                if line:
                    print(line, file=sys.stderr, flush=True)
            if isinstance(ev, WalkFinished):
                report = ev.report
        assert report is not None
        return report
    finally:
        kube.close()
