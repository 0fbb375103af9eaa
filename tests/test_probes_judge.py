"""Pure parts of the probes: handshake, HTTP and certificate judges, URL/request planning, framing."""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import json
import ssl

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from kdiag.endpoint import Endpoint
from kdiag.hosts import certificate_name_matches
from kdiag.probes.base import (
    ProtocolError,
    classify_error,
    parse_url,
)
from kdiag.probes.http import http_signature, judge_http, plan_request
from kdiag.probes.tls import FAKE_CERT_CN, judge_certificate
from kdiag.probes.websocket import judge_handshake
from kdiag.probes.wsframe import (
    OP_CLOSE,
    OP_TEXT,
    accept_for,
    close_payload,
    encode_frame,
    parse_close,
    read_frame,
)
from kdiag.redaction import redact_headers, redact_url

RFC_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

NGINX_404 = (b"<html>\r\n<head><title>404 Not Found</title></head>\r\n<body>\r\n<center><h1>404 Not Found</h1>"
             b"</center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n")
NGINX_502 = b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
NGINX_503 = (b"<html><head><title>503 Service Temporarily Unavailable</title></head><body><center><h1>503 Service "
             b"Temporarily Unavailable</h1></center><hr><center>nginx</center></body></html>")
NGINX_504 = b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1></center><hr><center>nginx</center></body></html>"
API_NO_EP = json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                        "message": 'no endpoints available for service "chat"', "reason": "ServiceUnavailable",
                        "code": 503}).encode()
API_DIAL = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                       "message": "error trying to reach service: dial tcp 10.244.1.5:3002: connect: connection refused",
                       "reason": "ServiceUnavailable", "code": 503}).encode()


def test_accept_rfc_example() -> None:
    assert accept_for(RFC_KEY) == RFC_ACCEPT


GOOD_101 = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Accept": RFC_ACCEPT}


@pytest.mark.parametrize(("status", "headers", "body", "ok", "case"), [
    (101, GOOD_101, b"", True, "ok"),
    (101, {"upgrade": "WebSocket", "connection": "keep-alive, Upgrade", "sec-websocket-accept": RFC_ACCEPT},
     b"", True, "ok"),
    (101, {**GOOD_101, "Sec-WebSocket-Accept": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}, b"", False, "accept-mismatch"),
    (101, {"Upgrade": "websocket", "Connection": "Upgrade"}, b"", False, "accept-mismatch"),
    (101, {"Connection": "Upgrade", "Sec-WebSocket-Accept": RFC_ACCEPT}, b"", False, "upgrade-headers-missing"),
    (101, {"Upgrade": "websocket", "Connection": "close", "Sec-WebSocket-Accept": RFC_ACCEPT}, b"", False,
     "upgrade-headers-missing"),
    (101, {**GOOD_101, "Sec-WebSocket-Protocol": "surprise"}, b"", False, "subprotocol-not-offered"),
    (400, {"Content-Type": "text/plain"}, b"Bad Request\n'websocket' token not found in 'Upgrade' header\n",
     False, "upgrade-header-dropped"),
    (400, {}, b"Bad Request\n'upgrade' token not found in 'Connection' header\n", False, "upgrade-header-dropped"),
    (426, {}, b"Failed to open a WebSocket connection: missing Upgrade header.", False, "upgrade-header-dropped"),
    (400, {"Content-Type": "application/json"}, b'{"code":3,"message":"Bad request"}', False,
     "upgrade-header-dropped"),
    (426, {"Content-Type": "text/plain"}, b"Upgrade Required", False, "upgrade-required"),
    (400, {}, b"nope", False, "bad-request"),
    (401, {}, b"", False, "unauthorized"),
    (403, {}, b"'Origin' header value not allowed", False, "forbidden"),
    (404, {"Server": "nginx"}, NGINX_404, False, "not-found"),
    (404, {}, b"404 page not found", False, "not-found"),
    (405, {}, b"request method is not GET", False, "method-not-allowed"),
    (502, {"Server": "nginx"}, NGINX_502, False, "proxy-error"),
    (503, {"Server": "nginx"}, NGINX_503, False, "proxy-error"),
    (504, {}, NGINX_504, False, "proxy-error"),
    (503, {"Content-Type": "application/json"}, API_NO_EP, False, "proxy-error"),
    (200, {"Content-Type": "text/html"}, b"<html>app</html>", False, "upgrade-ignored"),
    (302, {"Location": "https://login.example.com/?token=abc"}, b"", False, "redirect"),
    (500, {}, b"boom", False, "server-error"),
    (418, {}, b"", False, "unexpected-status"),
])
def test_judge_handshake(status: int, headers: dict[str, str], body: bytes, ok: bool, case: str) -> None:
    j = judge_handshake(RFC_KEY, status, headers, body)
    assert (j.ok, j.case) == (ok, case), j.detail
    assert j.expected_accept == RFC_ACCEPT
    assert j.detail and "\n" not in j.detail
    assert "abc" not in j.detail  # redirect target's token is redacted


