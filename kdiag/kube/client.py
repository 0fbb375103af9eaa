"""`Kube`: one read-only connection to one API server (raw JSON reads, TLS, port-forward, proxy).

`Kube.connect()` resolves credentials like kubectl (see `kdiag.kube.kubeconfig`). Every read is a
GET with a timeout and a bounded body, answered as raw JSON dicts (never client models); Secrets
are only ever read metadata-only. Error statuses raise the classes of `kdiag.kube.errors`.
Nothing here writes to the cluster, and credentials are never exposed, logged or recorded.
"""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from kdiag import __version__
from kdiag.errors import ClusterAccessError, InputError
from kdiag.kube.errors import (
    ApiError,
    Forbidden,
    NotFound,
    Unauthorized,
    describe_connection_error,
    one_line,
    status_message,
)
from kdiag.kube.kubeconfig import (
    configuration_from_kubeconfig,
    in_cluster_configuration,
    in_cluster_namespace,
    load_kubeconfig,
    pick_context,
)
from kdiag.kube.limits import (
    BUDGET,
    MAX_LIST_ITEMS,
    MAX_PAGES,
    MAX_RESPONSE_BYTES,
    Deadline,
    TooLarge,
    in_thread,
    request_total,
    run_bounded,
)
from kdiag.kube.portforward import PortForward, PortForwarder
from kdiag.kube.resources import Resource, resource, service_proxy_path
from kdiag.kube.watch import WatchStream
from kdiag.shape import as_list, as_map

if TYPE_CHECKING:
    from kdiag.endpoint import Endpoint

__all__ = [
    "ACCESS_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "MAX_RESPONSE_BYTES",
    "PARTIAL_METADATA",
    "PARTIAL_METADATA_LIST",
    "Kube",
]

USER_AGENT = f"kdiag/{__version__}"
JSON = "application/json"
PARTIAL_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
PARTIAL_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"

