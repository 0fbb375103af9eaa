"""The lab controller's view of Ingresses: a data-plane IR that nginx and the emulation both render.

`IngressConfig` holds nginx servers (one per host, plus the catch-all `_`), their locations
(Prefix `/foo` → `location /foo/` plus `location = /foo`; Exact → `location =`;
ImplementationSpecific → plain prefix; use-regex → `location ~* "^…"`), upstreams with their
ready endpoints, canaries and certificates; `kdiag.lab.ingress.controller` builds it. Matching is
nginx's algorithm (exact, then longest prefix, then first regex, plus the 301 auto_redirect to
`uri/`), kept independent of `kdiag.route` on purpose: the lab is the controller, and agreement
between the two is what scenario tests check.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_READ_TIMEOUT",
    "DEFAULT_SEND_TIMEOUT",
    "NEXT_UPSTREAM_TRIES",
    "Address",
    "BackendsFn",
    "Canary",
    "Endpoint",
    "IngressConfig",
    "Location",
    "Route",
    "Server",
    "TlsCert",
    "Upstream",
    "affinity_index",
    "cookie_value",
    "normalize_host",
    "normalize_uri",
    "reserve_refusing_port",
]

Address = tuple[str, int]
#: (namespace, pod name, container port) -> the loopback address serving it; None: nothing listens.
BackendsFn = Callable[[str, str, int], "Address | None"]

#: ingress-nginx ConfigMap defaults, in seconds.
DEFAULT_CONNECT_TIMEOUT = 5
DEFAULT_READ_TIMEOUT = 60
DEFAULT_SEND_TIMEOUT = 60
#: ingress-nginx's `proxy-next-upstream-tries` default.
NEXT_UPSTREAM_TRIES = 3
DEFAULT_BACKEND = "upstream-default-backend"


@dataclass(frozen=True)
class Endpoint:
    """One ready endpoint: the pod it belongs to and where it really listens in the lab."""

    pod: str  # "ns/name", or "" when the endpoint has no Pod targetRef
    ip: str  # the address the EndpointSlice shows (never connected to)
    port: int  # the container port
    address: Address | None  # loopback address; None = nothing listens (connection refused)


@dataclass(frozen=True)
class Upstream:
    """A backend Service port: ingress-nginx names it `<ns>-<svc>-<port>`."""

    name: str
    service: str  # "ns/name"
    port: int | str
    endpoints: tuple[Endpoint, ...] = ()
    reason: str = ""  # why there are no endpoints, for logs ("" when there are some)

    @property
    def has_endpoints(self) -> bool:
        return bool(self.endpoints)


@dataclass(frozen=True)
class Canary:
    """An alternative upstream chosen by header, then cookie, then weight (balancer.lua order)."""

    upstream: Upstream
    ingress: str
    header: str | None = None
    header_value: str | None = None
    header_pattern: str | None = None
    cookie: str | None = None
    weight: int = 0
    weight_total: int = 100

    def selects(self, headers: Mapping[str, str], cookies: Mapping[str, str] | None = None,
                rand: Callable[[int], int] | None = None) -> bool:
        """Whether a request goes to the canary. `headers` keys are lower-case; `rand(n)` is 1..n."""
        if self.header:
            value = headers.get(self.header.lower())
            if value is not None:
                if self.header_value:
                    if value == self.header_value:
                        return True
                elif self.header_pattern:
                    try:
                        if re.search(self.header_pattern, value):
                            return True
                    except re.error:
                        pass
                elif value == "always":
                    return True
                elif value == "never":
                    return False
        if self.cookie and cookies is not None:
            value = cookies.get(self.cookie.lower())
            if value == "always":
                return True
            if value == "never":
                return False
        total = self.weight_total if self.weight_total > 100 else 100
        if self.weight > 0:
            draw = (rand or (lambda n: random.randint(1, n)))(total)
            return draw <= self.weight
        return False


@dataclass(frozen=True)
class Location:
    """One nginx location: `modifier` is "=" (exact), "" (prefix) or "~*" (regex, use-regex)."""

    modifier: str
    path: str
    upstream: Upstream | None  # None: the default backend (404)
    ingress: str = ""  # "ns/name" of the Ingress that defined it ("" for the default backend)
    rule_path: str = ""  # the Ingress path as written
    path_type: str = ""
    canary: Canary | None = None
    connect_timeout: int = DEFAULT_CONNECT_TIMEOUT
    send_timeout: int = DEFAULT_SEND_TIMEOUT
    read_timeout: int = DEFAULT_READ_TIMEOUT
    proxy_http_version: str = "1.1"
    connection_header: str | None = None  # connection-proxy-header annotation
    ssl_redirect: bool = False
    force_ssl_redirect: bool = False
    rewrite_target: str | None = None  # rewrite-target annotation (when it differs from the path)
    affinity_cookie: str | None = None  # affinity: cookie → the session cookie's name
    affinity_path: str = "/"

    def matches(self, uri: str) -> bool:
        if self.modifier == "=":
            return uri == self.path
        if self.modifier == "~*":
            try:
                return re.match(self.path, uri, re.IGNORECASE) is not None
            except re.error:
                return False
        return uri.startswith(self.path)

    def rewrite(self, uri: str, query: str) -> str | None:
        """The request target nginx sends upstream after `rewrite "(?i)<path>" <target> break;`
        (the whole URI becomes the target with $1…$9 filled in, the query appended), or None
        when there is no rewrite or its regex does not match."""
        if not self.rewrite_target:
            return None
        try:
            m = re.search(self.rule_path, uri, re.IGNORECASE)
        except re.error:
            return None
        if m is None:
            return None

        def group(g: re.Match[str]) -> str:
            n = int(g.group(1))
            return (m.group(n) or "") if n <= (m.re.groups or 0) else ""

        new = re.sub(r"\$(\d)", group, self.rewrite_target)
        if new.endswith("?"):
            return new[:-1]
        return new + (f"?{query}" if query else "")

    @property
    def is_default_backend(self) -> bool:
        return self.upstream is None


@dataclass(frozen=True)
class TlsCert:
    """A server's certificate: from its Secret, or the controller's fake one (`fake=True`)."""

    cert_pem: bytes
    key_pem: bytes
    secret: str = ""  # "ns/name" named by the Ingress ("" for the default certificate)
    fake: bool = False


@dataclass(frozen=True)
class Server:
    """An nginx server block: one host (exact or `*.one-label` wildcard), or `_` (catch-all)."""

    host: str
    locations: tuple[Location, ...]
    tls: TlsCert | None = None  # set when an Ingress lists the host under spec.tls

    @property
    def is_default(self) -> bool:
        return self.host == "_"

    def matches_host(self, host: str) -> bool:
        if self.is_default:
            return False
        if self.host.startswith("*."):
            return re.fullmatch(r"[\w-]+" + re.escape(self.host[1:]), host, re.ASCII) is not None
        return host == self.host

    def redirects_to_https(self, loc: Location) -> bool:
        """Whether plain-HTTP requests to `loc` get the ssl-redirect (308): the host has TLS
        (even with the fake certificate) and ssl-redirect is on, or force-ssl-redirect is set."""
        if loc.upstream is None:
            return False
        return loc.force_ssl_redirect or (loc.ssl_redirect and self.tls is not None)

    def auto_redirects(self, uri: str) -> bool:
        """nginx's auto_redirect: `uri` + "/" names a proxied location and `uri` names none, so
        nginx answers 301 to `uri/` before any rewrite (e.g. Prefix `/foo/` and a request `/foo`)."""
        static = [loc for loc in self.locations if loc.modifier in ("=", "")]
        if any(loc.path == uri for loc in static):
            return False
        return any(loc.path == uri + "/" and loc.upstream is not None for loc in static)

    def find_location(self, uri: str) -> Location | None:
        """nginx's location search: exact, else longest prefix, else first matching regex."""
        best: Location | None = None
        for loc in self.locations:
            if loc.modifier == "=" and loc.matches(uri):
                return loc
        for loc in self.locations:
            if loc.modifier == "" and loc.matches(uri) and (best is None or len(loc.path) > len(best.path)):
                best = loc
        for loc in self.locations:
            if loc.modifier == "~*" and loc.matches(uri):
                return loc
        return best


