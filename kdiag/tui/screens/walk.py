"""The walk screen: the hop chain fills in live; the selected hop shows evidence and fixes."""

from __future__ import annotations

import contextlib
from dataclasses import replace
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header, OptionList, Static
from textual.worker import Worker, WorkerState

from kdiag.model import HOPS
from kdiag.session import WalkRequest
from kdiag.tui.formatting import redact_headers, route_text
from kdiag.tui.saving import save_report
from kdiag.tui.screens.modals import HeadersModal, IdleModal, SaveReportModal
from kdiag.tui.state import WalkState
from kdiag.tui.widgets.hop_chain import HopChain
from kdiag.tui.widgets.hop_detail import FindingCard, HopDetail
from kdiag.tui.widgets.verdict import VerdictBanner

if TYPE_CHECKING:
    from kdiag.tui.app import KdiagApp

__all__ = ["WalkScreen"]


class WalkScreen(Screen[None]):
    """Runs one walk in an exclusive worker; Esc cancels it (or goes back when it is done)."""

    BINDINGS = [
        Binding("escape", "cancel_or_back", "Back"),
        Binding("r", "rerun", "Rerun"),
        Binding("s", "save", "Save"),
        Binding("c", "copy_fix", "Copy fix"),
        Binding("e", "edit_headers", "Headers"),
        Binding("i", "idle", "Idle"),
        Binding("w", "watch", "Watch traffic", show=False),
        Binding("z", "zoom", "Zoom"),
        # On a saved report the three keys above are hidden; pressing one says why.
        Binding("r,e,i", "saved_report_key", show=False),
    ]

    def __init__(self, request: WalkRequest) -> None:
        super().__init__(id="walk-screen")
        self.request = request
        self.state = WalkState(request=request)
        self.walk_worker: Worker[None] | None = None
        self.frame = 0
        self._auto_hop: str | None = "client"

    @property
    def kapp(self) -> KdiagApp:
        return cast("KdiagApp", self.app)

    @property
    def read_only(self) -> bool:
        return self.kapp.session.info().read_only

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="target-bar")
        yield VerdictBanner("", id="verdict")
        with Horizontal(id="walk-body"):
            with Vertical(id="walk-left"):
                yield HopChain(list(HOPS), id="hop-chain")
                yield Static("", id="route-box")
            yield HopDetail(id="hop-detail")
        yield Footer()

    async def on_mount(self) -> None:
        self.query_one("#route-box", Static).border_title = "Route"
        chain = self.query_one(HopChain)
        chain.highlighted = 0
        chain.focus()
        if self.app.animation_level != "none":
            self.set_interval(0.12, self._tick)
        self.start_walk()

    # -- the walk ---------------------------------------------------------------------------

    def start_walk(self) -> None:
        self.state = WalkState(request=self.request)
        self._auto_hop = "client"
        self.query_one(HopChain).select_hop("client")
        self.call_later(self._refresh_all)
        self.walk_worker = self.run_worker(self._walk(self.request), name="walk", group="walk",
                                           exclusive=True, exit_on_error=False)

    async def _walk(self, request: WalkRequest) -> None:
        state = self.state
        events = self.kapp.session.walk(request)
        try:
            async for event in events:
                if state is not self.state:
                    return
                hop = state.apply(event)
                if hop is not None and state.hop(hop).state == "running":
                    self._follow(hop)
                await self._refresh_all(select_verdict=state.report is not None)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
        if state.report is None and state is self.state:
            state.fail("the walk ended without a verdict")
            await self._refresh_all()

    def _follow(self, hop: str) -> None:
        """While the user has not moved the selection, it follows the hop being probed."""
        chain = self.query_one(HopChain)
        if chain.selected_hop == self._auto_hop and hop != self._auto_hop:
            self._auto_hop = hop
            chain.select_hop(hop)

    async def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker is not self.walk_worker:
            return
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            message = str(error) or type(error).__name__
            self.state.fail(message)
            self.notify(message, title="The walk failed", severity="error")
            await self._refresh_all()
        elif event.state == WorkerState.CANCELLED and self.state.running:
            self.state.cancel()
            await self._refresh_all()

    async def _refresh_all(self, *, select_verdict: bool = False) -> None:
        chain = self.query_one(HopChain)
        chain.set_hops(self.state.hop_names())
        if select_verdict and self.state.report is not None:
            target = self._verdict_hop()
            if target:
                self._auto_hop = target
                chain.select_hop(target)
        self._show_target()
        self.query_one("#route-box", Static).update(route_text(self.state.route))
        chain.refresh_hops(self.state, self.frame)
        self.query_one(VerdictBanner).show(self.state, self.frame)
        await self.query_one(HopDetail).show(self.state, chain.selected_hop)

    async def on_resize(self) -> None:
        """The banner, the hop rows and the cards are fitted to the screen's size: refit them."""
        if self.is_mounted:
            await self._refresh_all()

    def _verdict_hop(self) -> str | None:
        report = self.state.report
        if report is None:
            return None
        if report.verdict.hop in self.state.hops:
            return report.verdict.hop
        bad = [h for h, v in self.state.hops.items() if v.state in ("fail", "warn")]
        return bad[0] if bad else None

    def _show_target(self) -> None:
        req = self.state.request
        text = Text()
        text.append("Target ", style="bold")
        text.append(req.url or "(none)")
        shown = redact_headers(req.headers)
        if shown:
            text.append("  headers: ", style="dim")
            text.append(", ".join(f"{k}: {v}" for k, v in shown.items()))
        if req.client_url:
            text.append(f"  client URL: {req.client_url}", style="dim")
        if req.page_url:
            text.append(f"  page: {req.page_url}", style="dim")
        if req.idle:
            text.append(f"  idle probe: {req.idle:.0f} s", style="dim")
        if self.read_only:
            text.append("  (saved report)", style="dim")
        self.query_one("#target-bar", Static).update(text)

    def _tick(self) -> None:
        if not self.state.running:
            return
        self.frame += 1
        self.query_one(HopChain).refresh_hops(self.state, self.frame)
        self.query_one(VerdictBanner).show(self.state, self.frame)

    @on(OptionList.OptionHighlighted, "#hop-chain")
    async def _hop_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        hop = event.option.id
        if hop != self._auto_hop:
            self._auto_hop = None  # the user took over the selection
        await self.query_one(HopDetail).show(self.state, hop)

    @on(OptionList.OptionSelected, "#hop-chain")
    def _hop_selected(self) -> None:
        detail = self.query_one(HopDetail)
        cards = detail.cards()
        (cards[0] if cards else detail).focus()

    # -- actions ----------------------------------------------------------------------------

    #: Actions that probe again: a saved report cannot run them, so they are not offered.
    LIVE_ACTIONS = frozenset({"rerun", "edit_headers", "idle"})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A saved report hides `r`, `e` and `i` from the footer (and the keys do nothing)."""
        if action in self.LIVE_ACTIONS:
            return not self.read_only
        if action == "saved_report_key":
            return self.read_only
        return True

    def action_saved_report_key(self) -> None:
        self._can_run()

    def _can_run(self) -> bool:
        if self.read_only:
            self.notify("This is a saved report: there is nothing to run again.",
                        severity="warning")
            return False
        return True

    def action_zoom(self) -> None:
        """The hop details at the full width of the terminal (long fix lines fit), and back."""
        if self.maximized is not None:
            self.minimize()
        else:
            self.maximize(self.query_one(HopDetail), container=False)

    def action_cancel_or_back(self) -> None:
        if self.maximized is not None:
            self.minimize()
            return
        if self.walk_worker is not None and self.walk_worker.is_running and self.state.running:
            self.walk_worker.cancel()
            self.notify("Walk cancelled.")
        elif len(self.app.screen_stack) > 1:
            self.dismiss(None)

    def action_rerun(self) -> None:
        if self._can_run():
            self.start_walk()

    def action_copy_fix(self) -> None:
        detail = self.query_one(HopDetail)
        focused = self.focused
        card = next((n for n in (focused.ancestors_with_self if focused else ())
                     if isinstance(n, FindingCard)), None)
        cards = [card] if card is not None else detail.cards()
        fixes = [c.finding.fix for c in cards if c.finding.fix]
        if not fixes:
            self.notify("No fix to copy for this hop.", severity="warning")
            return
        self.app.copy_to_clipboard(fixes[0])
        self.notify(fixes[0], title="Fix copied to the clipboard")

    def action_save(self) -> None:
        report = self.state.report
        if report is None:
            self.notify("Nothing to save yet: the walk has not finished.", severity="warning")
            return

        def saved(result: tuple[str, str] | None) -> None:
            if result is None:
                return
            fmt, path = result
            try:
                written = save_report(report, path, fmt)
            except (OSError, ValueError) as e:
                self.notify(str(e), title="Could not save the report", severity="error")
                return
            self.notify(str(written), title=f"Report saved ({fmt})")

        self.app.push_screen(SaveReportModal(report), saved)

    def action_edit_headers(self) -> None:
        if not self._can_run():
            return

        def edited(headers: dict[str, str] | None) -> None:
            if headers is not None:
                self.request = replace(self.request, headers=headers)
                self.start_walk()

        self.app.push_screen(HeadersModal(dict(self.request.headers)), edited)

    def action_idle(self) -> None:
        if not self._can_run():
            return

        def chosen(seconds: float | None) -> None:
            if seconds is not None:
                self.request = replace(self.request, idle=seconds)
                self.start_walk()

        self.app.push_screen(IdleModal(self.request.idle or 65.0), chosen)

    def action_watch(self) -> None:
        from kdiag.tui.screens.watch import WatchScreen, watch_request

        self.app.push_screen(WatchScreen(watch_request(self.request)))

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [command for command in self._palette_commands()
                if not (self.read_only and command[2] in self.LIVE_ACTIONS)]

    def _palette_commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Rerun the walk", "Probe every hop again", "rerun"),
            ("Save the report", "JSON, Markdown, HTML or text", "save"),
            ("Copy the fix", "Copy the selected finding's fix to the clipboard", "copy_fix"),
            ("Edit headers", "Change request headers (canary routing …) and rerun", "edit_headers"),
            ("Run the idle probe", "Hold an idle WebSocket open for N seconds at each hop", "idle"),
            ("Zoom the details", "The selected hop's details at full width (z again: back)", "zoom"),
            ("Cancel / back", "Cancel the running walk, or go back to the routes",
             "cancel_or_back"),
        ]
