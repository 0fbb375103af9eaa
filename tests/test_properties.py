"""Property-based hardening (hypothesis): manifests with odd values in every field, mutated saved
reports, arbitrary URLs and option values, and the plain text layout against rich's.

Every run ends with exit 0, 1 or 2, never an internal error or traceback, and every JSON output
is valid JSON (no NaN)."""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdiag.cli import main
from kdiag.errors import UsageError
from kdiag.options import MAX_IDLE, MAX_TIMEOUT
from kdiag.urls import check_url, parse_loose_url

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

APP: list[dict[str, Any]] = [
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
     "metadata": {"name": "chat", "namespace": "default", "annotations": {"nginx.ingress.kubernetes.io/rewrite-target": "/"}},
     "spec": {"ingressClassName": "nginx", "tls": [{"hosts": ["chatapp.com"], "secretName": "tls"}],
              "rules": [{"host": "chatapp.com", "http": {"paths": [
                  {"path": "/", "pathType": "Prefix",
                   "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]},
     "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.1"}]}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
     "spec": {"selector": {"app": "web"}, "type": "ClusterIP",
              "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
     "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
              "template": {"metadata": {"labels": {"app": "web"}},
                           "spec": {"containers": [{"name": "web", "image": "web:1",
                                                    "ports": [{"containerPort": 8080}],
                                                    "readinessProbe": {"httpGet": {"path": "/", "port": 8080}}}]}}}},
    {"apiVersion": "v1", "kind": "Pod",
     "metadata": {"name": "web-1", "namespace": "default", "labels": {"app": "web"},
                  "ownerReferences": [{"kind": "ReplicaSet", "name": "web-7d", "controller": True}]},
     "spec": {"containers": [{"name": "web", "image": "web:1", "ports": [{"containerPort": 8080}]}]},
     "status": {"phase": "Running", "podIP": "10.0.0.5",
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "web", "ready": True, "restartCount": 0}]}},
    {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
     "metadata": {"name": "web-abc", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
     "addressType": "IPv4",
     "endpoints": [{"addresses": ["10.0.0.5"], "conditions": {"ready": True},
                    "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "default"}}],
     "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]},
]

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.just(10**40),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
    st.sampled_from(["", "80", "http", "*", "../..", "{{ .Values.x }}", "web", "ReplicaSet", "True"]),
)
ODD = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


def _set(root: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        root = root[key]
    root[path[-1]] = value


@st.composite
def mutated(draw: st.DrawFn, base: Any) -> Any:
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        try:
            _set(doc, path, draw(ODD))
        except (TypeError, KeyError, IndexError):
            pass  # a parent was replaced by a scalar in an earlier step
    return doc


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


def _assert_contract(code: int, out: str, err: str, *, fmt: str = "json") -> None:
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        assert len([ln for ln in err.splitlines() if ln.strip()]) == 1, err
    elif fmt == "json":
        _strict_json(out)


@SETTINGS
@given(docs=st.tuples(*(mutated(o) for o in APP)))
def test_manifests_with_odd_values(docs: tuple[Any, ...], tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("odd") / "app.yaml"
    path.write_text(yaml.safe_dump_all(list(docs)))
    _assert_contract(*_run(["lint", str(path), "--format", "json"]))
    _assert_contract(*_run(["diagnose", "https://chatapp.com/", "-f", str(path), "--format", "json"]))
    _assert_contract(*_run(["diagnose", "wss://chatapp.com/ws", "-f", str(path), "--format", "text",
                            "--client-url", "/ws", "--page-url", "https://chatapp.com/"]), fmt="text")


def _saved_report() -> dict[str, Any]:
    p = Path(__file__).parent / "fixtures" / "render" / "diagnose.json"
    data: dict[str, Any] = json.loads(p.read_text())
    return data


@SETTINGS
@given(doc=mutated(_saved_report()), fmt=st.sampled_from(["text", "json", "markdown", "html"]))
def test_mutated_saved_reports(doc: Any, fmt: str, tmp_path_factory: Any) -> None:
    path = tmp_path_factory.mktemp("rep") / "r.json"
    path.write_text(json.dumps(doc))  # NaN may be written; kdiag refuses it with one line
    _assert_contract(*_run(["report", "show", str(path), "--format", fmt]), fmt=fmt)


@settings(max_examples=300, deadline=None)
@given(url=st.one_of(st.text(max_size=40),
                     st.builds(lambda s, h, p: f"{s}://{h}{p}",
                               st.sampled_from(["http", "https", "ws", "wss", "htps", "HTTP", ""]),
                               st.text(max_size=20), st.text(max_size=10))))
def test_any_url_is_checked_or_refused_in_one_line(url: str) -> None:
    for check in (check_url, lambda u: parse_loose_url(u, "--client-url")):
        try:
            check(url)
        except UsageError as e:
            assert "\n" not in str(e).strip() or "\n" in url
    try:
        parts = check_url(url)
    except UsageError:
        return
    assert parts.scheme in ("http", "https", "ws", "wss") and parts.host
    assert parts.port is None or 1 <= parts.port <= 65535


@settings(max_examples=60, deadline=None)
@given(value=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=8)),
       flag=st.sampled_from(["--timeout", "--idle"]))
def test_any_duration_value(value: str, flag: str) -> None:
    code, _, err = _run(["diagnose", "http://chatapp.com/", f"{flag}={value}", "-f", "/nonexistent"])
    assert code == 2 and "internal error" not in err and "Traceback" not in err
    try:
        number = float(value)
    except ValueError:
        return
    if not math.isfinite(number) or number <= 0 or number > {"--timeout": MAX_TIMEOUT, "--idle": MAX_IDLE}[flag]:
        assert flag in err, err


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), indent=st.sampled_from([0, 4]))
def test_plain_layout_equals_rich(text: str, indent: int) -> None:
    from rich.padding import Padding
    from rich.text import Text

    from kdiag.report.plainwrap import print_plain
    from kdiag.report.text import console, rstrip_lines

    item = Padding(Text(text), (0, 0, 0, indent), expand=False) if indent else Text("  " + text)
    fast, slow = console(False), console(False)
    print_plain(fast, [item])
    slow.print(item)
    assert rstrip_lines(fast.file.getvalue()) == rstrip_lines(slow.file.getvalue())
