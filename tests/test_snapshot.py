"""The snapshot's derived views never raise on oddly shaped objects (manifests can hold anything)."""

from __future__ import annotations

from kdiag.model import SourceInfo
from kdiag.snapshot import Snapshot


def test_pod_views_tolerate_non_mapping_fields() -> None:
    objs = (
        {"kind": "Deployment", "metadata": {"name": "x", "namespace": "default"}, "spec": "oops"},
        {"kind": "StatefulSet", "metadata": "bad", "spec": {"template": 5}},
        {"kind": "Pod", "metadata": {"name": "p", "namespace": "default", "labels": [1]}, "spec": []},
    )
    snap = Snapshot(objs, SourceInfo("manifests"))
    views = snap.pod_views("default")
    assert {v.name for v in views} == {"p", "x"}
    assert all(v.spec == {} for v in views)


def test_pods_for_service_uses_templates_when_there_are_no_pods() -> None:
    dep = {"kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": []}}}}
    svc = {"kind": "Service", "metadata": {"name": "web", "namespace": "default"},
           "spec": {"selector": {"app": "web"}}}
    snap = Snapshot((dep, svc), SourceInfo("manifests"))
    [view] = snap.pods_for_service(svc)
    assert view.is_template and view.ref == "Deployment default/web (pod template)"
