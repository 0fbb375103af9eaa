"""Read-only access to one Kubernetes API server: kubeconfig, raw JSON reads, port-forward, proxy.

`Kube.connect()` resolves credentials like kubectl (``--kubeconfig``, ``$KUBECONFIG`` with several
files merged, ``~/.kube/config``, then in-cluster config) through the official client's loaders,
so bearer tokens, client certificates and exec plugins work. Every read is a GET with a timeout,
answered as raw JSON dicts (never client models). Nothing here writes to the cluster.

Bad input raises `InputError` and access problems `ClusterAccessError`, each with one clear line.
A 403 raises `Forbidden` (a `ClusterAccessError`), so callers can degrade instead of stopping.
The module itself is import-light: the kubernetes client, urllib3 and websockets are imported
inside the functions that need them. Credentials are never exposed, logged or recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import ssl
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode, urlsplit

from kdiag import __version__
from kdiag.errors import ClusterAccessError, InputError

if TYPE_CHECKING:
    from kdiag.endpoint import Endpoint

__all__ = [
    "PARTIAL_METADATA",
    "PARTIAL_METADATA_LIST",
    "RESOURCES",
    "ApiError",
    "Forbidden",
    "Kube",
    "KubeconfigInfo",
    "NotFound",
    "PortForward",
    "Resource",
    "Unauthorized",
    "describe_connection_error",
    "load_kubeconfig",
    "service_proxy_path",
]

USER_AGENT = f"kdiag/{__version__}"
JSON = "application/json"
PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
PARTIAL_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
PORTFORWARD_PROTOCOL = "v4.channel.k8s.io"
IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

#: (connect, read) seconds for ordinary reads and for the reachability check.
DEFAULT_TIMEOUT: tuple[float, float] = (3.0, 15.0)
ACCESS_TIMEOUT: tuple[float, float] = (2.0, 4.0)
#: Upper bound for one API response body (a page of a list); a lying server cannot exhaust memory.
MAX_RESPONSE_BYTES = 128 * 2**20
#: Secret fields that are never kept, even if a server ignored the metadata-only Accept header.
_SECRET_DATA_KEYS = ("data", "stringData")


# -- errors ------------------------------------------------------------------------------------


class ApiError(ClusterAccessError):
    """The API server answered a read with an error status (the message is one line)."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Unauthorized(ApiError):
    """401: the credentials were not accepted."""


class Forbidden(ApiError):
    """403: RBAC does not allow this read. Callers usually degrade ("cannot verify")."""


class NotFound(ApiError):
    """404: the object, namespace or resource type does not exist."""


# -- resources ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API."""

    kind: str
    api_version: str  # "v1" or "group/version"
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None, name: str | None = None) -> str:
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{quote(namespace, safe='')}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{quote(name, safe='')}"
        return base


RESOURCES: dict[str, Resource] = {
    r.kind: r
    for r in (
        Resource("Namespace", "v1", "namespaces", namespaced=False),
        Resource("Node", "v1", "nodes", namespaced=False),
        Resource("IngressClass", "networking.k8s.io/v1", "ingressclasses", namespaced=False),
        Resource("Ingress", "networking.k8s.io/v1", "ingresses"),
        Resource("Service", "v1", "services"),
        Resource("EndpointSlice", "discovery.k8s.io/v1", "endpointslices"),
        Resource("Endpoints", "v1", "endpoints"),
        Resource("Pod", "v1", "pods"),
        Resource("ReplicaSet", "apps/v1", "replicasets"),
        Resource("Deployment", "apps/v1", "deployments"),
        Resource("StatefulSet", "apps/v1", "statefulsets"),
        Resource("DaemonSet", "apps/v1", "daemonsets"),
        Resource("Event", "v1", "events"),
        Resource("ConfigMap", "v1", "configmaps"),
        Resource("Secret", "v1", "secrets"),
        Resource("Gateway", "gateway.networking.k8s.io/v1", "gateways"),
        Resource("HTTPRoute", "gateway.networking.k8s.io/v1", "httproutes"),
    )
}


