"""End to end on the lab: a Socket.IO URL walked with the stickiness probe (`kdiag.probes.socketio`).

Two chat replicas serve Engine.IO on the Ingress's `/` rule; the lab's ingress data plane
balances round robin, so one session's follow-up polls reach the other replica, which answers 400
{"code":1,"message":"Session ID unknown"} (socket.io engine.io server.ts abortRequest). With
ingress-nginx cookie affinity the session stays on one replica.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from kdiag.diagnose import DiagnoseOptions, run_diagnose
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import CHAT_PODS, HOST, SCENARIOS, PortBehavior


class ReplicaLab(Lab):
    """The lab with one Engine.IO server process per chat replica on port 3000 (the lab's own app
    server keeps one session table for every port, like a single process; replicas do not share)."""

    def start(self) -> ReplicaLab:
        from kdiag.lab.apps import AppBehavior, AppServer

        self.replicas: dict[str, tuple[Any, int]] = {}
        for sfx in CHAT_PODS:
            srv = AppServer().start()
            self.replicas[f"chatapp-7d9c5b8f6-{sfx}"] = (srv, srv.serve(AppBehavior("socketio")))
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        for srv, _ in getattr(self, "replicas", {}).values():
            srv.stop()

    def backend(self, namespace: str, pod: str, port: int) -> tuple[str, int] | None:
        if port == 3000 and pod in getattr(self, "replicas", {}):
            return ("127.0.0.1", self.replicas[pod][1])
        return super().backend(namespace, pod, port)


def _walk(*, sticky: bool) -> dict[str, Any]:
    base = SCENARIOS["healthy"]
    objects = [copy.deepcopy(dict(o)) for o in base.objects]
    if sticky:
        ing = next(o for o in objects if o.get("kind") == "Ingress")
        ing["metadata"].setdefault("annotations", {})["nginx.ingress.kubernetes.io/affinity"] = "cookie"
    listeners = {**base.listeners, **{(f"chatapp-7d9c5b8f6-{sfx}", 3000): PortBehavior("socketio") for sfx in CHAT_PODS}}
    sc = replace(base, name="socketio-e2e", objects=tuple(objects), listeners=listeners,
                 url=f"http://{HOST}/socket.io/?EIO=4&transport=polling")
    with ReplicaLab(sc) as lab:
        opts = DiagnoseOptions.from_cli(
            url=sc.url, headers={}, client_url=None, page_url=None, idle=None, resolve=(), connect_to=(
                f"{HOST}:80:127.0.0.1:{lab.ingress_port}",), via="auto", timeout=3.0, filenames=(),
            kubeconfig=str(lab.kubeconfig), context=None, namespace=None, progress=False)
        return run_diagnose(opts).to_dict()


def test_socketio_without_affinity_is_confirmed_by_the_probe() -> None:
    report = _walk(sticky=False)
    assert (report["verdict"]["hop"], report["verdict"]["check"]) == ("service", "service-session-affinity-needed")
    f = next(f for f in report["findings"] if f["check"] == "service-session-affinity-needed")
    assert f["severity"] == "error" and "Session ID unknown" in f["message"]
    ingress = next(h for h in report["hops"] if h["hop"] == "ingress")
    session = [p for p in ingress["probes"] if p.get("probe") == "socketio-sticky"]
    assert session and 400 in session[0]["followup_statuses"]


def test_socketio_with_cookie_affinity_stays_on_one_replica() -> None:
    report = _walk(sticky=True)
    assert report["verdict"]["check"] != "service-session-affinity-needed", report["verdict"]
    ingress = next(h for h in report["hops"] if h["hop"] == "ingress")
    session = [p for p in ingress["probes"] if p.get("probe") == "socketio-sticky"]
    assert session and session[0]["ok"] and session[0]["followup_statuses"] == [200, 200, 200, 200]
