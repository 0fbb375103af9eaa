"""The one credential rule (kdiag.redaction) shared by probes, reports and the TUI."""

from __future__ import annotations

import pytest

from kdiag.headers import format_header_lines, parse_header, parse_header_lines
from kdiag.redaction import (
    REDACTED,
    is_secret_header,
    is_secret_param,
    redact_headers,
    redact_text,
    redact_url,
)


@pytest.mark.parametrize("name", [
    "Authorization", "authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key",
    "x-api-key", "Api-Key", "apikey", "X-Auth-Token", "X-Goog-Api-Key", "X-Amz-Security-Token",
    "X-CSRF-Token", "X-Forwarded-Access-Token", "X-Auth-Request-User", "X-Client-Secret",
    "X-Db-Password", "X-Vault-Credential", "X-Apikey", "My-Jwt", "Token", " Authorization ",
])
def test_secret_header_names(name: str) -> None:
    assert is_secret_header(name)


@pytest.mark.parametrize("name", [
    "Host", "Content-Type", "X-Version", "canary", "Server", "Sec-WebSocket-Key",
    "Sec-WebSocket-Accept", "WWW-Authenticate", "X-Request-Id", "Upgrade",
    # evidence fields, not headers: never mistaken for one
    "secretName", "token_present", "auth_mode", "nginx.ingress.kubernetes.io/auth-secret",
])
def test_plain_header_names(name: str) -> None:
    assert not is_secret_header(name)


@pytest.mark.parametrize("name", [
    "token", "access_token", "id_token", "refresh_token", "code", "sig", "X-Amz-Signature", "jwt",
    "apikey", "api_key", "api-key", "x-api-key", "X-Api-Key", "password", "client_secret", "key",
    "session", "oauth_session", "user[password]", "access%5Ftoken", "access%5ftoken", "x%2Dapi%2Dkey",
    "api%5Fkey", "auth", "ticket", "sid_token",
])
def test_secret_query_params(name: str) -> None:
    assert is_secret_param(name)


@pytest.mark.parametrize("name", ["room", "page", "version", "state", "X-Amz-Date", "key_id", "user", "EIO"])
def test_plain_query_params(name: str) -> None:
    assert not is_secret_param(name)


@pytest.mark.parametrize(("url", "expect"), [
    ("https://x/ws?token=abc&room=1", "https://x/ws?token=REDACTED&room=1"),
    ("https://x/ws?room=1", "https://x/ws?room=1"),
    ("https://x/a?x-api-key=k1&page=2", "https://x/a?x-api-key=REDACTED&page=2"),
    ("https://x/a?access%5Ftoken=k2&q=a%20b", "https://x/a?access%5Ftoken=REDACTED&q=a%20b"),
    ("https://x/a?user%5Bpassword%5D=p", "https://x/a?user%5Bpassword%5D=REDACTED"),
    ("https://bob:pw@x:6443/api?b=1", "https://REDACTED@x:6443/api?b=1"),
    ("wss://x/ws?token=&room=1", "wss://x/ws?token=&room=1"),  # nothing to hide
    ("https://x/a?code=c#frag", "https://x/a?code=REDACTED#frag"),
])
def test_redact_url(url: str, expect: str) -> None:
    assert redact_url(url) == expect


def test_redact_headers_mapping_and_pairs() -> None:
    assert redact_headers({"X-Api-Key": "k", "Accept": "*/*"}) == {"X-Api-Key": REDACTED, "Accept": "*/*"}
    pairs = [("Set-Cookie", "a=b"), ("Set-Cookie", "c=d"), ("Vary", "x"), ("Vary", "y")]
    assert redact_headers(pairs) == {"Set-Cookie": "REDACTED, REDACTED", "Vary": "x, y"}
    assert redact_headers({"Cookie": "a"}, mask="<redacted>") == {"Cookie": "<redacted>"}


def test_redact_text_header_lines_bearer_and_urls() -> None:
    text = ("GET /ws?sig=s1&room=1 HTTP/1.1\r\nHost: chat\r\nX-Api-Key: k1\r\nx-goog-api-key: k2\r\n"
            "secretName: web-tls\r\nrun: curl -H 'Authorization: Bearer abcdefghij123'")
    out = redact_text(text)
    for secret in ("s1", "k1", "k2", "abcdefghij123"):
        assert secret not in out, secret
    assert "room=1" in out and "Host: chat" in out and "secretName: web-tls" in out
    assert redact_text("X-Api-Key: k", mask="<redacted>") == "X-Api-Key: <redacted>"


def test_header_lines_one_rule_for_cli_and_tui() -> None:
    assert parse_header("X-Env:  blue ") == ("X-Env", "blue")
    assert parse_header("X-Trace: a:b") == ("X-Trace", "a:b")
    for bad in ("no colon", ": x", "Bad Name: x"):
        with pytest.raises(ValueError, match="expected 'Name: value'"):
            parse_header(bad)
    headers, errors = parse_header_lines("a: 1\n# c\n\nb c: 2\n")
    assert headers == {"a": "1"} and errors == ["line 4: expected 'Name: value', got 'b c: 2'"]
    assert parse_header_lines(format_header_lines(headers)) == (headers, [])
