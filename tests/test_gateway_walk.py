"""End to end on the lab: a Gateway API route walked through the fake API server and real loopback apps.

The fake API server serves GatewayClass/Gateway/HTTPRoute with status; the gateway hop is sent
with `--connect-to` to a loopback listener (the lab's Gateway data plane is another issue's), the
Service hop through the API server's service proxy and the pod hop through port-forward.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest

from kdiag.cli import main
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import CHAT_PODS, HOST, SCENARIOS

NGF = "gateway.nginx.org/nginx-gateway-controller"
OK = [{"type": "Accepted", "status": "True", "reason": "Accepted"},
      {"type": "Programmed", "status": "True", "reason": "Programmed"}]


def _gateway_objects(*, backend: str = "chatapp-svc", accepted: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    md = {"creationTimestamp": "2026-11-01T10:00:00Z"}
    parent_conds = [accepted or {"type": "Accepted", "status": "True", "reason": "Accepted"},
                    {"type": "ResolvedRefs", "status": "True", "reason": "ResolvedRefs"}]
    return [
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "nginx", **md},
         "spec": {"controllerName": NGF}, "status": {"conditions": OK[:1]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
         "metadata": {"name": "gw", "namespace": "default", **md},
         "spec": {"gatewayClassName": "nginx",
                  "listeners": [{"name": "http", "port": 80, "protocol": "HTTP", "hostname": HOST}]},
         "status": {"addresses": [{"type": "IPAddress", "value": "127.0.0.1"}], "conditions": OK,
                    "listeners": [{"name": "http", "attachedRoutes": 1, "conditions": OK}]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": "chat", "namespace": "default", **md},
         "spec": {"parentRefs": [{"name": "gw", "sectionName": "http"}], "hostnames": [HOST],
                  "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/wss"}}],
                             "backendRefs": [{"name": backend, "port": 3003}]},
                            {"backendRefs": [{"name": backend, "port": 3001}]}]},
         "status": {"parents": [{"parentRef": {"name": "gw", "sectionName": "http"}, "controllerName": NGF,
                                 "conditions": parent_conds}]}},
    ]


def _walk(objects: list[dict[str, Any]], capsys: pytest.CaptureFixture[str], *, pod_port: int | None = 3002
          ) -> tuple[int, dict[str, Any]]:
    base = SCENARIOS["healthy"]
    kept = tuple(o for o in base.objects if o.get("kind") != "Ingress")
    sc = replace(base, name="gateway-e2e", objects=kept + tuple(objects), url=f"ws://{HOST}/wss")
    with Lab(sc) as lab:
        if pod_port is None:
            addr = ("127.0.0.1", lab.backend("default", "no-such-pod", 1)[1])  # a closed loopback port
        else:
            found = lab.backend("default", f"chatapp-7d9c5b8f6-{CHAT_PODS[0]}", pod_port)
            assert found is not None
            addr = found
        code = main(["diagnose", sc.url, "--kubeconfig", str(lab.kubeconfig), "--format", "json", "--timeout", "3",
                     "-q", "--connect-to", f"{HOST}:80:{addr[0]}:{addr[1]}"])
    return code, json.loads(capsys.readouterr().out)


def test_a_working_gateway_route_walks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _walk(_gateway_objects(), capsys)
    route = report["route"]
    assert (route["kind"], route["gateway"], route["listener"], route["httproute"]) == (
        "HTTPRoute", "default/gw", "http", "default/chat")
    assert route["rule"]["index"] == 0 and route["service"] == "default/chatapp-svc" and route["port"] == 3003
    assert route["dataplane"] == {"controller": NGF, "profile": "nginx-gateway-fabric"}
    assert [h["hop"] for h in report["hops"]] == ["client", "gateway", "service", "endpoints", "pod"]
    gateway = next(h for h in report["hops"] if h["hop"] == "gateway")
    assert gateway["status"] == "ok" and gateway["probes"][0]["status_code"] == 101
    assert code == 0, report["verdict"]
    assert not [f for f in report["findings"] if f["severity"] == "error"]


def test_a_backend_ref_to_the_deployment_is_named_at_the_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _walk(_gateway_objects(backend="chatapp"), capsys, pod_port=None)
    assert code == 1
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == ("gateway", "route-backend-not-found")


def test_a_route_the_gateway_refuses_is_named_from_its_status(capsys: pytest.CaptureFixture[str]) -> None:
    refused = {"type": "Accepted", "status": "False", "reason": "NotAllowedByListeners", "message": "ns"}
    code, report = _walk(_gateway_objects(accepted=refused), capsys, pod_port=None)
    assert code == 1
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == ("gateway", "route-not-accepted")
    f = next(f for f in report["findings"] if f["check"] == "route-not-accepted")
    assert "status and kdiag disagree" in f["message"]


def test_the_probes_send_the_method_of_x(capsys: pytest.CaptureFixture[str]) -> None:
    """`-X POST` drives HTTPRoute method matches, so the probes must send POST too (like curl -X):
    a GET could match another rule, or none. The API server's service proxy only ever gets GET."""
    sc = SCENARIOS["gw-healthy"]
    with Lab(sc) as lab:
        code = main(["diagnose", f"http://{HOST}/api", "-X", "POST", "-o", "json", "--timeout", "3", "-q",
                     "--kubeconfig", str(lab.kubeconfig)])
    report = json.loads(capsys.readouterr().out)
    probes = [p for h in report["hops"] for p in h["probes"] if p["kind"] == "http"]
    sent = {p["via"]: p.get("request", "").split(" ", 1)[0] for p in probes}
    # through the API server's service proxy kdiag only reads: GET there, POST everywhere else
    assert sent and all(m == ("GET" if via == "service-proxy" else "POST") for via, m in sent.items()), sent
    assert "POST" in sent.values() and "service-proxy" in sent, sent
    assert code == 0, report["verdict"]


