"""`kdiag diagnose` (and the TUI entry) on bad input: one clear line on stderr, exit 2, no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from kdiag.cli import main
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kubeconfig(path: Path, server: str, *, context: str = "lab") -> Path:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "t0ps3cret"}}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u", "namespace": "default"}}],
    }))
    return path


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, (code, captured.err)
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("kdiag: "), captured.err
    assert "Traceback" not in captured.err and captured.out == ""
    assert "t0ps3cret" not in captured.err
    return lines[0]


@pytest.mark.parametrize(("extra", "expect"), [
    (["notaurl"], "bad URL"),
    (["ftp://chatapp.com/"], "bad URL"),
    (["http://chatapp.com/", "-H", "no colon"], "bad header"),
    (["http://chatapp.com/", "-H", "Bad Name: x"], "bad header"),
    (["http://chatapp.com/", "--resolve", "chatapp.com:80"], "--resolve"),
    (["http://chatapp.com/", "--connect-to", "chatapp.com:x:127.0.0.1:80"], "--connect-to"),
    (["http://chatapp.com/", "--timeout", "0"], "--timeout"),
    (["http://chatapp.com/", "--idle", "-3"], "--idle"),
    (["http://chatapp.com/", "--via", "teleport"], "invalid choice"),
])
def test_bad_arguments(extra: list[str], expect: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert expect in _one_line_exit_2(["diagnose", *extra], capsys)


def test_missing_and_garbage_kubeconfig(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "kubeconfig" in _one_line_exit_2(
        ["diagnose", "http://chatapp.com/", "--kubeconfig", str(tmp_path / "nope")], capsys)
    garbage = tmp_path / "garbage"
    garbage.write_text("clusters: [\n")
    assert "not valid YAML" in _one_line_exit_2(
        ["diagnose", "http://chatapp.com/", "--kubeconfig", str(garbage)], capsys)


def test_unknown_context_lists_the_known_ones(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kc = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{_closed_port()}")
    line = _one_line_exit_2(["diagnose", "http://chatapp.com/", "--kubeconfig", str(kc), "--context", "prod"],
                            capsys)
    assert "prod" in line and "lab" in line


def test_unreachable_api_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kc = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{_closed_port()}")
    line = _one_line_exit_2(["diagnose", "http://chatapp.com/", "--kubeconfig", str(kc)], capsys)
    assert "127.0.0.1" in line


def test_wrong_token_is_unauthorized(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Lab(SCENARIOS["healthy"]) as lab:
        kc = lab.api.write_kubeconfig(tmp_path / "kc", user_token="t0ps3cret")
        line = _one_line_exit_2(["diagnose", "http://chatapp.com/", "--kubeconfig", str(kc)], capsys)
    assert "nauthorized" in line or "credentials" in line


def test_tui_on_an_unreachable_cluster_exits_2_before_drawing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kdiag.options._is_tty", lambda stream: True)  # as if run in a terminal
    kc = _kubeconfig(tmp_path / "kc", f"https://127.0.0.1:{_closed_port()}")
    assert "127.0.0.1" in _one_line_exit_2(["--kubeconfig", str(kc)], capsys)
