"""Shell completion: the scripts are valid bash/zsh/fish, and the hidden `kdiag __complete`
callback answers subcommands, options, formats, demo scenarios, check ids, and the contexts and
namespaces of the kubeconfig, which it reads without ever contacting the cluster."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from kdiag.cli import build_parser, main
from kdiag.completion import FILES, candidates

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def kubeconfig(tmp_path: Path) -> tuple[Path, socket.socket]:
    """A kubeconfig whose server is a loopback listener that records any connection."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    path = tmp_path / "config"
    path.write_text(f"""apiVersion: v1
kind: Config
current-context: lab
clusters:
- name: lab
  cluster: {{server: "https://127.0.0.1:{port}"}}
users:
- name: u
  user: {{token: not-a-real-token}}
contexts:
- name: lab
  context: {{cluster: lab, user: u, namespace: shop}}
- name: prod-eu
  context: {{cluster: lab, user: u, namespace: chat}}
- name: staging
  context: {{cluster: lab, user: u}}
""", encoding="utf-8")
    yield path, listener
    listener.close()


def _never_contacted(listener: socket.socket) -> bool:
    try:
        conn, _ = listener.accept()
    except BlockingIOError:
        return True
    conn.close()
    return False


def _c(*words: str) -> list[str]:
    *before, current = words
    return candidates(build_parser("kdiag"), before, current)


def test_subcommands_and_options() -> None:
    assert _c("") == ["diagnose", "watch", "lint", "demo", "report", "checks", "completion"]
    assert _c("d") == ["diagnose", "demo"]
    assert "__complete" not in _c("")
    assert set(_c("--")) >= {"--kubeconfig", "--context", "--namespace", "--version", "--help"}
    assert set(_c("diagnose", "wss://x/", "--v")) == {"--via", "--verbose"}
    assert _c("report", "") == ["show"]
    assert _c("completion", "") == ["bash", "zsh", "fish"]


def test_values_of_options() -> None:
    assert _c("diagnose", "wss://x/", "-o", "") == ["text", "json", "markdown", "html"]
    assert _c("lint", "k8s/", "--format", "m") == ["markdown"]
    assert _c("diagnose", "wss://x/", "--output=j") == ["--output=json"]
    assert _c("diagnose", "wss://x/", "--output", "=", "h") == ["html"]  # bash splits at `=`
    assert _c("checks", "-o", "") == ["text", "json", "markdown"]
    assert _c("diagnose", "wss://x/", "--via", "p") == ["port-forward", "proxy"]
    assert _c("diagnose", "wss://x/", "--output-file", "") == [FILES]
    assert _c("lint", "") == [FILES]
    assert _c("report", "show", "") == [FILES]


def test_demo_scenarios_and_check_ids() -> None:
    from kdiag.catalog import catalog
    from kdiag.lab.scenarios import SCENARIOS

    assert _c("demo", "") == list(SCENARIOS)
    assert _c("demo", "target") == ["target-port-mismatch"]
    assert _c("checks", "") == list(catalog())
    assert _c("checks", "service-target") == ["service-target-port-mismatch"]


def test_contexts_and_namespaces_come_from_the_kubeconfig_only(
        kubeconfig: tuple[Path, socket.socket], monkeypatch: pytest.MonkeyPatch) -> None:
    path, listener = kubeconfig
    assert _c("--kubeconfig", str(path), "--context", "") == ["lab", "prod-eu", "staging"]
    assert _c("diagnose", "wss://x/", "--kubeconfig", str(path), "--context", "p") == ["prod-eu"]
    assert _c("--kubeconfig", str(path), "-n", "") == ["shop", "chat", "default"]
    assert _c("--kubeconfig", str(path), "--context", "prod-eu", "-n", "") == ["chat", "shop", "default"]
    monkeypatch.setenv("KUBECONFIG", str(path))
    assert _c("--context", "") == ["lab", "prod-eu", "staging"]
    monkeypatch.setenv("KUBECONFIG", str(path.parent / "missing"))
    assert _c("--context", "") == []  # an unreadable kubeconfig completes nothing, quietly
    assert _never_contacted(listener)


