"""SVG snapshots of the main TUI states at fixed sizes, from deterministic FakeSession data."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerFailed

from kdiag.session import WalkRequest
from kdiag.tui.app import KdiagApp, make_app
from kdiag.tui.report_session import ReportSession, report_request

from .fakes import FakeSession, broken_report

WSS = WalkRequest(url="wss://chatapp.com/wss")
SHOP = WalkRequest(url="https://shop.example.com/")


def quiet(app: KdiagApp) -> KdiagApp:
    """No spinner animation, so a frame is the same on every run."""
    app.animation_level = "none"
    return app


async def settle(pilot: Pilot[Any]) -> None:
    app = pilot.app
    for _ in range(2):
        with contextlib.suppress(WorkerFailed):
            await app.workers.wait_for_complete()
        await pilot.pause()
    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


def then(*keys: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def run_before(pilot: Pilot[Any]) -> None:
        await settle(pilot)
        if keys:
            await pilot.press(*keys)
            await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
def test_route_list(snap_compare: Any, size: tuple[int, int]) -> None:
    """Context/namespace bar, route table with status glyphs and notes."""
    assert snap_compare(quiet(make_app(FakeSession())), terminal_size=size, run_before=then())


def test_route_list_filtered(snap_compare: Any) -> None:
    assert snap_compare(quiet(make_app(FakeSession())), terminal_size=(100, 30),
                        run_before=then(*"chatapp"))


def test_walk_in_progress(snap_compare: Any) -> None:
    """Client done, Ingress probing (held by the fake), the rest waiting."""
    session = FakeSession(hold_after=6)

    async def run_before(pilot: Pilot[Any]) -> None:
        await session.reached.wait()
        await pilot.pause()

    assert snap_compare(quiet(make_app(session, open_walk=WSS)), terminal_size=(100, 30),
                        run_before=run_before)


@pytest.mark.parametrize("size", [(120, 36), (80, 24)], ids=["120x36", "80x24"])
def test_failed_verdict_with_hop_open(snap_compare: Any, size: tuple[int, int]) -> None:
    """The verdict names the Service; its hop is open with the finding, fix and evidence."""
    assert snap_compare(quiet(make_app(FakeSession(), open_walk=WSS)), terminal_size=size,
                        run_before=then())


def test_failed_verdict_pod_hop(snap_compare: Any) -> None:
    """The pod hop: 101 through port-forward, and the refused targetPort."""
    assert snap_compare(quiet(make_app(FakeSession(), open_walk=WSS)), terminal_size=(120, 36),
                        run_before=then("down", "down"))


def test_healthy_verdict(snap_compare: Any) -> None:
    assert snap_compare(quiet(make_app(FakeSession(), open_walk=SHOP)), terminal_size=(100, 30),
                        run_before=then())


@pytest.mark.parametrize("size", [(100, 30), (80, 24)], ids=["100x30", "80x24"])
def test_url_form(snap_compare: Any, size: tuple[int, int]) -> None:
    """Type any URL, with headers (canary) and the client's own URL."""
    assert snap_compare(quiet(make_app(FakeSession(), start_url="https://chatapp.com/api")),
                        terminal_size=size, run_before=then())


def test_symptom_start(snap_compare: Any) -> None:
    assert snap_compare(quiet(make_app(FakeSession())), terminal_size=(100, 30),
                        run_before=then("f3"))


def test_symptom_chosen_asks_for_route(snap_compare: Any) -> None:
    assert snap_compare(quiet(make_app(FakeSession(), start_symptom="ws-drops")),
                        terminal_size=(100, 30), run_before=then())


def test_walk_error_panel(snap_compare: Any) -> None:
    session = FakeSession(fail_walk="the API server closed the connection")
    assert snap_compare(quiet(make_app(session, open_walk=WSS)), terminal_size=(100, 30),
                        run_before=then())


def test_save_modal(snap_compare: Any) -> None:
    assert snap_compare(quiet(make_app(FakeSession(), open_walk=WSS)), terminal_size=(100, 30),
                        run_before=then("s"))


def test_saved_report_80x24(snap_compare: Any) -> None:
    """`kdiag report show`: no r/e/i in the footer; verdict, route ports and the fix's start."""
    report = broken_report()
    app = make_app(ReportSession(report), open_walk=report_request(report))
    assert snap_compare(quiet(app), terminal_size=(80, 24), run_before=then())


def test_command_line(snap_compare: Any) -> None:
    """`:` opens the command line; an unknown namespace is said in words."""
    assert snap_compare(quiet(make_app(FakeSession())), terminal_size=(80, 24),
                        run_before=then("colon", *"ns nope", "enter"))


def test_idle_dialog_80x24(snap_compare: Any) -> None:
    assert snap_compare(quiet(make_app(FakeSession(), open_walk=WSS)), terminal_size=(80, 24),
                        run_before=then("i"))


def test_headers_dialog_80x24(snap_compare: Any) -> None:
    assert snap_compare(quiet(make_app(FakeSession(), open_walk=WSS)), terminal_size=(80, 24),
                        run_before=then("e"))
