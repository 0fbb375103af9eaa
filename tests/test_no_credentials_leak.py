"""Issue 13: no test credential reaches any output — report formats, the TUI's screens, the wire.

A live lab walk is run with every kind of credential kdiag can be handed: the kubeconfig's
bearer token and client key, a password in the kubeconfig's server URL, and request headers
that carry secrets (Authorization, X-Custom-Token). The report in every format and the TUI's
screens on it must contain none of them; the API server must never see the URL password (not
even as the Host header of service-proxy probes).
"""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path

import pytest
import yaml
from textual.worker import WorkerFailed

from kdiag.diagnose import DiagnoseOptions, run_diagnose
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS
from kdiag.model import Report
from kdiag.report.render import render

URL_PASSWORD = "urlpw-5f1e9c"
HEADER_TOKEN = "hdrtok-77a3b1"
BEARER = "bearer-9d2c44e1"


def _kubeconfig_with_every_credential(lab: Lab, path: Path) -> tuple[Path, list[str]]:
    import trustme

    key = trustme.CA().issue_cert("kdiag-user")
    doc = yaml.safe_load(Path(lab.kubeconfig).read_text())
    cluster = doc["clusters"][0]["cluster"]
    cluster["server"] = cluster["server"].replace("https://", f"https://admin:{URL_PASSWORD}@")
    user = doc["users"][0]["user"]
    key_pem = key.private_key_pem.bytes()
    user["client-certificate-data"] = base64.b64encode(key.cert_chain_pems[0].bytes()).decode()
    user["client-key-data"] = base64.b64encode(key_pem).decode()
    path.write_text(yaml.safe_dump(doc))
    key_lines = [ln for ln in key_pem.decode().splitlines() if ln and not ln.startswith("-----")]
    secrets = [user["token"], URL_PASSWORD, HEADER_TOKEN, BEARER, user["client-key-data"][:40], *key_lines[:3]]
    return path, secrets


def _screens_text(report: Report) -> list[str]:
    """The TUI's walk screen on the report, and the screen of each hop opened from it (SVG text)."""
    import asyncio

    from kdiag.tui.app import make_app
    from kdiag.tui.report_session import ReportSession, report_request

    async def run() -> list[str]:
        shots: list[str] = []
        app = make_app(ReportSession(report), open_walk=report_request(report))
        async with app.run_test(size=(160, 60)) as pilot:
            for _ in range(2):
                with contextlib.suppress(WorkerFailed):
                    await app.workers.wait_for_complete()
                await pilot.pause()
            shots.append(app.export_screenshot())
            for _ in range(5):  # every hop of the walk, opened in turn
                await pilot.press("enter")
                await pilot.pause()
                shots.append(app.export_screenshot())
                await pilot.press("escape")
                await pilot.pause()
                await pilot.press("down")
                await pilot.pause()
        return shots

    return asyncio.run(run())


@pytest.mark.parametrize("scenario", ["target-port-mismatch", "nodeport-closed"])
def test_no_credential_in_any_report_format_the_tui_or_the_wire(scenario: str, tmp_path: Path) -> None:
    sc = SCENARIOS[scenario]
    with Lab(sc) as lab:
        kubeconfig, secrets = _kubeconfig_with_every_credential(lab, tmp_path / "kc")
        opts = DiagnoseOptions(url=sc.url, headers={"Authorization": f"Bearer {BEARER}",
                                                    "X-Custom-Token": HEADER_TOKEN, "canary": "never"},
                               kubeconfig=str(kubeconfig), timeout=3.0, deadline=60.0)
        report = run_diagnose(opts)
        seen = list(lab.api.requests)
    assert report.hops is not None and any(p.via == "service-proxy" for h in report.hops for p in h.probes), (
        "the walk must go through the service proxy (the Host header case)")
    outputs = {fmt: render(report, fmt, color=False) for fmt in ("text", "json", "markdown", "html")}
    outputs.update({f"tui-{i}": shot for i, shot in enumerate(_screens_text(report))})
    for name, text in outputs.items():
        for secret in secrets:
            assert secret not in text, f"{secret[:12]}… appears in the {name} output"
    assert "X-Custom-Token" in outputs["json"], "the header itself is shown (its value hidden)"
    assert seen and all(URL_PASSWORD not in r.host and "@" not in r.host for r in seen), {r.host for r in seen}


def test_unreachable_server_with_a_url_password_is_named_without_it(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from kdiag.cli import main

    kc = tmp_path / "kc"
    kc.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "x",
        "clusters": [{"name": "c", "cluster": {"server": f"https://admin:{URL_PASSWORD}@127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}]}))
    assert main(["diagnose", "http://a.example/", "--kubeconfig", str(kc), "-q"]) == 2
    err = capsys.readouterr().err
    assert "cannot reach the API server at https://127.0.0.1:1" in err and URL_PASSWORD not in err
