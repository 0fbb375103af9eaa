"""The manifest loader: every input form, file:line of bad documents, the rest still loaded."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdiag.errors import InputError
from kdiag.snapshot import Origin
from kdiag.sources.manifests import field_line, load_manifest_text, load_manifests

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "manifests"

SVC = """apiVersion: v1
kind: Service
metadata:
  name: {name}
spec:
  ports:
  - port: 80
"""


def _write(root: Path, rel: str, text: str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")
    return p


def _invalid(snap):  # type: ignore[no-untyped-def]
    return [f for f in snap.findings if f.check == "manifest-invalid"]


def test_multi_document_bad_document_is_reported_with_line_and_the_rest_loads() -> None:
    text = (SVC.format(name="a") + "---\n"
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  ports:\n  - port: 80\n"
            "   targetPort: 8080\n"  # line 16: bad indentation
            "---\n" + SVC.format(name="c"))
    snap = load_manifest_text(text, path="multi.yaml")
    assert sorted(o["metadata"]["name"] for o in snap.list("Service")) == ["a", "c"]
    (bad,) = _invalid(snap)
    assert bad.severity == "error"
    assert bad.evidence["location"] == "multi.yaml:16:4"  # line:column of the misindented key
    assert bad.message.startswith("multi.yaml:16:4: indentation problem at `targetPort: 8080`")
    assert "Indent" in bad.fix and "selector" not in bad.fix  # the fix fits the error
    assert snap.origin(snap.get("Service", "default", "c")) == Origin("multi.yaml", 18, 2)


def test_origins_are_one_based_lines_of_each_document() -> None:
    text = "# a comment\n" + SVC.format(name="a") + "---\n# Source: chart/templates/b.yaml\n" + SVC.format(name="b")
    snap = load_manifest_text(text, path="m.yaml")
    assert str(snap.origin(snap.get("Service", "default", "a"))) == "m.yaml:2"
    assert str(snap.origin(snap.get("Service", "default", "b"))) == "m.yaml:11"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("- just\n- a list\n", "is a list of 2 items, not a Kubernetes object"),
        ("just a string\n", "is plain text ('just a string'), not a Kubernetes object"),
        ("kind: Service\nmetadata: {name: a}\n", "lacks apiVersion"),
        ("apiVersion: v1\nmetadata: {name: a}\n", "lacks kind"),
        ("apiVersion: v1\nkind: Service\nmetadata: {}\n", "lacks metadata.name"),
        ("apiVersion: v1\nkind: Service\n", "lacks metadata.name"),
        ("apiVersion: v1\nkind: Service\nmetadata: {name: [unclosed\n", "invalid YAML"),
    ],
)
def test_bad_documents_become_manifest_invalid(text: str, expect: str) -> None:
    snap = load_manifest_text(SVC.format(name="ok") + "---\n" + text, path="x.yaml")
    (bad,) = _invalid(snap)
    assert expect in bad.message
    assert bad.evidence["location"].startswith("x.yaml:")
    assert int(bad.evidence["location"].split(":")[1]) >= 9  # inside the second document
    assert snap.get("Service", "default", "ok") is not None


def test_empty_documents_and_comments_are_ignored() -> None:
    snap = load_manifest_text("---\n# only a comment\n---\n\n---\n" + SVC.format(name="a") + "...\n",
                              path="e.yaml")
    assert len(snap) == 1 and not snap.findings


def test_json_file_and_json_list(tmp_path: Path) -> None:
    obj = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "j"}, "spec": {"ports": [{"port": 80}]}}
    lst = {"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c2"}}]}
    _write(tmp_path, "one.json", json.dumps(obj, indent="\t"))  # tabs: JSON, not YAML
    _write(tmp_path, "list.json", json.dumps(lst, indent=2))
    _write(tmp_path, "bad.json", '{"apiVersion": "v1",\n "kind": }')
    snap = load_manifests([str(tmp_path)])
    assert snap.get("Service", "default", "j") is not None
    assert {o["metadata"]["name"] for o in snap.list("ConfigMap")} == {"c1", "c2"}
    (bad,) = _invalid(snap)
    assert bad.evidence["location"] == f"{tmp_path / 'bad.json'}:2"
    assert "invalid JSON" in bad.message


def test_kubectl_get_list_items_keep_their_own_lines_and_need_a_kind() -> None:
    text = """apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: a
    namespace: shop
