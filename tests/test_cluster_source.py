"""kdiag.sources.cluster: snapshot assembly, targeted queries and 403 degradation.

The first half drives `load_cluster` with a canned in-memory API (no sockets) to pin down which
lists are made; the second half runs it against the lab's fake kube-apiserver over HTTPS.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import pytest

from kdiag.errors import ClusterAccessError
from kdiag.hosts import ingress_host_matches
from kdiag.kube import RESOURCES, Forbidden, NotFound, Unauthorized
from kdiag.lab.apiserver.select import label_selector as label_selector_matcher
from kdiag.snapshot import obj_key
from kdiag.sources.cluster import load_cluster, namespaces_for_host

# -- a small world ---------------------------------------------------------------------------


def _meta(name: str, ns: str | None = None, labels: dict | None = None) -> dict:
    md: dict[str, Any] = {"name": name}
    if ns:
        md["namespace"] = ns
    if labels:
        md["labels"] = labels
    return md


def _ingress(ns: str, name: str, host: str | None, svc: str = "web") -> dict:
    rule: dict[str, Any] = {"http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": svc, "port": {"number": 80}}}}]}}
    if host is not None:
        rule["host"] = host
    return {"kind": "Ingress", "metadata": _meta(name, ns), "spec": {"rules": [rule]}}


def _svc(ns: str, name: str, labels: dict | None = None) -> dict:
    return {"kind": "Service", "metadata": _meta(name, ns, labels),
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


def _pod(ns: str, name: str, labels: dict, args: list[str] | None = None) -> dict:
    c: dict[str, Any] = {"name": "c", "image": "x"}
    if args:
        c["args"] = args
    return {"kind": "Pod", "metadata": _meta(name, ns, labels), "spec": {"containers": [c]}}


CTRL = {"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"}

WORLD: list[dict] = [
    *({"kind": "Namespace", "metadata": _meta(n)} for n in
      ("default", "shop", "blog", "wild", "ingress-nginx")),
    {"kind": "Node", "metadata": _meta("node-1")},
    {"kind": "IngressClass", "metadata": _meta("nginx"), "spec": {"controller": "k8s.io/ingress-nginx"}},
    _ingress("shop", "chat", "chat.example.com"),
    _ingress("blog", "blog", "blog.example.com"),
    _ingress("wild", "apps", "*.apps.example.com"),
    _svc("shop", "web"), _svc("blog", "web"), _svc("wild", "web"), _svc("default", "kubernetes"),
    _pod("shop", "web-1", {"app": "web"}), _pod("blog", "web-1", {"app": "web"}),
    _pod("wild", "web-1", {"app": "web"}),
    {"kind": "EndpointSlice", "metadata": _meta("web-abc", "shop", {"kubernetes.io/service-name": "web"})},
    {"kind": "Endpoints", "metadata": _meta("web", "shop")},
    {"kind": "Secret", "metadata": _meta("chat-tls", "shop"), "type": "kubernetes.io/tls",
     "data": {"tls.key": "c2VjcmV0"}},
    {"kind": "Event", "metadata": _meta("web-1.1", "shop"), "involvedObject": {"kind": "Pod", "name": "web-1"}},
    {"kind": "ConfigMap", "metadata": _meta("app-settings", "shop")},
    _svc("ingress-nginx", "ingress-nginx-controller", CTRL),
    _pod("ingress-nginx", "ingress-nginx-controller-1", CTRL,
         ["/nginx-ingress-controller", "--configmap=$(POD_NAMESPACE)/nginx-conf"]),
    {"kind": "ConfigMap", "metadata": _meta("nginx-conf", "ingress-nginx"),
     "data": {"proxy-read-timeout": "3600"}},
    {"kind": "ConfigMap", "metadata": _meta("unrelated", "ingress-nginx")},
]


class CannedKube:
    """Just enough of `Kube` for load_cluster: list/get over a list of objects, 403s, a call log."""

    server = "https://127.0.0.1:6443"
    context = "canned"

    def __init__(self, objects: Iterable[dict], *, forbidden: Iterable[tuple[str, str | None]] = (),
                 absent: Iterable[str] = ("Gateway", "HTTPRoute"), namespace: str = "default") -> None:
        self.objects = [copy.deepcopy(o) for o in objects]
        self.forbidden = set(forbidden)  # (kind, namespace or None for cluster-wide or "*")
        self.absent = set(absent)
        self.namespace = namespace
        self.calls: list[tuple[str, str, str | None, str | None]] = []

    def check_access(self) -> dict:
        return {"gitVersion": "v1.30.0"}

    def _denied(self, kind: str, ns: str | None) -> bool:
        return (kind, ns) in self.forbidden or (kind, "*") in self.forbidden

    def list_raw(self, kind: str, namespace: str | None, *, label_selector: str | None = None,
                 field_selector: str | None = None, limit: int = 500,
                 max_items: int | None = None) -> list[dict]:
        self.calls.append(("list", kind, namespace, label_selector))
        if kind in self.absent:
            raise NotFound("the server could not find the requested resource", status=404)
        if self._denied(kind, namespace):
            raise Forbidden(f"{kind} is forbidden", status=403)
        out = []
        for o in self.objects:
            k, ns, _ = obj_key(o)
            if k != kind or (namespace is not None and RESOURCES[kind].namespaced and ns != namespace):
                continue
            if label_selector and not label_selector_matcher(label_selector)(o):  # the API server's semantics
                continue
            item = copy.deepcopy(o)
            item["apiVersion"] = RESOURCES[kind].api_version
            if kind == "Secret":
                item.pop("data", None)
            out.append(item)
        return out

    def get_raw(self, kind: str, namespace: str | None, name: str) -> dict | None:
        self.calls.append(("get", kind, namespace, name))
        if self._denied(kind, namespace):
            raise Forbidden("forbidden", status=403)
        for o in self.list_raw(kind, namespace):
            if o["metadata"]["name"] == name:
                return o
        return None

    def listed(self, kind: str) -> set[str | None]:
        return {ns for op, k, ns, _ in self.calls if op == "list" and k == kind}


# -- pure helpers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "host", "expected"),
    [
        ("chat.example.com", "chat.example.com", True),
        ("Chat.Example.com", "chat.example.COM", True),
        ("chat.example.com", "chat.example.org", False),
        ("*.example.com", "chat.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", "xexample.com", False),
        ("", "anything.test", True),
        (None, "anything.test", True),
    ],
)
def test_host_matches(pattern: str | None, host: str, expected: bool) -> None:
    assert ingress_host_matches(pattern, host) is expected


def test_namespaces_for_host_includes_route_backends_and_catch_alls() -> None:
    route = {"kind": "HTTPRoute", "metadata": _meta("r", "gw"),
             "spec": {"hostnames": ["chat.example.com"],
                      "rules": [{"backendRefs": [{"name": "x", "namespace": "backend"}]}]}}
    catch_all = _ingress("any", "catch", None)
    default_only = {"kind": "Ingress", "metadata": _meta("d", "dflt"),
                    "spec": {"defaultBackend": {"service": {"name": "x", "port": {"number": 80}}}}}
    ings = [w for w in WORLD if w["kind"] == "Ingress"] + [catch_all, default_only]
    assert namespaces_for_host(ings, [route], "chat.example.com") == {"shop", "gw", "backend", "any", "dflt"}
    assert namespaces_for_host(ings, [route], "x.apps.example.com") == {"wild", "any", "dflt"}


# -- load_cluster with a canned API ----------------------------------------------------------------


def test_targeted_read_for_one_host() -> None:
    kube = CannedKube(WORLD)
    snap = load_cluster(kube, host="chat.example.com:443")  # type: ignore[arg-type]
    assert snap.facts["namespaces_read"] == ["default", "ingress-nginx", "shop"]
    assert snap.source.kind == "cluster" and snap.source.context == "canned"
    assert snap.namespace == "default" and snap.facts["server"] == kube.server
    # Ingresses are searched cluster-wide; pods only where they matter
    assert kube.listed("Ingress") == {None}
    assert kube.listed("Pod") == {"default", "shop", "ingress-nginx"}
    assert "blog" not in {ns for _, _, ns, _ in kube.calls}
    assert [p["metadata"]["name"] for p in snap.list("Pod", "shop")] == ["web-1"]
    assert snap.list("Pod", "blog") == ()
    # the controller: its Service, Pod and the ConfigMap named by --configmap, nothing else there
    assert snap.get("Service", "ingress-nginx", "ingress-nginx-controller") is not None
    assert snap.get("ConfigMap", "ingress-nginx", "nginx-conf")["data"] == {"proxy-read-timeout": "3600"}
    assert snap.get("ConfigMap", "ingress-nginx", "unrelated") is None
    assert snap.get("ConfigMap", "shop", "app-settings") is None  # app ConfigMaps are not read
    # everything else in the route's namespace, kind/apiVersion set, Secret without data
    for kind in ("Service", "EndpointSlice", "Event", "Secret"):
        assert snap.list(kind, "shop"), kind
    secret = snap.get("Secret", "shop", "chat-tls")
    assert secret is not None and "data" not in secret and secret["apiVersion"] == "v1"
    assert snap.get("IngressClass", None, "nginx") is not None
    assert snap.denied == {} and snap.findings == ()
    assert snap.facts["kinds_not_served"] == ["Gateway", "HTTPRoute"]


def test_wildcard_host_reads_the_wildcard_namespace() -> None:
    kube = CannedKube(WORLD)
    snap = load_cluster(kube, host="x.apps.example.com", namespace="shop")  # type: ignore[arg-type]
    assert snap.facts["namespaces_read"] == ["ingress-nginx", "shop", "wild"]
    assert "blog" not in kube.listed("Pod")


def test_without_host_reads_the_focus_namespace_and_controller() -> None:
    kube = CannedKube(WORLD, namespace="blog")
    snap = load_cluster(kube)  # type: ignore[arg-type]
    assert snap.namespace == "blog" and snap.source.namespace == "blog"
    assert kube.listed("Ingress") == {"blog"}
    assert kube.listed("Pod") == {"blog", "ingress-nginx"}
    assert {obj_key(i)[1] for i in snap.list("Ingress")} == {"blog"}


def test_all_namespaces_reads_everything() -> None:
    kube = CannedKube(WORLD)
    snap = load_cluster(kube, all_namespaces=True)  # type: ignore[arg-type]
    assert kube.listed("Pod") == {None}
    assert {obj_key(p)[1] for p in snap.list("Pod")} == {"shop", "blog", "wild", "ingress-nginx"}
    assert snap.facts["namespaces_read"] == ["*"]
    assert snap.get("ConfigMap", "ingress-nginx", "unrelated") is None
    assert snap.get("ConfigMap", "ingress-nginx", "nginx-conf") is not None


@pytest.mark.parametrize("args", [["--configmap=$(POD_NAMESPACE)/ctl-conf"], ["--configmap=shop/ctl-conf"], None])
def test_controller_in_the_app_namespace(args: list[str] | None) -> None:
    """The controller's ConfigMap is found by its --configmap arg, else by a well-known name."""
    name = "ctl-conf" if args else "ingress-nginx-controller"
    world = [o for o in WORLD if obj_key(o)[1] != "ingress-nginx"] + [
        _svc("shop", "ctl", CTRL), _pod("shop", "ctl-1", CTRL, args),
        {"kind": "ConfigMap", "metadata": _meta(name, "shop"), "data": {"use-forwarded-headers": "true"}},
    ]
    kube = CannedKube(world)
    snap = load_cluster(kube, host="chat.example.com")  # type: ignore[arg-type]
    assert snap.get("ConfigMap", "shop", name) is not None
    assert snap.get("ConfigMap", "shop", "app-settings") is None
    assert snap.facts["namespaces_read"] == ["default", "shop"]


