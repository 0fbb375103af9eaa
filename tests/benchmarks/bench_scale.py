"""Scale benchmark (prints figures; not a test): issue 11's synthetic cluster on the lab API server.

    python tests/benchmarks/bench_scale.py [--services N --namespaces N --big N --pods-per-service N]
                                           [--runs N] [--skip-lint] [--no-bytecode-cache]

The cluster (kdiag.lab.synthetic, defaults: 200 namespaces, 20,000 Services, EndpointSlices,
Deployments and ReplicaSets, 100,000 Pods, ~5,400 Ingresses with canaries, 20 without a host) is
served by kdiag's own fake API server over HTTPS on 127.0.0.1. For a small (app-tiny) and a big
(app-000) context namespace it prints, for `kdiag diagnose` of one WebSocket URL as a user runs it
(a whole new process): wall time, API requests, bytes read and peak RSS, beside
`kubectl get ingress,svc,endpointslices,pods -n NS -o json` on the same server, as a ratio. Then
the TUI's route list of the big namespace in a terminal (a new `kdiag -n NS` process in a
pseudo-terminal, from the command to the first readable rows and to the last verdict), a URL only a
rule without a host serves, and `kdiag lint` per object: 20,000 objects in one namespace against
2,000 objects spread over 200 namespaces.

kdiag runs with a bytecode cache, as an installed kdiag does (see `_bench.bytecode_env`).

Nothing answers behind the synthetic world (no app servers, no controller), so the probes fail
fast and the verdict is a failure: the figures are the cost of reading and judging.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

from _bench import bytecode_env  # noqa: E402 - the benchmarks' folder is the script's

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
            "probes": stats.get("api_probes", 0), "bytes": stats.get("api_bytes"), "server_requests": reqs, "server_bytes": nbytes,
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
    env = bytecode_env({**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp)}, tmp, args.no_bytecode_cache)
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
            if k["server_requests"] != k["requests"] + k["probes"]:
                print(f"  (the server saw {k['server_requests']} kdiag requests, {_mb(k['server_bytes'])})")
        print(f"  route: {k['route']}, {k['findings']} findings; and {k['probes']} probes through the API server "
              "(port-forward, service proxy), not in the requests column")
        _tui_terminal(kubeconfig, BIG, plan[BIG], args.runs, env)
        hl = hostless_url(0)
        k = _kdiag(server, kubeconfig, hl, BIG, args.runs, env)
        print(f"\nkdiag diagnose {hl} (only a rule without a host serves it; {sizes.hostless} such rules in "
              f"the biggest namespaces): {k['wall']:.2f} s, {k['requests']} requests, {_mb(k['bytes'])}, "
              f"{k['rss_mib']:.0f} MiB; route {k['route']}")
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


#: Escape sequences (CSI, OSC, DCS/APC/PM/SOS strings, two-byte ones) dropped from the terminal's output.
_ESCAPES = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
                      rb"|\x1b[P^_X][^\x1b]*\x1b\\|\x1b[@-Z\\-_]")


def _tui_once(argv: list[str], env: dict[str, str], first: bytes, done: re.Pattern[bytes],
              size: tuple[int, int] = (120, 40), limit: float = 30.0) -> tuple[float | None, float | None]:
    """Seconds from the command to `first` on screen, and to `done`: kdiag's TUI in a terminal.

    A pseudo-terminal of `size` (columns, rows) stands for the user's terminal; what the TUI
    writes is read as it comes, escape sequences dropped. Ctrl+Q ends it.
    """
    import fcntl
    import pty
    import select
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm-256color"},
                            start_new_session=True)
    os.close(slave)
    seen = b""
    t_first = t_done = None
    try:
        while time.perf_counter() - t0 < limit and t_done is None:
            if not select.select([master], [], [], 0.5)[0]:
                continue
            try:
                chunk = os.read(master, 1 << 20)
            except OSError:
                break
            now = time.perf_counter() - t0
            seen = (seen + _ESCAPES.sub(b"", chunk))[-200_000:]
            if t_first is None and first in seen:
                t_first = now
            if t_first is not None and done.search(seen):
                t_done = now
        os.write(master, b"\x11")  # Ctrl+Q
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    finally:
        os.close(master)
    return t_first, t_done


def _tui_terminal(kubeconfig: Path, ns: str, services: int, runs: int, env: dict[str, str]) -> None:
    """The TUI's route list as a user sees it: a new `kdiag -n NS` process in a terminal, timed
    from the command to the first rows on screen and to the last row's verdict."""
    from kdiag.lab.synthetic import host_for

    argv = [sys.executable, "-m", "kdiag", "--kubeconfig", str(kubeconfig), "-n", ns]
    first = host_for("svc-00000", ns).encode()
    done = re.compile(rb"(\d+) of \1 routes \xe2\x80\x94 Enter or click to walk one\.(?! Checking)")
    firsts, dones = [], []
    for _ in range(runs):
        t_first, t_done = _tui_once(argv, env, first, done)
        if t_first is None or t_done is None:
            raise SystemExit(f"the TUI did not show its route list (first rows: {t_first}, verdicts: {t_done})")
        firsts.append(t_first)
        dones.append(t_done)
    print(f"\nTUI route list, namespace {ns} ({services} Services), a new `kdiag -n {ns}` process in a "
          f"120x40 terminal (median of {runs}): first rows on screen after {statistics.median(firsts):.2f} s, "
          f"every verdict after {statistics.median(dones):.2f} s")


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
    env = bytecode_env({**os.environ, "PYTHONPATH": str(ROOT)}, tmp, args.no_bytecode_cache)
    try:
        print("\nkdiag lint (a new process), per object:")
        per = []
        for label, namespaces, count in (("20,000 objects in 1 namespace", 1, 20_000),
                                         ("2,000 objects in 200 namespaces", 200, 2_000)):
            f = tmp / f"{namespaces}.yaml"
            _manifests(f, namespaces, count)
            wall, rss, _, err = _popen_rss([sys.executable, "-m", "kdiag", "lint", str(f), "--format", "json",
                                            "--output-file", str(tmp / "out.json")], env)
            if not (tmp / "out.json").exists():
                raise SystemExit(f"kdiag lint failed: {err.strip()[-400:]}")
            (tmp / "out.json").unlink()
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
