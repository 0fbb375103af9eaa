"""The Gateway API scenarios on the lab: the fake API server serves them with status (official client and
real kubectl), and the Gateway data plane answers each scenario's request the way its story says."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from kdiag.lab.gateway_scenarios import GATEWAY, GATEWAY_NS
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS, Scenario

GW_SCENARIOS = [n for n, s in SCENARIOS.items() if s.kind == "gateway"]
GROUP = "gateway.networking.k8s.io"


def require_kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is required in CI but was not found")
        pytest.skip("kubectl not installed")
    return path


def _kubectl(lab: Lab, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_kubectl(), "--kubeconfig", str(lab.kubeconfig), *args],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def refgrant_lab() -> Iterator[Lab]:
    with Lab(SCENARIOS["gw-refgrant-missing"]) as lab:
        yield lab


def test_at_least_five_gateway_scenarios_with_their_story() -> None:
    assert {"gw-healthy", "gw-route-not-accepted", "gw-refgrant-missing", "gw-header-broken-backend",
            "gw-idle-timeout"} <= set(GW_SCENARIOS)
    from kdiag.lab.demo import scenario_table

    table = scenario_table()
    for name in GW_SCENARIOS:
        sc = SCENARIOS[name]
        assert sc.story in table
        if sc.expect_check:
            assert f"{sc.expect_hop} / {sc.expect_check}" in table


def test_official_client_reads_gateway_api_with_status(refgrant_lab: Lab) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=str(refgrant_lab.kubeconfig))
    try:
        custom = client.CustomObjectsApi(api)
        classes = custom.list_cluster_custom_object(GROUP, "v1", "gatewayclasses", _request_timeout=5)["items"]
        assert [c["metadata"]["name"] for c in classes] == ["nginx"]
        assert classes[0]["status"]["conditions"][0]["reason"] == "Accepted"
        gw = custom.get_namespaced_custom_object(GROUP, "v1", GATEWAY_NS, "gateways", GATEWAY, _request_timeout=5)
        assert gw["status"]["listeners"][0]["attachedRoutes"] == 1
        routes = custom.list_namespaced_custom_object(GROUP, "v1", "default", "httproutes", _request_timeout=5)["items"]
        [route] = routes
        conds = {c["type"]: c for c in route["status"]["parents"][0]["conditions"]}
        assert (conds["Accepted"]["status"], conds["ResolvedRefs"]["status"]) == ("True", "False")
        assert conds["ResolvedRefs"]["reason"] == "RefNotPermitted"
        # label selectors work on Gateway API objects like on any other
        picked = custom.list_namespaced_custom_object(GROUP, "v1", GATEWAY_NS, "gateways",
                                                      label_selector="nope=1", _request_timeout=5)["items"]
        assert picked == []
        # ReferenceGrant is served in v1 and v1beta1 (none exist in this scenario: the story)
        for version in ("v1", "v1beta1"):
            grants = custom.list_cluster_custom_object(GROUP, version, "referencegrants", _request_timeout=5)
            assert grants["items"] == []
        resources = client.CustomObjectsApi(api).get_api_resources(GROUP, "v1beta1", _request_timeout=5)
        assert [r.name for r in resources.resources] == ["referencegrants"]
    finally:
        api.close()


@pytest.mark.kubectl
def test_kubectl_gets_gateway_api_tables(refgrant_lab: Lab) -> None:
    r = _kubectl(refgrant_lab, "get", "gateways,httproutes", "-A")
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if line.strip()]
    assert ["NAMESPACE", "NAME", "CLASS", "ADDRESS", "PROGRAMMED", "AGE"] == rows[0]
    assert rows[1][:5] == [GATEWAY_NS, f"gateway.gateway.networking.k8s.io/{GATEWAY}", "nginx", "127.0.0.1", "True"]
    assert ["NAMESPACE", "NAME", "HOSTNAMES", "AGE"] in rows
    assert ["default", "httproute.gateway.networking.k8s.io/chatapp", '["chatapp.com"]'] == rows[-1][:3]
    r = _kubectl(refgrant_lab, "get", "gatewayclass")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[:7] == ["NAME", "CONTROLLER", "ACCEPTED", "AGE", "nginx",
                                    "gateway.nginx.org/nginx-gateway-controller", "True"]
    r = _kubectl(refgrant_lab, "get", "gtw", "-n", GATEWAY_NS, "-o", "jsonpath={.items[0].status.conditions[*].type}")
    assert r.returncode == 0 and r.stdout == "Accepted Programmed", r.stderr
    r = _kubectl(refgrant_lab, "get", "refgrant", "-A")
    assert r.returncode == 0 and "No resources found" in r.stderr, (r.stdout, r.stderr)
    r = _kubectl(refgrant_lab, "get", "httproute", "chatapp", "-o", "json")
    status = json.loads(r.stdout)["status"]["parents"][0]
    assert status["controllerName"] == "gateway.nginx.org/nginx-gateway-controller"


# -- each scenario's data plane tells its story ---------------------------------------------------

async def _observe(sc: Scenario, lab: Lab) -> dict[str, Any]:
    from kdiag.endpoint import Endpoint
    from kdiag.probes.http import probe_http
    from kdiag.probes.idle import probe_idle
    from kdiag.probes.websocket import probe_websocket
    from kdiag.route import parse_target

    target = parse_target(sc.url, sc.headers)
    ep = Endpoint(host="127.0.0.1", port=lab.ingress_port, via="nodeport", label="lab gateway", sni=target.host)
    if target.websocket:
        r = await probe_websocket(sc.url, ep, headers=dict(sc.headers), timeout=3)
        seen: dict[str, Any] = {"status": r.status_code}
        if sc.idle and r.ok:
            idle = await probe_idle(sc.url, ep, idle=sc.idle, headers=dict(sc.headers), timeout=3)
            seen["idle_open"] = idle.ok
        return seen
    r = await probe_http(sc.url, ep, headers=dict(sc.headers), timeout=3)
    seen = {"status": r.status_code}
    plain = await probe_http(sc.url, ep, timeout=3)  # the same request without the scenario's headers
    seen["without_headers"] = plain.status_code
    return seen


STORIES = {
    "gw-healthy": {"status": 101},
    "gw-route-not-accepted": {"status": 404, "without_headers": 404},  # no server for the host (not attached)
    "gw-refgrant-missing": {"status": 500, "without_headers": 500},  # NGF: invalid backendRef → 500
    "gw-header-broken-backend": {"status": 502, "without_headers": 200},  # the header match → refusing pod
    "gw-idle-timeout": {"status": 101, "idle_open": False},  # cut by the ProxySettingsPolicy read timeout
    # Envoy Gateway (kdiag.lab.gateway_timeout_scenarios), gateway-controllers-facts.md "Envoy Gateway":
    "eg-route-timeout": {"status": 504, "without_headers": 504},  # HTTPRoute timeouts.request → 504
    "eg-stream-idle-timeout": {"status": 101, "idle_open": False},  # ClientTrafficPolicy streamIdleTimeout → reset
    # EG rejects an ExternalName backendRef: a 500 direct response (kdiag.lab.gateway.controller._external_name)
    "gw-externalname-backend": {"status": 500, "without_headers": 500},
}


@pytest.mark.parametrize("name", GW_SCENARIOS)
def test_the_data_plane_answers_as_the_story_says(name: str) -> None:
    sc = SCENARIOS[name]
    with Lab(sc) as lab:
        seen = asyncio.run(_observe(sc, lab))
    assert seen == STORIES[name]


def test_the_data_plane_service_is_the_gateways_nodeport() -> None:
    """kdiag's gateway hop reaches the data plane through the Service NGF labels with the Gateway's name."""
    with Lab(SCENARIOS["gw-healthy"]) as lab:
        svc = next(o for o in lab.objects if o["kind"] == "Service"
                   and o["metadata"]["labels"].get("gateway.networking.k8s.io/gateway-name") == GATEWAY)
        assert svc["spec"]["ports"][0]["nodePort"] == lab.ingress_port
        assert svc["metadata"]["namespace"] == GATEWAY_NS