@pytest.mark.parametrize(
    ("forbidden", "kind", "message"),
    [
        ({("Secret", "shop")}, "Secret", "could not read secrets in namespace shop: forbidden"),
        ({("Event", "*")}, "Event", "could not read events in namespaces default, shop: forbidden"),
        ({("Node", None)}, "Node", "could not read nodes: forbidden"),
        ({("EndpointSlice", "*")}, "EndpointSlice",
         "could not read endpointslices in namespaces default, ingress-nginx, shop: forbidden; "
         "using v1 Endpoints instead"),
    ],
)
def test_forbidden_kind_degrades(forbidden: set, kind: str, message: str) -> None:
    kube = CannedKube(WORLD, forbidden=forbidden)
    snap = load_cluster(kube, host="chat.example.com")  # type: ignore[arg-type]
    assert snap.denied[kind] == "forbidden" and not snap.readable(kind)
    msgs = [f.message for f in snap.findings]
    assert message in msgs
    f = snap.findings[msgs.index(message)]
    assert (f.check, f.severity, f.hop) == ("source-read-forbidden", "info", "source")
    assert f.explanation and f.fix
    assert snap.list("Pod", "shop")  # the rest was read
    if kind == "EndpointSlice":
        assert snap.get("Endpoints", "shop", "web") is not None
        assert "shop" in kube.listed("Endpoints")
    else:
        assert "shop" not in kube.listed("Endpoints")


