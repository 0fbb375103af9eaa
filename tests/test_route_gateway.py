"""Gateway API route resolution over manifests: every rule of the spec kdiag models."""

from __future__ import annotations

from typing import Any

import pytest

from kdiag.route import parse_target, resolve_route
from kdiag.route.resolution import Resolution
from kdiag.sources.manifests import load_manifest_text

GW = """
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: eg}
spec: {controllerName: gateway.envoyproxy.io/gatewayclass-controller}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: gw, namespace: infra}
spec:
  gatewayClassName: eg
  listeners:
    - {name: http, port: 80, protocol: HTTP, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
    - {name: https, port: 443, protocol: HTTPS, hostname: "*.example.com", allowedRoutes: {namespaces: {from: All}}}
    - {name: same, port: 8080, protocol: HTTP}
"""
SVC = """
---
apiVersion: v1
kind: Service
metadata: {name: %s, namespace: %s}
spec: {selector: {app: x}, ports: [{port: 80}]}
"""


def _route(name: str, body: str, ns: str = "default", created: str = "2026-01-01T00:00:00Z") -> str:
    return f"""
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: {name}, namespace: {ns}, creationTimestamp: "{created}"}}
spec:
{body}"""


def _res(text: str, url: str, headers: dict[str, str] | None = None, method: str | None = None) -> Resolution:
    snap = load_manifest_text(text, path="t.yaml")
    return resolve_route(snap, parse_target(url, headers, method))


def _info(res: Resolution) -> dict[str, Any]:
    return res.route_info().to_dict()


BASIC = "  parentRefs: [{name: gw, namespace: infra}]\n  hostnames: [chat.example.com]\n"


def _svcs(*names: str, ns: str = "default") -> str:
    return "".join(SVC % (n, ns) for n in names)


def test_wildcard_listener_matches_one_or_more_labels_not_the_apex() -> None:
    text = GW + _route("r", "  parentRefs: [{name: gw, namespace: infra, sectionName: http}]\n"
                            "  rules: [{backendRefs: [{name: a, port: 80}]}]") + _svcs("a")
    assert _res(text, "http://deep.chat.example.com/").matched
    res = _res(text, "http://example.com/")
    assert res.kind == "Ingress" or not res.matched


@pytest.mark.parametrize(("listener", "ns", "attached"), [
    ("{from: Same}", "infra", True), ("{from: Same}", "default", False), ("{from: All}", "default", True),
    ("{from: Selector, selector: {matchLabels: {team: chat}}}", "default", True),
    ("{from: Selector, selector: {matchLabels: {team: shop}}}", "default", False),
])
def test_allowed_routes_namespaces(listener: str, ns: str, attached: bool) -> None:
    text = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: default, labels: {{team: chat}}}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {{name: gw, namespace: infra}}
spec:
  gatewayClassName: eg
  listeners: [{{name: http, port: 80, protocol: HTTP, allowedRoutes: {{namespaces: {listener}}}}}]
