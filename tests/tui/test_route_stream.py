"""The streamed route list: rows first (cheap columns, pending), verdicts as they are computed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace

import pytest
from textual.widgets import DataTable, Input
from textual.widgets.data_table import ColumnKey

from kdiag.lab.demo import lab_session
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS
from kdiag.route_stream import route_rows
from kdiag.session import PENDING, RouteEvent, RouteJudged, RouteRow, RoutesFound
from kdiag.tui.app import make_app
from kdiag.tui.routes import RouteFilter
from kdiag.tui.screens import start as start_screen
from kdiag.tui.screens.start import StartScreen

from .fakes import ROUTES, FakeSession
from .test_flows import SIZE, routes_read, settle


@dataclass
class StreamingSession(FakeSession):
    """Streams ROUTES: all rows pending, then one verdict per `step()`."""

    steps: asyncio.Queue[int] = field(default_factory=asyncio.Queue)
    sent: list[str] = field(default_factory=list)

    async def routes(self) -> list[RouteRow]:
        raise AssertionError("a streaming session's list is never asked for whole")

    async def routes_stream(self) -> AsyncIterator[RouteEvent]:
        pending = tuple(replace(r, status=PENDING, pods_ready="…", note="") for r in self.routes_list)
        self.sent.append("found")
        yield RoutesFound(pending)
        for index, row in enumerate(self.routes_list):
            await self.steps.get()
            self.sent.append(f"judged {index}")
            yield RouteJudged(index, row)


def _cells(table: DataTable, row: int) -> list[str]:
    return [str(c) for c in table.get_row_at(row)]


class TestStreamedRouteList:
    async def test_rows_show_before_their_verdicts_and_typing_does_not_wait(self) -> None:
        session = StreamingSession()
        app = make_app(session)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            table = app.screen.query_one("#route-table", DataTable)
            assert session.sent == ["found"]
            assert table.row_count == len(ROUTES)
            assert [_cells(table, i)[0] for i in range(len(ROUTES))] == ["·"] * len(ROUTES)  # pending
            assert _cells(table, 0)[4] == "…"
            # one verdict arrives: only its row changes
            session.steps.put_nowait(1)
            for _ in range(5):
                await pilot.pause()
            assert session.sent == ["found", "judged 0"]
            assert _cells(table, 0)[0] == "✗" and _cells(table, 0)[4] == "1/1"
            assert "targetPort 5001" in _cells(table, 0)[5]
            assert _cells(table, 1)[0] == "·"
            # typing filters while the rest is still being judged
            await pilot.press(*"game")
            assert table.row_count == 1 and "game.example.com" in _cells(table, 0)[1]
            assert len(session.sent) == 2
            for _ in ROUTES[1:]:
                session.steps.put_nowait(1)
            await settle(app, pilot)
            assert len(session.sent) == 1 + len(ROUTES)
            assert _cells(table, 0)[0] != "·"  # the filtered row got its verdict too
            app.screen.query_one("#route-filter", Input).value = ""
            await pilot.pause()
            assert [_cells(table, i)[0] for i in range(table.row_count)].count("·") == 0

    async def test_verdicts_in_quick_succession_are_drawn_together_and_counted(
            self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The first verdict is drawn at once; one that follows within JUDGED_REDRAW waits for the
        next redraw (each redraw renders the table again), which comes even if no other verdict
        does. Meanwhile the message counts the verdicts; at the end it no longer does."""
        redraw = 1.0  # far longer than a few pilot pauses, even on a loaded machine
        monkeypatch.setattr(start_screen, "JUDGED_REDRAW", redraw)
        session = StreamingSession()
        app = make_app(session)
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            table = app.screen.query_one("#route-table", DataTable)
            message = app.screen.query_one("#routes-message")
            assert f"Checking them: 0 of {len(ROUTES)} …" in str(message.render())
            session.steps.put_nowait(1)
            for _ in range(5):
                await pilot.pause()
            assert _cells(table, 0)[0] == "✗"  # the first one: at once
            session.steps.put_nowait(1)
            for _ in range(3):
                await pilot.pause()
            assert session.sent[-1] == "judged 1"
            assert _cells(table, 1)[0] == "·"  # within JUDGED_REDRAW of the first: not yet
            await asyncio.sleep(redraw + 0.1)
            await pilot.pause()
            assert _cells(table, 1)[0] != "·"  # drawn by the timer, no third verdict needed
            assert f"Checking them: 2 of {len(ROUTES)} …" in str(message.render())
            for _ in ROUTES[2:]:
                session.steps.put_nowait(1)
            await settle(app, pilot)
            assert str(message.render()) == f"{len(ROUTES)} of {len(ROUTES)} routes — Enter or click to walk one."

    async def test_new_rows_are_drawn_at_their_widths_at_once(self) -> None:
        """apply_filter sizes the columns itself: Textual would measure the rows only when next
        idle (behind a busy read) and draw them cut to the headings' widths until then."""
        app = make_app(FakeSession())
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, StartScreen)
            long_host = "a-much-longer-host-name-than-any-before.example.com"
            screen.routes = [*screen.routes, replace(ROUTES[0], host=long_host)]
            screen._filter = RouteFilter(screen.routes)
            screen.apply_filter("")  # no await: nothing idle has run since
            table = screen.query_one("#route-table", DataTable)
            assert table.columns[ColumnKey("host")].content_width == len(long_host)

    async def test_sessions_without_a_stream_still_list_routes(self) -> None:
        app = make_app(FakeSession())
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            assert app.screen.query_one("#route-table", DataTable).row_count == len(ROUTES)


