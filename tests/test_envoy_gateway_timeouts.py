"""Envoy Gateway's timeouts on a route rule (kdiag.dataplane.envoy_gateway_policies) and the
attribution of what the probes saw to them (kdiag.layers, kdiag.verdict_edge).

Sources: gateway-controllers-facts.md "Envoy Gateway" (route timeout: HTTPRoute `timeouts.request`
takes precedence over BackendTrafficPolicy `spec.timeout.http.requestTimeout`, else Envoy's 15 s;
route idle timeout: route.go idleTimeout(); fields: api/v1alpha1/timeout_types.go), checked
against envoyproxy/gateway @ d32f2829.
"""

from __future__ import annotations

from typing import Any

import pytest

from kdiag.dataplane import profile_for_controller
from kdiag.dataplane.envoy_gateway_policies import rule_timeouts
from kdiag.layers import LayerTimeout, attribute_cut, layer_timeouts, request_timeout
from kdiag.model import ProbeResult, SourceInfo
from kdiag.snapshot import Snapshot
from kdiag.verdict import HopProbes, RouteFacts
from kdiag.verdict_edge import dataplane_findings, idle_findings

EG = "gateway.envoyproxy.io/gatewayclass-controller"
GW_REF = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "eg"}


def _md(name: str, ns: str | None = "default", created: str = "2026-11-01T10:00:00Z", **kw: Any) -> dict[str, Any]:
    md: dict[str, Any] = {"name": name, "creationTimestamp": created, **kw}
    if ns is not None:
        md["namespace"] = ns
    return md


def _gateway() -> dict[str, Any]:
    return {"kind": "Gateway", "apiVersion": "gateway.networking.k8s.io/v1", "metadata": _md("eg"),
            "spec": {"gatewayClassName": "eg", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}}


def _route(timeouts: dict[str, str] | None = None, *, rule_name: str | None = None,
           labels: dict[str, str] | None = None) -> dict[str, Any]:
    rule: dict[str, Any] = {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                            "backendRefs": [{"name": "web", "port": 80}]}
    if timeouts:
        rule["timeouts"] = timeouts
    if rule_name:
        rule["name"] = rule_name
    return {"kind": "HTTPRoute", "apiVersion": "gateway.networking.k8s.io/v1",
            "metadata": _md("web", labels=labels or {}),
            "spec": {"parentRefs": [{"name": "eg"}], "hostnames": ["web.example.com"], "rules": [rule]}}


def _policy(kind: str, name: str, http: dict[str, str], *, targets: list[dict[str, Any]] | None = None,
            ns: str = "default", created: str = "2026-11-01T10:00:00Z", **spec: Any) -> dict[str, Any]:
    return {"kind": kind, "apiVersion": "gateway.envoyproxy.io/v1alpha1", "metadata": _md(name, ns, created),
            "spec": {"targetRefs": targets if targets is not None else [GW_REF], "timeout": {"http": http}, **spec}}


def _route_ref(section: str | None = None) -> dict[str, Any]:
    ref = {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "web"}
    return {**ref, "sectionName": section} if section else ref


def _timeouts(route: dict[str, Any], *policies: dict[str, Any], listener: str | None = "http") -> dict[str, tuple[float | None, str, str]]:
    objs = [*policies]
    found = rule_timeouts(route, 0, _gateway(), listener, lambda kind: [o for o in objs if o["kind"] == kind])
    return {t.name: (t.seconds, t.setting, t.where) for t in found}


def test_without_policies_envoys_defaults_apply() -> None:
    """EG writes no route timeout and no stream idle timeout: Envoy's 15 s and 5 min."""
    t = _timeouts(_route())
    assert t["request"][0] == 15.0 and "default" in t["request"][2]
    assert t["request"][1].startswith("HTTPRoute default/web spec.rules[0].timeouts.request")
    assert t["stream-idle"][0] == 300.0 and "ClientTrafficPolicy spec.timeout.http.streamIdleTimeout" in t["stream-idle"][1]


