"""The kdiag Textual app, its `make_app` factory, and the entry points `kdiag.cli` calls.

Importing this module loads Textual but never the kubernetes client or the network stacks:
`kdiag.cli` builds the cluster session (connects) before it imports this module, and hands
it to `run_session_tui`.
"""

from __future__ import annotations

import asyncio
import contextlib

from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from kdiag.model import Report
from kdiag.session import Session, WalkRequest
from kdiag.tui.commands import KdiagCommands
from kdiag.tui.report_session import ReportSession, report_request
from kdiag.tui.screens.command_line import Command, CommandLine
from kdiag.tui.screens.modals import HelpScreen
from kdiag.tui.screens.start import StartScreen
from kdiag.tui.screens.walk import WalkScreen
from kdiag.tui.widgets.hop_chain import TALL, WIDE

__all__ = ["KdiagApp", "make_app", "run_report_tui", "run_session_tui"]


class KdiagApp(App[int]):
    """Thin shell: holds the session, opens screens, owns help and quit."""

    CSS_PATH = "kdiag.tcss"
    TITLE = "kdiag"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (WIDE, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (TALL, "-tall")]
    COMMANDS = App.COMMANDS | {KdiagCommands}
    BINDINGS = [
        Binding("f1", "help", "Help"),
        Binding("question_mark", "help", "Help", show=False),
        Binding("q", "quit", "Quit", show=False),
        Binding("colon", "command_line", "Command", show=False),
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(self, session: Session, *, start_url: str | None = None,
                 start_symptom: str | None = None, open_walk: WalkRequest | None = None) -> None:
        super().__init__()
        self.session = session
        self.start_url = start_url
        self.start_symptom = start_symptom
        self.initial_walk = open_walk
        self._update_titles()

    def _update_titles(self) -> None:
        info = self.session.info()
        if info.source_kind == "report":
            self.sub_title = info.title or "saved report"
        else:
            where = f"{info.context or '-'} / {info.namespace or '-'}"
            self.sub_title = f"{info.title} · {where}" if info.title else where

    def get_default_screen(self) -> Screen[None]:
        return StartScreen(start_url=self.start_url, start_symptom=self.start_symptom)

    def on_mount(self) -> None:
        if self.initial_walk is not None:
            self.open_walk(self.initial_walk)

    def open_walk(self, request: WalkRequest) -> None:
        """Open the walk screen on `request` (it starts walking at once)."""
        self.push_screen(WalkScreen(request))

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Notifications carry cluster text, URLs and what the user typed: never markup."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def set_session(self, session: Session) -> None:
        self.session = session
        self._update_titles()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(read_only=self.session.info().read_only))

    def action_command_line(self) -> None:
        """`:` — a k9s-style command line (`ns NAME`, `ctx NAME`, `help`, `q`)."""
        if isinstance(self.screen, CommandLine):
            return
        info = self.session.info()
        self.push_screen(CommandLine(contexts=info.contexts, namespaces=info.namespaces,
                                     read_only=info.read_only), self._run_command)

    async def _run_command(self, command: Command | None) -> None:
        if command is None:
            return
        if command.verb == "help":
            self.action_help()
        elif command.verb == "quit":
            await self.action_quit()
        else:
            while len(self.screen_stack) > 1 and not isinstance(self.screen, StartScreen):
                self.pop_screen()  # back to the route list, which shows the new namespace
            start = self.screen
            if isinstance(start, StartScreen):
                start.switch_source(**{command.verb: command.arg})

    async def action_quit(self) -> None:
        """Cancel running probes, close the session (bounded), and exit."""
        self.workers.cancel_all()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.session.close(), timeout=3.0)
        self.exit(0)


def make_app(session: Session, *, start_url: str | None = None, start_symptom: str | None = None,
             open_walk: WalkRequest | None = None) -> KdiagApp:
    """The app on `session`; used by the CLI, the tests and the screenshot script."""
    return KdiagApp(session, start_url=start_url, start_symptom=start_symptom, open_walk=open_walk)


def run_session_tui(session: Session) -> int:
    """The TUI on a session already built (the command line connects before importing Textual)."""
    return int(make_app(session).run() or 0)


def run_report_tui(report: Report) -> int:
    """`kdiag report show FILE`: the walk screen over a saved report, read-only."""
    app = make_app(ReportSession(report), open_walk=report_request(report))
    app.run()
    return report.exit_code
