"""`kdiag demo`: scenarios listed, `--serve` usable with kdiag itself, and nothing left behind."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kdiag.cli import main
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_demo_list_describes_every_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    for name, sc in SCENARIOS.items():
        assert name in out and sc.title in out


def test_unknown_scenario_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "no-such-thing"]) == 2
    err = capsys.readouterr().err
    assert "unknown scenario" in err and "Traceback" not in err


def test_lab_stop_frees_every_port_and_thread() -> None:
    before = threading.active_count()
    lab = Lab(SCENARIOS["healthy"]).start()
    ports = [lab.ingress_port, lab.ingress_tls_port, int(lab.api_url.rsplit(":", 1)[1])]
    assert all(_port_open(p) for p in ports)
    lab.stop()
    lab.stop()  # idempotent
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before
    assert not any(_port_open(p) for p in ports)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGINT semantics")
def test_serve_prints_a_kubeconfig_that_kdiag_can_use_and_stops_cleanly_on_ctrl_c() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "kdiag", "demo", "selector-drift", "--serve"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines: list[str] = []
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        kubeconfig = re.search(r"kubeconfig: (\S+)", text)
        api = re.search(r"API server: https://127\.0\.0\.1:(\d+)", text)
        ingress = re.search(r"ingress controller: 127\.0\.0\.1:(\d+)", text)
        assert kubeconfig and api and ingress, text
        ports = [int(api.group(1)), int(ingress.group(1))]
        assert all(_port_open(p) for p in ports)

        out = subprocess.run([sys.executable, "-m", "kdiag", "diagnose", SCENARIOS["selector-drift"].url,
                              "--kubeconfig", kubeconfig.group(1), "--format", "json", "-q"],
                             capture_output=True, text=True, env=env, timeout=60)
        assert out.returncode == 1, out.stderr
        verdict = json.loads(out.stdout)["verdict"]
        assert (verdict["hop"], verdict["check"]) == ("service", "service-selector-matches-no-pods")

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
        assert not Path(kubeconfig.group(1)).exists()
        assert not any(_port_open(p) for p in ports)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_demo_hands_a_live_session_to_open_tui_and_stops_the_lab_after() -> None:
    """`kdiag demo` without --serve: the lab starts the world, the caller's `open_tui` gets a
    session on it and a walk of the scenario's URL; when it returns, the lab is gone."""
    from kdiag.lab.demo import run_demo

    sc = SCENARIOS["selector-drift"]
    seen: dict[str, Any] = {}

    def open_tui(session: Any, walk: Any) -> None:
        seen["title"], seen["url"] = session.info().title, walk.url
        kubeconfig = Path(session.kubeconfig)
        seen["kubeconfig"] = kubeconfig
        seen["kubeconfig_existed"] = kubeconfig.exists()

    assert run_demo(scenario=sc.name, list_only=False, serve=False, open_tui=open_tui) == 0
    assert seen["url"] == sc.url
    assert sc.title in seen["title"]
    assert seen["kubeconfig_existed"] and not seen["kubeconfig"].exists()


def test_the_lab_never_imports_the_tui() -> None:
    """Layering: kdiag.lab starts worlds; opening the TUI on them is the CLI's business."""
    import ast

    lab_dir = ROOT / "kdiag" / "lab"
    offenders = []
    for path in sorted(lab_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.relative_to(ROOT)}: {n}" for n in names
                          if n == "kdiag.tui" or n.startswith("kdiag.tui.")]
    assert offenders == []
