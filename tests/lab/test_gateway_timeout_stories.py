"""The Envoy Gateway timeout stories (kdiag.lab.gateway_timeout_scenarios), walked end to end.

The lab serves Envoy Gateway's policy CRDs from its API server, its Envoy emulation takes the
timeouts from those objects, and `kdiag diagnose` names the gateway hop with the field that set
the timeout. Where the emulation's behaviour is asserted, the source is the fact sheet
reference/gateway-controllers-facts.md:
- "Envoy Gateway", route timeout: "firing -> `HTTP/1.1 504 Gateway Timeout` body `upstream
  request timeout`" (docs tasks/traffic/http-timeouts.md); HTTPRoute `timeouts.request` takes
  precedence over BackendTrafficPolicy `spec.timeout.http.requestTimeout`;
- "Envoy Gateway", stream idle: "After a 101 it is a reset -> client sees TCP close without close
  frame -> browser 1006"; route.go idleTimeout(); fields from api/v1alpha1/timeout_types.go;
- "Envoy behaviour shared by EG / Istio / Cilium / kgateway": "Route `timeout` … fires -> 504
  `upstream request timeout`, flag UT".
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from kdiag.cli import main
from kdiag.endpoint import Endpoint
from kdiag.lab.envoy import envoy_config
from kdiag.lab.gateway_timeout_scenarios import (
    EXPORT_SECONDS,
    REQUEST_TIMEOUT,
    STREAM_IDLE_TIMEOUT,
    stories,
)
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import HOST, SCENARIOS, Scenario
from kdiag.probes.http import probe_http
from kdiag.probes.idle import probe_idle

EXPECTED = {"eg-route-timeout": ("gateway", "gateway-route-timeout"),
            "eg-stream-idle-timeout": ("gateway", "gateway-stream-idle-timeout")}


def _diagnose(sc: Scenario, capsys: pytest.CaptureFixture[str], lab: Lab | None = None) -> tuple[int, dict[str, Any]]:
    argv = ["diagnose", sc.url, "--format", "json", "--timeout", "3", "-q"]
    if sc.idle:
        argv += ["--idle", str(sc.idle)]
    if lab is None:
        with Lab(sc) as running:
            code = main([*argv, "--kubeconfig", str(running.kubeconfig)])
    else:
        code = main([*argv, "--kubeconfig", str(lab.kubeconfig)])
    return code, json.loads(capsys.readouterr().out)


def _nodeport(lab: Lab) -> Endpoint:
    return Endpoint(host="127.0.0.1", port=lab.ingress_port, via="nodeport", label="envoy", tls=False, sni=HOST)


def _finding(report: dict[str, Any], check: str) -> dict[str, Any]:
    return next(f for f in report["findings"] if f["check"] == check)


def test_the_stories_are_registered_as_envoy_gateway_scenarios() -> None:
    assert {s.name for s in stories()} == set(EXPECTED)
    for name, expected in EXPECTED.items():
        sc = SCENARIOS[name]
        assert (sc.kind, sc.data_plane) == ("gateway", "envoy-gateway")
        assert (sc.expect_hop, sc.expect_check) == expected
    assert REQUEST_TIMEOUT < EXPORT_SECONDS < 3  # the export outlives the route timeout, not the probe's


def test_route_timeout_story(capsys: pytest.CaptureFixture[str]) -> None:
    """The export answers 200 after 2 s at the pod and the Service; through Envoy it gets 504
    "upstream request timeout" after the HTTPRoute's 1 s: kdiag names the rule's field."""
    code, report = _diagnose(SCENARIOS["eg-route-timeout"], capsys)
    assert code == 1
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == EXPECTED["eg-route-timeout"]
    hops = {h["hop"]: h for h in report["hops"]}
    (gw,) = [p for p in hops["gateway"]["probes"] if p["kind"] == "http"]
    # gateway-controllers-facts.md "Envoy Gateway": route timeout fires -> 504, body `upstream request timeout`
    assert gw["status_code"] == 504 and gw["body_excerpt"] == "upstream request timeout"
    assert REQUEST_TIMEOUT * 0.9 <= gw["elapsed_ms"] / 1000 < REQUEST_TIMEOUT + 0.8
    pod = [p for p in hops["pod"]["probes"] if p["kind"] == "http"]
    assert pod and all(p["status_code"] == 200 and p["elapsed_ms"] >= EXPORT_SECONDS * 1000 * 0.95 for p in pod)
    f = _finding(report, "gateway-route-timeout")
    assert f["hop"] == "gateway" and f["evidence"]["timeout"]["matched"] is True
    assert f["evidence"]["timeout"]["seconds"] == REQUEST_TIMEOUT
    # rule 1 of HTTPRoute default/chatapp is /reports (rule 0 is /wss)
    assert "`HTTPRoute default/chatapp spec.rules[1].timeouts.request` (now 1 s)" in f["fix"]
    assert report["route"]["rule"]["index"] == 1 and report["route"]["dataplane"]["profile"] == "envoy-gateway"


def test_stream_idle_timeout_story(capsys: pytest.CaptureFixture[str]) -> None:
    """The ClientTrafficPolicy's streamIdleTimeout (2 s) resets the idle WebSocket at the gateway,
    the pod keeps it open: kdiag matches the time of the cut to the policy's field."""
    code, report = _diagnose(SCENARIOS["eg-stream-idle-timeout"], capsys)
    assert code == 1
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == EXPECTED["eg-stream-idle-timeout"]
    hops = {h["hop"]: h for h in report["hops"]}
    (cut,) = [p for p in hops["gateway"]["probes"] if p["kind"] == "idle"]
    # gateway-controllers-facts.md "Envoy Gateway": after a 101 the stream is reset, no close frame (1006)
    assert not cut["ok"] and cut["close_code"] == 1006
    assert abs(cut["closed_after_s"] - STREAM_IDLE_TIMEOUT) < 0.8
    assert all(p["ok"] for p in hops["pod"]["probes"] if p["kind"] == "idle")
    f = _finding(report, "gateway-stream-idle-timeout")
    layer = f["evidence"]["layer"]
    assert layer["matched"] is True and (layer["layer"], layer["name"], layer["seconds"]) == (
        "gateway", "stream-idle", STREAM_IDLE_TIMEOUT)
    assert "`ClientTrafficPolicy default/client-timeouts spec.timeout.http.streamIdleTimeout` (now 2 s" in f["fix"]


