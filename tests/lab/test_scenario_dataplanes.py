"""Every demo scenario behaves the same through real nginx and through the Python emulation.

The demo cannot assume nginx, so it uses the emulation; this test proves the emulation answers
each scenario's request with the same status code, and closes idle WebSockets the same way, as
nginx configured the way ingress-nginx renders the same objects.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kdiag.endpoint import Endpoint
from kdiag.lab.scenario_lab import HAPROXY_FLAVORS, Lab
from kdiag.lab.scenarios import SCENARIOS, Scenario
from tests.conftest import require_nginx


async def _observe(sc: Scenario, lab: Lab) -> dict[str, Any]:
    from kdiag.probes.http import probe_http
    from kdiag.probes.idle import probe_idle
    from kdiag.probes.websocket import probe_websocket
    from kdiag.route import parse_target

    target = parse_target(sc.url, sc.headers)
    port = lab.ingress_tls_port if target.tls else lab.ingress_port
    ep = Endpoint(host="127.0.0.1", port=port, via="nodeport", label="lab ingress", tls=target.tls,
                  sni=target.host)
    if target.websocket:
        r = await probe_websocket(sc.url, ep, headers=dict(sc.headers), timeout=3)
        seen: dict[str, Any] = {"status": r.status_code}
        if sc.idle and r.ok:
            idle = await probe_idle(sc.url, ep, idle=sc.idle, headers=dict(sc.headers), timeout=3)
            seen["idle_open"] = idle.ok
            seen["close_code"] = idle.extra.get("close_code")
            after = idle.extra.get("closed_after_s")
            seen["closed_after_s"] = None if after is None else round(float(after))
        return seen
    r = await probe_http(sc.url, ep, headers=dict(sc.headers), timeout=3)
    return {"status": r.status_code}


def _run(sc: Scenario, dataplane: str, nginx: str = "nginx") -> dict[str, Any]:
    with Lab(sc, dataplane=dataplane, nginx=nginx) as lab:
        return asyncio.run(_observe(sc, lab))


@pytest.mark.nginx
# Scenarios on HAProxy run real HAProxy whatever `dataplane` says (there is no emulation of it to compare).
@pytest.mark.parametrize("name", [n for n, s in SCENARIOS.items() if s.data_plane not in HAPROXY_FLAVORS])
def test_emulation_matches_nginx(name: str) -> None:
    nginx = require_nginx()
    sc = SCENARIOS[name]
    emulated = _run(sc, "emulated")
    real = _run(sc, "nginx", nginx)
    assert emulated == real, f"{name}: emulation {emulated} != nginx {real}"
    assert emulated["status"] is not None
