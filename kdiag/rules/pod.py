"""Static rules for the pod hop: live status (ready, crash loops, image pulls) and pod-spec hygiene."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from kdiag.catalog import get_check
from kdiag.model import Finding
from kdiag.pods.entrypoint import entrypoint_issue, exec_suggestion
from kdiag.pods.readiness import pod_is_ready, pod_ready_condition
from kdiag.pods.selection import SpecHolder, services_selecting, serving_containers, spec_holders
from kdiag.pods.spec import grace_period, prestop_delay, probe_kind
from kdiag.rules import RuleContext, rule
from kdiag.shape import MALFORMED, guarded
from kdiag.snapshot import Snapshot, obj_key, obj_ref

__all__ = [
    "crash_looping",
    "exit_code_meaning",
    "image_pull_failed",
    "missing_pull_secrets",
    "no_graceful_shutdown",
    "not_ready",
    "readiness_probe_missing",
    "readiness_probe_tcp",
    "shell_entrypoint",
]

_PULL_REASONS = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                           "RegistryUnavailable"})
#: A container that restarted this often without being in CrashLoopBackOff right now is flaky.
RESTART_WARN = 3


def _statuses(pod: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    status = pod.get("status") or {}
    return list(status.get("initContainerStatuses") or ()) + list(status.get("containerStatuses") or ())


def _live_pods(ctx: RuleContext) -> Iterator[Mapping[str, Any]]:
    """Pods that carry a status (live snapshots and `kubectl get -o yaml` dumps)."""
    for pod in ctx.snapshot.list("Pod"):
        if pod.get("status") and isinstance(pod.get("status"), Mapping):
            yield pod


def _last_event(snap: Snapshot, obj: Mapping[str, Any], reason: str, prefix: str = "") -> str | None:
    """The message of the newest Event of this reason about the object (bounded for messages)."""
    events = [e for e in snap.events_for(obj)
              if e.get("reason") == reason and str(e.get("message") or e.get("note") or "").startswith(prefix)]
    if not events:
        return None

    def when(e: Mapping[str, Any]) -> str:
        return str(e.get("lastTimestamp") or e.get("eventTime") or e.get("deprecatedLastTimestamp") or "")

    newest = max(events, key=when)
    count = newest.get("count") or (newest.get("series") or {}).get("count")
    text = str(newest.get("message") or newest.get("note") or "").strip()[:200]
    return f"{text} (×{count})" if isinstance(count, int) and count > 1 else text


def exit_code_meaning(code: int | None, reason: str | None) -> str:
    """A short human reading of a container's exit code."""
    if reason == "OOMKilled":
        return "killed for exceeding its memory limit (OOMKilled)"
    if code is None:
        return ""
    if code == 137:
        return "killed by SIGKILL (137: out of memory, or it ignored SIGTERM until the grace period ended)"
    if code == 143:
        return "stopped by SIGTERM (143)"
    if code == 139:
        return "segmentation fault (139)"
    if code in (126, 127):
        return f"the command could not be run ({code}: not executable or not found)"
    if code == 0:
        return "exited successfully (0), but a Deployment's container must keep running"
    return f"exited with code {code}"


# -- live status -----------------------------------------------------------------------------


@rule("pod-not-ready")
def not_ready(ctx: RuleContext) -> Iterator[Finding]:
    yield from guarded(_live_pods(ctx), lambda item: _not_ready_one(ctx, item))


