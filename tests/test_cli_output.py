"""The command line's kubectl habits: -o is the format, --output-file writes the report, help
with Examples and Exit codes (and `kubectl kdiag` as the kubectl plugin), findings in one order
in every format, and a short default text report for a real scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kdiag.cli import build_parser, main
from kdiag.findings import order_findings
from kdiag.model import Finding, Report, SourceInfo, Verdict
from kdiag.report.render import render

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndta:\n  LOG_LEVEL: info\n"


@pytest.fixture
def manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    f = tmp_path / "cm.yaml"
    f.write_text(MANIFEST, encoding="utf-8")
    return f


def test_o_is_the_format_and_writes_no_file(manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["lint", str(manifest), "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 1 and err == ""
    assert json.loads(out)["schema"] == "kdiag.report/v1"
    assert not (manifest.parent / "json").exists()  # the old meaning: a file named `json`
    assert main(["lint", str(manifest), "--format", "markdown"]) == 1  # --format stays an alias
    assert capsys.readouterr().out.startswith("# kdiag lint: FAIL")


@pytest.mark.parametrize(("name", "start"), [
    ("r.json", '{\n  "schema": "kdiag.report/v1"'), ("r.md", "# kdiag lint"), ("r.markdown", "# kdiag lint"),
    ("r.html", "<!DOCTYPE html>"), ("r.htm", "<!DOCTYPE html>"), ("r.txt", " FAIL  "),
])
def test_output_file_format_follows_the_extension(manifest: Path, capsys: pytest.CaptureFixture[str],
                                                  name: str, start: str) -> None:
    assert main(["lint", str(manifest), "--output-file", name]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err == f"kdiag: report written to {name}\n"
    assert (manifest.parent / name).read_text(encoding="utf-8").startswith(start)


def test_o_wins_over_the_extension(manifest: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", str(manifest), "-o", "text", "--output-file", "r.json"]) == 1
    text = (manifest.parent / "r.json").read_text(encoding="utf-8")
    assert text.startswith(" FAIL  ") and "\x1b[" not in text


@pytest.mark.parametrize(("argv", "words"), [
    (["-o", "report.json"], "-o is the format now, write a file with --output-file report.json"),
    (["-o", "yaml"], "unknown format 'yaml' (choose from text, json, markdown, html)"),
    (["--output-file", "report"], "cannot tell the report format from 'report'"),
])
def test_bad_output_options_are_one_line(manifest: Path, capsys: pytest.CaptureFixture[str],
                                         argv: list[str], words: str) -> None:
    assert main(["lint", str(manifest), *argv]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and words in err


def test_top_level_help_shows_the_tui_options(capsys: pytest.CaptureFixture[str]) -> None:
    text = build_parser("kdiag").format_help()
    for opt in ("--kubeconfig FILE", "--context NAME", "-n NS, --namespace NS"):
        assert opt in text, opt
    assert "Examples:" in text and "Exit codes:" in text and "kdiag --context prod -n chat" in text


@pytest.mark.parametrize("command", ["diagnose", "lint", "demo", "report", "checks", "completion"])
def test_every_command_help_has_examples_and_exit_codes(command: str) -> None:
    parser = build_parser("kdiag")
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]  # type: ignore[attr-defined]
    text = sub.format_help()
    assert "Examples:" in text and "Exit codes:" in text and "  0  " in text and "  2  " in text
    assert f"  kdiag {command}" in text


def test_kubectl_plugin_help_says_kubectl_kdiag(tmp_path: Path) -> None:
    plugin = tmp_path / "kubectl-kdiag"
    plugin.write_text(f"#!{sys.executable}\nimport sys\nfrom kdiag.cli import main\nsys.exit(main())\n",
                      encoding="utf-8")
    plugin.chmod(0o755)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for argv in (["--help"], ["diagnose", "--help"]):
        r = subprocess.run([str(plugin), *argv], capture_output=True, text=True, env=env, timeout=60, check=False)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("usage: kubectl kdiag")
        assert "  kubectl kdiag " in r.stdout
        assert not [ln for ln in r.stdout.splitlines() if ln.strip().startswith("kdiag ")]
    r = subprocess.run([str(plugin), "lint"], capture_output=True, text=True, env=env, timeout=60, check=False)
    assert r.returncode == 2 and "see `kubectl kdiag lint --help`" in r.stderr


def _f(check: str, hop: str, severity: str, obj: str = "X a/b") -> Finding:
    return Finding(check, severity, hop, obj, f"{check} at {hop}")  # type: ignore[arg-type]


def test_findings_order_root_first_then_hops_outward_then_severity() -> None:
    findings = [
        _f("pod-readiness-probe-missing", "pod", "warning"),
        _f("ingress-websocket-timeout", "ingress", "warning"),
        _f("manifest-unknown-field", "manifest", "error"),
        _f("client-websocket-url-not-absolute", "client", "error"),
        _f("service-no-ready-endpoints", "service", "warning"),
        _f("service-target-port-mismatch", "service", "error"),
        _f("pod-port-not-listening", "pod", "error"),
        _f("service-target-port-mismatch", "service", "error", "X other"),
    ]
    verdict = Verdict("fail", "service", "service-target-port-mismatch", "s", finding=7)
    ordered, v = order_findings(findings, verdict)
    assert ordered[0] is findings[7] and v.finding == 0
    assert [(f.hop, f.severity) for f in ordered[1:]] == [
        ("service", "error"), ("service", "warning"),      # the verdict's hop
        ("ingress", "warning"),                            # one hop out, nearer the client first
        ("pod", "error"), ("pod", "warning"),              # one hop out, below
        ("client", "error"),                               # two hops out
        ("manifest", "error")]                             # off the request path, last
    again, v2 = order_findings(ordered, v)
    assert again == ordered and v2 == v  # ordering is stable


@pytest.mark.parametrize("fmt", ["json", "markdown", "html", "text"])
def test_every_format_shows_the_root_finding_first(fmt: str) -> None:
    findings = (_f("pod-readiness-probe-missing", "pod", "warning", "Deployment a/web"),
                _f("ingress-websocket-timeout", "ingress", "warning", "Ingress a/web"),
                _f("service-target-port-mismatch", "service", "error", "Service a/web"))
    report = Report(source=SourceInfo("manifests"), findings=findings,
                    verdict=Verdict("fail", "service", "service-target-port-mismatch", "broken", finding=2))
    out = render(report, fmt, verbose=1)
    if fmt == "json":
        data = json.loads(out)
        assert [f["check"] for f in data["findings"]] == [
            "service-target-port-mismatch", "ingress-websocket-timeout", "pod-readiness-probe-missing"]
        assert data["verdict"]["finding"] == 0
        return
    positions = [out.index(o) for o in ("Service a/web", "Ingress a/web", "Deployment a/web")]
    assert positions == sorted(positions)


def test_target_port_mismatch_default_text_is_short(capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's example: one wrong targetPort printed ~280 lines; the verdict and the fix now
    come within the first 25 lines, one line per hop and per other finding."""
    from kdiag.lab.scenario_lab import Lab
    from kdiag.lab.scenarios import SCENARIOS

    sc = SCENARIOS["target-port-mismatch"]
    with Lab(sc) as lab:
        code = main(["diagnose", sc.url, "--kubeconfig", str(lab.kubeconfig), "--timeout", "3", "-q"])
        out = capsys.readouterr().out
        assert main(["diagnose", sc.url, "--kubeconfig", str(lab.kubeconfig), "--timeout", "3", "-q",
                     "-o", "json"]) == 1
        data = json.loads(capsys.readouterr().out)
        assert main(["diagnose", sc.url, "--kubeconfig", str(lab.kubeconfig), "--timeout", "3", "-q",
                     "-vv"]) == 1
        everything = capsys.readouterr().out
    assert code == 1
    lines = out.splitlines()
    head = "\n".join(lines[:25])
    assert lines[0].startswith(" FAIL  Service default/chatapp-svc port 'ws' (3003)")
    assert "targetPort: ws    # containerPort 3002 of container 'chatapp'" in head
    assert head.index("Hops") < head.index("Root cause") < head.index("Fix:")
    assert len(lines) <= 30
    assert sum(1 for ln in lines if ln.startswith("  ERROR   service-target-port-mismatch")) == 3
    assert "Sec-WebSocket-Key" not in out and "request:" not in out  # probe evidence needs -vv
    assert "Sec-WebSocket-Key" in everything and "Why:" in everything and "…" not in everything.split("Root cause")[1]
    # JSON: the root finding first and the verdict pointing at it
    assert data["verdict"]["finding"] == 0
    assert data["findings"][0]["subject"]["port"]["name"] == "ws"


