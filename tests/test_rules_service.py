"""Service and endpoints rules over manifests and live-like snapshots (EndpointSlices derived like the controller)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import yaml

from kdiag.lab.world import derive_endpoint_slices, derive_endpoints
from kdiag.model import Finding, SourceInfo
from kdiag.rules import RuleContext, run_rules
from kdiag.rules.service import describe_views, ingress_backends, near_misses
from kdiag.snapshot import PodView, Snapshot
from kdiag.sources.manifests import load_manifest_text


def snap_of(text: str, *, live: bool = False, derive: bool = False, legacy: bool = False) -> Snapshot:
    snap = load_manifest_text(text, path="t.yaml")
    objects = list(snap.objects)
    if derive:
        objects += derive_endpoints(objects) if legacy else derive_endpoint_slices(objects)
    return dataclasses.replace(snap, objects=tuple(objects),
                               source=SourceInfo(kind="cluster" if live else "manifests"))


def run(check: str, snap: Snapshot) -> list[Finding]:
    return [f for f in run_rules(RuleContext(snap), only=[check]) if f.check == check]


def deployment(name: str, labels: dict[str, str], *, ports: list[dict[str, Any]] | None = None,
               replicas: int = 1, kind: str = "Deployment", env: list[dict[str, str]] | None = None,
               init: list[dict[str, Any]] | None = None) -> str:
    container: dict[str, Any] = {"name": name, "image": f"{name}:1"}
    if ports is not None:
        container["ports"] = ports
    if env:
        container["env"] = env
    spec: dict[str, Any] = {"containers": [container]}
    if init:
        spec["initContainers"] = init
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
        "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels}, "spec": spec}},
    })


def service(name: str, selector: dict[str, str] | None, ports: list[dict[str, Any]], **spec: Any) -> str:
    body: dict[str, Any] = {"ports": ports, **spec}
    if selector is not None:
        body["selector"] = selector
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body})


def pod(name: str, labels: dict[str, str], *, ready: bool, ports: list[dict[str, Any]] | None = None,
        terminating: bool = False, ip: str = "10.244.1.7") -> str:
    md: dict[str, Any] = {"name": name, "labels": labels}
    if terminating:
        md["deletionTimestamp"] = "2026-11-20T09:10:00Z"
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": md,
        "spec": {"containers": [{"name": "app", "image": "app:1", "ports": ports or []}]},
        "status": {"phase": "Running", "podIP": ip,
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    })


def docs(*parts: str) -> str:
    return "\n---\n".join(parts)


# -- service-selector-matches-no-pods ----------------------------------------------------------

SELECTOR_CASES = [
    pytest.param(
        docs(service("http", {"serverType": "http", "version": "1.0.0000"}, [{"port": 80}]),
             deployment("http-1-0-1", {"serverType": "http", "version": "1.0.0001"})),
        "error", ["version=1.0.0001 (selector wants version=1.0.0000)", "Deployment default/http-1-0-1"],
        id="version-drift"),
    pytest.param(
        docs(service("chat", {"app": "chatapp-deployment"}, [{"port": 80}]),
             deployment("chatapp-deployment", {"app": "chatapp"})),
        "error", ["is the name of Deployment default/chatapp-deployment", "labelled app=chatapp"],
        id="selector-names-workload"),
    pytest.param(
        docs(service("web", {"app": "web", "tier": "front"}, [{"port": 80}]),
             deployment("web", {"app": "web"})),
        "error", ["has no label tier (selector wants tier=front)"], id="missing-label"),
    pytest.param(
        service("web", {"app": "web"}, [{"port": 80}]),
        "info", ["cannot verify statically"], id="manifests-without-workloads"),
]


@pytest.mark.parametrize(("text", "severity", "fragments"), SELECTOR_CASES)
def test_selector_matches_no_pods_fires(text: str, severity: str, fragments: list[str]) -> None:
    got = run("service-selector-matches-no-pods", snap_of(text))
    assert len(got) == 1
    assert got[0].severity == severity
    for frag in fragments:
        assert frag in got[0].message


@pytest.mark.parametrize("text", [
    pytest.param(docs(service("web", {"app": "web"}, [{"port": 80}]),
                      deployment("web", {"app": "web", "extra": "x"})), id="subset-matches"),
    pytest.param(service("ext", None, [{"port": 80}]), id="no-selector"),
    pytest.param(docs(service("web", {"app": "web"}, [{"port": 80}]),
                      deployment("web", {"app": "web"}, kind="Rollout").replace("apps/v1", "argoproj.io/v1alpha1")),
                 id="custom-workload"),
    pytest.param(docs(service("batch", {"job": "x"}, [{"port": 80}]), yaml.safe_dump({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "x"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": {
            "metadata": {"labels": {"job": "x"}}, "spec": {"containers": [{"name": "c", "image": "c"}]}}}}}})),
                 id="cronjob"),
    pytest.param(docs(yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db"},
                                      "spec": {"type": "ExternalName", "externalName": "db.example.com",
                                               "selector": {"app": "nothing"}}}),
                      deployment("web", {"app": "web"})), id="external-name"),
])
def test_selector_matches_no_pods_quiet(text: str) -> None:
    assert run("service-selector-matches-no-pods", snap_of(text)) == []


def test_selector_live_no_pods_in_namespace_is_an_error() -> None:
    got = run("service-selector-matches-no-pods",
              snap_of(service("web", {"app": "web"}, [{"port": 80}]), live=True))
    assert [f.severity for f in got] == ["error"]
    assert "no pods at all" in got[0].message


def test_selector_live_template_only_match_means_no_pod_exists() -> None:
    text = docs(service("web", {"app": "web"}, [{"port": 80}]),
                deployment("web", {"app": "web"}, replicas=0),
                pod("other-1", {"app": "other"}, ready=True))
    got = run("service-selector-matches-no-pods", snap_of(text, live=True))
    assert len(got) == 1 and "no pod of it exists" in got[0].message
    # the same objects as manifests: a template match is enough
    assert run("service-selector-matches-no-pods", snap_of(text)) == []


def test_near_misses_prefers_fewest_differences_and_needs_a_shared_label() -> None:
    views = [
        PodView("a", "default", {"app": "web", "version": "2"}, {}),
        PodView("b", "default", {"app": "api", "version": "2"}, {}),
        PodView("c", "default", {"team": "x"}, {}),
    ]
    got = near_misses({"app": "web", "version": "1"}, views)
    assert [v.name for v, _ in got] == ["a"]
    assert got[0][1] == ["has version=2 (selector wants version=1)"]
    assert near_misses({"zone": "z"}, views) == []


# -- service-target-port-mismatch ----------------------------------------------------------------

P3000 = [{"name": "web", "containerPort": 3000}, {"name": "ws", "containerPort": 3002}]


@pytest.mark.parametrize(("svc_ports", "pod_ports", "severity", "fragments"), [
    pytest.param([{"name": "ws", "port": 3003, "targetPort": 5003}], P3000, "error",
                 ["targetPort 5003/TCP", "declares 3000 (web), 3002 (ws)", "targetPort: ws"], id="seed-000"),
    pytest.param([{"port": 3000, "targetPort": 8080}], P3000, "error",
                 ["did you mean targetPort: 3000?"], id="service-port-is-container-port"),
    pytest.param([{"port": 53, "protocol": "UDP"}], [{"containerPort": 53}], "error",
                 ["53/UDP"], id="protocol-differs"),
    pytest.param([{"port": 3001, "targetPort": 5001}], None, "info",
                 ["no containerPorts are declared in Deployment default/chat (pod template)", "a probe can"],
                 id="no-ports-declared"),
])
def test_target_port_mismatch_fires(svc_ports: list[dict[str, Any]], pod_ports: list[dict[str, Any]] | None,
                                    severity: str, fragments: list[str]) -> None:
    text = docs(service("chat", {"app": "chat"}, svc_ports), deployment("chat", {"app": "chat"}, ports=pod_ports))
    got = run("service-target-port-mismatch", snap_of(text))
    assert [f.severity for f in got] == [severity]
    for frag in fragments:
        assert frag in got[0].message
    assert got[0].evidence["location"] == "t.yaml:1"


@pytest.mark.parametrize(("svc_ports", "pod_ports", "init"), [
    pytest.param([{"port": 80, "targetPort": 3000}], P3000, None, id="declared"),
    pytest.param([{"port": 3002}], P3000, None, id="target-defaults-to-port"),
    pytest.param([{"port": 80, "targetPort": "3000"}], P3000, None, id="numeric-string"),
    pytest.param([{"port": 80, "targetPort": "web"}], P3000, None, id="named-is-other-check"),
    pytest.param([{"port": 9000}], P3000,
                 [{"name": "proxy", "image": "p", "restartPolicy": "Always", "ports": [{"containerPort": 9000}]}],
                 id="sidecar-init-container"),
])
def test_target_port_mismatch_quiet(svc_ports: list[dict[str, Any]], pod_ports: list[dict[str, Any]],
                                    init: list[dict[str, Any]] | None) -> None:
    text = docs(service("chat", {"app": "chat"}, svc_ports),
                deployment("chat", {"app": "chat"}, ports=pod_ports, init=init))
    assert run("service-target-port-mismatch", snap_of(text)) == []


def test_target_port_mismatch_on_live_pods_names_them_once() -> None:
    text = docs(service("chat", {"app": "chat"}, [{"port": 80, "targetPort": 5001}]),
                pod("chat-1", {"app": "chat"}, ready=True, ports=[{"containerPort": 3000}]),
                pod("chat-2", {"app": "chat"}, ready=True, ports=[{"containerPort": 3000}], ip="10.244.1.8"))
    got = run("service-target-port-mismatch", snap_of(text, live=True))
    assert len(got) == 1
    assert "Pod default/chat-1" in got[0].message and "Pod default/chat-2" in got[0].message


def test_describe_views_groups_live_pods_by_workload() -> None:
    owner = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "default"}}
    pods = [PodView(f"web-{i}", "default", {}, {}, pod={"kind": "Pod", "metadata": {"name": f"web-{i}", "namespace": "default"}},
                    owner=owner) for i in range(3)]
    lone = PodView("solo", "default", {}, {}, pod={"kind": "Pod", "metadata": {"name": "solo", "namespace": "default"}})
    tmpl = PodView("db", "default", {}, {}, owner={"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"}})
    assert describe_views(pods + [lone, tmpl]) == (
        "the 3 pods of Deployment default/web, Pod default/solo, StatefulSet default/db (pod template)")
    assert describe_views(pods[:1]) == "Pod default/web-0"
    assert describe_views([lone, tmpl], limit=1) == "Pod default/solo and 1 more"


def test_target_port_mismatch_fix_shows_the_corrected_port() -> None:
    text = docs(service("chat", {"app": "chat"}, [{"name": "ws", "port": 3003, "targetPort": 5003}]),
                deployment("chat", {"app": "chat"}, ports=P3000))
    (finding,) = run("service-target-port-mismatch", snap_of(text))
    assert finding.fix.startswith("In Service default/chat:")
    snippet = finding.fix.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(snippet) == {"ports": [{"name": "ws", "port": 3003, "targetPort": "ws"}]}
    assert "containerPort 3002 of container 'chat'" in snippet


# -- service-named-port-unresolved ---------------------------------------------------------------

@pytest.mark.parametrize(("svc_port", "pod_ports", "fragment"), [
    pytest.param({"name": "http", "port": 80, "targetPort": "http"}, [{"name": "web", "containerPort": 8080}],
                 "'http' is a Service port name", id="service-port-name"),
    pytest.param({"port": 80, "targetPort": "HTTP"}, [{"name": "http", "containerPort": 8080}],
                 "case-sensitive", id="case"),
    pytest.param({"port": 53, "targetPort": "dns", "protocol": "UDP"}, [{"name": "dns", "containerPort": 53}],
                 "the containerPort 'dns' is TCP", id="protocol"),
    pytest.param({"port": 80, "targetPort": "http"}, None, "declares no containerPorts at all", id="no-ports"),
])
def test_named_port_unresolved_fires(svc_port: dict[str, Any], pod_ports: list[dict[str, Any]] | None,
                                     fragment: str) -> None:
    text = docs(service("web", {"app": "web"}, [svc_port]), deployment("web", {"app": "web"}, ports=pod_ports))
    got = run("service-named-port-unresolved", snap_of(text))
    assert len(got) == 1 and got[0].severity == "error"
    assert fragment in got[0].message
    assert "silently leaves this port out" in got[0].message


@pytest.mark.parametrize(("target", "ports", "expect_omitted"), [
    ("http", [{"name": "http", "containerPort": 8080}], False),
    ("http", [{"name": "web", "containerPort": 8080}], True),
    ("Http", [{"name": "http", "containerPort": 8080}], True),
    (8080, [{"name": "web", "containerPort": 9090}], False),  # numbers are never omitted
])
def test_named_port_check_agrees_with_the_endpointslice_controller(
        target: Any, ports: list[dict[str, Any]], expect_omitted: bool) -> None:
    text = docs(service("web", {"app": "web"}, [{"name": "p", "port": 80, "targetPort": target}]),
                pod("web-1", {"app": "web"}, ready=True, ports=ports))
    snap = snap_of(text, live=True, derive=True)
    (sl,) = snap.list("EndpointSlice")
    omitted = not sl["ports"]
    assert omitted is expect_omitted
    assert bool(run("service-named-port-unresolved", snap)) is expect_omitted


# -- service-no-ready-endpoints ------------------------------------------------------------------

SVC = service("web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": 8080}])


@pytest.mark.parametrize(("pods", "legacy", "fragments"), [
    pytest.param([pod("web-1", {"app": "web"}, ready=False), pod("web-2", {"app": "web"}, ready=False, ip="10.244.1.8")],
                 False, ["2 endpoints in its EndpointSlices", "2 not ready", "web-1, web-2"], id="all-unready"),
    pytest.param([pod("web-1", {"app": "web"}, ready=True, terminating=True)],
                 False, ["1 terminating, 1 of them still serving"], id="terminating"),
    pytest.param([pod("web-1", {"app": "web"}, ready=False)],
                 True, ["in its Endpoints", "1 not ready"], id="legacy-endpoints"),
])
def test_no_ready_endpoints_fires(pods: list[str], legacy: bool, fragments: list[str]) -> None:
    snap = snap_of(docs(SVC, *pods), live=True, derive=True, legacy=legacy)
    got = run("service-no-ready-endpoints", snap)
    assert len(got) == 1 and got[0].object == "Service default/web"
    for frag in fragments:
        assert frag in got[0].message
    assert got[0].evidence["ready"] == 0


@pytest.mark.parametrize("text", [
    pytest.param(docs(SVC, pod("web-1", {"app": "web"}, ready=True),
                      pod("web-2", {"app": "web"}, ready=False, ip="10.244.1.8")), id="one-ready"),
    pytest.param(docs(SVC, pod("other", {"app": "other"}, ready=False)), id="no-endpoints-at-all"),
    pytest.param(docs(service("web", {"app": "web"}, [{"port": 80}], publishNotReadyAddresses=True),
                      pod("web-1", {"app": "web"}, ready=False)), id="publish-not-ready"),
])
def test_no_ready_endpoints_quiet(text: str) -> None:
    assert run("service-no-ready-endpoints", snap_of(text, live=True, derive=True)) == []


def test_no_ready_endpoints_quiet_on_manifests_without_endpoints() -> None:
    assert run("service-no-ready-endpoints", snap_of(docs(SVC, deployment("web", {"app": "web"})))) == []


# -- service-session-affinity-needed -------------------------------------------------------------

def ingress(name: str, backend: str, *, path: str = "/", annotations: dict[str, str] | None = None,
            cls: str | None = "nginx") -> str:
    spec: dict[str, Any] = {"rules": [{"host": "ws.example.com", "http": {"paths": [
        {"path": path, "pathType": "Prefix", "backend": {"service": {"name": backend, "port": {"number": 80}}}}]}}]}
    if cls:
        spec["ingressClassName"] = cls
    md: dict[str, Any] = {"name": name}
    if annotations:
        md["annotations"] = annotations
    return yaml.safe_dump({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": md, "spec": spec})


SIO = deployment("chat", {"app": "chat", "wsType": "socket.io"}, replicas=3, ports=[{"containerPort": 80}])
CHAT_SVC = service("chat", {"app": "chat"}, [{"port": 80}])


@pytest.mark.parametrize(("text", "obj", "fragment"), [
    pytest.param(docs(SIO, CHAT_SVC, ingress("chat", "chat")), "Ingress default/chat",
                 "no nginx.ingress.kubernetes.io/affinity: cookie", id="ingress-without-affinity"),
    pytest.param(docs(SIO, service("chat", {"app": "chat"}, [{"port": 80}], sessionAffinity="ClientIP"),
                      ingress("chat", "chat")), "Ingress default/chat", "ClientIP does not help", id="clientip-useless"),
    pytest.param(docs(SIO, CHAT_SVC, ingress("chat", "chat", annotations={
        "nginx.ingress.kubernetes.io/affinity": "cookie",
        "nginx.ingress.kubernetes.io/service-upstream": "true"})), "Ingress default/chat", "service-upstream",
        id="service-upstream-disables-affinity"),
    pytest.param(docs(SIO, CHAT_SVC), "Service default/chat", "3 replicas", id="no-ingress"),
    pytest.param(docs(deployment("chat", {"app": "chat"}, replicas=2, env=[{"name": "TRANSPORT", "value": "socketio"}]),
                      CHAT_SVC), "Service default/chat", "env TRANSPORT=socketio", id="env-marker"),
    pytest.param(docs(deployment("chat", {"app": "chat"}, replicas=2), CHAT_SVC,
                      ingress("chat", "chat", path="/socket.io")), "Ingress default/chat", "path /socket.io",
                 id="path-marker"),
])
def test_session_affinity_needed_fires(text: str, obj: str, fragment: str) -> None:
    got = run("service-session-affinity-needed", snap_of(text))
    assert [f.object for f in got] == [obj]
    assert fragment in got[0].message and got[0].severity == "warning"


@pytest.mark.parametrize("text", [
    pytest.param(docs(SIO, CHAT_SVC, ingress("chat", "chat", annotations={
        "nginx.ingress.kubernetes.io/affinity": "cookie"})), id="cookie"),
    pytest.param(docs(SIO, CHAT_SVC, ingress("chat", "chat", annotations={
        "nginx.ingress.kubernetes.io/upstream-hash-by": "$remote_addr"})), id="hash-by"),
    pytest.param(docs(SIO, service("chat", {"app": "chat"}, [{"port": 80}], sessionAffinity="ClientIP")),
                 id="clientip-without-ingress"),
    pytest.param(docs(SIO, CHAT_SVC, ingress("chat", "chat", cls="traefik")), id="other-controller"),
    pytest.param(docs(deployment("chat", {"app": "chat", "wsType": "socket.io"}, replicas=1), CHAT_SVC,
                      ingress("chat", "chat")), id="one-replica"),
    pytest.param(docs(deployment("chat", {"app": "chat"}, replicas=3), CHAT_SVC, ingress("chat", "chat")),
                 id="no-long-polling-signal"),
])
def test_session_affinity_needed_quiet(text: str) -> None:
    assert run("service-session-affinity-needed", snap_of(text)) == []


def test_ingress_backends_reads_both_api_shapes() -> None:
    v1 = yaml.safe_load(ingress("a", "svc-a", path="/x"))
    old = {"kind": "Ingress", "spec": {"backend": {"serviceName": "dflt", "servicePort": 80}, "rules": [
        {"http": {"paths": [{"path": "/y", "backend": {"serviceName": "svc-b", "servicePort": 80}}]}}]}}
    assert ingress_backends(v1) == [("svc-a", "/x")]
    assert ingress_backends(old) == [("dflt", "/"), ("svc-b", "/y")]


@pytest.mark.parametrize(("facts", "fires"), [
    pytest.param({}, False, id="other-namespace-not-read"),
    pytest.param({"namespaces_read": ["*"]}, True, id="all-namespaces-read"),
])
def test_selector_live_judges_only_namespaces_whose_pods_were_read(facts: dict[str, Any], fires: bool) -> None:
    text = yaml.safe_dump({"apiVersion": "v1", "kind": "Service",
                           "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
                           "spec": {"selector": {"app.kubernetes.io/name": "ingress-nginx"}, "ports": [{"port": 80}]}})
    snap = dataclasses.replace(snap_of(text, live=True), facts=facts)
    assert snap.namespace == "default"
    assert bool(run("service-selector-matches-no-pods", snap)) is fires


# -- the lab's scenarios, read as a live cluster ---------------------------------------------------


def _scenario_findings(name: str) -> list[Finding]:
    from kdiag.lab.scenarios import SCENARIOS

    objects = list(SCENARIOS[name].objects)
    if not any(o.get("kind") == "EndpointSlice" for o in objects):
        objects += derive_endpoint_slices(objects)
    snap = Snapshot(objects=tuple(objects), source=SourceInfo(kind="cluster"))
    return [f for f in run_rules(RuleContext(snap)) if f.check.startswith(("service-", "pod-"))]


def _scenarios() -> list[str]:
    from kdiag.lab.scenarios import SCENARIOS

    return list(SCENARIOS)


def _static_scenarios() -> list[tuple[str, str]]:
    """(scenario, expected check) for scenarios whose verdict is a static check of this part."""
    from kdiag.catalog import catalog
    from kdiag.lab.scenarios import SCENARIOS

    out = []
    for name, sc in SCENARIOS.items():
        check = catalog().get(sc.expect_check or "")
        if check is not None and not check.probe and check.id.startswith(("service-", "pod-")):
            out.append((name, check.id))
    return out


def test_healthy_lab_scenario_is_clean_for_service_and_pod_rules() -> None:
    if "healthy" not in _scenarios():
        pytest.skip("no healthy lab scenario")
    loud = [f"{f.check} {f.object}: {f.message}" for f in _scenario_findings("healthy") if f.severity != "info"]
    assert loud == []


@pytest.mark.parametrize(("name", "expected"), _static_scenarios())
def test_lab_scenario_expecting_a_static_service_or_pod_check_gets_it(name: str, expected: str) -> None:
    assert expected in {f.check for f in _scenario_findings(name)}