@dataclass(frozen=True)
class Route:
    """Where one request goes: the server, the location (None: default backend), the upstream."""

    server: Server
    location: Location | None

    @property
    def upstream(self) -> Upstream | None:
        return self.location.upstream if self.location else None


@dataclass(frozen=True)
class IngressConfig:
    """Everything both data planes render: servers, upstreams, certificates."""

    servers: tuple[Server, ...]
    default_server: Server
    fake_cert: TlsCert
    ingresses: tuple[str, ...] = ()  # accepted Ingresses, "ns/name"
    ignored: tuple[tuple[str, str], ...] = ()  # (Ingress, why the controller ignores it)
    log: tuple[str, ...] = field(default=())  # controller-style warnings
    #: ConfigMap `use-forwarded-headers` (default false): the scheme of a request is the one its
    #: X-Forwarded-Proto names (lua_ingress.lua `rewrite`: pass_access_scheme), e.g. for the ssl-redirect.
    use_forwarded_headers: bool = False

    def server_for(self, host: str) -> Server:
        """nginx server selection: exact name, then wildcard, then the default server."""
        host = normalize_host(host)
        for srv in self.servers:
            if not srv.host.startswith("*.") and srv.matches_host(host):
                return srv
        for srv in self.servers:
            if srv.host.startswith("*.") and srv.matches_host(host):
                return srv
        return self.default_server

    def route(self, host: str, uri: str) -> Route:
        srv = self.server_for(host)
        return Route(srv, srv.find_location(uri))

    def cert_for(self, sni: str | None) -> TlsCert:
        """The certificate served for an SNI name (the fake one unless the host has its own)."""
        if sni:
            srv = self.server_for(sni)
            if srv.tls is not None:
                return srv.tls
        return self.fake_cert

    def upstreams(self) -> tuple[Upstream, ...]:
        """Every distinct upstream (main and canary) referenced by a location, in config order."""
        seen: dict[str, Upstream] = {}
        for srv in (*self.servers, self.default_server):
            for loc in srv.locations:
                for up in (loc.upstream, loc.canary.upstream if loc.canary else None):
                    if up is not None and up.name not in seen:
                        seen[up.name] = up
        return tuple(seen.values())


