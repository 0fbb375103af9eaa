"""The walk screen names the entry hop of the route it walks: `gateway` for a Gateway API route."""

from __future__ import annotations

import contextlib

from textual.worker import WorkerFailed

from kdiag.lab.demo import demo_request, lab_session
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS
from kdiag.model import GATEWAY_HOPS, HOPS, RouteInfo
from kdiag.session import WalkRequest
from kdiag.tui.app import make_app
from kdiag.tui.state import WalkState
from kdiag.tui.widgets.hop_chain import HopChain


def test_hop_names_follow_the_route_kind() -> None:
    state = WalkState(request=WalkRequest(url="http://a.test/"))
    assert state.hop_names() == list(HOPS)
    state.route = RouteInfo(kind="HTTPRoute", httproute="default/web", gateway="infra/gw")
    assert state.hop_names() == list(GATEWAY_HOPS)
    state.hop("edge").state = "fail"  # the walk reached a load balancer in front
    assert state.hop_names() == ["client", "edge", *GATEWAY_HOPS[1:]]


async def test_a_gateway_walk_shows_and_selects_the_gateway_hop() -> None:
    sc = SCENARIOS["gw-refgrant-missing"]
    with Lab(sc) as lab:
        app = make_app(lab_session(lab), open_walk=demo_request(sc))
        async with app.run_test(size=(120, 36)) as pilot:
            for _ in range(3):
                with contextlib.suppress(WorkerFailed):
                    await app.workers.wait_for_complete()
                await pilot.pause()
            chain = app.screen.query_one(HopChain)
            assert chain.hops == list(GATEWAY_HOPS)
            assert chain.selected_hop == "gateway" == sc.expect_hop
