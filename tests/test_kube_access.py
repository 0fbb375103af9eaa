"""kdiag.kube: kubeconfig handling, error mapping, raw reads, port-forward and the service proxy."""

from __future__ import annotations

import os
import ssl
from pathlib import Path
from typing import Any

import pytest
import yaml

from kdiag.errors import ClusterAccessError, InputError
from kdiag.kube import (
    Kube,
    describe_connection_error,
    load_kubeconfig,
    service_proxy_path,
)
from kdiag.kube.errors import status_message as _status_message

TOKEN = "s3cret-token-value"


def _write(path: Path, doc: object) -> Path:
    path.write_text(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)
    return path


def _cluster(name: str, server: str = "https://127.0.0.1:6443", **extra: object) -> dict:
    return {"name": name, "cluster": {"server": server, **{k.replace("_", "-"): v for k, v in extra.items()}}}


def _user(name: str, token: str = TOKEN) -> dict:
    return {"name": name, "user": {"token": token}}


def _context(name: str, cluster: str, user: str, namespace: str | None = None) -> dict:
    ctx: dict = {"cluster": cluster, "user": user}
    if namespace:
        ctx["namespace"] = namespace
    return {"name": name, "context": ctx}


def _kubeconfig(current: str | None = "lab", namespace: str | None = "shop") -> dict:
    doc: dict = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [_cluster("c1", insecure_skip_tls_verify=True),
                     _cluster("c2", "https://127.0.0.1:7443", insecure_skip_tls_verify=True)],
        "users": [_user("u1")],
        "contexts": [_context("lab", "c1", "u1", namespace), _context("other", "c2", "u1")],
    }
    if current:
        doc["current-context"] = current
    return doc


# -- kubeconfig: selection and errors ------------------------------------------------------


def test_connect_uses_current_context_and_its_namespace(tmp_path: Path) -> None:
    path = _write(tmp_path / "config", _kubeconfig())
    kube = Kube.connect(kubeconfig=str(path))
    assert (kube.context, kube.namespace, kube.server) == ("lab", "shop", "https://127.0.0.1:6443")
    assert kube.contexts == ("lab", "other")
    assert TOKEN not in repr(kube) and TOKEN not in str(vars(kube).get("server"))
    kube.close()


@pytest.mark.parametrize(
    ("context", "namespace", "expected"),
    [
        ("other", None, ("other", "default", "https://127.0.0.1:7443")),
        ("other", "web", ("other", "web", "https://127.0.0.1:7443")),
        (None, "web", ("lab", "web", "https://127.0.0.1:6443")),
    ],
)
def test_connect_context_and_namespace_override(
    tmp_path: Path, context: str | None, namespace: str | None, expected: tuple[str, str, str]
) -> None:
    path = _write(tmp_path / "config", _kubeconfig())
    kube = Kube.connect(kubeconfig=str(path), context=context, namespace=namespace)
    assert (kube.context, kube.namespace, kube.server) == expected


def test_wrong_context_lists_the_contexts(tmp_path: Path) -> None:
    path = _write(tmp_path / "config", _kubeconfig())
    with pytest.raises(InputError) as ei:
        Kube.connect(kubeconfig=str(path), context="prod")
    msg = str(ei.value)
    assert "'prod'" in msg and "lab, other" in msg and "\n" not in msg


def test_no_current_context_asks_for_one(tmp_path: Path) -> None:
    path = _write(tmp_path / "config", _kubeconfig(current=None))
    with pytest.raises(InputError, match=r"no current context; choose one with --context \(contexts: lab, other\)"):
        Kube.connect(kubeconfig=str(path))


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        ("clusters: [\n  - name: a\n  bad", r"is not valid YAML \(line \d+\)"),
        ("- just\n- a list\n", r"is not a kubeconfig"),
        ("clusters: 3\n", r"clusters must be a list"),
        ("clusters: [{name: c, cluster: https://x}]\n", r"cluster 'c' must be a mapping"),
        ("users: [{name: u, user: [token]}]\n", r"user 'u' must be a mapping"),
        ("apiVersion: v1\nkind: Config\n", r"defines no contexts"),
        ("", r"defines no contexts"),
    ],
)
def test_garbage_kubeconfig_is_one_clear_line(tmp_path: Path, content: str, pattern: str) -> None:
    path = _write(tmp_path / "config", content)
    with pytest.raises(InputError, match=pattern) as ei:
        Kube.connect(kubeconfig=str(path))
    assert "\n" not in str(ei.value) and str(path) in str(ei.value)


