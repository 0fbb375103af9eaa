"""Benchmark (prints figures): the text report of many findings, and JSON for comparison.

    python tests/benchmarks/bench_text_render.py [--findings N ...]

Each finding carries a message, the catalog's Why and Fix, and a location, like a lint of a large
folder. The text renderer used to cost about a millisecond per finding in rich's print pipeline
(100,000 findings took over a minute); the cost should grow linearly and stay well below that.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kdiag.findings import make_finding  # noqa: E402
from kdiag.model import Report, SourceInfo, Verdict  # noqa: E402
from kdiag.report.render import render  # noqa: E402

CHECKS = ("manifest-invalid", "service-no-ready-endpoints", "ingress-backend-service-missing")


def _report(n: int) -> Report:
    findings = tuple(
        make_finding(CHECKS[i % len(CHECKS)], object=f"Service default/svc-{i}",
                     message=f"f{i}.yaml:{i}: something about svc-{i} is wrong in a way worth a long "
                             "sentence that wraps across the terminal width of a hundred columns",
                     evidence={"location": f"f{i}.yaml:{i}", "port": i})
        for i in range(n))
    return Report(source=SourceInfo(kind="manifests"), findings=findings,
                  verdict=Verdict("fail", "source", CHECKS[0], "many problems", finding=0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--findings", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    args = ap.parse_args()
    print(f"{'findings':>9} {'text s':>8} {'µs/finding':>11} {'json s':>8}")
    for n in args.findings:
        report = _report(n)
        t0 = time.perf_counter()
        text = render(report, "text", color=False)
        t1 = time.perf_counter()
        render(report, "json")
        t2 = time.perf_counter()
        assert text.count("\n  ") >= n
        print(f"{n:>9} {t1 - t0:>8.2f} {(t1 - t0) / n * 1e6:>11.0f} {t2 - t1:>8.2f}")


if __name__ == "__main__":
    main()
