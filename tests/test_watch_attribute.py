"""`kdiag watch`'s judgement, as pure functions over recorded timelines (no network)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from kdiag.catalog import catalog
from kdiag.model import Report, SourceInfo, Verdict
from kdiag.report.render import render
from kdiag.watch.attribute import attribute, termination_windows
from kdiag.watch.observe import pod_changes, replicaset_changes, slice_changes
from kdiag.watch.timeline import Recorder, WatchEvent


def _timeline_cases() -> list[Any]:
    out = []
    for check in catalog().values():
        for ex in (check.examples or {}).get("timelines") or ():
            out.append(pytest.param(check.id, ex, id=f"{check.id}-{ex['name']}"))
    return out


@pytest.mark.parametrize(("check_id", "example"), _timeline_cases())
def test_catalog_timeline_examples(check_id: str, example: Mapping[str, Any]) -> None:
    """Every recorded timeline in the catalog fires (or stays quiet) as it says."""
    events = [WatchEvent.from_dict(e) for e in example["events"]]
    end = max(e.t for e in events) + 1.0
    got = [f for f in attribute(events, {}, end=end, service=example["service"]) if f.check == check_id]
    if example["fires"]:
        assert got, f"{check_id} did not fire on {example['name']}"
        if "expect_object" in example:
            assert {f.object for f in got} == {example["expect_object"]}
        for f in got:  # every finding carries its supporting events
            assert f.evidence["events"], f
    else:
        assert not got, got[0].message


def test_three_checks_have_timeline_examples() -> None:
    ids = {c.id for c in catalog().values() if (c.examples or {}).get("timelines")}
    assert {"pod-terminating-while-serving", "endpoints-flapping", "ingress-reload-dropped-connections"} <= ids


def _pod(name: str, container: Mapping[str, Any], *, grace: int = 30) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"terminationGracePeriodSeconds": grace, "containers": [dict(container)]}}


def _rollout(fail_pod: str | None, fail_t: float = 2.1, kind: str = "connection-dropped",
             later: float = 6.0) -> list[WatchEvent]:
    return [
        WatchEvent(2.0, "pod-terminating", "Pod default/web-a", "deletion began", pod="default/web-a"),
        WatchEvent(2.0, "endpoint-not-ready", "Service default/web", "10.0.0.1 not ready", pod="default/web-a",
                   address="10.0.0.1", ready=1),
        WatchEvent(fail_t, kind, "WebSocket #1", "dropped", pod=fail_pod, status=1006 if kind != "request-failed" else 502),
        WatchEvent(3.0, "endpoint-removed", "Service default/web", "10.0.0.1 removed", pod="default/web-a",
                   address="10.0.0.1", ready=1),
        WatchEvent(later, "pod-terminating", "Pod default/web-b", "deletion began", pod="default/web-b"),
    ]


def test_shell_entrypoint_is_named_with_its_fix() -> None:
    pods = {"default/web-a": _pod("web-a", {"name": "web", "command": ["sh", "-c", "node server.js"]})}
    [f] = attribute(_rollout("default/web-a"), pods, end=8.0, service="default/web")
    assert (f.check, f.object, f.severity) == ("pod-terminating-while-serving", "Pod default/web-a", "error")
    assert f.evidence["container"] == "web"
    assert "PID 1" in f.message and "SIGTERM never reaches" in f.message
    assert "node" in f.fix and "1001" in f.fix  # exec form suggested; WebSocket close handling
    kinds = [e["kind"] for e in f.evidence["events"]]
    assert kinds == ["pod-terminating", "endpoint-not-ready", "connection-dropped", "endpoint-removed"]


def test_short_prestop_and_time_correlation_without_upstream_header() -> None:
    pods = {"default/web-a": _pod("web-a", {"name": "web", "lifecycle": {"preStop": {"sleep": {"seconds": 0.2}}}})}
    [f] = attribute(_rollout(None, kind="request-failed"), pods, end=8.0, service="default/web")
    assert f.object == "Pod default/web-a"  # the nearest deletion in time
    assert "preStop sleep (0.2 s) ends before routing moved on" in f.message
    assert f.evidence["statuses"] == {"502": 1}


def test_failure_long_after_the_endpoint_left_is_not_blamed_on_the_pod() -> None:
    found = attribute(_rollout("default/web-a", fail_t=5.0, later=7.0), {}, end=8.0, service="default/web")
    assert not [f for f in found if f.check == "pod-terminating-while-serving"]
    # no pod change within the slack around t=5.0 either: the data plane cut it by itself
    assert [f.check for f in found] == ["ingress-reload-dropped-connections"]


def test_no_failures_no_findings() -> None:
    events = [e for e in _rollout("default/web-a") if not e.failure]
    assert attribute(events, {}, end=8.0, service="default/web") == []


def test_termination_windows() -> None:
    w = termination_windows(_rollout(None), end=9.0)
    assert w == {"default/web-a": (2.0, 3.0), "default/web-b": (6.0, 9.0)}


def test_pod_slice_and_replicaset_changes() -> None:
    old = {"metadata": {"name": "p", "namespace": "default"},
           "status": {"conditions": [{"type": "Ready", "status": "True"}]},
           "spec": {"containers": [{"name": "app"}]}}
    new = json.loads(json.dumps(old))
    new["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:30Z"
    new["status"]["conditions"][0]["status"] = "False"
    assert [e.kind for e in pod_changes(1.0, old, new)] == ["pod-terminating", "pod-not-ready"]
    assert "no preStop" in pod_changes(1.0, old, new)[0].detail
    assert [e.kind for e in pod_changes(2.0, new, None)] == ["pod-deleted"]

    def sl(*eps: tuple[str, bool, bool]) -> dict[str, Any]:
        return {"s": {"metadata": {"namespace": "default"}, "ports": [{"port": 8080}], "endpoints": [
            {"addresses": [ip], "conditions": {"ready": r, "terminating": t},
             "targetRef": {"kind": "Pod", "name": f"pod-{ip[-1]}"}} for ip, r, t in eps]}}

    before = sl(("10.0.0.1", True, False), ("10.0.0.2", True, False))
    after = sl(("10.0.0.1", False, True), ("10.0.0.3", False, False))
    events = slice_changes(3.0, before, after, "default/web")
    assert [(e.kind, e.address, e.ready) for e in events] == [
        ("endpoint-not-ready", "10.0.0.1", 0), ("endpoint-added", "10.0.0.3", 0), ("endpoint-removed", "10.0.0.2", 0)]
    assert events[0].pod == "default/pod-1" and "terminating" in events[0].detail
    rs = {"metadata": {"name": "rs", "namespace": "default"}, "spec": {"replicas": 2}}
    assert [e.detail for e in replicaset_changes(1.0, rs, {**rs, "spec": {"replicas": 1}})] == ["scaled 2 → 1"]


def test_recorder_figures_and_upstream_lookup() -> None:
    rec = Recorder()
    rec.addresses.update({"10.0.0.1:8080": "default/a", "10.0.0.1": "default/a"})
    rec.request(0.1, 200, ok=True)
    rec.request(0.2, 502, ok=False, event=WatchEvent(0.2, "request-failed", "GET /", "HTTP 502", status=502))
    rec.connection_opened(0.3)
    rec.connection_closed(1.5, 1006, WatchEvent(1.5, "connection-dropped", "WebSocket #1", "dropped", status=1006))
    rec.connection_opened(1.6)
    rec.connection_closed(2.5, 1001, WatchEvent(2.5, "connection-closed", "WebSocket #1", "closed", status=1001))
    s = rec.section(duration=3.0, rate=20)
    assert s["requests"] == {"sent": 2, "failed": 1, "by_status": {"200": 1, "502": 1}}
    assert s["connections"] == {"opened": 2, "dropped": 1, "close_codes": {"1001": 1, "1006": 1}}
    assert [e["kind"] for e in s["events"]] == ["request-failed", "connection-dropped", "connection-closed"]
    assert rec.pod_of("10.0.0.9:8080, 10.0.0.1:8080") == "default/a"  # the last address tried answered
    assert rec.pod_of("10.0.0.9:1") is None
    assert [x.errors for x in rec.samples] == [1, 1, 0]


def test_watch_section_round_trips_and_renders() -> None:
    rec = Recorder()
    rec.request(0.5, 502, ok=False, event=WatchEvent(0.5, "request-failed", "GET http://x/", "HTTP 502 | upstream",
                                                      status=502))
    report = Report(source=SourceInfo("cluster", context="lab", namespace="default"), findings=(),
                    verdict=Verdict("fail", None, None, "1 of 1 requests failed"),
                    watch=rec.section(duration=1.0, rate=5))
    again = Report.from_dict(json.loads(render(report, "json")))
    assert again.watch == report.to_dict()["watch"]
    md = render(report, "markdown")
    assert md.startswith("# kdiag watch") and "## Watch" in md and "| 0.50 | request-failed | GET http://x/ | HTTP 502 \\| upstream |" in md
    html = render(report, "html")
    assert "<h2>Watch</h2>" in html and '<tr class="fail">' in html
    text = render(report, "text", color=False)
    assert "Watch" in text and "1 requests, 1 failed (by status: 502×1)" in text
