"""The ExternalName backend story (kdiag.lab.gateway_backend_scenarios), walked end to end.

What the lab models, from the sources (cited in kdiag.lab.gateway.controller `_external_name`):
- Envoy Gateway rejects an ExternalName Service as a backendRef: ResolvedRefs False, reason
  UnsupportedValue, message "Failed to process route rule N backendRef M: Service NS/NAME is of
  type ExternalName, which is not supported as a backend; use an Envoy Gateway Backend resource
  with an FQDN endpoint instead.", and the rule is a `directResponse: {statusCode: 500}`
  (envoyproxy/gateway@d32f28294245e454d20f81d323d626a90e660c1e internal/gatewayapi/route.go,
  validate.go; testdata/httproute-with-externalname-service-backend.out.yaml).
- NGINX Gateway Fabric uses ExternalName Services since 2.2.0 only when the Gateway's NginxProxy
  sets `dnsResolver`; otherwise ResolvedRefs False, UnsupportedValue, "ExternalName service
  requires DNS resolver configuration in Gateway's NginxProxy", and the backend is invalid for the
  Gateway → `invalid-backend-ref` → 500 (nginx/nginx-gateway-fabric@e55bfe33969f313b210d3497b3ae56b923175d69
  internal/controller/state/graph/backend_refs.go checkExternalNameValidForGateways,
  dataplane/configuration.go).
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kdiag.cli import main
from kdiag.lab.envoy import envoy_config
from kdiag.lab.gateway.controller import EG_CONTROLLER, reconcile
from kdiag.lab.gateway.model import NGF_CONTROLLER
from kdiag.lab.gateway_backend_scenarios import EXTERNAL_NAME, stories
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import HOST, SCENARIOS

NAME = "gw-externalname-backend"
EG_MESSAGE = ("Failed to process route rule 1 backendRef 0: Service default/billing is of type ExternalName, "
              "which is not supported as a backend; use an Envoy Gateway Backend resource with an FQDN "
              "endpoint instead.")
NGF_MESSAGE = "ExternalName service requires DNS resolver configuration in Gateway's NginxProxy"


def _resolved_refs(status: dict[str, Any]) -> dict[str, Any]:
    [parent] = status["parents"]
    return next(c for c in parent["conditions"] if c["type"] == "ResolvedRefs")


def test_the_story_is_registered() -> None:
    assert [s.name for s in stories()] == [NAME]
    sc = SCENARIOS[NAME]
    assert (sc.kind, sc.data_plane, sc.expect_hop, sc.expect_check) == (
        "gateway", "envoy-gateway", "service", "service-backend-unsupported")
    [svc] = [o for o in sc.objects if o["kind"] == "Service" and o["metadata"]["name"] == "billing"]
    assert svc["spec"] == {"type": "ExternalName", "externalName": EXTERNAL_NAME,
                           "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}


def test_envoy_gateway_status_and_direct_500() -> None:
    """EG's route status (route.go / the .out.yaml testdata) and its 500 direct response."""
    objs = [dict(o) for o in SCENARIOS[NAME].objects]
    rr = _resolved_refs(reconcile(objs, controller=EG_CONTROLLER).statuses[("HTTPRoute", "default/chatapp")])
    assert (rr["status"], rr["reason"], rr["message"]) == ("False", "UnsupportedValue", EG_MESSAGE)
    cfg = envoy_config(objs, flavor="envoy-gateway", backends=lambda _ns, _pod, _port: None)
    billing = cfg.route(HOST, "/billing/invoices")
    assert billing is not None and billing.path == "/billing" and "ExternalName" in billing.cluster.invalid
    chat = cfg.route(HOST, "/api/messages")  # the other rules still route to the chat Service
    assert chat is not None and not chat.cluster.invalid


def test_nginx_gateway_fabric_without_dns_resolver() -> None:
    """The same route on NGF: UnsupportedValue for want of an NginxProxy dnsResolver, and the rule's
    only backend has no upstream (`invalid-backend-ref`: NGINX answers 500)."""
    objs = [copy.deepcopy(dict(o)) for o in SCENARIOS[NAME].objects]
    for o in objs:
        if o["kind"] == "GatewayClass":
            o["spec"]["controllerName"] = NGF_CONTROLLER
    done = reconcile(objs, controller=NGF_CONTROLLER)
    rr = _resolved_refs(done.statuses[("HTTPRoute", "default/chatapp")])
    assert (rr["status"], rr["reason"], rr["message"]) == ("False", "UnsupportedValue", NGF_MESSAGE)
    server = done.config.server_for(HOST)
    billing = [m for loc in server.locations if loc.path.startswith("/billing") for m in loc.matches]
    assert billing and all(b.upstream is None for m in billing for b in m.backends)


