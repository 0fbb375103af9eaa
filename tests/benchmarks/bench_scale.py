"""Scale benchmark (prints figures; not a test): issue 11's synthetic cluster on the lab API server.

    python tests/benchmarks/bench_scale.py [--services N --namespaces N --big N --pods-per-service N]
                                           [--runs N] [--skip-lint] [--no-bytecode-cache]

The cluster (kdiag.lab.synthetic, defaults: 200 namespaces, 20,000 Services, EndpointSlices,
Deployments and ReplicaSets, 100,000 Pods, ~5,400 Ingresses with canaries, 20 without a host) is
served by kdiag's own fake API server over HTTPS on 127.0.0.1. For a small (app-tiny) and a big
(app-000) context namespace it prints, for `kdiag diagnose` of one WebSocket URL as a user runs it
(a whole new process): wall time, API requests, bytes read and peak RSS, beside
`kubectl get ingress,svc,endpointslices,pods -n NS -o json` on the same server, as a ratio. Then
a URL only a rule without a host serves, and `kdiag lint` per object: 20,000 objects in one
namespace against 2,000 objects spread over 200 namespaces.

kdiag runs with a bytecode cache, as an installed kdiag does (see `_bytecode_env`).

Nothing answers behind the synthetic world (no app servers, no controller), so the probes fail
fast and the verdict is a failure: the figures are the cost of reading and judging.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

KUBECTL_KINDS = "ingress,svc,endpointslices,pods"


#: Runs argv[2:] and writes the child's own peak RSS (KiB) to the fd argv[1]. A fork of the benchmark (which
#: holds the whole synthetic cluster) would count the parent's memory as the child's peak.
_WRAPPER = (
    "import os,resource,subprocess,sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "os.write(int(sys.argv[1]), str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss).encode())\n"
    "sys.exit(rc)\n"
)


def _popen_rss(argv: list[str], env: dict[str, str]) -> tuple[float, int, str, str]:
    """(wall seconds, peak RSS in KiB, stdout, stderr) of one new process."""
    r, w = os.pipe()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-S", "-c", _WRAPPER, str(w), *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, pass_fds=(w,))
    os.close(w)
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    with os.fdopen(r, "rb") as f:
        rss = int(f.read() or b"0")
    return wall, rss, out.decode(errors="replace"), err.decode(errors="replace")


def _bytecode_env(env: dict[str, str], tmp: Path, disabled: bool) -> dict[str, str]:
    """The environment for kdiag's processes: with a bytecode cache, as an installed kdiag runs.

    pip compiles a wheel's modules at install, so a user's `kdiag` never compiles its ~110
    modules from source; a checkout run with PYTHONDONTWRITEBYTECODE=1 (as on the project's
    machines) would, in every process (about 0.2 s here). The cache lives in a temporary folder
    (PYTHONPYCACHEPREFIX), filled once before the runs; the checkout stays clean.
    `--no-bytecode-cache` measures the other case.
    """
    if disabled:
        return env
    env = {**env, "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kdiag")], env=env, check=True)
    return env


def _served(server: Any, agent: str) -> tuple[int, int]:
    recs = [r for r in list(server.requests) if agent in r.user_agent.lower()]
    return len(recs), sum(r.bytes for r in recs)


def _mb(n: float) -> str:
    return f"{n / 1e6:.2f} MB"


def _kdiag(server: Any, kubeconfig: Path, url: str, ns: str, runs: int, env: dict[str, str],
           extra: list[str] | None = None) -> dict[str, Any]:
    walls, rsss = [], []
    report: dict[str, Any] = {}
    reqs = nbytes = 0
    for _ in range(runs):
        server.clear_requests()
        wall, rss, out, err = _popen_rss(
            [sys.executable, "-m", "kdiag", "diagnose", url, "--kubeconfig", str(kubeconfig), "-n", ns,
             "--format", "json", "--timeout", "2", *(extra or [])], env)
        try:
            report = json.loads(out)
        except ValueError:
            raise SystemExit(f"kdiag diagnose failed: {err.strip()[-400:]}") from None
        walls.append(wall)
        rsss.append(rss)
        reqs, nbytes = _served(server, "kdiag")
    stats = report.get("stats") or {}
    return {"wall": statistics.median(walls), "rss_mib": max(rsss) / 1024, "requests": stats.get("api_requests"),
            "bytes": stats.get("api_bytes"), "server_requests": reqs, "server_bytes": nbytes,
            "route": (report.get("route") or {}).get("service"),
            "findings": len(report.get("findings") or ())}


def _kubectl(server: Any, kubeconfig: Path, ns: str, runs: int, env: dict[str, str], cache: str) -> dict[str, Any]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return {}
    argv = [kubectl, "--kubeconfig", str(kubeconfig), "--cache-dir", cache, "get", KUBECTL_KINDS,
            "-n", ns, "-o", "json"]
    subprocess.run(argv, capture_output=True, env=env, check=True)  # warm the discovery cache
    walls, rsss = [], []
    reqs = nbytes = 0
    for _ in range(runs):
        server.clear_requests()
        wall, rss, out, _ = _popen_rss(argv, env)
        walls.append(wall)
        rsss.append(rss)
        reqs, nbytes = _served(server, "kubectl")
    return {"wall": statistics.median(walls), "rss_mib": max(rsss) / 1024, "requests": reqs, "bytes": nbytes}


def bench_diagnose(args: argparse.Namespace) -> None:
    from kdiag.lab.apiserver.server import FakeApiServer
    from kdiag.lab.synthetic import (
        BIG,
        TINY,
        Sizes,
        host_for,
        hostless_url,
        namespace_plan,
        synthetic_objects,
    )

    sizes = Sizes(namespaces=args.namespaces, services=args.services, big_services=args.big,
                  pods_per_service=args.pods_per_service)
    t0 = time.perf_counter()
    objects = list(synthetic_objects(sizes))
    counts: dict[str, int] = {}
    for o in objects:
        counts[o["kind"]] = counts.get(o["kind"], 0) + 1
    server = FakeApiServer(objects, share=True, derive_endpoints=False)
    server.start()
    print(f"synthetic cluster: {', '.join(f'{v:,} {k}' for k, v in sorted(counts.items()))} "
          f"(generated and served in {time.perf_counter() - t0:.1f} s)")
    plan = dict(namespace_plan(sizes))
    url = f"ws://{host_for('svc-00000', BIG)}/ws"
    tmp = Path(tempfile.mkdtemp(prefix="kdiag-bench-scale-"))
    env = _bytecode_env({**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp)}, tmp, args.no_bytecode_cache)
    kubeconfig = tmp / "kubeconfig"
    server.write_kubeconfig(kubeconfig)
    try:
        print(f"\nkdiag diagnose {url} (a new process; median of {args.runs}) vs kubectl get {KUBECTL_KINDS}")
        print(f"{'context namespace':<28} {'kdiag':>8} {'requests':>8} {'read':>10} {'peak RSS':>9}"
              f"   {'kubectl':>8} {'requests':>8} {'read':>10}   kdiag/kubectl")
        for ns in (TINY, BIG):
            pods = plan[ns] * sizes.pods_per_service
            k = _kdiag(server, kubeconfig, url, ns, args.runs, env)
            c = _kubectl(server, kubeconfig, ns, args.runs, env, str(tmp / "kube-cache"))
            label = f"{ns} ({plan[ns]} svc, {pods} pods)"
            line = (f"{label:<28} {k['wall']:>7.2f}s {k['requests']:>8} {_mb(k['bytes']):>10} "
                    f"{k['rss_mib']:>6.0f} MiB")
            if c:
                line += (f"   {c['wall']:>7.2f}s {c['requests']:>8} {_mb(c['bytes']):>10}   "
                         f"{k['wall'] / c['wall']:.2f}")
            print(line)
            if k["server_requests"] != k["requests"]:
                print(f"  (the server saw {k['server_requests']} kdiag requests, {_mb(k['server_bytes'])})")
        print(f"  route: {k['route']}, {k['findings']} findings")
        _tui_routes(kubeconfig, BIG, plan[BIG])
        hl = hostless_url(0)
        k = _kdiag(server, kubeconfig, hl, BIG, args.runs, env)
        print(f"\nkdiag diagnose {hl} (only a rule without a host serves it; {sizes.hostless} such rules in "
              f"the biggest namespaces): {k['wall']:.2f} s, {k['requests']} requests, {_mb(k['bytes'])}, "
              f"{k['rss_mib']:.0f} MiB; route {k['route']}")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def _tui_routes(kubeconfig: Path, ns: str, services: int) -> None:
    """The TUI's streamed route list (the session's stream, in-process, warm imports)."""
    import asyncio

    from kdiag.diagnose import ClusterSession
    from kdiag.kube import Kube
    from kdiag.session import RouteJudged, RoutesFound

    kube = Kube.connect(kubeconfig=str(kubeconfig), context=None, namespace=ns)
    session = ClusterSession(kube, kubeconfig=str(kubeconfig))

    async def run() -> tuple[float, float, int]:
        t0 = time.perf_counter()
        first = 0.0
        rows = 0
        async for ev in session.routes_stream():
            if isinstance(ev, RoutesFound) and not first:
                first, rows = time.perf_counter() - t0, len(ev.rows)
            elif isinstance(ev, RouteJudged):
                rows = max(rows, ev.index + 1)
        return first, time.perf_counter() - t0, rows

    try:
        first, full, rows = asyncio.run(run())
    finally:
        kube.close()
    print(f"\nTUI route list, namespace {ns} ({services} Services): first {rows} rows after {first:.2f} s, "
          f"every verdict after {full:.2f} s (the session's stream, in-process)")


def _manifests(path: Path, namespaces: int, objects: int) -> None:
    """`objects` manifests (Deployment + Service pairs, an Ingress per 4 Services) over namespaces."""
    docs: list[str] = []
    pairs = objects // 2
    for i in range(pairs):
        ns = f"ns-{i % namespaces:03d}"
        name = f"app-{i:05d}"
        labels = {"app": name}
        docs.append(json.dumps({"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": name, "namespace": ns},
                                "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                                         "template": {"metadata": {"labels": labels}, "spec": {"containers": [
                                             {"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}],
                                              "readinessProbe": {"httpGet": {"path": "/", "port": 8080}}}]}}}}))
        docs.append(json.dumps({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
                                "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}))
    path.write_text("\n---\n".join(docs) + "\n")


def bench_lint(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="kdiag-bench-lint-"))
    env = _bytecode_env({**os.environ, "PYTHONPATH": str(ROOT)}, tmp, args.no_bytecode_cache)
    try:
        print("\nkdiag lint (a new process), per object:")
        per = []
        for label, namespaces, count in (("20,000 objects in 1 namespace", 1, 20_000),
                                         ("2,000 objects in 200 namespaces", 200, 2_000)):
            f = tmp / f"{namespaces}.yaml"
            _manifests(f, namespaces, count)
            wall, rss, _, err = _popen_rss([sys.executable, "-m", "kdiag", "lint", str(f), "--format", "json",
                                            "-o", str(tmp / "out.json")], env)
            per.append(wall / count)
            print(f"  {label:<34} {wall:6.2f} s  {wall / count * 1e6:7.1f} µs/object  {rss / 1024:.0f} MiB")
        print(f"  per-object ratio (1 namespace / 200 namespaces): {per[0] / per[1]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--namespaces", type=int, default=200)
    p.add_argument("--services", type=int, default=20_000)
    p.add_argument("--big", type=int, default=745, help="Services in namespace app-000")
    p.add_argument("--pods-per-service", type=int, default=5)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--skip-lint", action="store_true")
    p.add_argument("--no-bytecode-cache", action="store_true",
                   help="let kdiag's processes compile its modules each time (PYTHONDONTWRITEBYTECODE as set)")
    args = p.parse_args()
    bench_diagnose(args)
    if not args.skip_lint:
        bench_lint(args)


if __name__ == "__main__":
    main()