- apiVersion: v1
  metadata:
    name: nokind
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: d
"""
    snap = load_manifest_text(text, path="dump.yaml", namespace="other")
    assert str(snap.origin(snap.get("Service", "shop", "a"))) == "dump.yaml:4"
    assert str(snap.origin(snap.get("Deployment", "other", "d"))) == "dump.yaml:12"
    (bad,) = _invalid(snap)
    assert bad.evidence["location"] == "dump.yaml:9" and "lacks kind" in bad.message
    assert "item 1 of the List" in bad.message


def test_typed_list_from_kubectl_get_with_status_and_timestamps() -> None:
    snap = load_manifests([str(FIXTURES / "kubectl-get" / "deployments.yaml")])
    dep = snap.get("Deployment", "shop", "web")
    assert dep is not None
    ts = dep["metadata"]["creationTimestamp"]
    assert isinstance(ts, str) and ts.startswith("2026-")  # a string, as JSON would give
    assert not snap.findings


def test_namespace_defaults_only_for_namespaced_kinds() -> None:
    text = SVC.format(name="s") + "---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: r\n"
    text += "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n"
    snap = load_manifest_text(text, path="n.yaml", namespace="shop")
    assert snap.get("Service", "shop", "s")["metadata"]["namespace"] == "shop"  # type: ignore[index]
    role = snap.list("ClusterRole")[0]
    assert "namespace" not in role["metadata"]
    assert snap.namespace == "shop" and snap.source.kind == "manifests"


def test_every_kind_is_kept() -> None:
    text = """apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: web}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec: {scaleTargetRef: {kind: Deployment, name: web}, maxReplicas: 3}
"""
    snap = load_manifest_text(text, path="k.yaml")
    assert {o["kind"] for o in snap} == {"Certificate", "HorizontalPodAutoscaler"}


def test_secret_data_is_dropped_at_load_time() -> None:
    text = """apiVersion: v1
kind: Secret
metadata:
  name: tls
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"data":{"tls.key":"c2VjcmV0"}}'
    keep: me
type: kubernetes.io/tls
data:
  tls.crt: Y2VydA==
  tls.key: c2VjcmV0
stringData:
  password: hunter2