def _not_ready_one(ctx: RuleContext, pod: Mapping[str, Any]) -> Iterator[Finding]:
    snap = ctx.snapshot
    md = pod.get("metadata") or {}
    status = pod.get("status") or {}
    if md.get("deletionTimestamp") or status.get("phase") == "Succeeded":
        return
    _kind, ns, name = obj_key(pod)
    services = services_selecting(snap, ns, md.get("labels") or {})
    if not services or pod_is_ready(pod):
        return
    selected = {id(v.pod): v.pod for s in services for v in snap.pods_for_service(s) if v.pod is not None}
    peers = [p for p in selected.values()
             if p is not pod and p.get("status")
             and pod_is_ready(p) and not (p.get("metadata") or {}).get("deletionTimestamp")]
    spec = pod.get("spec") or {}
    probed = {c.get("name"): bool(c.get("readinessProbe"))
              for c in list(spec.get("containers") or ()) + list(spec.get("initContainers") or ())}
    reasons: list[str] = []
    for cs in _statuses(pod):
        if cs.get("ready"):
            continue
        state = cs.get("state") or {}
        if "waiting" in state:
            w = state.get("waiting") or {}
            reasons.append(f"container {cs.get('name')!r} is waiting ({w.get('reason') or 'no reason'})")
        elif "terminated" in state:
            t = state.get("terminated") or {}
            reasons.append(f"container {cs.get('name')!r} terminated ({t.get('reason') or 'exit ' + str(t.get('exitCode'))})")
        elif probed.get(cs.get("name")):
            reasons.append(f"container {cs.get('name')!r} is running but its readiness probe does not pass")
        else:
            reasons.append(f"container {cs.get('name')!r} is running but not ready yet")
    phase = status.get("phase") or "Unknown"
    if phase == "Pending" and not reasons:
        sched = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"
                      and c.get("status") == "False"), None)
        reasons.append(f"not scheduled: {sched.get('message') or sched.get('reason')}" if sched
                       else "pending")
    cond = pod_ready_condition(pod) or {}
    if not reasons and cond.get("message"):
        reasons.append(str(cond.get("message")))
    probe_event = _last_event(snap, pod, "Unhealthy", "Readiness probe")
    if probe_event:
        reasons.append(f"last event: {probe_event}")
    svc_names = ", ".join(f"{ns}/{obj_key(s)[2]}" for s in services)
    tail = (f"{len(peers)} other pod{'s' if len(peers) != 1 else ''} of the Service "
            f"{'are' if len(peers) != 1 else 'is'} Ready and carry the traffic" if peers
            else "no other pod of the Service is Ready, so the Service has no endpoint to send traffic to")
    msg = (f"Pod {ns}/{name} (phase {phase}) is not Ready, so Service {svc_names} does not send it "
           f"traffic: {'; '.join(reasons) or 'no reason reported'}; {tail}.")
    yield ctx.finding("pod-not-ready", pod, msg, severity="warning" if peers else "error",
                      evidence={"phase": phase, "services": [obj_key(s)[2] for s in services],
                                "ready_peers": len(peers)})


@rule("pod-crash-looping")
def crash_looping(ctx: RuleContext) -> Iterator[Finding]:
    yield from guarded(_live_pods(ctx), lambda item: _crash_looping_one(ctx, item))


def _crash_looping_one(ctx: RuleContext, pod: Mapping[str, Any]) -> Iterator[Finding]:
    _kind, ns, name = obj_key(pod)
    for cs in _statuses(pod):
        restarts = int(cs.get("restartCount") or 0)
        waiting = (cs.get("state") or {}).get("waiting") or {}
        looping = waiting.get("reason") == "CrashLoopBackOff"
        if not looping and restarts < RESTART_WARN:
            continue
        last = (cs.get("lastState") or {}).get("terminated") or {}
        code = last.get("exitCode")
        meaning = exit_code_meaning(code if isinstance(code, int) else None, last.get("reason"))
        last_txt = ""
        if last:
            when = f" at {last['finishedAt']}" if last.get("finishedAt") else ""
            last_txt = (f"; its last run ended{when}: {last.get('reason') or 'terminated'}"
                        f"{', ' + meaning if meaning else ''}")
        state = "is in CrashLoopBackOff" if looping else "keeps restarting"
        msg = (f"Container {cs.get('name')!r} of Pod {ns}/{name} {state}: restarted {restarts} "
               f"time{'s' if restarts != 1 else ''}{last_txt}. See its previous output with "
               f"`kubectl logs -n {ns} {name} -c {cs.get('name')} --previous`.")
        yield ctx.finding("pod-crash-looping", pod, msg,
                          severity="error" if looping else "warning",
                          evidence={"container": cs.get("name"), "restartCount": restarts,
                                    "exitCode": code, "reason": last.get("reason")})


def _missing_pull_secrets(ctx: RuleContext, spec: Mapping[str, Any], ns: str) -> list[str]:
    snap = ctx.snapshot
    if not snap.readable("Secret"):
        return []
    names = [str((s or {}).get("name")) for s in spec.get("imagePullSecrets") or () if (s or {}).get("name")]
    return [n for n in names if snap.get("Secret", ns, n) is None]


def _pull_failing(pod: Mapping[str, Any]) -> bool:
    return any(((cs.get("state") or {}).get("waiting") or {}).get("reason") in _PULL_REASONS
               for cs in _statuses(pod))


@rule("pod-image-pull-failed")
def image_pull_failed(ctx: RuleContext) -> Iterator[Finding]:
    yield from guarded(_live_pods(ctx), lambda item: _image_pull_failed_one(ctx, item))


