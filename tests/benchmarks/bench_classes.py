"""Benchmark that prints figures (not a test): IngressClass decisions over huge clusters.

    python tests/benchmarks/bench_classes.py [--sizes 1000,10000,50000]

`class_decision` for every Ingress of a snapshot with as many IngressClasses as Ingresses
(issue 13: this was quadratic, minutes of CPU at 116k objects). Linear time shows as a constant
time per Ingress across sizes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kdiag.model import SourceInfo  # noqa: E402
from kdiag.route.classes import class_decision  # noqa: E402
from kdiag.snapshot import Snapshot  # noqa: E402


def snapshot(n: int) -> Snapshot:
    default = {"ingressclass.kubernetes.io/is-default-class": "true"}
    objs = [{"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1",
             "metadata": {"name": f"c{i}", "annotations": default if i == 0 else {}},
             "spec": {"controller": "k8s.io/ingress-nginx"}} for i in range(n)]
    objs += [{"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
              "metadata": {"name": f"i{i}", "namespace": "d"}, "spec": {}} for i in range(n)]
    return Snapshot(objects=tuple(objs), source=SourceInfo(kind="cluster"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,50000")
    for n in (int(x) for x in parser.parse_args().sizes.split(",")):
        snap = snapshot(n)
        started = time.perf_counter()
        for ing in snap.list("Ingress"):
            class_decision(snap, ing)
        took = time.perf_counter() - started
        print(f"{n:>7} Ingresses x {n:>7} IngressClasses: {took:.3f} s  ({took / n * 1e6:.1f} µs per Ingress)")


if __name__ == "__main__":
    main()
