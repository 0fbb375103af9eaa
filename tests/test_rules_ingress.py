"""Ingress rules beyond the catalog examples: live vs manifest severities, RBAC, hints, lab agreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import yaml

from kdiag.dataplane.ingress_nginx import KNOWN_ANNOTATIONS, closest_annotation
from kdiag.model import Finding, SourceInfo
from kdiag.rules import RuleContext, run_rules
from kdiag.session import WalkRequest
from kdiag.snapshot import Snapshot

NGINX = "nginx.ingress.kubernetes.io/"


def objs(text: str) -> list[dict[str, Any]]:
    out = []
    for d in yaml.safe_load_all(text):
        if d:
            if d.get("kind") not in ("IngressClass",):
                d.setdefault("metadata", {}).setdefault("namespace", "default")
            out.append(d)
    return out


def findings(text: str | Sequence[Mapping[str, Any]], check: str, *, kind: str = "manifests",
             denied: Mapping[str, str] | None = None, **target: Any) -> list[Finding]:
    items = objs(text) if isinstance(text, str) else list(text)
    snap = Snapshot(objects=tuple(items), source=SourceInfo(kind=kind),  # type: ignore[arg-type]
                    denied=denied or {})
    return run_rules(RuleContext.for_request(snap, WalkRequest(**target) if target else None), only=[check])


ING_TLS = """
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: chatapp}
spec:
  ingressClassName: nginx
  tls: [{hosts: [chatapp.com], secretName: chatapp-tls}]
  rules:
    - host: chatapp.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: chatapp-svc, port: {number: 3001}}}}