@pytest.mark.parametrize("fmt", ["markdown", "html"])
def test_markdown_and_html_lead_with_verdict_and_fix_and_explain_each_check_once(fmt: str) -> None:
    from kdiag.catalog import get_check
    from kdiag.model import HopResult, ProbeResult, TargetInfo

    general = get_check("service-target-port-mismatch").fix
    fix = "In Service a/web:\n\n```yaml\ntargetPort: ws\n```\n\n" + general
    findings = tuple(Finding("service-target-port-mismatch", "error", "service", "Service a/web", f"port {p} wrong",
                             explanation="WHY-PARAGRAPH", fix=fix, evidence={"port": p}) for p in (1, 2, 3))
    report = Report(source=SourceInfo("cluster"), findings=findings, target=TargetInfo(url="ws://x/wss"),
                    hops=(HopResult("service", "fail", "HOP-SUMMARY", probes=(
                        ProbeResult("tcp", "port-forward", "PROBE-TARGET", False),)),),
                    verdict=Verdict("fail", "service", "service-target-port-mismatch", "VERDICT-LINE", finding=1))
    out = render(report, fmt)
    order = [out.index(s) for s in ("VERDICT-LINE", "Fix", "targetPort: ws", "HOP-SUMMARY", "port 2 wrong",
                                    "port 1 wrong", "PROBE-TARGET")]
    assert order == sorted(order), order
    assert out.count("WHY-PARAGRAPH") == 1  # once per check, not once per finding
    advice = "Set each" if fmt == "markdown" else "Set each <code>targetPort</code>"
    assert out.index(advice) > out.index("In general")  # the catalog's general advice is folded away


