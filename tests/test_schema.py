"""Schema-derived field checks and the manifest rules, on the seed 002 game manifests and more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kdiag.model import Finding, SourceInfo
from kdiag.removed_apis import removed_api
from kdiag.rules import RuleContext, run_rules
from kdiag.schema import known_kind, validate
from kdiag.snapshot import Snapshot
from kdiag.sources.manifests import load_manifest_text, load_manifests

SEED_GAME = Path(__file__).resolve().parent / "fixtures" / "manifests" / "seed-game"
MANIFEST_CHECKS = ("manifest-invalid", "manifest-unknown-field", "manifest-removed-api-version")


def _findings(snap: Snapshot) -> list[Finding]:
    return list(snap.findings) + run_rules(RuleContext(snap), only=MANIFEST_CHECKS)


def _lint_text(text: str) -> list[Finding]:
    return _findings(load_manifest_text(text, path="t.yaml"))


@pytest.fixture(scope="module")
def seed_game() -> list[Finding]:
    return _findings(load_manifests([str(SEED_GAME)]))


@pytest.mark.parametrize(
    ("obj", "path", "suggestion", "default", "location"),
    [
        ("Deployment default/http-prod-1.0.0000", "spec.strategy.rollingUpdate.maxUnavailble",
         "maxUnavailable", "25%", "http.yaml:10"),
        ("Deployment default/http-prod-1.0.0000",
         "spec.template.spec.containers[0].readinessProbe.periodSecods", "periodSeconds",
         "10 seconds", "http.yaml:28"),
        ("StatefulSet default/connector-prod-v100000",
         "spec.template.spec.containers[0].readinessProbe.periodSecods", "periodSeconds",
         "10 seconds", "connector.yaml:25"),
        ("StatefulSet default/matching-v100000",
         "spec.template.spec.containers[0].readinessProbe.periodSecods", "periodSeconds",
         "10 seconds", "matching.yaml:24"),
    ],
)
def test_seed_game_typos_are_found_with_path_suggestion_and_line(
    seed_game: list[Finding], obj: str, path: str, suggestion: str, default: str, location: str
) -> None:
    got = [f for f in seed_game if f.check == "manifest-unknown-field" and f.object == obj
           and f.evidence["path"] == path]
    assert len(got) == 1
    f = got[0]
    assert f.evidence["suggestion"] == suggestion
    assert f.evidence["location"].endswith(f"seed-game/{location}")
    assert f"did you mean {suggestion}?" in f.message
    assert f"default ({default})" in f.message
    assert f.severity == "error"
    assert f"`{suggestion}`" in f.fix


def test_seed_game_has_exactly_the_typos_of_the_story(seed_game: list[Finding]) -> None:
    typos = sorted(f.evidence["field"] for f in seed_game if f.check == "manifest-unknown-field")
    assert typos == ["maxUnavailble", "periodSecods", "periodSecods", "periodSecods"]


@pytest.mark.parametrize(
    ("obj", "api_version", "removed_in", "replacement"),
    [
        ("Deployment default/http-prod-1.0.0000", "extensions/v1beta1", "1.16", "apps/v1"),
        ("Ingress default/https", "extensions/v1beta1", "1.22", "networking.k8s.io/v1"),
        ("StatefulSet default/connector-prod-v100000", "apps/v1beta1", "1.16", "apps/v1"),
        ("StatefulSet default/matching-v100000", "apps/v1beta1", "1.16", "apps/v1"),
        ("CronJob default/test-cron", "batch/v1beta1", "1.25", "batch/v1"),
    ],
)
def test_seed_game_removed_api_versions(seed_game: list[Finding], obj: str, api_version: str,
                                        removed_in: str, replacement: str) -> None:
    (f,) = [f for f in seed_game if f.check == "manifest-removed-api-version" and f.object == obj]
    assert f.evidence["api_version"] == api_version
    assert f.evidence["removed_in"] == removed_in and f.evidence["replacement"] == replacement
    assert f"use {replacement}" in f.message and f"Kubernetes {removed_in}" in f.message
    assert f.evidence["location"].endswith(":2") or obj.startswith("Ingress")


def test_seed_game_migration_names_what_the_new_version_requires(seed_game: list[Finding]) -> None:
    removed = {f.object: f for f in seed_game if f.check == "manifest-removed-api-version"}
    dep = removed["Deployment default/http-prod-1.0.0000"]
    assert dep.evidence["replacement_requires"] == ["spec.selector"]
    assert "serverType: http" in dep.fix and 'version: "1.0.0000"' in dep.fix
    ing = removed["Ingress default/https"]
    assert ing.evidence["replacement_requires"] == ["spec.rules[0].http.paths[0].pathType"]
    assert "pathType: Prefix" in ing.fix
    assert "spec.selector" not in str(removed["CronJob default/test-cron"].evidence)
    # removed-version objects do not get a second, separate "required" error
    assert not [f for f in seed_game if f.check == "manifest-invalid"]


def test_seed_game_service_is_clean(seed_game: list[Finding]) -> None:
    assert not [f for f in seed_game if f.object == "Service default/http-prod-v100000"]


@pytest.mark.parametrize(
    ("api_version", "kind", "removed_in", "replacement"),
    [
        ("extensions/v1beta1", "Ingress", "1.22", "networking.k8s.io/v1"),
        ("extensions/v1beta1", "DaemonSet", "1.16", "apps/v1"),
        ("extensions/v1beta1", "ReplicaSet", "1.16", "apps/v1"),
        ("extensions/v1beta1", "NetworkPolicy", "1.16", "networking.k8s.io/v1"),
        ("extensions/v1beta1", "PodSecurityPolicy", "1.16", None),
        ("networking.k8s.io/v1beta1", "Ingress", "1.22", "networking.k8s.io/v1"),
        ("networking.k8s.io/v1beta1", "IngressClass", "1.22", "networking.k8s.io/v1"),
        ("apps/v1beta2", "DaemonSet", "1.16", "apps/v1"),
        ("batch/v1beta1", "CronJob", "1.25", "batch/v1"),
        ("policy/v1beta1", "PodDisruptionBudget", "1.25", "policy/v1"),
        ("policy/v1beta1", "PodSecurityPolicy", "1.25", None),
        ("autoscaling/v2beta1", "HorizontalPodAutoscaler", "1.25", "autoscaling/v2"),
        ("autoscaling/v2beta2", "HorizontalPodAutoscaler", "1.26", "autoscaling/v2"),
        ("discovery.k8s.io/v1beta1", "EndpointSlice", "1.25", "discovery.k8s.io/v1"),
        ("rbac.authorization.k8s.io/v1beta1", "ClusterRole", "1.22", "rbac.authorization.k8s.io/v1"),
    ],
)
def test_removed_api_table(api_version: str, kind: str, removed_in: str, replacement: str | None) -> None:
    gone = removed_api(api_version, kind)
    assert gone is not None
    assert (gone.removed_in, gone.replacement) == (removed_in, replacement)
    text = f"apiVersion: {api_version}\nkind: {kind}\nmetadata:\n  name: x\n"
    (f,) = [f for f in _lint_text(text) if f.check == "manifest-removed-api-version"]
    assert f.evidence["location"] == "t.yaml:1"


@pytest.mark.parametrize(
    ("api_version", "kind"),
    [("apps/v1", "Deployment"), ("networking.k8s.io/v1", "Ingress"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
     ("batch/v1", "CronJob"), ("policy/v1", "PodDisruptionBudget"), ("v1", "Service"),
     ("autoscaling/v1", "HorizontalPodAutoscaler"), ("cert-manager.io/v1", "Certificate")],
)
def test_current_api_versions_are_not_removed(api_version: str, kind: str) -> None:
    assert removed_api(api_version, kind) is None


@pytest.mark.parametrize(
    ("api_version", "kind", "known"),
    [("apps/v1", "Deployment", True), ("v1", "Event", True), ("events.k8s.io/v1", "Event", True),
     ("v1", "Service", True), ("extensions/v1beta1", "Ingress", True),
     ("policy/v1beta1", "PodSecurityPolicy", False), ("cert-manager.io/v1", "Certificate", False),
     ("gateway.networking.k8s.io/v1", "HTTPRoute", False), ("monitoring.coreos.com/v1", "Endpoint", False),
     ("v1", "NoSuchKind", False)],
)
def test_known_kinds_come_from_the_client_models(api_version: str, kind: str, known: bool) -> None:
    assert known_kind(api_version, kind) is known


def _unknown_paths(obj: dict[str, Any]) -> list[str]:
    return [i.path for i in validate(obj).of("unknown")]


def test_free_form_maps_are_not_fields() -> None:
    obj = {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x", "labels": {"periodSecods": "a"}, "annotations": {"maxUnavailble": "b"}},
        "spec": {
            "selector": {"matchLabels": {"whatever": "x"}},
            "template": {"metadata": {"labels": {"whatever": "x"}}, "spec": {
                "nodeSelector": {"anyKey": "v"},
                "containers": [{"name": "c", "image": "i", "resources": {"limits": {"nvidia.com/gpu": 1, "cpu": 2}}}],
            }},
        },
        "status": {"conditions": [{"type": "Available", "status": "True"}]},
    }
    assert _unknown_paths(obj) == []
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"periodSecods": "x"}}
    assert _unknown_paths(cm) == []


def test_kubectl_get_dump_with_managed_fields_and_status_is_clean() -> None:
    snap = load_manifests([str(SEED_GAME.parent / "kubectl-get" / "deployments.yaml")])
    assert _findings(snap) == []


def test_unknown_field_without_a_close_match_has_no_suggestion() -> None:
    findings = _lint_text("""apiVersion: v1
