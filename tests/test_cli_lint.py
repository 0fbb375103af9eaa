"""`kdiag lint` (and the report/checks views it shares) end to end through kdiag.cli.main."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kdiag.cli import main

SEED_GAME = Path(__file__).resolve().parent / "fixtures" / "manifests" / "seed-game"

CLEAN = """apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  LOG_LEVEL: info
"""

TYPO = """apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
dta:
  LOG_LEVEL: info
"""


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_clean_manifests_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "clean.yaml"
    f.write_text(CLEAN, encoding="utf-8")
    code, out, err = _run(capsys, "lint", str(f))
    assert code == 0, out
    assert out.splitlines()[0].strip().startswith("OK")
    assert err == ""


def test_seed_game_exits_1_and_names_every_problem(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "lint", str(SEED_GAME))
    assert code == 1
    assert out.splitlines()[0].strip().startswith("FAIL")
    for needle in ("maxUnavailble", "periodSecods", "extensions/v1beta1", "apps/v1beta1", "batch/v1beta1",
                   "did you mean maxUnavailable?", "http.yaml:10"):
        assert needle in out, needle
    assert "\x1b[" not in out


def test_json_format_is_the_lint_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "lint", str(SEED_GAME), "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert data["schema"] == "kdiag.report/v1"
    assert "target" not in data and "route" not in data and "hops" not in data
    assert data["source"]["kind"] == "manifests" and data["source"]["paths"] == [str(SEED_GAME)]
    checks = {f["check"] for f in data["findings"]}
    assert {"manifest-unknown-field", "manifest-removed-api-version"} <= checks
    assert data["verdict"]["status"] == "fail"


@pytest.mark.parametrize(("fmt", "start"), [("markdown", "# kdiag lint: FAIL"), ("html", "<!DOCTYPE html>")])
def test_other_formats(capsys: pytest.CaptureFixture[str], fmt: str, start: str) -> None:
    code, out, _ = _run(capsys, "lint", str(SEED_GAME / "http.yaml"), "--format", fmt)
    assert code == 1 and out.startswith(start) and "periodSecods" in out


def test_output_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "typo.yaml"
    f.write_text(TYPO, encoding="utf-8")
    dest = tmp_path / "report.json"
    code, out, err = _run(capsys, "lint", str(f), "--format", "json", "--output-file", str(dest))
    assert code == 1
    assert out == "" and f"report written to {dest}" in err
    data = json.loads(dest.read_text(encoding="utf-8"))
    (finding,) = data["findings"]
    assert finding["check"] == "manifest-unknown-field"
    assert finding["evidence"]["suggestion"] == "data"
    assert finding["evidence"]["location"] == f"{f}:5"


def test_stdin(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(TYPO))
    code, out, _ = _run(capsys, "lint", "-", "-n", "shop")
    assert code == 1
    assert "ConfigMap shop/settings" in out and "<stdin>:5" in out


@pytest.mark.parametrize("bad", ["no/such/file.yaml", "missing-dir"])
def test_bad_path_exits_2_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: str) -> None:
    code, out, err = _run(capsys, "lint", str(tmp_path / bad))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("kdiag: ") and "no such file or directory" in err
    assert "Traceback" not in err


def test_bad_yaml_is_a_finding_not_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text(CLEAN + "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: [x\n", encoding="utf-8")
    code, out, err = _run(capsys, "lint", str(f), "--format", "json")
    assert code == 1 and err == ""
    (finding,) = json.loads(out)["findings"]
    assert finding["check"] == "manifest-invalid" and finding["evidence"]["location"] == f"{f}:15:18"  # the `[` never closed


def test_report_show_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "r.json"
    assert _run(capsys, "lint", str(SEED_GAME), "--format", "json", "--output-file", str(dest))[0] == 1
    code, out, _ = _run(capsys, "report", "show", str(dest), "--format", "markdown")
    assert code == 1 and out.startswith("# kdiag lint: FAIL") and "periodSecods" in out
    junk = tmp_path / "junk.json"
    junk.write_text("{}", encoding="utf-8")
    code, out, err = _run(capsys, "report", "show", str(junk), "--format", "text")
    assert code == 2 and "not a kdiag report" in err and err.count("\n") == 1


def test_checks_views(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "checks")
    assert code == 0 and "manifest-unknown-field" in out and "manifest hop" in out
    code, out, _ = _run(capsys, "checks", "manifest-removed-api-version")
    assert code == 0 and "The apiVersion was removed from Kubernetes" in out and "extensions-deployment" in out
