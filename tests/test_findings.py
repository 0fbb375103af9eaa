"""The finding factory, structured subjects and the verdict's pointer to its root finding."""

from __future__ import annotations

from kdiag.catalog import catalog, explainers, probe_refutable
from kdiag.findings import make_finding, on_route
from kdiag.model import Finding, ObjectRef, PortRef, RuleRef, Subject, Verdict


def test_explainers_and_refutable_checks_come_from_the_catalog() -> None:
    assert explainers("pod")[:3] == ("pod-image-pull-failed", "pod-crash-looping", "pod-not-ready")
    assert explainers("client")[-1] == "client-websocket-url-mismatch"
    assert "websocket-idle-disconnect" in explainers("ingress")
    assert probe_refutable() == {"service-target-port-mismatch", "service-named-port-unresolved"}
    assert all(hop in ("client", "edge", "ingress", "gateway", "service", "endpoints", "pod")
               for c in catalog().values() for hop in c.explains)


def test_make_finding_reads_the_catalog_entry() -> None:
    f = make_finding("pod-port-not-listening", object="Pod default/web-1", message="nothing listens")
    check = catalog()["pod-port-not-listening"]
    assert (f.severity, f.hop, f.explanation, f.fix) == (check.severity, check.hop, check.explanation, check.fix)
    assert f.subject == Subject(object=ObjectRef("Pod", "default", "web-1"))


def test_subject_is_an_extra_json_key_and_optional_on_read() -> None:
    subject = Subject(object=ObjectRef("Service", "default", "web"), port=PortRef(80, "http", 8080),
                      rule=RuleRef("default/web", "example.com", "/"))
    f = make_finding("service-target-port-mismatch", object="Service default/web", message="m", subject=subject)
    d = f.to_dict()
    assert list(d)[:8] == ["check", "severity", "hop", "object", "message", "explanation", "fix", "evidence"]
    assert Finding.from_dict(d) == f
    del d["subject"]
    old = Finding.from_dict(d)
    assert old.subject is None and old.about.object == ObjectRef("Service", "default", "web")


def test_verdict_finding_index_round_trips_and_is_optional() -> None:
    v = Verdict("fail", "service", "service-target-port-mismatch", "s", finding=2)
    assert Verdict.from_dict(v.to_dict()) == v
    assert Verdict.from_dict({"status": "ok", "hop": None, "check": None, "summary": ""}).finding is None


def test_on_route_compares_ports_and_rules_not_text() -> None:
    port_80 = Subject(port=PortRef(port=80))
    assert on_route(port_80, port=80, rule=None)
    assert not on_route(port_80, port=8080, rule=None)  # "80" is in "8080", but it is another port
    named = Subject(port=PortRef(port=80, name="http"))
    assert on_route(named, port="http", rule=None)
    rule = Subject(rule=RuleRef("default/web", "", "/api"))
    assert on_route(rule, port=None, rule="*/api") and not on_route(rule, port=None, rule="*/")