kind: Service
metadata:
  name: s
spec:
  ports:
  - port: 80
  zzzqqq: 1
""")
    (f,) = [f for f in findings if f.check == "manifest-unknown-field"]
    assert f.evidence["path"] == "spec.zzzqqq" and "suggestion" not in f.evidence
    assert f.evidence["location"] == "t.yaml:8"
    assert "did you mean" not in f.message


def test_case_mistake_is_suggested() -> None:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i", "ports": [{"containerport": 80}]}]}}
    (issue,) = validate(obj).of("unknown")
    assert issue.path == "spec.containers[0].ports[0].containerport"
    assert issue.suggestion == "containerPort"


def test_old_ingress_fields_are_not_typos_but_new_typos_are() -> None:
    findings = _lint_text("""apiVersion: extensions/v1beta1
kind: Ingress
metadata:
  name: web
spec:
  backend: {serviceName: web, servicePort: 80}
  rules:
  - host: a.example.com
    http:
      paths:
      - path: /
        backend: {serviceName: web, servicePort: 80}
  tsl:
  - hosts: [a.example.com]
""")
    unknown = [f for f in findings if f.check == "manifest-unknown-field"]
    assert [f.evidence["path"] for f in unknown] == ["spec.tsl"]
    assert unknown[0].evidence["suggestion"] == "tls"


@pytest.mark.parametrize(
    ("snippet", "path", "words"),
    [
        ("env: [{name: PORT, value: 80}]", "spec.containers[0].env[0].value", ["must be a string", "quote it"]),
        ("ports: [{containerPort: '8080'}]", "spec.containers[0].ports[0].containerPort", ["must be an integer"]),
        ("tty: 'yes'", "spec.containers[0].tty", ["must be true or false"]),
        ("env: {PORT: '80'}", "spec.containers[0].env", ["must be a list"]),
    ],
)
def test_wrong_scalar_types_are_invalid(snippet: str, path: str, words: list[str]) -> None:
    findings = _lint_text(f"""apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: c
    image: i
    {snippet}
