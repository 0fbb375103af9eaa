"""Issue 13: API servers that drip, flood, page forever or answer garbage; the deadline; Ctrl+C.

Each case runs `python -m kdiag diagnose` as a whole process (bounded address space with
RLIMIT_AS) against a lab API server on loopback, and asserts the contract: no traceback, exit 2,
one line naming what was wrong, and an end well within the time given.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kdiag.lab.apiserver.hostile import MODES, HostileApiServer

ROOT = Path(__file__).resolve().parent.parent
#: Address space for the kdiag process: the interpreter, the kubernetes client, 8 reader threads.
MEMORY_LIMIT = 1536 * 2**20


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "HTTPS_PROXY", "https_proxy")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _kdiag(kubeconfig: Path, *extra: str, deadline: float = 20.0) -> tuple[subprocess.CompletedProcess[str], float]:
    argv = [sys.executable, "-m", "kdiag", "diagnose", "http://chatapp.com/api", "--kubeconfig", str(kubeconfig),
            "-q", "--format", "json", "--timeout", "2", "--deadline", str(deadline), *extra]
    started = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=deadline + 30,
                          preexec_fn=_limit_memory)
    return proc, time.monotonic() - started


def _one_line_error(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("mode", [m for m in MODES if m != "drip"])
def test_garbage_from_the_api_server_is_could_not_read(mode: str, tmp_path: Path) -> None:
    with HostileApiServer(mode) as srv:
        proc, took = _kdiag(srv.write_kubeconfig(tmp_path / "kc"))
        assert srv.requests, "kdiag never asked"
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert line.startswith("kdiag: could not read the cluster: "), line
    assert "forbidden" not in line.lower() or mode == "html-403"
    assert proc.stdout == "", "no verdict may be printed"
    assert took < 25, took


def test_a_path_prefix_on_the_server_url_is_could_not_read(tmp_path: Path) -> None:
    """Every read 404s (a Status, like a real server for an unknown path): not "not found" verdicts."""
    import yaml

    from kdiag.lab.apiserver import server as apiserver
    from kdiag.lab.scenarios import SCENARIOS

    with apiserver.FakeApiServer(SCENARIOS["healthy"].objects) as api:
        kc = api.write_kubeconfig(tmp_path / "kc")
        doc = yaml.safe_load(kc.read_text())
        doc["clusters"][0]["cluster"]["server"] = api.url + "/k8s/clusters/c-1"
        kc.write_text(yaml.safe_dump(doc))
        proc, _ = _kdiag(kc)
    line = _one_line_error(proc.stderr)
    assert proc.returncode == 2 and line.startswith("kdiag: could not read the cluster: "), line
    assert "404" in line and "path prefix" in line, line


def test_a_dripping_api_server_ends_by_the_deadline_with_a_partial_report(tmp_path: Path) -> None:
    with HostileApiServer("drip") as srv:
        proc, took = _kdiag(srv.write_kubeconfig(tmp_path / "kc"), deadline=4)
    assert proc.returncode == 2, proc.stderr
    assert _one_line_error(proc.stderr) == "kdiag: not finished: deadline"
    assert took < 4 + 8, took
    report = json.loads(proc.stdout)
    assert {h["status"] for h in report["hops"]} == {"skip"}
    assert all(h["summary"] == "not finished: deadline" for h in report["hops"])
    assert report["verdict"]["summary"].startswith("Not finished (deadline)")


def test_one_request_is_bounded_in_total_time_not_only_between_bytes(tmp_path: Path) -> None:
    from kdiag.kube import ApiError, Kube

    with HostileApiServer("drip", drip_interval=0.2) as srv:
        kube = Kube.connect(kubeconfig=str(srv.write_kubeconfig(tmp_path / "kc")), timeout=(1.0, 1.0))
        started = time.monotonic()
        with pytest.raises(ApiError, match=r"did not finish its answer within 3 s"):
            kube.list_raw("Pod", "default")
        assert time.monotonic() - started < 6


def test_endless_continue_tokens_stop_at_the_page_limit(tmp_path: Path) -> None:
    from kdiag.kube import ApiError, Kube
    from kdiag.kube.limits import MAX_PAGES

    with HostileApiServer("page-forever") as srv:
        kube = Kube.connect(kubeconfig=str(srv.write_kubeconfig(tmp_path / "kc")))
        with pytest.raises(ApiError, match="more than 200 pages"):
            kube.list_raw("Pod", "default")
        assert len(srv.requests) == MAX_PAGES + 1


def _start_kdiag(kubeconfig: Path, deadline: float) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "kdiag", "diagnose", "http://chatapp.com/api", "--kubeconfig", str(kubeconfig),
            "-q", "--format", "json", "--timeout", "2", "--deadline", str(deadline)]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                            preexec_fn=_limit_memory)


def _wait_for_reads(srv: HostileApiServer, count: int = 2) -> None:
    end = time.monotonic() + 20
    while len(srv.requests) < count and time.monotonic() < end:
        time.sleep(0.05)
    assert len(srv.requests) >= count, "kdiag did not start reading"


def test_ctrl_c_gives_a_partial_report_and_exit_2(tmp_path: Path) -> None:
    with HostileApiServer("drip") as srv:
        proc = _start_kdiag(srv.write_kubeconfig(tmp_path / "kc"), deadline=120)
        _wait_for_reads(srv)
        time.sleep(0.5)  # blocked in dripping reads now
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = proc.communicate(timeout=20)
    assert time.monotonic() - started < 6
    assert proc.returncode == 2, err
    assert _one_line_error(err) == "kdiag: not finished: interrupted"
    report: dict[str, Any] = json.loads(out)
    assert all(h["summary"] == "not finished: interrupted" for h in report["hops"])


_BLOCKED_RUN = """
import time
from kdiag.kube.limits import Deadline
from kdiag.model import SourceInfo, TargetInfo
from kdiag.stopping import Progress, run_until_stopped

