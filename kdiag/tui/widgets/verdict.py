"""The verdict banner: which hop is broken and why (or what is running right now)."""

from __future__ import annotations

from textual.widgets import Static

from kdiag.tui.formatting import verdict_text
from kdiag.tui.state import WalkState

__all__ = ["VerdictBanner"]

_CLASSES = ("-running", "-ok", "-warn", "-fail", "-error", "-cancelled")


class VerdictBanner(Static):
    """Coloured by outcome through the CSS classes -running/-ok/-warn/-fail/-error/-cancelled."""

    #: What the banner says now (the finding cards leave out a message it already holds).
    said: str = ""

    def show(self, state: WalkState, frame: int = 0) -> None:
        lines, width = self.room()
        text, kind = verdict_text(state, frame, width=width, lines=lines)
        self.remove_class(*_CLASSES)
        self.add_class(f"-{kind}")
        self.said = text.plain
        self.update(text)

    def room(self) -> tuple[int, int]:
        """(lines, columns) the banner can show without scrolling: its max-height, and the
        screen's width less the border and padding (from the app size, known before layout)."""
        max_height = self.styles.max_height
        lines = int(max_height.value) if max_height is not None and max_height.is_cells else 7
        return lines, max(10, self.app.size.width - 3)