def test_envoy_gateway_accepts_route_timeouts() -> None:
    """Envoy Gateway implements HTTPRoute `timeouts` (its profile's route_timeouts; route.go): the
    route is Accepted with reason Accepted, not NGF's UnsupportedField."""
    route = next(o for o in SCENARIOS["eg-route-timeout"].objects if o["kind"] == "HTTPRoute")
    (parent,) = route["status"]["parents"]
    accepted = next(c for c in parent["conditions"] if c["type"] == "Accepted")
    assert parent["controllerName"] == "gateway.envoyproxy.io/gatewayclass-controller"
    assert (accepted["status"], accepted["reason"]) == ("True", "Accepted")


def test_the_api_server_serves_the_policies_with_status() -> None:
    from kdiag.kube import Kube

    sc = SCENARIOS["eg-stream-idle-timeout"]
    with Lab(sc) as lab:
        kube = Kube.connect(kubeconfig=str(lab.kubeconfig), context=None, namespace=None)
        try:
            (ctp,) = kube.list_raw("ClientTrafficPolicy", "default")
            assert kube.list_raw("BackendTrafficPolicy", None) == []
        finally:
            kube.close()
    assert ctp["apiVersion"] == "gateway.envoyproxy.io/v1alpha1"
    assert ctp["spec"]["timeout"]["http"]["streamIdleTimeout"] == "2s"
    (ancestor,) = ctp["status"]["ancestors"]
    assert ancestor["ancestorRef"]["name"] == "eg" and ancestor["conditions"][0]["type"] == "Accepted"


