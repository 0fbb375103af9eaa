"""The three wildcard-host semantics of kdiag.hosts (dataplane-facts.md §1.9, §2.1, RFC 6125)."""

from __future__ import annotations

import pytest

from kdiag.hosts import (
    certificate_name_matches,
    gateway_hostname_matches,
    ingress_host_match,
    ingress_host_matches,
    normalize_host,
)


@pytest.mark.parametrize(("host", "expected"), [
    ("Foo.COM", "foo.com"), ("foo.com:8443", "foo.com"), ("foo.com.", "foo.com"),
    ("[::1]:443", "[::1]"),
])
def test_normalize_host(host: str, expected: str) -> None:
    assert normalize_host(host) == expected


# Ingress: `*` is the whole first label and matches exactly one label (IngressRule.Host doc).
@pytest.mark.parametrize(("pattern", "host", "ingress", "gateway"), [
    ("*.example.com", "a.example.com", True, True),
    ("*.example.com", "a.b.example.com", False, True),  # the difference (fact sheet, note 4)
    ("*.example.com", "example.com", False, False),
    ("*.example.com", "xexample.com", False, False),
    ("example.com", "EXAMPLE.com.", True, True),
    ("example.com", "example.com:8080", True, True),  # the Host header's port is ignored
    ("a.example.com", "b.example.com", False, False),
])
def test_ingress_and_gateway_wildcards_differ(pattern: str, host: str, ingress: bool,
                                              gateway: bool) -> None:
    assert ingress_host_matches(pattern, host) is ingress
    assert gateway_hostname_matches(pattern, host) is gateway


def test_ingress_host_match_kinds() -> None:
    assert ingress_host_match("", "x.io") == "any"
    assert ingress_host_match("x.io", "X.io:80") == "exact"
    assert ingress_host_match("*.x.io", "a.x.io") == "wildcard"
    assert ingress_host_match("*.x.io", "a.b.x.io") is None
    assert ingress_host_matches(None, "x.io") and not ingress_host_matches(42, "x.io")


def test_gateway_hostname_needs_a_name() -> None:
    assert not gateway_hostname_matches("", "x.io")
    assert not gateway_hostname_matches("*.x.io", "")


@pytest.mark.parametrize(("pattern", "host", "covers"), [
    ("*.x.io", "a.x.io", True), ("*.x.io", "a.b.x.io", False), ("*.x.io", "x.io", False),
    ("X.io.", "x.IO", True), ("", "x.io", False),
])
def test_certificate_names_cover_one_label(pattern: str, host: str, covers: bool) -> None:
    assert certificate_name_matches(pattern, host) is covers
