"""The start screen: pick context/namespace, then a route, a typed URL, or a symptom."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.coordinate import Coordinate
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import (
    Button,
    DataTable,
    Footer,
    Header,
    Input,
    Label,
    OptionList,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)
from textual.widgets.data_table import ColumnKey
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from kdiag.headers import parse_header_lines
from kdiag.session import (
    PENDING,
    SYMPTOMS,
    RouteRow,
    RoutesFound,
    Symptom,
    WalkRequest,
    stream_routes,
)
from kdiag.tui.formatting import route_status_glyph
from kdiag.tui.routes import RouteFilter, find_symptom, url_for_symptom
from kdiag.tui.widgets.keys import FilterInput, VimDataTable, VimOptionList
from kdiag.urls import url_problem

if TYPE_CHECKING:
    from kdiag.tui.app import KdiagApp

__all__ = ["JUDGED_REDRAW", "StartScreen", "validate_url"]

#: Seconds between two fillings-in of streamed verdicts (each makes the table render again).
JUDGED_REDRAW = 0.25


def validate_url(url: str) -> str | None:
    """None when `url` can be walked, else a message saying what is wrong (kdiag.urls)."""
    return url_problem(url)


def _select(choices: tuple[str, ...], current: str | None, *, id: str) -> Select[str]:
    """A Select over `choices`; a current value the list does not offer is added, not refused."""
    options = list(choices)
    if current and current not in options:
        options.insert(0, current)
    return Select([(c, c) for c in options], value=current or Select.NULL,
                  allow_blank=not current, id=id)


class StartScreen(Screen[None]):
    """Routes table (filter as you type), a URL form with headers, and symptom-first start."""

    BINDINGS = [
        Binding("slash", "focus_filter", "Filter"),
        Binding("f2", "tab('url-tab')", "Type URL"),
        Binding("f3", "tab('symptom-tab')", "Symptom"),
        Binding("f4", "tab('routes-tab')", "Routes"),
        Binding("f5", "reload", "Reload routes"),
    ]

    def __init__(self, *, start_url: str | None = None, start_symptom: str | None = None) -> None:
        super().__init__(id="start-screen")
        self.start_url = start_url
        self.symptom: Symptom | None = find_symptom(start_symptom)
        self.routes: list[RouteRow] = []
        self.routes_loaded = False  # until then the message says "Reading routes …"
        self.routes_error: str | None = None  # why the last read failed
        self.namespace_note: str | None = None  # the namespace does not exist (kdiag.namespaces)
        self._filter = RouteFilter([])
        self._shown: list[int] = []
        self._judging = False  # verdicts are being streamed in: the message counts them
        self._judged: list[int] = []  # streamed verdicts not on screen yet
        self._judged_shown_at = float("-inf")
        self._judged_timer: Timer | None = None

    @property
    def kapp(self) -> KdiagApp:
        return cast("KdiagApp", self.app)

    # -- layout -----------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="source-bar"):
            yield from self._source_widgets()
        initial = "url-tab" if self.start_url else "routes-tab"
        with TabbedContent(initial=initial, id="start-tabs"):
            with TabPane("Routes", id="routes-tab"):
                yield Static("", id="symptom-hint-routes", classes="symptom-hint")
                yield FilterInput(placeholder="filter: host, path, service, ingress, fail …  "
                                  "(↓ to the list, Enter walks)", id="route-filter")
                yield Static("", id="routes-message")
                yield VimDataTable(id="route-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Type a URL", id="url-tab"):
                with VerticalScroll(id="url-form"):
                    yield Static("", id="symptom-hint-url", classes="symptom-hint")
                    yield Input(value=self.start_url or "", id="url-input",
                                placeholder="https://chatapp.com/api  or  wss://chatapp.com/wss")
                    yield Label("Headers, one 'Name: value' per line (canary: always …); optional URLs:")
                    yield TextArea("", id="headers-input", show_line_numbers=False)
                    with Horizontal(id="client-urls"):
                        yield Input(id="client-url-input",
                                    placeholder="client code's URL, e.g. /wss")
                        yield Input(id="page-url-input",
                                    placeholder="page URL (mixed content)")
                    yield Button("Walk this URL", id="walk-url", variant="primary")
            with TabPane("Start from a symptom", id="symptom-tab"):
                yield Static("What does the user see? kdiag chooses the probes, then asks for "
                             "the route.", classes="help-line")
                yield VimOptionList(*[self._symptom_option(s) for s in SYMPTOMS], id="symptom-list")
        yield Footer()

    @staticmethod
    def _symptom_option(symptom: Symptom) -> Option:
        text = Text()
        text.append(symptom.label, style="bold")
        text.append(f"\n  {symptom.hint}", style="dim")
        return Option(text, id=symptom.key)

    def _source_widgets(self) -> ComposeResult:
        info = self.kapp.session.info()
        if info.contexts:
            yield Label("Context", classes="source-label")
            yield _select(info.contexts, info.context, id="context-select")
        else:
            yield Label(Text(f"Source: {info.title or info.source_kind}"), classes="source-label")
        if info.namespaces:
            yield Label("Namespace", classes="source-label")
            yield _select(info.namespaces, info.namespace, id="namespace-select")
        elif info.namespace:
            yield Label(Text(f"Namespace: {info.namespace}"), classes="source-label")

    def on_mount(self) -> None:
        table = self.query_one("#route-table", DataTable)
        table.add_column(" ", key="status", width=1)
        table.add_column("Host", key="host")
        table.add_column("Path", key="path")
        table.add_column("→ Service:port", key="service")
        table.add_column("Ready", key="ready")
        table.add_column("Note", key="note")
        self._show_symptom()
        self.load_routes()
        if self.start_url:
            self.query_one("#url-input", Input).focus()
        else:
            self.query_one("#route-filter", Input).focus()

    # -- routes -----------------------------------------------------------------------------

    @work(exclusive=True, group="routes", exit_on_error=False)
    async def load_routes(self) -> None:
        table = self.query_one("#route-table", DataTable)
        table.loading = True
        self.routes_loaded = False
        self.routes_error = None
        self.query_one("#routes-message", Static).update("Reading routes …")
        note, self.namespace_note = self.namespace_note, await self.kapp.session.namespace_note()
        if self.namespace_note and self.namespace_note != note:  # said once (not again on F5); the list says it too
            self.notify(self.namespace_note, title="No such namespace", severity="warning", timeout=10)
        self._judging = True
        try:  # rows appear as they are resolved; verdicts fill in as they are computed
            async for event in stream_routes(self.kapp.session):
                table.loading = False
                if isinstance(event, RoutesFound):
                    self.routes = list(event.rows)
                    self.routes_loaded = True
                    self._filter = RouteFilter(self.routes)
                    self.apply_filter(self.query_one("#route-filter", Input).value)
                    self._judged.clear()
                elif 0 <= event.index < len(self.routes):
                    self._route_judged(event.index, event.row)
        finally:
            table.loading = False
            self._judging = False
            if self._judged_timer is not None:  # stopped early (reload, switch, quit): no redraw due
                self._judged_timer.stop()
                self._judged_timer = None
        self._show_judged()  # the last verdicts, and the message without its count
        self._filter = RouteFilter(self.routes)  # the verdicts and notes are searchable now

    def _route_judged(self, index: int, row: RouteRow) -> None:
        """A streamed verdict: on screen now, or with the others at most `JUDGED_REDRAW` s later."""
        self.routes[index] = row
        self._judged.append(index)
        wait = self._judged_shown_at + JUDGED_REDRAW - time.monotonic()
        if wait <= 0:
            self._show_judged()
        elif self._judged_timer is None:
            self._judged_timer = self.set_timer(wait, self._show_judged)

    def _show_judged(self) -> None:
        """Fill in streamed rows' verdicts, pods and notes where they are shown (no redraw of all).

        A few times a second, not per row: every cell update makes the table render its visible
        rows again on the next frame.
        """
        if self._judged_timer is not None:
            self._judged_timer.stop()
            self._judged_timer = None
        self._judged_shown_at = time.monotonic()
        table = self.query_one("#route-table", DataTable)
        note_column = table.columns.get(ColumnKey("note"))
        positions = {index: pos for pos, index in enumerate(self._shown)}
        for index in self._judged:
            pos = positions.get(index)
            if pos is None or pos >= table.row_count:
                continue
            row = self.routes[index]
            note = self._note_cell(row.note)
            # Only a wider note widens the column: asking Textual to update the width of a narrower
            # cell re-measures the whole column, once per row (quadratic on a long list).
            wider = note_column is not None and note.cell_len > note_column.content_width
            for column, value in ((0, route_status_glyph(row.status)), (4, Text(row.pods_ready)), (5, note)):
                table.update_cell_at(Coordinate(pos, column), value, update_width=column == 5 and wider)
        self._judged.clear()
        self._update_routes_message(self.query_one("#route-filter", Input).value)

    def apply_filter(self, query: str) -> None:
        table = self.query_one("#route-table", DataTable)
        self._shown = self._filter(query)
        table.clear()
        rows = [  # Text, not str: a path like /api/[0-9]+ is not markup
            (route_status_glyph(r.status), Text(r.host or "*"), Text(r.path or "/"), Text(r.service),
             Text(r.pods_ready), self._note_cell(r.note))
            for r in (self.routes[i] for i in self._shown)
        ]
        # The columns get their widths now: Textual measures new rows only when it is next idle,
        # and until then draws them cut to the headings' widths.
        for column, cells in zip(table.ordered_columns, zip(*rows, strict=False), strict=False):
            column.content_width = max(column.content_width, *(cell.cell_len for cell in cells))
        table.add_rows(rows)
        self._update_routes_message(query)

    def _note_cell(self, note: str) -> Text:
        """A row's note, cut to what the other columns leave of the terminal's width."""
        room = max(24, self.app.size.width - 75)
        return Text(note if len(note) <= room else note[: room - 1] + "…")

    def _update_routes_message(self, query: str) -> None:
        message = self.query_one("#routes-message", Static)
        info = self.kapp.session.info()
        if not self.routes_loaded:
            message.update(self._routes_error_text() if self.routes_error else "Reading routes …")
        elif not self.routes and self.namespace_note:
            message.update(Text(f"✗ {self.namespace_note[0].upper()}{self.namespace_note[1:]}. Press : and "
                                "type `ns NAME` to switch, or F2 to type a URL."))
        elif not self.routes:
            message.update(Text(f"No Ingress routes in namespace {info.namespace or '(all)'}. "
                                "Press F2 to type a URL instead."))
        elif not self._shown:
            message.update(Text(f"No route matches {query!r} (of {len(self.routes)})."))
        else:
            pending = sum(r.status == PENDING for r in self.routes) if self._judging else 0
            checking = f" Checking them: {len(self.routes) - pending} of {len(self.routes)} …" if pending else ""
            message.update(f"{len(self._shown)} of {len(self.routes)} routes — Enter or click "
                           f"to walk one.{checking}")

    @on(Input.Changed, "#route-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.apply_filter(event.value)

    @on(Input.Submitted, "#route-filter")
    def _filter_submitted(self) -> None:
        table = self.query_one("#route-table", DataTable)
        if self._shown:
            self.walk_route(self._shown[min(table.cursor_row, len(self._shown) - 1)])

    @on(DataTable.RowSelected, "#route-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        if 0 <= event.cursor_row < len(self._shown):
            self.walk_route(self._shown[event.cursor_row])

    def on_key(self, event: events.Key) -> None:
        """Down in the filter box goes to the list (one row down); Up moves the list's cursor."""
        if event.key in ("up", "down") and self.focused is self.query_one("#route-filter", Input):
            table = self.query_one("#route-table", DataTable)
            if event.key == "down":
                if table.row_count:
                    table.action_cursor_down()
                    table.focus()
            else:
                table.action_cursor_up()
            event.stop()

    def leave_table_upwards(self) -> None:
        """Up on the first row of the list: back to the filter box."""
        self.query_one("#route-filter", Input).focus()

    def walk_route(self, index: int) -> None:
        route = self.routes[index]
        url = url_for_symptom(route.url, self.symptom)
        self.start_walk(WalkRequest(url=url, headers=dict(route.headers),
                                    idle=self.symptom.idle if self.symptom else None,
                                    symptom=self.symptom.key if self.symptom else None))

    # -- URL form ---------------------------------------------------------------------------

    @on(Input.Submitted, "#url-input")
    @on(Input.Submitted, "#client-url-input")
    @on(Input.Submitted, "#page-url-input")
    @on(Button.Pressed, "#walk-url")
    def walk_url(self) -> None:
        url = self.query_one("#url-input", Input).value.strip()
        problem = validate_url(url)
        if problem:
            self.notify(problem, title="Cannot walk this URL", severity="error")
            return
        headers, errors = parse_header_lines(self.query_one("#headers-input", TextArea).text)
        if errors:
            self.notify("\n".join(errors), title="Bad header lines", severity="error")
            return
        client_url = self.query_one("#client-url-input", Input).value.strip() or None
        page_url = self.query_one("#page-url-input", Input).value.strip() or None
        if page_url and validate_url(page_url):
            self.notify(f"page URL: {validate_url(page_url)}", title="Cannot walk this URL",
                        severity="error")
            return
        self.start_walk(WalkRequest(
            url=url_for_symptom(url, self.symptom), headers=headers, client_url=client_url,
            page_url=page_url,
            idle=self.symptom.idle if self.symptom else None,
            symptom=self.symptom.key if self.symptom else None,
        ))

    def start_walk(self, request: WalkRequest) -> None:
        self.kapp.open_walk(request)

    # -- symptoms ---------------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#symptom-list")
    def _symptom_selected(self, event: OptionList.OptionSelected) -> None:
        self.choose_symptom(event.option.id)

    def choose_symptom(self, key: str | None) -> None:
        self.symptom = find_symptom(key)
        self._show_symptom()
        self.action_tab("routes-tab")

    def _show_symptom(self) -> None:
        for hint in self.query(".symptom-hint").results(Static):
            if self.symptom is None:
                hint.display = False
                continue
            text = Text()
            text.append(f"Symptom: {self.symptom.label}. ", style="bold")
            text.append(f"kdiag will check: {self.symptom.hint}")
            if self.symptom.idle:
                text.append(f" ({self.symptom.idle:.0f} s)")
            text.append(". Now pick the route, or type the URL.")
            hint.update(text)
            hint.display = True
        if self.symptom is not None:
            self.query_one("#symptom-list", OptionList).highlighted = [
                s.key for s in SYMPTOMS].index(self.symptom.key)

    # -- source switching -------------------------------------------------------------------

    @on(Select.Changed, "#context-select")
    def _context_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL and event.value != self.kapp.session.info().context:
            self.switch_source(context=str(event.value))

    @on(Select.Changed, "#namespace-select")
    def _namespace_changed(self, event: Select.Changed) -> None:
        if event.value is not Select.NULL and event.value != self.kapp.session.info().namespace:
            self.switch_source(namespace=str(event.value))

    @work(exclusive=True, group="switch", exit_on_error=False)
    async def switch_source(self, *, context: str | None = None, namespace: str | None = None) -> None:
        session = await self.kapp.session.switch(context=context, namespace=namespace)
        self.kapp.set_session(session)
        info = session.info()
        if info.context and self.query("#context-select"):
            context_select = self.query_one("#context-select", Select)
            with self.prevent(Select.Changed):
                if info.context not in info.contexts:
                    context_select.set_options([(c, c) for c in (info.context, *info.contexts)])
                context_select.value = info.context
        if info.namespaces and self.query("#namespace-select"):
            select = self.query_one("#namespace-select", Select)
            with self.prevent(Select.Changed):
                names = list(info.namespaces)
                if info.namespace and info.namespace not in names:
                    names.insert(0, info.namespace)
                select.set_options([(n, n) for n in names])
                if info.namespace:
                    select.value = info.namespace
        self.notify(f"Now on {info.context or '-'} / {info.namespace or '-'}")
        self.load_routes()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        error = event.worker.error
        message = str(error) or type(error).__name__
        if event.worker.group == "routes":
            self.routes_error = message
            self.query_one("#routes-message", Static).update(self._routes_error_text())
            self.notify(message, title="Could not read routes", severity="error")
        elif event.worker.group == "switch":
            self.notify(message, title="Could not switch", severity="error")

    def _routes_error_text(self) -> Text:
        return Text(f"✗ Could not read routes: {self.routes_error}. Press F5 to retry, or F2 to "
                    "type a URL.", style="red")

    # -- actions ----------------------------------------------------------------------------

    def action_focus_filter(self) -> None:
        self.action_tab("routes-tab")
        self.query_one("#route-filter", Input).focus()

    def action_tab(self, tab: str) -> None:
        self.query_one("#start-tabs", TabbedContent).active = tab
        focus = {"routes-tab": "#route-filter", "url-tab": "#url-input",
                 "symptom-tab": "#symptom-list"}[tab]
        self.query_one(focus).focus()

    def action_reload(self) -> None:
        self.load_routes()

    def palette_commands(self) -> list[tuple[str, str, str]]:
        return [
            ("Filter routes", "Type to filter the route list", "focus_filter"),
            ("Type a URL", "Walk any URL, with headers", "tab('url-tab')"),
            ("Start from a symptom", "Pick what the user sees; kdiag picks the probes",
             "tab('symptom-tab')"),
            ("Reload routes", "Read the routes again", "reload"),
        ]
