"""The HTML report in a real browser (headless Chromium over the DevTools pipe, offline):
no horizontal overflow at 1200 px and at a phone's 390 px, with evidence collapsed and expanded,
evidence collapsed on screen and printed open, and a screenshot of each width.

`.ci/run` installs Debian's `chromium`; these tests fail under CI=true when it is missing.
KDIAG_SCREENSHOTS=1 also writes the screenshots shown in the README (screenshots/report-*.png).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

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
from kdiag.report.render import render
from tests.chromium import Chromium, find_chromium

ROOT = Path(__file__).resolve().parent.parent
WIDTHS = [(1200, 900, False), (390, 844, True)]
LONG_ID = "containerd://" + "5f5fd3ce800cdc217ddf8e9ddf7aa8160ad034b95df590851ec7b010cb4e0d2b" * 3


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    if find_chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs it) but was not found")
        pytest.skip("chromium not installed")
    with Chromium() as b:
        yield b


def _worst_case_report() -> Report:
    """Long unbroken ids everywhere a real report has them: URLs, pod names, probe details, evidence."""
    pod = "default/chatapp-7d9c5b8f6-" + "q" * 80
    url = "wss://chatapp.example.com/" + "a-very-long-path-segment-without-spaces" * 4 + "?room=1"
    probe = ProbeResult("websocket", "port-forward", url, False, status_code=502, elapsed_ms=12.0,
                        detail=f"error forwarding port 5003 to pod {LONG_ID}",
                        extra={"request": "GET /wss HTTP/1.1\r\nHost: chatapp.example.com\r\n" + "X" * 300,
                               "container": LONG_ID})
    return Report(
        source=SourceInfo("cluster", context="arn:aws:eks:eu-west-1:123456789012:cluster/" + "c" * 90,
                          namespace="default"),
        target=TargetInfo(url=url),
        route=RouteInfo(ingress="default/chatapp", service="default/chatapp-svc", port=3003, target_port=5003,
                        pods=(pod, pod + "-2")),
        hops=(HopResult("client", "ok", "fine"),
              HopResult("ingress", "fail", f"HTTP 502 from {LONG_ID}", probes=(probe,)),
              HopResult("service", "fail", "HTTP 503", probes=(probe,)),
              HopResult("endpoints", "ok", "2 of 2 ready"),
              HopResult("pod", "warn", f"nothing listens in {LONG_ID}", probes=(probe, probe))),
        findings=(Finding("service-target-port-mismatch", "error", "service", f"Service {pod}",
                          f"targetPort 5003 is not declared by {LONG_ID}",
                          explanation="A Service port has two numbers.",
                          fix="In Service x:\n\n```yaml\nports:\n  - name: ws\n    targetPort: ws    # "
                              + "containerPort 3002 of container " + "c" * 120 + "\n```",
                          evidence={"container_id": LONG_ID, "pods": [pod] * 3}),
                  Finding("pod-readiness-probe-missing", "warning", "pod", f"Deployment {pod}", "no readinessProbe",
                          evidence={"image": "registry.example.com/" + "team/" * 30 + "app:1.0"})),
        verdict=Verdict("fail", "service", "service-target-port-mismatch",
                        f"Service port 'ws' sends traffic to targetPort 5003 of {LONG_ID}", finding=0),
        created="2026-11-23T14:00:00Z",
    )


def _lab_report(tmp_path: Path) -> Report:
    """The target-port-mismatch scenario diagnosed through the command line, as a user would."""
    from kdiag.cli import main
    from kdiag.lab.scenario_lab import Lab
    from kdiag.lab.scenarios import SCENARIOS
    from kdiag.report.io import load_report

    sc = SCENARIOS["target-port-mismatch"]
    out = tmp_path / "lab.json"
    with Lab(sc) as lab:
        assert main(["diagnose", sc.url, "--kubeconfig", str(lab.kubeconfig), "--timeout", "3", "-q",
                     "--output-file", str(out)]) == 1
    return load_report(out)


_MEASURE = "[document.documentElement.scrollWidth, window.innerWidth, document.body.scrollWidth]"


@pytest.mark.parametrize("which", ["lab", "worst-case"])
def test_html_report_fits_desktop_and_phone_widths(browser: Chromium, tmp_path: Path, which: str) -> None:
    report = _lab_report(tmp_path) if which == "lab" else _worst_case_report()
    page_file = tmp_path / "report.html"
    page_file.write_text(render(report, "html"), encoding="utf-8")
    for width, height, mobile in WIDTHS:
        page = browser.open(page_file.as_uri(), width=width, height=height, mobile=mobile)
        scroll, inner, body = page.evaluate(_MEASURE)
        assert inner == width
        assert scroll <= width and body <= width, (which, width, scroll, body)
        # the verdict and the fix are on the first screen at desktop width
        fix_top = page.evaluate("document.getElementById('fix').getBoundingClientRect().top")
        if width == 1200:
            assert fix_top < height, fix_top
        # evidence is collapsed; opened, it still wraps inside the page
        assert page.evaluate("document.querySelectorAll('details[open]').length") == 0
        assert page.evaluate("document.querySelector('details pre').checkVisibility()") is False
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        scroll, _, body = page.evaluate(_MEASURE)
        assert scroll <= width and body <= width, (which, width, "details open", scroll)
        png = page.screenshot(full_page=False)
        assert png.startswith(b"\x89PNG") and len(png) > 5000
        (tmp_path / f"{which}-{width}.png").write_bytes(png)
        if which == "lab" and os.environ.get("KDIAG_SCREENSHOTS"):
            page.evaluate("document.querySelectorAll('details').forEach(d => d.open = false)")
            out = ROOT / "screenshots" / f"report-html-{width}.png"
            out.write_bytes(page.screenshot(full_page=False))


def test_html_report_prints_with_evidence_open(browser: Chromium, tmp_path: Path) -> None:
    page_file = tmp_path / "report.html"
    page_file.write_text(render(_worst_case_report(), "html"), encoding="utf-8")
    page = browser.open(page_file.as_uri(), width=1200, height=900)
    hidden = "Array.from(document.querySelectorAll('details pre')).filter(e => !e.checkVisibility()).length"
    assert page.evaluate(hidden) > 0  # on screen: collapsed
    page.call("Emulation.setEmulatedMedia", media="print")
    assert page.evaluate(hidden) == 0  # printed: every evidence block shows
    pdf = page.call("Page.printToPDF", printBackground=True)
    assert pdf["data"]
