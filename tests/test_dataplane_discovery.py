"""Adding a data plane is writing one module: the registry finds every `PROFILE` of the package."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from kdiag.dataplane import Profile, profile_modules, profiles

ROOT = Path(__file__).resolve().parents[1]


def test_every_profile_module_of_the_package_is_registered() -> None:
    declared = [getattr(importlib.import_module(m), "PROFILE", None) for m in profile_modules()]
    found = [p for p in declared if isinstance(p, Profile)]
    assert found, "no module of kdiag.dataplane defines PROFILE"
    assert "kdiag.dataplane.ingress_nginx" in profile_modules()
    for p in found:
        assert p in profiles(), p.name


def test_a_new_module_with_profile_is_found_without_a_register_line(tmp_path: Path) -> None:
    """A throwaway module dropped into the package path becomes a profile routes resolve to."""
    (tmp_path / "throwaway_plane.py").write_text(textwrap.dedent("""
        from kdiag.dataplane.base import Answer, Profile

        PROFILE = Profile(name="throwaway", controllers=frozenset({"example.test/throwaway"}),
                          no_route=Answer(418, "no route: the throwaway plane answers 418"))
    """))
    code = textwrap.dedent(f"""
        import json, sys
        import kdiag.dataplane as dp
        dp.__path__.append({str(tmp_path)!r})
        from kdiag.model import SourceInfo
        from kdiag.route import parse_target, resolve_route
        from kdiag.snapshot import Snapshot
        objs = [
            {{"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
              "metadata": {{"name": "tw"}}, "spec": {{"controller": "example.test/throwaway"}}}},
            {{"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
              "metadata": {{"name": "web", "namespace": "default"}},
              "spec": {{"ingressClassName": "tw", "rules": [{{"host": "a.test", "http": {{"paths": [
                  {{"path": "/", "pathType": "Prefix",
                    "backend": {{"service": {{"name": "web", "port": {{"number": 80}}}}}}}}]}}}}]}}}},
        ]
        res = resolve_route(Snapshot(tuple(objs), SourceInfo("manifests")), parse_target("http://a.test/"))
        print(json.dumps({{"names": [p.name for p in dp.profiles()], "route": res.profile.name,
                          "answer": dp.profile_named("throwaway").no_route.status}}))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    got = json.loads(out.stdout)
    assert "throwaway" in got["names"] and "ingress-nginx" in got["names"]
    assert got["route"] == "throwaway" and got["answer"] == 418


#: DESIGN.md, "JSON report": the values of `route.dataplane.profile` readers rely on.
CONTRACT_PROFILES = {"ingress-nginx", "nginx-gateway-fabric", "envoy-gateway", "istio", "cilium", "kgateway",
                     "traefik", "contour", "haproxy", "gke", "aws-alb", "azure-agic", "azure-agc", "unknown"}


def test_the_report_names_each_profile_as_the_contract_does() -> None:
    """`route.dataplane.profile` keeps DESIGN.md's names (both HAProxy controllers are `haproxy`);
    `variant` names the controller when the contract's name covers several, and a saved report
    finds its profile again through it."""
    from kdiag.report.common import _data_plane

    seen = set()
    for profile in profiles():
        fields = profile.report_fields()
        assert fields["profile"] in CONTRACT_PROFILES, profile.name
        assert fields.get("variant", profile.name) == profile.name
        assert ("variant" in fields) == (fields["profile"] != profile.name)
        assert _data_plane({"controller": "x", **fields}).name == profile.name
        seen.add(fields["profile"])
    assert {"haproxy", "ingress-nginx", "envoy-gateway"} <= seen
    assert _data_plane({"profile": "haproxy"}).name == "unknown"  # no variant: no controller-specific claim


def test_discovery_started_in_two_threads_at_once_gives_both_every_profile() -> None:
    """The first threads to ask for the profiles all get every one of them (discovery used to
    mark itself done before importing the modules, so a second thread could see a partial set)."""
    code = textwrap.dedent("""
        import importlib, json, threading
        import kdiag.dataplane.registry as reg
        seen = []
        slow = importlib.import_module
        def import_module(name, package=None):  # widen the window the other thread could slip in
            import time; time.sleep(0.01)
            return slow(name, package)
        reg.importlib = type("shim", (), {"import_module": staticmethod(import_module)})
        go = threading.Barrier(4)
        def ask():
            go.wait()
            seen.append(sorted(p.name for p in reg.profiles()))
        threads = [threading.Thread(target=ask) for _ in range(4)]
        for t in threads: t.start()
        for t in threads: t.join()
        print(json.dumps(seen))
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    seen = json.loads(out.stdout)
    everything = sorted(p.name for p in profiles())
    assert len(seen) == 4 and all(names == everything for names in seen), seen