def test_judge_handshake_accepts_offered_subprotocol() -> None:
    j = judge_handshake(RFC_KEY, 101, {**GOOD_101, "Sec-WebSocket-Protocol": "chat.v1"}, b"",
                        offered_subprotocols=("chat.v1",))
    assert j.ok and j.subprotocol == "chat.v1"


def test_judge_handshake_names_the_proxy() -> None:
    assert "no ready endpoint" in judge_handshake(RFC_KEY, 503, {"Server": "nginx"}, NGINX_503).detail
    assert "API server" in judge_handshake(RFC_KEY, 503, {}, API_NO_EP).detail
    assert "timed out" in judge_handshake(RFC_KEY, 504, {"Server": "nginx"}, NGINX_504).detail


@pytest.mark.parametrize(("status", "headers", "body", "ok", "signature", "words"), [
    (200, {}, b"hello", True, "app", "normally"),
    (308, {"Location": "https://chatapp.com/"}, b"", True, "redirect", "redirect to https://chatapp.com/"),
    (404, {"Server": "nginx"}, NGINX_404, False, "nginx-default-backend", "default backend"),
    (404, {}, NGINX_404, False, "nginx-default-backend", "no rule"),
    (404, {}, b"404 page not found", False, "app", "refused"),
    # nginx puts its own Server header on proxied answers: the app's 404 through nginx is still the app's
    (404, {"Server": "nginx"}, b"404 page not found", False, "app", "refused"),
    (502, {"Server": "nginx"}, b"", False, "nginx-bad-gateway", "Bad Gateway"),
    (502, {"Server": "gunicorn"}, b"upstream app says 502", False, "app", "failed"),
    (503, {"Server": "nginx/1.25.3"}, NGINX_503, False, "nginx-no-endpoints", "no ready endpoint"),
    (502, {"Server": "nginx"}, NGINX_502, False, "nginx-bad-gateway", "could not connect"),
    (504, {"Server": "nginx"}, NGINX_504, False, "nginx-gateway-timeout", "did not answer"),
    (500, {"Server": "nginx"}, b"<center>nginx</center>", False, "nginx-error", "nginx"),
    (503, {}, API_NO_EP, False, "apiserver-no-endpoints", "no endpoints available for service"),
    (503, {}, API_DIAL, False, "apiserver-proxy-error", "connection refused"),
    (403, {}, json.dumps({"kind": "Status", "message": "services \"x\" is forbidden", "code": 403}).encode(),
     False, "apiserver-status", "forbidden"),
    (400, {}, b'{"code":1,"message":"Session ID unknown"}', False, "socketio-error", "Session ID unknown"),
    (400, {}, b"Bad Request\n'websocket' token not found in 'Upgrade' header\n", False, "app", "WebSocket-only"),
    (426, {}, b"Upgrade Required", False, "app", "WebSocket-only"),
    (500, {}, b"oops", False, "app", "failed"),
])
def test_judge_http(status: int, headers: dict[str, str], body: bytes, ok: bool, signature: str, words: str) -> None:
    got_ok, detail = judge_http(status, headers, body)
    assert got_ok is ok
    assert words in detail
    assert http_signature(status, headers, body) == signature


