"""The fake kube-apiserver against the official client (kubernetes 37) and the real kubectl."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from kdiag.lab.apiserver.authorization import USER
from kdiag.lab.apiserver.server import FakeApiServer

NS = "default"
PARTIAL = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
PARTIAL_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


# -- the world ------------------------------------------------------------------------------


def _pod(name: str, labels: dict[str, str], *, ready: bool = True, node: str = "node-a",
         phase: str = "Running", ns: str = NS, ip: str | None = None) -> dict[str, Any]:
    n = sum(map(ord, name)) % 200 + 2
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"nodeName": node, "containers": [{
            "name": "app", "image": "chat:1",
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
                      {"name": "ws", "containerPort": 8081, "protocol": "TCP"}]}]},
        "status": {"phase": phase, "podIP": ip or f"10.244.0.{n}",
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


def _svc(name: str, selector: dict[str, str], ports: list[dict[str, Any]], ns: str = NS) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10", "selector": selector,
                     "ports": ports}}


def world() -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}},
        {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "labels": {"zone": "a"}}},
        _pod("web-1", {"app": "web", "tier": "front", "version": "v1"}),
        _pod("web-2", {"app": "web", "tier": "front", "version": "v2"}, node="node-b"),
        _pod("web-3", {"app": "web", "tier": "front", "version": "v2"}, ready=False),
        _pod("api-1", {"app": "api"}, phase="Pending", ready=False),
        _pod("worker-1", {"role": "worker"}),
        _pod("other-1", {"app": "web"}, ns="other"),
        _svc("web", {"app": "web"}, [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
                                     {"name": "ws", "port": 81, "targetPort": 8081, "protocol": "TCP"}]),
        _svc("api", {"app": "api"}, [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]),
        {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
         "metadata": {"name": "chat", "namespace": NS},
         "spec": {"ingressClassName": "nginx", "rules": [{"host": "chatapp.com", "http": {"paths": [
             {"path": "/", "pathType": "Prefix",
              "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass", "metadata": {"name": "nginx"},
         "spec": {"controller": "k8s.io/ingress-nginx"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "chat-tls", "namespace": NS},
         "type": "kubernetes.io/tls", "data": {"tls.crt": "c2VjcmV0", "tls.key": "c2VjcmV0"}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": NS},
         "data": {"a": "b"}},
        {"apiVersion": "v1", "kind": "Event", "metadata": {"name": "web-1.a", "namespace": NS},
         "involvedObject": {"kind": "Pod", "name": "web-1", "namespace": NS},
         "reason": "Unhealthy", "message": "Readiness probe failed: connection refused",
         "type": "Warning", "count": 3, "source": {"component": "kubelet"},
         "firstTimestamp": "2026-11-20T09:00:00Z", "lastTimestamp": "2026-11-20T09:05:00Z"},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
         "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}},
                               "spec": {"containers": [{"name": "app", "image": "chat:1"}]}}}},
    ]


# -- loopback backends ----------------------------------------------------------------------


class Backends:
    """A TCP echo server and an HTTP+WebSocket app on 127.0.0.1, in their own loop thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.seen: list[dict[str, Any]] = []
        self.echo_port, self.http_port = self._run(self._start())
        self.closed_port = _free_port()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    async def _start(self) -> tuple[int, int]:
        from aiohttp import web

        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
            writer.close()

        self._echo = await asyncio.start_server(echo, "127.0.0.1", 0)

        async def info(request: web.Request) -> web.Response:
            body = await request.read()
            doc = {"method": request.method, "path": request.path, "query": dict(request.query),
                   "headers": dict(request.headers), "body": body.decode(),
                   "server": "http"}
            self.seen.append(doc)
            status = int(request.query.get("status", "200"))
            return web.json_response(doc, status=status, headers={"X-Backend": "yes"})

        async def ws(request: web.Request) -> web.StreamResponse:
            if request.path.endswith("/reject"):
                return web.Response(status=403, text="no token\n")
            sock = web.WebSocketResponse()
            await sock.prepare(request)
            async for msg in sock:
                await sock.send_str("echo:" + msg.data)
            return sock

        async def chunked(request: web.Request) -> web.StreamResponse:
            resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for i in range(3):
                await resp.write(f"part {i}\n".encode())
                await asyncio.sleep(0.01)
            await resp.write_eof()
            return resp

        app = web.Application()
        app.router.add_route("GET", "/ws{tail:.*}", ws)
        app.router.add_route("GET", "/chunked", chunked)
        app.router.add_route("*", "/{tail:.*}", info)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        http_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        import trustme

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        trustme.CA().issue_cert("127.0.0.1").configure_cert(ctx)
        tls_site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ctx)
        await tls_site.start()
        self.https_port = tls_site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self._echo.sockets[0].getsockname()[1], http_port

    def resolve(self, namespace: str, pod: str, port: int) -> tuple[str, int] | None:
        if pod == "worker-1":
            return None  # nothing listens in this pod
        if port == 7000:
            return ("127.0.0.1", self.echo_port)
        if port == 7001:
            return ("127.0.0.1", self.closed_port)
        if port in (8080, 8081):
            return ("127.0.0.1", self.http_port)
        if port == 8443:
            return ("127.0.0.1", self.https_port)
        return None

    def close(self) -> None:
        async def stop() -> None:
            self._echo.close()
            await self._echo.wait_closed()
            await self._runner.cleanup()

        self._run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def backends() -> Iterator[Backends]:
    b = Backends()
    yield b
    b.close()


