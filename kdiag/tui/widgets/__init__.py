"""Widgets of the kdiag TUI: the hop chain, the hop details and the verdict banner."""

from __future__ import annotations

__all__: list[str] = []
