"""The TUI's root cause for every route of every demo scenario is the verdict's own finding, and
each scenario's verdict, fix and hops are read at 80×24 without scrolling.

Each scenario's lab is started on loopback; every route of its route list (and the scenario's own
request) is walked through the cluster session the demo uses. For each walk, the finding the TUI
marks as root cause is the one the verdict points at, it is about this route's Service port, and
`c` on the walk screen copies that finding's fix.
"""

from __future__ import annotations

import contextlib

import pytest
from textual.worker import WorkerFailed

from kdiag.events import WalkFinished
from kdiag.findings import on_route
from kdiag.lab.demo import demo_request, lab_session
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS
from kdiag.model import HOPS, Report
from kdiag.session import WalkRequest
from kdiag.tui.app import make_app
from kdiag.tui.report_session import ReportSession, report_request
from kdiag.tui.state import WalkState
from kdiag.tui.widgets.hop_chain import HopChain
from kdiag.tui.widgets.verdict import VerdictBanner
from tests.conftest import require_dataplane


def _route_rule(report: Report) -> str | None:
    rule = report.route.rule if report.route is not None else None
    return f"{rule.get('host') or '*'}{rule.get('path')}" if rule else None


async def _copied_fix(report: Report) -> str | None:
    """What `c` copies on the walk screen opened on this report."""
    app = make_app(ReportSession(report), open_walk=report_request(report))
    async with app.run_test(size=(100, 30)) as pilot:
        for _ in range(2):
            with contextlib.suppress(WorkerFailed):
                await app.workers.wait_for_complete()
            await pilot.pause()
        await pilot.press("c")
        await pilot.pause()
        return app.clipboard


async def _check_80x24(report: Report) -> None:
    """Issue 12: at 80×24 the verdict, its fix and every hop's state are read without scrolling."""
    app = make_app(ReportSession(report), open_walk=report_request(report))
    async with app.run_test(size=(80, 24)) as pilot:
        for _ in range(2):
            with contextlib.suppress(WorkerFailed):
                await app.workers.wait_for_complete()
            await pilot.pause()
        banner = app.screen.query_one(VerdictBanner)
        shown = str(banner.render())
        assert banner.virtual_size.height <= banner.size.height, shown
        root = report.findings[report.verdict.finding] if report.verdict.finding is not None else None
        if root is not None and root.fix.strip():
            assert shown.splitlines()[-1].startswith("Fix: "), shown
        chain = app.screen.query_one(HopChain)
        assert chain.virtual_size.height <= chain.content_region.height == len(chain.hops)
        for index in range(len(chain.hops)):
            prompt = str(chain.get_option_at_index(index).prompt)
            assert "\n" not in prompt and len(prompt) <= chain.content_region.width, prompt


def _check_root(request: WalkRequest, state: WalkState) -> None:
    report = state.report
    assert report is not None, (request.url, state.error)
    verdict = report.verdict
    root = state.root_finding()
    if not verdict.check:
        assert root is None
        return
    assert verdict.finding is not None, (request.url, verdict)
    assert root is report.findings[verdict.finding], (request.url, verdict, root)
    assert (root.check, root.hop) == (verdict.check, verdict.hop)
    route = report.route
    port = route.port if route is not None else None
    rule = _route_rule(report)
    if verdict.status == "warn":  # the request works: a warning about this route first, if there is one
        mine = [f for f in report.findings if f.severity == "warning" and on_route(f.about, port=port, rule=rule)]
        assert not mine or root in mine, (request.url, root, mine)
        return
    assert on_route(root.about, port=port, rule=rule), (request.url, port, root.about)
    if root.about.port is not None and port is not None and isinstance(port, int):
        assert root.about.port.port == port, (request.url, root.about, port)


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_root_cause_of_every_route_is_the_verdicts_own_finding(name: str) -> None:
    sc = SCENARIOS[name]
    require_dataplane(sc)
    with Lab(sc) as lab:
        session = lab_session(lab)
        try:
            rows = await session.routes()
            requests = [WalkRequest(url=r.url, headers=dict(r.headers)) for r in rows]
            if sc.url not in {r.url for r in requests}:
                requests.append(demo_request(sc))
            assert requests
            for request in requests:
                state = WalkState(request=request)
                async for ev in session.walk(request):
                    state.apply(ev)
                    if isinstance(ev, WalkFinished):
                        break
                _check_root(request, state)
                root = state.root_finding()
                assert state.report is not None
                if root is not None and root.hop in HOPS and root.fix:
                    assert await _copied_fix(state.report) == root.fix, (request.url, root.check)
                if request.url == sc.url:
                    await _check_80x24(state.report)
        finally:
            await session.close()


async def test_the_demo_marks_the_routes_own_port_as_root_cause() -> None:
    """The demo's `/` route: its own Service port's finding is the root cause, not the `api` port's."""
    sc = SCENARIOS["target-port-mismatch"]
    request = WalkRequest(url="http://chatapp.com/")
    with Lab(sc) as lab:
        session = lab_session(lab)
        try:
            state = WalkState(request=request)
            async for ev in session.walk(request):
                state.apply(ev)
        finally:
            await session.close()
    report = state.report
    assert report is not None and report.route is not None
    root = state.root_finding()
    assert root is not None and root.check == "service-target-port-mismatch"
    same_check = [f for f in report.findings if f.check == root.check]
    assert len({f.about.port.port for f in same_check if f.about.port}) > 1  # one per Service port
    assert root.about.port is not None and root.about.port.port == report.route.port == 3001
    assert state.findings_for("service")[0] is root
