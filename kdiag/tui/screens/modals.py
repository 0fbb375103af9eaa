"""Modal dialogs: save a report, edit request headers, choose the idle probe duration, help."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Markdown, RadioButton, RadioSet, Static, TextArea

from kdiag.headers import format_header_lines, parse_header_lines
from kdiag.model import Report
from kdiag.tui.saving import FORMAT_SUFFIXES, default_report_path

__all__ = ["HELP_TEXT", "HeadersModal", "HelpScreen", "IdleModal", "SaveReportModal", "help_text"]

_FORMAT_LABELS = {"json": "JSON", "markdown": "Markdown", "html": "HTML", "text": "Plain text"}


class SaveReportModal(ModalScreen[tuple[str, str] | None]):
    """Choose a format and a path; dismisses with (format, path) or None."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, report: Report) -> None:
        super().__init__(id="save-modal")
        self.report = report
        self.fmt = "json"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Save the report", classes="dialog-title")
            with RadioSet(id="save-format"):
                for key, label in _FORMAT_LABELS.items():
                    yield RadioButton(label, value=key == "json", name=key)
            yield Label("File:")
            yield Input(value=default_report_path(self.report, "json"), id="save-path")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", id="save-ok", variant="primary")
                yield Button("Cancel", id="save-cancel")

    def on_mount(self) -> None:
        self.query_one("#save-path", Input).focus()

    @on(RadioSet.Changed, "#save-format")
    def _format_changed(self, event: RadioSet.Changed) -> None:
        self.fmt = event.pressed.name or "json"
        path_input = self.query_one("#save-path", Input)
        path = Path(path_input.value or default_report_path(self.report, self.fmt))
        if path.suffix in FORMAT_SUFFIXES.values():
            path_input.value = str(path.with_suffix(FORMAT_SUFFIXES[self.fmt]))

    @on(Button.Pressed, "#save-ok")
    @on(Input.Submitted, "#save-path")
    def _save(self) -> None:
        path = self.query_one("#save-path", Input).value.strip()
        if not path:
            self.notify("Enter a file name.", severity="error")
            return
        self.dismiss((self.fmt, path))

    @on(Button.Pressed, "#save-cancel")
    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class HeadersModal(ModalScreen[dict[str, str] | None]):
    """Edit the request headers as `Name: value` lines; dismisses with the new headers."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel"),
                Binding("ctrl+s", "apply", "Apply and rerun")]

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(id="headers-modal")
        self.headers = headers

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Request headers", classes="dialog-title")
            yield Static("One 'Name: value' per line. Canary rules match headers such as "
                         "'canary: always'. Apply reruns the walk with them.", classes="dialog-text")
            yield TextArea(format_header_lines(self.headers), id="headers-edit",
                           show_line_numbers=False)
            yield Static("", id="headers-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply and rerun", id="headers-ok", variant="primary")
                yield Button("Cancel", id="headers-cancel")

    def on_mount(self) -> None:
        self.query_one("#headers-edit", TextArea).focus()

    @on(Button.Pressed, "#headers-ok")
    def action_apply(self) -> None:
        headers, errors = parse_header_lines(self.query_one("#headers-edit", TextArea).text)
        if errors:
            self.query_one("#headers-error", Static).update(Text("\n".join(errors)))
            return
        self.dismiss(headers)

    @on(Button.Pressed, "#headers-cancel")
    def action_dismiss_none(self) -> None:
        self.dismiss(None)


class IdleModal(ModalScreen[float | None]):
    """How long to hold an idle WebSocket open at each hop (catches idle disconnects)."""

    BINDINGS = [Binding("escape", "dismiss_none", "Cancel")]

    def __init__(self, seconds: float) -> None:
        super().__init__(id="idle-modal")
        self.seconds = seconds

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static("Idle probe", classes="dialog-title")
            yield Static("Seconds to hold an idle WebSocket open at each hop. ingress-nginx "
                         "closes idle connections after 60 s by default, so 65 s catches it.",
                         classes="dialog-text")
            yield Input(value=f"{self.seconds:g}", id="idle-seconds", type="number")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Run", id="idle-ok", variant="primary")
                yield Button("Cancel", id="idle-cancel")

    def on_mount(self) -> None:
        self.query_one("#idle-seconds", Input).focus()

    @on(Button.Pressed, "#idle-ok")
    @on(Input.Submitted, "#idle-seconds")
    def _run(self) -> None:
        raw = self.query_one("#idle-seconds", Input).value.strip()
        try:
            seconds = float(raw)
        except ValueError:
            seconds = -1.0
        if not 0 < seconds <= 3600:
            self.notify("Enter a number of seconds between 1 and 3600.", severity="error")
            return
        self.dismiss(seconds)

    @on(Button.Pressed, "#idle-cancel")
    def action_dismiss_none(self) -> None:
        self.dismiss(None)


HELP_TEXT = """\
# kdiag

kdiag follows a request hop by hop — **client → Ingress → Service → Endpoints → Pods** — probes
each hop for real, and names the first hop where things break, why, and what to change.

## Start
- **Routes**: every Ingress rule of the namespace. Type to filter (host, path, Service, Ingress,
  ok/warn/fail), `Down` or `Enter` to go to the list, `Enter` (or click) to walk a route.
- **Type a URL**: any `http(s)://` or `ws(s)://` URL, with headers (canary routing) and the URL
  your client code really uses.
- **Start from a symptom**: say what the user sees; kdiag picks the probes, then asks for the route.

## Walk
Select a hop on the left to see its objects, the probe evidence (how the hop was reached,
status, timing, headers) and each finding with its fix and its explanation.

| key | action |
|---|---|
| `r` | run the walk again |
| `Esc` | cancel a running walk / go back |
| `s` | save the report (JSON, Markdown, HTML, text) |
| `c` | copy the selected finding's fix |
| `z` | zoom the hop details to the full width (long fix lines fit) |
| `e` | edit request headers and rerun |
| `i` | run the idle WebSocket probe for N seconds |
| `j` `k`, `↓` `↑` | move in a list |
| `/`, `F2`, `F3`, `F4` | filter routes, type a URL, pick a symptom, routes (start screen) |
| `:` | command line: `ns NAME`, `ctx NAME` (Tab completes) |
| `ctrl+p` | command palette |
| `F1` or `?` | this help |
| `q` | back, or quit on the first screen |
| `ctrl+c` or `ctrl+q` | quit |
"""

#: Help rows for keys that run probes: not shown for a saved report, where they cannot work.
_LIVE_ROWS = ("| `r` |", "| `e` |", "| `i` |")


def help_text(*, read_only: bool = False) -> str:
    """The help page; a saved report's leaves out the keys that would probe again."""
    if not read_only:
        return HELP_TEXT
    lines = [line for line in HELP_TEXT.splitlines() if not line.startswith(_LIVE_ROWS)]
    lines.insert(lines.index("## Walk") + 1, "This is a **saved report**: it is shown as it was "
                 "recorded; nothing is probed again.\n")
    return "\n".join(lines) + "\n"


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss_none", "Close")]

    def __init__(self, *, read_only: bool = False) -> None:
        super().__init__(id="help-screen")
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help-dialog"):
            yield Markdown(help_text(read_only=self.read_only))

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