def _resource(kind: str) -> Resource:
    try:
        return RESOURCES[kind]
    except KeyError:
        raise ValueError(f"kdiag.kube does not know the kind {kind!r}") from None


# -- kubeconfig --------------------------------------------------------------------------------


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


def _pick_context(info: KubeconfigInfo, context: str | None) -> str:
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


def _one_line(text: object) -> str:
    return re.sub(r"\s+", " ", str(text)).strip()


def _configuration_from_kubeconfig(info: KubeconfigInfo, context: str) -> Any:
    """A kubernetes.client.Configuration for one context (runs exec plugins if any)."""
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.kube_config import ConfigNode, KubeConfigLoader

    # Rebuild the merged document with ConfigNodes that remember their file, so that relative
    # certificate/token paths resolve next to the file that defined the entry (like kubectl).
    first_path = info.paths[0]
    value: dict[str, Any] = {k: v for k, v in info.merged.items()}
    for section in ("clusters", "users", "contexts"):
        value[section] = [
            ConfigNode(f"{info.entry_files[(section, e['name'])]}/{section}[name={e['name']}]", e,
                       info.entry_files[(section, e["name"])])
            for e in info.merged.get(section) or ()
        ]
    root = ConfigNode(first_path, value, first_path)
    cfg = type.__call__(Configuration)
    # The client logs credential-plugin failures (logging.error) and goes on without
    # credentials; capture them so the user gets the real cause instead of a later 401.
    captured = _CapturedLogs()
    root_logger = logging.getLogger()
    root_logger.addHandler(captured)
    try:
        loader = KubeConfigLoader(config_dict=root, active_context=context, config_base_path=None)
        loader.load_and_set(cfg)
    except ConfigException as e:
        raise InputError(f"kubeconfig context {context!r}: {_one_line(e)}") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        # the client trusts field types; a kubeconfig with odd ones must still fail in one line
        raise InputError(f"kubeconfig context {context!r} cannot be used: {_one_line(e)}") from None
    finally:
        root_logger.removeHandler(captured)
    user = info.context_entries[context].get("user")
    user_entry = next((u.get("user") or {} for u in info.merged.get("users") or ()
                       if u.get("name") == user), {})
    if "exec" in user_entry and not cfg.api_key and not cfg.cert_file:
        why = captured.messages[-1] if captured.messages else "it returned no credentials"
        command = (user_entry.get("exec") or {}).get("command", "?")
        raise InputError(
            f"the credential plugin of kubeconfig user {user!r} ({command}) failed: {_one_line(why)}"
        )
    return cfg


class _CapturedLogs(logging.Handler):
    """Collects log messages (and keeps them off stderr) while the client loads credentials."""

    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def _in_cluster_configuration() -> Any:
    from kubernetes.client import Configuration
    from kubernetes.config.config_exception import ConfigException
    from kubernetes.config.incluster_config import (
        SERVICE_CERT_FILENAME,
        SERVICE_TOKEN_FILENAME,
        InClusterConfigLoader,
    )

    cfg = type.__call__(Configuration)
    try:
        InClusterConfigLoader(
            token_filename=SERVICE_TOKEN_FILENAME, cert_filename=SERVICE_CERT_FILENAME
        ).load_and_set(cfg)
    except ConfigException:
        raise InputError(
            "no kubeconfig found (~/.kube/config does not exist and $KUBECONFIG is not set) and "
            "not running inside a cluster; pass --kubeconfig FILE"
        ) from None
    return cfg


# -- errors from the wire -------------------------------------------------------------------------


