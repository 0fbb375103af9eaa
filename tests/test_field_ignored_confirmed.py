"""`controller-field-ignored` confirmed by a live idle cut (`kdiag.verdict_edge.confirm_ignored`), and the
serving data plane's effective timeouts as the layers an idle cut is attributed to (`kdiag.layers`)."""

from __future__ import annotations

from typing import Any

from kdiag.findings import make_finding
from kdiag.lab.scenarios import SCENARIOS
from kdiag.lab.world import derive_endpoint_slices
from kdiag.layers import layer_timeouts
from kdiag.model import Finding, SourceInfo
from kdiag.route import resolve_route
from kdiag.route.target import parse_target
from kdiag.rules import RuleContext, run_rules
from kdiag.session import WalkRequest
from kdiag.snapshot import Snapshot
from kdiag.verdict_edge import confirm_ignored

ING = "Ingress default/chatapp"


def _ignored(annotation: str = "nginx.ingress.kubernetes.io/proxy-read-timeout", asked: float | None = 3600,
             obj: str = ING) -> Finding:
    ev: dict[str, Any] = {"annotation": annotation, "profile": "haproxytech", "owner": "ingress-nginx"}
    if asked is not None:
        ev["websocket_timeout"] = {"asked_s": asked, "cuts": "idle", "equivalent": ["`timeout-tunnel: 1h`"]}
    return make_finding("controller-field-ignored", object=obj, message=f"{annotation} is ignored", evidence=ev)


def _cut(observed: float = 3.0, *, matched: bool = True, layer: str = "ingress", obj: str = ING) -> Finding:
    ev: dict[str, Any] = {"probe": {"kind": "idle", "ok": False},
                          "layer": {"layer": layer, "matched": matched, "observed_s": observed}}
    if matched:
        ev["layer"].update(seconds=3.0, setting="ConfigMap timeout-tunnel", name="tunnel", who="haproxytech",
                           where="ConfigMap haproxy-controller/haproxy-kubernetes-ingress key timeout-tunnel")
    return make_finding("websocket-idle-disconnect", object=obj, message="cut", evidence=ev, hop="ingress")


def test_a_cut_at_the_serving_data_planes_own_timeout_confirms_the_ignored_annotation() -> None:
    [f] = confirm_ignored([_ignored()], [_cut()])
    assert f.severity == "error" and f.hop == "ingress"
    assert "haproxytech's tunnel timeout of 3 s" in f.message and "not after the 3600 s" in f.message
    assert f.evidence["layer"]["name"] == "tunnel" and f.evidence["idle_probe"] == {"kind": "idle", "ok": False}


def test_no_confirmation_without_a_matching_cut_on_the_same_object() -> None:
    static = [_ignored()]
    assert confirm_ignored(static, []) == static
    assert confirm_ignored(static, [_cut(matched=False)]) == static  # the cut matches no configured timeout
    assert confirm_ignored(static, [_cut(layer="edge")]) == static  # the load balancer's timeout cut it
    assert confirm_ignored(static, [_cut(obj="Ingress default/other")]) == static
    # what the annotation asks for is what happened: ignoring it changed nothing
    assert confirm_ignored([_ignored(asked=3)], [_cut()]) == [_ignored(asked=3)]
    # an ignored annotation that is not a WebSocket timeout explains no cut
    assert confirm_ignored([_ignored("nginx.ingress.kubernetes.io/rewrite-target", asked=None)], [_cut()])[0].severity \
        == "warning"


def test_one_cut_confirms_one_ignored_annotation() -> None:
    got = confirm_ignored([_ignored(), _ignored("nginx.ingress.kubernetes.io/proxy-send-timeout")], [_cut()])
    assert [f.severity for f in got] == ["error", "warning"]


def _story_snapshot(name: str) -> tuple[Snapshot, WalkRequest]:
    sc = SCENARIOS[name]
    objs = list(sc.objects) + derive_endpoint_slices(sc.objects)
    return Snapshot(objects=tuple(objs), source=SourceInfo(kind="cluster")), WalkRequest(url=sc.url)


def test_the_entry_layer_timeouts_are_the_profiles_effective_values() -> None:
    """haproxytech: `timeout-tunnel` from the controller ConfigMap, not the 1 h default; the Ingress's
    ingress-nginx annotations are not read as HAProxy's."""
    snap, req = _story_snapshot("haproxy-nginx-timeouts-ignored")
    res = resolve_route(snap, parse_target(req.url))
    layers = {t.name: t for t in layer_timeouts(snap, res) if t.layer == "ingress"}
    assert layers["tunnel"].seconds == 3.0 and "ConfigMap haproxy-controller/haproxy-kubernetes-ingress" in layers["tunnel"].where
    assert layers["server"].seconds == 50 and layers["server"].where == "haproxytech default (50s)"
    assert all(t.seconds != 3600 for t in layers.values())


def test_the_static_finding_carries_what_the_annotation_asks_and_the_fix_in_haproxys_terms() -> None:
    snap, req = _story_snapshot("haproxy-nginx-timeouts-ignored")
    got = [f for f in run_rules(RuleContext.for_request(snap, req)) if f.check == "controller-field-ignored"]
    assert {f.evidence["annotation"] for f in got} == {"nginx.ingress.kubernetes.io/proxy-read-timeout",
                                                       "nginx.ingress.kubernetes.io/proxy-send-timeout"}
    for f in got:
        assert f.severity == "warning" and f.evidence["websocket_timeout"]["asked_s"] == 3600
        assert f.fix.startswith("Use haproxytech's own field: `timeout-tunnel: 1h` in the controller ConfigMap.")
