"""Widgets with the keys k9s users expect: j/k in lists, and a filter box that lets `q`, `?`
and `:` through while it is empty."""

from __future__ import annotations

from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Input, OptionList

__all__ = ["FilterInput", "ListKeys", "VimDataTable", "VimOptionList"]

#: Keys an empty filter box runs as the app's keys, not text: quit, help, command line.
PASS_WHEN_EMPTY = {"q": "app.quit", "?": "app.help", ":": "app.command_line"}


class FilterInput(Input):
    """A filter box: while it is empty, `q`, `?` and `:` are keys, not text."""

    def _passes(self, character: str | None) -> bool:
        return not self.value and character in PASS_WHEN_EMPTY

    def check_consume_key(self, key: str, character: str | None) -> bool:
        return not self._passes(character) and super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        if self._passes(event.character):
            # Input's own handler (called after this one) must not type it; the app's key runs.
            event.prevent_default()
            event.stop()
            await self.run_action(PASS_WHEN_EMPTY[event.character or ""])


#: j/k move like Down/Up (hidden from the footer: the arrows are the advertised keys).
ListKeys: list[BindingType] = [
    Binding("j", "cursor_down", "Down", show=False),
    Binding("k", "cursor_up", "Up", show=False),
]


class VimOptionList(OptionList):
    """An OptionList that also moves with j/k."""

    BINDINGS = ListKeys


class VimDataTable(DataTable[object]):
    """A DataTable that also moves with j/k; Up on the first row calls the screen's
    `leave_table_upwards()` when it has one (back to the filter box)."""

    BINDINGS = ListKeys

    def action_cursor_up(self) -> None:
        if self.cursor_row <= 0 and self.screen is not None:
            leave = getattr(self.screen, "leave_table_upwards", None)
            if callable(leave):
                leave()
                return
        super().action_cursor_up()
