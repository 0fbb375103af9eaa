"""The import-linter contracts of pyproject.toml hold, and the core contract names every core module."""

from __future__ import annotations

import os
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import kdiag

ROOT = Path(__file__).resolve().parents[1]
#: Front ends (the CLI, its shell completion, the TUI) and the lab: everything else is the core.
NOT_CORE = {"kdiag.tui", "kdiag.lab", "kdiag.cli", "kdiag.completion", "kdiag.__main__"}


def _config() -> dict[str, object]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    cfg: dict[str, object] = data["tool"]["importlinter"]
    return cfg


def _lint(config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(config_filename=sys.argv[1]))"
    return subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True, env=env,
                          cwd=ROOT)


def test_core_contract_lists_every_top_level_module() -> None:
    contracts = _config()["contracts"]
    assert isinstance(contracts, list)
    core = next(c for c in contracts if c["name"].startswith("the core never imports"))
    modules = {f"kdiag.{m.name}" for m in pkgutil.iter_modules(kdiag.__path__)}
    assert set(core["source_modules"]) == modules - NOT_CORE
    assert set(core["forbidden_modules"]) == {"kdiag.tui", "kdiag.lab"}


def test_import_linter_contracts_are_kept() -> None:
    out = _lint(ROOT / "pyproject.toml")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "4 kept, 0 broken" in out.stdout


def test_import_linter_reports_a_broken_contract(tmp_path: Path) -> None:
    """The checker really looks: the CLI imports the TUI, so this contract must break."""
    config = tmp_path / ".importlinter"
    config.write_text("[importlinter]\nroot_package = kdiag\n\n[importlinter:contract:cli]\n"
                      "name = cli without tui\ntype = forbidden\nsource_modules =\n    kdiag.cli\n"
                      "forbidden_modules =\n    kdiag.tui\n")
    out = _lint(config)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "kdiag.cli -> kdiag.tui" in out.stdout
