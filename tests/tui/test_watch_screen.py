"""The TUI's live watch view on the lab: reachable from the walk (`w`), `r` starts the demo's
rollout, and the timeline, graphs and verdict show what it did to traffic."""

from __future__ import annotations

import contextlib

from textual.widgets import DataTable, Sparkline, Static
from textual.worker import WorkerFailed

from kdiag.lab.demo import demo_request, lab_session
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import get_scenario
from kdiag.tui.app import make_app
from kdiag.tui.screens.walk import WalkScreen
from kdiag.tui.screens.watch import WatchScreen

SIZE = (120, 36)


async def test_watch_view_shows_a_rollout_started_from_the_demo() -> None:
    sc = get_scenario("rollout-no-prestop")
    with Lab(sc) as lab:
        session = lab_session(lab)
        try:
            app = make_app(session, open_walk=demo_request(sc))
            app.animation_level = "none"
            async with app.run_test(size=SIZE, notifications=True) as pilot:
                with contextlib.suppress(WorkerFailed):
                    await app.workers.wait_for_complete()
                await pilot.pause()
                assert isinstance(app.screen, WalkScreen)
                await pilot.press("w")  # the walk screen opens the watch view
                await pilot.pause()
                assert isinstance(app.screen, WatchScreen)
                await pilot.press("escape")  # stop it: the report follows
                await app.workers.wait_for_complete()
                await pilot.pause()
                assert app.screen.report is not None
                await pilot.press("escape")  # back to the walk
                await pilot.pause()
                assert isinstance(app.screen, WalkScreen)

                screen = WatchScreen(demo_request(sc), duration=5.0, rate=20.0)
                await app.push_screen(screen)
                await pilot.pause(1.0)  # watching
                await pilot.press("r")  # the demo restarts the Deployment
                await app.workers.wait_for_complete()
                await pilot.pause()
                report = screen.report
                assert report is not None and report.verdict.status == "fail"
                assert report.verdict.check == "pod-terminating-while-serving"
                rows = [str(screen.query_one(DataTable).get_row_at(i)[1])
                        for i in range(screen.query_one(DataTable).row_count)]
                assert "pod-terminating" in rows and "connection-dropped" in rows
                assert max(screen.query_one("#spark-requests", Sparkline).data or [0]) >= 10
                status = str(screen.query_one("#watch-status", Static).content)
                assert status.startswith("FAIL") and "pod-terminating-while-serving" in status
        finally:
            await session.close()
