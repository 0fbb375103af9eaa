"""Pure parts of the fake API server: selectors, continue tokens, media types, tables, relay heads."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdiag.lab.apiserver import responses
from kdiag.lab.apiserver.relay import _response_head, is_loopback, port_forward_error_text
from kdiag.lab.apiserver.request_info import split_scheme_name_port
from kdiag.lab.apiserver.resources import RESOURCES, api_resource_list
from kdiag.lab.apiserver.select import (
    SelectorError,
    decode_continue,
    encode_continue,
    field_selector,
    label_selector,
)
from kdiag.lab.apiserver.table import human_duration, table


def _obj(**labels: str) -> dict[str, Any]:
    return {"metadata": {"name": "x", "namespace": "default", "labels": labels}}


@pytest.mark.parametrize(("selector", "labels", "matches"), [
    ("", {}, True),
    ("a=1", {"a": "1"}, True),
    ("a=1", {"a": "2"}, False),
    ("a==1", {"a": "1"}, True),
    ("a!=1", {}, True),  # != matches objects without the key, like notin
    ("a!=1", {"a": "1"}, False),
    ("a in (1, 2)", {"a": "2"}, True),
    ("a in (1,2)", {}, False),
    ("a notin (1,2)", {}, True),
    ("a notin (1,2)", {"a": "3"}, True),
    ("a", {"a": ""}, True),
    ("!a", {"a": ""}, False),
    ("!a", {"b": "1"}, True),
    ("a=1,b", {"a": "1"}, False),
    ("app.kubernetes.io/name=web", {"app.kubernetes.io/name": "web"}, True),
    ("a>2", {"a": "3"}, True),
    ("a<2", {"a": "3"}, False),
    ("a=", {"a": ""}, True),
])
def test_label_selector(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert label_selector(selector)(_obj(**labels)) is matches


@pytest.mark.parametrize("bad", ["a in 1", "a=(", ",", "a=1,,b", "=x", "a b"])
def test_label_selector_rejects_garbage(bad: str) -> None:
    with pytest.raises(SelectorError):
        label_selector(bad)


@pytest.mark.parametrize(("selector", "plural", "obj", "matches"), [
    ("metadata.name=x", "pods", {"metadata": {"name": "x"}}, True),
    ("metadata.name!=x", "pods", {"metadata": {"name": "x"}}, False),
    ("status.phase=Running", "pods", {"status": {"phase": "Running"}}, True),
    ("spec.nodeName=", "pods", {"spec": {}}, True),  # unscheduled pods
    ("spec.hostNetwork=false", "pods", {"spec": {}}, True),
    ("type=kubernetes.io/tls", "secrets", {"type": "kubernetes.io/tls"}, True),
    ("involvedObject.name=web", "events", {"involvedObject": {"name": "web"}}, True),
])
def test_field_selector(selector: str, plural: str, obj: dict[str, Any], matches: bool) -> None:
    assert field_selector(selector, plural)(obj) is matches


@pytest.mark.parametrize(("selector", "plural"), [("status.phase=Running", "services"),
                                                  ("spec.bogus=1", "pods"), ("nonsense", "pods")])
def test_field_selector_rejects_unsupported(selector: str, plural: str) -> None:
    with pytest.raises(SelectorError):
        field_selector(selector, plural)


@given(st.integers(min_value=1, max_value=10**12).map(str), st.text(max_size=80))
def test_continue_token_roundtrip(rv: str, key: str) -> None:
    token = encode_continue(rv, key)
    assert "/" not in token and "+" not in token
    assert decode_continue(token) == (rv, key)


@given(st.text(max_size=40))
def test_continue_token_garbage_is_a_selector_error(token: str) -> None:
    try:
        decode_continue(token)
    except SelectorError:
        return
    raise AssertionError("garbage decoded")  # pragma: no cover - hypothesis would need our format


@pytest.mark.parametrize(("accept", "want_list", "media"), [
    ("", False, "json"),
    ("application/json", True, "json"),
    ("*/*", False, "json"),
    ("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", False, "partial"),
    ("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", True, None),
    ("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json", True, "json"),
    ("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1", True, "partial"),
    ("application/json;as=Table;v=v1;g=meta.k8s.io,application/json", True, "table"),
    ("application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json", True, "json"),
    ("application/vnd.kubernetes.protobuf", False, None),
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", False, None),
])
def test_media_negotiation(accept: str, want_list: bool, media: str | None) -> None:
    assert responses.media(accept, want_list) == media


@pytest.mark.parametrize(("name", "parts"), [
    ("web", ("", "web", "")), ("web:80", ("", "web", "80")), ("web:http", ("", "web", "http")),
    ("https:web:443", ("https", "web", "443")),
])
def test_split_scheme_name_port(name: str, parts: tuple[str, str, str]) -> None:
    assert split_scheme_name_port(name) == parts


@pytest.mark.parametrize(("seconds", "text"), [
    (-5, "<invalid>"), (0, "0s"), (119, "119s"), (120, "2m"), (125, "2m5s"), (600, "10m"),
    (3 * 3600, "3h"), (3 * 3600 + 60 * 5, "3h5m"), (30 * 3600, "30h"), (3 * 86400 + 3600, "3d1h"),
    (30 * 86400, "30d"), (800 * 86400, "2y70d"), (9 * 365 * 86400, "9y"),
])
def test_human_duration(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_table_rows_and_objects() -> None:
    svc = {"kind": "Service", "metadata": {"name": "web", "creationTimestamp": "2026-01-01T00:00:00Z"},
           "spec": {"type": "NodePort", "clusterIP": "10.96.0.1",
                    "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"}]}}
    doc = table([svc], "Service", {"resourceVersion": "7"}, "")
    assert [c["name"] for c in doc["columnDefinitions"]][:5] == ["Name", "Type", "Cluster-IP",
                                                                 "External-IP", "Port(s)"]
    assert doc["rows"][0]["cells"][:5] == ["web", "NodePort", "10.96.0.1", "<none>", "80:30080/TCP"]
    assert doc["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    assert "object" not in table([svc], "Service", {}, "None")["rows"][0]
    assert table([svc], "Service", {}, "Object")["rows"][0]["object"]["spec"]["type"] == "NodePort"
    unknown = table([svc], "Widget", {}, "")
    assert [c["name"] for c in unknown["columnDefinitions"]] == ["Name", "Created At"]


def test_discovery_subresources_have_no_short_names() -> None:
    for r in RESOURCES:
        doc = api_resource_list(r.group, r.version)
        assert doc is not None
        for entry in doc["resources"]:
            if "/" in entry["name"]:
                assert entry["singularName"] == "" and "shortNames" not in entry
                assert "categories" not in entry


@pytest.mark.parametrize(("raw", "upgrade", "status", "has_close"), [
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", True, 101, False),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\n\r\n", False, 200, True),
    (b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", True, 403, True),
])
def test_response_head_rewrites_hop_by_hop(raw: bytes, upgrade: bool, status: int, has_close: bool) -> None:
    got_status, head = _response_head(raw, keep_upgrade=upgrade)
    assert got_status == status and head.endswith(b"\r\n\r\n")
    assert (b"Connection: close" in head) is has_close
    assert b"Keep-Alive" not in head


@pytest.mark.parametrize(("host", "ok"), [("127.0.0.1", True), ("127.8.9.1", True), ("::1", True),
                                          ("localhost", True), ("10.244.0.5", False),
                                          ("192.168.1.1", False), ("example.com", False)])
def test_is_loopback(host: str, ok: bool) -> None:
    assert is_loopback(host) is ok


def test_spdy_dictionary_is_the_spec_one() -> None:
    import zlib

    from kdiag.lab.apiserver.spdy import SPDY_DICTIONARY

    # kubectl's first SYN_STREAM names this dictionary id in its zlib header (FDICT)
    assert (len(SPDY_DICTIONARY), zlib.adler32(SPDY_DICTIONARY)) == (1423, 0xE3C6A7C2)


def test_port_forward_error_text_is_kubelet_like() -> None:
    text = port_forward_error_text({"metadata": {"name": "p", "namespace": "ns", "uid": "u"}}, 8080)
    assert text.startswith("error forwarding port 8080 to pod ")
    assert "failed to connect to localhost:8080 inside namespace" in text
    assert "connect: connection refused" in text
