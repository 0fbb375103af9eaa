"""Pure helpers about pod specs and pod status: ports, probes, shutdown hooks, entrypoints, readiness."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from kdiag.model import Finding
from kdiag.snapshot import Snapshot, labels_match, obj_key

__all__ = [
    "DEFAULT_GRACE_SECONDS",
    "MALFORMED",
    "ContainerPort",
    "EntrypointIssue",
    "SpecHolder",
    "container_ports",
    "endpoint_counts",
    "entrypoint_issue",
    "exec_suggestion",
    "fmt_labels",
    "grace_period",
    "guarded",
    "mappings",
    "pod_is_ready",
    "pod_ready_condition",
    "pod_template_replicas",
    "prestop_delay",
    "probe_kind",
    "serving_containers",
    "services_selecting",
    "spec_holders",
]

#: Kubernetes' default `terminationGracePeriodSeconds`.
DEFAULT_GRACE_SECONDS = 30

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
_INITS = frozenset({"tini", "dumb-init", "catatonit", "s6-svscan", "supervisord", "runsvdir"})
_COMPOUND = re.compile(r"(;|&&|\|\||\||\n|&\s*$|&\s+\w)")


@dataclass(frozen=True)
class ContainerPort:
    """One declared containerPort, with the container that declares it."""

    container: str
    port: int
    name: str
    protocol: str


def container_ports(spec: Mapping[str, Any]) -> list[ContainerPort]:
    """Declared ports of the containers, plus sidecar init containers (restartPolicy: Always)."""
    containers = mappings(spec.get("containers"))
    containers += [c for c in mappings(spec.get("initContainers")) if c.get("restartPolicy") == "Always"]
    out: list[ContainerPort] = []
    for c in containers:
        for p in mappings(c.get("ports")):
            try:
                num = int(p.get("containerPort"))  # type: ignore[arg-type]  # bad values raise, caught
            except (TypeError, ValueError):
                continue
            out.append(ContainerPort(str(c.get("name", "")), num, str(p.get("name") or ""),
                                     str(p.get("protocol") or "TCP")))
    return out


def _m(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def fmt_labels(labels: Mapping[str, Any]) -> str:
    """`k=v, k2=v2` for messages."""
    return ", ".join(f"{k}={v}" for k, v in labels.items()) or "(none)"


def probe_kind(probe: Mapping[str, Any] | None) -> str | None:
    """The handler of a probe: httpGet | tcpSocket | exec | grpc, or None when there is no probe."""
    if not probe:
        return None
    for kind in ("httpGet", "tcpSocket", "exec", "grpc"):
        if probe.get(kind) is not None:
            return kind
    return "unknown"


def grace_period(spec: Mapping[str, Any]) -> int:
    """`terminationGracePeriodSeconds`, with the Kubernetes default of 30."""
    value = spec.get("terminationGracePeriodSeconds")
    try:
        return DEFAULT_GRACE_SECONDS if value is None else int(value)
    except (TypeError, ValueError):
        return DEFAULT_GRACE_SECONDS


def _parse_seconds(text: str) -> float | None:
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)?", text.strip())
    if not m:
        return None
    return float(m.group(1)) * (60 if m.group(2) == "m" else 1)


def prestop_delay(container: Mapping[str, Any]) -> tuple[str, float | None]:
    """How the container's preStop hook delays shutdown.

    Returns (kind, seconds): kind is "none" (no preStop), "sleep" (the `sleep` action or an exec
    that runs `sleep N`; seconds may be None when N cannot be read), "exec" (a command that does
    not sleep: kdiag cannot judge it) or "httpGet".
    """
    pre = ((container.get("lifecycle") or {}).get("preStop")) or {}
    if not pre:
        return "none", None
    if pre.get("sleep") is not None:
        try:
            return "sleep", float((pre.get("sleep") or {}).get("seconds"))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return "sleep", None
    if pre.get("exec") is not None:
        cmd = " ".join(str(x) for x in (pre.get("exec") or {}).get("command") or ())
        m = re.search(r"\bsleep\s+(\S+)", cmd)
        if m:
            return "sleep", _parse_seconds(m.group(1).strip("'\";"))
        return "exec", None
    if pre.get("httpGet") is not None:
        return "httpGet", None
    return "exec", None


@dataclass(frozen=True)
class EntrypointIssue:
    """Why a container's PID 1 may not pass SIGTERM to the application."""

    kind: str  # "shell-compound" | "shell-simple" | "script"
    shown: str  # the command line as the manifest shows it
    detail: str
    #: True when the manifest sets only `args`: the image's ENTRYPOINT (invisible here) runs first.
    args_only: bool = False


def _argv(container: Mapping[str, Any]) -> list[str]:
    return [str(x) for x in (container.get("command") or [])] + [str(x) for x in (container.get("args") or [])]


def _base(word: str) -> str:
    return word.rsplit("/", 1)[-1]