def test_the_emulation_takes_its_timeouts_from_the_objects() -> None:
    """Change the policy and Envoy's behaviour follows (EG translates CTP streamIdleTimeout to the
    HCM's stream_idle_timeout; a BackendTrafficPolicy's streamIdleTimeout is the route's idle
    timeout and comes first; route.go idleTimeout())."""
    sc = SCENARIOS["eg-stream-idle-timeout"]
    with Lab(sc) as lab:
        assert lab._ingress.config.stream_idle_timeout == STREAM_IDLE_TIMEOUT
        objs = [dict(o) for o in lab.objects]
        ctp = next(o for o in objs if o["kind"] == "ClientTrafficPolicy")
        shorter = {**ctp, "spec": {**ctp["spec"], "timeout": {"http": {"streamIdleTimeout": "1s"}}}}
        btp = {"kind": "BackendTrafficPolicy", "apiVersion": "gateway.envoyproxy.io/v1alpha1",
               "metadata": {"name": "ws", "namespace": "default"},
               "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "chatapp"}],
                        "timeout": {"http": {"streamIdleTimeout": "3s"}}}}
        for objects, expect in (([o for o in objs if o is not ctp] + [shorter], 1.0),
                                ([o for o in objs if o is not ctp] + [shorter, btp], 3.0)):
            lab._ingress.reload(envoy_config(objects, flavor="envoy-gateway", backends=lab.backend))
            r = asyncio.run(probe_idle(sc.url, _nodeport(lab), idle=expect + 2, timeout=3))
            assert not r.ok and r.extra["close_code"] == 1006, r
            assert abs(float(r.extra["closed_after_s"]) - expect) < 0.8, (expect, r.extra)
        lab._ingress.reload(envoy_config(objs, flavor="envoy-gateway", backends=lab.backend))
        assert any("ClientTrafficPolicy default/client-timeouts" in line for line in lab._ingress.config.log)


def test_the_request_timeout_comes_from_the_route_or_its_policy() -> None:
    """HTTPRoute `timeouts.request` takes precedence; without it a BackendTrafficPolicy's
    `requestTimeout` applies (getEffectiveRequestTimeout); Envoy answers 504 `upstream request
    timeout` when it fires (flag UT)."""
    sc = SCENARIOS["eg-route-timeout"]
    with Lab(sc) as lab:
        objs = [dict(o) for o in lab.objects]
        route = next(o for o in objs if o["kind"] == "HTTPRoute")
        rules = [{k: v for k, v in r.items() if k != "timeouts"} for r in route["spec"]["rules"]]
        untimed = {**route, "spec": {**route["spec"], "rules": rules}}
        btp = {"kind": "BackendTrafficPolicy", "apiVersion": "gateway.envoyproxy.io/v1alpha1",
               "metadata": {"name": "slow", "namespace": "default"},
               "spec": {"targetRefs": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "chatapp"}],
                        "timeout": {"http": {"requestTimeout": "1500ms"}}}}
        others = [o for o in objs if o is not route]
        for objects, status, took in (([*others, untimed, btp], 504, 1.5), ([*others, untimed], 200, EXPORT_SECONDS),
                                      ([*others, route, btp], 504, REQUEST_TIMEOUT)):
            lab._ingress.reload(envoy_config(objects, flavor="envoy-gateway", backends=lab.backend))
            started = time.monotonic()
            r = asyncio.run(probe_http(sc.url, _nodeport(lab), timeout=5))
            assert r.status_code == status and abs(time.monotonic() - started - took) < 0.6, (status, took, r)
            if status == 504:
                assert r.extra["body_excerpt"] == "upstream request timeout"
                assert " UT " in lab._ingress.access_log[-1]


