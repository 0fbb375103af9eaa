"""Demo stories of a Gateway API backend the data plane cannot use.

- `gw-externalname-backend`: the chat app behind Envoy Gateway (the cluster of
  kdiag.lab.gateway_timeout_scenarios). The team moved billing to a managed provider and pointed
  the HTTPRoute rule for /billing at an `ExternalName` Service (`billing.payments.example.net`).
  Envoy Gateway does not take an ExternalName Service as a backend: the route's `ResolvedRefs` is
  False (UnsupportedValue) and the rule is a 500 direct response (kdiag.lab.gateway.controller
  `_external_name` cites envoyproxy/gateway's source). The external name is never resolved nor
  connected to, by the lab or by kdiag: the lab is loopback only.

Why Envoy Gateway and not NGINX Gateway Fabric: NGF supports ExternalName Services since 2.2.0
when the Gateway's NginxProxy sets a `dnsResolver` (without one it answers 500 too), so the story
that needs no extra condition is Envoy Gateway's, which rejects them outright.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kdiag.lab import gateway_timeout_scenarios as eg

if TYPE_CHECKING:
    from kdiag.lab.scenarios import Scenario

__all__ = ["EXTERNAL_NAME", "stories"]

#: Where the ExternalName Service points (example.net: never resolved, never connected to).
EXTERNAL_NAME = "billing.payments.example.net"


def _billing() -> dict[str, Any]:
    lab = eg._lab()
    return {"kind": "Service", "apiVersion": "v1", "metadata": lab._md("billing"),
            "spec": {"type": "ExternalName", "externalName": EXTERNAL_NAME,
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}


def _externalname_backend() -> Scenario:
    lab = eg._lab()
    route = eg._chat_route([eg._rule("/billing", "billing", 443)])
    return eg._scenario(
        eg._eg_infra() + eg._chat_app() + [_billing(), route],
        name="gw-externalname-backend",
        title="Envoy Gateway: an HTTPRoute backend is an ExternalName Service (500)",
        story=f"The chat app behind Envoy Gateway. Billing moved to a provider, and the HTTPRoute rule for "
              f"/billing now points at Service `billing` of type ExternalName ({EXTERNAL_NAME}). Envoy Gateway "
              f"does not use ExternalName Services as backends: the route's ResolvedRefs is False and every "
              f"request to /billing gets 500.",
        listeners=lab._chat_listeners(lab.CHAT_PODS), url=f"http://{lab.HOST}/billing/invoices",
        expect_hop="service", expect_check="service-backend-unsupported")


def stories() -> list[Scenario]:
    return [_externalname_backend()]
