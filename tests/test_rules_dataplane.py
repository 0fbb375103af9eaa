"""Rules that read the serving data plane's profile: the message and fix speak that data plane's terms."""

from __future__ import annotations

from typing import Any

from tests.test_rules_ingress import findings


def _class(name: str, controller: str) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": name},
            "spec": {"controller": controller}}


def _ingress(cls: str, annotations: dict[str, str] | None = None, path: str = "/ws") -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "chat", "namespace": "default", "annotations": annotations or {}},
            "spec": {"ingressClassName": cls, "rules": [{"host": "chat.io", "http": {"paths": [
                {"path": path, "pathType": "Prefix", "backend": {"service": {"name": "chat", "port": {"number": 80}}}}]}}]}}


def test_alb_timeout_fix_names_the_alb_attribute() -> None:
    got = findings([_class("alb", "ingress.k8s.aws/alb"), _ingress("alb")], "ingress-websocket-timeout")
    assert len(got) == 1
    assert "ALB idle timeout 60 s (default)" in got[0].message and "aws-alb" in got[0].message
    assert "idle_timeout.timeout_seconds=3600" in got[0].fix and "nginx.ingress" not in got[0].fix


def test_gke_timeout_is_a_lifetime_limit() -> None:
    got = findings([_class("gce", "k8s.io/ingress-gce"), _ingress("gce")], "ingress-websocket-timeout")
    assert "every WebSocket is closed after 30 s by gke, busy or not" in got[0].message
    assert "BackendConfig" in got[0].fix


def test_haproxy_short_tunnel_timeout_in_the_configmap_fires() -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": "haproxy-kubernetes-ingress", "namespace": "haproxy-controller"},
          "data": {"timeout-tunnel": "5m"}}
    got = findings([_class("haproxy", "haproxy.org/ingress-controller"), _ingress("haproxy"), cm],
                   "ingress-websocket-timeout")
    assert len(got) == 1 and "timeout-tunnel 300 s (configmap)" in got[0].message
    assert "timeout-tunnel: 1h" in got[0].fix


def test_unknown_controller_gets_no_timeout_or_annotation_claim() -> None:
    items = [_class("x", "example.com/mystery"), _ingress("x", {"nginx.ingress.kubernetes.io/proxy-read-timeout": "5"})]
    for check in ("ingress-websocket-timeout", "controller-field-ignored", "ingress-websocket-not-enabled",
                  "ingress-ssl-redirect-loop"):
        assert findings(items, check) == [], check


def test_nginx_timeout_on_traefik_says_there_is_no_equivalent() -> None:
    items = [_class("traefik", "traefik.io/ingress-controller"),
             _ingress("traefik", {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
                                  "traefik.ingress.kubernetes.io/router.entrypoints": "websecure"})]
    got = findings(items, "controller-field-ignored")
    assert [f.evidence["annotation"] for f in got] == ["nginx.ingress.kubernetes.io/proxy-read-timeout"]
    assert "ingress-nginx's annotation" in got[0].message and "traefik has no equivalent" in got[0].message


def test_nginx_timeout_on_alb_names_the_alb_equivalent() -> None:
    items = [_class("alb", "ingress.k8s.aws/alb"),
             _ingress("alb", {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"})]
    got = findings(items, "controller-field-ignored")
    assert "idle_timeout.timeout_seconds=3600" in got[0].message


def test_classless_manifests_make_no_annotation_claim() -> None:
    ing = _ingress("", {"traefik.ingress.kubernetes.io/router.entrypoints": "web"})
    del ing["spec"]["ingressClassName"]
    assert findings([ing], "controller-field-ignored") == []


def test_contour_websocket_not_enabled_for_the_target_path() -> None:
    items = [_class("contour", "projectcontour.io/ingress-controller"), _ingress("contour", path="/live")]
    assert findings(items, "ingress-websocket-not-enabled") == []  # /live does not look like WebSockets
    got = findings(items, "ingress-websocket-not-enabled", url="wss://chat.io/live")
    assert len(got) == 1 and "projectcontour.io/websocket-routes" in got[0].fix
    items[1]["metadata"]["annotations"] = {"projectcontour.io/websocket-routes": "/live"}
    assert findings(items, "ingress-websocket-not-enabled", url="wss://chat.io/live") == []


def test_agc_ingress_never_gets_websockets() -> None:
    items = [_class("azure-alb-external", "alb.networking.azure.io/alb-controller"), _ingress("azure-alb-external")]
    got = findings(items, "ingress-websocket-not-enabled")
    assert len(got) == 1 and "Gateway API" in got[0].message


def test_httproute_timeouts_on_a_data_plane_that_honours_them_are_quiet() -> None:
    # GCF: Istio maps timeouts.request to the route timeout; NGF ignores them (UnsupportedField).
    def objs(controller: str) -> list[dict[str, Any]]:
        return [{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "c"},
                 "spec": {"controllerName": controller}},
                {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
                 "metadata": {"name": "gw", "namespace": "default"},
                 "spec": {"gatewayClassName": "c", "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}},
                {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                 "metadata": {"name": "r", "namespace": "default"},
                 "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"timeouts": {"request": "1h"}}]}}]
    assert findings(objs("istio.io/gateway-controller"), "controller-field-ignored") == []
    got = findings(objs("gateway.nginx.org/nginx-gateway-controller"), "controller-field-ignored")
    assert len(got) == 1 and got[0].hop == "gateway" and "ProxySettingsPolicy" in got[0].message
