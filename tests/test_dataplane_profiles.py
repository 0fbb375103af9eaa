"""Ingress-side data-plane profiles (issue 10): recognition, WebSocket defaults, timeouts and the
exact fields that change them, what each honours/ignores and answers, each fact with its source.

Sources: DPF = ../shared/reference/dataplane-facts.md, GCF = gateway-controllers-facts.md.
Facts the sheets mark UNVERIFIED (or that kdiag infers) must be listed in the profile's `unverified`.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from kdiag.dataplane import (
    profile_for_class,
    profile_for_controller,
    profile_for_image,
    profile_named,
    profiles,
)
from kdiag.dataplane.effective import effective_timeout, parse_seconds, websocket_limits

# (controller, profile, forwards upgrades on an Ingress, WebSocket-cutting timeout name, default s,
#  kind of cut, the annotation/field named, source)
INGRESS_FACTS = [
    # DPF §1.2/§1.3: proxy-read-timeout 60 s closes idle WebSockets; config.go defaults.
    pytest.param("k8s.io/ingress-nginx", "ingress-nginx", True, "read", 60, "idle",
                 "nginx.ingress.kubernetes.io/proxy-read-timeout", id="ingress-nginx-DPF-1.3-config.go"),
    # DPF §3 "Contour / Envoy": WebSockets enabled per route; Envoy stream-idle-timeout 5m.
    pytest.param("projectcontour.io/ingress-controller", "contour", False, "stream-idle", 300, "idle",
                 "stream-idle-timeout", id="contour-DPF-3-configuration.md"),
    # DPF §3 "Traefik v3" + GCF "Traefik": upgraded connections are not bounded by readTimeout/idleTimeout.
    pytest.param("traefik.io/ingress-controller", "traefik", True, None, None, "", "",
                 id="traefik-DPF-3-GCF-hijackLocked"),
    # DPF §3 "HAProxy Tech ingress": timeout-tunnel 1h after an Upgrade, ConfigMap only.
    pytest.param("haproxy.org/ingress-controller", "haproxytech", True, "tunnel", 3600, "idle",
                 "ConfigMap timeout-tunnel", id="haproxytech-DPF-3-haproxy.cfg"),
    # DPF §3 "HAProxy Ingress": timeout-tunnel 1h, annotation haproxy-ingress.github.io/timeout-tunnel.
    pytest.param("haproxy-ingress.github.io/controller", "haproxy-ingress", True, "tunnel", 3600, "idle",
                 "haproxy-ingress.github.io/timeout-tunnel", id="haproxy-ingress-DPF-3-keys.md"),
    # DPF §3 "GKE Ingress": BackendConfig timeoutSec 30 s bounds the connection lifetime.
    pytest.param("k8s.io/ingress-gce", "gke", True, "backend", 30, "lifetime",
                 "BackendConfig (cloud.google.com/v1) spec.timeoutSec", id="gke-DPF-3-ingress-gce-websocket-example"),
    # DPF §3 "AWS Load Balancer Controller": ALB idle timeout 60 s, load-balancer-attributes.
    pytest.param("ingress.k8s.aws/alb", "aws-alb", True, "idle", 60, "idle",
                 "alb.ingress.kubernetes.io/load-balancer-attributes", id="aws-alb-DPF-3-annotations.md"),
    # DPF §3 "Azure Application Gateway (AGIC)": request-timeout 30 s applies to the WebSocket session.
    pytest.param("azure/application-gateway", "azure-agic", True, "request", 30, "lifetime",
                 "appgw.ingress.kubernetes.io/request-timeout", id="azure-agic-DPF-3-learn.microsoft.com"),
    # GCF "Azure Application Gateway for Containers": "WebSockets are only supported when using Gateway API".
    pytest.param("alb.networking.azure.io/alb-controller", "azure-agc", False, None, None, "", "",
                 id="azure-agc-GCF-websockets.md"),
]


@pytest.mark.parametrize(("controller", "name", "ws", "tname", "secs", "cut", "field"), INGRESS_FACTS)
def test_ingress_profiles(controller: str, name: str, ws: bool, tname: str | None, secs: int | None, cut: str,
                          field: str) -> None:
    p = profile_for_controller(controller)
    assert p.name == name
    assert p.forwards_websocket("ingress") is ws and p.websocket_off
    cutting = p.websocket_timeouts("ingress")
    if tname is None:
        assert cutting == ()
        return
    t = p.timeout(tname, "ingress")
    assert t is not None and t in cutting
    assert (t.seconds, t.websocket) == (secs, cut) and field in t.field and t.source


def test_every_profile_names_field_and_source_of_every_timeout() -> None:
    for p in profiles():
        assert all(t.source and t.field for t in p.timeouts), p.name
        assert all(t.websocket in ("", "idle", "lifetime") and t.api in ("", "ingress", "gateway") for t in p.timeouts)


@pytest.mark.parametrize(("controller", "name"), [
    ("haproxy.org/ingress-controller/haproxy", "haproxytech"),  # installs append the class (find_string hits)
    ("haproxy-ingress.github.io/controller/staging", "haproxy-ingress"),  # --controller-class=staging
    ("projectcontour.io/ingress-contour/ingress-contour-contour", "contour"),
    ("projectcontour.io/gateway-controller", "contour"),
    ("traefik.io/gateway-controller", "traefik"),
    ("networking.gke.io/gateway", "gke"),
    ("gateway.k8s.aws/alb", "aws-alb"),
    ("example.com/haproxy.org/ingress-controller", "unknown"),
])
def test_controller_names_and_install_suffixes(controller: str, name: str) -> None:
    assert profile_for_controller(controller).name == name


@pytest.mark.parametrize(("image", "name"), [
    ("docker.io/haproxytech/kubernetes-ingress:3.2.1", "haproxytech"),
    ("quay.io/jcmoraisjr/haproxy-ingress:v0.15.0", "haproxy-ingress"),
    ("ghcr.io/projectcontour/contour:v1.33.0", "contour"),
    ("rancher/mirrored-library-traefik:2.11.10", "traefik"),
    ("mcr.microsoft.com/azure-application-gateway/kubernetes-ingress:1.7.5", "azure-agic"),
])
def test_controller_pod_images(image: str, name: str) -> None:
    assert profile_for_image(image).name == name


def test_ambiguous_class_names_claim_nothing() -> None:
    # "haproxy" is the default class of both HAProxy controllers; "alb" is AWS's and Alibaba's (DPF §3 caveat).
    for p in profiles():
        if p.name in ("haproxytech", "haproxy-ingress", "aws-alb"):
            assert not p.claims_class("haproxy") and not p.claims_class("alb")
    assert profile_for_class(None, "gce").name == "gke"  # kubernetes.io/ingress.class: gce (DPF §3)
    assert profile_for_class(None, "contour").name == "contour"


def test_answers_and_unverified_marks() -> None:
    # DPF §1.8 ingress-nginx: default backend 404, no endpoints 503.
    nginx = profile_named("ingress-nginx")
    assert (nginx.no_route.status, nginx.no_endpoints.status) == (404, 503)
    # Facts not in the sheets (HAProxy's 503, Contour's missing-Service answer, AGIC's codes) are marked.
    for name in ("contour", "haproxytech", "haproxy-ingress", "azure-agic", "azure-agc", "traefik", "gke", "aws-alb"):
        assert profile_named(name).unverified, name
    assert "UNVERIFIED" in profile_named("contour").no_backend.source
    assert "INFER" in profile_named("haproxytech").no_endpoints.source


def test_honoured_and_ignored_annotation_prefixes() -> None:
    traefik, nginx = profile_named("traefik"), profile_named("ingress-nginx")
    assert traefik.owns("traefik.ingress.kubernetes.io/router.entrypoints")
    assert not traefik.honours("nginx.ingress.kubernetes.io/proxy-read-timeout")
    assert nginx.ignores("haproxy.org/timeout-server") and nginx.ignores("projectcontour.io/websocket-routes")
    # DPF §3: both HAProxy controllers also read ingress.kubernetes.io/, which neither owns.
    for name in ("haproxytech", "haproxy-ingress"):
        p = profile_named(name)
        assert p.honours("ingress.kubernetes.io/ssl-redirect") and not p.owns("ingress.kubernetes.io/ssl-redirect")


# -- effective values --------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "unit", "secs"), [
    ("60", "s", 60.0), ("60s", "s", 60.0), ("1h", "duration", 3600.0), ("1h30m", "duration", 5400.0),
    ("500ms", "duration", 0.5), ("infinity", "duration", math.inf),
    ("50000", "haproxy", 50.0),  # a bare HAProxy timeout is in milliseconds [INFER: HAProxy config manual]
    ("1h", "haproxy", 3600.0), ("soon", "s", None), ("1h", "s", None),
])
def test_parse_seconds(raw: str, unit: str, secs: float | None) -> None:
    assert parse_seconds(raw, unit) == secs


def _ing(annotations: dict[str, str]) -> dict[str, Any]:
    return {"kind": "Ingress", "metadata": {"name": "chat", "namespace": "default", "annotations": annotations},
            "spec": {"rules": []}}


def _lookup(objs: list[dict[str, Any]]) -> Any:
    return lambda kind: [o for o in objs if o.get("kind") == kind]


def test_alb_idle_timeout_is_read_from_the_attribute_list() -> None:
    alb = profile_named("aws-alb")
    limits, problems = websocket_limits(alb, _ing({"alb.ingress.kubernetes.io/load-balancer-attributes":
                                                   "deletion_protection.enabled=true,idle_timeout.timeout_seconds=600"}),
                                        None, _lookup([]))
    assert [(e.timeout.name, e.seconds, e.source) for e in limits] == [("idle", 600.0, "annotation")] and not problems
    limits, _ = websocket_limits(alb, _ing({"alb.ingress.kubernetes.io/load-balancer-attributes":
                                            "deletion_protection.enabled=true"}), None, _lookup([]))
    assert limits[0].seconds == 60 and limits[0].source == "default"


def test_gke_backend_timeout_from_the_backend_config_the_service_names() -> None:
    gke = profile_named("gke")
    svc = {"kind": "Service", "metadata": {"name": "chat", "namespace": "default",
                                           "annotations": {"cloud.google.com/backend-config": '{"default": "ws"}'}}}
    bc = {"kind": "BackendConfig", "metadata": {"name": "ws", "namespace": "default"}, "spec": {"timeoutSec": 3600}}
    limits, _ = websocket_limits(gke, _ing({}), svc, _lookup([bc]))
    assert [(e.seconds, e.source) for e in limits] == [(3600.0, "object")]
    # Named but not visible (kdiag does not read BackendConfigs from a cluster): no claim at all.
    assert websocket_limits(gke, _ing({}), svc, _lookup([]))[0] == []
    # No BackendConfig: the load balancer's 30 s default.
    assert websocket_limits(gke, _ing({}), None, _lookup([]))[0][0].seconds == 30


def test_contour_stream_idle_timeout_from_its_config_file() -> None:
    contour = profile_named("contour")
    cm = {"kind": "ConfigMap", "metadata": {"name": "contour", "namespace": "projectcontour"},
          "data": {"contour.yaml": "timeouts:\n  stream-idle-timeout: 1h\n"}}
    t = contour.timeout("stream-idle")
    assert t is not None
    got = effective_timeout(contour, t, _ing({}), None, _lookup([cm]))
    assert got is not None and got.seconds == 3600 and "contour.yaml" in got.where


def test_haproxy_tunnel_timeout_from_the_configmap() -> None:
    p = profile_named("haproxytech")
    cm = {"kind": "ConfigMap", "metadata": {"name": "haproxy-kubernetes-ingress", "namespace": "haproxy-controller"},
          "data": {"timeout-tunnel": "30s"}}
    limits, _ = websocket_limits(p, _ing({}), None, _lookup([cm]))
    assert [(e.seconds, e.source) for e in limits] == [(30.0, "configmap")]