""" + _route("r", BASIC + "  rules: [{backendRefs: [{name: a, port: 80}]}]", ns=ns) + _svcs("a", ns=ns)
    res = _res(text, "http://chat.example.com/")
    assert res.matched is attached
    if not attached:
        parent = _info(res)["parents"][0]
        assert parent["problem"] == "NotAllowedByListeners"


def test_allowed_kinds_refuse_httproutes() -> None:
    text = GW.replace("{namespaces: {from: All}}}\n    - {name: https",
                      "{namespaces: {from: All}, kinds: [{kind: GRPCRoute}]}}\n    - {name: https") + _route(
        "r", "  parentRefs: [{name: gw, namespace: infra, sectionName: http}]\n  hostnames: [chat.example.com]\n"
        "  rules: [{backendRefs: [{name: a, port: 80}]}]") + _svcs("a")
    res = _res(text, "http://chat.example.com/")
    assert not res.matched and _info(res)["parents"][0]["problem"] == "NotAllowedByListeners"


def test_section_name_and_port_select_the_listener() -> None:
    text = GW + _route("r", "  parentRefs: [{name: gw, namespace: infra, port: 443}]\n  hostnames: [chat.example.com]\n"
                            "  rules: [{backendRefs: [{name: a, port: 80}]}]") + _svcs("a")
    assert not _res(text, "http://chat.example.com/").matched  # attached to the HTTPS listener only
    assert _res(text, "https://chat.example.com/").gateway.listener.name == "https"  # type: ignore[union-attr]
    bad = text.replace("port: 443}", "sectionName: nope}")
    assert _info(_res(bad, "http://chat.example.com/"))["parents"][0]["problem"] == "NoMatchingParent"


def test_route_hostname_outside_listener_hostname_is_not_accepted() -> None:
    text = GW + _route("r", "  parentRefs: [{name: gw, namespace: infra, sectionName: http}]\n"
                            "  hostnames: [example.org]\n  rules: [{backendRefs: [{name: a, port: 80}]}]") + _svcs("a")
    res = _res(text, "http://example.org/")
    assert _info(res)["parents"][0]["problem"] == "NoMatchingListenerHostname"


PRECEDENCE = [
    ("exact beats a longer prefix", "- {matches: [{path: {type: Exact, value: /a}}], backendRefs: [{name: win, port: 80}]}\n"
     "    - {matches: [{path: {type: PathPrefix, value: /a}}], backendRefs: [{name: lose, port: 80}]}", "/a", {}, None),
    ("longest prefix", "- {matches: [{path: {type: PathPrefix, value: /a}}], backendRefs: [{name: lose, port: 80}]}\n"
     "    - {matches: [{path: {type: PathPrefix, value: /a/b}}], backendRefs: [{name: win, port: 80}]}", "/a/b/c", {}, None),
    ("method", "- {matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [{name: lose, port: 80}]}\n"
     "    - {matches: [{path: {type: PathPrefix, value: /}, method: POST}], backendRefs: [{name: win, port: 80}]}",
     "/x", {}, "POST"),
    ("more headers", "- {matches: [{headers: [{name: a, value: '1'}]}], backendRefs: [{name: lose, port: 80}]}\n"
     "    - {matches: [{headers: [{name: a, value: '1'}, {name: b, value: '2'}]}], backendRefs: [{name: win, port: 80}]}",
     "/x", {"a": "1", "b": "2"}, None),
    ("query params", "- {matches: [{path: {type: PathPrefix, value: /}}], backendRefs: [{name: lose, port: 80}]}\n"
     "    - {matches: [{queryParams: [{name: v, value: '2'}]}], backendRefs: [{name: win, port: 80}]}",
     "/x?v=2", {}, None),
    ("first rule on a tie", "- {backendRefs: [{name: win, port: 80}]}\n    - {backendRefs: [{name: lose, port: 80}]}",
     "/", {}, None),
]


@pytest.mark.parametrize(("why", "rules", "path", "headers", "method"), PRECEDENCE, ids=[p[0] for p in PRECEDENCE])
def test_match_precedence(why: str, rules: str, path: str, headers: dict[str, str], method: str | None) -> None:
    text = GW + _route("r", BASIC + "  rules:\n    " + rules) + _svcs("win", "lose")
    res = _res(text, f"http://chat.example.com{path}", headers, method)
    assert res.service_port is not None and _info(res)["service"] == "default/win", why


def test_across_routes_the_oldest_then_the_name_wins() -> None:
    rules = "  rules: [{backendRefs: [{name: %s, port: 80}]}]"
    text = GW + _route("b-new", BASIC + rules % "lose", created="2026-02-01T00:00:00Z") + _route(
        "c-old", BASIC + rules % "win", created="2026-01-01T00:00:00Z") + _svcs("win", "lose")
    assert _info(_res(text, "http://chat.example.com/"))["httproute"] == "default/c-old"
    same = text.replace("2026-02-01", "2026-01-01")
    assert _info(_res(same, "http://chat.example.com/"))["httproute"] == "default/b-new"


def test_more_specific_route_hostname_wins() -> None:
    rules = "  rules: [{backendRefs: [{name: %s, port: 80}]}]"
    wild = "  parentRefs: [{name: gw, namespace: infra}]\n  hostnames: ['*.example.com']\n"
    text = GW + _route("a-wild", wild + rules % "lose") + _route("z-exact", BASIC + rules % "win") + _svcs("win", "lose")
    assert _info(_res(text, "http://chat.example.com/"))["service"] == "default/win"


def test_no_rule_matches_means_404_and_a_header_regex() -> None:
    rules = "  rules: [{matches: [{headers: [{name: X-V, type: RegularExpression, value: 'v[0-9]+'}]}], " \
            "backendRefs: [{name: a, port: 80}]}]"
    text = GW + _route("r", BASIC + rules) + _svcs("a")
    miss = _res(text, "http://chat.example.com/", {"X-V": "beta"})
    assert not miss.matched and _info(miss)["answer"] == 404 and miss.kind == "HTTPRoute"
    assert _res(text, "http://chat.example.com/", {"x-v": "v12"}).matched


def test_weights_pick_the_heaviest_valid_backend_and_report_all() -> None:
    rules = "  rules: [{backendRefs: [{name: a, port: 80, weight: 10}, {name: b, port: 80, weight: 90}, " \
            "{name: gone, port: 80, weight: 500}]}]"
    info = _info(_res(GW + _route("r", BASIC + rules) + _svcs("a", "b"), "http://chat.example.com/"))
    assert info["service"] == "default/b"
    assert [(b["service"], b["weight"], b.get("problem")) for b in info["backends"]] == [
        ("default/a", 10, None), ("default/b", 90, None), ("default/gone", 500, "not-found")]


def test_all_weights_zero_answers_500() -> None:
    rules = "  rules: [{backendRefs: [{name: a, port: 80, weight: 0}]}]"
    res = _res(GW + _route("r", BASIC + rules) + _svcs("a"), "http://chat.example.com/")
    assert res.backend is None and _info(res)["answer"] == 500


@pytest.mark.parametrize("version", ["v1", "v1beta1"])
def test_cross_namespace_backend_needs_a_reference_grant(version: str) -> None:
    rules = "  rules: [{backendRefs: [{name: a, namespace: backend, port: 80}]}]"
    base = GW + _route("r", BASIC + rules) + _svcs("a", ns="backend")
    grant = f"""
