"""Kubeconfig handling like kubectl: find the files, merge them, pick a context, load credentials.

`load_kubeconfig` merges ``--kubeconfig``, ``$KUBECONFIG`` (several files) or ``~/.kube/config``
with kubectl's first-one-wins rules and checks their shape; `pick_context` chooses and checks a
context; `configuration_from_kubeconfig` (and `in_cluster_configuration` inside a pod) build a
client configuration through the official client's loaders, so bearer tokens, client
certificates and exec plugins work. Bad input raises `InputError` with one clear line.
Credentials are never exposed, logged or recorded.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.errors import InputError
from kdiag.kube.errors import one_line
from kdiag.kube.limits import EXEC_PLUGIN_TIMEOUT, Deadline

__all__ = [
    "IN_CLUSTER_NAMESPACE_FILE",
    "KubeconfigInfo",
    "configuration_from_kubeconfig",
    "in_cluster_configuration",
    "in_cluster_namespace",
    "load_kubeconfig",
    "pick_context",
]

IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


@dataclass(frozen=True)
class KubeconfigInfo:
    """A kubeconfig after kubectl-style merging (no credentials are looked at here)."""

    paths: tuple[str, ...]
    contexts: tuple[str, ...]
    current_context: str | None
    #: context name -> its context entry ({"cluster", "user", "namespace"}).
    context_entries: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    #: The merged document; entries of the top-level lists keep the file they came from.
    merged: Mapping[str, Any] = field(default_factory=dict, repr=False)
    #: (section, name) -> the file that defined the entry (for relative certificate paths).
    entry_files: Mapping[tuple[str, str], str] = field(default_factory=dict, repr=False)


def _kubeconfig_paths(kubeconfig: str | None) -> list[str] | None:
    """The kubeconfig files to merge, or None when only in-cluster config is left."""
    if kubeconfig:
        return [os.path.expanduser(kubeconfig)]
    env = os.environ.get("KUBECONFIG", "")
    if env.strip():
        listed = [os.path.expanduser(p) for p in env.split(os.pathsep) if p.strip()]
        existing = [p for p in listed if os.path.exists(p)]
        if not existing:
            raise InputError(f"none of the files in $KUBECONFIG exist: {', '.join(listed)}")
        return existing
    default = os.path.expanduser("~/.kube/config")
    return [default] if os.path.exists(default) else None


def _read_kubeconfig_file(path: str) -> dict[str, Any]:
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as e:
        raise InputError(f"cannot read kubeconfig {path}: {e.strerror or e}") from None
    except UnicodeDecodeError:
        raise InputError(f"kubeconfig {path} is not a text file") from None
    try:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506 - safe
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or "syntax error"
        raise InputError(f"kubeconfig {path} is not valid YAML{where}: {problem}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(
            f"kubeconfig {path} is not a kubeconfig (expected a mapping with clusters, users "
            f"and contexts, got {type(doc).__name__})"
        )
    for section in ("clusters", "users", "contexts"):
        entries = doc.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and isinstance(e.get("name"), str) for e in entries
        ):
            raise InputError(f"kubeconfig {path}: {section} must be a list of entries with a name")
        inner = section[:-1]  # clusters -> cluster
        for entry in entries:
            if not isinstance(entry.get(inner) or {}, dict):
                raise InputError(f"kubeconfig {path}: {inner} {entry['name']!r} must be a mapping")
    return doc


def load_kubeconfig(kubeconfig: str | None = None) -> KubeconfigInfo | None:
    """Read and merge the kubeconfig files the way kubectl does; None when there is none.

    For each named cluster, user and context the first file that defines it wins, and so does
    the first non-empty current-context (kubectl's rules; the official client lets later files
    win the current-context).
    """
    paths = _kubeconfig_paths(kubeconfig)
    if paths is None:
        return None
    merged: dict[str, Any] = {"clusters": [], "users": [], "contexts": []}
    entry_files: dict[tuple[str, str], str] = {}
    current: str | None = None
    for path in paths:
        doc = _read_kubeconfig_file(path)
        for section in ("clusters", "users", "contexts"):
            for entry in doc.get(section) or ():
                key = (section, entry["name"])
                if key not in entry_files:
                    entry_files[key] = path
                    merged[section].append(entry)
        for k, v in doc.items():
            if k not in ("clusters", "users", "contexts", "current-context"):
                merged.setdefault(k, v)
        if not current and doc.get("current-context"):
            current = str(doc["current-context"])
    if current:
        merged["current-context"] = current
    contexts = tuple(e["name"] for e in merged["contexts"])
    entries = {e["name"]: dict(e.get("context") or {}) for e in merged["contexts"]}
    return KubeconfigInfo(
        paths=tuple(paths),
        contexts=contexts,
        current_context=current,
        context_entries=entries,
        merged=merged,
        entry_files=entry_files,
    )


def pick_context(info: KubeconfigInfo, context: str | None) -> str:
    where = ", ".join(info.paths)
    available = ", ".join(info.contexts) if info.contexts else "none"
    if not info.contexts:
        raise InputError(f"kubeconfig {where} defines no contexts")
    if context:
        if context not in info.context_entries:
            raise InputError(f"no context {context!r} in kubeconfig {where}; contexts: {available}")
        name = context
    else:
        if not info.current_context:
            raise InputError(
                f"kubeconfig {where} has no current context; choose one with --context "
                f"(contexts: {available})"
            )
        if info.current_context not in info.context_entries:
            raise InputError(
                f"the current context {info.current_context!r} of kubeconfig {where} does not "
                f"exist; choose one with --context (contexts: {available})"
            )
        name = info.current_context
    entry = info.context_entries[name]
    cluster = entry.get("cluster")
    clusters = {c["name"]: c for c in info.merged.get("clusters") or ()}
    if not isinstance(cluster, str) or cluster not in clusters:
        raise InputError(f"context {name!r} refers to cluster {cluster!r}, which is not in kubeconfig {where}")
    server = (clusters[cluster].get("cluster") or {}).get("server")
    if not isinstance(server, str) or not server.strip():
        raise InputError(f"cluster {cluster!r} in kubeconfig {where} has no server address")
    user = entry.get("user")
    users = {u["name"] for u in info.merged.get("users") or ()}
    if user and (not isinstance(user, str) or user not in users):
        raise InputError(f"context {name!r} refers to user {user!r}, which is not in kubeconfig {where}")
    return name


def configuration_from_kubeconfig(info: KubeconfigInfo, context: str, *, deadline: Deadline | None = None) -> Any:
    """A kubernetes.client.Configuration for one context (runs exec plugins if any, each for at
    most `EXEC_PLUGIN_TIMEOUT` seconds and within the run's `deadline`)."""
    from kubernetes.client import Configuration
    from kubernetes.config import kube_config
    from kubernetes.config.config_exception import ConfigException

    _bound_exec_plugins(kube_config, deadline)

    # the official client is not annotated: call its loader through Any
    config_node: Any = kube_config.ConfigNode
    loader_class: Any = kube_config.KubeConfigLoader
    # Rebuild the merged document with ConfigNodes that remember their file, so that relative
    # certificate/token paths resolve next to the file that defined the entry (like kubectl).
    first_path = info.paths[0]
    value: dict[str, Any] = {k: v for k, v in info.merged.items()}
    for section in ("clusters", "users", "contexts"):
        value[section] = [
            config_node(f"{info.entry_files[(section, e['name'])]}/{section}[name={e['name']}]", e,
                        info.entry_files[(section, e["name"])])
            for e in info.merged.get(section) or ()
        ]
    root = config_node(first_path, value, first_path)
    cfg = type.__call__(Configuration)
    # The client logs credential-plugin failures (logging.error) and goes on without
    # credentials; capture them so the user gets the real cause instead of a later 401.
    captured = _CapturedLogs()
    root_logger = logging.getLogger()
    root_logger.addHandler(captured)
    try:
        loader = loader_class(config_dict=root, active_context=context, config_base_path=None)
        loader.load_and_set(cfg)
    except ConfigException as e:
        raise InputError(f"kubeconfig context {context!r}: {one_line(e)}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        # the client trusts field types; a kubeconfig with odd ones must still fail in one line
        raise InputError(f"kubeconfig context {context!r} cannot be used: {one_line(e)}") from None
    finally:
        root_logger.removeHandler(captured)
    user = info.context_entries[context].get("user")
    user_entry = next((u.get("user") or {} for u in info.merged.get("users") or ()
                       if u.get("name") == user), {})
    if "exec" in user_entry and not cfg.api_key and not cfg.cert_file:
        why = captured.messages[-1] if captured.messages else "it returned no credentials"
        command = (user_entry.get("exec") or {}).get("command", "?")
        raise InputError(
            f"the credential plugin of kubeconfig user {user!r} ({command}) failed: {one_line(why)}"
        )
    return cfg


def _bound_exec_plugins(kube_config: Any, deadline: Deadline | None) -> None:
    """Make the client's exec credential plugins time out (the client waits for them forever)."""
    base: Any = getattr(kube_config.ExecProvider, "_kdiag_base", kube_config.ExecProvider)

    class BoundedExecProvider(base):  # type: ignore[misc]
        _kdiag_base = base

        def run(self, previous_response: Any = None) -> Any:
            import subprocess

            real_popen = subprocess.Popen
            limit = EXEC_PLUGIN_TIMEOUT
            rem = deadline.remaining() if deadline is not None else None
            if rem is not None:
                limit = max(0.1, min(limit, rem))
            command = getattr(self, "args", ["?"])
            name = command[0] if isinstance(command, list) and command else "?"

            class TimedPopen(real_popen):  # type: ignore[misc,valid-type]
                def communicate(self, input: Any = None, timeout: float | None = None) -> Any:  # noqa: A002
                    try:
                        return super().communicate(input, timeout=limit)
                    except subprocess.TimeoutExpired:
                        self.kill()
                        super().communicate()
                        raise InputError(f"the credential plugin {name} did not finish within "
                                         f"{limit:g} s") from None

            module: Any = __import__(base.__module__, fromlist=["subprocess"])
            saved = module.subprocess
            shim = type("subprocess_shim", (), {"Popen": TimedPopen, "PIPE": subprocess.PIPE})
            module.subprocess = shim
            try:
                return super().run(previous_response)
            finally:
                module.subprocess = saved

    kube_config.ExecProvider = BoundedExecProvider


class _CapturedLogs(logging.Handler):
    """Collects log messages (and keeps them off stderr) while the client loads credentials."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def in_cluster_configuration() -> Any:
    """A kubernetes.client.Configuration from the pod's service account (inside a cluster)."""
    from kubernetes.client import Configuration
    from kubernetes.config import incluster_config
    from kubernetes.config.config_exception import ConfigException

    loader_class: Any = incluster_config.InClusterConfigLoader  # not annotated: call through Any
    cfg = type.__call__(Configuration)
    try:
        loader_class(
            token_filename=incluster_config.SERVICE_TOKEN_FILENAME,
            cert_filename=incluster_config.SERVICE_CERT_FILENAME,
        ).load_and_set(cfg)
    except ConfigException:
        raise InputError(
            "no kubeconfig found (~/.kube/config does not exist and $KUBECONFIG is not set) and "
            "not running inside a cluster; pass --kubeconfig FILE"
        ) from None
    return cfg


def in_cluster_namespace() -> str | None:
    """The pod's namespace from its service-account mount, or None outside a cluster."""
    try:
        with open(IN_CLUSTER_NAMESPACE_FILE, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None
