"""The Textual front end of kdiag: start screen, live hop walk, evidence and fixes.

Import `kdiag.tui.app` for `make_app`, `run_session_tui` and `run_report_tui`.
"""

from __future__ import annotations

__all__: list[str] = []