def test_cluster_wide_ingress_forbidden_falls_back_to_the_namespace() -> None:
    kube = CannedKube(WORLD, forbidden={("Ingress", None)}, namespace="shop")
    snap = load_cluster(kube, host="chat.example.com")  # type: ignore[arg-type]
    assert kube.listed("Ingress") == {None, "shop"}
    assert snap.get("Ingress", "shop", "chat") is not None
    assert "Ingress" not in snap.denied  # the focus namespace was readable
    assert any("only namespace shop was searched" in f.message for f in snap.findings)


def test_unauthorized_is_fatal() -> None:
    class Rejecting(CannedKube):
        def list_raw(self, kind: str, namespace: str | None, **kw: Any) -> list[dict]:
            raise Unauthorized("the API server at x rejected our credentials: Unauthorized", status=401)

    with pytest.raises(ClusterAccessError, match="Unauthorized"):
        load_cluster(Rejecting(WORLD), host="chat.example.com")  # type: ignore[arg-type]


# -- against the lab's fake kube-apiserver ----------------------------------------------------------


def _served(objects: Iterable[dict]) -> list[dict]:
    """WORLD objects as a server stores them: apiVersion set, pods running and ready."""
    out = []
    for o in objects:
        o = copy.deepcopy(o)
        o["apiVersion"] = RESOURCES[o["kind"]].api_version
        if o["kind"] == "Pod":
            o["status"] = {"phase": "Running", "podIP": "10.244.1.7",
                           "conditions": [{"type": "Ready", "status": "True"}]}
        out.append(o)
    # the fake derives EndpointSlices and Endpoints from Services and Pods itself
    return [o for o in out if o["kind"] not in ("EndpointSlice", "Endpoints")]