# -- request normalisation (what nginx does before matching) --------------------------------

def normalize_host(host: str) -> str:
    """Host header → server name: lower-case, without port and trailing dot."""
    host = host.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        host = host[: end + 1] if end >= 0 else host
    elif ":" in host:
        host = host.rsplit(":", 1)[0]
    return host.rstrip(".")


def normalize_uri(target: str) -> str | None:
    """The request target's path as nginx matches it (decoded, `//` merged, dot segments
    resolved); None when it is invalid (nginx answers 400)."""
    path = target.split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        if path.startswith(("http://", "https://")):
            rest = path.split("://", 1)[1]
            path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
        else:
            return None
    try:
        decoded = unquote_to_bytes(path).decode("utf-8", "surrogateescape")
    except ValueError:
        return None
    if "\x00" in decoded:
        return None
    trailing = decoded.endswith(("/", "/.", "/.."))
    parts: list[str] = []
    for seg in decoded.split("/")[1:]:
        if seg in ("", "."):
            continue
        if seg == "..":
            if not parts:
                return None
            parts.pop()
            continue
        parts.append(seg)
    out = "/" + "/".join(parts)
    if trailing and out != "/":
        out += "/"
    return out


def affinity_index(session: str, endpoints: int) -> int:
    """Which endpoint a sticky session goes to (stable for the same cookie value)."""
    import hashlib

    return int.from_bytes(hashlib.sha1(session.encode()).digest()[:8], "big") % max(endpoints, 1)


def cookie_value(cookie_headers: Iterable[str], name: str) -> str | None:
    """nginx's `$cookie_NAME`: the first cookie of that name (case-insensitive), or None."""
    name = name.lower()
    for header in cookie_headers:
        for part in header.split(";"):
            k, sep, v = part.strip().partition("=")
            if sep and k.strip().lower() == name:
                return v.strip()
    return None


def reserve_refusing_port() -> Any:
    """A loopback socket bound but never listening: connecting to its port is refused.

    Both data planes send endpoints whose pod has nothing listening (address None) there, so
    the upstream sees a real `connect() failed (111: Connection refused)`. Close it when done.
    """
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock
