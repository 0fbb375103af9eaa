"""The differential judge, table-driven and without sockets: which hop and check the verdict names."""

from __future__ import annotations

from typing import Any

import pytest

from kdiag.cli import main
from kdiag.model import Finding, ProbeResult
from kdiag.outcomes import ErrorKind
from kdiag.verdict import HopProbes, RouteFacts, judge

WS = RouteFacts(websocket=True, ingress="default/chatapp", service="default/chatapp-svc", port=3003,
                rule="chatapp.com/wss", pods_total=2, pods_ready=2, endpoints_ready=2, endpoints_total=2,
                objects={"pod": ("Pod default/chatapp-1",)})


def ws(ok: bool, status: int | None = 101, via: str = "port-forward", error: str | None = None,
       error_kind: ErrorKind | None = None, **extra: Any) -> ProbeResult:
    if error_kind is None and not ok:
        error_kind = ErrorKind.HANDSHAKE if status else ErrorKind.OTHER
    return ProbeResult(kind="websocket", via=via, target="chatapp.com/wss", ok=ok, status_code=status,
                       elapsed_ms=3.0, detail=f"HTTP {status}" if status else (error or ""), error=error,
                       extra=extra, error_kind=error_kind)


def idle(ok: bool, via: str, after: float | None = None) -> ProbeResult:
    return ProbeResult(kind="idle", via=via, target="chatapp.com/wss", ok=ok,
                       extra={} if ok else {"closed_after_s": after, "close_code": 1006})


def static(check: str, hop: str, severity: str = "error", **evidence: Any) -> Finding:
    return Finding(check=check, severity=severity, hop=hop, object="Service default/chatapp-svc",  # type: ignore[arg-type]
                   message=f"{check} here", evidence=evidence)


OK_POD = HopProbes(primary=(ws(True),))
OK_SVC = HopProbes(primary=(ws(True, via="service-proxy"),))
OK_ING = HopProbes(primary=(ws(True, via="nodeport"),))

CASES = [
    ("all hops answer 101: no problem", {"pod": OK_POD, "service": OK_SVC, "ingress": OK_ING}, [],
     ("ok", None, None)),
    ("pod refuses: the pod", {
        "pod": HopProbes(primary=(ws(False, None, error="connection refused", error_kind=ErrorKind.REFUSED, pod="default/c-1"),)),
        "service": HopProbes(primary=(ws(False, 503, via="service-proxy"),)),
        "ingress": HopProbes(primary=(ws(False, 502, via="nodeport"),))}, [],
     ("fail", "pod", "pod-port-not-listening")),
    ("pod answers 400 to the handshake: the pod rejects WebSockets", {
        "pod": HopProbes(primary=(ws(False, 400),)),
        "service": HopProbes(primary=(ws(False, 400, via="service-proxy"),)),
        "ingress": HopProbes(primary=(ws(False, 400, via="nodeport"),))}, [],
     ("fail", "pod", "pod-websocket-rejected")),
    ("targetPort refused but the declared port answers: the Service", {
        "pod": HopProbes(primary=(ws(False, None, error="connection refused", error_kind=ErrorKind.REFUSED),), confirm=(ws(True),)),
        "service": HopProbes(primary=(ws(False, 503, via="service-proxy"),)),
        "ingress": HopProbes(primary=(ws(False, 502, via="nodeport"),))},
     [static("service-target-port-mismatch", "service", service_port=3003)],
     ("fail", "service", "service-target-port-mismatch")),
    ("service and pod 101, ingress 400: upgrade not forwarded", {
        "pod": OK_POD, "service": OK_SVC, "ingress": HopProbes(primary=(ws(False, 400, via="nodeport"),))}, [],
     ("fail", "ingress", "ingress-upgrade-not-forwarded")),
    ("idle drop at the ingress only", {
        "pod": HopProbes(primary=(ws(True),), idle=(idle(True, "port-forward"),)),
        "service": HopProbes(primary=(ws(True, via="service-proxy"),), idle=(idle(True, "service-proxy"),)),
        "ingress": HopProbes(primary=(ws(True, via="nodeport"),), idle=(idle(False, "nodeport", 3.0),))},
     [static("ingress-websocket-timeout", "ingress", "warning")],
     ("fail", "ingress", "websocket-idle-disconnect")),
    ("everything works, the client URL is relative", {"pod": OK_POD, "service": OK_SVC, "ingress": OK_ING},
     [static("client-websocket-url-not-absolute", "client")],
     ("fail", "client", "client-websocket-url-not-absolute")),
]