def _status_message(body: bytes | bytearray) -> tuple[str, str]:
    """(reason, message) from a Kubernetes Status body, best effort."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", _one_line(body[:200].decode("utf-8", "replace"))
    if not isinstance(doc, dict):
        return "", ""
    return str(doc.get("reason") or ""), _one_line(doc.get("message") or "")


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__, getattr(e, "reason", None)
                      if isinstance(getattr(e, "reason", None), BaseException) else None])
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))


def describe_connection_error(exc: BaseException, server: str) -> str:
    """One line that says why the API server could not be reached."""
    for e in _exception_chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"the TLS certificate of the API server at {server} is not trusted: {e.verify_message}"
    for e in _exception_chain(exc):
        if isinstance(e, ConnectionRefusedError):
            return f"cannot reach the API server at {server}: connection refused"
        if isinstance(e, TimeoutError) or type(e).__name__ in (
            "ConnectTimeoutError", "ReadTimeoutError", "TimeoutError"
        ):
            return f"cannot reach the API server at {server}: timed out"
        if type(e).__name__ == "NameResolutionError" or isinstance(e, OSError) and "Name or service" in str(e):
            return f"cannot reach the API server at {server}: the host name does not resolve"
    for e in _exception_chain(exc):
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake with the API server at {server} failed: {_one_line(e)}"
    return f"cannot reach the API server at {server}: {_one_line(exc) or type(exc).__name__}"


# -- port-forward bridge ------------------------------------------------------------------------


@dataclass
class PortForward:
    """A local TCP bridge on 127.0.0.1:<port> to one pod port, through the API server.

    Each accepted local connection opens its own port-forward stream. Errors (the API server
    refusing, or the error channel saying nothing listens on the port) close that local
    connection and are kept in `errors` / `last_error`. Unpacks as ``host, port = bridge``.
    """

    namespace: str
    pod: str
    remote_port: int
    host: str = "127.0.0.1"
    port: int = 0
    errors: list[str] = field(default_factory=list)
    #: The remote side's own words for the last error (e.g. the kubelet's error-channel text).
    last_detail: str | None = None
    connections: int = 0

    @property
    def last_error(self) -> str | None:
        return self.errors[-1] if self.errors else None

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def __iter__(self) -> Iterator[Any]:
        return iter((self.host, self.port))

    def _record(self, message: str, detail: str | None = None) -> None:
        self.errors.append(_one_line(message))
        self.last_detail = _one_line(detail) if detail else self.errors[-1]


# -- the connection --------------------------------------------------------------------------------


class Kube:
    """One read-only connection to one API server (raw JSON; never client models)."""

    context: str | None
    namespace: str
    server: str

    def __init__(
        self,
        configuration: Any,
        *,
        context: str | None,
        namespace: str,
        contexts: Sequence[str] = (),
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        from kubernetes.client import ApiClient

        configuration.retries = False  # one attempt; the caller decides what to do
        configuration.client_go_retries = False
        self._cfg = configuration
        self._api = ApiClient(configuration=configuration)
        self._api.user_agent = USER_AGENT
        self.context = context
        self.namespace = namespace
        self.contexts = tuple(contexts)
        self.server = str(configuration.host).rstrip("/")
        self.timeout = timeout
        self._ssl_context: ssl.SSLContext | None = None
        self._bridges: dict[tuple[str, str, int], PortForward] = {}

    def __repr__(self) -> str:
        return f"Kube(server={self.server!r}, context={self.context!r}, namespace={self.namespace!r})"

    # -- construction ------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> Kube:
        """Credentials like kubectl: --kubeconfig, $KUBECONFIG (merged), ~/.kube/config, in-cluster.

        Does not contact the server; call `check_access()` for that.
        """
        info = load_kubeconfig(kubeconfig)
        if info is None:
            if context:
                raise InputError(f"--context {context!r} given but no kubeconfig was found")
            cfg = _in_cluster_configuration()
            ns = namespace or _in_cluster_namespace() or "default"
            return cls(cfg, context=None, namespace=ns, timeout=timeout)
        name = _pick_context(info, context)
        cfg = _configuration_from_kubeconfig(info, name)
        ns = namespace or str(info.context_entries[name].get("namespace") or "") or "default"
        return cls(cfg, context=name, namespace=ns, contexts=info.contexts, timeout=timeout)

    @staticmethod
    def list_contexts(kubeconfig: str | None = None) -> tuple[list[str], str | None]:
        """(context names, current context) of the kubeconfig; ([], None) when there is none."""
        info = load_kubeconfig(kubeconfig)
        if info is None:
            return [], None
        return list(info.contexts), info.current_context

    # -- raw requests ------------------------------------------------------------------------

    def _auth_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        self._api.update_params_for_auth(headers, [], ["BearerToken"], "", "GET", None)
        return {("Authorization" if k.lower() == "authorization" else k): v for k, v in headers.items()}

    def _get(
        self,
        path: str,
        *,
        query: Mapping[str, Any] | None = None,
        accept: str = JSON,
        timeout: tuple[float, float] | None = None,
    ) -> tuple[int, bytes]:
        """GET a path; (status, body). Raises ClusterAccessError when the server is unreachable."""
        from kubernetes.client.exceptions import ApiException

        url = self.server + path
        q = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        if q:
            url += "?" + urlencode(q)
        headers = {"Accept": accept, "User-Agent": USER_AGENT, **self._auth_headers()}
        try:
            resp = self._api.rest_client.request(
                "GET", url, headers=headers, _request_timeout=timeout or self.timeout
            )
            try:
                data = _bounded_read(resp.response, MAX_RESPONSE_BYTES)
            finally:
                resp.response.release_conn()
        except _TooLarge:
            raise ApiError(f"GET {path}: the API server's answer is larger than "
                           f"{MAX_RESPONSE_BYTES // 2**20} MiB", status=200) from None
        except ApiException as e:  # the REST layer wraps TLS failures as status 0
            raise ClusterAccessError(
                f"TLS handshake with the API server at {self.server} failed: "
                f"{_one_line(e.reason).split('(', 1)[0].strip()}"
            ) from None
        except Exception as e:  # urllib3 / socket errors: the server is not reachable
            raise ClusterAccessError(describe_connection_error(e, self.server)) from None
        return int(resp.status), bytes(data or b"")

    def _raise_for_status(self, status: int, body: bytes, what: str) -> None:
        if 200 <= status < 300:
            return
        reason, message = _status_message(body)
        ctx = f" (context {self.context})" if self.context else ""
        if status == 401:
            raise Unauthorized(
                f"the API server at {self.server} rejected our credentials{ctx}: Unauthorized",
                status=status, reason=reason or "Unauthorized",
            )
        if status == 403:
            raise Forbidden(message or f"{what}: forbidden", status=status, reason=reason or "Forbidden")
        if status == 404:
            raise NotFound(message or f"{what}: not found", status=status, reason=reason or "NotFound")
        raise ApiError(
            f"{what}: the API server answered {status} {reason}: {message}".rstrip(": "),
            status=status, reason=reason,
        )

    def _get_json(self, path: str, what: str, **kw: Any) -> dict[str, Any]:
        status, body = self._get(path, **kw)
        self._raise_for_status(status, body, what)
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(f"{what}: the API server sent no JSON", status=status) from None
        if not isinstance(doc, dict):
            raise ApiError(f"{what}: the API server sent unexpected JSON", status=status)
        return doc

    # -- reads -------------------------------------------------------------------------------

    def check_access(self) -> dict[str, Any]:
        """A fast GET /version; unreachable, TLS failures and 401 raise ClusterAccessError.

        Returns the version document when the server shares it (403/404 are fine: reachable).
        """
        timeout = (min(ACCESS_TIMEOUT[0], self.timeout[0]), min(ACCESS_TIMEOUT[1], self.timeout[1]))
        status, body = self._get("/version", timeout=timeout)
        if status == 401:
            self._raise_for_status(status, body, "GET /version")
        if status == 200:
            try:
                doc = json.loads(body)
                return doc if isinstance(doc, dict) else {}
            except (ValueError, UnicodeDecodeError):
                return {}
        return {}

    def list_raw(
        self,
        kind: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int = 500,
        metadata_only: bool = False,
        max_items: int | None = None,
    ) -> list[dict[str, Any]]:
        """All objects of a kind (in a namespace, or everywhere when None), following `continue`.

        Items get `kind` and `apiVersion` set. Secrets are always read metadata-only.
        Raises Forbidden / NotFound (the resource type is not served) / ClusterAccessError.
        """
        res = _resource(kind)
        metadata_only = metadata_only or kind == "Secret"
        accept = PARTIAL_METADATA_LIST if metadata_only else JSON
        path = res.path(namespace)
        where = f"in namespace {namespace}" if res.namespaced and namespace else (
            "in all namespaces" if res.namespaced else "")
        what = f"list {res.plural} {where}".strip()
        items: list[dict[str, Any]] = []
        token: str | None = None
        restarted = False
        tokens_seen: set[str] = set()
        while True:
            query = {"limit": limit, "continue": token, "labelSelector": label_selector,
                     "fieldSelector": field_selector}
            try:
                doc = self._get_json(path, what, query=query, accept=accept)
            except ApiError as e:
                if e.status == 410 and token and not restarted:  # continue token expired
                    items, token, restarted = [], None, True
                    tokens_seen.clear()
                    continue
                raise
            raw_items = doc.get("items")
            for item in raw_items if isinstance(raw_items, list) else ():
                # objects without a usable name cannot be indexed: a lying server's noise
                md = item.get("metadata") if isinstance(item, dict) else None
                if isinstance(md, dict) and isinstance(md.get("name"), str) and (
                    md.get("namespace") is None or isinstance(md.get("namespace"), str)
                ):
                    items.append(self._normalise(item, res, metadata_only))
            list_md = doc.get("metadata")
            token = str(list_md.get("continue") or "") or None if isinstance(list_md, dict) else None
            if token in tokens_seen:
                raise ApiError(f"{what}: the API server repeated a continue token", status=200)
            if token:
                tokens_seen.add(token)
            if not token or (max_items is not None and len(items) >= max_items):
                break
        return items[:max_items] if max_items is not None else items

    def get_raw(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """One object, or None when it does not exist. Secrets are read metadata-only."""
        res = _resource(kind)
        metadata_only = kind == "Secret"
        try:
            doc = self._get_json(
                res.path(namespace, name), f"get {res.plural} {name}",
                accept=PARTIAL_METADATA if metadata_only else JSON,
            )
        except NotFound:
            return None
        return self._normalise(doc, res, metadata_only)

    def exists_metadata(self, kind: str, namespace: str | None, name: str) -> bool:
        """Whether an object exists, reading only its metadata (Secrets: never their data).

        Raises Forbidden when RBAC does not allow the read: the caller must say "cannot verify".
        """
        res = _resource(kind)
        try:
            self._get_json(res.path(namespace, name), f"get {res.plural} {name}", accept=PARTIAL_METADATA)
        except NotFound:
            return False
        return True

    @staticmethod
    def _normalise(item: dict[str, Any], res: Resource, metadata_only: bool) -> dict[str, Any]:
        item["kind"] = res.kind
        item["apiVersion"] = res.api_version
        if res.kind == "Secret" or metadata_only:
            for key in _SECRET_DATA_KEYS:
                item.pop(key, None)
        return item

    # -- TLS and auth for other transports ----------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """An SSLContext that trusts the API server like the kubeconfig says (CA, client cert)."""
        if self._ssl_context is None:
            cfg = self._cfg
            try:
                ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert or None)
                if not cfg.verify_ssl:
                    ctx.check_hostname = False
                    ctx.verify_mode = ssl.CERT_NONE
                if cfg.cert_file:
                    ctx.load_cert_chain(cfg.cert_file, cfg.key_file or None)
            except (ssl.SSLError, OSError, ValueError) as e:
                raise InputError(
                    f"the certificates of kubeconfig context {self.context!r} cannot be loaded: "
                    f"{_one_line(e)}"
                ) from None
            self._ssl_context = ctx
        return self._ssl_context

    @property
    def tls_server_name(self) -> str | None:
        return getattr(self._cfg, "tls_server_name", None) or None

    # -- port-forward ------------------------------------------------------------------------

    def portforward_url(self, namespace: str, pod: str, port: int) -> str:
        u = urlsplit(self.server)
        scheme = "wss" if u.scheme == "https" else "ws"
        path = (f"{u.path.rstrip('/')}/api/v1/namespaces/{quote(namespace, safe='')}/pods/"
                f"{quote(pod, safe='')}/portforward?ports={int(port)}")
        return f"{scheme}://{u.netloc}{path}"

    @contextlib.asynccontextmanager
    async def port_forward(self, namespace: str, pod: str, port: int) -> AsyncIterator[PortForward]:
        """A local bridge 127.0.0.1:<ephemeral> -> pod:port over pods/portforward (v4.channel.k8s.io).

        Use as ``async with kube.port_forward(ns, pod, 8080) as bridge: host, port = bridge``.
        """
        bridge = PortForward(namespace=namespace, pod=pod, remote_port=int(port))
        self._bridges[(namespace, pod, int(port))] = bridge
        tasks: set[asyncio.Task[None]] = set()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            if task is not None:
                tasks.add(task)
            try:
                await self._pump(bridge, reader, writer)
            finally:
                if task is not None:
                    tasks.discard(task)

        server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        bridge.port = int(server.sockets[0].getsockname()[1])
        try:
            yield bridge
        finally:
            server.close()
            for t in list(tasks):
                t.cancel()
            if tasks:
                await asyncio.wait(list(tasks), timeout=2.0)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server.wait_closed(), timeout=2.0)

    def port_forward_error(self, namespace: str, pod: str, port: int) -> str | None:
        """What went wrong on the latest bridge to pod:port, in the remote side's words.

        For an error-channel message (nothing listens on the port) that is the kubelet's text,
        e.g. "error forwarding port 5003 to pod ...: failed to connect to localhost:5003 ...".
        `PortForward.last_error` has the same with "port-forward to pod ns/name port N:" in front.
        """
        bridge = self._bridges.get((namespace, pod, int(port)))
        return bridge.last_detail if bridge is not None and bridge.errors else None

    async def _pump(
        self, bridge: PortForward, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One local connection <-> one port-forward stream; never raises."""
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidStatus

        bridge.connections += 1
        target = f"pod {bridge.namespace}/{bridge.pod} port {bridge.remote_port}"
        url = self.portforward_url(bridge.namespace, bridge.pod, bridge.remote_port)
        kwargs: dict[str, Any] = {}
        try:
            if url.startswith("wss:"):
                kwargs["ssl"] = self.ssl_context()
                if self.tls_server_name:
                    kwargs["server_hostname"] = self.tls_server_name
            headers = self._auth_headers()
        except Exception as e:  # noqa: BLE001 - reported on the bridge, never raised
            bridge._record(f"port-forward to {target} failed: {_one_line(e)}")
            writer.close()
            return
        try:
            ws = await connect(
                url,
                additional_headers=headers,
                subprotocols=[PORTFORWARD_PROTOCOL],  # type: ignore[list-item]
                open_timeout=self.timeout[0] + self.timeout[1],
                ping_interval=None,
                close_timeout=1.0,
                max_size=2**24,
                proxy=None,
                user_agent_header=USER_AGENT,
                **kwargs,
            )
        except InvalidStatus as e:
            _, message = _status_message(e.response.body or b"")
            code = e.response.status_code
            bridge._record(f"the API server refused port-forward to {target}: {code} {message}".strip())
            writer.close()
            return
        except Exception as e:  # noqa: BLE001 - OSError, TimeoutError, InvalidHandshake ...
            bridge._record(f"port-forward to {target} failed: {describe_connection_error(e, self.server)}")
            writer.close()
            return
        if ws.subprotocol != PORTFORWARD_PROTOCOL:
            bridge._record(f"port-forward to {target}: the API server did not speak {PORTFORWARD_PROTOCOL}")
            await ws.close()
            writer.close()
            return

        async def upstream() -> None:
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                await ws.send(b"\x00" + data)

        async def downstream() -> None:
            headers_seen: set[int] = set()
            async for msg in ws:
                raw = msg.encode() if isinstance(msg, str) else bytes(msg)
                if not raw:
                    continue
                channel, payload = raw[0], raw[1:]
                if channel in (0, 1) and channel not in headers_seen:
                    headers_seen.add(channel)
                    if len(payload) == 2:  # the initial little-endian port frame
                        continue
                if channel == 0:
                    writer.write(payload)
                    await writer.drain()
                elif channel == 1 and payload:
                    text = payload.decode("utf-8", "replace")
                    bridge._record(f"port-forward to {target}: {text}", text)
                    return

        up = asyncio.ensure_future(upstream())
        down = asyncio.ensure_future(downstream())
        try:
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if up.done() and not down.done():
                # The local side finished sending (maybe a half-close, like `curl` after its
                # request): let the pod finish its answer. The bridge's exit ends this too.
                await asyncio.wait({down})
        except asyncio.CancelledError:
            pass
        finally:
            for t in (up, down):
                t.cancel()
            await asyncio.gather(up, down, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), timeout=1.0)
            with contextlib.suppress(Exception):
                writer.close()

    # -- service proxy -----------------------------------------------------------------------

    def service_proxy_endpoint(
        self, namespace: str, service: str, port: int | str, *, scheme: str = "http"
    ) -> Endpoint:
        """An Endpoint that reaches a Service port through the API server's service proxy.

        The Authorization header travels in `hidden_headers` (never recorded in reports).
        """
        from kdiag.endpoint import Endpoint

        u = urlsplit(self.server)
        host = u.hostname or "127.0.0.1"
        api_port = u.port or (443 if u.scheme == "https" else 80)
        prefix = u.path.rstrip("/") + service_proxy_path(namespace, service, port, scheme=scheme)
        return Endpoint(
            host=host,
            port=api_port,
            via="service-proxy",
            label=f"service-proxy {namespace}/{service}:{port}",
            tls=u.scheme == "https",
            ssl_context=self.ssl_context() if u.scheme == "https" else None,
            path_prefix=prefix,
            sni=self.tls_server_name or host,
            host_header=u.netloc,
            hidden_headers=self._auth_headers(),
        )

    def close(self) -> None:
        """Release pooled connections."""
        with contextlib.suppress(Exception):
            self._api.close()

    def __enter__(self) -> Kube:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def service_proxy_path(namespace: str, service: str, port: int | str, *, scheme: str = "http") -> str:
    """/api/v1/namespaces/{ns}/services/{[https:]svc:port}/proxy (no trailing slash)."""
    name = f"{service}:{port}"
    if scheme == "https":
        name = f"https:{name}"
    return f"/api/v1/namespaces/{quote(namespace, safe='')}/services/{quote(name, safe=':')}/proxy"


class _TooLarge(Exception):
    pass


def _bounded_read(response: Any, limit: int) -> bytes:
    """Read a urllib3 response body, refusing more than `limit` bytes."""
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = response.read(1 << 20)
        if not chunk:
            return b"".join(chunks)
        total += len(chunk)
        if total > limit:
            raise _TooLarge()
        chunks.append(chunk)


def _in_cluster_namespace() -> str | None:
    try:
        with open(IN_CLUSTER_NAMESPACE_FILE, encoding="utf-8") as fh:
            return fh.read().strip() or None
    except OSError:
        return None