@pytest.mark.parametrize(("pattern", "host", "match"), [
    ("chatapp.com", "chatapp.com", True),
    ("ChatApp.com.", "chatapp.COM", True),
    ("*.chatapp.com", "api.chatapp.com", True),
    ("*.chatapp.com", "a.b.chatapp.com", False),
    ("*.chatapp.com", "chatapp.com", False),
    ("*.chatapp.com", "xchatapp.com", False),
    ("api.chatapp.com", "chatapp.com", False),
    ("", "chatapp.com", False),
])
def test_host_matches(pattern: str, host: str, match: bool) -> None:
    assert certificate_name_matches(pattern, host) is match


NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


def _trustme_der(*names: str, **kw: object) -> bytes:
    ca = trustme.CA()
    cert = ca.issue_cert(*names, **kw)  # type: ignore[arg-type]
    return x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()).public_bytes(serialization.Encoding.DER)


def _self_signed_der(cn: str, org: str, sans: list[str]) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(NOW + dt.timedelta(days=365)))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


@pytest.mark.parametrize(("make", "host", "ok", "problem", "error"), [
    (lambda: _trustme_der("chatapp.com", not_before=NOW - dt.timedelta(days=1),
                          not_after=NOW + dt.timedelta(days=90)), "chatapp.com", True, None, None),
    (lambda: _trustme_der("*.chatapp.com", not_before=NOW - dt.timedelta(days=1),
                          not_after=NOW + dt.timedelta(days=90)), "api.chatapp.com", True, None, None),
    (lambda: _trustme_der("127.0.0.1", not_before=NOW - dt.timedelta(days=1),
                          not_after=NOW + dt.timedelta(days=90)), "127.0.0.1", True, None, None),
    (lambda: _trustme_der("other.com", not_before=NOW - dt.timedelta(days=1),
                          not_after=NOW + dt.timedelta(days=90)), "chatapp.com", False, "host-not-covered",
     "tls: certificate does not match host"),
    (lambda: _trustme_der("*.chatapp.com", not_before=NOW - dt.timedelta(days=1),
                          not_after=NOW + dt.timedelta(days=90)), "a.b.chatapp.com", False, "host-not-covered",
     "tls: certificate does not match host"),
    (lambda: _trustme_der("chatapp.com", not_before=NOW - dt.timedelta(days=400),
                          not_after=NOW - dt.timedelta(days=35)), "chatapp.com", False, "expired",
     "tls: certificate has expired"),
    (lambda: _trustme_der("chatapp.com", not_before=NOW + dt.timedelta(days=2),
                          not_after=NOW + dt.timedelta(days=90)), "chatapp.com", False, "not-yet-valid",
     "tls: certificate is not yet valid"),
    (lambda: _self_signed_der(FAKE_CERT_CN, "Acme Co", ["ingress.local"]), "chatapp.com", False,
     "fake-ingress-cert", "tls: ingress-nginx fake certificate"),
    (lambda: b"not a certificate", "chatapp.com", False, "unparsable", "tls: bad certificate"),
])
def test_judge_certificate(make: object, host: str, ok: bool, problem: str | None, error: str | None) -> None:
    j = judge_certificate(make(), host, NOW)  # type: ignore[operator]
    assert j.ok is ok, j.detail
    assert j.error == error
    if problem:
        assert problem in j.problems
    else:
        assert j.problems == () and j.covers_host