def test_unreadable_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"cannot read kubeconfig .*nope.*No such file"):
        Kube.connect(kubeconfig=str(tmp_path / "nope"))
    if os.geteuid() != 0:  # root reads anything
        path = _write(tmp_path / "config", _kubeconfig())
        path.chmod(0)
        with pytest.raises(InputError, match="Permission denied"):
            Kube.connect(kubeconfig=str(path))


@pytest.mark.parametrize(
    ("mutate", "pattern"),
    [
        (lambda d: d["contexts"][0]["context"].update(cluster="gone"), r"refers to cluster 'gone'"),
        (lambda d: d["contexts"][0]["context"].update(user="ghost"), r"refers to user 'ghost'"),
        (lambda d: d["clusters"][0]["cluster"].pop("server"), r"has no server address"),
        (lambda d: d.update({"current-context": "zzz"}), r"current context 'zzz' .* does not exist"),
    ],
)
def test_dangling_references(tmp_path: Path, mutate, pattern: str) -> None:  # type: ignore[no-untyped-def]
    doc = _kubeconfig()
    mutate(doc)
    path = _write(tmp_path / "config", doc)
    with pytest.raises(InputError, match=pattern):
        Kube.connect(kubeconfig=str(path))


def test_kubeconfig_env_merges_files_like_kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Clusters in one file, users and contexts in another; the first current-context wins."""
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    ca = trustme_ca_file(a / "ca.pem")
    _write(a / "clusters.yaml", {"clusters": [_cluster("c1", certificate_authority="ca.pem")],
                                 "current-context": "second"})
    _write(b / "users.yaml", {"users": [_user("u1")],
                              "contexts": [_context("first", "c1", "u1", "one"),
                                           _context("second", "c1", "u1", "two")],
                              "current-context": "first"})
    missing = tmp_path / "missing.yaml"
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(a / "clusters.yaml"), str(missing),
                                                      str(b / "users.yaml")]))
    info = load_kubeconfig()
    assert info is not None and info.current_context == "second"
    assert Kube.list_contexts() == (["first", "second"], "second")
    kube = Kube.connect()
    assert (kube.context, kube.namespace) == ("second", "two")
    # the relative CA path resolves next to the file that defined the cluster
    assert Path(kube._cfg.ssl_ca_cert).read_bytes() == ca.read_bytes()
    assert isinstance(kube.ssl_context(), ssl.SSLContext)


def test_first_file_wins_for_duplicate_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _write(tmp_path / "1", {"clusters": [_cluster("c", "https://127.0.0.1:1111")],
                                    "users": [_user("u")], "contexts": [_context("x", "c", "u")],
                                    "current-context": "x"})
    second = _write(tmp_path / "2", {"clusters": [_cluster("c", "https://127.0.0.1:2222")]})
    monkeypatch.setenv("KUBECONFIG", f"{first}{os.pathsep}{second}")
    assert Kube.connect().server == "https://127.0.0.1:1111"


def test_kubeconfig_env_with_only_missing_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "gone"))
    with pytest.raises(InputError, match=r"none of the files in \$KUBECONFIG exist"):
        Kube.connect()


def test_default_location_then_in_cluster(tmp_path: Path) -> None:
    home = Path(os.environ["HOME"])
    with pytest.raises(InputError, match=r"no kubeconfig found .* not running inside a cluster"):
        Kube.connect()
    assert Kube.list_contexts() == ([], None)
    (home / ".kube").mkdir()
    _write(home / ".kube" / "config", _kubeconfig())
    assert Kube.connect().context == "lab"


def test_broken_credentials_are_input_errors(tmp_path: Path) -> None:
    doc = _kubeconfig()
    doc["users"][0]["user"] = {"client-certificate": "no-such.crt", "client-key": "no-such.key"}
    path = _write(tmp_path / "config", doc)
    with pytest.raises(InputError, match=r"kubeconfig context 'lab'"):
        Kube.connect(kubeconfig=str(path)).ssl_context()


def test_exec_plugin_token_is_used(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.sh"
    plugin.write_text('#!/bin/sh\necho \'{"apiVersion":"client.authentication.k8s.io/v1",'
                      '"kind":"ExecCredential","status":{"token":"from-exec"}}\'\n')
    plugin.chmod(0o755)
    doc = _kubeconfig()
    doc["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                        "command": str(plugin), "interactiveMode": "Never"}}
    kube = Kube.connect(kubeconfig=str(_write(tmp_path / "config", doc)))
    assert kube._auth_headers() == {"Authorization": "Bearer from-exec"}
    assert "from-exec" not in repr(kube)


def test_failing_exec_plugin_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = _kubeconfig()
    doc["users"][0]["user"] = {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                        "command": str(tmp_path / "no-such-plugin"),
                                        "interactiveMode": "Never"}}
    with pytest.raises(InputError, match=r"credential plugin of kubeconfig user 'u1' .*no-such-plugin.* failed"):
        Kube.connect(kubeconfig=str(_write(tmp_path / "config", doc)))
    assert "no-such-plugin" not in capsys.readouterr().err  # no stray log line


def test_silent_server_times_out(tmp_path: Path) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # accepts connections (kernel backlog) but never answers
    try:
        doc = _kubeconfig()
        doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{listener.getsockname()[1]}"
        kube = Kube.connect(kubeconfig=str(_write(tmp_path / "config", doc)), timeout=(0.3, 0.3))
        with pytest.raises(ClusterAccessError, match="timed out"):
            kube.check_access()
    finally:
        listener.close()


# -- pure helpers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kw", "expected"),
    [
        (("shop", "chat", 80), {}, "/api/v1/namespaces/shop/services/chat:80/proxy"),
        (("shop", "chat", "http"), {}, "/api/v1/namespaces/shop/services/chat:http/proxy"),
        (("shop", "chat", 8443), {"scheme": "https"}, "/api/v1/namespaces/shop/services/https:chat:8443/proxy"),
    ],
)
def test_service_proxy_path(args: tuple, kw: dict, expected: str) -> None:
    assert service_proxy_path(*args, **kw) == expected


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"kind":"Status","reason":"Forbidden","message":"secrets is forbidden:\\n no"}',
         ("Forbidden", "secrets is forbidden: no")),
        (b"<html>gateway</html>", ("", "<html>gateway</html>")),
        (b"[1]", ("", "")),
    ],
)
def test_status_message(body: bytes, expected: tuple[str, str]) -> None:
    assert _status_message(body) == expected


def test_describe_connection_error() -> None:
    wrapped = RuntimeError("pool")
    wrapped.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert describe_connection_error(wrapped, "https://127.0.0.1:1").endswith("connection refused")
    cert = ssl.SSLCertVerificationError(1, "x")
    cert.verify_message = "unable to get local issuer certificate"
    assert "not trusted: unable to get local issuer" in describe_connection_error(cert, "https://h")


def trustme_ca_file(path: Path) -> Path:
    import trustme

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(path))
    return path


def test_unreachable_server_is_cluster_access_error(tmp_path: Path) -> None:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    doc = _kubeconfig()
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    kube = Kube.connect(kubeconfig=str(_write(tmp_path / "config", doc)))
    with pytest.raises(ClusterAccessError, match="connection refused") as ei:
        kube.check_access()
    assert "\n" not in str(ei.value)
    with pytest.raises(ClusterAccessError, match="connection refused"):
        kube.list_raw("Pod", "default")


# -- against the lab's fake kube-apiserver (HTTPS + token) ----------------------------------------

BACKENDS: dict[tuple[str, str, int], tuple[str, int]] = {}

POD = {
    "apiVersion": "v1", "kind": "Pod",
    "metadata": {"name": "web-0", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {"nodeName": "node-1", "containers": [{"name": "web", "image": "web:1", "ports": [
        {"name": "http", "containerPort": 8080}, {"name": "ws", "containerPort": 9000}]}]},
    "status": {"phase": "Running", "podIP": "10.244.0.5",
               "conditions": [{"type": "Ready", "status": "True"}]},
}
SERVICE = {
    "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"selector": {"app": "web"}, "ports": [
        {"name": "http", "port": 80, "targetPort": "http"},
        {"name": "ws", "port": 81, "targetPort": 9000}]},
}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "web-tls", "namespace": "shop"},
          "type": "kubernetes.io/tls", "data": {"tls.key": "c2VjcmV0LWtleQ=="}}
FAKE_OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
    POD, SERVICE, SECRET,
    *({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"cm-{i:02d}", "namespace": "shop"}}
      for i in range(20)),
]


@pytest.fixture(scope="module")
def fake_api():  # type: ignore[no-untyped-def]
    from kdiag.lab.apiserver.server import FakeApiServer

    server = FakeApiServer(FAKE_OBJECTS, token=TOKEN,
                           backends=lambda ns, pod, port: BACKENDS.get((ns, pod, port))).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def lab_kube(fake_api, tmp_path: Path) -> Kube:  # type: ignore[no-untyped-def]
    fake_api.clear_requests()
    path = fake_api.write_kubeconfig(tmp_path / "kubeconfig", context="lab", namespace="shop")
    kube = Kube.connect(kubeconfig=str(path))
    yield kube
    kube.close()


def test_reads_through_the_fake(fake_api, lab_kube: Kube) -> None:  # type: ignore[no-untyped-def]
    assert lab_kube.server == fake_api.url and lab_kube.namespace == "shop"
    assert lab_kube.check_access().get("gitVersion", "").startswith("v1.30")
    pod = lab_kube.get_raw("Pod", "shop", "web-0")
    assert pod is not None and (pod["kind"], pod["apiVersion"]) == ("Pod", "v1")
    assert lab_kube.get_raw("Pod", "shop", "nope") is None
    slices = lab_kube.list_raw("EndpointSlice", "shop", label_selector="kubernetes.io/service-name=web")
    assert [s["kind"] for s in slices] == ["EndpointSlice"] and slices[0]["apiVersion"] == "discovery.k8s.io/v1"
    assert lab_kube.list_raw("Pod", None, label_selector="app=nothing") == []
    assert all(r.user_agent.startswith("kdiag/") and r.had_auth for r in fake_api.requests)
    assert all(r.method == "GET" for r in fake_api.requests)


def test_secrets_are_read_metadata_only(fake_api, lab_kube: Kube) -> None:  # type: ignore[no-untyped-def]
    secret = lab_kube.get_raw("Secret", "shop", "web-tls")
    assert secret is not None and "data" not in secret and secret["kind"] == "Secret"
    assert lab_kube.exists_metadata("Secret", "shop", "web-tls") is True
    assert lab_kube.exists_metadata("Secret", "shop", "gone") is False
    listed = lab_kube.list_raw("Secret", "shop")
    assert [s["metadata"]["name"] for s in listed] == ["web-tls"] and "data" not in listed[0]
    secret_reads = [r for r in fake_api.requests if "/secrets" in r.path]
    assert len(secret_reads) == 4
    assert all("as=PartialObjectMetadata" in r.accept for r in secret_reads)
    assert all(r.accept.split(",")[0].startswith("application/json;as=PartialObjectMetadata") for r in secret_reads)


def test_pagination_follows_continue(fake_api, lab_kube: Kube) -> None:  # type: ignore[no-untyped-def]
    items = lab_kube.list_raw("ConfigMap", "shop", limit=7)
    assert sorted(i["metadata"]["name"] for i in items) == [f"cm-{i:02d}" for i in range(20)]
    reads = [r for r in fake_api.requests if r.path.endswith("/configmaps")]
    assert [r.query.get("limit") for r in reads] == ["7"] * 3
    assert "continue" not in reads[0].query and all(r.query.get("continue") for r in reads[1:])
    assert len(lab_kube.list_raw("ConfigMap", "shop", limit=7, max_items=7)) == 7


def test_the_next_page_is_asked_for_before_this_one_is_parsed(  # type: ignore[no-untyped-def]
        fake_api, lab_kube: Kube, monkeypatch: pytest.MonkeyPatch) -> None:
    """A page's `continue` token is read off its head: the next request goes out while the page
    is parsed, and every page is asked for once."""
    import kdiag.kube.client as client

    events: list[str] = []
    real_in_thread, real_json = client.in_thread, Kube._json

    def in_thread(fn, *args, **kw):  # type: ignore[no-untyped-def]
        events.append("next page asked")
        return real_in_thread(fn, *args, **kw)

    def parse(self, status, body, what):  # type: ignore[no-untyped-def]
        events.append("page parsed")
        return real_json(self, status, body, what)

    monkeypatch.setattr(client, "in_thread", in_thread)
    monkeypatch.setattr(Kube, "_json", parse)
    fake_api.clear_requests()
    items = lab_kube.list_raw("ConfigMap", "shop", limit=7)
    assert len(items) == 20
    assert events == ["next page asked", "page parsed", "next page asked", "page parsed", "page parsed"]
    reads = [r for r in fake_api.requests if r.path.endswith("/configmaps")]
    assert len(reads) == 3 and len({r.query.get("continue") for r in reads}) == 3


@pytest.mark.parametrize(("body", "token"), [
    (b'{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"9","continue":"eyJ2Ijo-_x","remainingItemCount":3},"items":[]}',
     "eyJ2Ijo-_x"),
    (b'{"kind": "PodList", "metadata": {"continue": "abc="}, "items": []}', "abc="),
    (b'{"kind":"PodList","metadata":{"resourceVersion":"9"},"items":[{"metadata":{"continue":"no"}}]}', None),
    (b'{"kind":"PodList","items":[],"metadata":{"continue":"after-the-items"}}', None),
    (b'{"kind":"PodList","metadata":{"continue":"\\u003cescaped"},"items":[]}', None),
    (b'not json at all', None),
])
def test_peek_continue_reads_only_the_lists_own_token(body: bytes, token: str | None) -> None:
    from kdiag.kube.client import peek_continue

    assert peek_continue(body) == token


def test_forbidden_and_not_found_are_distinct(fake_api, lab_kube: Kube) -> None:  # type: ignore[no-untyped-def]
    from kdiag.kube import Forbidden, NotFound

    fake_api.forbidden = [("list", "secrets", "*"), ("get", "secrets", "*")]
    try:
        with pytest.raises(Forbidden, match="forbidden"):
            lab_kube.list_raw("Secret", "shop")
        with pytest.raises(Forbidden):
            lab_kube.exists_metadata("Secret", "shop", "web-tls")
    finally:
        fake_api.forbidden = []
    with pytest.raises(NotFound):  # a resource type the server does not serve
        lab_kube._get_json("/apis/example.com/v1/widgets", "list widgets")


def test_wrong_token_is_unauthorized(fake_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = fake_api.write_kubeconfig(tmp_path / "kc", user_token="not-the-token")
    kube = Kube.connect(kubeconfig=str(path))
    with pytest.raises(ClusterAccessError, match=r"rejected our credentials .*Unauthorized") as ei:
        kube.list_raw("Pod", "default")
    assert "not-the-token" not in str(ei.value) and "\n" not in str(ei.value)
    with pytest.raises(ClusterAccessError, match="Unauthorized"):
        kube.check_access()


def test_untrusted_server_certificate(fake_api, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = fake_api.write_kubeconfig(tmp_path / "kc")
    doc = yaml.safe_load(path.read_text())
    doc["clusters"][0]["cluster"].pop("certificate-authority-data")
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(ClusterAccessError, match="TLS") as ei:
        Kube.connect(kubeconfig=str(path)).check_access()
    assert "\n" not in str(ei.value)


def test_kubeconfig_split_over_two_files_reaches_the_fake(fake_api, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    doc = yaml.safe_load(fake_api.write_kubeconfig(tmp_path / "kc", context="lab").read_text())
    clusters = _write(tmp_path / "clusters.yaml", {"clusters": doc["clusters"]})
    rest = _write(tmp_path / "users.yaml", {"users": doc["users"], "contexts": doc["contexts"],
                                            "current-context": "lab"})
    monkeypatch.setenv("KUBECONFIG", f"{clusters}{os.pathsep}{rest}")
    kube = Kube.connect()
    assert kube.server == fake_api.url
    assert kube.get_raw("Pod", "shop", "web-0") is not None


# -- port-forward bridge -------------------------------------------------------------------


async def _start_echo() -> tuple[object, int]:
    import asyncio

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(b"echo:" + data)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(echo, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_port_forward_bridge_echo_and_http(fake_api, lab_kube: Kube) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    server, port = await _start_echo()
    BACKENDS[("shop", "web-0", 7000)] = ("127.0.0.1", port)
    try:
        async with lab_kube.port_forward("shop", "web-0", 7000) as bridge:
            host, lport = bridge
            assert host == "127.0.0.1" and lport != port
            for _ in range(2):  # each local connection gets its own stream
                reader, writer = await asyncio.open_connection(host, lport)
                writer.write(b"ping")
                await writer.drain()
                assert await asyncio.wait_for(reader.readexactly(9), 5) == b"echo:ping"
                writer.close()
            # a client that half-closes after its request still gets the answer
            reader, writer = await asyncio.open_connection(host, lport)
            writer.write(b"half")
            writer.write_eof()
            assert await asyncio.wait_for(reader.readexactly(9), 5) == b"echo:half"
            writer.close()
            assert bridge.last_error is None and bridge.connections == 3
        pf = [r for r in fake_api.requests if r.path.endswith("/portforward")]
        assert len(pf) == 3 and pf[0].query == {"ports": "7000"} and pf[0].upgrade.lower() == "websocket"
    finally:
        BACKENDS.pop(("shop", "web-0", 7000), None)
        server.close()


async def test_port_forward_to_a_closed_port_reports_the_error(lab_kube: Kube) -> None:
    import asyncio

    async with lab_kube.port_forward("shop", "web-0", 8080) as bridge:  # no backend: nothing listens
        reader, writer = await asyncio.open_connection(*bridge)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        assert await asyncio.wait_for(reader.read(100), 5) == b""
        writer.close()
        assert bridge.last_error is not None and "8080" in bridge.last_error
        detail = lab_kube.port_forward_error("shop", "web-0", 8080)
        assert detail and "8080" in detail and bridge.last_error.endswith(detail)
        assert not detail.startswith("port-forward to")
    assert lab_kube.port_forward_error("shop", "web-0", 1) is None  # never forwarded
    async with lab_kube.port_forward("shop", "ghost", 80) as bridge:
        reader, writer = await asyncio.open_connection(*bridge)
        assert await asyncio.wait_for(reader.read(100), 5) == b""
        assert bridge.last_error is not None and "404" in bridge.last_error and "ghost" in bridge.last_error


# -- service proxy ---------------------------------------------------------------------------


async def _start_app() -> tuple[object, int]:
    from aiohttp import WSMsgType, web

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.path_qs}")

    async def ws(request: web.Request) -> web.WebSocketResponse:
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            if msg.type == WSMsgType.TEXT:
                await sock.send_str("echo:" + msg.data)
        return sock

    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_get("/ws", ws)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


async def test_service_proxy_endpoint_with_httpx_and_websocket(fake_api, lab_kube: Kube) -> None:  # type: ignore[no-untyped-def]
    import httpx
    from websockets.asyncio.client import connect

    runner, port = await _start_app()
    BACKENDS[("shop", "web-0", 8080)] = ("127.0.0.1", port)
    BACKENDS[("shop", "web-0", 9000)] = ("127.0.0.1", port)
    try:
        ep = lab_kube.service_proxy_endpoint("shop", "web", "http")
        assert ep.via == "service-proxy" and ep.tls and ep.host == "127.0.0.1"
        assert ep.path_prefix == "/api/v1/namespaces/shop/services/web:http/proxy"
        assert TOKEN not in repr(ep) and ep.hidden_headers == {"Authorization": f"Bearer {TOKEN}"}
        base = f"https://{ep.host}:{ep.port}{ep.path_prefix}"
        async with httpx.AsyncClient(verify=ep.ssl_context, trust_env=False, timeout=5) as client:
            r = await client.get(f"{base}/hello?x=1", headers={**ep.hidden_headers, "Host": ep.host_header})
            assert (r.status_code, r.text) == (200, "hello /hello?x=1")
            denied = await client.get(f"{base}/hello")  # the hidden header is what gets us in
            assert denied.status_code == 401
        ws_ep = lab_kube.service_proxy_endpoint("shop", "web", 81)
        assert ws_ep.path_prefix.endswith("/services/web:81/proxy")
        uri = f"wss://{ws_ep.host}:{ws_ep.port}{ws_ep.path_prefix}/ws"
        async with connect(uri, ssl=ws_ep.ssl_context, additional_headers=dict(ws_ep.hidden_headers),
                           open_timeout=5, proxy=None) as sock:
            assert sock.response.status_code == 101
            await sock.send("hi")
            assert await sock.recv() == "echo:hi"
        upgrades = [r for r in fake_api.requests if r.path.endswith("/proxy/ws")]
        assert upgrades and upgrades[0].upgrade.lower() == "websocket"
    finally:
        BACKENDS.pop(("shop", "web-0", 8080), None)
        BACKENDS.pop(("shop", "web-0", 9000), None)
        await runner.cleanup()  # type: ignore[attr-defined]


def test_in_cluster_config_reaches_the_fake(fake_api, tmp_path: Path,  # type: ignore[no-untyped-def]
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """No kubeconfig anywhere: the service-account token, CA and namespace files are used."""
    import kubernetes.config.incluster_config as incluster

    import kdiag.kube.kubeconfig

    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "ca.crt").write_bytes(fake_api.ca_pem)
    (tmp_path / "namespace").write_text("shop\n")
    monkeypatch.setattr(incluster, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    monkeypatch.setattr(kdiag.kube.kubeconfig, "IN_CLUSTER_NAMESPACE_FILE", str(tmp_path / "namespace"))
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(fake_api.port))
    kube = Kube.connect()
    assert (kube.context, kube.namespace, kube.server) == (None, "shop", fake_api.url)
    assert kube.get_raw("Pod", "shop", "web-0") is not None
    with pytest.raises(InputError, match="--context 'x' given but no kubeconfig"):
        Kube.connect(context="x")


async def test_kdiag_probes_through_port_forward_and_service_proxy(fake_api, lab_kube: Kube) -> None:  # type: ignore[no-untyped-def]
    """The probes use the bridge and the proxy Endpoint as the diagnosis does; no token is recorded."""
    import json

    from kdiag.endpoint import Endpoint
    from kdiag.probes.http import probe_http
    from kdiag.probes.websocket import probe_websocket

    runner, port = await _start_app()
    BACKENDS[("shop", "web-0", 8080)] = ("127.0.0.1", port)
    BACKENDS[("shop", "web-0", 9000)] = ("127.0.0.1", port)
    try:
        async with lab_kube.port_forward("shop", "web-0", 8080) as (host, lport):
            ep = Endpoint(host=host, port=lport, via="port-forward", label="pod web-0:8080")
            pf = await probe_http("http://chat.example.com/hello", ep, timeout=5)
        proxied = await probe_http("http://chat.example.com/hello",
                                   lab_kube.service_proxy_endpoint("shop", "web", "http"), timeout=5)
        ws = await probe_websocket("ws://chat.example.com/ws",
                                   lab_kube.service_proxy_endpoint("shop", "web", "ws"), timeout=5)
        for result, via, code in ((pf, "port-forward", 200), (proxied, "service-proxy", 200),
                                  (ws, "service-proxy", 101)):
            assert (result.ok, result.via, result.status_code) == (True, via, code), result
            assert TOKEN not in json.dumps(result.to_dict())
    finally:
        BACKENDS.pop(("shop", "web-0", 8080), None)
        BACKENDS.pop(("shop", "web-0", 9000), None)
        await runner.cleanup()  # type: ignore[attr-defined]


_KEYS = ["clusters", "users", "contexts", "current-context", "name", "cluster", "user", "context",
         "server", "token", "namespace", "certificate-authority-data", "insecure-skip-tls-verify",
         "client-certificate-data", "tokenFile"]


def _kubeconfig_like():  # type: ignore[no-untyped-def]
    from hypothesis import strategies as st

    scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(["c", "u", "x", ""]),
                        st.just("https://127.0.0.1:1"), st.text(max_size=8))
    def extend(inner: Any) -> Any:
        return st.one_of(st.lists(inner, max_size=3),
                         st.dictionaries(st.sampled_from(_KEYS), inner, max_size=5))

    return st.recursive(scalars, extend, max_leaves=20)


def test_any_kubeconfig_document_fails_cleanly(tmp_path: Path) -> None:
    """Whatever the document, connect() builds a Kube or raises a one-line KdiagError."""
    from hypothesis import HealthCheck, given, settings

    from kdiag.errors import KdiagError

    path = tmp_path / "config"

    from hypothesis import strategies as st

    spots = [("clusters", 0, "cluster", "server"), ("users", 0, "user", "token"),
             ("contexts", 0, "context", "cluster"), ("contexts", 0, "context", "user"),
             ("contexts", 0, "context", "namespace"), ("contexts", 0, "context"), ("clusters", 0),
             ("current-context",), ("contexts", 0, "name"), ("users", 0, "user"),
             ("clusters", 0, "cluster", "certificate-authority-data"),
             ("users", 0, "user", "client-certificate-data"), ("clusters", 0, "cluster", "tls-server-name")]

    def mutate(spot: tuple, value: object) -> object:
        doc: Any = _kubeconfig()
        target = doc
        for key in spot[:-1]:
            target = target[key]
        target[spot[-1]] = value
        return doc

    docs = st.one_of(_kubeconfig_like(),
                     st.builds(mutate, st.sampled_from(spots), _kubeconfig_like()))

    @settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(docs)
    def check(doc: object) -> None:
        path.write_text(yaml.dump(doc, Dumper=yaml.CSafeDumper))
        try:
            Kube.connect(kubeconfig=str(path)).close()
        except KdiagError as e:
            assert "\n" not in str(e) and str(e)

    check()


# -- the Protocols ---------------------------------------------------------------------------------


def test_kube_satisfies_the_cluster_access_protocols(tmp_path: Path) -> None:
    from kdiag.kube import ClusterAccess, ClusterReader

    path = _write(tmp_path / "config", _kubeconfig())
    kube = Kube.connect(kubeconfig=str(path))
    access: ClusterAccess = kube  # the static half: mypy checks this assignment
    assert isinstance(access, ClusterAccess) and isinstance(kube, ClusterReader)
    assert not isinstance(object(), ClusterReader)
    kube.close()
