"""`kdiag lint` messages a person can act on: file:line:column, indentation problems at the line
that lost its indentation, a fix that fits the error, non-objects in words, INFO in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kdiag.cli import main

ROOT = Path(__file__).resolve().parent.parent


def _lint_stdin(text: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`kdiag lint -` as a user runs it, with the text on stdin."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "kdiag", "lint", "-", *args], input=text, text=True,
                          capture_output=True, env=env, timeout=60, check=False)


def test_unclosed_flow_sequence_is_at_its_bracket_without_a_stray_colon() -> None:
    r = _lint_stdin("foo: [\n")
    assert r.returncode == 1 and r.stderr == ""
    first = r.stdout.splitlines()[0]
    assert first.startswith(" FAIL  <stdin>:1:6: invalid YAML: this `[` is never closed"), first
    assert ": <stdin>" not in r.stdout
    fix = r.stdout[r.stdout.index("Fix:"):]
    assert "close every `[`" in fix and "selector" not in fix  # the fix fits a syntax error


def test_a_line_that_lost_its_indentation_is_named_at_its_line() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata:\nname: web\n  namespace: shop\nspec:\n  ports:\n  - port: 80\n"
    r = _lint_stdin(text)
    assert r.returncode == 1
    assert "<stdin>:4:1: indentation problem: `name: web` is indented less than the line after it" in \
        " ".join(r.stdout.split())
    assert "Indent the line to match its siblings" in " ".join(r.stdout.split())


def test_a_block_whose_children_lost_their_indentation_is_an_indentation_problem() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata:\nname: web\nspec:\nports:\n- port: 80\n"
    r = _lint_stdin(text)
    flat = " ".join(r.stdout.split())
    assert r.returncode == 1
    assert "<stdin>:4: indentation problem: `metadata:` is empty and `name:` is a top-level key" in flat
    assert "lacks metadata.name" not in flat


def test_tab_indentation_is_said_in_words() -> None:
    r = _lint_stdin("apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: x\n")
    assert "<stdin>:4:1: indentation problem: a tab indents this line" in " ".join(r.stdout.split())


@pytest.mark.parametrize(("text", "words"), [
    ('"just a string"\n', "the document is plain text ('just a string'), not a Kubernetes object"),
    ("42\n", "the document is just the number 42, not a Kubernetes object"),
])
def test_a_document_that_is_not_a_mapping_says_so_in_words(text: str, words: str) -> None:
    r = _lint_stdin(text)
    flat = " ".join(r.stdout.split())
    assert r.returncode == 1 and words in flat and "is a str" not in flat
    assert "must be one Kubernetes object" in flat  # its own fix


def test_info_findings_are_one_line_unless_verbose(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ci.yaml").write_text("stages: [build]\njobs: {a: 1}\n", encoding="utf-8")
    (tmp_path / "app.yaml").write_text("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
                                       encoding="utf-8")
    assert main(["lint", "."]) == 0
    out = capsys.readouterr().out
    info = [ln for ln in out.splitlines() if "manifest-invalid" in ln]
    assert len(info) == 1 and info[0].startswith("  INFO    manifest-invalid") and "skipped" in info[0]
    assert "Fix:" not in out and "Why:" not in out
    assert main(["lint", ".", "-v"]) == 0
    out = capsys.readouterr().out
    assert "Why:" in out and "Fix: Nothing to change if this file is not meant for Kubernetes" in out
