"""Data-plane profiles: recognition, the unknown profile, ingress-nginx's facts with their sources,
and a second profile registered without touching route or verdict code."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import pytest

from kdiag.dataplane import (
    INGRESS_NGINX,
    UNKNOWN,
    CanarySpec,
    Profile,
    annotations_of,
    profile_for_annotation,
    profile_for_class,
    profile_for_controller,
    profile_for_image,
    profiles,
    register,
    unregister,
)
from kdiag.model import SourceInfo
from kdiag.route import parse_target, resolve_route
from kdiag.snapshot import Snapshot

NGINX = "nginx.ingress.kubernetes.io/"
REPO = "https://github.com/kubernetes/ingress-nginx/blob/main/"

# -- recognition -----------------------------------------------------------------------------


def test_ingress_nginx_is_registered() -> None:
    assert INGRESS_NGINX in profiles()
    assert UNKNOWN not in profiles()


@pytest.mark.parametrize(("controller", "name"), [
    ("k8s.io/ingress-nginx", "ingress-nginx"),
    ("traefik.io/ingress-controller", "traefik"),  # issue 10: Traefik's Ingress provider has a profile
    ("example.com/not-a-known-controller", "unknown"),
    ("", "unknown"),
    (None, "unknown"),
])
def test_profile_for_controller(controller: str | None, name: str) -> None:
    assert profile_for_controller(controller).name == name


@pytest.mark.parametrize(("image", "name"), [
    ("registry.k8s.io/ingress-nginx/controller:v1.15.1@sha256:0123", "ingress-nginx"),
    ("docker.io/traefik:v3.1", "traefik"),  # issue 10: Traefik has a profile
    ("docker.io/traefik/whoami:v1.10", "unknown"),  # Traefik's demo app is not the proxy
    ("example.com/some/proxy:1.0", "unknown"),
])
def test_profile_for_image(image: str, name: str) -> None:
    assert profile_for_image(image).name == name


def test_profile_for_class_uses_controller_then_class_name_then_the_assumed_profile() -> None:
    assert profile_for_class("example.com/other", "nginx") is UNKNOWN  # the controller decides
    assert profile_for_class(None, "nginx") is INGRESS_NGINX
    # No IngressClass visible (manifests): kdiag's Ingress model assumes ingress-nginx, as before.
    assert profile_for_class(None, None) is INGRESS_NGINX
    assert profile_for_class(None, "alb") is INGRESS_NGINX


def test_profile_for_annotation() -> None:
    assert profile_for_annotation(NGINX + "canary") is INGRESS_NGINX
    assert profile_for_annotation("traefik.ingress.kubernetes.io/router.entrypoints").name == "traefik"
    assert profile_for_annotation("example.com/something") is UNKNOWN


# -- unknown ---------------------------------------------------------------------------------


def test_unknown_profile_makes_no_controller_specific_claim() -> None:
    ing = {"metadata": {"annotations": {NGINX + "canary": "true", NGINX + "use-regex": "true"}}}
    u = UNKNOWN
    assert u.name == "unknown" and not u.controllers and not u.class_names and not u.images
    assert u.websocket_upgrade is None and u.websocket_off == "" and u.timeouts == ()
    assert u.no_route.status is None and u.no_backend.status is None and u.no_endpoints.status is None
    assert not u.annotation_prefixes and not u.known_annotations and not u.legacy_annotations
    assert not u.honours(NGINX + "canary") and not u.ignores(NGINX + "canary")
    assert not u.is_canary(ing) and u.parse_canary(ing) is None and not u.uses_regex(ing)
    assert u.effective_timeouts(ing, []) is None and u.controller_configmaps([]) == []
    assert u.closest_annotation("server-snippets") is None
    assert not u.recognises("k8s.io/ingress-nginx") and not u.recognises(None)
    assert u.pods.label_selectors == () and u.timeout("read") is None


# -- ingress-nginx: every fact with its source (dataplane-facts.md §1) -----------------------


def _timeout(name: str) -> tuple[float | None, str]:
    t = INGRESS_NGINX.timeout(name)
    assert t is not None
    return t.seconds, t.field


def _ingress(**ann: str) -> dict[str, Any]:
    return {"kind": "Ingress", "metadata": {"name": "i", "namespace": "default", "annotations": {
        NGINX + k.replace("_", "-"): v for k, v in ann.items()}}}


FACTS: list[tuple[str, Callable[[], object], object]] = [
    # §1.7: default controller value and class name (docs/user-guide/k8s-122-migration.md).
    (REPO + "docs/user-guide/k8s-122-migration.md",
     lambda: sorted(INGRESS_NGINX.controllers), ["k8s.io/ingress-nginx"]),
    (REPO + "docs/user-guide/multiple-ingress.md",
     lambda: sorted(INGRESS_NGINX.class_names), ["nginx"]),
    # Controller image: registry.k8s.io/ingress-nginx/controller (deploy manifests).
    (REPO + "deploy/static/provider/cloud/deploy.yaml",
     lambda: INGRESS_NGINX.recognises_image("registry.k8s.io/ingress-nginx/controller:v1.15.1"), True),
    # §1.2: "Support for websockets is provided by NGINX out of the box."
    (REPO + "docs/user-guide/miscellaneous.md#websockets",
     lambda: INGRESS_NGINX.websocket_upgrade, True),
    # §1.2: proxy_http_version defaults to 1.1; 1.0 breaks the upgrade (nginx websocket docs).
    (REPO + "internal/ingress/controller/config/config.go#ProxyHTTPVersion",
     lambda: "proxy-http-version" in INGRESS_NGINX.websocket_off, True),
    # §1.2: `Connection $connection_upgrade`, replaced by the connection-proxy-header annotation.
    (REPO + "rootfs/etc/nginx/template/nginx.tmpl#connection-proxy-header",
     lambda: "connection-proxy-header" in INGRESS_NGINX.websocket_off, True),
    # §1.3: proxy-connect/read/send-timeout defaults 5/60/60 s, annotation and ConfigMap key.
    (REPO + "internal/ingress/controller/config/config.go#proxy-connect-timeout",
     lambda: _timeout("connect"), (5, NGINX + "proxy-connect-timeout (ConfigMap proxy-connect-timeout)")),
    (REPO + "internal/ingress/controller/config/config.go#proxy-read-timeout",
     lambda: _timeout("read"), (60, NGINX + "proxy-read-timeout (ConfigMap proxy-read-timeout)")),
    (REPO + "internal/ingress/controller/config/config.go#proxy-send-timeout",
     lambda: _timeout("send"), (60, NGINX + "proxy-send-timeout (ConfigMap proxy-send-timeout)")),
    # §1.2: reloads retire old workers after worker-shutdown-timeout, default 240s.
    (REPO + "docs/user-guide/nginx-configuration/configmap.md#worker-shutdown-timeout",
     lambda: _timeout("reload-drain"), (240, "ConfigMap worker-shutdown-timeout")),
    # §1.3: annotation values are unitless seconds, the annotation beats the default.
    (REPO + "docs/user-guide/nginx-configuration/annotations.md#custom-timeouts",
     lambda: INGRESS_NGINX.effective_timeouts(_ingress(proxy_read_timeout="3600"), []).read.seconds,  # type: ignore[union-attr]
     3600),
    # §1.8: unknown host or path: the catch-all default_server returns 404.
    (REPO + "rootfs/etc/nginx/template/nginx.tmpl#default-backend",
     lambda: INGRESS_NGINX.no_route.status, 404),
    # §1.8: no ready endpoints: balancer.lua answers 503.
    (REPO + "rootfs/etc/nginx/lua/balancer.lua#sync_backend",
     lambda: INGRESS_NGINX.no_endpoints.status, 503),
    (REPO + "rootfs/etc/nginx/lua/balancer.lua#rewrite",
     lambda: INGRESS_NGINX.no_backend.status, 503),
    # §1.5: canary only with canary: "true"; weight-total below 100 is ignored (100 used).
    (REPO + "internal/ingress/annotations/canary/main.go",
     lambda: INGRESS_NGINX.is_canary(_ingress(canary="true")), True),
    (REPO + "rootfs/etc/nginx/lua/balancer.lua#route_to_alternative_balancer",
     lambda: INGRESS_NGINX.parse_canary(_ingress(canary="true", canary_weight_total="50"))
     .effective_weight_total, 100),  # type: ignore[union-attr]
    # §1.6: use-regex or rewrite-target turn the host's paths into regexes.
    (REPO + "docs/user-guide/ingress-path-matching.md",
     lambda: (INGRESS_NGINX.uses_regex(_ingress(use_regex="true")),
              INGRESS_NGINX.uses_regex(_ingress(rewrite_target="/$2"))), (True, True)),
    # Annotation prefix and vocabulary (annotations.md; --annotations-prefix default).
    (REPO + "docs/user-guide/nginx-configuration/annotations.md",
     lambda: (INGRESS_NGINX.honours(NGINX + "canary"), "server-snippet" in INGRESS_NGINX.known_annotations),
     (True, True)),
    # §3: other controllers' prefixes (e.g. alb.ingress.kubernetes.io/, projectcontour.io/).
    ("https://github.com/kubernetes-sigs/aws-load-balancer-controller/blob/main/docs/guide/ingress/annotations.md",
     lambda: INGRESS_NGINX.ignores("alb.ingress.kubernetes.io/load-balancer-attributes"), True),
    ("https://github.com/projectcontour/contour/blob/main/site/content/docs/main/config/annotations.md",
     lambda: INGRESS_NGINX.ignores("projectcontour.io/websocket-routes"), True),
    # How its pods are found: `--selector app.kubernetes.io/name=ingress-nginx`
    # (gateway-controllers-facts.md: the Kubernetes steering statement of 2026-01-29).
    ("https://kubernetes.io/blog/2026/01/29/ingress-nginx-statement/",
     lambda: "app.kubernetes.io/name=ingress-nginx" in INGRESS_NGINX.pods.label_selectors, True),
]


@pytest.mark.parametrize(("source", "fact", "expected"), FACTS, ids=[f[0] for f in FACTS])
def test_ingress_nginx_fact(source: str, fact: Callable[[], object], expected: object) -> None:
    assert source.startswith("https://")
    assert fact() == expected


def test_every_profile_fact_names_a_source() -> None:
    p = INGRESS_NGINX
    for answer in (p.no_route, p.no_backend, p.no_endpoints):
        assert answer.source.startswith("https://github.com/kubernetes/ingress-nginx/")
    assert all(t.source.startswith("https://") for t in p.timeouts)


# -- a second profile, registered without touching route or verdict code ---------------------


def _fake_is_canary(obj: Mapping[str, Any]) -> bool:
    return annotations_of(obj).get("fake.example/canary-header") is not None


def _fake_canary(obj: Mapping[str, Any]) -> CanarySpec | None:
    header = annotations_of(obj).get("fake.example/canary-header")
    return CanarySpec(enabled=True, by_header=header) if header else None


FAKE = Profile(name="fake", controllers=frozenset({"fake.example/controller"}),
               annotation_prefixes=("fake.example/",), websocket_upgrade=False,
               is_canary=_fake_is_canary, parse_canary=_fake_canary)


@pytest.fixture
def fake_profile() -> Iterator[Profile]:
    register(FAKE)
    try:
        yield FAKE
    finally:
        unregister(FAKE.name)


def _objects(controller: str, canary_annotations: Mapping[str, str]) -> Sequence[dict[str, Any]]:
    def ing(name: str, svc: str, ann: Mapping[str, str]) -> dict[str, Any]:
        return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": name, "namespace": "default", "annotations": dict(ann)},
                "spec": {"ingressClassName": "c", "rules": [{"host": "f.io", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": svc, "port": {"number": 80}}}}]}}]}}

    return [{"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "c"},
             "spec": {"controller": controller}},
            ing("main", "stable", {}), ing("preview", "preview", canary_annotations)]


def _snap(objs: Sequence[Mapping[str, Any]]) -> Snapshot:
    return Snapshot(objects=tuple(objs), source=SourceInfo(kind="manifests"))  # type: ignore[arg-type]


def test_a_registered_profile_drives_route_resolution(fake_profile: Profile) -> None:
    assert profile_for_controller("fake.example/controller") is fake_profile
    objs = _objects("fake.example/controller", {"fake.example/canary-header": "X-Preview"})
    res = resolve_route(_snap(objs), parse_target("http://f.io/", {"X-Preview": "always"}))
    assert res.profile is fake_profile and res.controller == "fake.example/controller"
    assert res.canary is not None and res.canary.chosen and res.backend is not None
    assert res.backend.ref.service_name == "preview"
    route = json.loads(json.dumps(res.route_info().to_dict()))
    assert route["dataplane"] == {"controller": "fake.example/controller", "profile": "fake"}


def test_an_unknown_controller_gets_no_ingress_nginx_semantics() -> None:
    # ingress-nginx's canary annotation means nothing to an unknown data plane.
    objs = _objects("example.com/other", {NGINX + "canary": "true", NGINX + "canary-by-header": "X"})
    res = resolve_route(_snap(objs), parse_target("http://f.io/", {"X": "always"}))
    assert res.profile is UNKNOWN and res.canary is None
    assert res.route_info().to_dict()["dataplane"] == {"controller": "example.com/other",
                                                       "profile": "unknown"}


def test_route_dataplane_in_the_report() -> None:
    objs = _objects("k8s.io/ingress-nginx", {})
    d = resolve_route(_snap(objs), parse_target("http://f.io/")).route_info().to_dict()
    assert d["dataplane"] == {"controller": "k8s.io/ingress-nginx", "profile": "ingress-nginx"}
    # Manifests without IngressClass objects: the controller is not known.
    d = resolve_route(_snap(objs[1:]), parse_target("http://f.io/")).route_info().to_dict()
    assert d["dataplane"] == {"controller": None, "profile": "ingress-nginx"}
    # No Ingress at all: the controller's default backend answers.
    res = resolve_route(_snap([]), parse_target("http://f.io/"))
    assert res.route_info().to_dict()["dataplane"]["profile"] == "ingress-nginx"
    assert "the controller's default backend answers 404" in res.notes[-1]
