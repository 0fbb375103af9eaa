"""The headless core never imports Textual, and `import kdiag.cli` stays light."""

from __future__ import annotations

import subprocess
import sys

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