---
apiVersion: gateway.networking.k8s.io/{version}
kind: ReferenceGrant
metadata: {{name: g, namespace: backend}}
spec:
  from: [{{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: %s}}]
  to: [{{group: "", kind: Service}}]
"""
    denied = _info(_res(base + grant % "shop", "http://chat.example.com/"))
    assert denied["backends"][0]["problem"] == "not-permitted" and denied["service"] is None
    allowed = _info(_res(base + grant % "default", "http://chat.example.com/"))
    assert allowed["service"] == "backend/a"


def test_filters_redirect_and_rewrite() -> None:
    redirect = "  rules: [{filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]}]"
    info = _info(_res(GW + _route("r", BASIC + redirect), "http://chat.example.com/"))
    assert info["answer"] == 301 and any("RequestRedirect" in n for n in info["notes"])
    rewrite = ("  rules: [{filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, "
               "replacePrefixMatch: /v2}}}, {type: RequestHeaderModifier, requestHeaderModifier: "
               "{set: [{name: X-A, value: '1'}]}}], backendRefs: [{name: a, port: 80}]}]")
    info = _info(_res(GW + _route("r", BASIC + rewrite) + _svcs("a"), "http://chat.example.com/"))
    assert info["service"] == "default/a" and info["filters"]["rewrite"] is not None
    assert any("URLRewrite" in n for n in info["notes"]) and any("RequestHeaderModifier" in n for n in info["notes"])


def test_grpcroute_matches_service_and_method() -> None:
    text = GW + f"""
---
apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {{name: g, namespace: default}}
spec:
{BASIC}  rules: [{{matches: [{{method: {{service: chat.Chat, method: Send}}}}], backendRefs: [{{name: a, port: 80}}]}}]
""" + _svcs("a")
    hit = _res(text, "http://chat.example.com/chat.Chat/Send", method="POST")
    assert hit.kind == "GRPCRoute" and hit.matched
    assert not _res(text, "http://chat.example.com/chat.Chat/Other", method="POST").matched


def test_status_and_kdiag_disagree() -> None:
    status = """
status:
  parents:
    - parentRef: {name: gw, namespace: infra}
      controllerName: x
      conditions: [{type: Accepted, status: "True", reason: Accepted}, {type: ResolvedRefs, status: "True", reason: ResolvedRefs}]
"""
    text = GW + _route("r", BASIC + "  rules: [{backendRefs: [{name: gone, port: 80}]}]") + status + _svcs("a")
    res = _res(text, "http://chat.example.com/")
    assert any("ResolvedRefs=True, but kdiag finds" in d for d in res.gateway.disagreements)  # type: ignore[union-attr]


INGRESS = """
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: old, namespace: default}
spec:
  rules:
    - host: chat.example.com
      http: {paths: [{path: /, pathType: Prefix, backend: {service: {name: old, port: {number: 80}}}}]}
status: {loadBalancer: {ingress: [{ip: 192.0.2.1}]}}
"""


def test_ingress_and_httproute_on_one_host() -> None:
    gw = GW.replace("    - {name: same", "    - {name: same") + "status: {addresses: [{type: IPAddress, value: 192.0.2.9}]}\n"
    text = gw + _route("r", BASIC + "  rules: [{backendRefs: [{name: a, port: 80}]}]") + _svcs("a", "old") + INGRESS
    snap = load_manifest_text(text, path="t.yaml")
    t = parse_target("http://chat.example.com/")
    unknown = resolve_route(snap, t)
    assert unknown.kind == "Ingress" and unknown.route_info().to_dict()["alternatives"][0]["kind"] == "HTTPRoute"
    via_gateway = resolve_route(snap, t, addresses=["192.0.2.9"])
    assert via_gateway.kind == "HTTPRoute" and via_gateway.route_info().to_dict()["alternatives"][0]["kind"] == "Ingress"
    assert resolve_route(snap, t, addresses=["192.0.2.1"]).kind == "Ingress"