def _image_pull_failed_one(ctx: RuleContext, pod: Mapping[str, Any]) -> Iterator[Finding]:
    _kind, ns, name = obj_key(pod)
    for cs in _statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") not in _PULL_REASONS:
            continue
        missing = _missing_pull_secrets(ctx, pod.get("spec") or {}, ns)
        hint = (f" The pod's imagePullSecrets refer to {', '.join(repr(m) for m in missing)}, but "
                f"no such Secret exists in namespace {ns}." if missing else "")
        detail = str(waiting.get("message") or "")[:300]
        msg = (f"Container {cs.get('name')!r} of Pod {ns}/{name} cannot pull its image "
               f"{cs.get('image') or ''} ({waiting.get('reason')}"
               f"{': ' + detail if detail else ''}).{hint}")
        yield ctx.finding("pod-image-pull-failed", pod, msg,
                          evidence={"container": cs.get("name"), "image": cs.get("image"),
                                    "reason": waiting.get("reason"), "missing_secrets": missing})


@rule("pod-image-pull-failed")
def missing_pull_secrets(ctx: RuleContext) -> Iterator[Finding]:
    yield from guarded(spec_holders(ctx.snapshot), lambda item: _missing_pull_secrets_one(ctx, item))


def _missing_pull_secrets_one(ctx: RuleContext, holder: SpecHolder) -> Iterator[Finding]:
    live = ctx.snapshot.source.kind == "cluster"
    missing = _missing_pull_secrets(ctx, holder.spec, holder.namespace)
    if not missing or _pull_failing(holder.obj):
        return  # a failing pull is reported, with the missing Secret, by image_pull_failed
    names = ", ".join(repr(n) for n in missing)
    if live:
        msg = (f"{holder.ref} lists imagePullSecrets {names}, but no such Secret exists in namespace "
               f"{holder.namespace}: pulls of a private image fail (ErrImagePull) on every node "
               "that does not have the image cached yet.")
        severity = "warning"
    else:
        msg = (f"{holder.ref} lists imagePullSecrets {names}, but these manifests hold no Secret of "
               f"that name. If it is created separately (kubectl create secret docker-registry), make "
               f"sure it exists in namespace {holder.namespace}; otherwise pulls of a private image "
               "fail with ErrImagePull.")
        severity = "info"
    yield ctx.finding("pod-image-pull-failed", holder.obj, msg, severity=severity,  # type: ignore[arg-type]
                      evidence={"missing_secrets": missing})


# -- pod spec hygiene (templates and pods alike) ---------------------------------------------


#: (holder, Services selecting it, its serving containers, whether those could be identified).
Served = tuple[SpecHolder, list[Mapping[str, Any]], list[Mapping[str, Any]], bool]


def _served(ctx: RuleContext) -> Iterator[Served]:
    """Spec holders a Service selects: (holder, services, serving containers, identified)."""
    for holder in spec_holders(ctx.snapshot):
        try:
            services = services_selecting(ctx.snapshot, holder.namespace, holder.labels)
            if not services:
                continue
            containers, identified = serving_containers(holder.spec, services)
        except MALFORMED:
            continue  # too malformed to judge; manifest-invalid speaks about it
        yield holder, services, containers, identified


def _svc_names(services: list[Mapping[str, Any]]) -> str:
    return ", ".join(obj_ref(s).split(" ", 1)[1] for s in services)


@rule("pod-readiness-probe-missing")
def readiness_probe_missing(ctx: RuleContext) -> Iterator[Finding]:
    yield from guarded(_served(ctx), lambda item: _readiness_probe_missing_one(ctx, item))


def _readiness_probe_missing_one(ctx: RuleContext, item: Served) -> Iterator[Finding]:
    holder, services, containers, identified = item
    if not identified and any((c.get("readinessProbe")) for c in holder.spec.get("containers") or ()):
        return  # some container gates readiness and kdiag cannot tell which one serves
    for c in containers:
        if c.get("readinessProbe"):
            continue
        msg = (f"Container {c.get('name')!r} of {holder.ref} serves Service {_svc_names(services)} but "
               "has no readinessProbe: Kubernetes counts it Ready as soon as it starts, so new pods get "
               "requests before the application listens (502/503 during every rollout and restart).")
        yield ctx.finding("pod-readiness-probe-missing", holder.obj, msg,
                          evidence={"container": c.get("name"), "services": _svc_names(services)})


@rule("pod-readiness-probe-tcp")
def readiness_probe_tcp(ctx: RuleContext) -> Iterator[Finding]:
    yield from guarded(_served(ctx), lambda item: _readiness_probe_tcp_one(ctx, item))


def _readiness_probe_tcp_one(ctx: RuleContext, item: Served) -> Iterator[Finding]:
    holder, services, containers, _identified = item
    for c in containers:
        probe = c.get("readinessProbe")
        if probe_kind(probe) != "tcpSocket":
            continue
        port = ((probe or {}).get("tcpSocket") or {}).get("port")
        msg = (f"Container {c.get('name')!r} of {holder.ref} (behind Service {_svc_names(services)}) "
               f"only checks that port {port} accepts TCP connections: a process that has opened "
               "its socket but is still initialising, or is deadlocked, passes and receives traffic. "
               "Use an httpGet readinessProbe on a health endpoint.")
        yield ctx.finding("pod-readiness-probe-tcp", holder.obj, msg,
                          evidence={"container": c.get("name"), "port": port})


