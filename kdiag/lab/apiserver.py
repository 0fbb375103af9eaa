"""A faithful fake kube-apiserver on loopback (HTTPS + bearer token) for tests, the demo and kubectl.

It serves legacy discovery, get/list/watch with label and field selectors and limit/continue,
metadata-only reads, Status errors (401/403/404/405/406), an RBAC-like `forbidden` matrix, the
EndpointSlices and Endpoints the controllers would derive, pod port-forward over
`v4.channel.k8s.io`, and the service and pod proxy (WebSocket upgrades included). It runs its own
event loop in a daemon thread so synchronous clients (kubectl, the official client) can use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hmac
import json
import pathlib
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from kdiag.lab.apiserver_relay import is_loopback, port_forward, proxy_request
from kdiag.lab.apiserver_resources import (
    Resource,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    find_resource,
    version_info,
)
from kdiag.lab.apiserver_select import (
    SelectorError,
    decode_continue,
    encode_continue,
    field_selector,
    label_selector,
)
from kdiag.lab.apiserver_store import Store, build_store, object_key
from kdiag.lab.apiserver_table import table

__all__ = ["USER", "Backends", "FakeApiServer", "Forbidden", "Logs", "RecordedRequest",
           "status_response"]

#: The user every authenticated request runs as (shown in Forbidden messages, like RBAC does).
USER = "system:serviceaccount:default:kdiag-lab"
Forbidden = tuple[str, str, str | None]
Backends = Callable[[str, str, int], tuple[str, int] | None]
#: (namespace, pod, container, previous) -> log text, or None when there is none.
Logs = Callable[[str, str, str, bool], str | None]

_PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
_READ_METHODS = frozenset({"GET", "HEAD"})
_METHOD_VERBS = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
                 "DELETE": "delete", "OPTIONS": "get"}
_JSON = "application/json"
_MAX_RECORDED = 20_000
_PROXY_TAIL = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+)(?:/namespaces/[^/]+)?/[^/]+/[^/]+/proxy(/.*)?$")


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


@dataclass(frozen=True)
class _Target:
    """What a resource URL addresses (kube-apiserver's RequestInfo, reduced)."""

    resource: Resource
    namespace: str | None
    name: str | None = None
    subresource: str | None = None
    rest: str = ""  # raw path after the subresource (proxy), starting with "/" or empty


@dataclass(eq=False)
class _Watcher:
    wake: asyncio.Event = field(default_factory=asyncio.Event)


def _json_response(doc: Any, status: int = 200) -> web.Response:
    body = json.dumps(doc, separators=(",", ":")).encode()
    return web.Response(status=status, body=body,
                        headers={"Content-Type": _JSON, "Cache-Control": "no-cache, private",
                                 "Audit-Id": str(uuid.uuid4())})


def status_response(code: int, reason: str, message: str,
                    details: Mapping[str, Any] | None = None) -> web.Response:
    doc: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Failure", "message": message, "reason": reason}
    if details:
        doc["details"] = dict(details)
    doc["code"] = code
    return _json_response(doc, code)


def _error(code: int, reason: str, message: str) -> web.Response:
    return status_response(code, reason, message)


def _details(res: Resource, name: str | None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if res.group:
        d["group"] = res.group
    d["kind"] = res.plural
    return d


def _media(accept: str, want_list: bool) -> str | None:
    """'json', 'partial', 'table' or None (406) for an Accept header; the first acceptable wins."""
    if not accept.strip():
        return "json"
    for candidate in accept.split(","):
        parts = [p.strip() for p in candidate.split(";")]
        mime = parts[0].lower()
        params = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip()
        if mime not in ("application/json", "application/*", "*/*"):
            continue
        as_ = params.get("as")
        if not as_:
            return "json"
        if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            if as_ == ("PartialObjectMetadataList" if want_list else "PartialObjectMetadata"):
                return "partial"
            if as_ == "Table" and params.get("v") == "v1":
                return "table"
    return None


def _partial(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata") or {}}


def _item(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


class FakeApiServer:
    """kube-apiserver on 127.0.0.1 over HTTPS with a test CA and one bearer token. Read-only."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], *, token: str = "kdiag-lab-token",
                 forbidden: Iterable[Forbidden] = (), backends: Backends | None = None,
                 derive_endpoints: bool = True, version: str = "1.30", host: str = "127.0.0.1",
                 port: int = 0, logs: Logs | None = None) -> None:
        if not is_loopback(host):
            raise ValueError(f"the lab API server binds loopback only, not {host!r}")
        self._token = token
        self.forbidden: list[Forbidden] = list(forbidden)
        self.backends = backends
        self.logs = logs
        self._derive = derive_endpoints
        self.version = version
        self._host = host
        self._port = port
        self._rv = 1000
        self._store_lock = threading.Lock()
        self._store: Store = build_store(objects, str(self._rv), derive_endpoints=derive_endpoints)
        self.requests: list[RecordedRequest] = []
        #: Unexpected exceptions in handlers (answered 500), for debugging tests.
        self.errors: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop_event: asyncio.Event | None = None
        self._watchers: set[_Watcher] = set()
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
                                      previous=self._store)
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
                              upgrade=request.headers.get("Upgrade", ""))
        self.requests.append(rec)
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
            resp = _error(500, "InternalError", f"Internal error occurred: {exc}")
        finally:
            if task is not None:
                self._tasks.discard(task)
        rec.status = resp.status
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
            return _error(401, "Unauthorized", "Unauthorized")
        if path in _PUBLIC_PATHS:
            return await self._public(path)
        if path == "/api":
            return self._only_get(request) or _json_response(api_versions(f"{self._host}:{self._port}"))
        if path == "/apis":
            return self._only_get(request) or _json_response(api_group_list())
        raw = request.raw_path.split("?", 1)[0]
        segments = [s for s in raw.split("/") if s != ""]
        if segments[:2] == ["api", "v1"]:
            group, version, rest = "", "v1", segments[2:]
        elif segments[:1] == ["apis"] and len(segments) >= 2:
            if len(segments) == 2:
                doc = api_group(segments[1])
                return self._only_get(request) or (
                    _json_response(doc) if doc else _not_found_path())
            group, version, rest = segments[1], segments[2], segments[3:]
        else:
            return _not_found_path()
        if not rest:
            doc = api_resource_list(group, version)
            return self._only_get(request) or (_json_response(doc) if doc else _not_found_path())
        target = self._parse_target(group, version, rest, raw)
        if target is None:
            return _not_found_path()
        return await self._resource_request(request, target)

    @staticmethod
    def _only_get(request: web.Request) -> web.Response | None:
        if request.method in _READ_METHODS:
            return None
        return _error(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    async def _public(self, path: str) -> web.Response:
        if path == "/version":
            return _json_response(version_info(self.version))
        return web.Response(text="ok", content_type="text/plain")

    @staticmethod
    def _parse_target(group: str, version: str, rest: list[str], raw_path: str) -> _Target | None:
        namespace: str | None = None
        parts = [unquote(p) for p in rest]
        if parts[0] == "namespaces" and len(parts) >= 3 and not (len(parts) == 3 and parts[2] in ("status", "finalize")):
            namespace = parts[1]
            parts = parts[2:]
        res = find_resource(group, version, parts[0])
        if res is None:
            return None
        if namespace is not None and not res.namespaced:
            return None
        name = parts[1] if len(parts) > 1 else None
        sub = parts[2] if len(parts) > 2 else None
        tail = ""
        if sub is not None:
            if sub not in {s.name for s in res.subresources}:
                return None
            if len(parts) > 3:
                if sub != "proxy":
                    return None
                m = _PROXY_TAIL.match(raw_path)
                tail = m.group(1) if m else "/" + "/".join(rest[-(len(parts) - 3):])
        return _Target(res, namespace, name, sub, tail)

    def _denied(self, verbs: Iterable[str], resource: str, namespace: str | None,
                cluster_wide_list: bool) -> bool:
        verbs = set(verbs)
        for verb, plural, ns in self.forbidden:
            if verb not in verbs and verb != "*":
                continue
            if plural not in (resource, "*"):
                continue
            if ns == "*" or ns == namespace or cluster_wide_list:
                return True
        return False

    def _forbidden(self, verb: str, target: _Target, resource: str) -> web.Response:
        res = target.resource
        who = f'{res.plural} "{target.name}"' if target.name else res.plural
        where = (f'in the namespace "{target.namespace}"' if target.namespace is not None
                 else "at the cluster scope")
        msg = (f'{who} is forbidden: User "{USER}" cannot {verb} resource "{resource}" '
               f'in API group "{res.group}" {where}')
        return status_response(403, "Forbidden", msg, _details(res, target.name))

    async def _resource_request(self, request: web.Request, t: _Target) -> web.StreamResponse:
        res = t.resource
        if res.plural == "selfsubjectaccessreviews":
            return await self._access_review(request, t)
        connect = t.subresource in ("proxy", "portforward")
        if request.method not in _READ_METHODS and not connect:
            return _error(405, "MethodNotAllowed",
                          "the server does not allow this method on the requested resource")
        if t.name is None:
            verb = "watch" if request.query.get("watch") in ("1", "true") else "list"
        else:
            verb = _METHOD_VERBS.get(request.method, "get")
        resource_name = f"{res.plural}/{t.subresource}" if t.subresource else res.plural
        verbs = {verb, "create", "get"} if connect else {verb}
        cluster_wide = t.name is None and t.namespace is None and res.namespaced
        if self._denied(verbs, resource_name, t.namespace, cluster_wide):
            return self._forbidden(verb, t, resource_name)
        store = self._store
        if t.name is None:
            if verb == "watch":
                return await self._watch(request, t)
            return self._list(request, t, store)
        if t.subresource == "proxy":
            return await self._proxy(request, t, store)
        obj = store.get(res, t.namespace, t.name)
        if obj is None:
            return status_response(404, "NotFound", f'{res.plural} "{t.name}" not found',
                                   _details(res, t.name))
        if t.subresource == "portforward":
            return await self._port_forward(request, obj)
        if t.subresource == "log":
            return self._log(request, obj)
        media = _media(request.headers.get("Accept", ""), want_list=False)
        if media is None:
            return _not_acceptable()
        if media == "table":
            return _json_response(table([obj], res.kind, {}, request.query.get("includeObject", "")))
        return _json_response(_partial(obj) if media == "partial" else obj)

    def _select(self, request: web.Request, t: _Target, store: Store) -> list[dict[str, Any]]:
        labels = label_selector(request.query.get("labelSelector"))
        fields = field_selector(request.query.get("fieldSelector"), t.resource.plural)
        return [o for o in store.objects(t.resource, t.namespace) if labels(o) and fields(o)]

    def _list(self, request: web.Request, t: _Target, store: Store) -> web.Response:
        media = _media(request.headers.get("Accept", ""), want_list=True)
        if media is None:
            return _not_acceptable()
        try:
            items = self._select(request, t, store)
            token = request.query.get("continue") or ""
            rv = store.resource_version
            if token:
                rv, start = decode_continue(token)
                items = [o for o in items if object_key(o) > start]
            limit_text = request.query.get("limit") or "0"
            if not limit_text.isdigit():
                raise SelectorError(f"invalid limit: {limit_text!r}")
        except SelectorError as exc:
            return _error(400, "BadRequest", str(exc))
        limit = int(limit_text)
        meta: dict[str, Any] = {"resourceVersion": store.resource_version if not token else rv}
        if limit and len(items) > limit:
            page = items[:limit]
            meta["continue"] = encode_continue(meta["resourceVersion"], object_key(page[-1]))
            if not request.query.get("labelSelector") and not request.query.get("fieldSelector"):
                meta["remainingItemCount"] = len(items) - limit
            items = page
        if media == "table":
            doc = table(items, t.resource.kind, meta, request.query.get("includeObject", ""))
        elif media == "partial":
            doc = {"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                   "metadata": meta, "items": [_partial(o) for o in items]}
        else:
            doc = {"kind": t.resource.list_kind, "apiVersion": t.resource.group_version,
                   "metadata": meta, "items": [_item(o) for o in items]}
        return _json_response(doc)

    async def _watch(self, request: web.Request, t: _Target) -> web.StreamResponse:
        try:
            self._select(request, t, self._store)
        except SelectorError as exc:
            return _error(400, "BadRequest", str(exc))
        try:
            timeout = float(request.query.get("timeoutSeconds") or 1800)
        except ValueError:
            timeout = 1800.0
        resp = web.StreamResponse(status=200, headers={"Content-Type": _JSON,
                                                       "Cache-Control": "no-cache, private"})
        await resp.prepare(request)
        watcher = _Watcher()
        self._watchers.add(watcher)
        deadline = time.monotonic() + timeout
        seen: dict[str, dict[str, Any]] = {}
        start_rv = request.query.get("resourceVersion") or ""
        first = True
        try:
            while not (self._stop_event and self._stop_event.is_set()):
                watcher.wake.clear()
                store = self._store
                current = {object_key(o): o for o in self._select(request, t, store)}
                events: list[tuple[str, dict[str, Any]]] = []
                if first and start_rv not in ("", "0") and start_rv == store.resource_version:
                    seen = dict(current)
                else:
                    for k, o in current.items():
                        if k not in seen:
                            events.append(("ADDED", o))
                        elif seen[k]["metadata"]["resourceVersion"] != o["metadata"]["resourceVersion"]:
                            events.append(("MODIFIED", o))
                    events += [("DELETED", o) for k, o in seen.items() if k not in current]
                    seen = current
                first = False
                for kind, obj in events:
                    await resp.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watcher.wake.wait(), remaining)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._watchers.discard(watcher)
        with contextlib.suppress(Exception):
            await resp.write_eof()
        return resp

    # -- logs and access reviews ---------------------------------------------------------------

    def _log(self, request: web.Request, pod: Mapping[str, Any]) -> web.Response:
        md = pod.get("metadata") or {}
        ns, name = str(md.get("namespace", "default")), str(md.get("name", ""))
        names = [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or ()]
        container = request.query.get("container") or ""
        if not container:
            if len(names) != 1:
                return _error(400, "BadRequest", f"a container name must be specified for pod {name}, "
                                                 f"choose one of: [{' '.join(names)}]")
            container = names[0]
        elif container not in names:
            return _error(400, "BadRequest", f"container {container} is not valid for pod {name}")
        previous = request.query.get("previous") in ("1", "true")
        text = None
        if self.logs is not None:
            with contextlib.suppress(Exception):
                text = self.logs(ns, name, container, previous)
        if text is None:
            if previous:
                return _error(400, "BadRequest", f'previous terminated container "{container}" in '
                                                 f'pod "{name}" not found')
            text = ""
        tail = request.query.get("tailLines") or ""
        if tail.isdigit():
            lines = text.splitlines(keepends=True)
            text = "".join(lines[-int(tail):]) if int(tail) else ""
        body = text.encode()
        limit = request.query.get("limitBytes") or ""
        if limit.isdigit():
            body = body[:int(limit)]
        return web.Response(body=body, headers={"Content-Type": "text/plain"})

    async def _access_review(self, request: web.Request, t: _Target) -> web.Response:
        if request.method != "POST" or t.name is not None:
            return _error(405, "MethodNotAllowed",
                          "the server does not allow this method on the requested resource")
        try:
            review = json.loads(await request.read() or b"{}")
            attrs = (review.get("spec") or {}).get("resourceAttributes") or {}
        except (ValueError, AttributeError):
            return _error(400, "BadRequest", "the body of the request was in an unknown format")
        verb = str(attrs.get("verb") or "")
        plural, _, sub = str(attrs.get("resource") or "").partition("/")
        sub = str(attrs.get("subresource") or "") or sub
        ns = attrs.get("namespace") or None
        full = f"{plural}/{sub}" if sub else plural
        connect = sub in ("proxy", "portforward")
        # like RBAC: no reason on a denial (the lab is read-only, writes are never allowed)
        allowed = ((verb in ("get", "list", "watch") or (connect and verb == "create"))
                   and not self._denied({verb}, full, ns, ns is None and verb in ("list", "watch")))
        status: dict[str, Any] = {"allowed": allowed}
        review = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
                  "metadata": {"creationTimestamp": None}, "spec": review.get("spec") or {},
                  "status": status}
        return _json_response(review, 201)

    # -- port-forward and proxy ----------------------------------------------------------------

    def _backend(self, namespace: str, pod: str, port: int) -> tuple[str, int] | None:
        if self.backends is None:
            return None
        try:
            return self.backends(namespace, pod, port)
        except Exception:  # noqa: BLE001 - a broken callback means "nothing listens"
            return None

    async def _port_forward(self, request: web.Request, pod: Mapping[str, Any]) -> web.StreamResponse:
        md = pod.get("metadata") or {}
        ns, name = md.get("namespace", "default"), md.get("name", "")
        upgrade = request.headers.get("Upgrade", "").lower()
        if upgrade.startswith("spdy/3.1"):  # kubectl port-forward
            from kdiag.lab.apiserver_relay import (
                HijackedResponse,
                dial_loopback,
                port_forward_error_text,
            )
            from kdiag.lab.apiserver_spdy import spdy_port_forward

            return await spdy_port_forward(request, pod=pod,
                                           resolve=lambda port: self._backend(ns, name, port),
                                           error_text=port_forward_error_text, dial=dial_loopback,
                                           hijacked=HijackedResponse)
        offered = {p.strip() for v in request.headers.getall("Sec-WebSocket-Protocol", [])
                   for p in v.split(",")}
        if upgrade == "websocket" and "v4.channel.k8s.io" not in offered:
            # kubectl ≥1.31 first tries SPDY tunnelled in a websocket; like an apiserver without
            # that feature, refuse the upgrade so it falls back to plain SPDY/3.1
            return _error(400, "BadRequest", "unable to upgrade connection: subprotocols "
                                             f"{sorted(offered)} are not supported; use "
                                             "v4.channel.k8s.io or SPDY/3.1")
        if upgrade != "websocket":
            return _error(400, "BadRequest",
                          "unable to upgrade connection: this lab API server speaks port-forward "
                          "over websocket (v4.channel.k8s.io) or SPDY/3.1 (portforward.k8s.io)")
        ports: list[int] = []
        for value in request.query.getall("ports", []):
            for p in value.split(","):
                if not p.strip().isdigit() or not 0 < int(p) < 65536:
                    return _error(400, "BadRequest", f"invalid port number {p!r}")
                ports.append(int(p))
        if not ports:
            return _error(400, "BadRequest", 'query parameter "port" is required')
        return await port_forward(request, ports=ports, pod=pod,
                                  resolve=lambda port: self._backend(ns, name, port))

    async def _proxy(self, request: web.Request, t: _Target, store: Store) -> web.StreamResponse:
        assert t.name is not None
        scheme, name, port = _split_scheme_name_port(t.name)
        query = f"?{request.query_string}" if request.query_string else ""
        if not t.rest and request.method == "GET" and not request.path.endswith("/"):
            # like the apiserver: the proxy root needs its trailing slash (relative links work)
            location = request.path + "/" + query
            return web.Response(status=301, headers={"Location": location, "Content-Type": "text/html"},
                                text=f'<a href="{location}">Moved Permanently</a>.\n\n')
        path = (t.rest or "/") + query
        ns = t.namespace or "default"
        if t.resource.plural == "pods":
            pod = store.get(t.resource, ns, name)
            if pod is None:
                return status_response(404, "NotFound", f'pods "{name}" not found',
                                       _details(t.resource, name))
            ip = (pod.get("status") or {}).get("podIP") or ""
            if not ip:
                return _error(503, "ServiceUnavailable", f'pod "{name}" has no IP address')
            number = int(port) if port.isdigit() else _named_container_port(pod, port) or 80
            return await self._forward(request, ns, name, number, ip, path, scheme == "https")
        return await self._service_proxy(request, ns, name, port, path, store, scheme == "https")

    async def _service_proxy(self, request: web.Request, ns: str, name: str, port: str, path: str,
                             store: Store, tls: bool = False) -> web.StreamResponse:
        core = find_resource("", "v1", "services")
        eps_res = find_resource("", "v1", "endpoints")
        assert core is not None and eps_res is not None
        port_name = port
        if port.isdigit():
            svc = store.get(core, ns, name)
            if svc is None:
                return status_response(404, "NotFound", f'services "{name}" not found',
                                       _details(core, name))
            match = [p for p in (svc.get("spec") or {}).get("ports") or () if p.get("port") == int(port)]
            if not match:
                return _error(503, "ServiceUnavailable",
                              f'no service port {port} found for service "{name}"')
            port_name = str(match[0].get("name") or "")
        eps = store.get(eps_res, ns, name)
        if eps is None:
            if store.get(core, ns, name) is None:
                return status_response(404, "NotFound", f'services "{name}" not found',
                                       _details(core, name))
            return status_response(404, "NotFound", f'endpoints "{name}" not found',
                                   _details(eps_res, name))
        candidates: list[tuple[str, str, str, int]] = []
        for subset in eps.get("subsets") or ():
            for sp in subset.get("ports") or ():
                if str(sp.get("name") or "") != port_name:
                    continue
                for addr in subset.get("addresses") or ():
                    ref = addr.get("targetRef") or {}
                    candidates.append((ref.get("namespace", ns), ref.get("name", ""),
                                       addr.get("ip", ""), int(sp.get("port", 0))))
        if not candidates:
            return _error(503, "ServiceUnavailable", f'no endpoints available for service "{name}"')
        key = f"{ns}/{name}:{port_name}"
        i = self._rr.get(key, 0)
        self._rr[key] = i + 1
        pod_ns, pod_name, ip, number = candidates[i % len(candidates)]
        return await self._forward(request, pod_ns, pod_name, number, ip, path, tls)

    async def _forward(self, request: web.Request, ns: str, pod: str, port: int, ip: str,
                       path: str, tls: bool = False) -> web.StreamResponse:
        target = self._backend(ns, pod, port)
        display = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        return await proxy_request(request, target=target, path=path, host_header=display,
                                   dial_error=f"dial tcp {display}: connect: connection refused",
                                   tls=tls,
                                   error=_error)


def _split_scheme_name_port(text: str) -> tuple[str, str, str]:
    """'svc', 'svc:port', 'https:svc:port' -> (scheme, name, port), like utilnet.SplitSchemeNamePort."""
    parts = text.split(":")
    if len(parts) == 3 and parts[0] in ("http", "https"):
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", parts[0], ""


def _named_container_port(pod: Mapping[str, Any], port_name: str) -> int | None:
    for c in (pod.get("spec") or {}).get("containers") or ():
        for p in c.get("ports") or ():
            if p.get("name") == port_name:
                return int(p["containerPort"])
    return None


def _not_found_path() -> web.Response:
    return status_response(404, "NotFound", "the server could not find the requested resource")


def _not_acceptable() -> web.Response:
    return _error(406, "NotAcceptable",
                  "only the following media types are accepted: application/json, "
                  "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, "
                  "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")