@pytest.fixture
def fake_kube(tmp_path):  # type: ignore[no-untyped-def]
    from kdiag.kube import Kube
    from kdiag.lab.apiserver.server import FakeApiServer

    servers = []

    def start(objects: Iterable[dict] = WORLD, *, forbidden: Iterable[tuple] = (), namespace: str = "default"):
        server = FakeApiServer(_served(objects), token="t0ken", forbidden=list(forbidden)).start()
        servers.append(server)
        path = server.write_kubeconfig(tmp_path / f"kc{len(servers)}", context="lab", namespace=namespace)
        return server, Kube.connect(kubeconfig=str(path))

    yield start
    for s in servers:
        s.stop()


def _paths(server) -> list[str]:  # type: ignore[no-untyped-def]
    return [r.path for r in server.requests]


def test_single_host_diagnosis_reads_only_what_it_needs(fake_kube) -> None:  # type: ignore[no-untyped-def]
    server, kube = fake_kube()
    snap = load_cluster(kube, host="chat.example.com")
    assert snap.facts["server"] == server.url
    assert snap.facts["namespaces_read"] == ["default", "ingress-nginx", "shop"]
    assert snap.source.context == "lab" and snap.source.kind == "cluster"
    assert not any("/namespaces/blog/" in p or "/namespaces/wild/" in p for p in _paths(server))
    assert "/apis/networking.k8s.io/v1/ingresses" in _paths(server)  # cluster-wide search
    assert "/api/v1/pods" not in _paths(server)  # never all pods of the cluster
    assert {r.method for r in server.requests} == {"GET"}
    slices = snap.endpoint_slices_for(snap.get("Service", "shop", "web"))
    assert len(slices) == 1 and slices[0]["endpoints"][0]["conditions"]["ready"] is True
    assert snap.get("ConfigMap", "ingress-nginx", "nginx-conf")["data"]["proxy-read-timeout"] == "3600"
    secret = snap.get("Secret", "shop", "chat-tls")
    assert secret is not None and "data" not in secret
    assert snap.findings == () and snap.denied == {}