def test_httproute_request_timeout_and_the_idle_floor() -> None:
    """route.go getEffectiveRequestTimeout / idleTimeout(): timeouts.request sets the route timeout
    and lifts the route idle timeout to max(1 h, request); "0s" disables both."""
    t = _timeouts(_route({"request": "1s"}))
    assert t["request"] == (1.0, "HTTPRoute default/web spec.rules[0].timeouts.request", "set to 1s by HTTPRoute default/web")
    assert t["stream-idle"][0] == 3600.0
    assert _timeouts(_route({"request": "2h"}))["stream-idle"][0] == 7200.0
    off = _timeouts(_route({"request": "0s"}))
    assert off["request"][0] is None and off["stream-idle"][0] is None


def test_backend_traffic_policy_request_timeout_and_route_precedence() -> None:
    btp = _policy("BackendTrafficPolicy", "slow-backends", {"requestTimeout": "45s"}, targets=[_route_ref()])
    t = _timeouts(_route(), btp)
    assert t["request"][:2] == (45.0, "BackendTrafficPolicy default/slow-backends spec.timeout.http.requestTimeout")
    # the HTTPRoute's own field takes precedence (getEffectiveRequestTimeout: "gateway-api timeout takes precedence")
    assert _timeouts(_route({"request": "5s"}), btp)["request"][0] == 5.0


def test_client_traffic_policy_stream_idle_timeout() -> None:
    ctp = _policy("ClientTrafficPolicy", "client-timeouts", {"streamIdleTimeout": "2s"})
    t = _timeouts(_route(), ctp)
    assert t["stream-idle"] == (2.0, "ClientTrafficPolicy default/client-timeouts spec.timeout.http.streamIdleTimeout",
                                "set to 2s by ClientTrafficPolicy default/client-timeouts")
    # idleTimeout(): a listener-level value is not overridden by the request timeout's 1 h floor
    assert _timeouts(_route({"request": "1s"}), ctp)["stream-idle"][0] == 2.0
    # policies attach to objects of their own namespace, and to the listener their sectionName names
    elsewhere = _policy("ClientTrafficPolicy", "other", {"streamIdleTimeout": "2s"}, ns="envoy-gateway-system")
    assert _timeouts(_route(), elsewhere)["stream-idle"][0] == 300.0
    other_listener = _policy("ClientTrafficPolicy", "https-only", {"streamIdleTimeout": "2s"},
                             targets=[{**GW_REF, "sectionName": "https"}])
    assert _timeouts(_route(), other_listener)["stream-idle"][0] == 300.0
    this_listener = _policy("ClientTrafficPolicy", "http-only", {"streamIdleTimeout": "7s"},
                            targets=[{**GW_REF, "sectionName": "http"}])
    assert _timeouts(_route(), ctp, this_listener)["stream-idle"][0] == 7.0  # the listener's is more specific


def test_backend_traffic_policy_stream_idle_timeout_beats_the_listener() -> None:
    """idleTimeout(): a route-level streamIdleTimeout (BackendTrafficPolicy) comes first."""
    ctp = _policy("ClientTrafficPolicy", "client-timeouts", {"streamIdleTimeout": "2s"})
    btp = _policy("BackendTrafficPolicy", "ws", {"streamIdleTimeout": "1h"}, targets=[_route_ref()])
    t = _timeouts(_route(), ctp, btp)
    assert t["stream-idle"][:2] == (3600.0, "BackendTrafficPolicy default/ws spec.timeout.http.streamIdleTimeout")