@rule("pod-no-graceful-shutdown")
def no_graceful_shutdown(ctx: RuleContext) -> Iterator[Finding]:
    yield from guarded(_served(ctx), lambda item: _no_graceful_shutdown_one(ctx, item))


def _no_graceful_shutdown_one(ctx: RuleContext, item: Served) -> Iterator[Finding]:
    holder, services, containers, _identified = item
    grace = grace_period(holder.spec)
    for c in containers:
        kind, seconds = prestop_delay(c)
        evidence = {"container": c.get("name"), "terminationGracePeriodSeconds": grace,
                    "preStop": kind, "preStopSeconds": seconds}
        if kind == "none":
            grace_txt = (f"terminationGracePeriodSeconds is {grace}" if grace else
                         "terminationGracePeriodSeconds is 0 (immediate SIGKILL)")
            msg = (f"Container {c.get('name')!r} of {holder.ref} (behind Service {_svc_names(services)}) "
                   f"has no preStop delay ({grace_txt}): when a pod is deleted, SIGTERM is sent at the "
                   "same moment the endpoint is removed, and kube-proxy and the ingress controller "
                   "keep sending requests for a few seconds, which fail once the process exits.")
            yield ctx.finding("pod-no-graceful-shutdown", holder.obj, msg, evidence=evidence)
        elif kind == "sleep" and seconds is not None and seconds >= grace:
            msg = (f"Container {c.get('name')!r} of {holder.ref} sleeps {seconds:g} s in preStop but "
                   f"terminationGracePeriodSeconds is only {grace}: the grace period counts from before "
                   "the hook, so the container is killed before the application can finish its "
                   "in-flight requests.")
            yield ctx.finding("pod-no-graceful-shutdown", holder.obj, msg, evidence=evidence)


@rule("pod-shell-entrypoint")
def shell_entrypoint(ctx: RuleContext) -> Iterator[Finding]:
    yield from guarded(spec_holders(ctx.snapshot), lambda item: _shell_entrypoint_one(ctx, item))


def _shell_entrypoint_one(ctx: RuleContext, holder: SpecHolder) -> Iterator[Finding]:
    for c in holder.spec.get("containers") or ():
        issue = entrypoint_issue(c)
        if issue is None:
            continue
        if issue.kind == "script":
            msg = (f"Container {c.get('name')!r} of {holder.ref} starts with `{issue.shown}`: "
                   f"{issue.detail}. Unless the script ends with `exec <your program>`, the shell stays "
                   "PID 1, does not forward SIGTERM, and the application is SIGKILLed when the grace "
                   "period ends (kdiag cannot see inside the script).")
            severity = "warning"
        elif issue.kind == "shell-compound":
            msg = (f"Container {c.get('name')!r} of {holder.ref} runs `{issue.shown}`: {issue.detail}. "
                   "The shell does not forward SIGTERM, so the application never shuts down "
                   "gracefully and is SIGKILLed when the grace period ends. Prefix the last command "
                   "with `exec`.")
            severity = "warning"
        else:
            msg = (f"Container {c.get('name')!r} of {holder.ref} runs `{issue.shown}`: {issue.detail}. "
                   "Write `exec` before the command (or drop the shell) so the application is PID 1 "
                   "and receives SIGTERM.")
            severity = "info"
        if issue.args_only:
            msg += (" The manifest sets only args, so this holds only if the image has no "
                    "ENTRYPOINT of its own (kdiag cannot see the image).")
            severity = "info"
        yield ctx.finding("pod-shell-entrypoint", holder.obj, msg, severity=severity,  # type: ignore[arg-type]
                          evidence={"container": c.get("name"), "command": issue.shown,
                                    "kind": issue.kind},
                          fix=_exec_fix(c))


def _exec_fix(container: Mapping[str, Any]) -> str | None:
    """The catalog fix, preceded by the rewritten command for this container when kdiag can make one."""
    suggestion = exec_suggestion(container) if container.get("command") else None
    if suggestion is None:  # (with args only, a new command would also replace the image's ENTRYPOINT)
        return None
    drop_args = "\n# and remove `args:` (now part of the command)" if container.get("args") else ""
    return (f"For container {container.get('name')!r}:\n\n```yaml\ncommand: {json.dumps(suggestion)}"
            f"{drop_args}\n```\n\n{get_check('pod-shell-entrypoint').fix}")