def test_judge_certificate_warnings() -> None:
    j = judge_certificate(_self_signed_der("chatapp.com", "Me", ["chatapp.com"]), "chatapp.com", NOW)
    assert j.ok and j.self_signed and "self-signed" in j.warnings and "self-signed" in j.detail
    soon = _trustme_der("chatapp.com", not_before=NOW - dt.timedelta(days=80), not_after=NOW + dt.timedelta(days=3))
    j = judge_certificate(soon, "chatapp.com", NOW)
    assert j.ok and "expires-soon" in j.warnings and not j.self_signed
    fake = judge_certificate(_self_signed_der(FAKE_CERT_CN, "Acme Co", ["ingress.local"]), "chatapp.com", NOW)
    assert fake.fake_ingress and "self-signed" not in fake.warnings
    assert fake.to_extra()["fake_ingress_cert"] is True


def test_judge_certificate_without_san_does_not_fall_back_to_cn() -> None:
    j = judge_certificate(_self_signed_der("chatapp.com", "Me", []), "chatapp.com", NOW)
    assert not j.ok and "host-not-covered" in j.problems and "CN chatapp.com" in j.detail


@pytest.mark.parametrize(("url", "scheme", "host", "port", "path", "authority"), [
    ("http://chatapp.com/ws", "http", "chatapp.com", 80, "/ws", "chatapp.com"),
    ("wss://chatapp.com:443/wss?x=1", "wss", "chatapp.com", 443, "/wss?x=1", "chatapp.com"),
    ("ws://chatapp.com:8080", "ws", "chatapp.com", 8080, "/", "chatapp.com:8080"),
    ("https://[::1]:8443/a b", "https", "::1", 8443, "/a%20b", "[::1]:8443"),
])
def test_parse_url(url: str, scheme: str, host: str, port: int, path: str, authority: str) -> None:
    u = parse_url(url)
    assert (u.scheme, u.host, u.port, u.path, u.authority) == (scheme, host, port, path, authority)


@pytest.mark.parametrize("url", ["ftp://x/", "/wss", "http://", "http://x:99999/"])
def test_parse_url_rejects(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)


def test_plan_request_hides_and_redacts() -> None:
    ep = Endpoint("127.0.0.1", 6443, "service-proxy", "svc chat via API server proxy", tls=True,
                  path_prefix="/api/v1/namespaces/ns/services/chat:http/proxy/",
                  host_header="127.0.0.1:6443", hidden_headers={"Authorization": "Bearer SECRET-TOKEN"})
    plan = plan_request("http://chatapp.com/api/x?access_token=abc&q=1", ep,
                        headers={"Cookie": "session=s3cr3t", "X-Canary": "always"})
    assert plan.path == "/api/v1/namespaces/ns/services/chat:http/proxy/api/x?access_token=abc&q=1"
    assert plan.host_header == "127.0.0.1:6443"
    assert plan.server_hostname == "chatapp.com"
    assert plan.target == ("https://127.0.0.1:6443/api/v1/namespaces/ns/services/chat:http/proxy/api/x"
                           "?access_token=REDACTED&q=1")
    assert b"Authorization: Bearer SECRET-TOKEN\r\n" in plan.wire and b"Cookie: session=s3cr3t" in plan.wire
    for secret in ("SECRET-TOKEN", "Authorization", "s3cr3t", "abc"):
        assert secret not in plan.recorded
    assert "Cookie: REDACTED" in plan.recorded and "X-Canary: always" in plan.recorded