def test_the_most_specific_backend_traffic_policy_applies_unless_merged() -> None:
    """backendtrafficpolicy_types.go MergeType: "If unset, no merging occurs, and only the most
    specific configuration takes effect"; the oldest of equally specific ones wins."""
    on_gateway = _policy("BackendTrafficPolicy", "gw", {"requestTimeout": "3s"})
    on_route = _policy("BackendTrafficPolicy", "route", {"connectionIdleTimeout": "1h"}, targets=[_route_ref()])
    assert _timeouts(_route(), on_gateway)["request"][0] == 3.0
    assert _timeouts(_route(), on_gateway, on_route)["request"][0] == 15.0  # the route's policy shadows it
    merged = _policy("BackendTrafficPolicy", "route", {"connectionIdleTimeout": "1h"}, targets=[_route_ref()],
                     mergeType="StrategicMerge")
    assert _timeouts(_route(), on_gateway, merged)["request"][:2] == (
        3.0, "BackendTrafficPolicy default/gw spec.timeout.http.requestTimeout")
    older = _policy("BackendTrafficPolicy", "b-older", {"requestTimeout": "4s"}, created="2026-10-01T00:00:00Z")
    assert _timeouts(_route(), on_gateway, older)["request"][0] == 4.0
    # a rule named by sectionName
    ruled = _policy("BackendTrafficPolicy", "export", {"requestTimeout": "9s"}, targets=[_route_ref("export")])
    assert _timeouts(_route(rule_name="export"), ruled)["request"][0] == 9.0
    assert _timeouts(_route(rule_name="other"), ruled)["request"][0] == 15.0


def test_target_selectors_match_labels() -> None:
    sel = _policy("BackendTrafficPolicy", "by-label", {"requestTimeout": "6s"}, targets=[],
                  targetSelectors=[{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute",
                                    "matchLabels": {"team": "reports"}}])
    assert _timeouts(_route(labels={"team": "reports"}), sel)["request"][0] == 6.0
    assert _timeouts(_route(labels={"team": "chat"}), sel)["request"][0] == 15.0


# -- over a snapshot: the walk's layer timeouts -------------------------------------------------


def _snapshot(*extra: dict[str, Any]) -> Snapshot:
    gc = {"kind": "GatewayClass", "apiVersion": "gateway.networking.k8s.io/v1", "metadata": _md("eg", None),
          "spec": {"controllerName": EG}}
    svc = {"kind": "Service", "apiVersion": "v1", "metadata": _md("web"),
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}
    return Snapshot(objects=(gc, _gateway(), svc, *extra), source=SourceInfo(kind="manifests"))


def _layers(snap: Snapshot, url: str = "ws://web.example.com/") -> tuple[LayerTimeout, ...]:
    from kdiag.route import parse_target, resolve_route

    res = resolve_route(snap, parse_target(url, {}))
    assert res.gateway is not None and res.profile.name == "envoy-gateway"
    return layer_timeouts(snap, res)


def test_layer_timeouts_of_an_envoy_gateway_route_come_from_its_policies() -> None:
    assert profile_for_controller(EG).policy_kinds == ("ClientTrafficPolicy", "BackendTrafficPolicy")
    ctp = _policy("ClientTrafficPolicy", "client-timeouts", {"streamIdleTimeout": "2s"})
    layers = {t.name: t for t in _layers(_snapshot(_route({"request": "1s"}), ctp))}
    assert set(layers) == {"request", "stream-idle"}
    assert (layers["stream-idle"].layer, layers["stream-idle"].seconds, layers["stream-idle"].who) == (
        "gateway", 2.0, "envoy-gateway")
    assert layers["request"].setting == "HTTPRoute default/web spec.rules[0].timeouts.request"
    # "0s" disables the route timeout and, with it, the route idle timeout (route.go idleTimeout())
    layers = {t.name: t for t in _layers(_snapshot(_route({"request": "0s"})))}
    assert set(layers) == set()


def test_other_gateway_data_planes_keep_their_profile_defaults() -> None:
    """Only a profile with `rule_timeouts` reads policies; NGF lists its nginx defaults."""
    ngf = profile_for_controller("gateway.nginx.org/nginx-gateway-controller")
    assert ngf.policy_kinds == () and ngf.rule_timeouts(_route(), 0, _gateway(), "http", lambda k: []) == ()


# -- attribution --------------------------------------------------------------------------------

CTP_2S = LayerTimeout("gateway", 2.0, "ClientTrafficPolicy default/client-timeouts spec.timeout.http.streamIdleTimeout",
                      "set to 2s by ClientTrafficPolicy default/client-timeouts", "stream-idle", "envoy-gateway")
REQ_1S = LayerTimeout("gateway", 1.0, "HTTPRoute default/web spec.rules[0].timeouts.request",
                      "set to 1s by HTTPRoute default/web", "request", "envoy-gateway")