def entrypoint_issue(container: Mapping[str, Any]) -> EntrypointIssue | None:
    """A shell or start script as PID 1 without `exec`, judged only from command/args.

    Without command/args the image's ENTRYPOINT/CMD run, which a manifest cannot show: None.
    """
    argv = _argv(container)
    if not argv:
        return None
    if not container.get("command"):
        issue = entrypoint_issue({"command": argv})
        return None if issue is None else EntrypointIssue(issue.kind, issue.shown, issue.detail, True)
    shown = shlex.join(argv) if len(" ".join(argv)) < 200 else " ".join(argv)[:200] + "…"
    first = _base(argv[0])
    if first in _INITS:
        return None
    if first == "env":  # env [-i] VAR=x sh -c ...
        i = 1
        while i < len(argv) and (argv[i].startswith("-") or "=" in argv[i]):
            i += 1
        return entrypoint_issue({"command": argv[i:]}) if i < len(argv) else None
    if first in _SHELLS:
        flags = [a for a in argv[1:] if a.startswith("-") and not a.startswith("--")]
        if not any("c" in f.lstrip("-") for f in flags):
            # `sh /start.sh`: the shell runs a script file
            scripts = [a for a in argv[1:] if not a.startswith("-")]  # (long options skipped)
            if scripts:
                return EntrypointIssue("script", shown, f"{first} runs the script {scripts[0]} as PID 1")
            return None
        idx = next(i for i, a in enumerate(argv) if a in flags and "c" in a.lstrip("-"))
        script = argv[idx + 1] if idx + 1 < len(argv) else ""
        stripped = script.strip()
        if re.search(r"(^|[;&|\n]\s*|\s)exec\s", " " + stripped):
            return None
        if _COMPOUND.search(stripped):
            return EntrypointIssue("shell-compound", shown,
                                   f"`{first} -c` runs several commands, so {first} stays PID 1 "
                                   "and the application is its child")
        words = stripped.split()
        if words and words[0].endswith(".sh"):
            return EntrypointIssue("script", shown,
                                   f"`{first} -c` starts the script {words[0]}")
        return EntrypointIssue("shell-simple", shown,
                               f"`{first} -c` runs a single command; some shells (bash) replace "
                               "themselves with it, others (busybox ash, older dash) keep running "
                               "as PID 1")
    if first.endswith(".sh"):
        return EntrypointIssue("script", shown, f"the start script {argv[0]} is PID 1")
    return None


_SHELL_SYNTAX = re.compile(r"[$`*?~<>|&;(){}\[\]'\"\\\n=]")


def exec_suggestion(container: Mapping[str, Any]) -> list[str] | None:
    """A command line that makes the application PID 1, derived from a `sh -c` command.

    A lone command without shell syntax becomes the exec form (no shell at all); otherwise `exec`
    is put before the last command after the last `&&`, `;` or newline. None when kdiag cannot
    rewrite it safely (pipes, `||`, background jobs, a script file).
    """
    argv = _argv(container)
    if not argv or _base(argv[0]) not in _SHELLS:
        return None
    idx = next((i for i, a in enumerate(argv[1:], start=1)
                if a.startswith("-") and not a.startswith("--") and "c" in a.lstrip("-")), None)
    if idx is None or idx + 1 >= len(argv):
        return None
    script = argv[idx + 1].strip()
    if not script or re.search(r"(^|\s)exec\s", script):
        return None
    if not _COMPOUND.search(script):
        if re.match(r"[A-Za-z_]\w*=", script):
            return None  # `VAR=x cmd`: exec would treat the assignment as the program
        if not _SHELL_SYNTAX.search(script):
            return shlex.split(script) + argv[idx + 2:]
        return argv[: idx + 1] + [f"exec {script}"] + argv[idx + 2:]
    cuts = [(script.rfind(sep) + len(sep), sep) for sep in ("&&", ";", "\n") if sep in script]
    if not cuts:
        return None
    pos, sep = max(cuts)
    tail = script[pos:]
    if not tail.strip() or "|" in tail or "&" in tail or re.match(r"\s*[A-Za-z_]\w*=", tail):
        return None
    head = script[:pos] if sep == "\n" else script[:pos] + " "
    return argv[: idx + 1] + [f"{head}exec {tail.strip()}"] + argv[idx + 2:]


