"""Pod rules: live status (readiness, crash loops, image pulls) and pod-spec hygiene on templates and pods."""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdiag.model import Finding, SourceInfo
from kdiag.pods.entrypoint import entrypoint_issue, exec_suggestion
from kdiag.pods.selection import serving_containers, spec_holders
from kdiag.pods.spec import grace_period, prestop_delay
from kdiag.rules import RuleContext, load_rules, run_rules
from kdiag.rules.pod import exit_code_meaning
from kdiag.snapshot import Snapshot
from kdiag.sources.manifests import load_manifest_text


def snap_of(text: str, *, live: bool = False, denied: dict[str, str] | None = None) -> Snapshot:
    snap = load_manifest_text(text, path="t.yaml")
    return dataclasses.replace(snap, source=SourceInfo(kind="cluster" if live else "manifests"),
                               denied=denied or {})


def run(check: str, snap: Snapshot) -> list[Finding]:
    return [f for f in run_rules(RuleContext(snap), only=[check]) if f.check == check]


def docs(*parts: str) -> str:
    return "\n---\n".join(parts)


SVC = yaml.safe_dump({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}})


def container(**extra: Any) -> dict[str, Any]:
    return {"name": "web", "image": "web:1", "ports": [{"name": "http", "containerPort": 8080}], **extra}


def workload(*containers: dict[str, Any], labels: dict[str, str] | None = None, kind: str = "Deployment",
             name: str = "web", **spec: Any) -> str:
    labels = labels or {"app": "web"}
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"containers": list(containers), **spec}}}})


def live_pod(name: str, *, ready: bool = True, statuses: list[dict[str, Any]] | None = None,
             labels: dict[str, str] | None = None, phase: str = "Running", terminating: bool = False,
             spec: dict[str, Any] | None = None, owner: str | None = None,
             conditions: list[dict[str, Any]] | None = None) -> str:
    md: dict[str, Any] = {"name": name, "labels": labels or {"app": "web"}}
    if terminating:
        md["deletionTimestamp"] = "2026-11-20T09:10:00Z"
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "controller": True}]
    conds = conditions if conditions is not None else [{"type": "Ready", "status": "True" if ready else "False"}]
    status = {"phase": phase, "podIP": "10.244.1.7", "conditions": conds,
              "containerStatuses": statuses if statuses is not None else [
                  {"name": "web", "ready": ready, "restartCount": 0, "state": {"running": {}}}]}
    return yaml.safe_dump({"apiVersion": "v1", "kind": "Pod", "metadata": md,
                           "spec": spec or {"containers": [container()]}, "status": status})


# -- pod-not-ready --------------------------------------------------------------------------------


