"""`kdiag watch` against the lab: real rollouts on the fake API server, real loopback apps and the
emulated ingress; the API watch of `Kube`; bounds, bad input and Ctrl+C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kdiag.cli import main
from kdiag.lab.rollout import Rollout
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import get_scenario

ROOT = Path(__file__).resolve().parents[1]
OLD_PODS = {"default/chatapp-7d9c5b8f6-x2x7k", "default/chatapp-7d9c5b8f6-q9h4z"}


@pytest.fixture(params=["emulated", "nginx"])
def no_prestop(request: pytest.FixtureRequest) -> Iterator[Lab]:
    """The rollout lab on both data planes (real nginx reloads into the new endpoints)."""
    if request.param == "nginx":
        from tests.conftest import require_nginx

        lab = Lab(get_scenario("rollout-no-prestop"), dataplane="nginx", nginx=require_nginx())
    else:
        lab = Lab(get_scenario("rollout-no-prestop"))
    with lab:
        yield lab


@pytest.fixture
def graceful() -> Iterator[Lab]:
    with Lab(get_scenario("rollout-graceful")) as lab:
        yield lab


def _watch(lab: Lab, capsys: pytest.CaptureFixture[str], *extra: str, url: str = "ws://chatapp.com/wss",
           rollout_after: float | None = 0.5) -> tuple[int, dict[str, Any], Rollout | None]:
    ro = None
    stop = threading.Event()
    if rollout_after is not None:
        ro = Rollout(lab, "chatapp")

        def start_when_watched() -> None:  # all three API watches are open: roll the Deployment
            while not stop.is_set():
                if len({r.path for r in lab.api.requests if r.query.get("watch") == "1"}) >= 3:
                    stop.wait(rollout_after)
                    if not stop.is_set():
                        ro.start()
                    return
                stop.wait(0.05)

        threading.Thread(target=start_when_watched, daemon=True).start()
    try:
        code = main(["watch", url, "--kubeconfig", str(lab.kubeconfig), "--format", "json", "-q", *extra])
    finally:
        stop.set()
        if ro is not None:
            ro.stop()
    out = capsys.readouterr().out
    return code, json.loads(out), ro


def test_rollout_without_prestop_is_counted_and_attributed(no_prestop: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, ro = _watch(no_prestop, capsys, "--rate", "20/s", "--connections", "4", "--duration", "5")
    assert ro is not None and ro.done.is_set()
    w = report["watch"]
    assert code == 1
    assert w["connections"]["dropped"] >= 2 and w["connections"]["close_codes"].get("1006", 0) >= 2
    assert 80 <= w["requests"]["sent"] <= 101  # 20/s for 5 s, never more
    drops = [e for e in w["events"] if e["kind"] == "connection-dropped"]
    assert drops and all(e["pod"] in OLD_PODS for e in drops), drops  # the upstream header named them
    found = [f for f in report["findings"] if f["check"] == "pod-terminating-while-serving"]
    assert {f["object"] for f in found} == {f"Pod {e['pod']}" for e in drops}
    for f in found:
        assert f["severity"] == "error" and f["evidence"]["container"] == "chatapp"
        assert "no preStop delay" in f["message"]
        kinds = {e["kind"] for e in f["evidence"]["events"]}
        assert {"pod-terminating", "connection-dropped"} <= kinds
        assert f["subject"]["object"]["kind"] == "Pod"
    assert report["verdict"]["status"] == "fail" and report["verdict"]["check"] == "pod-terminating-while-serving"
    # the cluster side of the timeline: the new ReplicaSet's pods came, the old ones went
    kinds = [e["kind"] for e in w["events"]]
    for kind in ("replicaset-created", "pod-created", "pod-ready", "pod-terminating", "endpoint-not-ready",
                 "endpoint-removed", "pod-deleted"):
        assert kind in kinds, kind
    assert {e["pod"] for e in w["events"] if e["kind"] == "pod-terminating"} == OLD_PODS


def test_graceful_rollout_reports_zero_failures(graceful: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = _watch(graceful, capsys, "--rate", "20", "--connections", "3", "--duration", "6")
    w = report["watch"]
    assert code == 0, report["verdict"]
    assert (w["requests"]["failed"], w["connections"]["dropped"]) == (0, 0)
    assert report["verdict"]["status"] == "ok" and not report["findings"]
    # the rollout did happen while we watched: old pods drained, closing WebSockets with 1001
    assert {e["pod"] for e in w["events"] if e["kind"] == "pod-deleted"} == OLD_PODS
    assert w["connections"]["close_codes"].get("1001", 0) >= 1


def test_http_watch_is_bounded_and_clean_without_rollout(graceful: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    code, report, _ = _watch(graceful, capsys, "--rate", "10/s", "--duration", "1.5", url="http://chatapp.com/",
                             rollout_after=None)
    w = report["watch"]
    assert code == 0
    assert 12 <= w["requests"]["sent"] <= 16 and w["requests"]["by_status"] == {"200": w["requests"]["sent"]}
    assert w["connections"]["opened"] == 0  # no WebSockets for an http URL unless asked
    assert report["route"]["service"] == "default/chatapp-svc"


def test_kube_watch_streams_changes_and_closes_from_another_thread(graceful: Lab) -> None:
    from kdiag.kube import Kube

    kube = Kube.connect(kubeconfig=str(graceful.kubeconfig))
    try:
        stream = kube.watch("Pod", "default", label_selector="app=chatapp", timeout_seconds=30)
        first = [next(stream) for _ in range(2)]
        assert {t for t, _ in first} == {"ADDED"} and all(o["kind"] == "Pod" for _, o in first)
        objs = [dict(o) for o in graceful.objects]
        pod = next(o for o in objs if o.get("kind") == "Pod")
        pod["metadata"] = {**pod["metadata"], "deletionTimestamp": "2026-12-01T00:00:30Z"}
        graceful.api.set_objects(objs)
        etype, obj = next(stream)
        assert etype == "MODIFIED" and obj["metadata"]["deletionTimestamp"]
        started = time.monotonic()
        threading.Timer(0.3, stream.close).start()
        assert list(stream) == []  # ends as soon as it is closed, long before timeoutSeconds
        assert time.monotonic() - started < 5
        watches = [r for r in graceful.api.requests if r.query.get("watch") == "1"]
        assert watches and watches[0].method == "GET" and watches[0].query["labelSelector"] == "app=chatapp"
    finally:
        kube.close()


@pytest.mark.parametrize("args", [["--rate", "fast"], ["--rate", "5000"], ["--duration", "0"],
                                  ["--connections", "500"], ["--timeout", "0"]])
def test_bad_watch_options_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["watch", "ws://chatapp.com/wss", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("kdiag: bad --") and err.count("\n") == 1


def test_ctrl_c_ends_the_watch_with_its_report(graceful: Lab) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "kdiag", "watch", "http://chatapp.com/", "--kubeconfig",
                             str(graceful.kubeconfig), "--duration", "60", "--rate", "5", "--format", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    try:
        deadline = time.monotonic() + 20
        assert proc.stderr is not None
        while time.monotonic() < deadline:  # wait until it is watching
            line = proc.stderr.readline().decode()
            if "watching" in line:
                break
        time.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["watch"]["duration_s"] < 10 and report["watch"]["requests"]["sent"] >= 3