async def main(deadline, progress):
    print("blocked", flush=True)
    time.sleep(60)  # the event loop itself is stuck, as in a read that ignores everything

run_until_stopped(main, Deadline(120), Progress(target=TargetInfo(url="http://a/"), source=SourceInfo(kind="cluster")))
"""


def test_a_second_ctrl_c_ends_the_process_at_once() -> None:
    """Even when the run is stuck where the first Ctrl+C cannot end it."""
    proc = subprocess.Popen([sys.executable, "-c", _BLOCKED_RUN], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())
    assert proc.stdout is not None and proc.stdout.readline().strip() == "blocked"
    proc.send_signal(signal.SIGINT)
    time.sleep(0.5)
    assert proc.poll() is None, "the first Ctrl+C cannot end a stuck loop"
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    _, err = proc.communicate(timeout=20)
    assert time.monotonic() - started < 3
    assert proc.returncode == 130, err
    assert err.strip() == "kdiag: interrupted", err


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e9"])
def test_deadline_must_be_finite_and_positive(value: str, tmp_path: Path) -> None:
    from kdiag.cli import main

    assert main(["diagnose", "http://a.example/", "--kubeconfig", str(tmp_path / "none"),
                 "--deadline", value]) == 2


def test_exec_credential_plugin_that_never_exits_is_stopped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kdiag.kube.kubeconfig as kubeconfig
    from kdiag.errors import InputError
    from kdiag.kube import Kube

    monkeypatch.setattr(kubeconfig, "EXEC_PLUGIN_TIMEOUT", 1.0)
    kc = tmp_path / "kc"
    kc.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1",
                                                  "command": "sleep", "args": ["60"]}}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    started = time.monotonic()
    with pytest.raises(InputError, match="did not finish within 1 s"):
        Kube.connect(kubeconfig=str(kc))
    assert time.monotonic() - started < 5


def test_deadline_during_the_probes_keeps_the_route_and_the_finished_hops(tmp_path: Path) -> None:
    """The cluster is read, the route resolved; the pods never answer: the report says so much."""
    import dataclasses

    from kdiag.lab.scenario_lab import Lab
    from kdiag.lab.scenarios import SCENARIOS, PortBehavior

    sc = SCENARIOS["backend-5xx"]
    slow = {k: (PortBehavior("slow", delay=60) if k[1] == 3001 else v) for k, v in sc.listeners.items()}
    sc = dataclasses.replace(sc, listeners=slow)
    with Lab(sc) as lab:
        argv = [sys.executable, "-m", "kdiag", "diagnose", sc.url, "--kubeconfig", str(lab.kubeconfig),
                "-q", "--format", "json", "--timeout", "30", "--deadline", "6"]
        started = time.monotonic()
        proc = subprocess.run(argv, capture_output=True, text=True, env=_env(), timeout=60)
        took = time.monotonic() - started
    assert proc.returncode == 2, proc.stderr
    assert _one_line_error(proc.stderr) == "kdiag: not finished: deadline"
    assert took < 6 + 8, took
    report = json.loads(proc.stdout)
    assert report["route"]["service"] and report["route"]["ingress"], report["route"]
    hops = {h["hop"]: h for h in report["hops"]}
    assert hops["pod"]["status"] == "skip" and hops["pod"]["summary"] == "not finished: deadline"
    assert "not probed: " in report["verdict"]["summary"]