@pytest.fixture
def eg_crds_not_served(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The lab API server without Envoy Gateway's CRDs: 404 for their paths (a cluster where EG's
    policy CRDs are not installed, or an older EG)."""
    from kdiag.lab.apiserver import request_info

    real = request_info.find_resource
    monkeypatch.setattr(request_info, "find_resource",
                        lambda group, version, plural: None if group == "gateway.envoyproxy.io"
                        else real(group, version, plural))
    yield


def test_a_missing_policy_crd_is_harmless(eg_crds_not_served: None, capsys: pytest.CaptureFixture[str]) -> None:
    """404 on the policy lists: no error, no finding about the read; the cut is still named at the
    gateway, but without a policy to match, kdiag makes no claim about which setting did it."""
    sc = SCENARIOS["eg-stream-idle-timeout"]
    with Lab(sc) as lab:
        code, report = _diagnose(sc, capsys, lab)
        asked = [r.path for r in lab.api.requests if "gateway.envoyproxy.io" in r.path]
    assert asked and code == 1
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == ("gateway", "websocket-idle-disconnect")
    assert not [f for f in report["findings"] if f["check"] == "source-read-forbidden"]


def test_forbidden_policy_reads_degrade_to_info(capsys: pytest.CaptureFixture[str]) -> None:
    sc = replace(SCENARIOS["eg-stream-idle-timeout"],
                 forbidden=(("list", "clienttrafficpolicies", "*"), ("list", "backendtrafficpolicies", "*")))
    code, report = _diagnose(sc, capsys)
    assert code == 1 and report["verdict"]["check"] == "websocket-idle-disconnect"
    denied = [f for f in report["findings"] if f["check"] == "source-read-forbidden"]
    assert denied and all(f["severity"] == "info" for f in denied)


def _targeted(name: str) -> tuple[Any, list[str]]:
    from kdiag.kube import Kube
    from kdiag.route import parse_target
    from kdiag.sources.targeted import load_route

    sc = SCENARIOS[name]
    with Lab(sc) as lab:
        kube = Kube.connect(kubeconfig=str(lab.kubeconfig), context=None, namespace=None)
        lab.api.clear_requests()
        try:
            snap = load_route(kube, parse_target(sc.url, {}))
        finally:
            kube.close()
        return snap, [r.path for r in lab.api.requests]


def test_targeted_reads_list_the_policies_only_for_envoy_gateway() -> None:
    """One list per policy kind in the Gateway's and the route's namespace (both `default` here);
    none for another data plane's route."""
    snap, paths = _targeted("eg-stream-idle-timeout")
    eg = [p for p in paths if "gateway.envoyproxy.io" in p]
    assert sorted(eg) == ["/apis/gateway.envoyproxy.io/v1alpha1/namespaces/default/backendtrafficpolicies",
                          "/apis/gateway.envoyproxy.io/v1alpha1/namespaces/default/clienttrafficpolicies"]
    assert [o["metadata"]["name"] for o in snap.list("ClientTrafficPolicy")] == ["client-timeouts"]
    assert snap.scope is not None and snap.scope.covers("ClientTrafficPolicy", "default", "client-timeouts")
    _, ngf_paths = _targeted("gw-healthy")
    assert not [p for p in ngf_paths if "gateway.envoyproxy.io" in p]


def test_the_full_snapshot_reads_the_policies_once() -> None:
    """`load_cluster` (the TUI's snapshot): one cluster-wide list per kind, since a GatewayClass
    names Envoy Gateway."""
    from kdiag.kube import Kube
    from kdiag.sources.cluster import load_cluster

    sc = SCENARIOS["eg-stream-idle-timeout"]
    with Lab(sc) as lab:
        kube = Kube.connect(kubeconfig=str(lab.kubeconfig), context=None, namespace=None)
        lab.api.clear_requests()
        try:
            snap = load_cluster(kube)
        finally:
            kube.close()
        paths = [r.path for r in lab.api.requests if "gateway.envoyproxy.io" in r.path]
    assert sorted(paths) == ["/apis/gateway.envoyproxy.io/v1alpha1/backendtrafficpolicies",
                             "/apis/gateway.envoyproxy.io/v1alpha1/clienttrafficpolicies"]
    assert len(snap.list("ClientTrafficPolicy")) == 1