"""
    snap = load_manifest_text(text, path="s.yaml")
    secret = snap.get("Secret", "default", "tls")
    assert secret is not None
    assert "data" not in secret and "stringData" not in secret
    assert secret["metadata"]["annotations"] == {"keep": "me"}
    assert secret["type"] == "kubernetes.io/tls"
    dump = json.dumps([dict(o) for o in snap]) + json.dumps(dict(snap.facts))
    assert "c2VjcmV0" not in dump and "hunter2" not in dump


def test_duplicate_object_is_a_warning_and_the_last_wins() -> None:
    text = SVC.format(name="a") + "---\n" + SVC.format(name="a").replace("port: 80", "port: 81")
    snap = load_manifest_text(text, path="d.yaml")
    assert len(snap.list("Service")) == 1
    assert snap.get("Service", "default", "a")["spec"]["ports"][0]["port"] == 81  # type: ignore[index]
    (dup,) = _invalid(snap)
    assert dup.severity == "warning" and "d.yaml:1" in dup.message


def test_directory_walk_skips_hidden_helm_metadata_and_non_manifests(tmp_path: Path) -> None:
    _write(tmp_path, "a.yaml", SVC.format(name="a"))
    _write(tmp_path, "sub/deeper/b.yml", SVC.format(name="b"))
    _write(tmp_path, ".git/c.yaml", SVC.format(name="hidden"))
    _write(tmp_path, ".hidden.yaml", SVC.format(name="hidden2"))
    _write(tmp_path, "chart/Chart.yaml", "apiVersion: v2\nname: chart\nversion: 1.0.0\n")
    _write(tmp_path, "chart/values.yaml", "replicas: 3\nimage: {tag: latest}\n")
    _write(tmp_path, "notes.txt", "not yaml")
    _write(tmp_path, "ci.yaml", "stages: [build, test]\n")
    snap = load_manifests([str(tmp_path)])
    assert sorted(o["metadata"]["name"] for o in snap) == ["a", "b"]
    (note,) = snap.findings
    assert note.severity == "info" and "ci.yaml" in note.message and "skipped" in note.message


def test_unrendered_helm_template_says_how_to_render(tmp_path: Path) -> None:
    _write(tmp_path, "chart/Chart.yaml", "apiVersion: v2\nname: chart\nversion: 1.0.0\n")
    _write(tmp_path, "chart/templates/deploy.yaml",
           "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"c.name\" . }}\n"
           "spec:\n  replicas: {{ .Values.replicas }}\n")
    _write(tmp_path, "rendered.yaml", SVC.format(name="r"))
    snap = load_manifests([str(tmp_path)])
    (tmpl,) = _invalid(snap)
    assert tmpl.evidence["location"].endswith("deploy.yaml:4")
    assert "helm template" in tmpl.fix and "kustomize build" in tmpl.fix
    assert snap.get("Service", "default", "r") is not None


def test_helm_rendered_output_with_source_comments_loads() -> None:
    text = ("---\n# Source: web/templates/service.yaml\n" + SVC.format(name="web")
            + "---\n# Source: web/templates/deployment.yaml\napiVersion: apps/v1\nkind: Deployment\n"
            "metadata:\n  name: web\n  labels:\n    helm.sh/chart: web-0.1.0\n")
    snap = load_manifest_text(text, path="<stdin>")
    assert len(snap) == 2 and not snap.findings
    assert str(snap.origin(snap.get("Deployment", "default", "web"))) == "<stdin>:12"


def test_stdin_dash_is_read() -> None:
    snap = load_manifests(["-"], stdin=io.StringIO(SVC.format(name="from-stdin")))
    obj = snap.get("Service", "default", "from-stdin")
    assert obj is not None and str(snap.origin(obj)) == "<stdin>:1"
    assert snap.source.paths == ("-",)


def test_files_and_stdin_together(tmp_path: Path) -> None:
    f = _write(tmp_path, "a.yaml", SVC.format(name="a"))
    snap = load_manifests([str(f), "-"], stdin=io.StringIO(SVC.format(name="b")))
    assert {o["metadata"]["name"] for o in snap} == {"a", "b"}


@pytest.mark.parametrize("bad", ["does-not-exist.yaml", "missing-dir/"])
def test_missing_path_is_an_input_error(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InputError) as e:
        load_manifests([str(tmp_path / bad)])
    assert "no such file or directory" in str(e.value) and "\n" not in str(e.value)


def test_empty_folder_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no .yaml"):
        load_manifests([str(tmp_path / "empty")])


def test_unreadable_file_is_an_input_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = _write(tmp_path, "locked.yaml", SVC.format(name="x"))

    def deny(self: Path, *args: object, **kwargs: object) -> bytes:  # root ignores file modes: simulate EACCES
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", deny)
    with pytest.raises(InputError) as e:
        load_manifests([str(p)])
    assert str(e.value) == f"cannot read {p}: Permission denied"


def test_non_utf8_file_is_a_finding_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "latin.yaml").write_bytes(b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: \xe9}\n")
    _write(tmp_path, "ok.yaml", SVC.format(name="ok"))
    snap = load_manifests([str(tmp_path)])
    (bad,) = _invalid(snap)
    assert "not UTF-8" in bad.message
    assert snap.get("Service", "default", "ok") is not None


def test_field_line_points_at_keys_and_falls_back_to_parents() -> None:
    text = "\n" + SVC.format(name="a")
    snap = load_manifest_text(text, path="f.yaml")
    svc = snap.get("Service", "default", "a")
    assert svc is not None
    assert field_line(snap, svc, "spec.ports[0].port") == 8
    assert field_line(snap, svc, "spec.ports[0].nothere") == 8
    assert field_line(snap, svc, "metadata.name") == 5
    assert field_line(snap, svc, "zzz") is None


def test_duplicate_keys_are_reported_with_both_lines() -> None:
    text = """apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: c
    image: i
    env:
    - {name: A, value: "1"}
    env:
    - {name: B, value: "2"}