"""


@pytest.mark.parametrize(("kind", "denied", "severity"), [
    ("cluster", {}, "error"),
    ("manifests", {}, "warning"),
    ("cluster", {"Secret": "forbidden"}, "info"),
])
def test_tls_secret_missing_severity_by_source(kind: str, denied: dict[str, str], severity: str) -> None:
    got = findings(ING_TLS, "ingress-tls-secret-missing", kind=kind, denied=denied)
    assert [f.severity for f in got] == [severity]
    assert got[0].evidence["secret"] == "default/chatapp-tls"


def test_tls_secret_present_in_cluster_is_quiet() -> None:
    secret = "\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: chatapp-tls}\ntype: kubernetes.io/tls\n"
    assert findings(ING_TLS + secret, "ingress-tls-secret-missing", kind="cluster") == []


CHAT_STS = """
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: connector}
spec:
  selector: {matchLabels: {serverType: connector}}
  template:
    metadata: {labels: {serverType: connector, version: "1.0.0000"}}
    spec: {containers: [{name: c, image: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: connector-svc}
spec:
  selector: {serverType: connector}
  ports: [{port: 80}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: game}
spec:
  rules:
    - host: game.example.com
      http:
        paths:
          - {path: /socket.io, pathType: Prefix, backend: {service: {name: connector, port: {number: 80}}}}
"""


def test_backend_naming_a_statefulset_suggests_the_selecting_service() -> None:
    [f] = findings(CHAT_STS, "ingress-backend-service-missing")
    assert "StatefulSet" in f.message and "connector-svc" in f.message
    assert f.evidence["suggested_service"] == "connector-svc"
    assert "name: connector-svc" in f.fix and "number: 80" in f.fix


def test_backend_service_missing_suggests_same_stem_service() -> None:
    text = CHAT_STS.replace("kind: StatefulSet\nmetadata: {name: connector}",
                            "kind: StatefulSet\nmetadata: {name: conn-sts}")
    [f] = findings(text, "ingress-backend-service-missing", kind="cluster")
    assert f.evidence.get("suggested_service") == "connector-svc"


def test_backend_service_unreadable_is_info() -> None:
    got = findings(CHAT_STS, "ingress-backend-service-missing", kind="cluster",
                   denied={"Service": "forbidden"})
    assert [f.severity for f in got] == ["info"] and "cannot verify" in got[0].message


def test_backend_port_name_hint_and_only_port() -> None:
    text = """
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 8080, targetPort: 80}]}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  rules:
    - host: web.io
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {name: http}}}}
"""
    [f] = findings(text, "ingress-backend-port-missing")
    assert "only port is 8080" in f.message and "number: 8080" in f.fix


@pytest.mark.parametrize(("text", "kind", "count"), [
    # a live cluster without any IngressClass: the named class cannot exist
    (ING_TLS, "cluster", 1),
    # manifests without IngressClass objects: cannot tell
    (ING_TLS, "manifests", 0),
    # the legacy annotation is left alone
    (ING_TLS.replace("ingressClassName: nginx", "ingressClassName: null").replace(
        "metadata: {name: chatapp}",
        "metadata: {name: chatapp, annotations: {kubernetes.io/ingress.class: nginx}}"), "cluster", 0),
])
def test_class_missing_by_source(text: str, kind: str, count: int) -> None:
    assert len(findings(text, "ingress-class-missing", kind=kind)) == count


def _ws_ingress(annotations: Mapping[str, str], *, canary: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    def one(name: str, ann: Mapping[str, str], svc: str) -> dict[str, Any]:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": name, "namespace": "default", "annotations": dict(ann)},
                "spec": {"rules": [{"host": "chat.io", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": svc, "port": {"name": "ws"}}}}]}}]}}
    items = [one("main", annotations, "chat"),
             {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "chat", "namespace": "default"},
              "spec": {"selector": {"app": "chat"}, "ports": [{"name": "ws", "port": 80, "appProtocol": "kubernetes.io/ws"}]}}]
    if canary is not None:
        items.append(one("canary", {NGINX + "canary": "true", **canary}, "chat"))
    return items


def test_websocket_service_port_marks_route_and_canary_inherits_main_timeouts() -> None:
    # the canary's own (long) timeouts are ignored: ingress-nginx inherits them from the main Ingress
    items = _ws_ingress({}, canary={NGINX + "canary-weight": "100", NGINX + "proxy-read-timeout": "7200"})
    got = findings(items, "ingress-websocket-timeout", url="wss://chat.io/")
    assert [f.object for f in got] == ["Ingress default/main"]
    assert got[0].evidence["timeouts"]["read"]["seconds"] == 60


@pytest.mark.parametrize(("annotations", "fires"), [
    ({NGINX + "proxy-read-timeout": "3600", NGINX + "proxy-send-timeout": "3600"}, False),
    ({NGINX + "proxy-read-timeout": "3600"}, True),  # send still 60
    ({NGINX + "proxy-read-timeout": "86400", NGINX + "proxy-send-timeout": "7200"}, False),
])
def test_websocket_timeout_threshold(annotations: dict[str, str], fires: bool) -> None:
    assert bool(findings(_ws_ingress(annotations), "ingress-websocket-timeout")) is fires


def test_websocket_timeout_skips_other_controllers() -> None:
    items = _ws_ingress({})
    items[0]["spec"]["ingressClassName"] = "traefik"
    items.append({"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "traefik"},
                  "spec": {"controller": "traefik.io/ingress-controller"}})
    assert findings(items, "ingress-websocket-timeout") == []


@pytest.mark.parametrize(("name", "suggestion"), [
    ("server-snippets", "server-snippet"),
    ("proxy-read-timout", "proxy-read-timeout"),
    ("canary-by-headers", "canary-by-header"),
    ("ssl-redirects", "ssl-redirect"),
    ("completely-made-up-thing", None),
])
def test_closest_annotation(name: str, suggestion: str | None) -> None:
    assert name not in KNOWN_ANNOTATIONS
    assert closest_annotation(name) == suggestion


def test_unknown_annotation_only_for_the_nginx_prefix() -> None:
    items = _ws_ingress({"example.com/server-snippets": "x", NGINX + "service-weight": "a: 10, b: 90"})
    got = findings(items, "ingress-unknown-annotation")
    assert len(got) == 1 and "service-weight" in got[0].message and "canary-weight" in got[0].message


def test_no_rule_matches_mentions_class_rejected_ingress_and_default_backend() -> None:
    text = """
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: nginx}
spec: {controller: k8s.io/ingress-nginx}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web}
spec:
  ingressClassName: nginx-internal
  rules:
    - host: web.io
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: web, port: {number: 80}}}}
"""
    [f] = findings(text, "ingress-no-rule-matches", url="https://web.io/")
    assert f.severity == "error" and "ignored because of its class" in f.message
    with_default = text.replace("ingressClassName: nginx-internal", "ingressClassName: nginx\n  "
                                "defaultBackend: {service: {name: fallback, port: {number: 80}}}"
                                ).replace("path: /,", "path: /api,")
    # an unmatched path of the Ingress's own host goes to its defaultBackend ...
    [g] = findings(with_default, "ingress-no-rule-matches", url="https://web.io/x")
    assert g.severity == "warning" and "defaultBackend" in g.message
    # ... but another host does not (the defaultBackend of an Ingress with rules is not a catch-all)
    [h] = findings(with_default, "ingress-no-rule-matches", url="https://web.io/x", headers={"Host": "other.io"})
    assert h.severity == "error" and "404" in h.message


def test_no_rule_matches_without_any_ingress() -> None:
    [f] = findings([], "ingress-no-rule-matches", url="http://a.io/")
    assert "no Ingress exists" in f.message and f.object == ""


def test_no_rule_matches_when_ingresses_are_unreadable_is_info() -> None:
    [f] = findings([], "ingress-no-rule-matches", kind="cluster", denied={"Ingress": "forbidden"},
                   url="http://a.io/")
    assert f.severity == "info" and "not readable" in f.message


@pytest.mark.parametrize(("url", "fires"), [("wss://chat.io/ws", True), ("https://chat.io/ws", False),
                                          ("wss://chat.io/ws/", False)])
def test_auto_redirect_breaks_websockets_only(url: str, fires: bool) -> None:
    items = [{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
              "metadata": {"name": "chat", "namespace": "default"},
              "spec": {"rules": [{"host": "chat.io", "http": {"paths": [
                  {"path": "/ws/", "pathType": "Prefix",
                   "backend": {"service": {"name": "chat", "port": {"number": 80}}}}]}}]}}]
    got = findings(items, "ingress-no-rule-matches", url=url)
    assert bool(got) is fires
    if got:
        assert "301" in got[0].message and got[0].severity == "error"


def test_bad_target_url_is_not_a_finding() -> None:
    assert findings(ING_TLS, "ingress-no-rule-matches", url="not a url") == []


def test_no_address_live_cluster() -> None:
    assert len(findings(ING_TLS, "ingress-no-address", kind="cluster")) == 1
    with_lb = ING_TLS + "status: {loadBalancer: {ingress: [{hostname: lb.example.net}]}}\n"
    assert findings(with_lb, "ingress-no-address", kind="cluster") == []


def test_lab_scenarios_agree_with_the_rules() -> None:
    """Each lab scenario whose expected check is one of ours fires it; the healthy one stays quiet."""
    from kdiag.lab.scenarios import SCENARIOS
    from kdiag.lab.world import derive_endpoint_slices

    ours = ("ingress-", "client-")
    for sc in SCENARIOS.values():
        items = list(sc.objects) + derive_endpoint_slices(sc.objects)
        snap = Snapshot(objects=tuple(items), source=SourceInfo(kind="cluster"))
        target = WalkRequest(url=sc.url, headers=dict(sc.headers), client_url=sc.client_url, page_url=sc.page_url)
        got = {f.check for f in run_rules(RuleContext.for_request(snap, target)) if f.check.startswith(ours)}
        if sc.name == "healthy":
            assert got == set(), got
        elif sc.expect_check and sc.expect_check.startswith(ours) and sc.expect_check not in (
                "ingress-upgrade-not-forwarded",):  # probe-only
            assert sc.expect_check in got, (sc.name, got)


@pytest.mark.parametrize(("svc_file", "fires"), [
    ("app/service.yaml", True),  # the app's folder describes its Services: the name is wrong
    ("other/service.yaml", False),  # the Ingress's folder has no Service: it may live elsewhere
])
def test_backend_service_missing_only_where_the_manifests_describe_the_app(svc_file: str, fires: bool) -> None:
    from kdiag.snapshot import Origin, obj_key

    items = objs(CHAT_STS)[1:]  # the Service connector-svc and the Ingress naming `connector`
    origins = {obj_key(items[0]): Origin(svc_file, 1), obj_key(items[1]): Origin("app/ingress.yaml", 1)}
    snap = Snapshot(objects=tuple(items), source=SourceInfo(kind="manifests"), origins=origins)
    got = run_rules(RuleContext(snap), only=["ingress-backend-service-missing"])
    assert bool(got) is fires