def test_a_gateway_walk_reads_only_its_route() -> None:
    """Targeted reads for a Gateway API URL: the routes and Gateways cluster-wide (a few objects),
    then the matched backends and the Gateway's data plane by name or label — never a whole
    namespace of Pods, Services or EndpointSlices."""
    from kdiag.kube import Kube
    from kdiag.route import parse_target
    from kdiag.sources.targeted import load_route

    sc = SCENARIOS["gw-healthy"]
    with Lab(sc) as lab:
        server = lab.api
        kube = Kube.connect(kubeconfig=str(lab.kubeconfig), context=None, namespace=None)
        server.clear_requests()
        try:
            snap = load_route(kube, parse_target(sc.url, {}))
        finally:
            kube.close()
        requests = list(server.requests)
    assert snap.list("HTTPRoute") and snap.list("Gateway") and snap.list("GatewayClass")
    assert snap.list("Service", "default") and snap.list("Pod", "default")
    for r in requests:
        if r.path.endswith(("/pods", "/services", "/endpointslices")):
            assert r.query.get("labelSelector"), f"an unselected list: {r.path}"
    assert len(requests) <= 20, [(r.path, r.query.get("labelSelector")) for r in requests]


def _broken(case: str) -> list[dict[str, Any]]:
    """`_gateway_objects()` broken the way one Gateway check describes."""
    objs = _gateway_objects()
    gc, gw, route = objs
    if case == "gateway-class-not-accepted":
        gc["status"] = {"conditions": [{"type": "Accepted", "status": "False", "reason": "InvalidParameters",
                                        "message": "parametersRef not found"}]}
    elif case == "gateway-not-programmed":
        gw["status"] = {"conditions": [OK[0], {"type": "Programmed", "status": "False", "reason": "AddressNotAssigned",
                                               "message": "no address"}],
                        "listeners": [{"name": "http", "attachedRoutes": 1, "conditions": OK}]}
    elif case == "gateway-listener-invalid":
        gw["status"]["listeners"] = [{"name": "http", "attachedRoutes": 0, "conditions": [
            {"type": "Accepted", "status": "False", "reason": "UnsupportedProtocol", "message": "no"},
            {"type": "Conflicted", "status": "True", "reason": "HostnameConflict", "message": "two listeners"}]}]
    elif case == "route-parent-missing":
        route["spec"]["parentRefs"] = [{"name": "no-such-gateway"}]
        route["status"] = {"parents": []}
    elif case == "route-no-rule-matches":
        route["spec"]["rules"] = [{"matches": [{"path": {"type": "Exact", "value": "/elsewhere"}}],
                                   "backendRefs": [{"name": "chatapp-svc", "port": 3001}]}]
    elif case == "route-backend-weights-zero":
        for rule in route["spec"]["rules"]:
            for ref in rule["backendRefs"]:
                ref["weight"] = 0
    return objs


