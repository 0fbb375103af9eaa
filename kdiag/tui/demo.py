"""`kdiag demo`'s front end: the TUI on the session the lab hands over (`kdiag.lab.demo`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kdiag.diagnose import ClusterSession
    from kdiag.session import WalkRequest

__all__ = ["open_demo"]


def open_demo(session: ClusterSession, walk: WalkRequest) -> None:
    """Run the TUI on `session`, opening on a walk of the scenario's URL; returns when it quits."""
    from kdiag.tui.app import make_app

    make_app(session, open_walk=walk).run()
