"""Why traffic failed during a watch: a pure function from the recorded timeline to findings.

- A failure on a pod (named by the data plane's upstream address, else the pod whose deletion is
  nearest in time) after its deletion began and before its endpoint was gone →
  `pod-terminating-while-serving`, on that pod and container, with the reason its spec gives (no
  preStop delay, a shell as PID 1 that never forwards SIGTERM, a preStop shorter than the routing
  delay) and, for dropped WebSockets, the grace period and close handling.
- The Service's ready endpoints dropping to zero, or one endpoint going not-ready and back twice
  without its pod being deleted → `endpoints-flapping`.
- A failure with no pod or endpoint change near it → `ingress-reload-dropped-connections`: the
  data plane cut it on its own (for ingress-nginx a reload: old workers are stopped after the
  profile's reload-drain setting).
Every finding carries the events that support it in `evidence.events`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from kdiag.findings import make_finding
from kdiag.model import Finding, ObjectRef, Subject
from kdiag.pods.entrypoint import entrypoint_issue, exec_suggestion
from kdiag.pods.spec import grace_period, prestop_delay, probe_kind
from kdiag.watch.timeline import WatchEvent

__all__ = ["SLACK", "attribute", "termination_windows"]

#: Seconds of tolerance between a failure and the change that explains it (watch events arrive a
#: little after the fact; the data plane acts a little after the API).
SLACK = 1.5

_LIFECYCLE = ("pod-terminating", "pod-deleted", "endpoint-not-ready", "endpoint-removed")


def termination_windows(events: Sequence[WatchEvent], end: float) -> dict[str, tuple[float, float]]:
    """pod -> (deletion began, its endpoint removed or the pod gone, else `end`)."""
    began: dict[str, float] = {}
    gone: dict[str, float] = {}
    for e in sorted(events, key=lambda e: e.t):
        if not e.pod:
            continue
        if e.kind == "pod-terminating":
            began.setdefault(e.pod, e.t)
        elif e.kind in ("endpoint-removed", "pod-deleted") and e.pod in began:
            gone.setdefault(e.pod, e.t)
    return {pod: (t0, gone.get(pod, end)) for pod, t0 in began.items()}


def _blame(e: WatchEvent, windows: Mapping[str, tuple[float, float]], slack: float) -> str | None:
    if e.pod is not None:
        w = windows.get(e.pod)
        return e.pod if w is not None and w[0] - slack <= e.t <= w[1] + slack else None
    near = [(abs(e.t - w[0]), pod) for pod, w in windows.items() if w[0] - slack <= e.t <= w[1] + slack]
    return min(near)[1] if near else None


def _container_cause(pod: Mapping[str, Any], windows_s: float) -> tuple[str, str, str]:
    """(container, why it failed, fix) for the first container whose shutdown explains it."""
    spec = pod.get("spec") or {}
    grace = grace_period(spec)
    containers = list(spec.get("containers") or ())
    for c in containers:
        name = str(c.get("name") or "")
        issue = entrypoint_issue(c)
        if issue is not None:
            better = exec_suggestion(c)
            cmd = f" e.g. `command: {better}`" if better else " (`exec` the application from the script)"
            return (name, f"{issue.detail}: SIGTERM never reaches the application, which is killed after "
                          f"the {grace} s grace period without closing its connections",
                    f"Make the application PID 1 in container {name!r}{cmd}, and add a preStop sleep.")
        kind, seconds = prestop_delay(c)
        if kind == "none":
            return (name, "it has no preStop delay, so SIGTERM arrives the moment deletion begins and the "
                          "process exits while the ingress still routes to it",
                    f"Give container {name!r} `lifecycle: {{preStop: {{sleep: {{seconds: 5}}}}}}` (longer than "
                    f"the routing delay seen here, about {max(1.0, windows_s):.0f} s) and keep "
                    f"terminationGracePeriodSeconds ({grace}) above the sleep plus draining.")
        if kind == "sleep" and seconds is not None and seconds < windows_s:
            return (name, f"its preStop sleep ({seconds:g} s) ends before routing moved on (about "
                          f"{windows_s:.1f} s here)",
                    f"Raise the preStop sleep of container {name!r} above {windows_s:.0f} s.")
    name = str(containers[0].get("name") or "") if containers else ""
    return (name, "the application stops serving as soon as it gets SIGTERM",
            f"Make container {name!r} keep serving for a few seconds after SIGTERM (or add a preStop sleep) "
            "and finish in-flight requests before exiting.")


def _pod_findings(failures: Sequence[WatchEvent], events: Sequence[WatchEvent], pods: Mapping[str, Mapping[str, Any]],
                  windows: Mapping[str, tuple[float, float]], slack: float) -> tuple[list[Finding], set[int]]:
    by_pod: dict[str, list[WatchEvent]] = {}
    used: set[int] = set()
    for i, e in enumerate(failures):
        pod = _blame(e, windows, slack)
        if pod is not None:
            by_pod.setdefault(pod, []).append(e)
            used.add(i)
    out: list[Finding] = []
    for pod, fails in sorted(by_pod.items()):
        obj = pods.get(pod) or {}
        t0, t1 = windows[pod]
        container, why, fix = _container_cause(obj, t1 - t0)
        drops = [e for e in fails if e.kind == "connection-dropped"]
        requests = [e for e in fails if e.kind == "request-failed"]
        codes = Counter(str(e.status) for e in drops)
        statuses = Counter(str(e.status) if e.status is not None else "no-answer" for e in requests)
        what = []
        if requests:
            what.append(f"{len(requests)} request(s) failed ({', '.join(f'{k}×{v}' for k, v in statuses.items())})")
        if drops:
            what.append(f"{len(drops)} WebSocket(s) dropped (close codes {', '.join(f'{k}×{v}' for k, v in codes.items())})")
        msg = (f"{' and '.join(what)} on pod {pod} after its deletion began (t={t0:.1f} s) and before its "
               f"endpoint was gone: container {container!r} — {why}.")
        if drops:
            fix += (" WebSockets: on SIGTERM close them with code 1001 so clients reconnect at once, and keep "
                    "terminationGracePeriodSeconds longer than the preStop sleep plus that drain.")
        support = [e for e in events if e.pod == pod and e.kind in _LIFECYCLE] + list(fails)
        ns, _, name = pod.partition("/")
        out.append(make_finding(
            "pod-terminating-while-serving", object=f"Pod {pod}", message=msg, fix=fix,
            subject=Subject(object=ObjectRef("Pod", ns, name)),
            evidence={"pod": pod, "container": container, "failures": len(fails),
                      "close_codes": dict(codes), "statuses": dict(statuses),
                      "terminating_at": round(t0, 2), "endpoint_gone_at": round(t1, 2),
                      "events": [e.to_dict() for e in sorted(support, key=lambda e: e.t)]}))
    return out, used


def _flapping(events: Sequence[WatchEvent], pods: Mapping[str, Mapping[str, Any]], service: str) -> list[Finding]:
    counts = [e for e in events if e.ready is not None]
    zero = [e for e in counts if e.ready == 0]
    terminating = {e.pod for e in events if e.kind == "pod-terminating"}
    flips: Counter[str] = Counter(e.address or "" for e in events
                                  if e.kind == "endpoint-not-ready" and e.pod not in terminating)
    flappers = [a for a, n in flips.items() if n >= 2]
    if not zero and not flappers:
        return []
    probes = sorted({str(probe_kind(c.get("readinessProbe"))) for p in pods.values()
                     for c in (p.get("spec") or {}).get("containers") or ()})
    probe_txt = ", ".join("none" if k == "None" else k for k in probes) or "unknown"
    parts = []
    if zero:
        parts.append(f"ready endpoints dropped to zero {len(zero)} time(s) (first at t={zero[0].t:.1f} s)")
    if flappers:
        parts.append(f"endpoint(s) {', '.join(flappers)} went not-ready repeatedly without being deleted")
    support = [e for e in counts if e.ready == 0 or (e.address in flappers)]
    ns, _, name = service.partition("/")
    return [make_finding(
        "endpoints-flapping", object=f"Service {service}",
        message=f"{'; '.join(parts).capitalize()}. Readiness probes of its pods: {probe_txt}.",
        subject=Subject(object=ObjectRef("Service", ns, name)),
        evidence={"zero_ready": len(zero), "flapping": flappers, "readiness_probes": probes,
                  "events": [e.to_dict() for e in support[:50]]})]


def _reload(failures: Sequence[WatchEvent], events: Sequence[WatchEvent], used: set[int], slack: float,
            reload_setting: str, ingress: str | None) -> list[Finding]:
    changes = [e.t for e in events if e.kind.startswith(("pod-", "endpoint-"))]
    lone = [e for i, e in enumerate(failures) if i not in used and not any(abs(e.t - t) <= slack for t in changes)]
    if not lone:
        return []
    drops = sum(1 for e in lone if e.kind == "connection-dropped")
    msg = (f"{len(lone)} failure(s) ({drops} dropped WebSocket(s)) came with no pod or endpoint change "
           f"within {slack:g} s: the data plane cut them itself, as a controller reload does. {reload_setting}")
    obj = f"Ingress {ingress}" if ingress else ""
    return [make_finding("ingress-reload-dropped-connections", object=obj, message=msg,
                         evidence={"failures": len(lone), "setting": reload_setting,
                                   "events": [e.to_dict() for e in lone[:50]]})]


def attribute(events: Sequence[WatchEvent], pods: Mapping[str, Mapping[str, Any]], *, end: float,
              service: str, ingress: str | None = None, reload_setting: str = "",
              slack: float = SLACK) -> list[Finding]:
    """Findings that explain the failures (and endpoint trouble) of a recorded watch."""
    ordered = sorted(events, key=lambda e: e.t)
    failures = [e for e in ordered if e.failure]
    windows = termination_windows(ordered, end)
    found, used = _pod_findings(failures, ordered, pods, windows, slack)
    found += _flapping(ordered, pods, service)
    found += _reload(failures, ordered, used, slack, reload_setting, ingress)
    return found
