"""Whether a container's PID 1 passes SIGTERM to the application, judged from command/args.

A shell (`sh -c "a && b"`) or a start script as PID 1 often does not forward SIGTERM, so the
application is killed after the grace period instead of shutting down. `entrypoint_issue` says
so; `exec_suggestion` derives a command line that makes the application PID 1.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["EntrypointIssue", "entrypoint_issue", "exec_suggestion"]

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "ksh"})
_INITS = frozenset({"tini", "dumb-init", "catatonit", "s6-svscan", "supervisord", "runsvdir"})
_COMPOUND = re.compile(r"(;|&&|\|\||\||\n|&\s*$|&\s+\w)")


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