@pytest.mark.parametrize(("namespace", "forbidden", "said"), [
    ("nope", (), True), ("default", (), False), ("nope", (("*", "namespaces", "*"),), False)])
def test_a_namespace_that_does_not_exist_is_said_once_on_stderr(
        capsys: pytest.CaptureFixture[str], namespace: str, forbidden: tuple[tuple[str, str, str], ...],
        said: bool) -> None:
    """-n names a namespace the cluster does not have: one line on stderr (even with -q); a
    namespace RBAC forbids reading cannot be judged, so nothing is said then."""
    from dataclasses import replace

    from kdiag.lab.scenario_lab import Lab
    from kdiag.lab.scenarios import SCENARIOS

    sc = replace(SCENARIOS["healthy"], forbidden=forbidden)
    with Lab(sc) as lab:
        code = main(["diagnose", sc.url, "--kubeconfig", str(lab.kubeconfig), "--timeout", "3", "-q",
                     "-n", namespace, "-o", "json"])
    out, err = capsys.readouterr()
    assert code in (0, 1) and json.loads(out)["schema"] == "kdiag.report/v1"
    notes = [ln for ln in err.splitlines() if "does not exist" in ln]
    if said:
        assert notes == ["kdiag: namespace 'nope' does not exist in context kdiag-lab; nothing is read from it "
                         "(`kubectl get namespaces` lists them)"]
    else:
        assert notes == []


@pytest.mark.parametrize("columns", [80, 120])
def test_a_long_verdict_is_shortened_so_the_fix_stays_on_the_first_screen(
        columns: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The short text report keeps the verdict to five lines of the terminal (cut at a word, with
    …); the root cause then gives the whole message after its fix. -v prints it whole."""
    import re

    from kdiag.model import HopResult

    message = "The load balancer sends to a node without a ready controller pod: " + " ".join(
        f"node-{i} drops NodePort 30080;" for i in range(40))
    finding = Finding("service-external-traffic-policy-local", "error", "edge", "Service ingress/ctrl", message,
                      fix="Set externalTrafficPolicy: Cluster.")
    report = Report(source=SourceInfo("cluster"), findings=(finding,),
                    hops=(HopResult("edge", "fail", "closed"),),
                    verdict=Verdict("fail", "edge", finding.check, f"{finding.object}: {message}", finding=0))
    monkeypatch.setenv("COLUMNS", str(columns))
    out = re.sub(r"\x1b\[[0-9;]*m", "", render(report, "text", color=True))
    lines = out.splitlines()
    verdict = lines[:next(i for i, ln in enumerate(lines) if ln.startswith("source:"))]
    assert 1 < len(verdict) <= 5 and all(len(ln) <= columns for ln in verdict)
    assert " ".join(verdict).endswith("… (hop edge, check service-external-traffic-policy-local)")
    assert out.index("Fix: Set externalTrafficPolicy: Cluster.") < out.index("In full: The load balancer")
    assert " ".join(out[out.index("In full:"):].split()).startswith(" ".join(f"In full: {message}".split()))
    whole = re.sub(r"\x1b\[[0-9;]*m", "", render(report, "text", color=True, verbose=1))
    assert "In full:" not in whole and "node-39 drops NodePort 30080; (hop edge" in " ".join(whole.split())
