"""Every catalog check's examples are executed: the rule fires on `fires`, stays quiet on `quiet`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kdiag.catalog import catalog
from kdiag.rules import RuleContext, run_rules
from kdiag.session import WalkRequest
from kdiag.sources.manifests import load_manifest_text


def _cases(kind: str) -> list[Any]:
    out = []
    for check in catalog().values():
        for i, ex in enumerate((check.examples or {}).get(kind) or ()):
            out.append(pytest.param(check.id, ex, id=f"{check.id}-{ex.get('name', i)}"))
    return out


def _findings(example: Mapping[str, Any]) -> list[Any]:
    snap = load_manifest_text(example.get("manifests") or "", path="example.yaml",
                              namespace=example.get("namespace", "default"))
    target = {k: example[k] for k in ("url", "headers", "client_url", "page_url") if k in example}
    return list(snap.findings) + run_rules(RuleContext.for_request(snap, WalkRequest(**target) if target else None))


@pytest.mark.parametrize(("check_id", "example"), _cases("fires"))
def test_check_fires_on_its_example(check_id: str, example: Mapping[str, Any]) -> None:
    got = [f for f in _findings(example) if f.check == check_id]
    assert got, f"{check_id} did not fire on example {example.get('name')!r}"
    if "expect_object" in example:
        assert any(f.object == example["expect_object"] for f in got), [f.object for f in got]
    if "expect_severity" in example:
        assert {f.severity for f in got} == {example["expect_severity"]}


@pytest.mark.parametrize(("check_id", "example"), _cases("quiet"))
def test_check_stays_quiet_on_its_example(check_id: str, example: Mapping[str, Any]) -> None:
    got = [f for f in _findings(example) if f.check == check_id]
    assert not got, f"{check_id} fired on quiet example {example.get('name')!r}: {got[0].message}"


def test_every_static_check_has_fire_and_quiet_examples() -> None:
    for check in catalog().values():
        ex = check.examples or {}
        if check.probe:
            assert ex.get("scenarios") or ex.get("fires") or ex.get("timelines"), (
                f"{check.id}: probe check without a scenario or a recorded timeline")
            continue
        assert ex.get("fires"), f"{check.id}: no example it fires on"
        assert ex.get("quiet"), f"{check.id}: no example it stays quiet on"