@pytest.fixture(scope="module")
def server(backends: Backends) -> Iterator[FakeApiServer]:
    def logs(ns: str, pod: str, container: str, previous: bool) -> str | None:
        if pod == "web-1" and not previous:
            return "".join(f"line {i}\n" for i in range(1, 6))
        return None

    srv = FakeApiServer(world(), forbidden=[("list", "secrets", "*"), ("get", "configmaps", "other")],
                        backends=backends.resolve, logs=logs)
    with srv:
        yield srv


@pytest.fixture(scope="module")
def kubeconfig(server: FakeApiServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(server.write_kubeconfig(tmp_path_factory.mktemp("kc") / "config"))


@pytest.fixture()
def api(kubeconfig: str) -> Iterator[Any]:
    from kubernetes import config

    client = config.new_client_from_config(config_file=kubeconfig)
    yield client
    client.close()


def _v1(api: Any) -> Any:
    from kubernetes import client

    return client.CoreV1Api(api)


def _raw_json(resp: Any) -> Any:
    assert resp.headers["Content-Type"] == "application/json"
    return json.loads(resp.data)


def _get(server: FakeApiServer, path: str, token: str | None = None, scheme: str = "Bearer",
         accept: str = "application/json") -> tuple[int, dict[str, Any]]:
    ctx = ssl.create_default_context(cadata=server.ca_pem.decode())
    req = urllib.request.Request(server.url + path, headers={"Accept": accept})
    if token is not None:
        req.add_header("Authorization", f"{scheme} {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read())


# -- discovery, auth, shapes ----------------------------------------------------------------


def test_discovery_documents(api: Any) -> None:
    from kubernetes import client

    assert client.CoreApi(api).get_api_versions(_request_timeout=5).versions == ["v1"]
    groups = {g.name: g.preferred_version.group_version
              for g in client.ApisApi(api).get_api_versions(_request_timeout=5).groups}
    assert groups["networking.k8s.io"] == "networking.k8s.io/v1"
    assert {"apps", "discovery.k8s.io", "events.k8s.io"} <= set(groups)
    core = {r.name: r for r in _v1(api).get_api_resources(_request_timeout=5).resources}
    assert core["pods"].short_names == ["po"] and core["services"].short_names == ["svc"]
    assert core["endpoints"].short_names == ["ep"] and core["pods"].namespaced
    assert not core["nodes"].namespaced
    pf = core["pods/portforward"]
    assert pf.singular_name == "" and not pf.short_names and pf.kind == "PodPortForwardOptions"
    assert "services/proxy" in core and "pods/proxy" in core and "pods/log" in core
    net = {r.name: r for r in client.NetworkingV1Api(api).get_api_resources(_request_timeout=5).resources}
    assert net["ingresses"].short_names == ["ing"] and not net["ingressclasses"].namespaced


@pytest.mark.parametrize(("token", "scheme", "path", "code"), [
    ("kdiag-lab-token", "Bearer", "/api/v1/namespaces/default/pods", 200),
    ("kdiag-lab-token", "bearer", "/api/v1/namespaces/default/pods", 200),  # in-cluster client
    ("wrong", "Bearer", "/api/v1/namespaces/default/pods", 401),
    ("kdiag-lab-token", "Basic", "/api/v1/namespaces/default/pods", 401),
    (None, "", "/api/v1/namespaces/default/pods", 401),
    (None, "", "/api", 401),
    (None, "", "/version", 200),
    ("wrong", "Bearer", "/version", 401),
])
def test_authentication(server: FakeApiServer, token: str | None, scheme: str, path: str,
                        code: int) -> None:
    status, body = _get(server, path, token, scheme)
    assert status == code
    if code == 401:
        assert body == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    rec = [r for r in server.requests if r.path == path][-1]
    assert rec.had_auth is (token is not None)
    assert all(server.token not in json.dumps(r.__dict__) for r in server.requests)


def test_version(api: Any) -> None:
    from kubernetes import client

    info = client.VersionApi(api).get_code(_request_timeout=5)
    assert (info.major, info.minor, info.git_version) == ("1", "30", "v1.30.0")


def test_raw_list_shape(api: Any) -> None:
    doc = _raw_json(_v1(api).list_namespaced_pod(NS, _preload_content=False, _request_timeout=5))
    assert doc["kind"] == "PodList" and doc["apiVersion"] == "v1"
    assert doc["metadata"]["resourceVersion"].isdigit() and "continue" not in doc["metadata"]
    names = [i["metadata"]["name"] for i in doc["items"]]
    assert names == ["api-1", "web-1", "web-2", "web-3", "worker-1"]
    assert all("kind" not in i and "apiVersion" not in i for i in doc["items"])
    md = doc["items"][0]["metadata"]
    assert isinstance(md["uid"], str) and isinstance(md["resourceVersion"], str)


def test_typed_models_validate(api: Any) -> None:
    from kubernetes import client

    pods = _v1(api).list_pod_for_all_namespaces(_request_timeout=5).items
    assert {p.metadata.name for p in pods} >= {"web-1", "other-1"}
    assert pods[0].spec.containers[0].ports[0].container_port == 8080
    svc = _v1(api).read_namespaced_service("web", NS, _request_timeout=5)
    assert svc.kind == "Service" and svc.spec.ports[0].target_port == "http"
    ing = client.NetworkingV1Api(api).read_namespaced_ingress("chat", NS, _request_timeout=5)
    assert ing.api_version == "networking.k8s.io/v1" and ing.spec.ingress_class_name == "nginx"
    dep = client.AppsV1Api(api).read_namespaced_deployment("web", NS, _request_timeout=5)
    assert dep.spec.replicas == 3
    nodes = _v1(api).list_node(_request_timeout=5).items
    assert [n.metadata.name for n in nodes] == ["node-a"] and nodes[0].metadata.namespace is None


def test_pagination_with_continue(api: Any) -> None:
    names, remaining, tok = [], [], None
    while True:
        doc = _raw_json(_v1(api).list_pod_for_all_namespaces(
            limit=2, _continue=tok, _preload_content=False, _request_timeout=5))
        names += [i["metadata"]["name"] for i in doc["items"]]
        remaining.append(doc["metadata"].get("remainingItemCount"))
        tok = doc["metadata"].get("continue")
        assert len(doc["items"]) <= 2
        if not tok:
            break
    assert names == ["api-1", "web-1", "web-2", "web-3", "worker-1", "other-1"]
    assert remaining == [4, 2, None]


def test_typed_pagination_and_bad_token(api: Any) -> None:
    from kubernetes.client.exceptions import ApiException

    first = _v1(api).list_namespaced_pod(NS, limit=3, _request_timeout=5)
    assert len(first.items) == 3 and first.metadata.remaining_item_count == 2
    rest = _v1(api).list_namespaced_pod(NS, limit=3, _continue=first.metadata._continue,
                                        _request_timeout=5)
    assert [p.metadata.name for p in rest.items] == ["web-3", "worker-1"]
    with pytest.raises(ApiException) as exc:
        _v1(api).list_namespaced_pod(NS, limit=3, _continue="garbage!", _request_timeout=5)
    assert exc.value.status == 400 and json.loads(exc.value.body)["reason"] == "BadRequest"


@pytest.mark.parametrize(("selector", "expected"), [
    ("app=web", {"web-1", "web-2", "web-3"}),
    ("app==web,version=v2", {"web-2", "web-3"}),
    ("app!=web", {"api-1", "worker-1"}),
    ("version in (v1, v3)", {"web-1"}),
    ("app=web,version notin (v1)", {"web-2", "web-3"}),
    ("role", {"worker-1"}),
    ("!app", {"worker-1"}),
    ("tier,!version", set()),
    ("app in (web,api),tier!=front", {"api-1"}),
])
def test_label_selectors(api: Any, selector: str, expected: set[str]) -> None:
    doc = _raw_json(_v1(api).list_namespaced_pod(NS, label_selector=selector, _preload_content=False,
                                                 _request_timeout=5))
    assert {i["metadata"]["name"] for i in doc["items"]} == expected


@pytest.mark.parametrize(("selector", "expected"), [
    ("metadata.name=web-2", {"web-2"}),
    ("spec.nodeName=node-b", {"web-2"}),
    ("status.phase=Pending", {"api-1"}),
    ("status.phase!=Running", {"api-1"}),
    ("metadata.namespace=other", {"other-1"}),
    ("spec.nodeName=node-a,status.phase=Running", {"web-1", "web-3", "worker-1", "other-1"}),
])
def test_field_selectors(api: Any, selector: str, expected: set[str]) -> None:
    pods = _v1(api).list_pod_for_all_namespaces(field_selector=selector, _request_timeout=5).items
    assert {p.metadata.name for p in pods} == expected


def test_bad_selectors_are_400(api: Any) -> None:
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as exc:
        _v1(api).list_namespaced_pod(NS, field_selector="spec.bogus=1", _request_timeout=5)
    assert exc.value.status == 400 and "field label not supported: spec.bogus" in exc.value.body
    with pytest.raises(ApiException) as exc:
        _v1(api).list_namespaced_pod(NS, label_selector="app in web", _request_timeout=5)
    assert exc.value.status == 400


def test_not_found_status(api: Any) -> None:
    from kubernetes import client
    from kubernetes.client.exceptions import NotFoundException

    with pytest.raises(NotFoundException) as exc:
        _v1(api).read_namespaced_pod("nope", NS, _request_timeout=5)
    body = json.loads(exc.value.body)
    assert body["kind"] == "Status" and body["reason"] == "NotFound" and body["code"] == 404
    assert body["message"] == 'pods "nope" not found'
    assert body["details"] == {"name": "nope", "kind": "pods"}
    with pytest.raises(NotFoundException) as exc:
        client.NetworkingV1Api(api).read_namespaced_ingress("chat", "other", _request_timeout=5)
    assert json.loads(exc.value.body)["details"]["group"] == "networking.k8s.io"


def test_forbidden_matrix(api: Any) -> None:
    from kubernetes.client.exceptions import ForbiddenException

    with pytest.raises(ForbiddenException) as exc:
        _v1(api).list_namespaced_secret(NS, _request_timeout=5)
    body = json.loads(exc.value.body)
    assert body["reason"] == "Forbidden" and body["code"] == 403
    assert body["message"] == (f'secrets is forbidden: User "{USER}" cannot list resource "secrets" '
                               'in API group "" in the namespace "default"')
    with pytest.raises(ForbiddenException) as exc:
        _v1(api).list_secret_for_all_namespaces(_request_timeout=5)
    assert "at the cluster scope" in json.loads(exc.value.body)["message"]
    # get is not denied, only list; configmaps are denied in "other" only
    assert _v1(api).read_namespaced_config_map("cfg", NS, _request_timeout=5).data == {"a": "b"}
    with pytest.raises(ForbiddenException) as exc:
        _v1(api).read_namespaced_config_map("cfg", "other", _request_timeout=5)
    assert json.loads(exc.value.body)["message"].startswith('configmaps "cfg" is forbidden: ')


def test_metadata_only_reads(api: Any) -> None:
    r = _v1(api).read_namespaced_secret("chat-tls", NS, _preload_content=False, _request_timeout=5,
                                        _headers={"Accept": PARTIAL + ",application/json"})
    doc = _raw_json(r)
    assert doc["kind"] == "PartialObjectMetadata" and doc["apiVersion"] == "meta.k8s.io/v1"
    assert doc["metadata"]["name"] == "chat-tls" and set(doc) == {"kind", "apiVersion", "metadata"}
    r = _v1(api).list_namespaced_config_map(NS, _preload_content=False, _request_timeout=5,
                                            _headers={"Accept": PARTIAL_LIST})
    doc = _raw_json(r)
    assert doc["kind"] == "PartialObjectMetadataList"
    assert [set(i) for i in doc["items"]] == [{"kind", "apiVersion", "metadata"}]
    # a list asked for as=PartialObjectMetadata (not ...List) falls back to the next type
    r = _v1(api).list_namespaced_config_map(NS, _preload_content=False, _request_timeout=5,
                                            _headers={"Accept": PARTIAL + ",application/json"})
    assert _raw_json(r)["items"][0]["data"] == {"a": "b"}


def test_unacceptable_media_type_and_writes(api: Any) -> None:
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as exc:
        _v1(api).list_namespaced_pod(NS, _request_timeout=5,
                                     _headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert exc.value.status == 406
    with pytest.raises(ApiException) as exc:
        _v1(api).delete_namespaced_pod("web-1", NS, _request_timeout=5)
    assert exc.value.status == 405 and json.loads(exc.value.body)["reason"] == "MethodNotAllowed"
    assert _v1(api).read_namespaced_pod("web-1", NS, _request_timeout=5).metadata.name == "web-1"


def test_pod_logs(api: Any) -> None:
    from kubernetes.client.exceptions import ApiException

    assert _v1(api).read_namespaced_pod_log("web-1", NS, tail_lines=2, _request_timeout=5) == "line 4\nline 5\n"
    assert _v1(api).read_namespaced_pod_log("web-2", NS, _request_timeout=5) == ""
    with pytest.raises(ApiException) as exc:
        _v1(api).read_namespaced_pod_log("web-1", NS, previous=True, _request_timeout=5)
    assert exc.value.status == 400 and "previous terminated container" in exc.value.body
    with pytest.raises(ApiException) as exc:
        _v1(api).read_namespaced_pod_log("web-1", NS, container="nope", _request_timeout=5)
    assert exc.value.status == 400


def test_events_are_linked_to_their_objects(api: Any) -> None:
    pod = _v1(api).read_namespaced_pod("web-1", NS, _request_timeout=5)
    sel = f"involvedObject.name=web-1,involvedObject.namespace={NS},involvedObject.uid={pod.metadata.uid}"
    events = _v1(api).list_namespaced_event(NS, field_selector=sel, _request_timeout=5).items
    assert [e.reason for e in events] == ["Unhealthy"]
    from kubernetes import client

    ev1 = client.EventsV1Api(api).list_namespaced_event(NS, _request_timeout=5).items
    assert ev1[0].note.startswith("Readiness probe failed") and ev1[0].regarding.uid == pod.metadata.uid


# -- derived endpoints, world changes, watch --------------------------------------------------


def test_derived_endpoint_slices_and_endpoints(api: Any) -> None:
    from kubernetes import client

    slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
        NS, label_selector="kubernetes.io/service-name=web", _request_timeout=5).items
    assert len(slices) == 1
    eps = {e.target_ref.name: e.conditions.ready for e in slices[0].endpoints}
    assert eps == {"web-1": True, "web-2": True, "web-3": False}
    assert {(p.name, p.port) for p in slices[0].ports} == {("http", 8080), ("ws", 8081)}
    ep = _v1(api).read_namespaced_endpoints("web", NS, _request_timeout=5)
    assert {a.target_ref.name for a in ep.subsets[0].addresses} == {"web-1", "web-2"}
    assert [a.target_ref.name for a in ep.subsets[0].not_ready_addresses] == ["web-3"]
    # api-1 is Pending with no readiness: its slice has a not-ready endpoint and no ready address
    api_ep = _v1(api).read_namespaced_endpoints("api", NS, _request_timeout=5)
    assert api_ep.subsets[0].addresses is None


def test_namespaces_of_objects_exist() -> None:
    srv = FakeApiServer([_pod("p", {}, ns="shop")])
    assert [(n["metadata"]["name"], n["status"]["phase"]) for n in srv.objects("namespaces")] == [
        ("default", "Active"), ("shop", "Active")]


def test_given_slices_are_not_derived() -> None:
    given = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
             "metadata": {"name": "web-manual", "namespace": NS,
                          "labels": {"kubernetes.io/service-name": "web"}},
             "addressType": "IPv4", "endpoints": [], "ports": []}
    srv = FakeApiServer([*world(), given])
    assert [s["metadata"]["name"] for s in srv.objects("endpointslices", "discovery.k8s.io")] == ["web-manual"]
    assert {e["metadata"]["name"] for e in srv.objects("endpoints")} == {"web", "api"}
    assert FakeApiServer(world(), derive_endpoints=False).objects("endpoints") == []


def test_set_objects_changes_world_and_watch_sees_it(kubeconfig: str, server: FakeApiServer) -> None:
    from kubernetes import client, config

    api = config.new_client_from_config(config_file=kubeconfig)
    v1 = client.CoreV1Api(api)
    try:
        before = v1.read_namespaced_pod("web-1", NS, _request_timeout=5).metadata.resource_version
        resp = v1.list_namespaced_pod(NS, watch=True, label_selector="app=web", timeout_seconds=5,
                                      _preload_content=False, _request_timeout=10)
        events: list[tuple[str, str]] = []
        lines = resp.stream(1024, decode_content=True)
        buf = b""
        changed = False
        for chunk in lines:
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                ev = json.loads(line)
                events.append((ev["type"], ev["object"]["metadata"]["name"]))
            if len(events) == 3 and not changed:
                changed = True
                objs = world()
                objs[4]["status"]["conditions"][0]["status"] = "False"  # web-2 becomes unready
                objs = [o for o in objs if o["metadata"]["name"] != "web-3"]
                server.set_objects(objs)
            if len(events) >= 5:
                break
        resp.release_conn()
        assert events[:3] == [("ADDED", "web-1"), ("ADDED", "web-2"), ("ADDED", "web-3")]
        assert sorted(events[3:]) == [("DELETED", "web-3"), ("MODIFIED", "web-2")]
        assert v1.read_namespaced_pod("web-1", NS, _request_timeout=5).metadata.resource_version == before
        slices = client.DiscoveryV1Api(api).list_namespaced_endpoint_slice(
            NS, label_selector="kubernetes.io/service-name=web", _request_timeout=5).items
        assert {e.target_ref.name: e.conditions.ready for e in slices[0].endpoints} == {
            "web-1": True, "web-2": False}
    finally:
        server.set_objects(world())
        api.close()


# -- port-forward ---------------------------------------------------------------------------


def test_port_forward_relays_bytes(api: Any) -> None:
    from kubernetes.stream import portforward

    pf = portforward(_v1(api).connect_get_namespaced_pod_portforward, "web-1", NS, ports="7000")
    try:
        sock = pf.socket(7000)
        sock.settimeout(5)
        sock.sendall(b"hello through the tunnel")
        got = b""
        while len(got) < 24:
            got += sock.recv(1024)
        assert got == b"hello through the tunnel"
        assert pf.error(7000) is None
    finally:
        pf.close()


@pytest.mark.parametrize(("pod", "port"), [("web-1", 7001), ("worker-1", 7000), ("web-1", 9999)])
def test_port_forward_error_channel(api: Any, pod: str, port: int) -> None:
    from kubernetes.stream import portforward

    pf = portforward(_v1(api).connect_get_namespaced_pod_portforward, pod, NS, ports=str(port))
    try:
        sock = pf.socket(port)
        sock.settimeout(5)
        assert sock.recv(1024) == b""  # the client closes the local socket after an error
        err = pf.error(port)
        assert err is not None and f"error forwarding port {port} to pod " in err
        assert f"failed to connect to localhost:{port} inside namespace" in err
    finally:
        pf.close()


def test_port_forward_needs_websocket_and_existing_pod(server: FakeApiServer) -> None:
    status, body = _get(server, "/api/v1/namespaces/default/pods/web-1/portforward?ports=7000",
                        server.token)
    assert status == 400 and "v4.channel.k8s.io" in body["message"]
    status, body = _get(server, "/api/v1/namespaces/default/pods/nope/portforward?ports=7000",
                        server.token)
    assert status == 404 and body["message"] == 'pods "nope" not found'


# -- service and pod proxy ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["web:http", "web:80", "web:ws", "web:81"])
def test_service_proxy_forwards_request(api: Any, backends: Backends, name: str) -> None:
    r = _v1(api).connect_get_namespaced_service_proxy_with_path(
        name, NS, "echo/me", _preload_content=False, _request_timeout=5)
    assert r.status == 200 and r.headers["X-Backend"] == "yes"
    doc = json.loads(r.data)
    assert doc["path"] == "/echo/me" and doc["query"] == {}
    assert "Authorization" not in doc["headers"] and doc["method"] == "GET"
    assert doc["headers"]["Host"].startswith("10.244.0.")


def test_service_proxy_query_body_and_status(server: FakeApiServer) -> None:
    ctx = ssl.create_default_context(cadata=server.ca_pem.decode())
    base = server.url + "/api/v1/namespaces/default/services/web:http/proxy"
    req = urllib.request.Request(base + "/submit?x=1&y=two", data=b'{"hello": "world"}',
                                 method="POST", headers={"Authorization": f"Bearer {server.token}",
                                                         "Content-Type": "application/json",
                                                         "X-Custom": "kept"})
    with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
        doc = json.loads(r.read())
    assert (doc["method"], doc["path"], doc["query"]) == ("POST", "/submit", {"x": "1", "y": "two"})
    assert json.loads(doc["body"]) == {"hello": "world"} and doc["headers"]["X-Custom"] == "kept"
    assert "Authorization" not in doc["headers"]
    status, body = _get(server, "/api/v1/namespaces/default/services/web:http/proxy/teapot?status=418",
                        server.token)
    assert status == 418 and body["path"] == "/teapot"


def test_service_proxy_relays_chunked_bodies(api: Any) -> None:
    r = _v1(api).connect_get_namespaced_service_proxy_with_path(
        "web:http", NS, "chunked", _preload_content=False, _request_timeout=5)
    assert r.status == 200 and r.data == b"part 0\npart 1\npart 2\n"


def test_service_proxy_round_robins_ready_endpoints(api: Any, backends: Backends) -> None:
    hosts = set()
    for _ in range(4):
        r = _v1(api).connect_get_namespaced_service_proxy_with_path(
            "web:http", NS, "rr", _preload_content=False, _request_timeout=5)
        hosts.add(json.loads(r.data)["headers"]["Host"])
    web3 = _pod("web-3", {})["status"]["podIP"]
    assert len(hosts) == 2 and f"{web3}:8080" not in hosts


@pytest.mark.parametrize(("name", "code", "message"), [
    ("api:80", 503, 'no endpoints available for service "api"'),
    ("api", 503, 'no endpoints available for service "api"'),
    ("web:9999", 503, 'no service port 9999 found for service "web"'),
    ("web", 503, 'no endpoints available for service "web"'),  # multi-port needs a port
    ("nope:80", 404, 'services "nope" not found'),
])
def test_service_proxy_errors(api: Any, name: str, code: int, message: str) -> None:
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as exc:
        _v1(api).connect_get_namespaced_service_proxy_with_path(
            name, NS, "x", _preload_content=False, _request_timeout=5)
    body = json.loads(exc.value.body)
    assert (exc.value.status, body["kind"], body["message"]) == (code, "Status", message)


def test_pod_proxy(api: Any) -> None:
    from kubernetes.client.exceptions import ApiException

    r = _v1(api).connect_get_namespaced_pod_proxy_with_path(
        "web-2:8080", NS, "healthz", _preload_content=False, _request_timeout=5)
    assert json.loads(r.data)["path"] == "/healthz"
    with pytest.raises(ApiException) as exc:
        _v1(api).connect_get_namespaced_pod_proxy_with_path(
            "worker-1:8080", NS, "healthz", _preload_content=False, _request_timeout=5)
    body = json.loads(exc.value.body)
    assert exc.value.status == 503 and body["message"].startswith(
        "error trying to reach service: dial tcp 10.244.0.")


def test_proxy_https_scheme_and_root_redirect(server: FakeApiServer) -> None:
    status, body = _get(server, "/api/v1/namespaces/default/pods/https:web-1:8443/proxy/secure?q=1",
                        server.token)
    assert status == 200 and (body["path"], body["query"]) == ("/secure", {"q": "1"})
    ctx = ssl.create_default_context(cadata=server.ca_pem.decode())

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPSHandler(context=ctx))
    req = urllib.request.Request(server.url + "/api/v1/namespaces/default/services/web:http/proxy?a=b",
                                 headers={"Authorization": f"Bearer {server.token}"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        opener.open(req, timeout=5)
    with exc.value as resp:
        assert resp.code == 301
        assert resp.headers["Location"] == "/api/v1/namespaces/default/services/web:http/proxy/?a=b"


def _ws_ssl(server: FakeApiServer) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=server.ca_pem.decode())


async def test_websocket_through_service_proxy(server: FakeApiServer) -> None:
    from websockets.asyncio.client import connect

    url = server.url.replace("https", "wss") + "/api/v1/namespaces/default/services/web:ws/proxy/ws/chat"
    async with connect(url, ssl=_ws_ssl(server), proxy=None, open_timeout=5,
                       additional_headers={"Authorization": f"Bearer {server.token}"}) as ws:
        assert ws.response.status_code == 101
        for text in ("one", "two"):
            await ws.send(text)
            assert await asyncio.wait_for(ws.recv(), 5) == f"echo:{text}"


async def test_websocket_through_proxy_passes_backend_refusal(server: FakeApiServer) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    url = server.url.replace("https", "wss") + "/api/v1/namespaces/default/services/web:ws/proxy/ws/reject"
    with pytest.raises(InvalidStatus) as exc:
        async with connect(url, ssl=_ws_ssl(server), proxy=None, open_timeout=5,
                           additional_headers={"Authorization": f"Bearer {server.token}"}):
            pass
    assert exc.value.response.status_code == 403 and exc.value.response.body == b"no token\n"


async def test_websocket_proxy_without_endpoints_is_503(server: FakeApiServer) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    url = server.url.replace("https", "wss") + "/api/v1/namespaces/default/services/api:80/proxy/ws"
    with pytest.raises(InvalidStatus) as exc:
        async with connect(url, ssl=_ws_ssl(server), proxy=None, open_timeout=5,
                           additional_headers={"Authorization": f"Bearer {server.token}"}):
            pass
    assert exc.value.response.status_code == 503
    assert json.loads(exc.value.response.body)["reason"] == "ServiceUnavailable"


# -- lifecycle ------------------------------------------------------------------------------


def test_start_stop_is_clean_and_idempotent(tmp_path: Any) -> None:
    before = {t.name for t in threading.enumerate()}
    srv = FakeApiServer(world()).start()
    port = srv.port
    assert srv.url == f"https://127.0.0.1:{port}"
    kc = srv.write_kubeconfig(tmp_path / "kc", context="lab", namespace="other", user_token="t2")
    assert oct(kc.stat().st_mode & 0o777) == "0o600"
    import yaml

    doc = yaml.safe_load(kc.read_text())
    assert doc["current-context"] == "lab" and doc["contexts"][0]["context"]["namespace"] == "other"
    assert doc["users"][0]["user"]["token"] == "t2"
    srv.stop()
    srv.stop()
    assert {t.name for t in threading.enumerate()} <= before
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    with srv:  # a restart keeps port and CA, so kubeconfigs written before still work
        assert srv.port == port
        status, _ = _get(srv, "/api/v1/namespaces/default/pods", "kdiag-lab-token")
        assert status == 200
    assert {t.name for t in threading.enumerate()} <= before


def test_stop_with_open_streams_leaks_nothing(backends: Backends, tmp_path: Any) -> None:
    import gc
    import warnings

    from kubernetes import client, config
    from kubernetes.stream import portforward
    from websockets.asyncio.client import connect

    srv = FakeApiServer(world(), backends=backends.resolve).start()
    api = config.new_client_from_config(config_file=str(srv.write_kubeconfig(tmp_path / "kc")))
    v1 = client.CoreV1Api(api)
    loop = asyncio.new_event_loop()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        pf = portforward(v1.connect_get_namespaced_pod_portforward, "web-1", NS, ports="7000")
        sock = pf.socket(7000)
        sock.settimeout(5)
        sock.sendall(b"ping")
        assert sock.recv(16) == b"ping"
        watch = v1.list_namespaced_pod(NS, watch=True, _preload_content=False, _request_timeout=30)
        ws = loop.run_until_complete(connect(
            srv.url.replace("https", "wss") + "/api/v1/namespaces/default/services/web:ws/proxy/ws",
            ssl=_ws_ssl(srv), proxy=None, open_timeout=5,
            additional_headers={"Authorization": f"Bearer {srv.token}"}))
        srv.stop()
        assert all(t.name != f"kdiag-fake-apiserver:{srv.port}" for t in threading.enumerate())
        pf.close()
        watch.release_conn()
        api.close()
        loop.run_until_complete(ws.close())
        loop.close()
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == [] and srv.errors == []


def test_refuses_non_loopback_bind() -> None:
    with pytest.raises(ValueError):
        FakeApiServer([], host="0.0.0.0")


# -- the real kubectl -----------------------------------------------------------------------


def require_kubectl() -> str:
    """The kubectl binary; skips locally when missing, fails in CI (CI=true) where it must exist."""
    path = shutil.which("kubectl")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("kubectl is required in CI but was not found")
        pytest.skip("kubectl not installed")
    return path


def _kubectl(kubeconfig: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_kubectl(), "--kubeconfig", kubeconfig, *args],
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.kubectl
def test_kubectl_get_json(kubeconfig: str) -> None:
    r = _kubectl(kubeconfig, "get", "pods,svc,ing,endpointslices", "-o", "json")
    assert r.returncode == 0, r.stderr
    items = json.loads(r.stdout)["items"]
    kinds = [(i["kind"], i["metadata"]["name"]) for i in items]
    assert ("Pod", "web-1") in kinds and ("Service", "web") in kinds
    assert ("Ingress", "chat") in kinds and any(k == "EndpointSlice" for k, _ in kinds)
    assert all(i["apiVersion"] for i in items)


@pytest.mark.kubectl
def test_kubectl_short_names_selectors_and_chunks(kubeconfig: str, server: FakeApiServer) -> None:
    r = _kubectl(kubeconfig, "get", "svc")
    assert r.returncode == 0, r.stderr
    lines = [line.split() for line in r.stdout.splitlines()]
    assert lines[0] == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    assert lines[2][:5] == ["web", "ClusterIP", "10.96.0.10", "<none>", "80/TCP,81/TCP"]
    r = _kubectl(kubeconfig, "get", "pods", "-o", "wide")
    rows = {line.split()[0]: line.split() for line in r.stdout.splitlines()[1:]}
    assert rows["api-1"][2] == "Pending" and rows["web-2"][-1] == "node-b"
    r = _kubectl(kubeconfig, "get", "po", "-l", "app=web,version!=v1", "-o", "name")
    assert r.stdout.split() == ["pod/web-2", "pod/web-3"]
    server.clear_requests()
    r = _kubectl(kubeconfig, "get", "pods", "-A", "--chunk-size=2", "-o", "name")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split()) == 6
    lists = [q for q in server.requests if q.path == "/api/v1/pods"]
    assert len(lists) == 3 and all(q.query.get("limit") == "2" for q in lists)
    assert "continue" not in lists[0].query and all("continue" in q.query for q in lists[1:])