def test_rbac_denials_degrade_with_findings(fake_kube) -> None:  # type: ignore[no-untyped-def]
    forbidden = [("list", "secrets", "*"), ("get", "secrets", "*"), ("list", "events", "*"),
                 ("list", "endpointslices", "*"), ("list", "nodes", None)]
    server, kube = fake_kube(forbidden=forbidden, namespace="shop")
    snap = load_cluster(kube, host="chat.example.com")
    assert dict(snap.denied) == {"Secret": "forbidden", "Event": "forbidden",
                                 "EndpointSlice": "forbidden", "Node": "forbidden"}
    msgs = {f.message for f in snap.findings}
    assert "could not read secrets in namespace shop: forbidden" in msgs
    assert "could not read events in namespace shop: forbidden" in msgs
    assert "could not read nodes: forbidden" in msgs
    assert ("could not read endpointslices in namespaces ingress-nginx, shop: forbidden; "
            "using v1 Endpoints instead" in msgs)
    assert len(msgs) == 4  # one finding per kind, naming every namespace
    eps_finding = next(f for f in snap.findings if "endpointslices" in f.message)
    assert eps_finding.evidence == {"kind": "EndpointSlice", "reason": "forbidden",
                                    "namespaces": ["ingress-nginx", "shop"]}
    assert all(f.check == "source-read-forbidden" and f.severity == "info" for f in snap.findings)
    # the walk can go on: v1 Endpoints instead of slices, pods and services are there
    eps = snap.get("Endpoints", "shop", "web")
    assert eps is not None and eps["subsets"][0]["addresses"][0]["targetRef"]["name"] == "web-1"
    assert "/api/v1/namespaces/shop/endpoints" in _paths(server)
    assert snap.get("Pod", "shop", "web-1") is not None and snap.get("Service", "shop", "web") is not None
    secret_reads = [r for r in server.requests if "/secrets" in r.path]
    assert secret_reads and all("as=PartialObjectMetadataList" in r.accept for r in secret_reads)


def test_cluster_wide_ingress_forbidden_on_the_fake(fake_kube) -> None:  # type: ignore[no-untyped-def]
    server, kube = fake_kube(forbidden=[("list", "ingresses", None)], namespace="shop")
    snap = load_cluster(kube, host="chat.example.com")
    assert snap.get("Ingress", "shop", "chat") is not None and "Ingress" not in snap.denied
    assert "/apis/networking.k8s.io/v1/namespaces/shop/ingresses" in _paths(server)
    assert any("only namespace shop was searched" in f.message for f in snap.findings)


def test_pagination_on_a_big_namespace(fake_kube) -> None:  # type: ignore[no-untyped-def]
    pods = [_pod("shop", f"web-{i:03d}", {"app": "web"}) for i in range(520)]
    server, kube = fake_kube([o for o in WORLD if o["kind"] != "Pod"] + pods)
    snap = load_cluster(kube, host="chat.example.com")
    assert len(snap.list("Pod", "shop")) == 520
    pod_reads = [r for r in server.requests if r.path == "/api/v1/namespaces/shop/pods"]
    assert len(pod_reads) == 2 and pod_reads[1].query.get("continue")
    assert all(r.query.get("limit") == "500" for r in pod_reads)


