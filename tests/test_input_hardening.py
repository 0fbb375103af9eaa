"""Issue 13, the local-input side: numeric options, URLs/hosts/ports, file options, the terminal,
manifest and report files, odd `ownerReferences`, NaN in JSON, and the text rendering of many
findings. Every bad input is one line on stderr and exit 2; nothing reads forever."""

from __future__ import annotations

import dataclasses
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from kdiag.cli import main
from kdiag.errors import InputError, UsageError
from kdiag.findings import make_finding
from kdiag.inputfiles import MAX_MANIFEST_BYTES, Unreadable, read_regular_file
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS
from kdiag.model import Report, SourceInfo, Verdict
from kdiag.options import MAX_IDLE, MAX_TIMEOUT, check_seconds
from kdiag.report.io import load_report
from kdiag.report.render import render
from kdiag.route import parse_target
from kdiag.snapshot import Snapshot
from kdiag.sources.manifests import load_manifest_text, load_manifests
from kdiag.urls import check_host, check_port, check_url, host_for_url, url_problem

SVC = """apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
"""


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2, (code, captured.err)
    lines = [ln for ln in captured.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("kdiag: "), captured.err
    assert "Traceback" not in captured.err and "internal error" not in captured.err
    assert captured.out == ""
    return lines[0]


def _strict_json(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"{name} in JSON output")

    return json.loads(text, parse_constant=refuse)


# -- 1. numeric options -----------------------------------------------------------------------


@pytest.mark.parametrize(("flag", "value", "expect"), [
    ("--timeout", "inf", "finite"), ("--timeout", "nan", "finite"), ("--timeout", "-inf", "finite"),
    ("--timeout", "1e9", "at most 300"), ("--timeout", "0", "positive"), ("--timeout", "-1", "positive"),
    ("--idle", "inf", "finite"), ("--idle", "nan", "finite"), ("--idle", "1e9", "at most 4000"),
    ("--idle", "0", "positive"), ("--timeout", "abc", "invalid float"),
])
def test_durations_are_finite_positive_bounded(flag: str, value: str, expect: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    # -f: nothing would connect anyway; the option is refused before the manifests are read
    line = _one_line_exit_2(["diagnose", "http://chatapp.com/", f"{flag}={value}", "-f", "/nonexistent"],
                            capsys)
    assert flag in line and expect in line


def test_check_seconds_bounds() -> None:
    assert check_seconds(MAX_TIMEOUT, "--timeout", MAX_TIMEOUT) == MAX_TIMEOUT
    assert check_seconds(None, "--idle", MAX_IDLE) is None
    assert check_seconds("0.5", "--idle", MAX_IDLE) == 0.5
    with pytest.raises(UsageError):
        check_seconds(MAX_IDLE + 1, "--idle", MAX_IDLE)


def test_nan_in_a_manifest_never_reaches_the_json_report(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "m.yaml").write_text(
        SVC.replace("port: 80,", "port: .nan,") + "---\n" + """apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: i, namespace: default}
spec:
  rules: [{host: chatapp.com, http: {paths: [{path: /, pathType: Prefix,
           backend: {service: {name: web, port: {number: .inf}}}}]}}]
""")
    code = main(["diagnose", "http://chatapp.com/", "-f", str(tmp_path), "--format", "json"])
    out = capsys.readouterr().out
    assert code in (0, 1)
    _strict_json(out)
    assert main(["lint", str(tmp_path), "--format", "json"]) in (0, 1)
    _strict_json(capsys.readouterr().out)


# -- 2. URLs, hosts and ports -----------------------------------------------------------------


@pytest.mark.parametrize(("url", "expect"), [
    ("chatapp.com/wss", "did you mean https://chatapp.com/wss or wss://chatapp.com/wss?"),
    ("htps://chatapp.com/wss", "did you mean https://chatapp.com/wss"),
    ("wws://chatapp.com/wss", "did you mean ws://chatapp.com/wss"),
    ("https:/chatapp.com/", "did you mean https://chatapp.com/"),
    ("http://chatapp.com:99999/", "port 99999 is not between 1 and 65535"),
    ("http://chatapp.com:0/", "port 0 is not between 1 and 65535"),
    ("http://chatapp.com:8o/", "is not a number"),
    ("http://chat app.com/", "contains a space"),
    ("http://a..b/", "empty label"),
    ("http://" + "a" * 300 + ".com/", "at most 63"),
    ("http://" + ".".join(["abcdefgh"] * 40) + "/", "at most 253"),
    ("http://[::1/", "no closing ']'"),
    ("http://[nope]/", "not an IPv6 address"),
    ("http://999.1.1.1/", "not an IPv4 address"),
    ("http:///path", "no host"),
    ("http://-bad-.com/", "not a valid host name"),
    ("", "empty"),
])
def test_bad_urls_are_one_clear_line(url: str, expect: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line_exit_2(["diagnose", url, "-f", "/nonexistent"], capsys)
    assert "bad URL" in line and expect in line, line
    assert url_problem(url) is not None  # the TUI's form refuses the same URLs


def test_url_errors_never_echo_credentials(capsys: pytest.CaptureFixture[str]) -> None:
    for url in ("htps://admin:s3cr3tpw@chatapp.com/", "admin:s3cr3tpw@chatapp.com/x",
                "https://admin:s3cr3tpw@chatapp.com:99999/"):
        assert "s3cr3tpw" not in _one_line_exit_2(["diagnose", url, "-f", "/nonexistent"], capsys)


@pytest.mark.parametrize(("url", "host", "port"), [
    ("http://[::1]:8080/x", "::1", 8080), ("HTTPS://ChatApp.COM/", "chatapp.com", None),
    ("wss://user:pw@chatapp.com:443/wss?a=1", "chatapp.com", 443), ("ws://127.0.0.1:1/", "127.0.0.1", 1),
    ("http://bücher.example/", "bücher.example", None), ("http://svc_name.ns/", "svc_name.ns", None),
])
def test_good_urls(url: str, host: str, port: int | None) -> None:
    parts = check_url(url)
    assert (parts.host, parts.port) == (host, port)
    assert parse_target(url).host == host


def test_ipv6_literal_keeps_its_brackets() -> None:
    t = parse_target("http://[::1]:8080/a")
    assert (t.host, t.port) == ("::1", 8080)
    assert host_for_url(t.host) == "[::1]" and host_for_url("chatapp.com") == "chatapp.com"


@pytest.mark.parametrize(("args", "expect"), [
    (["--connect-to", "chatapp.com:80:127.0.0.1:70000"], "port 70000 is not between 1 and 65535"),
    (["--connect-to", "chatapp.com:99999999999999999999:127.0.0.1:80"], "not between 1 and 65535"),
    (["--resolve", "a..b:80:127.0.0.1"], "empty label"),
    (["--resolve", "chatapp.com:80:not an address"], "contains a space"),
    (["--page-url", "http://[::1"], "--page-url"),
    (["--page-url", "chatapp.com/"], "did you mean"),
    (["--client-url", "ws://[::1"], "--client-url"),
])
def test_bad_option_urls_hosts_ports(args: list[str], expect: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line_exit_2(["diagnose", "http://chatapp.com/", *args, "-f", "/nonexistent"], capsys)
    assert expect in line, line


def test_check_host_and_port() -> None:
    assert check_host("[::1]", "x") == "::1" and check_host("Node-1.Example.", "x") == "node-1.example."
    assert check_port("65535", "x") == 65535
    for bad in ("0", "65536", "-1", "٣", "1e3"):
        with pytest.raises(UsageError):
            check_port(bad, "x")


def test_ipv6_url_with_resolve_walks_the_lab(capsys: pytest.CaptureFixture[str]) -> None:
    """`http://[::1]:PORT/` with `--resolve '[::1]:PORT:127.0.0.1'` reaches the lab's ingress."""
    with Lab(SCENARIOS["healthy"]) as lab:
        p = lab.ingress_port
        code = main(["diagnose", f"http://[::1]:{p}/", "--resolve", f"[::1]:{p}:127.0.0.1",
                     "-H", "Host: chatapp.com", "--kubeconfig", str(lab.kubeconfig), "--format", "json",
                     "--timeout", "3", "-q"])
    captured = capsys.readouterr()
    report = _strict_json(captured.out)
    ingress = next(h for h in report["hops"] if h["hop"] == "ingress")
    assert code == 0, (report["verdict"], captured.err)
    assert ingress["status"] == "ok" and ingress["probes"][0]["ok"], ingress


# -- 3. empty file names ----------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ["lint", "tests/fixtures/manifests/clean-app", "--output-file", ""],
    ["diagnose", "http://chatapp.com/", "-f", "tests/fixtures/manifests/clean-app", "--output-file", ""],
    ["diagnose", "http://chatapp.com/", "--kubeconfig", ""],
    ["lint", ""],
    ["diagnose", "http://chatapp.com/", "-f", ""],
    ["report", "show", "", "--format", "text"],
])
def test_empty_file_names_are_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line_exit_2(argv, capsys)
    assert "empty" in line


@pytest.mark.parametrize("argv", [
    ["lint", "tests/fixtures/manifests/clean-app", "-o", ""],
    ["lint", "tests/fixtures/manifests/clean-app", "--output", ""],
    ["diagnose", "http://chatapp.com/", "-f", "tests/fixtures/manifests/clean-app", "-o", ""],
])
def test_an_empty_format_is_an_error_never_stdout(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`-o` is the format (as in kubectl): an empty one is refused, it never means "stdout"."""
    line = _one_line_exit_2(argv, capsys)
    assert "unknown format ''" in line


def test_empty_path_is_refused_by_the_loader_too() -> None:
    with pytest.raises(InputError, match="empty string"):
        load_manifests([""])
    with pytest.raises(InputError, match="empty string"):
        load_report("")


# -- 4. the TUI needs a terminal --------------------------------------------------------------


def test_tui_without_a_terminal_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    line = _one_line_exit_2([], capsys)  # under pytest neither stdin nor stdout is a TTY
    assert "needs a terminal" in line and "kdiag diagnose URL" in line
    saved = tmp_path / "r.json"
    saved.write_text(render(_report(3), "json"))
    line = _one_line_exit_2(["report", "show", str(saved)], capsys)
    assert "needs a terminal" in line and f"kdiag report show {saved} -o text" in line


# -- 5. manifest inputs -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_devices_are_not_read(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "not a regular file" in _one_line_exit_2(["lint", path], capsys)
    assert "not a regular file" in _one_line_exit_2(["report", "show", path, "--format", "text"], capsys)


def test_fifo_is_not_opened(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)  # opening it would block until a writer comes
    assert "named pipe" in _one_line_exit_2(["lint", str(fifo)], capsys)


def test_folder_with_links_to_devices_and_nowhere(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "svc.yaml").write_text(SVC)
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    snap = load_manifests([str(tmp_path)])
    assert [o["metadata"]["name"] for o in snap.objects] == ["web"]
    skipped = {f.evidence["location"]: f for f in snap.findings if f.evidence.get("skipped")}
    assert set(skipped) == {f"{tmp_path / 'zero.yaml'}:1", f"{tmp_path / 'gone.yaml'}:1"}
    assert all(f.severity == "warning" and f.check == "manifest-invalid" for f in skipped.values())
    assert "does not exist" in skipped[f"{tmp_path / 'gone.yaml'}:1"].message
    assert main(["lint", str(tmp_path), "--format", "json"]) == 0
    report = _strict_json(capsys.readouterr().out)
    assert len([f for f in report["findings"] if f["evidence"].get("skipped")]) == 2


def test_large_file_is_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    with big.open("wb") as fh:
        fh.truncate(MAX_MANIFEST_BYTES + 1)  # sparse: costs no disk
    with pytest.raises(InputError, match="16 MiB"):
        load_manifests([str(big)])
    with pytest.raises(Unreadable, match="larger than"):
        read_regular_file(big, MAX_MANIFEST_BYTES)


def test_binary_and_huge_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    binary = bytes(range(256)) * 256

    class Stdin(io.TextIOWrapper):
        pass

    monkeypatch.setattr("sys.stdin", Stdin(io.BytesIO(binary), encoding="utf-8", errors="surrogateescape"))
    assert "not UTF-8" in _one_line_exit_2(["lint", "-"], capsys)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"#" * (MAX_MANIFEST_BYTES + 2))))
    assert "16 MiB" in _one_line_exit_2(["lint", "-"], capsys)


# -- 6. ownerReferences of any shape ----------------------------------------------------------


@pytest.mark.parametrize("refs", [7, "rs", None, {"kind": "ReplicaSet"}, [1, "x", None],
                                  [{"kind": 3, "name": ["x"]}], [{"kind": "ReplicaSet", "name": "rs"}]])
def test_owner_of_tolerates_any_owner_references(refs: Any) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "p", "namespace": "default", "ownerReferences": refs}}
    rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",  # owns itself: a cycle
          "metadata": {"name": "rs", "namespace": "default",
                       "ownerReferences": [{"kind": "ReplicaSet", "name": "rs"}]}}
    snap = Snapshot(objects=(pod, rs), source=SourceInfo(kind="manifests"), namespace="default")
    owner = snap.owner_of(pod)
    assert owner is None or owner["metadata"]["name"] == "rs"
    assert [v.ref for v in snap.pod_views("default")]


def test_pod_with_scalar_owner_references_from_manifests(capsys: pytest.CaptureFixture[str]) -> None:
    text = SVC.replace("app: web}", "app: web}") + """---
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: default, labels: {app: web}, ownerReferences: 7}
spec: {containers: [{name: c, image: x}]}
"""
    snap = load_manifest_text(text, path="m.yaml")
    assert snap.owner_of(snap.list("Pod")[0]) is None


@pytest.mark.parametrize("refs", [7, "rs", {"kind": "ReplicaSet"}, [None, 3]])
def test_pod_with_odd_owner_references_from_a_live_server(refs: Any, capsys: pytest.CaptureFixture[str]) -> None:
    base = SCENARIOS["healthy"]
    objects = tuple({**o, "metadata": {**o["metadata"], "ownerReferences": refs}} if o.get("kind") == "Pod" else o
                    for o in base.objects)
    assert any(o.get("kind") == "Pod" for o in objects)
    with Lab(dataclasses.replace(base, objects=objects)) as lab:
        code = main(["diagnose", base.url, "--kubeconfig", str(lab.kubeconfig), "--format", "json",
                     "--timeout", "3", "-q"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "internal error" not in captured.err
    assert _strict_json(captured.out)["verdict"]["status"] == "ok"


# -- 7. saved reports -------------------------------------------------------------------------


def _report(n: int) -> Report:
    findings = tuple(make_finding("manifest-invalid", object=f"Service default/s{i}", message=f"problem {i}",
                                  evidence={"location": f"f.yaml:{i}"}) for i in range(n))
    return Report(source=SourceInfo(kind="manifests"), findings=findings,
                  verdict=Verdict("fail", "source", "manifest-invalid", "broken", finding=0 if n else None))


def _saved(tmp_path: Path, mutate: Any) -> Path:
    d = _strict_json(render(_report(2), "json"))
    mutate(d)
    p = tmp_path / "r.json"
    p.write_text(json.dumps(d))
    return p


@pytest.mark.parametrize("mutate", [
    lambda d: d.update(hops=[{"hop": "ingress", "status": 3, "probes": [{"elapsed_ms": "abc", "ok": "yes"}]}]),
    lambda d: d["verdict"].update(status=3, finding=99, hop=["x"]),
    lambda d: d.update(verdict="fail", source=[], target={"url": 5, "headers": [1]}, route={"port": {"a": 1}}),
    lambda d: d["findings"][0].update(severity=None, evidence=[1], subject={"object": 4, "port": "x"}),
    lambda d: d["findings"][1].update(message={"a": [1]}, check=None, object=12),
])
def test_wrong_types_in_a_saved_report_are_tolerated(tmp_path: Path, mutate: Any,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = _saved(tmp_path, mutate)
    for fmt in ("text", "json", "markdown", "html"):
        code = main(["report", "show", str(path), "--format", fmt])
        captured = capsys.readouterr()
        assert code in (0, 1), captured.err
        assert "Traceback" not in captured.err and captured.out
        if fmt == "json":
            _strict_json(captured.out)


@pytest.mark.parametrize(("content", "expect"), [
    ('{"schema": "kdiag.report/v1", "findings": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deeply"),
    ('{"schema": "kdiag.report/v1", "findings": [], "x": NaN}', "NaN"),
    ('{"schema": "kdiag.report/v1", "x": ' + "9" * 5000 + "}", "not a kdiag report"),
    ('{"schema": "kdiag.report/v1", "hops": [1]}', "malformed"),
])
def test_hostile_saved_reports_are_one_line(tmp_path: Path, content: str, expect: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "r.json"
    p.write_text(content)
    assert expect in _one_line_exit_2(["report", "show", str(p), "--format", "text"], capsys)


# -- 8. many findings -------------------------------------------------------------------------


def test_findings_are_not_printed_one_rich_call_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """The text renderer's cost per finding must not include rich's per-print pipeline: the number
    of Console.print calls stays flat as findings grow (tests/benchmarks/bench_text_render.py
    prints the timings)."""
    from rich.console import Console

    calls = {"n": 0}
    original = Console.print

    def counting(self: Console, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(Console, "print", counting)
    counts = []
    for n in (10, 1000):
        calls["n"] = 0
        text = render(_report(n), "text", color=False)
        assert text.count("\n    problem ") == n
        counts.append(calls["n"])
    assert counts[1] == counts[0], counts
