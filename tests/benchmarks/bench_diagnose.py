"""Benchmarks that print figures (not tests): single-URL diagnosis time and demo start-up.

    python tests/benchmarks/bench_diagnose.py [--runs N]

1. `kdiag diagnose` on the healthy lab, as a user runs it (a new process each time, imports
   included, with a bytecode cache as an installed kdiag has), and in-process (the walk alone, warm imports).
2. The demo: lab start-up, and time from `kdiag demo` to the TUI showing its verdict (headless).
Everything runs on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from _bench import bytecode_env  # noqa: E402 - the benchmarks' folder is the script's


def _fmt(values: list[float]) -> str:
    return (f"median {statistics.median(values):.3f} s  min {min(values):.3f} s  max {max(values):.3f} s  "
            f"(n={len(values)})")


def bench_cli(runs: int) -> None:
    from kdiag.lab.scenario_lab import Lab
    from kdiag.lab.scenarios import SCENARIOS

    sc = SCENARIOS["healthy"]
    with Lab(sc) as lab, tempfile.TemporaryDirectory(prefix="kdiag-bench-diagnose-") as tmp:
        env = bytecode_env({**os.environ, "PYTHONPATH": str(ROOT)}, Path(tmp))
        walls = []
        for _ in range(runs):
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "kdiag", "diagnose", sc.url, "--kubeconfig",
                                   str(lab.kubeconfig), "--format", "json", "-q"], capture_output=True, env=env)
            walls.append(time.perf_counter() - t0)
            assert proc.returncode == 0, proc.stderr.decode()
        print(f"kdiag diagnose {sc.url} (healthy lab, new process, imports included): {_fmt(walls)}")

        from kdiag.diagnose import DiagnoseOptions, run_diagnose

        opts = DiagnoseOptions(url=sc.url, kubeconfig=str(lab.kubeconfig))
        run_diagnose(opts)  # warm imports
        inproc = []
        for _ in range(runs):
            t0 = time.perf_counter()
            report = run_diagnose(opts)
            inproc.append(time.perf_counter() - t0)
            assert report.verdict.status in ("ok", "warn"), report.verdict
        print(f"walk alone (in-process, warm imports): {_fmt(inproc)}")


async def _until_verdict(app: Any) -> None:
    async with app.run_test(size=(120, 36)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()


def bench_demo(runs: int) -> None:
    from kdiag.events import WalkFinished  # noqa: F401  (warm the core)
    from kdiag.lab.demo import DEFAULT_SCENARIO, demo_request, lab_session
    from kdiag.lab.scenario_lab import Lab
    from kdiag.lab.scenarios import SCENARIOS
    from kdiag.tui.app import make_app

    sc = SCENARIOS[DEFAULT_SCENARIO]
    starts, verdicts = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        lab = Lab(sc).start()
        starts.append(time.perf_counter() - t0)
        try:
            session = lab_session(lab)
            app = make_app(session, open_walk=demo_request(sc))

            asyncio.run(_until_verdict(app))
            verdicts.append(time.perf_counter() - t0)
            session.kube.close()
        finally:
            lab.stop()
    print(f"demo lab start ({sc.name}): {_fmt(starts)}")
    print(f"kdiag demo to the verdict on screen (headless TUI, lab start included): {_fmt(verdicts)}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    bench_cli(args.runs)
    bench_demo(max(1, args.runs // 2))


if __name__ == "__main__":
    main()
