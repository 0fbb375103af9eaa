"""A cluster whose ingress controller kdiag does not know still gets a walk, with profile `unknown`
and no message claiming a controller's behaviour (issue 10, "Done when")."""

from __future__ import annotations

import copy
import json
import re
from dataclasses import replace
from typing import Any

from kdiag.dataplane import profiles
from kdiag.diagnose import DiagnoseOptions, run_diagnose
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import CHAT_PODS, HOST, SCENARIOS

MYSTERY = "example.com/mystery-ingress-controller"


def _with_unknown_class(objects: tuple[dict[str, Any], ...]) -> tuple[dict[str, Any], ...]:
    out = []
    for o in objects:
        o = copy.deepcopy(o)
        if o.get("kind") == "IngressClass":
            o["metadata"]["name"] = "edge"
            o["metadata"].pop("labels", None)
            o["spec"]["controller"] = MYSTERY
        elif o.get("kind") == "Ingress":
            o["spec"]["ingressClassName"] = "edge"
        out.append(o)
    return tuple(out)


def _walk(url: str, host: str = HOST) -> dict[str, Any]:
    base = SCENARIOS["healthy"]
    sc = replace(base, name="unknown-controller", objects=_with_unknown_class(base.objects), url=url)
    with Lab(sc) as lab:
        # The unknown data plane is played by a plain proxy-less hop: the published address goes
        # straight to the chat pod (the lab's own ingress emulation is ingress-nginx's, which would
        # ignore a class it does not serve).
        addr = lab.backend("default", f"chatapp-7d9c5b8f6-{CHAT_PODS[0]}", 3002)
        assert addr is not None
        opts = DiagnoseOptions.from_cli(
            url=url, headers={}, client_url=None, page_url=None, idle=None, resolve=(),
            connect_to=(f"{host}:80:{addr[0]}:{addr[1]}",), via="auto", timeout=3.0, filenames=(),
            kubeconfig=str(lab.kubeconfig), context=None, namespace=None, progress=False)
        report = run_diagnose(opts)
    return json.loads(json.dumps(report.to_dict()))


def _claims(report: dict[str, Any]) -> list[str]:
    """Every sentence of the report that names a data plane kdiag knows."""
    names = sorted({p.name for p in profiles()} | {"nginx", "envoy", "haproxy"}, key=len, reverse=True)
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in names) + r")\b", re.I)
    texts = [f["message"] for f in report["findings"]] + [h["summary"] for h in report["hops"]]
    texts += [p.get("detail") or "" for h in report["hops"] for p in h.get("probes") or ()]
    texts.append(report["verdict"]["summary"])
    return [t for t in texts if pattern.search(t)]


def test_unknown_controller_walks_with_profile_unknown_and_no_controller_claim() -> None:
    report = _walk(f"ws://{HOST}/wss")
    assert report["route"]["dataplane"] == {"controller": MYSTERY, "profile": "unknown"}
    assert [h["hop"] for h in report["hops"]][:2] == ["client", "ingress"]
    assert report["route"]["service"] and report["route"]["pods"]  # the walk went on past the ingress hop
    assert _claims(report) == []
    # no finding that only a known data plane's profile can make
    assert not {f["check"] for f in report["findings"]} & {
        "ingress-websocket-timeout", "controller-field-ignored", "ingress-websocket-not-enabled",
        "ingress-unknown-annotation", "ingress-ssl-redirect-loop"}


def test_unknown_controller_no_rule_matches_makes_no_status_claim() -> None:
    report = _walk("http://not-routed.example.com/", "not-routed.example.com")
    assert _claims(report) == []
    miss = [f for f in report["findings"] if f["check"] == "ingress-no-rule-matches"]
    assert miss and all("not known" in f["message"] for f in miss), [f["message"] for f in miss]
