"""The fake kube-apiserver's HTTPS server: lifecycle, the world it serves, and request routing.

It serves legacy discovery, get/list/watch with label and field selectors and limit/continue,
metadata-only reads, Status errors (401/403/404/405/406), an RBAC-like `forbidden` matrix, the
EndpointSlices and Endpoints the controllers would derive, pod port-forward over
`v4.channel.k8s.io`, and the service and pod proxy (WebSocket upgrades included). It runs its own
event loop in a daemon thread so synchronous clients (kubectl, the official client) can use it.
Reads live in `reads`, authorization in `authorization`, proxy and port-forward in `connect`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import pathlib
import socket
import ssl
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from kdiag.lab.apiserver.authorization import Forbidden, access_review, denied, forbidden_response
from kdiag.lab.apiserver.connect import Backends, port_forward_response, proxy_response
from kdiag.lab.apiserver.reads import (
    Logs,
    Watcher,
    get_response,
    list_response,
    log_response,
    watch_response,
)
from kdiag.lab.apiserver.relay import is_loopback
from kdiag.lab.apiserver.request_info import Target, parse_target
from kdiag.lab.apiserver.resources import (
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    find_resource,
    version_info,
)
from kdiag.lab.apiserver.responses import (
    error,
    json_response,
    not_found_path,
    status_details,
    status_response,
)
from kdiag.lab.apiserver.store import Store, build_store

__all__ = ["AUDIT", "FakeApiServer", "RecordedRequest", "audit"]

_PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
_READ_METHODS = frozenset({"GET", "HEAD"})
_METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete", "OPTIONS": "get"}
_MAX_RECORDED = 20_000


@dataclass
class RecordedRequest:
    """One request as the server saw it (the token itself is never stored)."""

    method: str
    path: str
    query: dict[str, str]
    accept: str
    had_auth: bool
    status: int = 0
    user_agent: str = ""
    upgrade: str = ""
    #: Bytes of the response body (0 for streamed answers: watches, logs, port-forward).
    bytes: int = 0
    host: str = ""  # the Host header as sent


#: Every request every lab API server of this process received, when a test session collects them
#: (tests/conftest.py sets a list and checks, at the end, that kdiag only ever read).
AUDIT: list[RecordedRequest] | None = None


def audit(rec: RecordedRequest) -> None:
    """Hand one request to the session-wide audit, if one is collecting."""
    if AUDIT is not None:
        AUDIT.append(rec)


class FakeApiServer:
    """kube-apiserver on 127.0.0.1 over HTTPS with a test CA and one bearer token. Read-only."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], *, token: str = "kdiag-lab-token",
                 forbidden: Iterable[Forbidden] = (), backends: Backends | None = None,
                 derive_endpoints: bool = True, version: str = "1.30", host: str = "127.0.0.1",
                 port: int = 0, logs: Logs | None = None, share: bool = False,
                 unserved_groups: Iterable[str] = ()) -> None:
        if not is_loopback(host):
            raise ValueError(f"the lab API server binds loopback only, not {host!r}")
        self._token = token
        #: API groups this cluster does not serve (a CRD that is not installed): every path under
        #: them answers 404 and discovery leaves them out, as on a cluster without that CRD.
        self.unserved_groups = frozenset(unserved_groups)
        self.forbidden: list[Forbidden] = list(forbidden)
        self.backends = backends
        self.logs = logs
        self._derive = derive_endpoints
        self.version = version
        self._host = host
        self._port = port
        self._rv = 1000
        self._store_lock = threading.Lock()
        #: `share`: objects are not deep-copied (a generated world of shared templates, see
        #: kdiag.lab.synthetic); the caller must not change them afterwards.
        self._share = share
        self._store: Store = build_store(objects, str(self._rv), derive_endpoints=derive_endpoints,
                                         share=share)
        self.requests: list[RecordedRequest] = []
        #: Unexpected exceptions in handlers (answered 500), for debugging tests.
        self.errors: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._watchers: set[Watcher] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._transports: set[asyncio.Transport] = set()
        self._rr: dict[str, int] = {}
        self.url = ""
        self.ca_pem = b""
        self._ca: Any = None

    # -- lifecycle -----------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def token(self) -> str:
        return self._token

    def start(self) -> FakeApiServer:
        """Bind, start the loop thread and return once the server accepts connections."""
        if self._thread is not None:
            return self
        import trustme

        if self._ca is None:  # kept across stop()/start(), like the port: kubeconfigs stay valid
            self._ca = trustme.CA(organization_name="kdiag lab")
        cert = self._ca.issue_cert("127.0.0.1", "localhost", "::1")
        self.ca_pem = self._ca.cert_pem.bytes()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        ctx.set_alpn_protocols(["http/1.1"])
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self._host, self._port))
        except OSError:
            sock.close()
            raise
        self._port = sock.getsockname()[1]
        host = f"[{self._host}]" if family == socket.AF_INET6 else self._host
        self.url = f"https://{host}:{self._port}"
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()
        self._loop = loop

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._serve(sock, ctx, ready))
            except BaseException as exc:  # noqa: BLE001 - reported to start()
                failure.append(exc)
                ready.set()
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                sock.close()

        self._thread = threading.Thread(target=run, name=f"kdiag-fake-apiserver:{self._port}",
                                        daemon=True)
        self._thread.start()
        ready.wait(15)
        if failure:
            self._thread.join(5)
            self._thread = None
            raise RuntimeError(f"fake API server failed to start: {failure[0]}") from failure[0]
        return self

    def stop(self) -> None:
        """Close every connection and the listener, and join the thread. Idempotent."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if not loop.is_closed() and self._stop_event is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._stop_event.set)
        thread.join(15)
        self._thread = None

    def __enter__(self) -> FakeApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, sock: socket.socket, ctx: ssl.SSLContext, ready: threading.Event) -> None:
        self._stop_event = asyncio.Event()
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.SockSite(runner, sock, ssl_context=ctx)
        await site.start()
        ready.set()
        try:
            await self._stop_event.wait()
        finally:
            for w in list(self._watchers):
                w.wake.set()
            await site.stop()
            for tr in list(self._transports):
                tr.abort()
            tasks = [t for t in self._tasks if not t.done()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await runner.cleanup()
            for _ in range(3):  # let aborted transports and closed backend writers finish closing
                await asyncio.sleep(0)

    # -- world ---------------------------------------------------------------------------------

    def set_objects(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Replace the world atomically; changed objects get a new resourceVersion."""
        with self._store_lock:
            self._rv += 1
            self._store = build_store(objects, str(self._rv), derive_endpoints=self._derive,
                                      previous=self._store, share=self._share)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake_watchers)

    def objects(self, plural: str, group: str = "", version: str = "v1") -> list[dict[str, Any]]:
        """The objects currently served for a resource (for assertions and the demo)."""
        res = find_resource(group, version, plural)
        if res is None:
            raise KeyError(plural)
        return copy.deepcopy(list(self._store.objects(res)))

    def _stopping(self) -> bool:
        return self._stop_event is not None and self._stop_event.is_set()

    def _wake_watchers(self) -> None:
        for w in list(self._watchers):
            w.wake.set()

    def clear_requests(self) -> None:
        self.requests.clear()

    def write_kubeconfig(self, path: str | pathlib.Path, *, context: str = "kdiag-lab",
                         namespace: str = "default", user_token: str | None = None) -> pathlib.Path:
        """A kubeconfig for this server (CA inline, token or `user_token`), mode 0600."""
        from kdiag.lab.kubeconfig import write_kubeconfig

        if not self.url:
            raise RuntimeError("start() the server before writing a kubeconfig")
        return write_kubeconfig(path, server=self.url, ca_pem=self.ca_pem,
                                token=self._token if user_token is None else user_token,
                                context=context, namespace=namespace)

    # -- request handling ----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        rec = RecordedRequest(method=request.method, path=request.path,
                              query={k: request.query.get(k, "") for k in request.query},
                              accept=request.headers.get("Accept", ""), had_auth=bool(auth),
                              user_agent=request.headers.get("User-Agent", ""),
                              upgrade=request.headers.get("Upgrade", ""),
                              host=request.headers.get("Host", ""))
        self.requests.append(rec)
        audit(rec)
        if len(self.requests) > _MAX_RECORDED:  # a long `kdiag demo --serve` session
            del self.requests[: _MAX_RECORDED // 2]
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        transport = request.transport
        if transport is not None and transport not in self._transports:
            self._transports = {t for t in self._transports if not t.is_closing()}
            self._transports.add(transport)
        try:
            resp = await self._dispatch(request, auth)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a fake must answer, like the real one does
            self.errors.append(f"{request.method} {request.path}: {exc!r}")
            resp = error(500, "InternalError", f"Internal error occurred: {exc}")
        finally:
            if task is not None:
                self._tasks.discard(task)
        rec.status = resp.status
        body = getattr(resp, "body", None)
        rec.bytes = len(body) if isinstance(body, bytes | bytearray) else 0
        return resp

    def _authenticated(self, auth: str) -> bool:
        scheme, _, value = auth.strip().partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(value.strip().encode(), self._token.encode())

    async def _dispatch(self, request: web.Request, auth: str) -> web.StreamResponse:
        path = request.path.rstrip("/") or "/"
        if not self._authenticated(auth):
            if path in _PUBLIC_PATHS and not auth:
                return await self._public(path)
            return error(401, "Unauthorized", "Unauthorized")
        if path in _PUBLIC_PATHS:
            return await self._public(path)
        if path == "/api":
            return self._only_get(request) or json_response(api_versions(f"{self._host}:{self._port}"))
        if path == "/apis":
            groups = api_group_list()
            groups["groups"] = [g for g in groups["groups"] if g["name"] not in self.unserved_groups]
            return self._only_get(request) or json_response(groups)
        raw = request.raw_path.split("?", 1)[0]
        segments = [s for s in raw.split("/") if s != ""]
        if segments[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", segments[2:]
        elif segments[:1] == ["apis"] and len(segments) >= 2:
            if segments[1] in self.unserved_groups:
                return not_found_path()
            if len(segments) == 2:
                doc = api_group(segments[1])
                return self._only_get(request) or (
                    json_response(doc) if doc else not_found_path())
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            return not_found_path()
        if not rest:
            doc = api_resource_list(group, version)
            return self._only_get(request) or (json_response(doc) if doc else not_found_path())
        target = parse_target(group, version, rest, raw)
        if target is None:
            return not_found_path()
        return await self._resource_request(request, target)

    @staticmethod
    def _only_get(request: web.Request) -> web.Response | None:
        if request.method in _READ_METHODS:
            return None
        return error(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    async def _public(self, path: str) -> web.Response:
        if path == "/version":
            return json_response(version_info(self.version))
        return web.Response(text="ok", content_type="text/plain")

    async def _resource_request(self, request: web.Request, t: Target) -> web.StreamResponse:
        res = t.resource
        if res.plural == "selfsubjectaccessreviews":
            return await access_review(request, t, self.forbidden)
        connect = t.subresource in ("proxy", "portforward")
        if request.method not in _READ_METHODS and not connect:
            return error(405, "MethodNotAllowed",
                         "the server does not allow this method on the requested resource")
        if t.name is None:
            verb = "watch" if request.query.get("watch") in ("1", "true") else "list"
        else:
            verb = _METHOD_VERBS.get(request.method, "get")
        resource_name = f"{res.plural}/{t.subresource}" if t.subresource else res.plural
        verbs = {verb, "create", "get"} if connect else {verb}
        cluster_wide = t.name is None and t.namespace is None and res.namespaced
        if denied(self.forbidden, verbs, resource_name, t.namespace, cluster_wide):
            return forbidden_response(verb, t, resource_name)
        store = self._store
        if t.name is None:
            if verb == "watch":
                return await watch_response(request, t, store=lambda: self._store,
                                            watchers=self._watchers, stopping=self._stopping)
            return list_response(request, t, store)
        if t.subresource == "proxy":
            return await proxy_response(request, t, store, self._backend, self._rr)
        obj = store.get(res, t.namespace, t.name)
        if obj is None:
            return status_response(404, "NotFound", f'{res.plural} "{t.name}" not found',
                                   status_details(res, t.name))
        if t.subresource == "portforward":
            return await port_forward_response(request, obj, self._backend)
        if t.subresource == "log":
            return log_response(request, obj, self.logs)
        return get_response(request, t, obj)

    # -- where pods listen ---------------------------------------------------------------------

    def _backend(self, namespace: str, pod: str, port: int) -> tuple[str, int] | None:
        if self.backends is None:
            return None
        try:
            return self.backends(namespace, pod, port)
        except Exception:  # noqa: BLE001 - a broken callback means "nothing listens"
            return None
