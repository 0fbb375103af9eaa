"""kdiag.kube: kubeconfig handling, error mapping, raw reads, port-forward and the service proxy."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
import yaml

from kdiag.errors import ClusterAccessError, InputError
from kdiag.kube import (
    Kube,
    _status_message,
    describe_connection_error,
    load_kubeconfig,
    service_proxy_path,
)

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