#: (connect, read) seconds for ordinary reads and for the reachability check.
DEFAULT_TIMEOUT: tuple[float, float] = (3.0, 15.0)
ACCESS_TIMEOUT: tuple[float, float] = (2.0, 4.0)
#: Secret fields that are never kept, even if a server ignored the metadata-only Accept header.
_SECRET_DATA_KEYS = ("data", "stringData")


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
        deadline: Deadline | None = None,
    ) -> None:
        from kubernetes.client import ApiClient

        configuration.retries = False  # one attempt; the caller decides what to do
        configuration.client_go_retries = False
        self._cfg = configuration
        self._api: Any = ApiClient(configuration=configuration)  # the client is not annotated
        self._api.user_agent = USER_AGENT
        self.context = context
        self.namespace = namespace
        self.contexts = tuple(contexts)
        # URL userinfo (https://admin:PW@host) is never used by the client: drop it, so that no
        # message, report or Host header can carry it.
        self.server = without_userinfo(str(configuration.host)).rstrip("/")
        configuration.host = self.server
        self.timeout = timeout
        #: The run's deadline: every read ends by it (and at once on `deadline.stop()`).
        self.deadline = deadline
        self._ssl_context: ssl.SSLContext | None = None
        #: What this connection cost the API server: GETs sent and response bytes read.
        self._stats_lock = threading.Lock()
        self._requests = 0
        self._bytes = 0
        self._forwarder = PortForwarder(self.server, self._websocket_options)

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
        deadline: Deadline | None = None,
    ) -> Kube:
        """Credentials like kubectl: --kubeconfig, $KUBECONFIG (merged), ~/.kube/config, in-cluster.

        Does not contact the server; call `check_access()` for that.
        """
        info = load_kubeconfig(kubeconfig)
        if info is None:
            if context:
                raise InputError(f"--context {context!r} given but no kubeconfig was found")
            cfg = in_cluster_configuration()
            ns = namespace or in_cluster_namespace() or "default"
            return cls(cfg, context=None, namespace=ns, timeout=timeout, deadline=deadline)
        name = pick_context(info, context)
        cfg = configuration_from_kubeconfig(info, name, deadline=deadline)
        ns = namespace or str(info.context_entries[name].get("namespace") or "") or "default"
        return cls(cfg, context=name, namespace=ns, contexts=info.contexts, timeout=timeout,
                   deadline=deadline)

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
        """GET a path; (status, body). Raises ClusterAccessError when the server is unreachable.

        The whole request is bounded: `request_total(timeout)` seconds, the run's deadline,
        `MAX_RESPONSE_BYTES` for the body and `MAX_BUFFERED_BYTES` for all bodies in flight.
        """
        from kubernetes.client.exceptions import ApiException

        url = self.server + path
        q = {k: v for k, v in (query or {}).items() if v not in (None, "")}
        if q:
            url += "?" + urlencode(q)
        headers = {"Accept": accept, "User-Agent": USER_AGENT, **self._auth_headers()}
        tmo = timeout or self.timeout
        responses: list[Any] = []
        with self._stats_lock:
            self._requests += 1

        def request() -> tuple[int, bytes]:
            resp = self._api.rest_client.request("GET", url, headers=headers, _request_timeout=tmo)
            responses.append(resp.response)
            try:
                return int(resp.status), _bounded_read(resp.response, MAX_RESPONSE_BYTES)
            finally:
                resp.response.release_conn()

        def abandon() -> None:  # unblock the reading thread: shut its socket down
            for r in responses:
                with contextlib.suppress(Exception):
                    r.shutdown()

        total = request_total(tmo)
        try:
            status, data = run_bounded(request, timeout=total, deadline=self.deadline, on_abandon=abandon)
            with self._stats_lock:
                self._bytes += len(data or b"")
        except TooLarge:
            raise ApiError(f"GET {path}: the API server's answer is larger than "
                           f"{MAX_RESPONSE_BYTES // 2**20} MiB (or all answers being read together "
                           "went over the memory limit)", status=200) from None
        except TimeoutError:
            raise ApiError(f"GET {path}: the API server did not finish its answer within {total:g} s",
                           status=0) from None
        except ApiException as e:  # the REST layer wraps TLS failures as status 0
            raise ClusterAccessError(
                f"TLS handshake with the API server at {self.server} failed: "
                f"{one_line(e.reason).split('(', 1)[0].strip()}"
            ) from None
        except ClusterAccessError:
            raise
        except Exception as e:  # urllib3 / socket errors: the server is not reachable
            raise ClusterAccessError(describe_connection_error(e, self.server)) from None
        return status, data

    def _raise_for_status(self, status: int, body: bytes, what: str) -> None:
        if 200 <= status < 300:
            return
        reason, message = status_message(body)
        ctx = f" (context {self.context})" if self.context else ""
        if status in (403, 404) and not is_status_body(body):
            # A real API server explains a 403/404 with a Status; anything else is not its answer.
            raise ApiError(f"{what}: the API server answered {status} without a Kubernetes Status "
                           f"(is {self.server} the API server?): {message[:120]}".rstrip(": "),
                           status=status, reason="NotAStatus")
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
        return self._json(*self._get(path, **kw), what)

    def _json(self, status: int, body: bytes, what: str) -> dict[str, Any]:
        self._raise_for_status(status, body, what)
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ApiError(f"{what}: the API server sent no JSON", status=status) from None
        if not isinstance(doc, dict):
            raise ApiError(f"{what}: the API server sent unexpected JSON", status=status)
        return doc

    def stats(self) -> dict[str, int]:
        """API requests sent and response bytes read so far (the report's `stats`)."""
        with self._stats_lock:
            return {"api_requests": self._requests, "api_bytes": self._bytes}

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
        res = resource(kind)
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
        pages = 0
        ahead: tuple[str, Future[tuple[int, bytes]]] | None = None  # the next page, already asked for

        def page_query(token: str | None) -> dict[str, Any]:
            return {"limit": limit, "continue": token, "labelSelector": label_selector,
                    "fieldSelector": field_selector}

        while True:
            try:
                if ahead is not None and ahead[0] == token:
                    status, body = ahead[1].result()
                else:
                    status, body = self._get(path, query=page_query(token), accept=accept)
                ahead = None
                # Ask for the next page before parsing this one: the API server prepares it
                # meanwhile. The token is confirmed against the parsed answer below.
                peeked = peek_continue(body) if status == 200 and max_items is None else None
                if peeked and peeked not in tokens_seen and pages + 1 < MAX_PAGES:
                    ahead = (peeked, in_thread(lambda t=peeked: self._get(path, query=page_query(t), accept=accept)))
                doc = self._json(status, body, what)
            except ApiError as e:
                if e.status == 410 and token and not restarted:  # continue token expired
                    items, token, restarted = [], None, True
                    tokens_seen.clear()
                    continue
                raise
            for item in as_list(doc.get("items")):
                # objects without a usable name cannot be indexed: a lying server's noise
                md = item.get("metadata") if isinstance(item, dict) else None
                if isinstance(md, dict) and isinstance(md.get("name"), str) and (
                    md.get("namespace") is None or isinstance(md.get("namespace"), str)
                ):
                    items.append(self._normalise(item, res, metadata_only))
            if not isinstance(doc.get("items"), list) and not (
                    doc.get("items") is None and str(doc.get("kind") or "").endswith("List")):
                raise ApiError(f"{what}: the API server's answer is not a list", status=200)
            pages += 1
            if pages > MAX_PAGES or len(items) > MAX_LIST_ITEMS:
                raise ApiError(f"{what}: the API server sent more than {MAX_PAGES} pages or "
                               f"{MAX_LIST_ITEMS} objects", status=200)
            token = str(as_map(doc.get("metadata")).get("continue") or "") or None
            if token in tokens_seen:
                raise ApiError(f"{what}: the API server repeated a continue token", status=200)
            if token:
                tokens_seen.add(token)
            if not token or (max_items is not None and len(items) >= max_items):
                break
        return items[:max_items] if max_items is not None else items

    def get_raw(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """One object, or None when it does not exist. Secrets are read metadata-only."""
        res = resource(kind)
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
        res = resource(kind)
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

    def watch(
        self,
        kind: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 60,
    ) -> WatchStream:
        """A watch (`?watch=1&resourceVersion=…`) on a kind: iterate (type, object) pairs.

        Read-only like every read here; Secrets are never watched. The server ends the stream
        after `timeout_seconds`; `close()` ends it from another thread at once. Raises like
        `list_raw` when the watch cannot start.
        """
        res = resource(kind)
        if kind == "Secret":
            raise InputError("kdiag never watches Secrets")
        path = res.path(namespace)
        query = {"watch": "1", "resourceVersion": resource_version, "labelSelector": label_selector,
                 "timeoutSeconds": str(int(timeout_seconds)), "allowWatchBookmarks": "false"}
        url = self.server + path + "?" + urlencode({k: v for k, v in query.items() if v not in (None, "")})
        headers = {"Accept": JSON, "User-Agent": USER_AGENT, **self._auth_headers()}
        try:
            resp = self._api.rest_client.request(
                "GET", url, headers=headers, _request_timeout=(self.timeout[0], timeout_seconds + 10.0))
        except Exception as e:
            raise ClusterAccessError(describe_connection_error(e, self.server)) from None
        if int(resp.status) != 200:
            try:
                body = _bounded_read(resp.response, 1 << 20)
            finally:
                resp.response.release_conn()
            self._raise_for_status(int(resp.status), bytes(body or b""), f"watch {res.plural}")
        return WatchStream(resp.response, lambda item: self._normalise(item, res, False))

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
                    f"{one_line(e)}"
                ) from None
            self._ssl_context = ctx
        return self._ssl_context

    @property
    def tls_server_name(self) -> str | None:
        return getattr(self._cfg, "tls_server_name", None) or None

    # -- port-forward ------------------------------------------------------------------------

    def portforward_url(self, namespace: str, pod: str, port: int) -> str:
        return self._forwarder.url(namespace, pod, port)

    def port_forward(self, namespace: str, pod: str, port: int) -> AbstractAsyncContextManager[PortForward]:
        """A local bridge 127.0.0.1:<ephemeral> -> pod:port over pods/portforward (v4.channel.k8s.io).

        Use as ``async with kube.port_forward(ns, pod, 8080) as bridge: host, port = bridge``.
        """
        return self._forwarder.open(namespace, pod, port)

    def port_forward_error(self, namespace: str, pod: str, port: int) -> str | None:
        """What went wrong on the latest bridge to pod:port, in the remote side's words.

        For an error-channel message (nothing listens on the port) that is the kubelet's text,
        e.g. "error forwarding port 5003 to pod ...: failed to connect to localhost:5003 ...".
        `PortForward.last_error` has the same with "port-forward to pod ns/name port N:" in front.
        """
        return self._forwarder.last_error(namespace, pod, port)

    def _websocket_options(self, url: str) -> dict[str, Any]:
        """TLS, auth and timeouts of a port-forward WebSocket to `url` (may raise InputError)."""
        kwargs: dict[str, Any] = {}
        if url.startswith("wss:"):
            kwargs["ssl"] = self.ssl_context()
            if self.tls_server_name:
                kwargs["server_hostname"] = self.tls_server_name
        kwargs["additional_headers"] = self._auth_headers()
        kwargs["open_timeout"] = self.timeout[0] + self.timeout[1]
        kwargs["user_agent_header"] = USER_AGENT
        return kwargs

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
            host_header=u.netloc.rpartition("@")[2],
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