def test_cluster_stream_sends_cheap_rows_then_every_verdict() -> None:
    """On the lab: RoutesFound (pending) first, then one RouteJudged per row; the judged rows are
    exactly the non-streamed list's."""
    with Lab(SCENARIOS["target-port-mismatch"]) as lab:
        session = lab_session(lab)

        async def collect() -> list[RouteEvent]:
            return [ev async for ev in session.routes_stream()]

        try:
            events = asyncio.run(collect())
            snapshot = session._snapshot
        finally:
            asyncio.run(session.close())
    assert isinstance(events[0], RoutesFound)
    assert events[0].rows and all(r.status == PENDING for r in events[0].rows)
    judged = [e for e in events if isinstance(e, RouteJudged)]
    assert sorted(e.index for e in judged) == list(range(len(events[0].rows)))
    assert snapshot is not None
    expected = route_rows(snapshot)
    final = list(events[0].rows)
    for e in judged:
        final[e.index] = e.row
    assert final == expected
    assert any(r.status == "fail" for r in final)


async def test_a_namespace_without_routes_still_ends_the_list() -> None:
    """No Ingress in the namespace: one empty RoutesFound, so the screen says "No Ingress routes"
    rather than "Reading routes …" for ever."""
    with Lab(SCENARIOS["healthy"]) as lab:
        session = await lab_session(lab).switch(namespace="ingress-nginx")
        try:
            events = [event async for event in session.routes_stream()]
            assert events == [RoutesFound(())]
            app = make_app(session)
            async with app.run_test(size=SIZE) as pilot:
                await routes_read(app, pilot)
                message = str(app.screen.query_one("#routes-message").render())
                assert message.startswith("No Ingress routes in namespace ingress-nginx"), message
        finally:
            await session.close()


def test_a_prefetched_ingress_list_is_the_first_streams_and_only_its() -> None:
    """`prefetch_routes()` (called before Textual is imported) reads the namespace's Ingresses in a
    thread; the first route list uses that answer instead of asking again, a reload (F5) asks anew."""
    with Lab(SCENARIOS["target-port-mismatch"]) as lab:
        session = lab_session(lab)
        ingress_lists = f"/apis/networking.k8s.io/v1/namespaces/{session.kube.namespace}/ingresses"

        def asked() -> int:
            return sum(1 for r in lab.api.requests if r.method == "GET" and r.path == ingress_lists)

        async def rows() -> tuple[RouteRow, ...]:
            return next(e.rows for e in [ev async for ev in session.routes_stream()] if isinstance(e, RoutesFound))

        try:
            lab.api.clear_requests()
            session.prefetch_routes()
            assert session._prefetched is not None
            session._prefetched.result(timeout=10)
            assert asked() == 1  # read before any stream
            first = asyncio.run(rows())
            assert asked() == 2  # the stream's own read is the namespace's full read only
            second = asyncio.run(rows())
            assert asked() == 4  # a reload: the cheap list again, and the full read
        finally:
            asyncio.run(session.close())
    assert first == second and first
