"""The headless core never imports Textual, and `import kdiag.cli` stays light.

A `kdiag diagnose` process pays for every module it imports (issue 11: most of a single-URL
diagnosis was start-up), so the diagnose path imports only what it uses: these tests look at
`sys.modules` of a fresh process, up to argument parsing and through a whole run on the lab.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Never imported by `kdiag diagnose -o json`: the TUI and the lab, the other report formats
#: (text brings rich), and the third-party stacks kdiag does not use there.
NOT_IN_A_JSON_DIAGNOSIS = ("textual", "rich", "httpx", "aiohttp", "trustme", "kdiag.tui", "kdiag.lab",
                           "kdiag.report.text", "kdiag.report.html", "kdiag.report.markdown",
                           "kdiag.report.checks", "kdiag.sources.manifests", "kdiag.lint", "kdiag.watch")
#: Not imported before a diagnosis needs them: the kubernetes client (and its pydantic, requests,
#: oauthlib) when credentials are loaded, YAML with the kubeconfig, websockets for port-forwards.
NOT_UP_TO_PARSING = (*NOT_IN_A_JSON_DIAGNOSIS, "kubernetes", "pydantic", "requests", "oauthlib", "urllib3",
                     "yaml", "websockets", "kdiag.rules", "kdiag.probes", "kdiag.route")


def _loaded(code: str, forbidden: tuple[str, ...]) -> list[str]:
    """The modules of `forbidden` (or their submodules) that a fresh process running `code` loaded."""
    probe = (f"{code}\nimport sys, json\n"
             f"print(json.dumps(sorted(m for m in sys.modules for f in {forbidden!r} "
             "if m == f or m.startswith(f + '.'))))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded: list[str] = json.loads(out.stdout.strip().splitlines()[-1])
    return loaded

CORE = ["kdiag.cli", "kdiag.model", "kdiag.snapshot", "kdiag.catalog", "kdiag.lint", "kdiag.rules",
        "kdiag.events"]


def test_core_modules_do_not_import_textual() -> None:
    code = (
        "import sys, importlib\n"
        f"for m in {CORE!r}: importlib.import_module(m)\n"
        "import kdiag.rules; kdiag.rules.load_rules()\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_import_is_light() -> None:
    code = (
        "import sys; import kdiag.cli\n"
        "heavy = [m for m in ('textual', 'kubernetes', 'httpx', 'websockets', 'aiohttp') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_diagnose_up_to_argument_parsing_imports_nothing_heavy() -> None:
    """The CLI, the diagnose command's own modules and its arguments: no client, no YAML, no
    renderer, no rules or probes yet (they come with the cluster)."""
    code = ("import kdiag.cli, kdiag.diagnose, kdiag.live, kdiag.report.render, kdiag.stopping\n"
            "args = kdiag.cli.build_parser().parse_args(['diagnose', 'wss://chatapp.com/wss', '-o', 'json'])\n"
            "kdiag.diagnose.DiagnoseOptions.from_cli(url=args.url, headers={}, client_url=None, page_url=None,"
            " idle=None, resolve=[], connect_to=[], via='auto', timeout=5.0, filenames=[], kubeconfig=None,"
            " context=None, namespace=None, progress=False, deadline=None, method=None)\n")
    assert _loaded(code, NOT_UP_TO_PARSING) == []


def test_a_json_diagnosis_on_the_lab_imports_no_other_format_nor_the_tui(tmp_path: Path) -> None:
    """A whole `kdiag diagnose -o json` process against the lab: the report renders without the
    text (rich), Markdown and HTML renderers, and nothing of the TUI, the lab, lint or watch."""
    from kdiag.lab.scenario_lab import Lab
    from kdiag.lab.scenarios import SCENARIOS

    sc = SCENARIOS["healthy"]
    with Lab(sc) as lab:
        argv = ["diagnose", sc.url, "--kubeconfig", str(lab.kubeconfig), "-o", "json", "--timeout", "3", "-q",
                "--output-file", str(tmp_path / "report.json")]
        code = f"import kdiag.cli\nrc = kdiag.cli.main({argv!r})\nassert rc in (0, 1), rc"
        loaded = _loaded(code, NOT_IN_A_JSON_DIAGNOSIS)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["route"]["service"] and report["hops"], report["verdict"]
    assert loaded == []


def test_the_text_format_still_renders_with_rich_on_demand() -> None:
    """The lazy renderers are found when asked for (the guard above is not vacuous)."""
    code = ("from kdiag.model import Report, SourceInfo, Verdict\nfrom kdiag.report.render import render\n"
            "r = Report(source=SourceInfo(kind='manifests'), findings=(), verdict=Verdict('ok', None, None, 'ok'))\n"
            "assert render(r, 'text', color=False) and render(r, 'markdown') and render(r, 'html')\n")
    loaded = _loaded(code, ("rich", "kdiag.report.text", "kdiag.report.markdown", "kdiag.report.html"))
    assert {"rich", "kdiag.report.text", "kdiag.report.markdown", "kdiag.report.html"} <= set(loaded)
