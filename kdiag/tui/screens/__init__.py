"""Screens of the kdiag TUI: start, walk, and the save / headers / idle / help modals."""

from __future__ import annotations

__all__: list[str] = []
