"""Report rendering in every format, redaction everywhere, the catalog views, saved reports."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kdiag.catalog import catalog, get_check
from kdiag.errors import InputError
from kdiag.model import (
    Finding,
    HopResult,
    ProbeResult,
    Report,
    RouteInfo,
    SourceInfo,
    TargetInfo,
    Verdict,
)
from kdiag.redaction import REDACTED, redact_text
from kdiag.report.checks import render_check, render_checks_text
from kdiag.report.io import load_report, save_report
from kdiag.report.redact import redact_report
from kdiag.report.render import render

FORMATS = ("text", "json", "markdown", "html")

#: Credentials planted all over the diagnose report; none may survive any format.
SECRETS = ("abc123tok", "sekret-bearer-1234", "sid-cookie-value", "qqqq-access", "s3cr3tpw",
           "zzz-signature", "abcdefghijk-raw", "set-cookie-value", "user-pw-9", "apikey-777")


def _diagnose_report() -> Report:
    return Report(
        source=SourceInfo(kind="cluster", context="prod", namespace="chat"),
        target=TargetInfo(
            url="wss://chat.example.com/ws?token=abc123tok&room=1",
            headers={"Authorization": "Bearer sekret-bearer-1234", "Cookie": "sid=sid-cookie-value",
                     "X-Version": "1.0.0000"},
            client_url="/wss?access_token=qqqq-access",
            page_url="https://chat.example.com/",
        ),
        route=RouteInfo(ingress="chat/chat", rule={"host": "chat.example.com", "path": "/ws", "pathType": "Prefix"},
                        service="chat/chat-svc", port=80, target_port=5003, pods=("chat/chat-0", "chat/chat-1")),
        hops=(
            HopResult("client", "ok", "the client URL is absolute"),
            HopResult("ingress", "fail", "the Ingress answers 502 | not 101", probes=(
                ProbeResult("websocket", "ingress-address", "wss://127.0.0.1:8443/ws?sig=zzz-signature", False,
                            status_code=502, elapsed_ms=12.345, detail="Bad Gateway",
                            extra={"request": "GET /ws HTTP/1.1\r\nHost: chat.example.com\r\n"
                                              "Authorization: Bearer abcdefghijk-raw\r\n",
                                   "response_headers": [["Set-Cookie", "set-cookie-value"], ["Server", "nginx"]]}),
            )),
            HopResult("service", "ok", "2 endpoints ready", probes=(
                ProbeResult("tcp", "port-forward", "https://bob:user-pw-9@127.0.0.1:6443/api", True,
                            elapsed_ms=1.0, extra={"request_headers": {"X-Api-Key": "apikey-777"}}),
            )),
            HopResult("endpoints", "skip", "not probed"),
            HopResult("pod", "ok", "the pod answers 101", probes=(
                ProbeResult("websocket", "port-forward", "ws://127.0.0.1:5003/ws", True, status_code=101,
                            elapsed_ms=3.2),
            )),
        ),
        findings=(
            Finding("ingress-upgrade-not-forwarded", "error", "ingress", "Ingress chat/chat",
                    "the pod answers 101 but the Ingress answers 502 <script>alert(1)</script>",
                    explanation="WebSocket needs the `Upgrade` header forwarded.",
                    fix="Add the annotation:\n\n```yaml\nmetadata:\n  annotations: {a: b}\n```",
                    evidence={"location": "ingress.yaml:3", "env": "nats://xxx:s3cr3tpw@nats:4222"}),
            Finding("pod-readiness-probe-missing", "warning", "pod", "Deployment chat/chat",
                    "no readinessProbe"),
        ),
        verdict=Verdict("fail", "ingress", "ingress-upgrade-not-forwarded",
                        "The Ingress does not forward the WebSocket upgrade.", finding=0),
        created="2026-11-23T14:00:00Z",
    )


def _lint_report() -> Report:
    return Report(
        source=SourceInfo(kind="manifests", namespace="default", paths=("k8s/",)),
        findings=(Finding("manifest-unknown-field", "error", "manifest", "Deployment default/http",
                          "k8s/d.yaml:28: Deployment has no field spec.x.periodSecods: did you mean periodSeconds?",
                          explanation="Typos are dropped.", fix="Rename it.",
                          evidence={"location": "k8s/d.yaml:28", "path": "spec.x.periodSecods"}),),
        verdict=Verdict("fail", "manifest", "manifest-unknown-field", "Deployment default/http has a typo",
                        finding=0),
        created="2026-11-23T14:00:00Z",
    )


@pytest.mark.parametrize(("fmt", "verbose"), [(f, 2) for f in FORMATS] + [("text", 0), ("text", 1)])
def test_no_credential_survives_any_format(fmt: str, verbose: int) -> None:
    out = render(_diagnose_report(), fmt, verbose=verbose)
    leaked = [s for s in SECRETS if s in out]
    assert leaked == []
    assert REDACTED in out
    if verbose < 2:  # the short text shows no headers, probe evidence or finding evidence
        return
    for kept in ("room=1", "1.0.0000", "X-Version", "chat.example.com", "nats:4222", "nginx"):
        assert kept in out, kept


def test_redaction_details() -> None:
    r = redact_report(_diagnose_report())
    assert r.target is not None
    assert r.target.url == "wss://chat.example.com/ws?token=REDACTED&room=1"
    assert r.target.headers == {"Authorization": "REDACTED", "Cookie": "REDACTED", "X-Version": "1.0.0000"}
    assert r.target.client_url == "/wss?access_token=REDACTED"
    assert r.hops is not None
    probe = r.hops[1].probes[0]
    assert probe.target == "wss://127.0.0.1:8443/ws?sig=REDACTED"
    assert "Authorization: REDACTED" in probe.extra["request"]
    assert probe.extra["response_headers"] == [["Set-Cookie", "REDACTED"], ["Server", "nginx"]]
    assert r.hops[2].probes[0].target == "https://REDACTED@127.0.0.1:6443/api"
    assert r.findings[0].evidence["env"] == "nats://REDACTED@nats:4222"
    # nothing else changed
    assert r.verdict == _diagnose_report().verdict and r.created == "2026-11-23T14:00:00Z"


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("https://a.example.com/cb?code=x1&state=ok", "https://a.example.com/cb?code=REDACTED&state=ok"),
        ("https://s3.example.com/o?X-Amz-Signature=f00&X-Amz-Date=1", "https://s3.example.com/o?X-Amz-Signature=REDACTED&X-Amz-Date=1"),
        ("/ws?jwt=eyJ.x.y", "/ws?jwt=REDACTED"),
        ("/api?apikey=k&page=2", "/api?apikey=REDACTED&page=2"),
        ("/login?password=p&user=bob", "/login?password=REDACTED&user=bob"),
        ("curl -H 'Authorization: Bearer abcdefghij123'", "curl -H 'Authorization: Bearer REDACTED'"),
        ("token Bearer abcdefghij123 used", "token Bearer REDACTED used"),
        ("nats://u:p@nats:4222 and redis://:pw@r:6379", "nats://REDACTED@nats:4222 and redis://REDACTED@r:6379"),
        ("secretName: web-tls; /path?version=2", "secretName: web-tls; /path?version=2"),
    ],
)
def test_redact_text(text: str, expect: str) -> None:
    assert redact_text(text) == expect


def test_secret_names_in_evidence_are_not_redacted() -> None:
    f = Finding("ingress-tls-secret-missing", "error", "ingress", "Ingress a/b", "m",
                evidence={"secretName": "web-tls", "token_present": True, "auth_mode": "none"})
    r = redact_report(Report(source=SourceInfo("manifests"), findings=(f,), verdict=Verdict("ok", None, None, "")))
    assert r.findings[0].evidence == {"secretName": "web-tls", "token_present": True, "auth_mode": "none"}


def test_json_is_exactly_the_redacted_contract() -> None:
    report = _diagnose_report()
    data = json.loads(render(report, "json"))
    assert data == redact_report(report).to_dict()
    assert data["schema"] == "kdiag.report/v1"
    assert [h["hop"] for h in data["hops"]] == ["client", "ingress", "service", "endpoints", "pod"]
    assert data["hops"][1]["probes"][0]["elapsed_ms"] == 12.3


def test_text_default_is_short_verdict_route_hops_findings() -> None:
    out = render(_diagnose_report(), "text")
    lines = out.splitlines()
    assert "FAIL" in lines[0] and "does not forward the WebSocket upgrade" in lines[0]
    route = next(ln for ln in lines if ln.startswith("route: "))
    assert route.startswith("route: wss://chat.example.com/ws?token=REDACTED&room=1 → Ingress chat/chat")
    hops = [ln for ln in lines if ln.startswith(("  ✔", "  ✘", "  !", "  ·"))]
    assert len(hops) == 5  # one line per hop, no probe lines
    assert "websocket via ingress-address" not in out and "Why:" not in out
    assert out.index("Hops") < out.index("Root cause")
    # the root cause with its fix, then one line per other finding
    assert out.index("Root cause") < out.index("Other findings (1)")
    root = out[out.index("Root cause"):out.index("Other findings")]
    assert "ingress-upgrade-not-forwarded  Ingress chat/chat  ingress.yaml:3" in root
    assert "Fix: Add the annotation:" in root and "annotations: {a: b}" in root and "```" not in root
    assert any(ln.startswith("  WARNING pod-readiness-probe-missing  Deployment chat/chat  no readinessProbe")
               for ln in lines)
    assert "-v adds probes" in lines[-1]
    assert len(lines) <= 25


def test_text_vv_shows_verdict_first_then_route_hops_and_findings() -> None:
    out = render(_diagnose_report(), "text", verbose=2)
    first = out.splitlines()[0]
    assert "FAIL" in first and "does not forward the WebSocket upgrade" in first
    order = [out.index(s) for s in ("Target", "Route", "Hops", "Root cause", "Other findings (1)")]
    assert order == sorted(order)
    assert "Ingress:" in out and "chat/chat-svc port 80" in out and "5003" in out
    assert "websocket via ingress-address" in out and "502" in out and "12.3 ms" in out
    assert "Why:" in out and "Fix:" in out and "ingress.yaml:3" in out
    assert out.index("ERROR") < out.index("WARNING")
    assert "\x1b[" not in out  # not a terminal under pytest


def test_text_colour_follows_no_color_and_explicit_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    report = _diagnose_report()
    assert "\x1b[" in render(report, "text", color=True)
    assert "\x1b[" not in render(report, "text", color=False)
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    assert "\x1b[" in render(report, "text")
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in render(report, "text")


@pytest.mark.parametrize("fmt", ("text", "markdown", "html"))
def test_lint_report_has_no_target_route_or_hop_sections(fmt: str) -> None:
    out = render(_lint_report(), fmt)
    for section in ("Target", "Route", "Hops", "Probes"):
        assert section not in out, section
    assert "periodSecods" in out and "k8s/d.yaml:28" in out and "Rename it." in out


def test_text_does_not_repeat_the_location_prefix() -> None:
    out = render(_lint_report(), "text")
    assert out.count("k8s/d.yaml:28") == 1


def test_markdown_is_self_contained_and_tables_are_safe() -> None:
    out = render(_diagnose_report(), "markdown")
    assert out.startswith("# kdiag diagnosis: FAIL\n")
    assert "| ingress | FAIL | the Ingress answers 502 \\| not 101 |" in out
    assert "## Route" in out and "| Service | chat/chat-svc port 80 |" in out
    assert "## Probes" in out and "| ingress | websocket | ingress-address |" in out
    assert "**Why.** WebSocket needs the `Upgrade` header forwarded." in out
    assert "```yaml\nmetadata:" in out  # the fix keeps its code block
    assert "\\<script\\>" in out  # no raw HTML from a message


def test_html_is_single_file_and_escaped() -> None:
    out = render(_diagnose_report(), "html")
    assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")
    assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    for external in ("<link", "src=", "@import", "url("):
        assert external not in out
    assert "<pre><code>metadata:" in out and "<code>Upgrade</code>" in out
    assert out.count('class="finding"') == 2


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        render(_lint_report(), "yaml")


def test_checks_table_groups_every_check_by_hop() -> None:
    out = render_checks_text(color=False)
    for check in catalog().values():
        assert check.id in out
    hops = [line.strip() for line in out.splitlines() if line.strip().endswith(" hop")]
    assert "manifest hop" in hops
    assert len(hops) == len(set(hops))


@pytest.mark.parametrize("fmt", ("text", "markdown", "json"))
def test_render_one_check(fmt: str) -> None:
    check = get_check("manifest-unknown-field")
    out = render_check(check, fmt, color=False)
    assert check.title in out
    assert "periodSecods" in out  # explanation and fix
    assert "https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation" in out
    if fmt == "json":
        assert json.loads(out)["id"] == check.id
    else:
        assert "readiness-probe-period-typo" in out and "manifest" in out


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    save_report(_diagnose_report(), path, "json")
    loaded = load_report(path)
    assert loaded.to_dict() == redact_report(_diagnose_report()).to_dict()
    md = tmp_path / "r.md"
    save_report(_diagnose_report(), md, "markdown")
    assert md.read_text(encoding="utf-8").startswith("# kdiag diagnosis")


@pytest.mark.parametrize(
    ("content", "expect"),
    [
        (None, "no such file"),
        ("{not json", "invalid JSON at line 1"),
        ("[1, 2]", "expected a JSON object"),
        ('{"schema": "other/v9"}', "schema is 'other/v9'"),
        ('{"schema": "kdiag.report/v1", "findings": [1]}', "malformed kdiag report"),
    ],
)
def test_load_report_errors_are_one_line(tmp_path: Path, content: str | None, expect: str) -> None:
    path = tmp_path / "bad.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_report(path)
    assert expect in str(e.value) and "\n" not in str(e.value)


def test_load_report_of_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a directory"):
        load_report(tmp_path)


def test_text_explains_each_check_once() -> None:
    base = _lint_report().findings[0]
    second = Finding(base.check, "error", "manifest", "Deployment default/other", "another typo",
                     explanation=base.explanation, fix="Rename the other one.")
    report = Report(source=_lint_report().source, findings=(base, second), verdict=_lint_report().verdict)
    out = render(report, "text", verbose=1)
    assert out.count("Typos are dropped.") == 1
    assert "as above (manifest-unknown-field)" in out and "Rename the other one." in out


def test_save_report_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        save_report(_lint_report(), tmp_path / "r.yaml", "yaml")
    with pytest.raises(OSError):
        save_report(_lint_report(), tmp_path / "no" / "such" / "dir" / "r.json", "json")


def test_long_urls_are_never_folded_in_text() -> None:
    url = "wss://chat.example.com/" + "very-long-path-segment/" * 8 + "ws?room=1"
    report = Report(source=SourceInfo("cluster"), target=TargetInfo(url=url), findings=(),
                    verdict=Verdict("ok", None, None, "fine"))
    assert url in render(report, "text")


GOLDEN = Path(__file__).parent / "fixtures" / "render"


@pytest.mark.parametrize("name", ("diagnose", "lint"))
@pytest.mark.parametrize("variant", ("text", "color.text", "json", "markdown", "html"))
def test_rendering_matches_the_golden_files(name: str, variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every format byte for byte as recorded (refresh: KDIAG_REGOLD=1 pytest tests/test_render.py)."""
    monkeypatch.setenv("COLUMNS", "100")  # the colour console follows the terminal width
    report = _diagnose_report() if name == "diagnose" else _lint_report()
    fmt = variant.rpartition(".")[2]
    out = render(report, fmt, color=True if variant.startswith("color.") else None)
    out = out.replace(report.kdiag_version, "KDIAG_VERSION")
    path = GOLDEN / f"{name}.{variant}"
    if os.environ.get("KDIAG_REGOLD"):
        path.write_text(out, encoding="utf-8")
    assert out == path.read_text(encoding="utf-8")