def test_wrong_token_stops_with_one_line(fake_kube, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kdiag.kube import Kube

    server, _ = fake_kube()
    path = server.write_kubeconfig(tmp_path / "bad", user_token="wrong")
    with pytest.raises(ClusterAccessError, match="Unauthorized") as ei:
        load_cluster(Kube.connect(kubeconfig=str(path)), host="chat.example.com")
    assert "\n" not in str(ei.value) and "wrong" not in str(ei.value)


def test_unreachable_server_fails_fast(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import socket

    import yaml

    from kdiag.kube import Kube

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    kc = {"clusters": [{"name": "c", "cluster": {"server": f"https://127.0.0.1:{port}"}}],
          "users": [{"name": "u", "user": {"token": "t"}}],
          "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}
    (tmp_path / "kc").write_text(yaml.safe_dump(kc))
    with pytest.raises(ClusterAccessError, match=f"127.0.0.1:{port}: connection refused"):
        load_cluster(Kube.connect(kubeconfig=str(tmp_path / "kc")))


@pytest.fixture
def lying_server(tmp_path):  # type: ignore[no-untyped-def]
    """A plain-HTTP loopback 'API server' that answers some lists with garbage or errors."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import yaml

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?", 1)[0]
            if path == "/api/v1/namespaces/default/pods":
                status, body = 200, b"<html>not json</html>"
            elif path == "/api/v1/namespaces/default/events":
                status, body = 500, b'{"kind":"Status","reason":"InternalError","message":"etcd down"}'
            elif path == "/api/v1/namespaces/expiry/configmaps":
                # page 1 hands out a continue token that has expired by the time it is used
                seen.append(self.path)
                if "continue=" in self.path and len(seen) == 2:
                    status, body = 410, b'{"kind":"Status","reason":"Expired","message":"too old","code":410}'
                else:
                    page = 0 if "continue=" not in self.path else 1
                    status, body = 200, json.dumps({
                        "metadata": {"continue": "tok" if page == 0 else ""},
                        "items": [{"metadata": {"name": f"cm{page}", "namespace": "expiry"}}]}).encode()
            elif path == "/api/v1/namespaces/loop/configmaps":  # a server that never stops paging
                status, body = 200, b'{"metadata": {"continue": "same"}, "items": []}'
            elif path == "/api/v1/namespaces/default/configmaps":  # noise a lying server might send
                status, body = 200, json.dumps({"metadata": [], "items": [
                    None, 3, {"metadata": []}, {"metadata": {"name": 5}},
                    {"metadata": {"name": "ok", "namespace": "default"}, "data": {"k": "v"}},
                ]}).encode()
            elif path == "/api/v1/namespaces/default/services":
                status, body = 200, json.dumps({"items": [{"metadata": {"name": f"s{i}", "namespace": "default"}}
                                                          for i in range(200)]}).encode()
            else:
                status, body = 200, b'{"items": []}'
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    seen: list[str] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kc = {"clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
          "users": [{"name": "u", "user": {}}],
          "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}
    (tmp_path / "kc").write_text(yaml.safe_dump(kc))
    yield str(tmp_path / "kc"), seen
    server.shutdown()
    server.server_close()


def test_garbage_and_server_errors_stop_the_read(lying_server, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Issue 13: garbage (HTML) or a 500 is "could not read the cluster", never a degraded read."""
    import kdiag.kube.client
    from kdiag.errors import ClusterAccessError
    from kdiag.kube import ApiError, Kube

    kubeconfig, seen = lying_server
    kube = Kube.connect(kubeconfig=kubeconfig)
    with pytest.raises(ClusterAccessError, match=r"^could not read the cluster: list (pods|events) in "
                                                 r"namespace default: the API server (sent no JSON|answered 500)"):
        load_cluster(kube)
    assert len(kube.list_raw("Service", "default")) == 200
    assert [c["metadata"]["name"] for c in kube.list_raw("ConfigMap", "default")] == ["ok"]
    # an expired continue token restarts the list once, from the beginning
    assert [c["metadata"]["name"] for c in kube.list_raw("ConfigMap", "expiry")] == ["cm0", "cm1"]
    assert len(seen) == 4 and "continue=" in seen[1] and "continue=" not in seen[2]
    with pytest.raises(ApiError, match="repeated a continue token"):
        kube.list_raw("ConfigMap", "loop")
    monkeypatch.setattr(kdiag.kube.client, "MAX_RESPONSE_BYTES", 4096)
    with pytest.raises(ApiError, match="larger than"):
        kube.list_raw("Service", "default")


def test_route_fields_of_any_shape_never_raise() -> None:
    """namespaces_for_host and the controller lookup survive whatever a server sends in specs."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from kdiag.sources.cluster import _controller_configmap_refs

    keys = st.sampled_from(["spec", "rules", "host", "hostnames", "backendRefs", "namespace",
                            "defaultBackend", "containers", "args", "command", "metadata", "name"])
    def extend(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4))

    def as_object(body: object, name: str) -> dict:
        return {**(body if isinstance(body, dict) else {}), "metadata": {"name": name, "namespace": "ns"}}

    junk = st.recursive(st.one_of(st.none(), st.integers(), st.text(max_size=6),
                                  st.just("--configmap=a/b"), st.just("*.example.com")),
                        extend, max_leaves=10)
    objs = st.lists(st.builds(as_object, junk, st.text(min_size=1, max_size=4)), max_size=4)

    @settings(max_examples=60, deadline=None)
    @given(objs, objs)
    def check(ingresses: list[dict], routes: list[dict]) -> None:
        assert namespaces_for_host(ingresses, routes, "a.example.com") <= {
            "ns", *(str(x) for x in _all_namespace_values(routes))}
        _controller_configmap_refs(ingresses + routes)

    check()


def _all_namespace_values(objs: list[dict]) -> list[object]:
    out: list[object] = []

    def walk(x: object) -> None:
        if isinstance(x, dict):
            for k, v in x.items():
                if k == "namespace" and v:
                    out.append(v)
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(objs)
    return out


def test_canned_kube_is_a_cluster_reader() -> None:
    """The fake stays faithful to what load_cluster may use (`ClusterReader`), not more."""
    from kdiag.kube import ClusterAccess, ClusterReader

    kube = CannedKube([])
    assert isinstance(kube, ClusterReader) and not isinstance(kube, ClusterAccess)
