"""Issue 11: targeted reads for one URL, no findings about unread objects, linear indexes, stats.

A small synthetic cluster (kdiag.lab.synthetic) is served by the lab's fake API server over HTTPS
on 127.0.0.1; assertions are on the requests the server recorded.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kdiag.snapshot as snapshot_module
from kdiag.diagnose import snapshot_findings, walk_cluster
from kdiag.events import WalkFinished
from kdiag.kube import Kube
from kdiag.lab.apiserver.server import FakeApiServer
from kdiag.lab.synthetic import (
    BIG,
    Sizes,
    host_for,
    hostless_url,
    namespace_plan,
    synthetic_objects,
)
from kdiag.model import Report, SourceInfo
from kdiag.report.text import render_text
from kdiag.route import parse_target
from kdiag.session import WalkRequest
from kdiag.snapshot import Snapshot
from kdiag.sources.targeted import load_route

SIZES = Sizes(namespaces=8, services=160, big_services=60, tiny_services=2, hostless=4)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeApiServer, Path]]:
    server = FakeApiServer(list(synthetic_objects(SIZES)), share=True, derive_endpoints=False).start()
    kubeconfig = tmp_path_factory.mktemp("scale") / "kubeconfig"
    server.write_kubeconfig(kubeconfig, namespace="app-001")
    try:
        yield server, kubeconfig
    finally:
        server.stop()


def _load(cluster: tuple[FakeApiServer, Path], url: str, headers: dict[str, str] | None = None
          ) -> tuple[Snapshot, list[Any], Kube]:
    server, kubeconfig = cluster
    kube = Kube.connect(kubeconfig=str(kubeconfig), context=None, namespace=None)
    server.clear_requests()
    try:
        snap = load_route(kube, parse_target(url, headers or {}))
    finally:
        kube.close()
    return snap, list(server.requests), kube


def _reads(requests: list[Any]) -> list[tuple[str, str, str]]:
    """(path, labelSelector, limit) of every request."""
    return [(r.path, r.query.get("labelSelector", ""), r.query.get("limit", "")) for r in requests]


class TestTargetedReads:
    def test_one_url_reads_only_its_route(self, cluster: tuple[FakeApiServer, Path]) -> None:
        url = f"ws://{host_for('svc-00004', BIG)}/ws"
        snap, requests, kube = _load(cluster, url)
        reads = _reads(requests)
        paths = [p for p, _, _ in reads]
        # the Ingresses of every namespace, once (one page here), and the classes
        assert paths.count("/apis/networking.k8s.io/v1/ingresses") == 1
        assert "/apis/networking.k8s.io/v1/ingressclasses" in paths
        # the route's Service by name, its slices and pods by label selector: nothing else there
        assert ("/api/v1/namespaces/app-000/services/svc-00004", "", "") in reads
        assert ("/apis/discovery.k8s.io/v1/namespaces/app-000/endpointslices",
                "kubernetes.io/service-name=svc-00004", "500") in reads
        assert ("/api/v1/namespaces/app-000/pods", "app=svc-00004", "500") in reads
        # owners by name: the ReplicaSet, then its Deployment
        assert "/apis/apps/v1/namespaces/app-000/replicasets/svc-00004-5d4f8" in paths
        assert "/apis/apps/v1/namespaces/app-000/deployments/svc-00004" in paths
        # no whole-namespace list anywhere, and no other application namespace touched
        for path, selector, _ in reads:
            if path.endswith(("/pods", "/services", "/endpointslices")):
                assert selector, f"an unselected list: {path}"
            assert "/namespaces/app-0" not in path or "/namespaces/app-000/" in path, path
            assert "/namespaces/app-tiny/" not in path and "/namespaces/app-001/" not in path, path
        assert len(requests) <= 20
        assert kube.stats()["api_requests"] == len(requests)
        assert kube.stats()["api_bytes"] == sum(r.bytes for r in requests) > 0
        # the snapshot holds the route, not the namespace
        assert len(snap.list("Service", BIG)) == 1
        assert len(snap.list("Pod", BIG)) == SIZES.pods_per_service
        assert snap.list("Ingress") and all(
            any(r.get("host") in (host_for("svc-00004", BIG), None) for r in i["spec"]["rules"])
            for i in snap.list("Ingress"))

    def test_hostless_rules_do_not_pull_their_namespaces(self, cluster: tuple[FakeApiServer, Path]) -> None:
        """Only the namespace of the rule that serves the URL is read (by selector), not the
        namespaces of every rule without a host."""
        snap, requests, _ = _load(cluster, hostless_url(2))
        plan = namespace_plan(SIZES)
        served_ns = plan[2][0]
        touched = {p.split("/namespaces/")[1].split("/")[0] for p, _, _ in _reads(requests) if "/namespaces/" in p}
        assert touched <= {served_ns, "ingress-nginx"}, touched
        assert snap.list("Service", served_ns)
        assert len(requests) <= 20

    def test_no_findings_about_unread_objects(self, cluster: tuple[FakeApiServer, Path]) -> None:
        """Ingresses whose namespaces were not read never get a 'Service missing' finding."""
        for url in (f"http://{host_for('svc-00004', BIG)}/", hostless_url(1),
                    "http://nothing.example.org/none"):  # the last matches no rule: all Ingresses kept
            snap, _, _ = _load(cluster, url)
            findings = snapshot_findings(snap, WalkRequest(url=url))
            missing = [f for f in findings if f.check in ("ingress-backend-service-missing",
                                                            "ingress-tls-secret-missing",
                                                            "service-selector-matches-no-pods")]
            assert missing == [], (url, [f.message for f in missing])
        # no rule matches: the hint still names the closest rule, from a few similar hosts only
        assert 0 < len(snap.list("Ingress")) <= 20
        typo = f"http://{host_for('svc-00004', BIG)}x/"
        snap, _, _ = _load(cluster, typo)
        hint = [f for f in snapshot_findings(snap, WalkRequest(url=typo))
                if f.check == "ingress-no-rule-matches"]
        assert hint and f"closest rule: {host_for('svc-00004', BIG)}/" in hint[0].message

    def test_missing_service_widens_to_its_namespace(self, cluster: tuple[FakeApiServer, Path]) -> None:
        server, kubeconfig = cluster
        ing = {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
               "metadata": {"name": "typo", "namespace": "app-001"},
               "spec": {"ingressClassName": "nginx", "rules": [{"host": "typo.example.com", "http": {"paths": [
                   {"path": "/", "pathType": "Prefix",
                    "backend": {"service": {"name": "svc-00O70", "port": {"number": 80}}}}]}}]}}
        world = [*synthetic_objects(SIZES), ing]
        other = FakeApiServer(world, share=True, derive_endpoints=False).start()
        try:
            kc = kubeconfig.parent / "kc-typo"
            other.write_kubeconfig(kc)
            kube = Kube.connect(kubeconfig=str(kc), context=None, namespace=None)
            snap = load_route(kube, parse_target("http://typo.example.com/"))
            kube.close()
        finally:
            other.stop()
        findings = [f for f in snapshot_findings(snap, WalkRequest(url="http://typo.example.com/"))
                    if f.check == "ingress-backend-service-missing"]
        assert len(findings) == 1 and "does not exist in app-001" in findings[0].message
        assert "did you mean 'svc-00070'" in findings[0].message  # the namespace was read to say so

    def test_cluster_wide_ingress_list_forbidden_falls_back_to_namespace_reads(
            self, tmp_path: Path) -> None:
        server = FakeApiServer(list(synthetic_objects(SIZES)), share=True, derive_endpoints=False,
                               forbidden=[("list", "ingresses", None)]).start()
        try:
            kc = server.write_kubeconfig(tmp_path / "kc", namespace=BIG)
            kube = Kube.connect(kubeconfig=str(kc), context=None, namespace=None)
            url = f"http://{host_for('svc-00004', BIG)}/"
            snap = load_route(kube, parse_target(url))
            kube.close()
        finally:
            server.stop()
        assert snap.scope is None  # load_cluster's reads: the context namespace in full
        assert snap.get("Service", BIG, "svc-00004") is not None
        assert any(f.check == "source-read-forbidden" for f in snap.findings)


class TestStats:
    def test_walk_report_carries_stats(self, cluster: tuple[FakeApiServer, Path]) -> None:
        server, kubeconfig = cluster
        kube = Kube.connect(kubeconfig=str(kubeconfig), context=None, namespace=None)
        url = f"ws://{host_for('svc-00000', BIG)}/ws"
        server.clear_requests()

        async def run() -> Report:
            report = None
            async for ev in walk_cluster(kube, WalkRequest(url=url), timeout=1.0):
                if isinstance(ev, WalkFinished):
                    report = ev.report
            assert report is not None
            return report

        try:
            report = asyncio.run(run())
        finally:
            kube.close()
        assert report.stats is not None
        assert 5 <= report.stats["api_requests"] <= 20 and report.stats["api_bytes"] > 1000
        # The probes through the API server (port-forward, service proxy) are counted too: with
        # the read, they are what the API server saw of this walk.
        through = [p for h in report.hops for p in h.probes if p.via in ("port-forward", "service-proxy")]
        assert report.stats["api_probes"] == len(through) > 0
        seen = [r for r in server.requests if "kdiag" in r.user_agent.lower()]
        assert len(seen) == report.stats["api_requests"] + report.stats["api_probes"]
        doc = json.loads(json.dumps(report.to_dict()))
        assert doc["stats"] == dict(report.stats)
        assert Report.from_dict(doc).stats == report.stats
        assert f"{report.stats['api_requests']} API requests" in render_text(report, color=False)
        assert f"{report.stats['api_probes']} probes through the API server" in " ".join(
            render_text(report, color=False).split())

    def test_reports_without_stats_stay_as_they_were(self) -> None:
        from kdiag.model import Verdict

        report = Report(source=SourceInfo(kind="manifests"), findings=(),
                        verdict=Verdict(status="ok", hop=None, check=None, summary="fine"))
        assert "stats" not in report.to_dict()
        assert "API requests" not in render_text(report, color=False)


# -- linear indexes ----------------------------------------------------------------------------


def _namespace(services: int, pods_per_service: int) -> Snapshot:
    objs: list[dict[str, Any]] = []
    for i in range(services):
        labels = {"app": f"a{i}", "tier": "web"}
        objs.append({"kind": "Service", "metadata": {"name": f"s{i}", "namespace": "ns"},
                     "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}})
        for p in range(pods_per_service):
            objs.append({"kind": "Pod", "metadata": {"name": f"p{i}-{p}", "namespace": "ns",
                                                     "labels": {**labels, "pod-template-hash": "x"}},
                         "spec": {"containers": [{"name": "c", "image": "i",
                                                  "ports": [{"containerPort": 8080}]}]},
                         "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}})
    return Snapshot(objects=tuple(objs), source=SourceInfo(kind="cluster"), namespace="ns")


def _count_label_matches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls = [0]
    real = snapshot_module.labels_match

    def counting(selector: Any, labels: Any) -> bool:
        calls[0] += 1
        return real(selector, labels)

    monkeypatch.setattr(snapshot_module, "labels_match", counting)
    return calls


class TestLinearIndexes:
    def test_pods_for_service_and_services_selecting_are_index_lookups(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from kdiag.pods.selection import services_selecting

        snap = _namespace(300, 4)
        calls = _count_label_matches(monkeypatch)
        for svc in snap.list("Service"):
            assert len(snap.pods_for_service(svc)) == 4
        for pod in snap.list("Pod"):
            found = services_selecting(snap, "ns", pod["metadata"]["labels"])
            assert [s["metadata"]["name"] for s in found] == [f"s{pod['metadata']['name'][1:].split('-')[0]}"]
        # one check per selected pod and per selecting Service: 300*4 + 1200, not 300*1200*2
        assert calls[0] <= 2 * 300 * 4

    def test_rules_grow_linearly_with_the_namespace(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """labels_match calls of every rule over a namespace grow with its size, not its square."""
        counts = []
        for services in (100, 400):
            snap = _namespace(services, 5)
            calls = _count_label_matches(monkeypatch)
            snapshot_findings(snap)
            counts.append(calls[0])
        assert counts[1] <= 4 * counts[0] * 1.2, counts  # quadratic would be 16x
