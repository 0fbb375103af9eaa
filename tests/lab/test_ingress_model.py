"""The lab controller's IR: class selection, endpoints, locations and matching like ingress-nginx."""

from __future__ import annotations

import re
from typing import Any

import pytest

from kdiag.lab.ingress.controller import build_ingress_config
from kdiag.lab.ingress.model import (
    Canary,
    IngressConfig,
    Upstream,
    affinity_index,
    cookie_value,
    normalize_host,
    normalize_uri,
)
from kdiag.lab.ingress.nginx import render_nginx_conf
from kdiag.lab.tls_certs import FAKE_CERT_CN, fake_certificate

A = "nginx.ingress.kubernetes.io/"
CLASS = {"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1", "metadata": {"name": "nginx"},
         "spec": {"controller": "k8s.io/ingress-nginx"}}


def pod(name: str, app: str, *, ready: bool = True, ip: str = "10.244.0.9", port_name: str = "http") -> dict[str, Any]:
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"containers": [{"name": "c", "ports": [{"name": port_name, "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ip,
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def service(name: str, app: str, *, target: int | str = 8080, publish: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"selector": {"app": app}, "ports": [{"name": "http", "port": 80, "targetPort": target}]}
    if publish:
        spec["publishNotReadyAddresses"] = True
    return {"kind": "Service", "apiVersion": "v1", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


def ingress(name: str, host: str, paths: list[tuple[str, str, str]], *, annotations: dict[str, str] | None = None,
            cls: str | None = "nginx", tls: str | None = None, created: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"rules": [{"host": host, "http": {"paths": [
        {"path": p, "pathType": t, "backend": {"service": {"name": s, "port": {"number": 80}}}} for p, t, s in paths]}}]}
    if cls:
        spec["ingressClassName"] = cls
    if tls is not None:
        spec["tls"] = [{"hosts": [host], "secretName": tls}]
    md: dict[str, Any] = {"name": name, "namespace": "default", "annotations": annotations or {}}
    if created:
        md["creationTimestamp"] = created
    return {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1", "metadata": md, "spec": spec}


def backends(ns: str, pod_name: str, port: int) -> tuple[str, int] | None:
    return ("127.0.0.1", 40000 + int(pod_name.rsplit("-", 1)[1])) if pod_name.rsplit("-", 1)[1].isdigit() else None


def build(*objs: dict[str, Any], **kw: Any) -> IngressConfig:
    return build_ingress_config([CLASS, *objs], backends=backends, **kw)


WEB = [pod("web-0", "web"), service("web", "web")]


def test_prefix_exact_and_implementation_specific_render_like_ingress_nginx() -> None:
    cfg = build(*WEB, ingress("i", "a.test", [("/", "Prefix", "web"), ("/api", "Prefix", "web"),
                                              ("/v1/", "Prefix", "web"), ("/exact", "Exact", "web"),
                                              ("/impl", "ImplementationSpecific", "web")]))
    srv = cfg.server_for("a.test")
    locs = [(loc.modifier, loc.path) for loc in srv.locations]
    assert sorted(locs) == sorted([("", "/"), ("", "/api/"), ("=", "/api"), ("", "/v1/"), ("=", "/v1/"),
                                   ("=", "/exact"), ("", "/impl")])
    assert [len(p) for _, p in locs] == sorted((len(p) for _, p in locs), reverse=True)


def test_use_regex_turns_every_path_of_the_host_into_a_case_insensitive_regex() -> None:
    cfg = build(*WEB, ingress("i", "a.test", [("/api/v[0-9]+", "ImplementationSpecific", "web")],
                              annotations={A + "use-regex": "true"}),
                ingress("j", "a.test", [("/exact", "Exact", "web")], created="2026-01-02T00:00:00Z"))
    srv = cfg.server_for("a.test")
    assert {(loc.modifier, loc.path) for loc in srv.locations} == {("~*", "^/api/v[0-9]+"), ("~*", "^/exact"),
                                                                   ("~*", "^/")}
    assert cfg.route("a.test", "/API/V2/x").location.rule_path == "/api/v[0-9]+"  # type: ignore[union-attr]
    assert cfg.route("a.test", "/exactly").location.rule_path == "/exact"  # type: ignore[union-attr]


PATHS = ingress("p", "p.test", [("/exact", "Exact", "web"), ("/pre", "Prefix", "web"),
                                ("/pre/deep", "Prefix", "web"), ("/impl", "ImplementationSpecific", "web")])


@pytest.mark.parametrize(("host", "uri", "expected"), [
    ("p.test", "/exact", "/exact"),
    ("p.test", "/exact/", None),
    ("p.test", "/pre", "/pre"),
    ("p.test", "/pre/", "/pre"),
    ("p.test", "/pre/x", "/pre"),
    ("p.test", "/pre/deep/er", "/pre/deep"),
    ("p.test", "/pre/deeper", "/pre"),
    ("p.test", "/prefix", None),
    ("p.test", "/impl", "/impl"),
    ("p.test", "/implx", "/impl"),
    ("P.TEST:8080", "/pre", "/pre"),
    ("p.test.", "/pre", "/pre"),
    ("other.test", "/pre", None),
])
def test_route_matching(host: str, uri: str, expected: str | None) -> None:
    cfg = build(*WEB, PATHS)
    loc = cfg.route(host, uri).location
    got = None if loc is None or loc.upstream is None else loc.rule_path
    assert got == expected


@pytest.mark.parametrize(("host", "served"), [
    ("a.w.test", True), ("a-b_c.w.test", True), ("a.b.w.test", False), ("w.test", False), ("aw.test", False),
])
def test_wildcard_host_matches_exactly_one_label(host: str, served: bool) -> None:
    cfg = build(*WEB, ingress("w", "*.w.test", [("/", "Prefix", "web")]))
    assert (not cfg.server_for(host).is_default) is served


def test_exact_host_beats_wildcard() -> None:
    cfg = build(*WEB, ingress("w", "*.w.test", [("/", "Prefix", "web")]),
                ingress("x", "a.w.test", [("/x", "Exact", "web")]))
    assert cfg.server_for("a.w.test").host == "a.w.test"
    assert cfg.server_for("b.w.test").host == "*.w.test"


@pytest.mark.parametrize(("cls", "annotation", "classes", "served"), [
    ("nginx", None, [CLASS], True),
    ("missing", None, [CLASS], False),
    ("nginx", None, [], False),  # ingressClassName names no IngressClass
    (None, "nginx", [], True),
    (None, "traefik", [CLASS], False),
    (None, None, [CLASS], False),  # no class, no default
    (None, None, [{**CLASS, "metadata": {"name": "nginx", "annotations": {
        "ingressclass.kubernetes.io/is-default-class": "true"}}}], True),
])
def test_ingress_class_selection(cls: str | None, annotation: str | None, classes: list[dict[str, Any]],
                                 served: bool) -> None:
    ing = ingress("i", "a.test", [("/", "Prefix", "web")], cls=cls,
                  annotations={"kubernetes.io/ingress.class": annotation} if annotation else None)
    cfg = build_ingress_config([*classes, *WEB, ing], backends=backends)
    assert (cfg.ingresses == ("default/i",)) is served
    assert (not cfg.server_for("a.test").is_default) is served
    if not served:
        assert cfg.ignored and cfg.ignored[0][0] == "default/i"


def test_only_ready_endpoints_are_used() -> None:
    objs = [pod("web-0", "web"), pod("web-1", "web", ready=False, ip="10.244.0.10"), service("web", "web"),
            ingress("i", "a.test", [("/", "Prefix", "web")])]
    up = build(*objs).route("a.test", "/").upstream
    assert up is not None and [e.pod for e in up.endpoints] == ["default/web-0"]
    assert up.endpoints[0].address == ("127.0.0.1", 40000)
    assert up.name == "default-web-80"


def test_publish_not_ready_addresses_makes_all_endpoints_ready() -> None:
    objs = [pod("web-1", "web", ready=False), service("web", "web", publish=True),
            ingress("i", "a.test", [("/", "Prefix", "web")])]
    up = build(*objs).route("a.test", "/").upstream
    assert up is not None and len(up.endpoints) == 1


def test_named_target_port_resolves_through_the_slice() -> None:
    objs = [pod("web-0", "web", port_name="web"), service("web", "web", target="web"),
            ingress("i", "a.test", [("/", "Prefix", "web")])]
    up = build(*objs).route("a.test", "/").upstream
    assert up is not None and [(e.port, e.address) for e in up.endpoints] == [(8080, ("127.0.0.1", 40000))]


def test_given_endpoint_slices_are_used_instead_of_derived_ones() -> None:
    sl = {"kind": "EndpointSlice", "apiVersion": "discovery.k8s.io/v1",
          "metadata": {"name": "web-abc", "namespace": "default", "labels": {"kubernetes.io/service-name": "web"}},
          "ports": [{"name": "http", "port": 9090, "protocol": "TCP"}],
          "endpoints": [{"addresses": ["10.244.9.9"], "conditions": {},  # nil ready means ready
                         "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-7"}},
                        {"addresses": ["10.244.9.8"], "conditions": {"ready": False},
                         "targetRef": {"kind": "Pod", "namespace": "default", "name": "web-8"}}]}
    up = build(*WEB, sl, ingress("i", "a.test", [("/", "Prefix", "web")])).route("a.test", "/").upstream
    assert up is not None and [(e.ip, e.port, e.address) for e in up.endpoints] == [
        ("10.244.9.9", 9090, ("127.0.0.1", 40007))]


@pytest.mark.parametrize(("objs", "reason"), [
    ([ingress("i", "a.test", [("/", "Prefix", "nope")])], 'Service "default/nope" does not exist'),
    ([service("web", "web"), ingress("i", "a.test", [("/", "Prefix", "web")])], "does not have any active Endpoint"),
    ([pod("web-0", "web", ready=False), service("web", "web"), ingress("i", "a.test", [("/", "Prefix", "web")])],
     "does not have any active Endpoint"),
])
def test_upstreams_without_endpoints_say_why(objs: list[dict[str, Any]], reason: str) -> None:
    up = build(*objs).route("a.test", "/").upstream
    assert up is not None and not up.has_endpoints and reason in up.reason


def test_backend_port_missing() -> None:
    ing = ingress("i", "a.test", [("/", "Prefix", "web")])
    ing["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["port"] = {"number": 8080}
    up = build(*WEB, ing).route("a.test", "/").upstream
    assert up is not None and not up.has_endpoints and "does not have port 8080" in up.reason


@pytest.mark.parametrize(("annotations", "expected"), [
    ({}, (5, 60, 60)),
    ({A + "proxy-read-timeout": "3600", A + "proxy-send-timeout": "3600", A + "proxy-connect-timeout": "10"},
     (10, 3600, 3600)),
    ({A + "proxy-read-timeout": "2"}, (5, 60, 2)),
    ({A + "proxy-read-timeout": "60s"}, (5, 60, 60)),  # not an integer: the default applies
])
def test_timeouts_from_annotations(annotations: dict[str, str], expected: tuple[int, int, int]) -> None:
    loc = build(*WEB, ingress("i", "a.test", [("/", "Prefix", "web")], annotations=annotations)).route(
        "a.test", "/").location
    assert loc is not None and (loc.connect_timeout, loc.send_timeout, loc.read_timeout) == expected


def test_oldest_ingress_wins_a_duplicate_path_and_exact_is_not_duplicated() -> None:
    other = [pod("api-0", "api"), service("api", "api")]
    cfg = build(*WEB, *other,
                ingress("new", "a.test", [("/x", "Prefix", "api")], created="2026-02-01T00:00:00Z"),
                ingress("old", "a.test", [("/x", "Prefix", "web"), ("/x", "Exact", "web")],
                        created="2026-01-01T00:00:00Z"))
    srv = cfg.server_for("a.test")
    assert [(loc.modifier, loc.path, loc.ingress) for loc in srv.locations if loc.path.startswith("/x")] == [
        ("", "/x/", "default/old"), ("=", "/x", "default/old")]


CANARY_CASES = [
    # (canary kwargs, headers, cookies, rand draw, expected)
    ({"header": "X-C"}, {"x-c": "always"}, {}, 100, True),
    ({"header": "X-C"}, {"x-c": "never"}, {}, 1, False),
    ({"header": "X-C", "weight": 100}, {"x-c": "never"}, {}, 1, False),
    ({"header": "X-C", "weight": 100}, {"x-c": "other"}, {}, 1, True),
    ({"header": "X-C", "header_value": "v2"}, {"x-c": "v2"}, {}, 100, True),
    ({"header": "X-C", "header_value": "v2"}, {"x-c": "always"}, {}, 100, False),
    ({"header": "X-C", "header_pattern": "^v[0-9]$"}, {"x-c": "v7"}, {}, 100, True),
    ({"header": "X-C", "header_pattern": "("}, {"x-c": "v7"}, {}, 100, False),  # regex error = no match
    ({"header": "X-C", "cookie": "c"}, {"x-c": "maybe"}, {"c": "always"}, 100, True),
    ({"cookie": "c"}, {}, {"c": "never"}, 1, False),
    ({"weight": 30}, {}, {}, 30, True),
    ({"weight": 30}, {}, {}, 31, False),
    ({"weight": 30, "weight_total": 50}, {}, {}, 31, False),  # totals below 100 are ignored
    ({"weight": 300, "weight_total": 1000}, {}, {}, 300, True),
]


@pytest.mark.parametrize(("kw", "headers", "cookies", "draw", "expected"), CANARY_CASES)
def test_canary_selection_order(kw: dict[str, Any], headers: dict[str, str], cookies: dict[str, str], draw: int,
                                expected: bool) -> None:
    canary = Canary(upstream=Upstream("u", "default/u", 80), ingress="default/c", **kw)
    assert canary.selects(headers, cookies, rand=lambda n: draw) is expected


def test_canary_is_merged_and_ignored_without_endpoints() -> None:
    objs = [*WEB, pod("beta-0", "beta"), service("beta", "beta"), service("gone", "gone"),
            ingress("main", "a.test", [("/", "Prefix", "web")]),
            ingress("c1", "a.test", [("/", "Prefix", "beta")], annotations={A + "canary": "true",
                                                                            A + "canary-by-header": "X-Beta"}),
            ingress("c2", "b.test", [("/", "Prefix", "beta")], annotations={A + "canary": "true"})]
    cfg = build(*objs)
    loc = cfg.route("a.test", "/").location
    assert loc is not None and loc.canary is not None and loc.canary.upstream.name == "default-beta-80"
    assert cfg.server_for("b.test").is_default  # a canary alone creates no server
    assert any("c2" in line for line in cfg.log)
    gone = build(*WEB, service("gone", "gone"), ingress("main", "a.test", [("/", "Prefix", "web")]),
                 ingress("c", "a.test", [("/", "Prefix", "gone")], annotations={A + "canary": "true"}))
    loc = gone.route("a.test", "/").location
    assert loc is not None and loc.canary is None


def test_tls_secret_or_fake_certificate_and_redirect() -> None:
    material = (b"CERT", b"KEY")
    cfg = build(*WEB, ingress("a", "a.test", [("/", "Prefix", "web")], tls="a-tls"),
                ingress("b", "b.test", [("/", "Prefix", "web")], tls="missing"),
                ingress("c", "c.test", [("/", "Prefix", "web")]),
                ingress("d", "d.test", [("/", "Prefix", "web")], tls="a-tls", annotations={A + "ssl-redirect": "false"}),
                tls_secrets={("default", "a-tls"): material})
    assert cfg.cert_for("a.test").cert_pem == b"CERT" and not cfg.cert_for("a.test").fake
    assert cfg.cert_for("b.test").fake and cfg.cert_for("b.test").secret == "default/missing"
    assert cfg.cert_for("c.test") is cfg.fake_cert and cfg.cert_for(None) is cfg.fake_cert
    assert any("default/missing" in line for line in cfg.log)
    redirects = {h: cfg.server_for(h).redirects_to_https(cfg.route(h, "/").location)  # type: ignore[arg-type]
                 for h in ("a.test", "b.test", "c.test", "d.test")}
    assert redirects == {"a.test": True, "b.test": True, "c.test": False, "d.test": False}


def test_fake_certificate_subject() -> None:
    from cryptography import x509

    cert = x509.load_pem_x509_certificate(fake_certificate()[0])
    assert FAKE_CERT_CN in cert.subject.rfc4514_string()
    assert cert.issuer == cert.subject


def test_default_backend_of_an_ingress_without_rules_serves_unknown_hosts() -> None:
    ing = {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
           "metadata": {"name": "d", "namespace": "default"},
           "spec": {"ingressClassName": "nginx", "defaultBackend": {"service": {"name": "web", "port": {"number": 80}}}}}
    cfg = build(*WEB, ing)
    up = cfg.route("anything.test", "/x").upstream
    assert up is not None and up.name == "default-web-80"


@pytest.mark.parametrize(("target", "expected"), [
    ("/", "/"), ("/a/b?x=1", "/a/b"), ("/a//b", "/a/b"), ("/a/./b/../c", "/a/c"), ("/a/%62", "/a/b"),
    ("/a/b/", "/a/b/"), ("/..", None), ("*", None), ("http://h.test/p?q", "/p"), ("/a%00", None),
])
def test_normalize_uri(target: str, expected: str | None) -> None:
    assert normalize_uri(target) == expected


@pytest.mark.parametrize(("host", "expected"), [
    ("A.Test", "a.test"), ("a.test:8443", "a.test"), ("a.test.", "a.test"), ("[::1]:80", "[::1]"),
])
def test_normalize_host(host: str, expected: str) -> None:
    assert normalize_host(host) == expected


def test_cookie_value_is_the_first_match_case_insensitively() -> None:
    assert cookie_value(["a=1; Beta=always", "beta=never"], "beta") == "always"
    assert cookie_value(["a=1"], "beta") is None


def test_rendered_nginx_conf_has_ingress_nginx_directives(tmp_path: Any) -> None:
    objs = [*WEB, service("empty", "none"),
            ingress("i", "a.test", [("/", "Prefix", "web"), ("/down", "Prefix", "empty")],
                    annotations={A + "proxy-read-timeout": "2"}),
            ingress("c", "a.test", [("/", "Prefix", "web")], annotations={
                A + "canary": "true", A + "canary-by-header": "X-Canary", A + "canary-by-header-value": "v.2",
                A + "canary-by-cookie": "beta", A + "canary-weight": "25"})]
    cfg = build(*objs)
    text = render_nginx_conf(cfg, prefix=tmp_path, http_port=1080, https_port=1443)
    assert "map $http_upgrade $connection_upgrade {\n        default upgrade;\n        '' '';" in text
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "proxy_set_header Connection $connection_upgrade;" in text
    assert "proxy_http_version 1.1;" in text and "proxy_read_timeout 2s;" in text
    assert "proxy_connect_timeout 5s;" in text and "proxy_send_timeout 60s;" in text
    assert re.search(r'location "/down/" \{[^}]*return 503;', text)
    assert re.search(r'"~\^v\\\\\.2\$" default-web-80;', text)  # exact, case-sensitive header value
    assert "split_clients" in text and "25%" in text and "map $cookie_beta" in text
    listens = re.findall(r"^\s*listen (\S+)", text, re.M)
    assert listens and all(addr.startswith("127.0.0.1:") for addr in listens)
    assert "default_server" in text and "return 404;" in text
    dropped = render_nginx_conf(cfg, prefix=tmp_path, http_port=1080, https_port=1443, drop_upgrade=True)
    assert "proxy_http_version 1.0;" in dropped and 'proxy_set_header Upgrade "";' in dropped
    assert "$connection_upgrade;" not in dropped.split("server {", 1)[1]


@pytest.mark.parametrize(("target", "uri", "query", "expected"), [
    ("/$2", "/something/abc", "x=1", "/abc?x=1"),
    ("/$2", "/something", "", "/"),
    ("/new/$1$2", "/SOMETHING/a", "", "/new//a"),
    ("/fixed?", "/something/a", "x=1", "/fixed"),
    ("/$9", "/something/a", "", "/"),
])
def test_rewrite_target(target: str, uri: str, query: str, expected: str) -> None:
    ing = ingress("r", "a.test", [("/something(/|$)(.*)", "ImplementationSpecific", "web")],
                  annotations={A + "rewrite-target": target})
    loc = build(*WEB, ing).route("a.test", uri).location
    assert loc is not None and loc.modifier == "~*"
    assert loc.rewrite(uri, query) == expected


def test_cookie_affinity_fields_and_rendering(tmp_path: Any) -> None:
    objs = [pod("web-0", "web"), pod("web-1", "web", ip="10.244.0.10"), service("web", "web"),
            ingress("i", "a.test", [("/app", "Prefix", "web")],
                    annotations={A + "affinity": "cookie", A + "session-cookie-name": "route"}),
            ingress("j", "b.test", [("/", "Prefix", "web")])]
    cfg = build(*objs)
    loc = cfg.route("a.test", "/app/x").location
    assert loc is not None and (loc.affinity_cookie, loc.affinity_path) == ("route", "/app")
    plain = cfg.route("b.test", "/").location
    assert plain is not None and plain.affinity_cookie is None
    text = render_nginx_conf(cfg, prefix=tmp_path, http_port=1080, https_port=1443)
    assert "upstream default-web-80-affinity-route {\n        hash $kdiag_affinity_route consistent;" in text
    assert "add_header Set-Cookie $kdiag_set_cookie_route_" in text
    assert '"route=$request_id; Path=/app; HttpOnly"' in text
    assert "proxy_pass http://default-web-80;" in text  # b.test stays round robin


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_affinity_index_is_stable_and_in_range(n: int) -> None:
    picks = {affinity_index(f"session-{i}", n) for i in range(200)}
    assert picks == set(range(n))
    assert all(affinity_index("same", n) == affinity_index("same", n) for _ in range(3))