def test_a_request_timeout_is_never_an_idle_cut() -> None:
    assert attribute_cut(1.0, "gateway", [REQ_1S]) is None
    assert attribute_cut(2.1, "gateway", [REQ_1S, CTP_2S]) == CTP_2S
    assert request_timeout(1.05, "gateway", [REQ_1S, CTP_2S]) == (REQ_1S, True)
    assert request_timeout(9.0, "gateway", [REQ_1S]) == (REQ_1S, False)
    assert request_timeout(1.0, "ingress", [REQ_1S]) == (None, False)


def _idle_probes(closed_after: float) -> dict[str, HopProbes]:
    ws = ProbeResult(kind="websocket", target="t", via="nodeport", ok=True, status_code=101)
    still = ProbeResult(kind="idle", target="t", via="port-forward", ok=True)
    cut = ProbeResult(kind="idle", target="t", via="nodeport", ok=False, error="closed",
                      extra={"closed_after_s": closed_after, "close_code": 1006})
    return {"pod": HopProbes(primary=(ws,), idle=(still,)), "gateway": HopProbes(primary=(ws,), idle=(cut,))}


@pytest.mark.parametrize(("closed_after", "check"), [(2.1, "gateway-stream-idle-timeout"),
                                                     (6.0, "websocket-idle-disconnect")])
def test_an_idle_cut_is_attributed_to_the_policy_only_when_the_times_match(closed_after: float, check: str) -> None:
    facts = RouteFacts(websocket=True, entry_hop="gateway", layer_timeouts=(REQ_1S, CTP_2S))
    (f,) = idle_findings(facts, _idle_probes(closed_after))
    assert (f.hop, f.check) == ("gateway", check)
    if check == "gateway-stream-idle-timeout":
        assert "`ClientTrafficPolicy default/client-timeouts spec.timeout.http.streamIdleTimeout` (now 2 s" in f.fix
        assert f.evidence["layer"]["matched"] is True
    else:
        assert "ClientTrafficPolicy" not in (f.fix or "") and f.evidence["layer"]["matched"] is False


def _timeout_probes(elapsed_ms: float) -> dict[str, HopProbes]:
    ok = ProbeResult(kind="http", target="t", via="port-forward", ok=True, status_code=200, elapsed_ms=2050)
    # Envoy's 504 body (gateway-controllers-facts.md "Envoy behaviour shared…": route timeout → 504
    # `upstream request timeout`, flag UT)
    cut = ProbeResult(kind="http", target="t", via="nodeport", ok=False, status_code=504, elapsed_ms=elapsed_ms,
                      extra={"body_excerpt": "upstream request timeout", "response_headers": {"server": "envoy"}})
    return {"pod": HopProbes(primary=(ok,)), "service": HopProbes(primary=(ok,)), "gateway": HopProbes(primary=(cut,))}


def test_route_timeout_finding_names_the_field_that_set_it() -> None:
    facts = RouteFacts(entry_hop="gateway", layer_timeouts=(REQ_1S, CTP_2S), objects={"gateway": ("HTTPRoute default/web",)})
    (f,) = [f for f in dataplane_findings(facts, _timeout_probes(1040)) if f.check == "gateway-route-timeout"]
    assert f.hop == "gateway" and "matches the route's request timeout of 1 s" in f.message
    assert "`HTTPRoute default/web spec.rules[0].timeouts.request` (now 1 s)" in f.fix
    assert f.evidence["timeout"]["matched"] is True
    # an answer long after the configured time: no claim about which field did it
    (g,) = [f for f in dataplane_findings(facts, _timeout_probes(30000)) if f.check == "gateway-route-timeout"]
    assert "does not match" in g.message and "spec.rules[0].timeouts.request`" not in (g.fix or "")
    # no configured request timeout known (another data plane): the generic finding
    (h,) = [f for f in dataplane_findings(RouteFacts(entry_hop="gateway"), _timeout_probes(1040))
            if f.check == "gateway-route-timeout"]
    assert "timeout" not in h.evidence
