"""kdiag diagnose on each issue-10 story names the story's hop and check (JSON verdict).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from kdiag.lab.dataplane_scenarios import stories
from tests.test_scenarios import _diagnose


@pytest.mark.parametrize("name", [s.name for s in stories()])
def test_story_verdict_names_the_hop_and_check(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    sc = next(s for s in stories() if s.name == name)
    code, report = _diagnose(sc, capsys)
    verdict = report["verdict"]
    assert code == 1, verdict
    assert (verdict["hop"], verdict["check"]) == (sc.expect_hop, sc.expect_check), (
        verdict, [(f["check"], f["severity"], f["message"]) for f in report["findings"]],
        [(h["hop"], h["status"], h["summary"]) for h in report["hops"]])
    assert verdict["summary"]


def test_a_sibling_rule_of_the_broken_one_is_not_blamed(capsys: pytest.CaptureFixture[str]) -> None:
    """In the Contour story only /wss lacks WebSockets: walking / of the same Ingress works, so its
    verdict names no failure and its report carries no error about the /wss rule."""
    sc = next(s for s in stories() if s.name == "contour-websocket-not-enabled")
    code, report = _diagnose(replace(sc, url="http://chatapp.com/"), capsys)
    assert report["verdict"]["status"] != "fail", report["verdict"]
    assert code == 0, report["verdict"]
    assert not [f for f in report["findings"] if f["check"] == "ingress-websocket-not-enabled"], report["findings"]
    hops = {h["hop"]: h["status"] for h in report["hops"]}
    assert hops["ingress"] in ("ok", "warn"), hops