"""
    snap = load_manifest_text(text, path="dup.yaml")
    (f,) = _invalid(snap)
    assert f.evidence["location"] == "dup.yaml:11" and "first at line 9" in f.message
    assert f.evidence["path"] == "spec.containers[0].env" and f.object == "Pod default/p"
    # like the API server's decoder, the last value wins
    assert snap.get("Pod", "default", "p")["spec"]["containers"][0]["env"] == [{"name": "B", "value": "2"}]  # type: ignore[index]


def test_template_actions_inside_rendered_values_are_not_helm_templates() -> None:
    text = """apiVersion: v1
kind: ConfigMap
metadata:
  name: alertmanager-templates
data:
  slack.tmpl: |
    {{ define "slack.title" }}{{ .CommonLabels.alertname }}{{ end }}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}-web
"""
    snap = load_manifest_text(text, path="mixed.yaml")
    assert snap.get("ConfigMap", "default", "alertmanager-templates") is not None
    (tmpl,) = _invalid(snap)
    assert tmpl.evidence["location"] == "mixed.yaml:12" and "helm template" in tmpl.fix


_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                     st.text(max_size=8))
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=20)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:- \n\t{}[]\"'#|>&*!%@`,.?0123456789")), max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    from kdiag.rules import RuleContext, run_rules

    snap = load_manifest_text(text, path="fuzz.yaml")
    run_rules(RuleContext(snap), only=("manifest-invalid", "manifest-unknown-field",
                                       "manifest-removed-api-version"))


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from([("apps/v1", "Deployment"), ("v1", "Pod"), ("networking.k8s.io/v1", "Ingress"),
                             ("extensions/v1beta1", "Ingress"), ("v1", "Service")]),
       spec=_json, status=_json)
def test_arbitrary_object_bodies_never_raise(kind: tuple[str, str], spec: object, status: object) -> None:
    from kdiag.rules import RuleContext, run_rules

    text = json.dumps({"apiVersion": kind[0], "kind": kind[1], "metadata": {"name": "x"},
                       "spec": spec, "status": status})
    snap = load_manifest_text(text, path="fuzz.json")
    for f in run_rules(RuleContext(snap), only=("manifest-invalid", "manifest-unknown-field",
                                                 "manifest-removed-api-version")):
        assert f.message and f.evidence


def test_alias_bomb_is_refused_and_the_rest_loads() -> None:
    bomb = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: lol}\ndata:\n  a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    prev = "a"
    for name in "bcdefgh":
        bomb += f"  {name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]\n"
        prev = name
    snap = load_manifest_text(bomb + "---\n" + SVC.format(name="ok"), path="bomb.yaml")
    (bad,) = _invalid(snap)
    assert "billion laughs" in bad.message and bad.evidence["location"].startswith("bomb.yaml:")
    assert snap.get("Service", "default", "ok") is not None and snap.get("ConfigMap", "default", "lol") is None


def test_deep_nesting_is_a_finding() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\ndata: " + "[" * 1500 + "]" * 1500 + "\n"
    snap = load_manifest_text(text, path="deep.yaml")
    assert [f.check for f in snap.findings] == ["manifest-invalid"]


def test_deep_json_is_a_finding() -> None:
    snap = load_manifest_text('{"a": ' * 20000 + "1" + "}" * 20000, path="deep.json")
    assert [f.check for f in snap.findings] == ["manifest-invalid"]