""")
    got = [f for f in findings if f.check == "manifest-invalid"]
    assert [f.evidence["path"] for f in got] == [path]
    for w in words:
        assert w in got[0].message
    assert got[0].evidence["location"].startswith("t.yaml:")


def test_int_or_string_and_quantities_accept_both() -> None:
    findings = _lint_text("""apiVersion: v1
kind: Service
metadata:
  name: s
  labels: {version: "1.0"}
spec:
  ports:
  - {port: 80, targetPort: http}
  - {port: 81, targetPort: 8081}
---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - name: c
    image: i
    resources: {limits: {cpu: 1, memory: 1Gi}, requests: {cpu: 0.5}}
""")
    assert findings == []


def test_unquoted_label_number_is_invalid() -> None:
    findings = _lint_text("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  labels:\n    version: 1.0\n")
    (f,) = findings
    assert f.check == "manifest-invalid" and f.evidence["path"] == "metadata.labels.version"
    assert f.evidence["location"] == "t.yaml:6"


@pytest.mark.parametrize(
    ("text", "path", "word"),
    [
        ("""apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    metadata: {labels: {app: d}}
    spec: {containers: [{name: c, image: i}]}
""", "spec.selector", "matchLabels"),
        ("""apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: i}
spec:
  rules:
  - http:
      paths:
      - path: /
        backend: {service: {name: s, port: {number: 80}}}
