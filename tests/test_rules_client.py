"""Client rules: how the browser's WebSocket URL is written, mixed content, and where it routes."""

from __future__ import annotations

from typing import Any

import pytest

from kdiag.model import Finding, SourceInfo
from kdiag.rules import RuleContext, run_rules
from kdiag.rules.client import classify_ws_url, effective_ws_url
from kdiag.session import WalkRequest
from kdiag.snapshot import Snapshot


def _ingress(paths: list[tuple[str, int]], host: str = "chatapp.com") -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "chatapp", "namespace": "default"},
            "spec": {"rules": [{"host": host, "http": {"paths": [
                {"path": p, "pathType": "Prefix",
                 "backend": {"service": {"name": "chatapp-svc", "port": {"number": port}}}}
                for p, port in paths]}}]}}


CHAT = [_ingress([("/", 3001), ("/api", 3002), ("/wss", 3003)])]


def run(check: str, objs: list[dict[str, Any]] | None = None, **target: Any) -> list[Finding]:
    snap = Snapshot(objects=tuple(objs if objs is not None else CHAT), source=SourceInfo(kind="manifests"))
    given = {k: v for k, v in target.items() if v is not None}
    return run_rules(RuleContext.for_request(snap, WalkRequest(**given) if given else None), only=[check])


@pytest.mark.parametrize(("url", "kind"), [
    ("wss://chatapp.com/wss", "absolute-ws"),
    ("WS://chatapp.com/wss", "absolute-ws"),
    ("https://chatapp.com/wss", "absolute-http"),
    ("/wss", "relative"),
    ("./wss", "relative"),
    ("wss", "relative"),
    ("//chatapp.com/wss", "scheme-relative"),
    ("chatapp.com/wss", "host-without-scheme"),
    ("chatapp.com:8443/wss", "host-without-scheme"),
    ("localhost:3002/ws", "host-without-scheme"),
    ("ftp://chatapp.com/wss", "other-scheme"),
])
def test_classify_ws_url(url: str, kind: str) -> None:
    assert classify_ws_url(url) == kind


@pytest.mark.parametrize(("client", "base", "expected"), [
    ("/wss", "https://chatapp.com/chat", "wss://chatapp.com/wss"),
    ("/wss", "http://chatapp.com/", "ws://chatapp.com/wss"),
    ("wss", "https://chatapp.com/app/index.html", "wss://chatapp.com/app/wss"),
    ("chatapp.com/wss", "https://chatapp.com/", "wss://chatapp.com/chatapp.com/wss"),
    ("https://other.io/ws?x=1", "https://chatapp.com/", "wss://other.io/ws?x=1"),
    ("//chatapp.com/wss", "http://chatapp.com/", "ws://chatapp.com/wss"),
    ("/wss", None, None),
    ("ftp://x/", "https://chatapp.com/", None),
])
def test_effective_ws_url(client: str, base: str | None, expected: str | None) -> None:
    assert effective_ws_url(client, base) == expected


@pytest.mark.parametrize(("url", "client_url", "page_url", "severity"), [
    ("ws://chatapp.com/wss", "/wss", "http://chatapp.com/", "error"),  # seed 000
    ("wss://chatapp.com/wss", "https://chatapp.com/wss", None, "error"),
    ("wss://chatapp.com/wss", "//chatapp.com/wss", None, "error"),
    ("wss://chatapp.com/wss", "chatapp.com/wss", None, "error"),
    # an http target, but the client URL is a WebSocket-looking path
    ("https://chatapp.com/", "/socket.io/", None, "error"),
    ("wss://chatapp.com/wss", "wss://chatapp.com/wss", None, None),
    ("https://chatapp.com/api", "/api", None, None),  # not a WebSocket at all
    ("wss://chatapp.com/wss", None, None, None),  # nothing to judge
])
def test_url_not_absolute(url: str, client_url: str | None, page_url: str | None,
                          severity: str | None) -> None:
    got = run("client-websocket-url-not-absolute", url=url, client_url=client_url, page_url=page_url)
    assert [f.severity for f in got] == ([severity] if severity else [])
    if got:
        assert "SyntaxError" in got[0].message and "getWSURI" in got[0].fix


def test_url_not_absolute_fix_uses_the_real_path() -> None:
    [f] = run("client-websocket-url-not-absolute", url="wss://chatapp.com/wss",
              client_url="chatapp.com/wss/room")
    assert '"/wss/room"' in f.fix


@pytest.mark.parametrize(("url", "client_url", "page_url", "fires"), [
    ("wss://chatapp.com/wss", "ws://chatapp.com/wss", "https://chatapp.com/", True),
    ("ws://chatapp.com/wss", None, "https://chatapp.com/", True),  # the target itself is ws://
    ("wss://chatapp.com/wss", "/wss", "https://chatapp.com/", False),  # resolves to wss
    ("ws://chatapp.com/wss", "ws://chatapp.com/wss", "http://chatapp.com/", False),
    ("ws://chatapp.com/wss", "ws://chatapp.com/wss", None, False),
])
def test_mixed_content(url: str, client_url: str | None, page_url: str | None, fires: bool) -> None:
    got = run("client-websocket-mixed-content", url=url, client_url=client_url, page_url=page_url)
    assert bool(got) is fires
    if got:
        assert "SecurityError" in got[0].message and got[0].evidence["suggested"].startswith("wss://")


@pytest.mark.parametrize(("client_url", "page_url", "fires"), [
    ("wss://chatapp.com/ws", None, True),  # /ws falls to the "/" web backend
    ("/wss", "https://chatapp.com/", False),
    ("/wss/room/7", "https://chatapp.com/", False),
    ("chatapp.com/wss", "https://chatapp.com/", True),
    ("wss://www.chatapp.com/wss", None, True),  # no rule for www: the 404 default backend
    ("https://chatapp.com/wss", None, False),  # http(s) URLs map to ws(s): same route
])
def test_url_mismatch(client_url: str, page_url: str | None, fires: bool) -> None:
    got = run("client-websocket-url-mismatch", url="wss://chatapp.com/wss", client_url=client_url,
              page_url=page_url)
    assert bool(got) is fires
    if got:
        assert got[0].evidence["target_route"]["port"] == 3003


def test_url_mismatch_with_canary_header_routes_both_the_same_way() -> None:
    canary = _ingress([("/wss", 3003)])
    canary["metadata"] = {"name": "canary", "namespace": "default", "annotations": {
        "nginx.ingress.kubernetes.io/canary": "true",
        "nginx.ingress.kubernetes.io/canary-by-header": "Version"}}
    canary["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]["name"] = "chatapp-next"
    got = run("client-websocket-url-mismatch", CHAT + [canary], url="wss://chatapp.com/wss",
              client_url="/wss", page_url="https://chatapp.com/", headers={"Version": "always"})
    assert got == []
