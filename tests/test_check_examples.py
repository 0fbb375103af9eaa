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


def _judged(example: Mapping[str, Any]) -> list[Any]:
    """Run the judge on a route whose hops below `hop` answer and whose `hop` fails as given."""
    from kdiag.model import ProbeResult
    from kdiag.outcomes import ErrorKind
    from kdiag.verdict import HopProbes, RouteFacts, judge

    bad_hop = example["hop"]
    order = ("pod", "service", "ingress")
    facts = RouteFacts(ingress="default/web", service="default/web", port=80, rule="example.com/",
                       pods_total=1, pods_ready=1, endpoints_ready=1, endpoints_total=1,
                       objects={"ingress": ("Ingress default/web",), "service": ("Service default/web",),
                                "pod": ("Pod default/web-1",)})
    probes = {}
    for hop in order[:order.index(bad_hop) + 1]:
        ok = hop != bad_hop
        probes[hop] = HopProbes(primary=(ProbeResult(
            kind="http", via="test", target="example.com:80", ok=ok, status_code=200 if ok else None,
            error=None if ok else example["error"], error_kind=None if ok else ErrorKind(example["error_kind"]),
            extra={"pod": "default/web-1"} if hop == "pod" else {}),))
    _, findings, verdict = judge(facts, probes, [])
    return [verdict, *findings]


def _probe(d: Mapping[str, Any]) -> Any:
    from kdiag.model import ProbeResult

    return ProbeResult.from_dict({"via": "test", "target": "example.com:80", **d})


def _judged_recorded(example: Mapping[str, Any]) -> list[Any]:
    """Run the judge on recorded probe results per hop (`probes: {hop: {primary: [...], idle: [...]}}`)."""
    from kdiag.layers import LayerTimeout
    from kdiag.verdict import HopProbes, RouteFacts, judge

    facts_kw = dict(example.get("facts") or {})
    if "etp_local_nodes" in facts_kw:
        facts_kw["etp_local_nodes"] = tuple(facts_kw["etp_local_nodes"])
    facts = RouteFacts(ingress="default/web", service="default/web", port=80, rule="example.com/",
                       pods_total=facts_kw.pop("pods_total", 1), pods_ready=1, endpoints_ready=1, endpoints_total=1,
                       objects={"ingress": ("Ingress default/web",), "gateway": ("HTTPRoute default/web",),
                                "service": ("Service default/web",), "pod": ("Pod default/web-1",),
                                "edge": ("Service ingress-nginx/ingress-nginx-controller",)},
                       layer_timeouts=tuple(LayerTimeout(**t) for t in example.get("layers") or ()), **facts_kw)
    probes = {hop: HopProbes(**{k: tuple(_probe(p) for p in v) for k, v in parts.items()})
              for hop, parts in example["probes"].items()}
    _, findings, verdict = judge(facts, probes, [])
    return [verdict, *findings]


@pytest.mark.parametrize(("check_id", "example"), _cases("judge"))
def test_probe_check_fires_on_its_judged_example(check_id: str, example: Mapping[str, Any]) -> None:
    if "probes" in example:
        verdict, *findings = _judged_recorded(example)
        expect = example["expect"]
        assert (verdict.status, verdict.hop, verdict.check) == (expect.get("status", "fail"), expect["hop"], check_id), (
            verdict, [(f.check, f.severity, f.message) for f in findings])
        root = findings[verdict.finding] if verdict.finding is not None else None
        assert root is not None and root.check == check_id
        if "fix_contains" in expect:
            assert expect["fix_contains"] in root.fix, root.fix
        return
    verdict, *findings = _judged(example)
    assert [f.check for f in findings if f.severity == "error"] == [check_id]
    assert (verdict.status, verdict.hop, verdict.check) == ("fail", example["hop"], check_id)


def test_every_static_check_has_fire_and_quiet_examples() -> None:
    for check in catalog().values():
        ex = check.examples or {}
        if check.probe:
            assert ex.get("scenarios") or ex.get("fires") or ex.get("judge") or ex.get("timelines"), (
                f"{check.id}: probe check without a scenario, judge example or recorded timeline")
            continue
        assert ex.get("fires"), f"{check.id}: no example it fires on"
        assert ex.get("quiet"), f"{check.id}: no example it stays quiet on"


@pytest.mark.parametrize(("check_id", "example"), _cases("judge_quiet"))
def test_probe_check_stays_quiet_on_its_judged_example(check_id: str, example: Mapping[str, Any]) -> None:
    verdict, *findings = _judged_recorded(example)
    assert check_id not in [f.check for f in findings]
    assert verdict.check != check_id


def test_every_probe_check_with_recorded_examples_cites_their_source() -> None:
    for check in catalog().values():
        for ex in (check.examples or {}).get("judge") or ():
            if "probes" in ex:
                assert ex.get("source"), f"{check.id}/{ex.get('name')}: a recorded answer without its source"
