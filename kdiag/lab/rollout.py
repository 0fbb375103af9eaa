"""Rolling updates in the lab: what the Deployment controller, the kubelet, the EndpointSlice
controller and the ingress controller do when a Deployment is restarted, on a running `Lab`.

For every old pod, one at a time (maxSurge 1, maxUnavailable 0):

1. a pod of the new ReplicaSet appears (not ready; its app starts listening on loopback);
2. after `ready_after` it becomes Ready — its endpoint turns ready;
3. the Deployment controller deletes one old pod: it gets a `deletionTimestamp`, its endpoint
   turns not-ready/terminating, and the kubelet runs the container's shutdown:
   - a preStop sleep of S seconds: the app keeps serving S seconds, then gets SIGTERM and drains
     (stops accepting, closes WebSockets with 1001, finishes in-flight requests);
   - no preStop, or a shell as PID 1 (`sh -c`, which never forwards SIGTERM; the lab shortens the
     wait for the SIGKILL to nothing): the app is gone at once, its open connections are cut
     without a close frame (clients see 1006) and new connects are refused;
4. `removal_after` seconds after the app stopped, the pod object is gone (its endpoint removed).

The data plane sees every API change `sync_delay` seconds late (the endpoints controller and the
ingress controller's sync), which is the window in which a pod that exits at once still gets
traffic. Watch clients of the fake API server see all of it as ADDED/MODIFIED/DELETED events.
"""

from __future__ import annotations

import copy
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kdiag.pods.entrypoint import entrypoint_issue
from kdiag.pods.spec import grace_period, prestop_delay

if TYPE_CHECKING:
    from kdiag.lab.scenario_lab import Lab

__all__ = ["UPSTREAM_HEADER", "Rollout", "RolloutTiming", "shutdown_of"]

#: The response header the lab data plane sets with the endpoints it tried ($upstream_addr).
UPSTREAM_HEADER = "X-Upstream-Addr"


@dataclass(frozen=True)
class RolloutTiming:
    ready_after: float = 0.5  # new pod created → Ready
    sync_delay: float = 0.6  # an API change → the data plane routes by it
    removal_after: float = 0.8  # the app stopped → the pod object (and its endpoint) is gone
    #: Cap for a preStop sleep in the lab (a manifest's 10 s would make demos and tests slow).
    max_prestop: float = 3.0