""", "spec.rules[0].http.paths[0].pathType", "Prefix"),
        ("""apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
  - image: i
""", "spec.containers[0].name", None),
    ],
)
def test_required_fields_of_the_current_api(text: str, path: str, word: str | None) -> None:
    got = [f for f in _lint_text(text) if f.check == "manifest-invalid"]
    assert [f.evidence["path"] for f in got] == [path]
    assert "rejects" in got[0].message
    if word:
        assert word in got[0].fix


def test_selector_must_match_template_labels() -> None:
    text = """apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web-v2}}
    spec: {containers: [{name: c, image: i}]}
"""
    (f,) = _lint_text(text)
    assert f.check == "manifest-invalid" and "does not match" in f.message
    assert "app: web-v2" in f.fix and f.evidence["location"] == "t.yaml:5"


def test_custom_resources_are_skipped() -> None:
    text = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\nspec: {anything: [1, 2]}\n"
    assert _lint_text(text) == []


def test_schema_rules_do_not_run_on_cluster_snapshots() -> None:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "default"},
           "spec": {"bogus": 1, "ports": [{"port": 80}]}}
    cluster = Snapshot(objects=(obj,), source=SourceInfo(kind="cluster", context="c"))
    assert run_rules(RuleContext(cluster), only=("manifest-unknown-field", "manifest-invalid")) == []
    manifests = Snapshot(objects=(obj,), source=SourceInfo(kind="manifests"))
    got = run_rules(RuleContext(manifests), only=("manifest-unknown-field",))
    assert [f.evidence["path"] for f in got] == ["spec.bogus"]


@pytest.mark.parametrize(
    ("snippet", "path", "belongs"),
    [
        ("readinessProbe: {tcpSocket: {port: 80}}", "spec.template.spec.readinessProbe", "spec.template.spec.containers[]"),
        ("replicas: 3", "spec.template.spec.replicas", "spec"),
    ],
)
def test_a_field_at_the_wrong_level_says_where_it_belongs(snippet: str, path: str, belongs: str) -> None:
    text = f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: d}}
spec:
  selector: {{matchLabels: {{app: d}}}}
  template:
    metadata: {{labels: {{app: d}}}}
    spec:
      {snippet}
      containers: [{{name: c, image: i}}]
"""
    (f,) = _lint_text(text)
    assert f.check == "manifest-unknown-field" and f.evidence["path"] == path
    assert f.evidence["belongs"] == belongs and f"belongs under {belongs}" in f.message
    assert f.evidence["location"] == "t.yaml:9" and f"under `{belongs}`" in f.fix


def test_template_metadata_of_the_wrong_type_is_reported_not_a_crash() -> None:
    """A non-mapping `spec.template.metadata` used to crash the selector check (AttributeError)."""
    found = _lint_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: default}\n"
        "spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: oops\n"
        "    spec: {containers: [{name: a, image: x}]}\n"
    )
    assert any(f.check == "manifest-invalid" and f.evidence.get("path") == "spec.template.metadata"
               for f in found)