@pytest.mark.parametrize(("pods", "severity", "fragments"), [
    pytest.param([live_pod("web-1", ready=False)], "error",
                 ["Pod default/web-1 (phase Running) is not Ready", "running but not ready yet",
                  "no other pod of the Service is Ready"], id="alone"),
    pytest.param([live_pod("web-1", ready=False), live_pod("web-2")], "warning",
                 ["1 other pod of the Service is Ready"], id="with-ready-peer"),
    pytest.param([live_pod("web-1", ready=False, spec={"containers": [container(readinessProbe={"httpGet": {"path": "/", "port": 8080}})]})],
                 "error", ["its readiness probe does not pass"], id="probe-failing"),
    pytest.param([live_pod("web-1", ready=False, statuses=[
        {"name": "web", "ready": False, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}])],
                 "error", ["waiting (ContainerCreating)"], id="waiting"),
    pytest.param([live_pod("web-1", phase="Pending", statuses=[], conditions=[
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient cpu."}])],
                 "error", ["not scheduled: 0/3 nodes are available"], id="unschedulable"),
])
def test_pod_not_ready_fires(pods: list[str], severity: str, fragments: list[str]) -> None:
    got = run("pod-not-ready", snap_of(docs(SVC, *pods), live=True))
    assert [f.object for f in got] == ["Pod default/web-1"]
    assert got[0].severity == severity
    for frag in fragments:
        assert frag in got[0].message


@pytest.mark.parametrize("text", [
    pytest.param(docs(SVC, live_pod("web-1")), id="ready"),
    pytest.param(docs(SVC, live_pod("web-1", ready=False, terminating=True)), id="terminating"),
    pytest.param(docs(SVC, live_pod("job-1", ready=False, phase="Succeeded")), id="succeeded"),
    pytest.param(live_pod("web-1", ready=False), id="no-service-selects-it"),
    pytest.param(docs(SVC, workload(container())), id="template"),
])
def test_pod_not_ready_quiet(text: str) -> None:
    assert run("pod-not-ready", snap_of(text, live=True)) == []


# -- pod-crash-looping ------------------------------------------------------------------------------


def crash_status(restarts: int, *, looping: bool, code: int = 1, reason: str = "Error") -> list[dict[str, Any]]:
    state = {"waiting": {"reason": "CrashLoopBackOff"}} if looping else {"running": {}}
    return [{"name": "web", "ready": False, "restartCount": restarts, "state": state,
             "lastState": {"terminated": {"exitCode": code, "reason": reason}}}]


@pytest.mark.parametrize(("statuses", "severity", "fragments"), [
    pytest.param(crash_status(7, looping=True), "error",
                 ["is in CrashLoopBackOff: restarted 7 times", "exited with code 1", "--previous"], id="loop"),
    pytest.param(crash_status(4, looping=False, code=137, reason="OOMKilled"), "warning",
                 ["keeps restarting", "OOMKilled"], id="oom-restarts"),
    pytest.param(crash_status(1, looping=True, code=127), "error", ["not executable or not found"], id="bad-command"),
])
def test_crash_looping_fires(statuses: list[dict[str, Any]], severity: str, fragments: list[str]) -> None:
    got = run("pod-crash-looping", snap_of(live_pod("web-1", ready=False, statuses=statuses), live=True))
    assert [f.severity for f in got] == [severity]
    for frag in fragments:
        assert frag in got[0].message
    assert got[0].evidence["container"] == "web"


def test_crash_looping_quiet_below_threshold() -> None:
    snap = snap_of(live_pod("web-1", statuses=crash_status(2, looping=False)), live=True)
    assert run("pod-crash-looping", snap) == []


@pytest.mark.parametrize(("code", "reason", "fragment"), [
    (137, None, "SIGKILL"), (143, None, "SIGTERM"), (139, None, "segmentation"), (0, None, "keep running"),
    (2, None, "code 2"), (137, "OOMKilled", "memory limit"), (None, None, ""),
])
def test_exit_code_meaning(code: int | None, reason: str | None, fragment: str) -> None:
    got = exit_code_meaning(code, reason)
    assert fragment in got
    if not fragment:
        assert got == ""


# -- pod-image-pull-failed ---------------------------------------------------------------------------

PULL = [{"name": "web", "ready": False, "restartCount": 0, "image": "reg.example.com/web:1",
         "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]
WITH_SECRET = {"containers": [container()], "imagePullSecrets": [{"name": "regsecret"}]}
SECRET = yaml.safe_dump({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "regsecret"},
                         "type": "kubernetes.io/dockerconfigjson"})


def test_image_pull_failed_live_names_the_missing_secret() -> None:
    got = run("pod-image-pull-failed",
              snap_of(live_pod("web-1", ready=False, statuses=PULL, spec=WITH_SECRET), live=True))
    assert len(got) == 1  # the static secret finding is folded into the status one
    assert got[0].severity == "error"
    assert "ImagePullBackOff" in got[0].message and "'regsecret'" in got[0].message


def test_image_pull_failed_live_with_secret_present() -> None:
    got = run("pod-image-pull-failed",
              snap_of(docs(SECRET, live_pod("web-1", ready=False, statuses=PULL, spec=WITH_SECRET)), live=True))
    assert len(got) == 1 and "regsecret" not in got[0].message


@pytest.mark.parametrize(("live", "denied", "severity"), [
    pytest.param(False, None, "info", id="manifests"),
    pytest.param(True, None, "warning", id="cluster"),
    pytest.param(True, {"Secret": "forbidden"}, None, id="secrets-unreadable"),
])
def test_missing_pull_secret_statically(live: bool, denied: dict[str, str] | None, severity: str | None) -> None:
    text = workload(container(), kind="StatefulSet", imagePullSecrets=[{"name": "regsecret"}])
    got = run("pod-image-pull-failed", snap_of(text, live=live, denied=denied))
    assert [f.severity for f in got] == ([severity] if severity else [])
    if got:
        assert got[0].object == "StatefulSet default/web"


def test_missing_pull_secret_quiet_when_present() -> None:
    text = docs(SECRET, workload(container(), imagePullSecrets=[{"name": "regsecret"}]))
    assert run("pod-image-pull-failed", snap_of(text)) == []


# -- readiness probes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fires"), [
    pytest.param(docs(SVC, workload(container())), True, id="missing"),
    pytest.param(docs(SVC, workload(container(readinessProbe={"httpGet": {"path": "/", "port": 8080}}))),
                 False, id="http"),
    pytest.param(workload(container()), False, id="no-service"),
    pytest.param(docs(SVC, workload(container(readinessProbe={"httpGet": {"path": "/", "port": 8080}}),
                                    {"name": "sidecar", "image": "s"})), False, id="sidecar-unprobed"),
    pytest.param(docs(SVC, workload({"name": "web", "image": "w"}, {"name": "side", "image": "s"})),
                 True, id="unknown-server-none-probed"),
    pytest.param(docs(SVC, workload({"name": "web", "image": "w", "readinessProbe": {"exec": {"command": ["true"]}}},
                                    {"name": "side", "image": "s"})), False, id="unknown-server-one-probed"),
])
def test_readiness_probe_missing(text: str, fires: bool) -> None:
    got = run("pod-readiness-probe-missing", snap_of(text))
    assert bool(got) is fires
    for f in got:
        assert f.object == "Deployment default/web" and "Service default/web" in f.message


def test_readiness_probe_missing_reports_the_workload_once_for_live_pods() -> None:
    rs = yaml.safe_dump({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                         "metadata": {"name": "web-7d9", "ownerReferences": [
                             {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": True}]},
                         "spec": {"selector": {"matchLabels": {"app": "web"}},
                                  "template": {"metadata": {"labels": {"app": "web"}},
                                               "spec": {"containers": [container()]}}}})
    text = docs(SVC, workload(container()), rs, live_pod("web-7d9-a", owner="web-7d9"),
                live_pod("web-7d9-b", owner="web-7d9"))
    got = run("pod-readiness-probe-missing", snap_of(text, live=True))
    assert [f.object for f in got] == ["Deployment default/web"]


@pytest.mark.parametrize(("probe", "fires"), [
    ({"tcpSocket": {"port": 8080}}, True),
    ({"httpGet": {"path": "/", "port": 8080}}, False),
    ({"exec": {"command": ["/bin/check"]}}, False),
    ({"grpc": {"port": 8080}}, False),
])
def test_readiness_probe_tcp(probe: dict[str, Any], fires: bool) -> None:
    got = run("pod-readiness-probe-tcp", snap_of(docs(SVC, workload(container(readinessProbe=probe)))))
    assert bool(got) is fires
    if fires:
        assert "port 8080 accepts TCP connections" in got[0].message


# -- pod-no-graceful-shutdown --------------------------------------------------------------------------


@pytest.mark.parametrize(("lifecycle", "grace", "fragment"), [
    pytest.param(None, None, "no preStop delay (terminationGracePeriodSeconds is 30)", id="none"),
    pytest.param(None, 0, "immediate SIGKILL", id="grace-zero"),
    pytest.param({"preStop": {"sleep": {"seconds": 30}}}, 30, "sleeps 30 s in preStop", id="sleep-eats-grace"),
    pytest.param({"preStop": {"exec": {"command": ["/bin/sh", "-c", "sleep 20"]}}}, 15, "only 15",
                 id="exec-sleep-too-long"),
])
def test_no_graceful_shutdown_fires(lifecycle: dict[str, Any] | None, grace: int | None, fragment: str) -> None:
    extra = {} if grace is None else {"terminationGracePeriodSeconds": grace}
    c = container(lifecycle=lifecycle) if lifecycle else container()
    got = run("pod-no-graceful-shutdown", snap_of(docs(SVC, workload(c, **extra))))
    assert len(got) == 1 and fragment in got[0].message


@pytest.mark.parametrize("lifecycle", [
    {"preStop": {"sleep": {"seconds": 5}}},
    {"preStop": {"exec": {"command": ["sleep", "10"]}}},
    {"preStop": {"exec": {"command": ["/usr/sbin/nginx", "-s", "quit"]}}},  # a custom drain: not judged
    {"preStop": {"httpGet": {"path": "/drain", "port": 8080}}},
])
def test_no_graceful_shutdown_quiet(lifecycle: dict[str, Any]) -> None:
    assert run("pod-no-graceful-shutdown", snap_of(docs(SVC, workload(container(lifecycle=lifecycle))))) == []


@pytest.mark.parametrize(("c", "expected"), [
    ({}, ("none", None)),
    ({"lifecycle": {"preStop": {"sleep": {"seconds": 5}}}}, ("sleep", 5.0)),
    ({"lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "sleep 7; nginx -s quit"]}}}}, ("sleep", 7.0)),
    ({"lifecycle": {"preStop": {"exec": {"command": ["sleep", "$(DELAY)"]}}}}, ("sleep", None)),
    ({"lifecycle": {"preStop": {"exec": {"command": ["/drain"]}}}}, ("exec", None)),
    ({"lifecycle": {"preStop": {"httpGet": {"port": 80}}}}, ("httpGet", None)),
])
def test_prestop_delay(c: dict[str, Any], expected: tuple[str, float | None]) -> None:
    assert prestop_delay(c) == expected


def test_grace_period_default_and_bad_values() -> None:
    assert grace_period({}) == 30
    assert grace_period({"terminationGracePeriodSeconds": 5}) == 5
    assert grace_period({"terminationGracePeriodSeconds": "x"}) == 30


# -- pod-shell-entrypoint ------------------------------------------------------------------------------


@pytest.mark.parametrize(("command", "args", "kind"), [
    (["/bin/sh", "-c", "cp /cfg/* /app && /demo/app"], None, "shell-compound"),
    (["bash", "-c"], ["prepare; node server.js"], "shell-compound"),
    (["sh", "-ec", "./migrate\n./app"], None, "shell-compound"),
    (["/bin/sh", "-c", "./app"], None, "shell-simple"),
    (["/demo/start.sh"], None, "script"),
    (None, ["./entrypoint.sh", "--port", "80"], "script"),
    (["sh", "/start.sh"], None, "script"),
    (["sh", "-c", "/start.sh"], None, "script"),
    (["env", "A=1", "sh", "-c", "a; b"], None, "shell-compound"),
    (["sh", "-c", "cd /app && exec node server.js"], None, None),
    (["sh", "-c", "exec /demo/app"], None, None),
    (["tini", "--", "/demo/start.sh"], None, None),
    (["/demo/app"], ["--flag"], None),
    (None, None, None),
    (["python", "-c", "print(1); import app"], None, None),
])
def test_entrypoint_issue(command: list[str] | None, args: list[str] | None, kind: str | None) -> None:
    c: dict[str, Any] = {"name": "c"}
    if command is not None:
        c["command"] = command
    if args is not None:
        c["args"] = args
    issue = entrypoint_issue(c)
    assert (issue.kind if issue else None) == kind


@pytest.mark.parametrize(("command", "severity"), [
    (["/bin/sh", "-c", "./prepare && ./app"], "warning"),
    (["/demo/start.sh"], "warning"),
    (["/bin/sh", "-c", "./app"], "info"),
])
def test_shell_entrypoint_rule(command: list[str], severity: str) -> None:
    got = run("pod-shell-entrypoint", snap_of(workload(container(command=command))))
    assert [f.severity for f in got] == [severity]
    assert "SIGTERM" in got[0].message and "exec" in got[0].message
    assert got[0].evidence["command"]


def test_spec_holders_and_serving_containers() -> None:
    snap = snap_of(docs(SVC, workload(container(), {"name": "side", "image": "s"}),
                        live_pod("bare", labels={"app": "bare"})))
    holders = {h.ref: h for h in spec_holders(snap)}
    assert set(holders) == {"Deployment default/web", "Pod default/bare"}
    svc = snap.get("Service", "default", "web")
    assert svc is not None
    chosen, identified = serving_containers(holders["Deployment default/web"].spec, [svc])
    assert identified and [c["name"] for c in chosen] == ["web"]


def test_shell_entrypoint_from_args_only_is_a_hedged_info() -> None:
    got = run("pod-shell-entrypoint", snap_of(workload(container(args=["sh", "-c", "a && b"]))))
    assert [f.severity for f in got] == ["info"]
    assert "no ENTRYPOINT of its own" in got[0].message


# -- malformed objects ---------------------------------------------------------------------------------

JUNK: list[Any] = [None, "x", 7, -1, 3.5, [], {}, ["a"], [1, None], {"a": 1}, True, "80", [{"name": 3}]]


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


@functools.cache
def _fuzz_base() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Seed 000 (whose findings must survive) and the objects the fuzzer may break."""
    from pathlib import Path

    from kdiag.lab.world import derive_endpoint_slices
    from kdiag.sources.manifests import load_manifests

    fixtures = Path(__file__).resolve().parent / "fixtures" / "manifests"
    seed = [dict(o) for o in load_manifests([str(fixtures / "seed-chatapp")]).objects]
    victims = copy.deepcopy([dict(o) for o in load_manifests([str(fixtures / "clean-app")]).objects])
    victims += [yaml.safe_load(live_pod("web-1", ready=False, statuses=crash_status(5, looping=True)))]
    victims += derive_endpoint_slices(victims + [yaml.safe_load(SVC)])
    return seed, victims


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_malformed_object_neither_crashes_the_rules_nor_hides_other_findings(data: st.DataObject) -> None:
    seed, pristine = _fuzz_base()
    victims = copy.deepcopy(pristine)
    for _ in range(data.draw(st.integers(1, 3))):
        obj = data.draw(st.sampled_from(victims))
        paths = [p for p in _paths(obj) if p[0] not in ("kind", "metadata")]
        if not paths:
            continue
        path = data.draw(st.sampled_from(paths))
        target = obj
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = copy.deepcopy(data.draw(st.sampled_from(JUNK)))
    snap = Snapshot(objects=tuple(seed + victims), source=SourceInfo(kind=data.draw(st.sampled_from(["cluster", "manifests"]))))
    mine = [c for c in load_rules() if c.startswith(("service-", "pod-"))]
    found = run_rules(RuleContext(snap), only=mine)
    about_chat = [f for f in found if f.check == "service-target-port-mismatch" and f.object == "Service default/chatapp-svc"]
    assert len(about_chat) == 3


def test_pod_not_ready_quotes_the_newest_readiness_probe_event() -> None:
    def event(name: str, message: str, when: str, count: int) -> str:
        return yaml.safe_dump({"apiVersion": "v1", "kind": "Event", "metadata": {"name": name},
                               "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": "default"},
                               "reason": "Unhealthy", "type": "Warning", "message": message,
                               "lastTimestamp": when, "count": count})
    text = docs(SVC, live_pod("web-1", ready=False),
                event("e1", "Readiness probe failed: connection refused", "2026-11-20T09:00:00Z", 2),
                event("e2", "Readiness probe failed: HTTP probe failed with statuscode: 503", "2026-11-20T09:05:00Z", 14),
                event("e3", "Liveness probe failed: timeout", "2026-11-20T09:06:00Z", 1))
    (finding,) = run("pod-not-ready", snap_of(text, live=True))
    assert "last event: Readiness probe failed: HTTP probe failed with statuscode: 503 (×14)" in finding.message
    assert "Liveness" not in finding.message


@pytest.mark.parametrize(("command", "expected"), [
    (["sh", "-c", "cp /cfg/* /app && /demo/app"], ["sh", "-c", "cp /cfg/* /app && exec /demo/app"]),
    (["/bin/sh", "-c", "./app"], ["./app"]),
    (["sh", "-c", "./app --port $PORT"], ["sh", "-c", "exec ./app --port $PORT"]),
    (["bash", "-c", "a; b"], ["bash", "-c", "a; exec b"]),
    (["sh", "-ec", "./migrate\n./app"], ["sh", "-ec", "./migrate\nexec ./app"]),
    (["sh", "-c", "a; b && c"], ["sh", "-c", "a; b && exec c"]),
    (["sh", "-c", "a | b"], None),
    (["sh", "-c", "a && b &"], None),
    (["sh", "-c", "a || b"], None),
    (["sh", "-c", "x=1 ./app"], None),
    (["sh", "-c", "a && X=1 b"], None),
    (["sh", "-c", "exec x"], None),
    (["sh", "/start.sh"], None),
    (["/demo/start.sh"], None),
])
def test_exec_suggestion(command: list[str], expected: list[str] | None) -> None:
    assert exec_suggestion({"command": command}) == expected


def test_shell_entrypoint_fix_shows_the_rewritten_command() -> None:
    c = container(command=["/bin/sh", "-c"], args=["cp /cfg/* /app && /demo/app"])
    (finding,) = run("pod-shell-entrypoint", snap_of(workload(c)))
    assert finding.fix.startswith("For container 'web':")
    assert 'command: ["/bin/sh", "-c", "cp /cfg/* /app && exec /demo/app"]' in finding.fix
    assert "remove `args:`" in finding.fix
    (script,) = run("pod-shell-entrypoint", snap_of(workload(container(command=["/demo/start.sh"]))))
    assert script.fix.startswith("Start the application directly")  # the catalog's fix, untouched


def test_pods_of_an_unread_workload_are_reported_once() -> None:
    text = docs(SVC, live_pod("web-7d9-a", owner="web-7d9"), live_pod("web-7d9-b", owner="web-7d9"),
                live_pod("solo"))
    got = run("pod-readiness-probe-missing", snap_of(text, live=True))
    assert sorted(f.object for f in got) == ["Pod default/solo", "Pod default/web-7d9-a"]
