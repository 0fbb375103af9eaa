"""Controller-specific sentences come from the route's data-plane profile: ingress-nginx says what
it always said, an unknown data plane makes no controller-specific claim, and a second profile
speaks through the same rules, reports and vantage points without any change to them."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import pytest

from kdiag.dataplane import Affinity, Answer, Profile, register, unregister
from kdiag.model import Finding, Report, RouteInfo, SourceInfo, TargetInfo, Verdict
from kdiag.report.common import route_rows
from kdiag.rules import RuleContext, run_rules
from kdiag.session import WalkRequest
from kdiag.snapshot import Snapshot
from kdiag.vantage import controller_services

NGINX = "k8s.io/ingress-nginx"
OTHER = "example.com/other"
SECOND = "example.test/second"


def _second_sticky(obj: Mapping[str, Any]) -> bool:
    return bool((obj.get("metadata") or {}).get("annotations", {}).get("second.test/sticky"))


def _second_service(svc: Mapping[str, Any]) -> bool:
    return (svc.get("metadata") or {}).get("name") == "second-gateway"


SECOND_PROFILE = Profile(
    name="second", controllers=frozenset({SECOND}),
    no_route=Answer(421, "the second plane answers 421 Misdirected Request"),
    no_endpoints=Answer(502, "no endpoint: 502"),
    fallback_certificate="Second Plane Default Certificate",
    affinity=Affinity(setting="second.test/sticky annotation", sticky=_second_sticky, bypasses_service=False),
    controller_service=_second_service,
)


@pytest.fixture
def second() -> Iterator[Profile]:
    register(SECOND_PROFILE)
    try:
        yield SECOND_PROFILE
    finally:
        unregister(SECOND_PROFILE.name)


def _objects(controller: str, *, tls: bool = False, replicas: int = 1) -> list[dict[str, Any]]:
    spec: dict[str, Any] = {"ingressClassName": "c", "rules": [{"host": "f.io", "http": {"paths": [
        {"path": "/socket.io", "pathType": "Prefix",
         "backend": {"service": {"name": "chat", "port": {"number": 80}}}}]}}]}
    if tls:
        spec["tls"] = [{"hosts": ["f.io"], "secretName": "f-tls"}]
    labels = {"app": "chat"}
    return [
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "c"},
         "spec": {"controller": controller}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
         "metadata": {"name": "chat", "namespace": "default"}, "spec": spec},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "chat", "namespace": "default"},
         "spec": {"selector": labels, "ports": [{"port": 80}]}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "chat", "namespace": "default"},
         "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels},
                               "spec": {"containers": [{"name": "chat", "image": "chat:1"}]}}}},
    ]


def _snap(objs: Sequence[Mapping[str, Any]], kind: str = "cluster") -> Snapshot:
    return Snapshot(objects=tuple(objs), source=SourceInfo(kind=kind), namespace="default",  # type: ignore[arg-type]
                    denied={})


def _messages(check: str, snap: Snapshot, url: str | None = None) -> list[str]:
    ctx = RuleContext.for_request(snap, WalkRequest(url=url) if url else None)
    found: list[Finding] = run_rules(ctx, only=[check])
    return [f.message for f in found if f.check == check]


@pytest.mark.parametrize("controller, expected", [
    (NGINX, "does not exist: ingress-nginx serves its self-signed 'Kubernetes Ingress Controller Fake "
            "Certificate' and browsers refuse it"),
    (SECOND, "does not exist: second serves its self-signed 'Second Plane Default Certificate'"),
    (OTHER, "does not exist: the data plane has no certificate for them"),
])
def test_missing_tls_secret_says_what_the_data_plane_serves(second: Profile, controller: str, expected: str) -> None:
    (msg,) = _messages("ingress-tls-secret-missing", _snap(_objects(controller, tls=True)))
    assert expected in msg
    if controller == OTHER:
        assert "Fake Certificate" not in msg and "ingress-nginx" not in msg


@pytest.mark.parametrize("controller, expected", [
    (NGINX, "no Ingress rule matches host f.io and path /nope: the controller's default backend answers 404"),
    (SECOND, "no Ingress rule matches host f.io and path /nope: the second plane answers 421 Misdirected Request"),
    (OTHER, "no Ingress rule matches host f.io and path /nope: the data plane's answer is not known"),
])
def test_no_rule_answer_comes_from_the_profile(second: Profile, controller: str, expected: str) -> None:
    (msg,) = _messages("ingress-no-rule-matches", _snap(_objects(controller)), "http://f.io/nope")
    assert msg.startswith(expected), msg


@pytest.mark.parametrize("controller, expected", [
    (NGINX, "Ingress default/chat has no nginx.ingress.kubernetes.io/affinity: cookie annotation"),
    (SECOND, "Ingress default/chat has no second.test/sticky annotation"),
    (OTHER, None),
])
def test_session_affinity_advice_names_the_profile_setting(second: Profile, controller: str,
                                                           expected: str | None) -> None:
    msgs = _messages("service-session-affinity-needed", _snap(_objects(controller, replicas=3), "manifests"))
    if expected is None:
        assert msgs == []  # an unknown data plane: no claim about its affinity settings
    else:
        assert len(msgs) == 1 and expected in msgs[0], msgs


def _report(dataplane: Mapping[str, Any] | None) -> Report:
    route = RouteInfo(extra={"matched": False, "default_backend": "controller"}, dataplane=dataplane)
    return Report(source=SourceInfo("manifests"), target=TargetInfo(url="http://f.io/nope"), route=route,
                  hops=(), findings=(), verdict=Verdict(status="fail", hop=None, check=None, summary=""))


def test_report_no_rule_row_speaks_for_the_route_profile(second: Profile) -> None:
    def row(dataplane: Mapping[str, Any] | None) -> str:
        return dict(route_rows(_report(dataplane)))["No rule matched"]

    assert row({"controller": NGINX, "profile": "ingress-nginx"}) == "the controller's default backend answers 404"
    assert row(None) == "the controller's default backend answers 404"  # reports written before profiles
    assert row({"controller": SECOND, "profile": "second"}) == "the second plane answers 421 Misdirected Request"
    assert row({"controller": OTHER, "profile": "unknown"}) == "the data plane's answer is not known"


def test_controller_services_are_recognised_by_their_profile(second: Profile) -> None:
    svcs = [{"apiVersion": "v1", "kind": "Service", "metadata": {"name": n, "namespace": "x"}, "spec": {}}
            for n in ("second-gateway", "ingress-nginx-controller", "ingress-nginx-controller-admission", "web")]
    names = [s["metadata"]["name"] for s in controller_services(_snap(svcs))]
    assert sorted(names) == ["ingress-nginx-controller", "second-gateway"]