def _now(offset: float = 0.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%SZ")


def shutdown_of(pod: Mapping[str, Any]) -> tuple[str, float]:
    """How the pod's app reacts to deletion: ("drain", preStop seconds) or ("exit", 0.0)."""
    containers = (pod.get("spec") or {}).get("containers") or ()
    for c in containers:
        kind, seconds = prestop_delay(c)
        if kind == "sleep" and seconds and entrypoint_issue(c) is None:
            return "drain", float(seconds)
    return "exit", 0.0


def _md(obj: Mapping[str, Any]) -> dict[str, Any]:
    md = obj.get("metadata")
    return md if isinstance(md, dict) else {}


class Rollout:
    """`kubectl rollout restart deployment/NAME` on a running lab (in a thread of its own)."""

    def __init__(self, lab: Lab, deployment: str, *, namespace: str = "default",
                 timing: RolloutTiming | None = None, new_hash: str | None = None,
                 on_step: Callable[[str], None] | None = None) -> None:
        self.lab, self.deployment, self.namespace = lab, deployment, namespace
        self.timing = timing or RolloutTiming()
        self.new_hash = new_hash or f"{int(time.time() * 1000) % 10**9:09d}"[-9:]
        self.on_step = on_step
        #: (monotonic time, what the lab did): for tests and the demo.
        self.steps: list[tuple[float, str]] = []
        self.done = threading.Event()
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []
        self._thread: threading.Thread | None = None
        self._stopped = False
        #: (when, objects): data-plane syncs, applied in order by one thread (reloads never overlap).
        self._syncs: queue.Queue[tuple[float, list[dict[str, Any]]] | None] = queue.Queue()
        self._syncer: threading.Thread | None = None
        self._settled = 0.0  # when the last old pod object will be gone

    # -- control -------------------------------------------------------------------------------

    def start(self) -> Rollout:
        self._thread = threading.Thread(target=self.run, name="kdiag-lab-rollout", daemon=True)
        self._thread.start()
        return self

    def _sync_loop(self) -> None:
        while True:
            item = self._syncs.get()
            if item is None or self._stopped:
                return
            when, objects = item
            delay = when - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if not self._stopped:
                self.lab.reload_dataplane(objects)

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)

    def stop(self) -> None:
        self._stopped = True
        self._syncs.put(None)
        for t in list(self._timers):
            t.cancel()
        if self._syncer is not None:
            self._syncer.join(5.0)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(5.0)

    # -- the controllers -----------------------------------------------------------------------

    def _note(self, text: str) -> None:
        self.steps.append((time.monotonic(), text))
        if self.on_step is not None:
            self.on_step(text)

    def _later(self, delay: float, fn: Callable[[], None]) -> None:
        if self._stopped:
            return
        t = threading.Timer(delay, fn)
        t.daemon = True
        self._timers.append(t)
        t.start()

    def _publish(self) -> None:
        """The API server sees the world now; the data plane `sync_delay` later."""
        if self._stopped:
            return
        objects = copy.deepcopy(self.lab.objects)
        self.lab.api.set_objects(objects)
        if self._syncer is None:
            self._syncer = threading.Thread(target=self._sync_loop, name="kdiag-lab-sync", daemon=True)
            self._syncer.start()
        self._syncs.put((time.monotonic() + self.timing.sync_delay, objects))

    def _find(self, kind: str, name: str) -> dict[str, Any] | None:
        return next((o for o in self.lab.objects if o.get("kind") == kind and _md(o).get("name") == name
                     and _md(o).get("namespace", "default") == self.namespace), None)

    def _owned_by(self, kind: str, owner: str) -> list[dict[str, Any]]:
        return [o for o in self.lab.objects if o.get("kind") == kind
                and _md(o).get("namespace", "default") == self.namespace
                and any(r.get("name") == owner for r in _md(o).get("ownerReferences") or ())]

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.done.set()
            self._syncs.put(None)

    def _run(self) -> None:
        t = self.timing
        with self._lock:
            deploy = self._find("Deployment", self.deployment)
            if deploy is None:
                raise ValueError(f"no Deployment {self.namespace}/{self.deployment} in the lab")
            old_rs = self._owned_by("ReplicaSet", self.deployment)
            old_pods = [p for rs in old_rs for p in self._owned_by("Pod", _md(rs)["name"])
                        if not _md(p).get("deletionTimestamp")]
            tmpl = deploy["spec"]["template"]
            tmpl.setdefault("metadata", {}).setdefault("annotations", {})[
                "kubectl.kubernetes.io/restartedAt"] = _now()
            new_rs_name = f"{self.deployment}-{self.new_hash}"
            labels = {**(tmpl["metadata"].get("labels") or {}), "pod-template-hash": self.new_hash}
            new_rs: dict[str, Any] = {"kind": "ReplicaSet", "apiVersion": "apps/v1",
                      "metadata": {"name": new_rs_name, "namespace": self.namespace, "labels": labels,
                                   "uid": f"uid-{new_rs_name}", "creationTimestamp": _now(),
                                   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                        "name": self.deployment, "controller": True,
                                                        "uid": _md(deploy).get("uid", "")}]},
                      "spec": {"replicas": 0, "selector": deploy["spec"].get("selector"),
                               "template": copy.deepcopy(tmpl)},
                      "status": {"replicas": 0, "readyReplicas": 0}}
            self.lab.objects.append(new_rs)
            self._publish()
        self._note(f"rollout of deployment/{self.deployment} started: ReplicaSet {new_rs_name}")
        for i, old in enumerate(old_pods):
            if self._stopped:
                return
            new_name = f"{new_rs_name}-{i:x}{self.new_hash[:4]}"
            with self._lock:
                pod = self._new_pod(old, new_name, new_rs, labels, i)
                self.lab.objects.append(pod)
                new_rs["spec"]["replicas"] = new_rs["status"]["replicas"] = i + 1
                self._publish()
            self._note(f"pod {new_name} created")
            time.sleep(t.ready_after)
            with self._lock:
                self._set_ready(pod, True)
                new_rs["status"]["readyReplicas"] = i + 1
                self._publish()
            self._note(f"pod {new_name} ready")
            self._delete(old)
        while not self._stopped and time.monotonic() < self._settled + t.sync_delay:  # old pods gone, synced
            time.sleep(0.05)
        self._note(f"rollout of deployment/{self.deployment} finished")

    def _new_pod(self, old: Mapping[str, Any], name: str, rs: dict[str, Any], labels: Mapping[str, str],
                 i: int) -> dict[str, Any]:
        pod = copy.deepcopy(dict(old))
        md = pod["metadata"]
        old_name = md["name"]
        md.update({"name": name, "uid": f"uid-{name}", "labels": dict(labels), "creationTimestamp": _now(),
                   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs["metadata"]["name"],
                                        "uid": rs["metadata"]["uid"], "controller": True}]})
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "resourceVersion"):
            md.pop(k, None)
        pod["spec"] = copy.deepcopy(rs["spec"]["template"].get("spec") or pod.get("spec") or {})
        pod["spec"]["nodeName"] = "lab-node-1"
        pod.setdefault("status", {})["podIP"] = f"10.244.2.{(int(self.new_hash[-2:]) + i) % 250 + 2}"
        self._set_ready(pod, False)
        for port in self.lab.pod_ports(self.namespace, old_name):
            self.lab.copy_listener(self.namespace, old_name, name, port)
        return pod

    @staticmethod
    def _set_ready(pod: dict[str, Any], ready: bool) -> None:
        status = pod.setdefault("status", {})
        cond = "True" if ready else "False"
        status["phase"] = "Running"
        status["conditions"] = [{"type": "Ready", "status": cond}, {"type": "ContainersReady", "status": cond},
                                {"type": "PodScheduled", "status": "True"}]
        for cs in status.get("containerStatuses") or ():
            cs["ready"] = ready

    def _delete(self, old: dict[str, Any]) -> None:
        t = self.timing
        name = _md(old)["name"]
        mode, prestop = shutdown_of(old)
        grace = grace_period(old.get("spec") or {})
        with self._lock:
            _md(old)["deletionTimestamp"] = _now(grace)
            _md(old)["deletionGracePeriodSeconds"] = grace
            for rs in self.lab.objects:
                if rs.get("kind") == "ReplicaSet" and any(
                        r.get("name") == _md(rs).get("name") for r in _md(old).get("ownerReferences") or ()):
                    n = max(0, int(rs["spec"].get("replicas") or 0) - 1)
                    rs["spec"]["replicas"] = rs["status"]["replicas"] = rs["status"]["readyReplicas"] = n
            self._publish()
        ports = self.lab.pod_ports(self.namespace, name)
        if mode == "drain":
            stop_after = min(prestop, t.max_prestop)
            self._note(f"pod {name} terminating: preStop sleep {prestop:g} s, then SIGTERM and drain")
            self._later(stop_after, lambda: self._terminate(name, ports, drain=True))
        else:
            self._note(f"pod {name} terminating: SIGTERM, the app exits at once")
            self._terminate(name, ports, drain=False)
            stop_after = 0.0
        self._settled = max(self._settled, time.monotonic() + stop_after + t.removal_after)
        self._later(stop_after + t.removal_after, lambda: self._remove(name))

    def _terminate(self, name: str, ports: list[int], *, drain: bool) -> None:
        for port in ports:
            self.lab.terminate_listener(self.namespace, name, port, drain=drain)
        self._note(f"pod {name} app stopped ({'drained' if drain else 'connections cut'})")

    def _remove(self, name: str) -> None:
        with self._lock:
            self.lab.objects[:] = [o for o in self.lab.objects if not (
                o.get("kind") == "Pod" and _md(o).get("name") == name
                and _md(o).get("namespace", "default") == self.namespace)]
            self._publish()
        self._note(f"pod {name} deleted")
