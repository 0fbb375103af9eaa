"""`kdiag demo`: start the lab for a scenario, hand a session on it to the TUI, tear down on exit.

No cluster, Docker, root or nginx is needed: the lab is a fake API server, loopback app servers
and a Python emulation of ingress-nginx, all on 127.0.0.1 (the HAProxy stories run real HAProxy,
which has no emulation: `Lab` says how to install it when it is missing). The lab never imports
the TUI: the caller passes `open_tui` (the CLI passes the TUI's `open_demo`).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from kdiag.lab.scenario_lab import HAPROXY_FLAVORS
from kdiag.lab.scenarios import SCENARIOS, Scenario, get_scenario

if TYPE_CHECKING:
    from kdiag.diagnose import ClusterSession
    from kdiag.lab.scenario_lab import Lab
    from kdiag.session import WalkRequest

__all__ = ["DEFAULT_SCENARIO", "OpenTui", "demo_request", "demo_session", "lab_session", "run_demo",
           "scenario_table", "start_rollout"]

#: Opens the TUI on a demo session with a walk of the scenario's URL; returns when it quits.
OpenTui = Callable[["ClusterSession", "WalkRequest"], None]

DEFAULT_SCENARIO = "target-port-mismatch"
#: `kdiag demo --serve` on a rollout scenario restarts its Deployment this often (seconds).
ROLLOUT_EVERY = 15.0


def scenario_table() -> str:
    width = max(len(n) for n in SCENARIOS)
    lines = [f"Scenarios (kdiag demo NAME; the default is {DEFAULT_SCENARIO}):", ""]
    for s in SCENARIOS.values():
        expect = f"{s.expect_hop} / {s.expect_check}" if s.expect_check else "no problem"
        lines.append(f"  {s.name:<{width}}  {s.title}")
        lines.append(f"  {'':<{width}}  {s.story}")
        lines.append(f"  {'':<{width}}  opens on {s.url}  → expected: {expect}")
        if s.data_plane in HAPROXY_FLAVORS:
            lines.append(f"  {'':<{width}}  runs real HAProxy (apt-get install haproxy)")
        lines.append("")
    return "\n".join(lines)


def demo_request(scenario: Scenario) -> WalkRequest:
    from kdiag.session import WalkRequest

    return WalkRequest(url=scenario.url, headers=dict(scenario.headers), client_url=scenario.client_url,
                       page_url=scenario.page_url, idle=scenario.idle)


def lab_session(lab: Lab) -> ClusterSession:
    """A ClusterSession on a running lab (what the TUI and the scenario tests use)."""
    from kdiag.diagnose import ClusterSession
    from kdiag.kube import Kube

    kube = Kube.connect(kubeconfig=str(lab.kubeconfig), context="kdiag-lab", namespace="default")
    session = ClusterSession(kube, kubeconfig=str(lab.kubeconfig), source_kind="demo",
                             title=f"demo: {lab.scenario.name} — {lab.scenario.title}", contexts=["kdiag-lab"])
    if lab.scenario.rollout:  # the TUI's watch screen starts it with `r`
        setattr(session, "start_rollout", lambda: start_rollout(lab))  # noqa: B010 - an optional extra
    return session


def start_rollout(lab: Lab) -> None:
    """`kubectl rollout restart` of the scenario's Deployment, in the lab (returns at once)."""
    from kdiag.lab.rollout import Rollout

    if lab.scenario.rollout:
        Rollout(lab, lab.scenario.rollout).start()


@contextlib.contextmanager
def demo_session(scenario: Scenario) -> Iterator[ClusterSession]:
    """Start the lab for `scenario` and yield a session on it; the lab stops on exit."""
    from kdiag.lab.scenario_lab import Lab

    with Lab(scenario) as lab:
        session = lab_session(lab)
        try:
            yield session
        finally:
            session.kube.close()


def _serve(scenario: Scenario) -> int:
    from kdiag.lab.scenario_lab import Lab

    with Lab(scenario) as lab:
        print(f"kdiag demo: scenario {scenario.name!r} is running ({scenario.title}).")
        entry = "gateway data plane" if scenario.kind == "gateway" else "ingress controller"
        print(f"  kubeconfig: {lab.kubeconfig}")
        print(f"  API server: {lab.api_url}   {entry}: 127.0.0.1:{lab.ingress_port} (NodePort)")
        print("Try:")
        print(f"  export KUBECONFIG={lab.kubeconfig}")
        policies = "clienttrafficpolicies,backendtrafficpolicies," if scenario.data_plane == "envoy-gateway" else ""
        print("  kubectl get " + (f"gatewayclass,gateways,httproutes,{policies}svc,pods -A" if scenario.kind == "gateway"
                                  else "ingress,svc,pods,endpointslices"))
        extra = "".join(f" -H '{k}: {v}'" for k, v in scenario.headers.items())
        if scenario.client_url:
            extra += f" --client-url {scenario.client_url}"
        if scenario.idle:
            extra += f" --idle {scenario.idle:g}"
        print(f"  kdiag diagnose {scenario.url}{extra}")
        print("  kdiag")
        if scenario.rollout:
            print(f"  kdiag watch {scenario.url} --rate 20/s --duration 30    "
                  f"(the lab restarts deployment/{scenario.rollout} every {ROLLOUT_EVERY:g} s)")
        print("Press Ctrl-C to stop the lab.", flush=True)
        try:
            while True:
                if scenario.rollout:
                    time.sleep(ROLLOUT_EVERY)
                    start_rollout(lab)
                    continue
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nkdiag demo: lab stopped.", file=sys.stderr)
    return 0


def run_demo(*, scenario: str | None, list_only: bool, serve: bool, open_tui: OpenTui) -> int:
    if list_only:
        print(scenario_table())
        return 0
    sc = get_scenario(scenario or DEFAULT_SCENARIO)
    if serve:
        return _serve(sc)
    with demo_session(sc) as session:
        open_tui(session, demo_request(sc))
    return 0