def without_userinfo(url: str) -> str:
    """The URL without `user:password@` (the password must never be shown or sent as Host)."""
    u = urlsplit(url)
    if "@" not in u.netloc:
        return url
    return urlunsplit(u._replace(netloc=u.netloc.rpartition("@")[2]))


def is_status_body(body: bytes) -> bool:
    """Whether a body is a Kubernetes `Status` object (how an API server explains an error)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return False
    return isinstance(doc, dict) and doc.get("kind") == "Status"


def _bounded_read(response: Any, limit: int) -> bytes:
    """Read a urllib3 response body, refusing more than `limit` bytes (and the shared budget)."""
    data = bytearray()
    try:
        while True:
            chunk = response.read(1 << 16)
            if not chunk:
                return bytes(data)
            if len(data) + len(chunk) > limit:
                raise TooLarge()
            BUDGET.take(len(chunk))
            data += chunk
    finally:
        BUDGET.give(len(data))


#: A list's `continue` token in its metadata, which the API server writes before the items.
_CONTINUE = re.compile(rb'"metadata"\s*:\s*\{[^{}\[\]]*?"continue"\s*:\s*"([A-Za-z0-9+/=_.\-]{1,4096})"')


def peek_continue(body: bytes) -> str | None:
    """The `continue` token of a list answer, read off its head without parsing the whole body
    (None when it is not there before the items: the caller then waits for the parse)."""
    head = body[:8192]
    items = head.find(b'"items"')
    match = _CONTINUE.search(head if items < 0 else head[:items])
    return match.group(1).decode("ascii") if match else None
