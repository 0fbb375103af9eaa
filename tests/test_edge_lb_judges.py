"""Pure judges of the edge stories (kdiag.lab.edge_scenarios): a redirect chain that loops, and an
`externalTrafficPolicy: Local` data-plane Service whose empty node drops the published address's traffic."""

from __future__ import annotations

from typing import Any

from kdiag.findings import make_finding
from kdiag.model import ProbeResult
from kdiag.outcomes import ErrorKind
from kdiag.probes import answers
from kdiag.verdict import HopProbes, RouteFacts, judge
from kdiag.verdict_edge import local_policy_findings

SVC = "Service ingress-nginx/ingress-nginx-controller"
LOCAL = {"service": SVC, "type": "LoadBalancer", "node_port": 30080, "health_check_node_port": 32145,
         "nodes_with_ready_pods": [{"name": "node-a", "address": "10.0.0.1"}],
         "nodes_without_ready_pods": [{"name": "node-b", "address": "10.0.0.2"}]}


def _facts(**kw: Any) -> RouteFacts:
    base: dict[str, Any] = dict(
        ingress="default/web", service="default/web", port=80, rule="web.example.com/", pods_total=1,
        pods_ready=1, endpoints_ready=1, endpoints_total=1, edge=True,
        objects={"ingress": ("Ingress default/web",), "service": ("Service default/web",),
                 "pod": ("Pod default/web-1",), "edge": (SVC,)})
    return RouteFacts(**{**base, **kw})


def _p(ok: bool, *, kind: str = "http", status: int | None = None, target: str = "http://203.0.113.7:80/",
       via: str = "ingress-address", error_kind: ErrorKind | None = None, **extra: Any) -> ProbeResult:
    return ProbeResult(kind, via, target, ok, status_code=status, error="connection reset" if error_kind else None,
                       error_kind=error_kind, extra=extra)


def _probes(edge: HopProbes, *, entry_ok: bool = True) -> dict[str, HopProbes]:
    fine = HopProbes(primary=(_p(True, status=200, via="service-proxy"),))
    pod = _p(entry_ok, status=200 if entry_ok else 503, via="port-forward", target="http://127.0.0.1:41000/")
    return {"pod": fine, "service": fine, "ingress": HopProbes(primary=(pod,)), "edge": edge}


DROPPED = _p(False, error_kind=ErrorKind.RESET)
BY_NODE = (_p(False, kind="tcp", target="10.0.0.2:30080", via="nodeport", error_kind=ErrorKind.REFUSED),
           _p(True, kind="tcp", target="10.0.0.1:30080", via="nodeport"))


def test_the_empty_node_of_a_local_policy_is_named_at_the_edge() -> None:
    found = local_policy_findings(_facts(edge_local_policy=LOCAL), _probes(HopProbes(primary=(DROPPED,), reach=BY_NODE)))
    assert [(f.check, f.hop, f.severity, f.object) for f in found] == [
        ("service-external-traffic-policy-local", "edge", "error", SVC)]
    f = found[0]
    assert "node-b (10.0.0.2)" in f.message and "10.0.0.2:30080" in f.message
    assert f.evidence["nodes_without_ready_pods"] == [{"name": "node-b", "address": "10.0.0.2"}]
    assert [p["target"] for p in f.evidence["node_probes"]] == ["10.0.0.2:30080", "10.0.0.1:30080"]
    for part in ("healthCheckNodePort 32145", "DaemonSet", "externalTrafficPolicy: Cluster"):
        assert part in f.fix, part


def test_no_local_policy_finding_when_something_else_explains_the_edge() -> None:
    facts = _facts(edge_local_policy=LOCAL)
    answered = _p(False, status=502)  # an HTTP answer: something in front answered, nothing was dropped
    assert local_policy_findings(facts, _probes(HopProbes(primary=(answered,)))) == []
    assert local_policy_findings(facts, _probes(HopProbes(primary=(DROPPED,)), entry_ok=False)) == []  # the pod fails too
    both_answer = (_p(True, kind="tcp", target="10.0.0.2:30080", via="nodeport"),
                   _p(False, kind="tcp", target="10.0.0.1:30080", via="nodeport", error_kind=ErrorKind.TIMEOUT))
    assert local_policy_findings(facts, _probes(HopProbes(primary=(DROPPED,), reach=both_answer))) == []
    assert local_policy_findings(_facts(), _probes(HopProbes(primary=(DROPPED,)))) == []  # not Local
    assert local_policy_findings(_facts(edge=False, edge_local_policy=LOCAL), _probes(HopProbes(primary=(DROPPED,)))) == []


