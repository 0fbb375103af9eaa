"""The bad-input corpus (tests/corpus/, see its README): every case in a whole `python -m kdiag`
process, with a time limit and a memory limit. No traceback, no internal error, the exit-code
contract, valid JSON."""

from __future__ import annotations

import json
import os
import random
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "corpus"
TIMEOUT_S = 60
MEMORY_BYTES = 1536 * 1024 * 1024  # address space: kdiag peaks far below; a blow-up hits this


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def _cases() -> list[Any]:
    cases: list[Any] = []
    for f in sorted((CORPUS / "manifests").iterdir()):
        cases.append(pytest.param({"argv": ["lint", str(f), "--format", "json"], "exit": [0, 1, 2]},
                                  id=f"lint-{f.name}"))
        cases.append(pytest.param({"argv": ["diagnose", "https://chatapp.com/", "-f", str(f), "--format", "json"],
                                   "exit": [0, 1, 2]}, id=f"diagnose-f-{f.name}"))
    for f in sorted((CORPUS / "reports").iterdir()):
        for fmt in ("text", "json"):
            cases.append(pytest.param({"argv": ["report", "show", str(f), "--format", fmt], "exit": [0, 1, 2]},
                                      id=f"report-{fmt}-{f.name}"))
    for f in sorted((CORPUS / "kubeconfigs").iterdir()):
        cases.append(pytest.param({"argv": ["diagnose", "https://chatapp.com/", "--kubeconfig", str(f),
                                            "--timeout", "1", "--format", "json"], "exit": [2]},
                                  id=f"kubeconfig-{f.name}"))
    for i, case in enumerate(json.loads((CORPUS / "argv.json").read_text())):
        case["argv"] = [a.replace("{corpus}", str(CORPUS)) for a in case["argv"]]
        cases.append(pytest.param(case, id=f"argv-{i}-{' '.join(case['argv'])[:40]}"))
    return cases


@pytest.mark.parametrize("case", _cases())
def test_corpus_case(case: dict[str, Any], tmp_path: Path) -> None:
    stdin: bytes | None = None
    if case.get("stdin") == "random":
        stdin = random.Random(13).randbytes(65536)
    elif case.get("stdin"):
        stdin = Path(case["stdin"].replace("{corpus}", str(CORPUS))).read_bytes()
    env = {k: v for k, v in os.environ.items()
           if k not in ("KUBECONFIG", "KDIAG_DEBUG", "HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")}
    env.update(PYTHONPATH=str(ROOT), HOME=str(tmp_path), NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-m", "kdiag", *case["argv"]], input=stdin,
                          stdin=None if stdin is not None else subprocess.DEVNULL, capture_output=True,
                          timeout=TIMEOUT_S, preexec_fn=_limit_memory, env=env, cwd=tmp_path)
    err = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "internal error" not in err and "MemoryError" not in err, err
    assert proc.returncode in case["exit"], (proc.returncode, err)
    assert "t0ps3cret" not in err and b"t0ps3cret" not in proc.stdout
    if proc.returncode == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("kdiag: "), err
    elif "json" in case["argv"]:
        json.loads(proc.stdout, parse_constant=lambda name: pytest.fail(f"{name} in JSON output"))
    if case.get("stderr"):
        assert case["stderr"] in err, err