@pytest.mark.kubectl
@pytest.mark.parametrize(("args", "message"), [
    (("get", "secrets"), 'Error from server (Forbidden): secrets is forbidden: User '
                         f'"{USER}" cannot list resource "secrets" in API group "" in the namespace "default"'),
    (("get", "pod", "nope"), 'Error from server (NotFound): pods "nope" not found'),
    (("delete", "pod", "web-1"), "Error from server (MethodNotAllowed)"),
])
def test_kubectl_errors(kubeconfig: str, args: tuple[str, ...], message: str) -> None:
    r = _kubectl(kubeconfig, *args)
    assert r.returncode != 0 and message in r.stderr


@pytest.mark.kubectl
def test_kubectl_describe_and_can_i(kubeconfig: str) -> None:
    r = _kubectl(kubeconfig, "describe", "pod", "web-1")
    assert r.returncode == 0, r.stderr
    assert "Unhealthy" in r.stdout and "Readiness probe failed: connection refused" in r.stdout
    r = _kubectl(kubeconfig, "describe", "svc", "web")
    assert "10.244.0.14:8080" in r.stdout or "Endpoints:" in r.stdout
    answers = {args: _kubectl(kubeconfig, "auth", "can-i", *args).stdout.strip()
               for args in (("list", "pods"), ("list", "secrets"), ("delete", "pods"),
                            ("create", "pods", "--subresource=portforward"),
                            ("get", "configmaps", "-n", "other"))}
    assert answers == {("list", "pods"): "yes", ("list", "secrets"): "no", ("delete", "pods"): "no",
                       ("create", "pods", "--subresource=portforward"): "yes",
                       ("get", "configmaps", "-n", "other"): "no"}