def test_the_probe_confirms_the_static_warning_and_the_verdict_names_the_edge() -> None:
    static = make_finding("service-external-traffic-policy-local", object=SVC, message="static: Local on node-b",
                          evidence={"nodes_without_ready_pods": ["10.0.0.2"]})
    assert (static.hop, static.severity) == ("service", "warning")
    hops, findings, verdict = judge(_facts(edge_local_policy=LOCAL),
                                    _probes(HopProbes(primary=(DROPPED,), reach=BY_NODE)), [static])
    assert (verdict.status, verdict.hop, verdict.check) == ("fail", "edge", "service-external-traffic-policy-local")
    mine = [f for f in findings if f.check == "service-external-traffic-policy-local"]
    assert len(mine) == 1 and (mine[0].hop, mine[0].severity) == ("edge", "error")
    assert mine[0].evidence["confirmed_by_probe"] is True and mine[0].evidence["node_port"] == 30080
    assert {h.hop: h.status for h in hops}["ingress"] == "ok"
    # without the probe's confirmation the static finding stays a warning on the service hop
    _, findings, verdict = judge(_facts(edge_local_policy=LOCAL), _probes(HopProbes(primary=(_p(True, status=200),))),
                                 [static])
    assert (verdict.status, verdict.hop, verdict.check) == ("warn", "service", "service-external-traffic-policy-local")


URL = "https://shop.example.com/"
CHAIN = [{"url": URL, "status": 308, "location": URL}]


def _looping(via: str, target: str) -> ProbeResult:
    return _p(False, status=308, via=via, target=target, error_kind=ErrorKind.REDIRECT_LOOP, redirects=CHAIN,
              redirect_outcome="loop", response_headers={"location": URL},
              request="GET / HTTP/1.1\nHost: shop.example.com")


def test_a_followed_chain_is_read_as_the_loop() -> None:
    loop = answers.redirect_to_itself(_looping("ingress-address", "https://203.0.113.7:443/"))
    assert loop is not None and loop["shape"] == "loop" and loop["chain"] == CHAIN and loop["same_url"]
    ended = _p(True, status=302, target="https://203.0.113.7:443/", response_headers={"location": "/login"},
               request="GET / HTTP/1.1\nHost: shop.example.com", redirect_outcome="ends",
               redirects=[{"url": URL, "status": 302, "location": URL + "login"}])
    assert answers.redirect_to_itself(ended) is None  # a login redirect that ends is no loop


def test_the_loop_is_named_on_the_ingress_with_the_static_why_and_fix() -> None:
    static = make_finding("ingress-ssl-redirect-loop", object="Ingress default/web",
                          message="ingress-nginx redirects plain HTTP to https on this Ingress, but its LB Service maps "
                                  "443 -> targetPort http", fix="Set use-forwarded-headers: \"true\".",
                          evidence={"service": "ingress-nginx/ingress-nginx-controller"})
    probes = _probes(HopProbes(primary=(_looping("ingress-address", "https://203.0.113.7:443/"),)))
    probes["ingress"] = HopProbes(primary=(_looping("port-forward", "http://127.0.0.1:41000/"),))
    hops, findings, verdict = judge(_facts(tls=True), probes, [static])
    assert (verdict.status, verdict.hop, verdict.check) == ("fail", "ingress", "ingress-ssl-redirect-loop")
    [f] = [f for f in findings if f.check == "ingress-ssl-redirect-loop"]
    assert f"{URL} → 308 {URL}" in f.message and "plain HTTP" in f.message
    assert f.message.endswith("maps 443 -> targetPort http") and "Why: ingress-nginx" in f.message
    assert f.fix == "Set use-forwarded-headers: \"true\"." and f.evidence["redirect"]["chain"] == CHAIN
    assert f.evidence["service"] == "ingress-nginx/ingress-nginx-controller"
    assert {h.hop: h.status for h in hops}["edge"] == "fail"
