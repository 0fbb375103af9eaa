"""Ending a live diagnosis on time: the overall deadline, Ctrl+C, and the report of what was learned.

`run_until_stopped` runs the walk of `kdiag diagnose` under a `kdiag.kube.limits.Deadline`
(``--deadline``; the cluster reads, credential plugins and probes all end by it). When the
deadline passes or the user presses Ctrl+C, the walk is cancelled and `WalkUnfinished` carries a
report of what was learned so far: finished hops as judged, the others marked ``skip`` with
"not finished: deadline" / "not finished: interrupted" (exit code 2). A second Ctrl+C ends the
process at once (`os._exit`), even while a thread is blocked in a read.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from kdiag.errors import KdiagError
from kdiag.kube.limits import Deadline, Stopped
from kdiag.model import HOPS, HopResult, Report, RouteInfo, SourceInfo, TargetInfo, Verdict

__all__ = ["Progress", "WalkUnfinished", "default_deadline", "in_daemon", "run_until_stopped"]

T = TypeVar("T")

#: How long a cancelled walk may take to wind down before the partial report is written.
_WIND_DOWN_S = 2.0


def default_deadline(timeout: float) -> float:
    """The default ``--deadline``: reading the cluster, then a few probe timeouts."""
    return 30.0 + 6.0 * timeout


class WalkUnfinished(KdiagError):
    """The run ended before the walk did; `report` holds what was learned (exit code 2)."""

    def __init__(self, report: Report, reason: str) -> None:
        super().__init__(f"not finished: {reason}")
        self.report = report
        self.reason = reason


@dataclass
class Progress:
    """What a live walk has learned so far (filled in by `kdiag.diagnose.walk_cluster`)."""

    target: TargetInfo
    source: SourceInfo
    snapshot: Any = None
    facts: Any = None  # verdict.RouteFacts once the route is resolved
    route: RouteInfo | None = None
    static: tuple[Any, ...] = ()
    walk: Any = None  # diagnose._Walk: `results` holds the finished hops


async def in_daemon(fn: Callable[[], T]) -> T:
    """`fn()` in a daemon thread (an abandoned blocking read never holds the process at exit)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if not fut.done():
            if ok:
                fut.set_result(value)
            else:
                fut.set_exception(value)

    def work() -> None:
        try:
            value: Any = fn()
            ok = True
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting task
            value, ok = e, False
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:  # the loop is gone: nobody waits any more
            pass

    threading.Thread(target=work, name="kdiag-worker", daemon=True).start()
    return await fut


def _unfinished(progress: Progress, reason: str) -> Report:
    from kdiag.findings import sort_findings
    from kdiag.verdict import HopProbes, judge

    why = f"not finished: {reason}"
    if progress.walk is None or progress.facts is None:
        hops = tuple(HopResult(hop=h, status="skip", summary=why) for h in HOPS)
        what = "the cluster was not read yet" if progress.snapshot is None else "no hop was probed yet"
        return Report(source=progress.source, target=progress.target, route=progress.route or RouteInfo(),
                      hops=hops, findings=tuple(sort_findings(list(progress.static))),
                      verdict=Verdict("warn", None, None, f"Not finished ({reason}): {what}."))
    results = dict(progress.walk.results)
    for hop in ("ingress", "service", "pod"):
        results.setdefault(hop, HopProbes(skipped=why))
    hops, findings, verdict = judge(progress.facts, results, list(progress.static))
    open_hops = [h for h in ("ingress", "service", "pod") if h not in progress.walk.results]
    summary = f"Not finished ({reason}; not probed: {', '.join(open_hops) or 'none'}). So far: {verdict.summary}"
    verdict = replace(verdict, status="fail" if verdict.status == "fail" else "warn", summary=summary)
    return Report(source=progress.source, target=progress.target, route=progress.route, hops=hops,
                  findings=tuple(findings), verdict=verdict)


def run_until_stopped(main: Callable[[Deadline, Progress], Coroutine[Any, Any, T]], deadline: Deadline,
                      progress: Progress) -> T:
    """Run `main` on a new event loop until it returns, the deadline passes or Ctrl+C.

    Raises `WalkUnfinished` with the partial report in the last two cases.
    """
    presses = 0
    loop_box: list[asyncio.AbstractEventLoop] = []
    wake = threading.Event()

    def on_sigint(signum: int, frame: object) -> None:
        nonlocal presses
        presses += 1
        if presses > 1:  # the second Ctrl+C: now, whatever is blocked where
            os.write(2, b"kdiag: interrupted\n")
            os._exit(130)
        deadline.stop("interrupted")
        wake.set()
        for loop in loop_box:
            loop.call_soon_threadsafe(lambda: None)  # wake the selector

    async def supervise() -> T:
        loop_box.append(asyncio.get_running_loop())
        task = asyncio.create_task(main(deadline, progress))
        while not task.done():
            await asyncio.wait({task}, timeout=0.1)
            if deadline.stopped is not None:
                break
        if task.done():
            try:
                return task.result()
            except Stopped:
                pass  # a read noticed the end first: same as below
        reason = deadline.stopped or "deadline"
        deadline.stop(reason)
        task.cancel()
        await asyncio.wait({task}, timeout=_WIND_DOWN_S)
        raise WalkUnfinished(_unfinished(progress, reason), reason)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, on_sigint) if main_thread else None
    try:
        return asyncio.run(supervise())
    finally:
        if main_thread:
            signal.signal(signal.SIGINT, previous)
        sys.stderr.flush()
