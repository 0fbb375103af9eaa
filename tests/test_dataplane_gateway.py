"""Gateway API data-plane profiles: recognised by GatewayClass controllerName, with sourced facts.

Every expectation below cites its source in ../shared/reference/gateway-controllers-facts.md
(GCF) or dataplane-facts.md §2 (DPF); facts the sheet marks UNVERIFIED must be marked in the
profile's `unverified`.
"""

from __future__ import annotations

import pytest

from kdiag.dataplane import profile_for_controller, profiles

# (controllerName, profile, WebSocket upgrade default, no route, invalid backend, no endpoints,
#  honours HTTPRoute timeouts, source)
FACTS = [
    # GCF "NGINX Gateway Fabric": servers.go Upgrade headers on every location; split_clients.go /
    # servers_template.go return 500 (invalid backend) and nginx-503-server.sock 503; httproute.go
    # checkForUnsupportedHTTPFields -> UnsupportedField (timeouts ignored).
    ("gateway.nginx.org/nginx-gateway-controller", "nginx-gateway-fabric", True, 404, 500, 503, False),
    # GCF "Envoy Gateway": route.go defaultUpgradeConfig websocket; route.go ~L380-440 500 direct
    # response; envoyproxy/gateway#7938 503; getEffectiveRequestTimeout reads timeouts.request.
    ("gateway.envoyproxy.io/gatewayclass-controller", "envoy-gateway", True, 404, 500, 503, True),
    # GCF "Istio": listener_builder.go UpgradeConfigs websocket; conversion.go timeouts.request -> route
    # timeout; 500/503 from the spec (DPF §2.4).
    ("istio.io/gateway-controller", "istio", True, 404, 500, 503, True),
    # GCF "Cilium": cec-output.yaml upgradeConfigs websocket; conformance v1.6 HTTPRouteRequestTimeout.
    ("io.cilium/gateway-controller", "cilium", True, 404, 500, 503, True),
    # GCF "kgateway": fc.go "TODO: should we enable websockets by default?" (off); docs timeouts.
    ("kgateway.dev/kgateway", "kgateway", False, 404, 500, 503, True),
    # GCF "Traefik": Go reverse proxy forwards upgrades; features.go lacks HTTPRouteRequestTimeout.
    ("traefik.io/gateway-controller", "traefik", True, 404, 500, 503, False),
    # GCF "GKE Gateway": conformance v1.6 report, HTTPRouteRequestTimeout unsupported; codes UNVERIFIED.
    ("networking.gke.io/gateway", "gke", True, 404, None, None, False),
    # GCF "AWS Load Balancer Controller": l7gateway.md, HTTPRoute timeouts unsupported.
    ("gateway.k8s.aws/alb", "aws-alb", True, 404, None, 503, False),
]


@pytest.mark.parametrize(("controller", "name", "ws", "no_route", "no_backend", "no_endpoints", "timeouts"), FACTS)
def test_gateway_profiles(controller: str, name: str, ws: bool, no_route: int, no_backend: int | None,
                          no_endpoints: int | None, timeouts: bool) -> None:
    p = profile_for_controller(controller)
    assert p.name == name
    assert p.websocket_upgrade is ws and p.websocket_off
    assert (p.no_route.status, p.no_backend.status, p.no_endpoints.status) == (no_route, no_backend, no_endpoints)
    assert p.route_timeouts is timeouts
    assert all(t.source and t.field for t in p.timeouts)  # every default names its field and source


def test_timeout_defaults_from_the_sheet() -> None:
    # GCF "Envoy Gateway": Envoy's route timeout 15 s, stream idle 5 min; "kgateway" the same 15 s.
    assert profile_for_controller("gateway.envoyproxy.io/gatewayclass-controller").timeout("request").seconds == 15
    assert profile_for_controller("kgateway.dev/kgateway").timeout("stream-idle").seconds == 300
    # GCF "NGINX Gateway Fabric": no proxy timeouts written -> nginx 60 s read, changed by ProxySettingsPolicy.
    read = profile_for_controller("gateway.nginx.org/nginx-gateway-controller").timeout("read")
    assert read is not None and read.seconds == 60 and "ProxySettingsPolicy" in read.field
    # GCF "Istio": route timeout and HCM stream idle disabled by default.
    assert profile_for_controller("istio.io/gateway-controller").timeout("request").seconds is None
    # GCF "Cilium": streamIdleTimeout 300s in the generated CiliumEnvoyConfig.
    assert profile_for_controller("io.cilium/gateway-controller").timeout("stream-idle").seconds == 300
    # GCF "GKE": backend service timeoutSec 30 s via GCPBackendPolicy.
    gke = profile_for_controller("networking.gke.io/gateway").timeout("backend")
    assert gke is not None and gke.seconds == 30 and "GCPBackendPolicy" in gke.field


def test_unverified_facts_are_marked() -> None:
    by_name = {p.name: p for p in profiles()}
    # GCF "Open / UNVERIFIED": GCLB status codes; Traefik idle timeout vs WebSockets; Cilium newest code.
    assert by_name["gke"].unverified and "UNVERIFIED" in by_name["gke"].no_endpoints.source
    assert any("idleTimeout" in u for u in by_name["traefik"].unverified)
    assert by_name["cilium"].unverified
    assert by_name["aws-alb"].unverified
    assert not by_name["envoy-gateway"].unverified
