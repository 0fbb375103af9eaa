"""The verdict banner: which hop is broken and why (or what is running right now)."""

from __future__ import annotations

from textual.widgets import Static

from kdiag.tui.formatting import verdict_text
from kdiag.tui.state import WalkState

__all__ = ["VerdictBanner"]

_CLASSES = ("-running", "-ok", "-warn", "-fail", "-error", "-cancelled")


class VerdictBanner(Static):
    """Coloured by outcome through the CSS classes -running/-ok/-warn/-fail/-error/-cancelled."""

    def show(self, state: WalkState, frame: int = 0) -> None:
        text, kind = verdict_text(state, frame)
        self.remove_class(*_CLASSES)
        self.add_class(f"-{kind}")
        self.update(text)