def _diagnose(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    sc = SCENARIOS[NAME]
    with Lab(sc) as lab:
        code = main(["diagnose", sc.url, "--format", "json", "--timeout", "3", "-q",
                     "--kubeconfig", str(lab.kubeconfig)])
        requests = [r.path for r in lab.api.requests]
    report = json.loads(capsys.readouterr().out)
    report["_paths"] = requests
    return code, report


def test_the_walk_names_the_service_and_the_fix(capsys: pytest.CaptureFixture[str]) -> None:
    """Live (targeted reads): 500 through Envoy; the Service hop is not probed (an ExternalName is
    never resolved nor connected to); the static rule and the controller's status agree."""
    code, report = _diagnose(capsys)
    assert code == 1
    verdict = report["verdict"]
    assert (verdict["status"], verdict["hop"], verdict["check"]) == ("fail", "service", "service-backend-unsupported")
    assert report["findings"][verdict["finding"]]["check"] == "service-backend-unsupported"
    hops = {h["hop"]: h for h in report["hops"]}
    [gw] = [p for p in hops["gateway"]["probes"] if p["kind"] == "http"]
    assert gw["status_code"] == 500 and gw["response_headers"]["server"] == "envoy"
    assert hops["service"]["status"] == "fail" and hops["service"]["probes"] == []
    assert (hops["endpoints"]["status"], hops["pod"]["status"]) == ("skip", "skip")
    targets = [p["target"] for h in report["hops"] for p in h["probes"]]
    assert targets and not any(EXTERNAL_NAME in t for t in targets)
    [f] = [f for f in report["findings"] if f["check"] == "service-backend-unsupported"]
    assert f["hop"] == "service" and f["object"] == "Service default/billing"
    assert f["evidence"]["status"] == {"gateway": "default/eg", "reason": "UnsupportedValue", "message": EG_MESSAGE}
    assert "`Backend` with an `fqdn` endpoint" in f["fix"]
    # the controller's status explains the same backend: no second finding, no disagreement
    assert not [g for g in report["findings"] if g["check"] == "route-backend-not-found"]
    assert report["route"]["disagreements"] == []
    # a targeted walk: the route's Service is read by name, not every Service listed
    assert "/api/v1/namespaces/default/services/billing" in report["_paths"]


def test_the_text_report_shows_the_fix_on_the_first_screen(capsys: pytest.CaptureFixture[str]) -> None:
    sc = SCENARIOS[NAME]
    with Lab(sc) as lab:
        code = main(["diagnose", sc.url, "--timeout", "3", "--kubeconfig", str(lab.kubeconfig)])
    screen = capsys.readouterr().out.splitlines()[:24]
    assert code == 1
    assert "service-backend-unsupported" in " ".join(screen[:4])  # the verdict line(s)
    fix = next(i for i, line in enumerate(screen) if line.strip().startswith("Fix:"))
    assert "Envoy Gateway" in " ".join(screen[fix:fix + 2])


def _rule_findings(objects: list[dict[str, Any]]) -> list[Any]:
    import yaml

    from kdiag.rules import RuleContext, run_rules
    from kdiag.sources.manifests import load_manifest_text

    snap = load_manifest_text(yaml.safe_dump_all(objects), path="story.yaml", namespace="default")
    return [f for f in run_rules(RuleContext.for_request(snap, None)) if f.check == "service-backend-unsupported"]


@pytest.mark.parametrize("controller", [EG_CONTROLLER, NGF_CONTROLLER])
def test_the_rule_quotes_the_controller_that_rejects_the_backend(controller: str) -> None:
    """With the status each controller writes (no NginxProxy for NGF), the finding is an error that
    names the Gateway and the reason; no second, generic route-backend-not-found."""
    objs = [copy.deepcopy(dict(o)) for o in SCENARIOS[NAME].objects]
    for o in objs:
        if o["kind"] == "GatewayClass":
            o["spec"]["controllerName"] = controller
    from kdiag.lab.gateway.controller import with_status

    objs = with_status(objs, controller=controller)
    [f] = _rule_findings(objs)
    assert f.severity == "error" and f.evidence["status"]["gateway"] == "default/eg"
    assert f.evidence["status"]["message"] == (EG_MESSAGE if controller == EG_CONTROLLER else NGF_MESSAGE)
    assert "does not use as a backend (ResolvedRefs=False, UnsupportedValue)" in f.message


def test_the_rule_is_a_warning_when_the_controller_resolves_it() -> None:
    """NGF with an NginxProxy dnsResolver uses an ExternalName backend (ResolvedRefs=True): a warning,
    not an error; without any status the spec's SHOULD NOT stands (an error)."""
    objs = [copy.deepcopy(dict(o)) for o in SCENARIOS[NAME].objects]
    route = next(o for o in objs if o["kind"] == "HTTPRoute")
    for c in route["status"]["parents"][0]["conditions"]:
        if c["type"] == "ResolvedRefs":
            c.update(status="True", reason="ResolvedRefs", message="All references are resolved")
    [f] = _rule_findings(objs)
    assert f.severity == "warning" and "dnsResolver" in f.message
    del route["status"]
    [f] = _rule_findings(objs)
    assert f.severity == "error" and "SHOULD NOT" in f.message