def test_plan_request_host_header_rules() -> None:
    ep = Endpoint("127.0.0.1", 30080, "nodeport", "NodePort")
    assert plan_request("http://chatapp.com:8080/", ep).host_header == "chatapp.com:8080"
    assert plan_request("http://chatapp.com:80/", ep).host_header == "chatapp.com"
    assert plan_request("http://chatapp.com/", ep, headers={"host": "other.com"}).host_header == "other.com"
    assert plan_request("http://chatapp.com/", ep, headers={"host": "other.com"}).wire.count(b"ost:") == 1
    with pytest.raises(ValueError):
        plan_request("http://chatapp.com/", ep, headers={"X-Evil": "a\r\nInjected: 1"})
    proxy = Endpoint("127.0.0.1", 6443, "service-proxy", "API proxy", host_header="127.0.0.1:6443")
    assert plan_request("http://chatapp.com/", proxy, headers={"Host": "chatapp.com"}).host_header == "127.0.0.1:6443"
    proxy = Endpoint("127.0.0.1", 6443, "service-proxy", "API proxy", hidden_headers={"Authorization": "Bearer T"})
    plan = plan_request("http://chatapp.com/", proxy, headers={"authorization": "Basic dXNlcg=="})
    assert plan.wire.lower().count(b"authorization:") == 1 and b"Bearer T" in plan.wire
    assert "uthorization" not in plan.recorded


def test_redaction_helpers() -> None:
    assert redact_url("https://x/ws?token=abc&room=1") == "https://x/ws?token=REDACTED&room=1"
    assert redact_url("https://x/ws?room=1") == "https://x/ws?room=1"
    assert redact_headers([("Set-Cookie", "a=b"), ("X", "1"), ("X", "2")]) == {"Set-Cookie": "REDACTED", "X": "1, 2"}


@pytest.mark.parametrize(("exc", "expected"), [
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "connection refused"),
    (ConnectionResetError(errno.ECONNRESET, "reset"), "connection reset"),
    (TimeoutError(), "timeout"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "unreachable"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "unreachable"),
    (asyncio.IncompleteReadError(b"", 10), "connection closed"),
    (ProtocolError("x"), "protocol error"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls: server did not speak TLS"),
])
def test_classify_error(exc: BaseException, expected: str) -> None:
    assert classify_error(exc) == expected


@given(payload=st.binary(max_size=70000), mask=st.booleans(), opcode=st.sampled_from([0x1, 0x2]))
def test_frame_roundtrip(payload: bytes, mask: bool, opcode: int) -> None:
    async def go() -> None:
        r = asyncio.StreamReader()
        r.feed_data(encode_frame(opcode, payload, mask=mask))
        r.feed_eof()
        f = await read_frame(r, max_size=1 << 20)
        assert (f.fin, f.opcode, f.payload) == (True, opcode, payload)

    asyncio.run(go())


def test_close_payload_roundtrip_and_oversize() -> None:
    assert parse_close(close_payload(1001, "idle timeout")) == (1001, "idle timeout")
    assert parse_close(b"") == (1005, "")

    async def go() -> None:
        r = asyncio.StreamReader()
        r.feed_data(encode_frame(OP_TEXT, b"x" * 200, mask=True))
        r.feed_eof()
        with pytest.raises(ProtocolError):
            await read_frame(r, max_size=100)
        r2 = asyncio.StreamReader()
        r2.feed_data(encode_frame(OP_CLOSE, b"x" * 126, mask=False))
        with pytest.raises(ProtocolError):
            await read_frame(r2)

    asyncio.run(go())


@pytest.mark.parametrize(("error", "words"), [
    ("connection refused", "Connection refused by pod chat-0:3002: nothing listens"),
    ("timeout", "Timed out after 5 s waiting for an HTTP answer (pod chat-0:3002)."),
    ("connection reset", "Pod chat-0:3002 reset the connection"),
    ("connection closed", "Pod chat-0:3002 closed the connection without an HTTP answer."),
    ("unreachable", "unreachable from here"),
    ("protocol error", "not HTTP"),
    ("tls: certificate has expired", "TLS with pod chat-0:3002 failed: certificate has expired."),
    ("dns: name not resolved", "does not resolve"),
])
def test_failure_detail(error: str, words: str) -> None:
    from kdiag.probes.base import failure_detail

    assert words in failure_detail(error, "pod chat-0:3002", timeout=5, waiting_for="an HTTP answer")