@pytest.mark.parametrize("case", ["gateway-class-not-accepted", "gateway-not-programmed", "gateway-listener-invalid",
                                  "route-parent-missing", "route-no-rule-matches", "route-backend-weights-zero"])
def test_each_broken_gateway_case_is_named_at_the_gateway(case: str, capsys: pytest.CaptureFixture[str]) -> None:
    """On the lab (fake API server with status, real loopback apps; the gateway hop refuses, as a
    data plane without this route would), each Gateway API check names the gateway hop."""
    code, report = _walk(_broken(case), capsys, pod_port=None)
    assert code == 1, report["verdict"]
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == ("gateway", case), (
        report["verdict"], [(f["check"], f["severity"]) for f in report["findings"]])


def _envoy_walk(capsys: pytest.CaptureFixture[str], *, strip_upgrades: bool = False,
                stream_idle_timeout: float | None = None, idle: float | None = None) -> tuple[int, dict[str, Any]]:
    """The Gateway route of `_gateway_objects` served by Envoy Gateway, its data plane being the
    lab's Envoy emulation (kdiag.lab.envoy), reached with --connect-to."""
    from kdiag.lab.envoy import EnvoyEmulation, envoy_config

    objects = _gateway_objects()
    objects[0]["spec"]["controllerName"] = "gateway.envoyproxy.io/gatewayclass-controller"
    base = SCENARIOS["healthy"]
    kept = tuple(o for o in base.objects if o.get("kind") != "Ingress")
    sc = replace(base, name="gateway-envoy", objects=kept + tuple(objects), url=f"ws://{HOST}/wss")
    with Lab(sc) as lab:
        config = envoy_config(lab.objects, flavor="envoy-gateway", backends=lab.backend,
                              stream_idle_timeout=stream_idle_timeout)
        if strip_upgrades:  # a route whose upgrade config names no websocket (an httpUpgrade list without it)
            config = replace(config, virtual_hosts=tuple(
                replace(v, routes=tuple(replace(r, upgrades=()) for r in v.routes))
                for v in config.virtual_hosts))
        envoy = EnvoyEmulation(config)
        envoy.start()
        try:
            argv = ["diagnose", sc.url, "--kubeconfig", str(lab.kubeconfig), "--format", "json", "--timeout", "3",
                    "-q", "--connect-to", f"{HOST}:80:127.0.0.1:{envoy.http_port}"]
            code = main([*argv, "--idle", str(idle)] if idle else argv)
        finally:
            envoy.stop()
    return code, json.loads(capsys.readouterr().out)


def test_envoy_refusing_the_upgrade_is_named_at_the_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    """Envoy answers 403 to an upgrade its route has no upgrade config for (its upgrade_failed)."""
    code, report = _envoy_walk(capsys, strip_upgrades=True)
    assert code == 1
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == ("gateway", "gateway-websocket-upgrade-disabled"), (
        report["verdict"], report["hops"])


def test_envoy_with_upgrades_walks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = _envoy_walk(capsys)
    assert code == 0, report["verdict"]
    assert report["route"]["dataplane"]["profile"] == "envoy-gateway"


def test_envoy_closing_an_idle_stream_is_named_at_the_gateway(capsys: pytest.CaptureFixture[str]) -> None:
    """Envoy resets a stream idle for its stream_idle_timeout (5 min by default; 1 s here, set where
    the cluster's objects do not show it: so no configured layer matches the cut, and kdiag names the
    idle disconnect at the gateway hop without claiming which setting did it)."""
    code, report = _envoy_walk(capsys, stream_idle_timeout=1.0, idle=3)
    assert code == 1
    assert report["verdict"]["hop"] == "gateway", report["verdict"]
    assert report["verdict"]["check"] == "websocket-idle-disconnect", report["verdict"]