@pytest.mark.parametrize(("probes", "findings", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_judge_names_the_lowest_failing_hop(probes: dict[str, HopProbes], findings: list[Finding],
                                            expected: tuple[str, str | None, str | None]) -> None:
    _, _, verdict = judge(WS, probes, findings)
    assert (verdict.status, verdict.hop, verdict.check) == expected, verdict


def test_static_suspicion_refuted_by_a_probe_is_only_a_warning() -> None:
    """A targetPort 'mismatch' on a port the app does listen on (undeclared) is not an error."""
    suspicion = static("service-target-port-mismatch", "service", service_port=3003)
    _, findings, verdict = judge(WS, {"pod": OK_POD, "service": OK_SVC, "ingress": OK_ING}, [suspicion])
    refuted = next(f for f in findings if f.check == "service-target-port-mismatch")
    assert refuted.severity == "warning" and "unconfirmed" in refuted.evidence
    assert verdict.status == "warn"


def test_finding_about_another_port_is_not_the_verdict() -> None:
    """The Service's broken 'api' port does not explain a failure on the 'ws' route."""
    other = static("service-target-port-mismatch", "service", service_port=3002)
    mine = static("service-target-port-mismatch", "service", service_port=3003)
    probes = {"pod": HopProbes(primary=(ws(False, None, error="connection refused", error_kind=ErrorKind.REFUSED),), confirm=(ws(True),)),
              "service": HopProbes(primary=(ws(False, 503, via="service-proxy"),)),
              "ingress": HopProbes(primary=(ws(False, 502, via="nodeport"),))}
    _, findings, verdict = judge(WS, probes, [other, mine])
    assert verdict.check == "service-target-port-mismatch"
    confirmed = [f for f in findings if "confirmed" in f.evidence]
    assert [f.evidence["service_port"] for f in confirmed] == [3003]


def test_static_walk_over_seed_manifests_names_the_route_own_problem(capsys: pytest.CaptureFixture[str]) -> None:
    """`kdiag diagnose URL -f`: the /wss rule's backend names the Deployment; the client comes last."""
    import json

    code = main(["diagnose", "ws://chatapp.com/wss", "-f", "tests/fixtures/manifests/seed-chatapp/",
                 "--client-url", "/wss", "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["route"]["rule"]["path"] == "/wss"
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == ("ingress", "ingress-backend-service-missing")
    assert "chatapp.com/wss" in report["verdict"]["summary"]
    assert all(p == [] for p in (h["probes"] for h in report["hops"]))
    assert any(f["check"] == "client-websocket-url-not-absolute" for f in report["findings"])


def test_route_rows_note_each_route_own_problem() -> None:
    """The TUI's route list: every chat route names the finding about its own Service port."""
    from kdiag.lab.scenarios import SCENARIOS
    from kdiag.model import SourceInfo
    from kdiag.route_stream import route_rows
    from kdiag.snapshot import Snapshot

    snap = Snapshot(tuple(SCENARIOS["target-port-mismatch"].objects), SourceInfo("cluster"))
    rows = {r.path: r for r in route_rows(snap)}
    assert {p: rows[p].status for p in ("/", "/api", "/wss")} == {"/": "fail", "/api": "fail", "/wss": "fail"}
    for path, port in (("/", 3001), ("/api", 3002), ("/wss", 3003)):
        assert f"({port})" in rows[path].note, rows[path].note
    healthy = Snapshot(tuple(SCENARIOS["healthy"].objects), SourceInfo("cluster"))
    assert {r.status for r in route_rows(healthy)} == {"ok"}


def test_canary_route_row_carries_the_header_that_selects_it() -> None:
    """Walking a canary row sends its header, so the walk reaches the canary backend."""
    from kdiag.lab.scenarios import SCENARIOS
    from kdiag.lab.world import derive_endpoint_slices
    from kdiag.model import SourceInfo
    from kdiag.route_stream import route_rows
    from kdiag.snapshot import Snapshot

    objs = list(SCENARIOS["canary-broken"].objects)
    snap = Snapshot(tuple(objs + derive_endpoint_slices(objs)), SourceInfo("cluster"))
    rows = {r.service: r for r in route_rows(snap)}
    assert rows["default/http-canary:80"].headers == {"Version": "1.1.0000"}
    assert rows["default/http-canary:80"].pods_ready == "1/1"
    assert rows["default/http-prod:80"].headers == {} and rows["default/http-prod:80"].pods_ready == "2/2"


def test_route_rows_run_the_static_rules_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The route list judges every route from one rules pass (not one pass per route)."""
    import kdiag.diagnose
    import kdiag.route_stream as route_list
    from kdiag.lab.scenarios import SCENARIOS
    from kdiag.model import SourceInfo
    from kdiag.snapshot import Snapshot

    calls = []
    real = kdiag.diagnose.snapshot_findings
    monkeypatch.setattr(kdiag.diagnose, "snapshot_findings", lambda *a, **k: calls.append(1) or real(*a, **k))
    rows = route_list.route_rows(Snapshot(tuple(SCENARIOS["target-port-mismatch"].objects), SourceInfo("cluster")))
    assert len(rows) == 3 and len(calls) == 1


def test_snapshot_views_are_cached_but_callers_get_their_own_list() -> None:
    from kdiag.lab.scenarios import SCENARIOS
    from kdiag.model import SourceInfo
    from kdiag.snapshot import Snapshot

    snap = Snapshot(tuple(SCENARIOS["healthy"].objects), SourceInfo("cluster"))
    first = snap.pod_views("default")
    first.clear()
    assert len(snap.pod_views("default")) == 2
    assert snap.list("Pod", "default") == tuple(o for o in snap.list("Pod") if o["metadata"]["namespace"] == "default")