def test_the_hidden_callback_through_main(kubeconfig: tuple[Path, socket.socket],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    path, listener = kubeconfig
    assert main(["__complete", "--kubeconfig", str(path), "--context", ""]) == 0
    assert capsys.readouterr().out == "lab\nprod-eu\nstaging\n"
    assert main(["__complete", "demo", "heal"]) == 0
    assert capsys.readouterr().out == "healthy\n"
    assert "__complete" not in build_parser("kdiag").format_help()
    assert _never_contacted(listener)


def _shell(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is required in CI (.ci/run installs it) but was not found")
        pytest.skip(f"{name} not installed")
    return path


def _script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(("shell", "check"), [("bash", ["-n"]), ("zsh", ["-n"]), ("fish", ["--no-execute"])])
def test_scripts_are_valid_shell(shell: str, check: list[str], tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    exe = _shell(shell)
    script = tmp_path / f"kdiag.{shell}"
    script.write_text(_script(shell, capsys), encoding="utf-8")
    r = subprocess.run([exe, *check, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert r.returncode == 0, r.stderr


@pytest.fixture
def kdiag_on_path(tmp_path: Path) -> dict[str, str]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    exe = bindir / "kdiag"
    exe.write_text(f"#!{sys.executable}\nimport sys\nfrom kdiag.cli import main\nsys.exit(main())\n", encoding="utf-8")
    exe.chmod(0o755)
    return {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "PYTHONPATH": str(ROOT)}


def test_bash_completes_through_the_callback(tmp_path: Path, kdiag_on_path: dict[str, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    bash = _shell("bash")
    script = tmp_path / "kdiag.bash"
    script.write_text(_script("bash", capsys), encoding="utf-8")
    probe = (f"source {script}\n"
             "COMP_WORDS=(kdiag demo target); COMP_CWORD=2; _kdiag_complete; echo \"${COMPREPLY[@]}\"\n"
             "COMP_WORDS=(kdiag diagnose wss://x/ -o ''); COMP_CWORD=4; _kdiag_complete; echo \"${COMPREPLY[@]}\"\n"
             "COMP_WORDS=(kdiag ch); COMP_CWORD=1; _kdiag_complete; echo \"${COMPREPLY[@]}\"\n")
    r = subprocess.run([bash, "-c", probe], capture_output=True, text=True, env=kdiag_on_path, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["target-port-mismatch", "text json markdown html", "checks"]


def test_fish_completes_through_the_callback(tmp_path: Path, kdiag_on_path: dict[str, str],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    fish = _shell("fish")
    script = tmp_path / "kdiag.fish"
    script.write_text(_script("fish", capsys), encoding="utf-8")
    r = subprocess.run([fish, "--no-config", "-c", f"source {script}; complete -C 'kdiag demo target'"],
                       capture_output=True, text=True, env=kdiag_on_path, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert [ln.split("\t")[0] for ln in r.stdout.splitlines()] == ["target-port-mismatch"]


def test_zsh_completes_through_the_callback(tmp_path: Path, kdiag_on_path: dict[str, str],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    zsh = _shell("zsh")
    script = tmp_path / "_kdiag"
    script.write_text(_script("zsh", capsys), encoding="utf-8")
    # call the completion function with zsh's completion variables, compadd replaced by a printer
    probe = (f"autoload -U compinit; compinit -u -D; source {script}\n"
             "compadd() { while [[ $1 == -* ]]; do [[ $1 == -- ]] && { shift; break }; shift; done; print -l -- $@ }\n"
             "words=(kdiag checks service-target); CURRENT=3; _kdiag\n")
    r = subprocess.run([zsh, "-f", "-c", probe], capture_output=True, text=True, env=kdiag_on_path,
                       timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["service-target-port-mismatch"]
