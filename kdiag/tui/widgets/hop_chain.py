"""The hop chain: client → (load balancer →) Ingress or Gateway → Service → Endpoints → Pods, one
selectable row per hop."""

from __future__ import annotations

from textual.widgets import OptionList
from textual.widgets.option_list import Option

from kdiag.tui.formatting import hop_prompt
from kdiag.tui.state import WalkState
from kdiag.tui.widgets.keys import ListKeys

__all__ = ["TALL", "WIDE", "HopChain"]

#: Terminal width from which the layout is "wide" (must match KdiagApp.HORIZONTAL_BREAKPOINTS).
WIDE = 110
#: Terminal height from which each hop gets a second line with its summary (VERTICAL_BREAKPOINTS).
TALL = 30


class HopChain(OptionList):
    """An OptionList whose options are the hops; highlighting one opens its details."""

    BINDINGS = ListKeys

    def __init__(self, hops: list[str], *, id: str | None = None) -> None:
        super().__init__(*[Option("", id=h) for h in hops], id=id)
        self.hops = list(hops)
        self.border_title = "Hops"

    def set_hops(self, hops: list[str]) -> None:
        """Show these hops (a Gateway route has a gateway hop, a walk through a load balancer an
        edge hop); keeps the highlighted hop where it still exists."""
        if hops == self.hops:
            return
        selected = self.selected_hop
        self.clear_options()
        self.add_options([Option("", id=h) for h in hops])
        self.hops = list(hops)
        if selected is not None:
            self.select_hop(selected if selected in hops else "client")

    def refresh_hops(self, state: WalkState, frame: int = 0) -> None:
        # From the app width, not the live region: the first frames are laid out before the
        # region is final, and a prompt must not depend on when it was drawn.
        width = (44 if self.app.size.width >= WIDE else 32) - 7
        two_lines = self.app.size.height >= TALL
        # Every hop in sight: one or two lines each, plus the border (a walk through a load
        # balancer has six hops).
        self.styles.height = len(self.hops) * (2 if two_lines else 1) + 2
        for index, hop in enumerate(self.hops):
            self.replace_option_prompt_at_index(
                index, hop_prompt(state.hop(hop), frame, width=width, summary=two_lines))

    @property
    def selected_hop(self) -> str | None:
        if self.highlighted is None or not 0 <= self.highlighted < len(self.hops):
            return None
        return self.hops[self.highlighted]

    def select_hop(self, hop: str) -> None:
        if hop in self.hops:
            self.highlighted = self.hops.index(hop)