def pod_ready_condition(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or ():
        if cond.get("type") == "Ready":
            return cond  # type: ignore[no-any-return]
    return None


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    cond = pod_ready_condition(pod)
    return cond is not None and cond.get("status") == "True"


@dataclass(frozen=True)
class SpecHolder:
    """An object that carries a pod spec: a workload (its template) or a bare Pod."""

    obj: Mapping[str, Any]
    namespace: str
    labels: Mapping[str, str]
    spec: Mapping[str, Any]

    @property
    def ref(self) -> str:
        kind, ns, name = obj_key(self.obj)
        return f"{kind} {ns}/{name}" if ns else f"{kind} {name}"


def spec_holders(snapshot: Snapshot) -> list[SpecHolder]:
    """Every pod spec once: workloads by their template; Pods only when no owner is in the snapshot."""
    out: list[SpecHolder] = []
    owned_rs: set[tuple[str, str, str]] = set()
    for rs in snapshot.list("ReplicaSet"):
        for ref in mappings(_m(rs.get("metadata")).get("ownerReferences")):
            if snapshot.get(str(ref.get("kind")), obj_key(rs)[1], str(ref.get("name"))) is not None:
                owned_rs.add(obj_key(rs))  # a Deployment in the snapshot speaks for it
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        for wl in snapshot.list(kind):
            if kind == "ReplicaSet" and obj_key(wl) in owned_rs:
                continue
            tmpl = _m(_m(wl.get("spec")).get("template"))
            out.append(SpecHolder(wl, obj_key(wl)[1], _m(_m(tmpl.get("metadata")).get("labels")),
                                  _m(tmpl.get("spec"))))
    unseen_owners: set[tuple[str, str, str]] = set()
    for pod in snapshot.list("Pod"):
        try:
            owned = snapshot.owner_of(pod) is not None
        except MALFORMED:
            owned = False
        if owned:
            continue
        controller = next((r for r in mappings(_m(pod.get("metadata")).get("ownerReferences"))
                           if r.get("controller")), None)
        if controller is not None:  # its workload was not read: one pod speaks for its siblings
            key = (str(controller.get("kind")), obj_key(pod)[1], str(controller.get("name")))
            if key in unseen_owners:
                continue
            unseen_owners.add(key)
        out.append(SpecHolder(pod, obj_key(pod)[1], _m(_m(pod.get("metadata")).get("labels")),
                              _m(pod.get("spec"))))
    return out


def services_selecting(snapshot: Snapshot, namespace: str,
                       labels: Mapping[str, str]) -> list[Mapping[str, Any]]:
    """Services of a namespace whose selector matches these labels."""
    return [
        s for s in snapshot.list("Service", namespace)
        if labels_match(_m(s.get("spec")).get("selector"), labels)
    ]


def _target_numbers(service: Mapping[str, Any], spec: Mapping[str, Any]) -> set[int]:
    ports = container_ports(spec)
    out: set[int] = set()
    for sp in (service.get("spec") or {}).get("ports") or ():
        target = sp.get("targetPort", sp.get("port"))
        if isinstance(target, int) or (isinstance(target, str) and target.isdigit()):
            out.add(int(target))
        else:
            out.update(p.port for p in ports if p.name == target)
    return out


def serving_containers(spec: Mapping[str, Any],
                       services: Sequence[Mapping[str, Any]]) -> tuple[list[Mapping[str, Any]], bool]:
    """The containers that serve a port the Services target.

    Returns (containers, identified): when no declared containerPort is targeted, all containers
    are returned and `identified` is False (kdiag cannot tell which one serves).
    """
    targets: set[int] = set()
    for svc in services:
        targets |= _target_numbers(svc, spec)
    names = {p.container for p in container_ports(spec) if p.port in targets}
    containers = mappings(spec.get("containers"))
    chosen = [c for c in containers if c.get("name") in names]
    if chosen:
        return chosen, True
    return containers, False


def pod_template_replicas(owner: Mapping[str, Any]) -> int:
    """Desired replicas of a workload (1 when unset; DaemonSets count as several)."""
    if owner.get("kind") == "DaemonSet":
        return 2
    value = (owner.get("spec") or {}).get("replicas")
    try:
        return 1 if value is None else int(value)
    except (TypeError, ValueError):
        return 1


def endpoint_counts(slices: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Count endpoints of EndpointSlices by condition (nil ready/serving mean true).

    Keys: total, ready, terminating, serving_terminating (terminating but still serving),
    not_ready (neither ready nor terminating), names (targetRef names of endpoints not ready).
    """
    total = ready = terminating = serving_terminating = not_ready = 0
    names: list[str] = []
    for sl in slices:
        for ep in sl.get("endpoints") or ():
            total += 1
            cond = ep.get("conditions") or {}
            if cond.get("ready") is not False:
                ready += 1
                continue
            ref = ep.get("targetRef") or {}
            names.append(str(ref.get("name") or ",".join(ep.get("addresses") or ())))
            if cond.get("terminating") is True:
                terminating += 1
                serving_terminating += cond.get("serving") is not False
            else:
                not_ready += 1
    return {"total": total, "ready": ready, "terminating": terminating,
            "serving_terminating": serving_terminating, "not_ready": not_ready, "names": names}


#: What a malformed object raises when a rule reads it (wrong types where the API has maps/lists).
MALFORMED = (AttributeError, TypeError, ValueError, KeyError, IndexError)

_T = TypeVar("_T")


def guarded(items: Iterable[_T], check: Callable[[_T], Iterable[Finding]]) -> Iterator[Finding]:
    """Run a per-object check over items; an object too malformed to judge yields nothing.

    Shape errors are reported by the manifest checks (manifest-invalid); a rule must not let one
    bad object stop the others from being checked. Findings of an object are all-or-nothing.
    """
    it = iter(items)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except MALFORMED:
            return
        try:
            found = list(check(item))
        except MALFORMED:
            continue
        yield from found


def mappings(value: Any) -> list[Mapping[str, Any]]:
    """The mapping items of a list (anything else in a malformed manifest is skipped)."""
    if not isinstance(value, (list, tuple)):
        return []
    return [v for v in value if isinstance(v, Mapping)]