def _forwarded_ports(proc: subprocess.Popen[str], count: int) -> list[int]:
    assert proc.stdout is not None
    ports = []
    for _ in range(count):
        line = proc.stdout.readline()
        m = re.search(r"Forwarding from 127\.0\.0\.1:(\d+) -> \d+", line)
        assert m, line + (proc.stderr.read() if proc.stderr and proc.poll() is not None else "")
        ports.append(int(m.group(1)))
    return ports


def _http_over(port: int, path: str) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: lab\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    return data


@pytest.mark.kubectl
@pytest.mark.parametrize("version", ["1.30", "1.33"])  # the gcloud dispatcher picks kubectl by it
def test_kubectl_port_forward_over_spdy(backends: Backends, tmp_path: Any, version: str) -> None:
    # kubectl ≥1.31 first tries SPDY tunnelled in a websocket; refused, it falls back to SPDY/3.1
    with FakeApiServer(world(), backends=backends.resolve, version=version) as srv:
        kc = str(srv.write_kubeconfig(tmp_path / "kc"))
        proc = subprocess.Popen([require_kubectl(), "--kubeconfig", kc, "port-forward",
                                 "--address=127.0.0.1", "pod/web-2", ":8080"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            (local,) = _forwarded_ports(proc, 1)
            for i in range(2):  # one SPDY stream pair per connection
                answer = _http_over(local, f"/through-kubectl?i={i}")
                assert answer.startswith(b"HTTP/1.1 200 OK")
                assert b'"path": "/through-kubectl"' in answer
        finally:
            proc.terminate()
            proc.communicate(timeout=10)
        pf = [q for q in srv.requests if q.path.endswith("/pods/web-2/portforward")]
        assert pf and pf[-1].method == "POST" and pf[-1].upgrade == "SPDY/3.1"


@pytest.mark.kubectl
def test_kubectl_port_forward_to_a_closed_port(kubeconfig: str) -> None:
    proc = subprocess.Popen([require_kubectl(), "--kubeconfig", kubeconfig, "port-forward",
                             "--address=127.0.0.1", "pod/web-1", ":7001"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        (local,) = _forwarded_ports(proc, 1)
        assert _http_over(local, "/") == b""
        _out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.communicate(timeout=10)
    assert "an error occurred forwarding" in err and "-> 7001: error forwarding port 7001 to pod" in err
    assert "failed to connect to localhost:7001 inside namespace" in err


@pytest.mark.kubectl
def test_kubectl_wrong_token(server: FakeApiServer, tmp_path: Any) -> None:
    kc = server.write_kubeconfig(tmp_path / "bad", user_token="not-the-token")
    r = _kubectl(str(kc), "get", "pods")
    assert r.returncode != 0
    # kubectl ≥1.27 reports a 401 during discovery with client-go's generic text; older ones
    # (and requests after cached discovery) print the Status message "Unauthorized".
    assert re.search(r"error: You must be logged in to the server \((Unauthorized|the server has "
                     r"asked for the client to provide credentials)\)", r.stderr), r.stderr
