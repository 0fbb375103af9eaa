"""The watch screen: `kdiag watch` live — requests/s, errors, WebSockets held, ready endpoints and
the timeline of failures and pod/endpoint events, then the verdict with its findings.

Opened from the walk screen (`w`) on a live cluster. On the demo's rollout scenarios `r` restarts
the Deployment in the lab, so a newcomer sees the rollout happen (and what it does to traffic).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Sparkline, Static
from textual.worker import Worker

from kdiag.session import WalkRequest
from kdiag.watch.timeline import FAILURE_KINDS, WatchEvent

if TYPE_CHECKING:
    from kdiag.model import Report
    from kdiag.tui.app import KdiagApp
    from kdiag.watch.run import WatchRun

__all__ = ["WatchScreen"]

#: How long the live view watches unless stopped (it never sends more than the rate asks).
TUI_DURATION = 600.0
TUI_RATE = 10.0
_SERIES = (("requests", "requests/s"), ("errors", "errors/s"), ("held", "WebSockets held"),
           ("endpoints", "ready endpoints"))


class WatchScreen(Screen[None]):
    """Runs `watch_cluster` in a worker and redraws from its recorder twice a second."""

    DEFAULT_CSS = """
    WatchScreen #watch-status { height: auto; padding: 0 1; background: $boost; }
    WatchScreen #watch-status.-fail { background: $error 20%; }
    WatchScreen #watch-status.-ok { background: $success 15%; }
    WatchScreen #watch-graphs { grid-size: 2 2; height: 10; }
    WatchScreen .graph { border: round $primary 40%; height: 5; }
    WatchScreen .graph Sparkline { height: 3; }
    WatchScreen #watch-events { height: 1fr; }
    """

    BINDINGS = [
        Binding("escape", "stop_or_back", "Stop/Back"),
        Binding("r", "rollout", "Start rollout (demo)"),
    ]

    def __init__(self, request: WalkRequest, *, duration: float = TUI_DURATION, rate: float = TUI_RATE) -> None:
        super().__init__(id="watch-screen")
        self.request = request
        self.duration = duration
        self.rate = rate
        self.run: WatchRun | None = None
        self.report: Report | None = None
        self.worker: Worker[None] | None = None
        self._shown = 0
        self.error: str | None = None

    @property
    def kapp(self) -> KdiagApp:
        return cast("KdiagApp", self.app)

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text(f"Watching {self.request.url} …"), id="watch-status")
        with Grid(id="watch-graphs"):
            for key, title in _SERIES:
                with Vertical(classes="graph", id=f"graph-{key}") as box:
                    box.border_title = title
                    yield Sparkline([0.0], id=f"spark-{key}")
        yield DataTable(id="watch-events", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("t (s)", "event", "object", "detail")
        kube = getattr(self.kapp.session, "kube", None)
        if kube is None or not hasattr(kube, "watch"):
            self._status("Watching needs a live cluster (this session has none).", "fail")
            return
        self.worker = self.run_worker(self._watch(kube), exclusive=True, group="watch")
        self.set_interval(0.5, self.refresh_view)

    async def _watch(self, kube: Any) -> None:
        from kdiag.errors import KdiagError
        from kdiag.watch.run import WatchOptions, WatchRun, watch_cluster

        self.run = WatchRun()
        opts = WatchOptions(url=self.request.url, headers=dict(self.request.headers), rate=self.rate,
                            duration=self.duration)
        try:
            self.report = await watch_cluster(kube, opts, self.run)
        except KdiagError as e:
            self.error = str(e)
        self.refresh_view()

    def _status(self, text: str | Text, kind: str = "") -> None:
        status = self.query_one("#watch-status", Static)
        status.remove_class("-ok", "-fail")
        if kind:
            status.add_class(f"-{kind}")
        status.update(Text(text) if isinstance(text, str) else text)

    def refresh_view(self) -> None:
        run = self.run
        if self.error:
            self._status(f"kdiag watch: {self.error}", "fail")
            return
        if run is None:
            return
        rec = run.recorder
        samples = rec.samples[-60:] or []
        for key, _title in _SERIES:
            values = [float(getattr(s, key) or 0) for s in samples] or [0.0]
            self.query_one(f"#spark-{key}", Sparkline).data = values
        table = self.query_one(DataTable)
        events = sorted(rec.events, key=lambda e: e.t)
        for ev in events[self._shown:]:
            table.add_row(f"{ev.t:6.2f}", _kind(ev), ev.object, ev.detail)
        if len(events) > self._shown:
            table.move_cursor(row=len(events) - 1)
        self._shown = len(events)
        if self.report is not None:
            v = self.report.verdict
            text = Text(f"{v.status.upper()}: ", style="bold")
            text.append(f"{rec.failed} of {rec.sent} requests failed, {rec.dropped} of {rec.opened} WebSockets "
                        f"dropped in {run.clock():.0f} s." if v.status != "ok" else v.summary)
            for f in self.report.findings[:3]:
                text.append(f"\n• {f.check} ", style="bold")
                text.append(f"{f.object}: {f.evidence.get('failures', '')} failure(s)" if "failures" in f.evidence
                            else f.object)
            if len(self.report.findings) > 3:
                text.append(f"\n… {len(self.report.findings) - 3} more (save the report for all)")
            self._status(text, "fail" if v.status == "fail" else "ok")
        else:
            self._status(f"Watching {self.request.url} ({run.service}) — {run.clock():.0f} s: "
                         f"{rec.sent} requests, {rec.failed} failed; {rec.held} WebSockets held, "
                         f"{rec.dropped} dropped; {rec.ready_endpoints} ready endpoints.  Esc stops.")

    def action_stop_or_back(self) -> None:
        if self.run is not None and self.report is None and self.error is None:
            self.run.stop.set()
            self.notify("Stopping: the report follows.")
        else:
            self.dismiss(None)

    def action_rollout(self) -> None:
        start = getattr(self.kapp.session, "start_rollout", None)
        if start is None:
            self.notify("Rollouts can only be started in the demo's rollout scenarios; "
                        "on a cluster run `kubectl rollout restart`.", severity="warning")
            return
        start()
        self.notify("Rollout started in the lab.")


def _kind(ev: WatchEvent) -> Text:
    return Text(ev.kind, style="bold red" if ev.kind in FAILURE_KINDS else "cyan")


def watch_request(request: WalkRequest) -> WalkRequest:
    """The walk's request as the watch uses it (no idle probe)."""
    return replace(request, idle=None)
