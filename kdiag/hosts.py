"""Host names and wildcards: the three wildcard semantics kdiag meets, one function each.

- Ingress rule hosts (`IngressRule.Host`, kubernetes/api `networking/v1/types.go`): `*.foo.com`
  matches exactly one label: `bar.foo.com`, not `foo.com` nor `baz.bar.foo.com`; a rule without
  a host matches every host. ingress-nginx renders it as `~^(?<subdomain>[\\w-]+)\\.foo\\.com$`.
- Certificate names (RFC 6125 §6.4.3): a leading `*.` label covers exactly one label.
- Gateway API hostnames (Listener and HTTPRoute `hostnames`, gateway-api `apis/v1/shared_types.go`):
  `*.example.com` is a suffix match over one or more labels: `test.example.com` and
  `foo.test.example.com`, not `example.com`.

All functions ignore case, a trailing dot and (for request hosts) a port.
"""

from __future__ import annotations

__all__ = [
    "certificate_name_matches",
    "gateway_hostname_matches",
    "ingress_host_match",
    "ingress_host_matches",
    "normalize_host",
]


def normalize_host(host: str) -> str:
    """Lowercase, without a port and a trailing dot."""
    h = host.strip().lower()
    if h.startswith("["):  # [::1]:443
        h = h.split("]", 1)[0] + "]"
    elif h.count(":") == 1:
        h = h.split(":", 1)[0]
    return h.rstrip(".")


def _name(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _one_label_wildcard(pattern: str, host: str) -> bool:
    """`*.suffix` covers `host` with exactly one label in place of the `*`."""
    suffix = pattern[1:]  # ".foo.com"
    if not host.endswith(suffix):
        return False
    label = host[: -len(suffix)]
    return bool(label) and "." not in label


def ingress_host_match(rule_host: str, host: str) -> str | None:
    """How an Ingress rule host matches a request host: "exact", "wildcard", "any" (the rule
    has no host) or None.

    `*.foo.com` matches `bar.foo.com` but neither `foo.com` nor `baz.bar.foo.com`.
    """
    if not rule_host:
        return "any"
    rh, h = rule_host.lower().rstrip("."), normalize_host(host)
    if rh == h:
        return "exact"
    if rh.startswith("*.") and _one_label_wildcard(rh, h):
        return "wildcard"
    return None


def ingress_host_matches(rule_host: object, host: str) -> bool:
    """An Ingress rule host (as read from the API: anything) serves `host`.

    An empty rule host (a rule without host) matches every host; a non-string matches nothing.
    """
    if not rule_host:
        return True
    if not isinstance(rule_host, str):
        return False
    return ingress_host_match(rule_host, host) is not None


def certificate_name_matches(pattern: str, host: str) -> bool:
    """A certificate DNS name covers `host` (RFC 6125): exact, or a leading `*.` wildcard
    covering exactly one label."""
    p, h = _name(pattern), _name(host)
    if not p or not h:
        return False
    if p.startswith("*."):
        return _one_label_wildcard(p, h)
    return p == h


def gateway_hostname_matches(pattern: str, host: str) -> bool:
    """A Gateway API Listener or HTTPRoute hostname matches a request host: exact, or a
    leading `*.` wildcard matching one or more labels (`*.example.com` matches
    `foo.test.example.com`, not `example.com`). The port of the Host header is ignored."""
    p, h = _name(pattern), normalize_host(host)
    if not p or not h:
        return False
    if p.startswith("*."):
        suffix = p[1:]
        return h.endswith(suffix) and len(h) > len(suffix)
    return p == h
