"""Benchmark (prints figures): the static rules and the TUI route list on a large namespace.

    python tests/benchmarks/bench_routes.py [--copies N]

N copies of the chat app (3 Ingress paths, a Service, a Deployment with 2 pods each) in one
namespace: N=200 gives 600 routes and about 2,400 objects. No network.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kdiag.lab.scenarios import SCENARIOS  # noqa: E402
from kdiag.lab.world import derive_endpoint_slices  # noqa: E402
from kdiag.model import SourceInfo  # noqa: E402
from kdiag.route_stream import route_rows  # noqa: E402
from kdiag.rules import RuleContext, run_rules  # noqa: E402
from kdiag.snapshot import Snapshot  # noqa: E402

COPIED = ("Ingress", "Service", "Deployment", "Pod", "ReplicaSet")


def _copy(obj: dict[str, Any], i: int) -> dict[str, Any]:
    c = copy.deepcopy(obj)
    c["metadata"]["name"] = f"{c['metadata']['name']}-{i}"
    labels = {"app": f"chatapp-{i}"}
    if c["kind"] == "Ingress":
        rule = c["spec"]["rules"][0]
        rule["host"] = f"app{i}.example.com"
        for p in rule["http"]["paths"]:
            p["backend"]["service"]["name"] = f"chatapp-svc-{i}"
    elif c["kind"] == "Service":
        c["spec"]["selector"] = labels
    elif c["kind"] == "Deployment":
        c["spec"]["selector"]["matchLabels"] = labels
        c["spec"]["template"]["metadata"]["labels"] = labels
    elif c["kind"] == "Pod":
        c["metadata"]["labels"] = labels
        c["metadata"]["ownerReferences"] = []
    return c


def build(copies: int) -> Snapshot:
    base = [dict(o) for o in SCENARIOS["healthy"].objects]
    objs = list(base)
    for i in range(copies):
        objs += [_copy(o, i) for o in base if o.get("kind") in COPIED and o["metadata"].get("namespace") == "default"]
    objs += derive_endpoint_slices(objs)
    return Snapshot(tuple(objs), SourceInfo("cluster"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=200)
    args = ap.parse_args()
    snap = build(args.copies)
    t0 = time.perf_counter()
    run_rules(RuleContext(snap))
    t1 = time.perf_counter()
    rows = route_rows(snap)
    t2 = time.perf_counter()
    print(f"{len(snap)} objects in one namespace")
    print(f"all static rules, one pass: {t1 - t0:.2f} s")
    print(f"TUI route list ({len(rows)} routes, each judged by the static checks): {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()
