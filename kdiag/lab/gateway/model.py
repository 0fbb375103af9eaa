"""The lab Gateway controller's data-plane IR: what NGINX Gateway Fabric renders into nginx.

Facts (../shared/reference/gateway-controllers-facts.md, "NGINX Gateway Fabric", nginx/nginx-gateway-fabric
@ e55bfe33, v2.6.7) and how the IR encodes them:

- one nginx `server` per hostname of a listener port (the intersection of listener and route
  hostnames); a Host no server names goes to the port's default server, which answers 404;
- HTTPRoute paths become locations like Ingress Prefix/Exact paths: `Exact /p` → `location = /p`,
  `PathPrefix /p` → `location /p/` plus `location = /p` (dataplane-facts §2.1: PathPrefix is
  element-wise, trailing `/` ignored); nginx picks exact, then the longest prefix;
- method/header/query matches on one path are tried in the spec's precedence (exact path before
  prefix, method, most headers, most query params, oldest route, name; first rule of a route
  first) — NGF does this with njs and internal redirects, the lab with maps (same observable
  answers); no match on the path → 404 (spec: "a HTTP 404 status code MUST be returned");
- backendRefs: weights (default 1); an invalid ref (BackendNotFound, RefNotPermitted, no port) or
  a weight-0-only rule → upstream `invalid-backend-ref` → 500; no ready endpoint → 503 [SRC];
- every location sends `Upgrade $http_upgrade` and `Connection $connection_upgrade` with
  `map $http_upgrade $connection_upgrade { default upgrade; '' close; }` [SRC];
- proxy timeouts: NGF writes none, so nginx's 60 s defaults apply [SRC/DOC3P]; ProxySettingsPolicy
  `spec.timeout.{connect,read,send}` sets them [SRC].
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kdiag.lab.ingress.model import IngressConfig, Server, TlsCert, Upstream, normalize_host

__all__ = [
    "DEFAULT_TIMEOUT",
    "INVALID_BACKEND",
    "NGF_CONTROLLER",
    "GatewayConfig",
    "GwLocation",
    "GwServer",
    "MatchRule",
    "ProxyTimeouts",
    "WeightedBackend",
    "hostname_matches",
    "no_ingress_config",
]

NGF_CONTROLLER = "gateway.nginx.org/nginx-gateway-controller"
#: NGF's upstream name for backendRefs it cannot use (answers 500) [SRC split_clients.go/upstreams.go].
INVALID_BACKEND = "invalid-backend-ref"
#: nginx's proxy_connect/read/send_timeout defaults; NGF sets none by default [SRC nginx.conf, DOC3P nginx docs].
DEFAULT_TIMEOUT = 60


@dataclass(frozen=True)
class ProxyTimeouts:
    """proxy_connect/read/send_timeout in seconds (ProxySettingsPolicy spec.timeout)."""

    connect: int = DEFAULT_TIMEOUT
    read: int = DEFAULT_TIMEOUT
    send: int = DEFAULT_TIMEOUT
    policy: str = ""  # "ns/name" of the ProxySettingsPolicy that set them ("" = nginx defaults)

    @property
    def is_default(self) -> bool:
        return not self.policy


@dataclass(frozen=True)
class WeightedBackend:
    """One backendRef: its upstream (None: invalid, answers 500) and weight."""

    ref: str  # "ns/name:port" as the route names it
    weight: int
    upstream: Upstream | None
    problem: str = ""  # "BackendNotFound" | "RefNotPermitted" | "UnsupportedValue" | ""


@dataclass(frozen=True)
class MatchRule:
    """One HTTPRouteMatch on one path: its conditions and where a matching request goes."""

    route: str  # "ns/name"
    rule: int
    match: int
    exact: bool  # the path match is Exact (precedes every PathPrefix on the same location)
    path: str  # the path value as written ("/" by default)
    method: str | None
    headers: tuple[tuple[str, str], ...]  # (lower-case name, exact value)
    query: tuple[tuple[str, str], ...]  # (name, exact value)
    backends: tuple[WeightedBackend, ...]
    timeouts: ProxyTimeouts = ProxyTimeouts()
    created: str = ""

    @property
    def has_conditions(self) -> bool:
        return bool(self.method or self.headers or self.query)

    def precedence(self) -> tuple[bool, bool, int, int, str, str, int, int]:
        """Sort key: the spec's match precedence (dataplane-facts §2.1), best first."""
        return (not self.exact, self.method is None, -len(self.headers), -len(self.query), self.created,
                self.route, self.rule, self.match)

    def accepts(self, method: str, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
        """Whether the request meets every condition (`headers`/`query`: first value per name;
        header names lower-case; query names compared case-insensitively like nginx's $arg_)."""
        if self.method is not None and method != self.method:
            return False
        if any(headers.get(name) != value for name, value in self.headers):
            return False
        return all(query.get(name.lower()) == value for name, value in self.query)

    def pick(self, draw: Callable[[int], int] | None = None) -> WeightedBackend | None:
        """The backend a request goes to by weight (None: every weight is 0 → 500)."""
        total = sum(b.weight for b in self.backends)
        if total <= 0:
            return None
        n = (draw or (lambda t: random.randint(1, t)))(total)
        for b in self.backends:
            n -= b.weight
            if n <= 0 and b.weight > 0:
                return b
        return self.backends[-1]

    @property
    def deterministic(self) -> WeightedBackend | None | str:
        """The one outcome when there is no choice: the backend, None (500), or "split"."""
        live = [b for b in self.backends if b.weight > 0]
        if not live:
            return None
        return live[0] if len(live) == 1 else "split"


@dataclass(frozen=True)
class GwLocation:
    """An nginx location: `modifier` "=" (exact) or "" (prefix); its matches, best first."""

    modifier: str
    path: str
    matches: tuple[MatchRule, ...]

    def matches_uri(self, uri: str) -> bool:
        return uri == self.path if self.modifier == "=" else uri.startswith(self.path)

    def select(self, method: str, headers: Mapping[str, str], query: Mapping[str, str]) -> MatchRule | None:
        return next((m for m in self.matches if m.accepts(method, headers, query)), None)


@dataclass(frozen=True)
class GwServer:
    """One nginx server of the listener port: a hostname ("" = any host: the default server)."""

    hostname: str
    locations: tuple[GwLocation, ...]
    gateway: str = ""  # "ns/name"
    listener: str = ""

    @property
    def is_default(self) -> bool:
        return self.hostname == ""

    def find_location(self, uri: str) -> GwLocation | None:
        """nginx's search without regexes: an exact location, else the longest prefix."""
        for loc in self.locations:
            if loc.modifier == "=" and loc.matches_uri(uri):
                return loc
        best: GwLocation | None = None
        for loc in self.locations:
            if loc.modifier == "" and loc.matches_uri(uri) and (best is None or len(loc.path) > len(best.path)):
                best = loc
        return best


def hostname_matches(pattern: str, host: str) -> bool:
    """nginx `server_name *.example.com` (and Gateway API): a suffix over one or more labels."""
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


@dataclass(frozen=True)
class GatewayConfig:
    """Everything both Gateway data planes render for one listener port."""

    servers: tuple[GwServer, ...]
    default_server: GwServer
    port: int = 80
    log: tuple[str, ...] = field(default=())

    def server_for(self, host: str) -> GwServer:
        """nginx's server_name order: exact name, then the longest leading wildcard, then default."""
        host = normalize_host(host)
        for srv in self.servers:
            if not srv.hostname.startswith("*.") and srv.hostname == host:
                return srv
        wild = sorted((s for s in self.servers if s.hostname.startswith("*.") and hostname_matches(s.hostname, host)),
                      key=lambda s: -len(s.hostname))
        return wild[0] if wild else self.default_server

    def upstreams(self) -> tuple[Upstream, ...]:
        seen: dict[str, Upstream] = {}
        for srv in (*self.servers, self.default_server):
            for loc in srv.locations:
                for m in loc.matches:
                    for b in m.backends:
                        if b.upstream is not None:
                            seen.setdefault(b.upstream.name, b.upstream)
        return tuple(seen.values())

    def all_servers(self) -> Sequence[GwServer]:
        return (self.default_server, *self.servers)


def no_ingress_config() -> IngressConfig:
    """The Ingress slot of the shared data-plane plumbing, left empty by the Gateway planes."""
    return IngressConfig(servers=(), default_server=Server("_", ()), fake_cert=TlsCert(b"", b"", fake=True))
