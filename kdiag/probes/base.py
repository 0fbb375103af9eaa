"""What every probe shares: URL handling, connecting to an Endpoint, error kinds.

Credentials are hidden by the one rule of `kdiag.redaction`.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, urlsplit

from kdiag.endpoint import Endpoint
from kdiag.outcomes import ErrorKind
from kdiag.redaction import redact_url

__all__ = [
    "Failure",
    "ParsedURL",
    "ProtocolError",
    "classify",
    "classify_error",
    "default_port",
    "elapsed_ms",
    "failure_detail",
    "open_stream",
    "parse_url",
    "request_target",
    "tcp_target",
    "tls_target",
    "unverified_context",
]



class ProtocolError(Exception):
    """The peer sent something that is not the protocol we expected (malformed HTTP, bad frame)."""


@dataclass(frozen=True)
class ParsedURL:
    """The parts of a probe URL we need: scheme, host, port, and path with query."""

    scheme: str  # http | https | ws | wss
    host: str
    port: int
    path: str  # path + "?query", always starting with "/"
    explicit_port: bool

    @property
    def secure(self) -> bool:
        return self.scheme in ("https", "wss")

    @property
    def authority(self) -> str:
        """host[:port] as a Host header shows it (port only when not the scheme's default)."""
        h = f"[{self.host}]" if ":" in self.host else self.host
        if self.explicit_port and self.port != default_port(self.scheme):
            return f"{h}:{self.port}"
        return h


def default_port(scheme: str) -> int:
    return 443 if scheme in ("https", "wss") else 80


def parse_url(url: str) -> ParsedURL:
    """Split an absolute http(s)/ws(s) URL; raises ValueError for anything else."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https", "ws", "wss"):
        raise ValueError(f"unsupported URL scheme {parts.scheme!r} in {url!r}")
    if not parts.hostname:
        raise ValueError(f"URL has no host: {url!r}")
    try:
        port = parts.port
    except ValueError as e:
        raise ValueError(f"bad port in URL {url!r}") from e
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        path += "?" + parts.query
    return ParsedURL(scheme, parts.hostname, port or default_port(scheme), path, port is not None)


def _hostport(endpoint: Endpoint) -> str:
    h = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"{h}:{endpoint.port}"


def request_target(url: str, endpoint: Endpoint, *, websocket: bool = False) -> str:
    """The `target` that probe_http (websocket=False) or probe_websocket/probe_idle record for `url`.

    scheme://connect-host:port/<path prefix>/<path>?<query>, token-like query values redacted.
    Raises ValueError for a URL the probes would refuse.
    """
    u = parse_url(url)
    path = endpoint.path_prefix.rstrip("/") + u.path if endpoint.path_prefix else u.path
    scheme = ("wss" if endpoint.tls else "ws") if websocket else ("https" if endpoint.tls else "http")
    return redact_url(f"{scheme}://{_hostport(endpoint)}{path}")


def tcp_target(endpoint: Endpoint) -> str:
    """The `target` probe_tcp records."""
    return _hostport(endpoint)


def tls_target(endpoint: Endpoint, server_name: str) -> str:
    """The `target` probe_tls records."""
    return f"{_hostport(endpoint)} (SNI {server_name})"


def unverified_context(alpn: Iterable[str] = ("http/1.1",)) -> ssl.SSLContext:
    """A client context that completes any handshake; we judge the certificate ourselves."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    alpn = list(alpn)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


async def open_stream(
    endpoint: Endpoint,
    *,
    server_hostname: str | None,
    timeout: float,
    tls: bool | None = None,
    ssl_context: ssl.SSLContext | None = None,
    limit: int = 65536,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Open TCP (and TLS when `tls`, default endpoint.tls) to the endpoint within `timeout`.

    Raises the underlying OSError/ssl.SSLError/TimeoutError; callers turn it into a result
    with `classify_error`.
    """
    use_tls = endpoint.tls if tls is None else tls
    ctx: ssl.SSLContext | None = None
    if use_tls:
        ctx = ssl_context or endpoint.ssl_context or unverified_context()
    sni = None
    if use_tls:
        sni = endpoint.sni or server_hostname
    async with asyncio.timeout(timeout):
        return await asyncio.open_connection(
            endpoint.host, endpoint.port, ssl=ctx, server_hostname=sni if use_tls else None,
            ssl_handshake_timeout=timeout if use_tls else None, limit=limit,
        )


class Failure(NamedTuple):
    """A network exception as a probe records it: its kind, and a short stable error text."""

    kind: ErrorKind
    error: str


def _verify_error(e: ssl.SSLCertVerificationError) -> str:
    msg = (getattr(e, "verify_message", None) or str(e)).lower()
    if "expired" in msg:
        return "tls: certificate has expired"
    if "not yet valid" in msg:
        return "tls: certificate is not yet valid"
    if "hostname mismatch" in msg or "ip address mismatch" in msg:
        return "tls: certificate does not match host"
    if "self-signed" in msg or "self signed" in msg:
        return "tls: self-signed certificate"
    if "local issuer" in msg or "unknown ca" in msg:
        return "tls: unknown certificate authority"
    return "tls: certificate verify failed"


def _tls_error(exc: ssl.SSLError) -> str:
    reason = (getattr(exc, "reason", None) or str(exc)).lower()
    if "wrong_version_number" in reason or "wrong version number" in reason or "record layer" in reason:
        return "tls: server did not speak TLS"
    if "unrecognized_name" in reason or "unrecognized name" in reason:
        return "tls: server does not know this name (SNI)"
    if "eof" in reason:
        return "tls: connection closed during handshake"
    return "tls: handshake failed"


def _os_failure(exc: OSError) -> Failure:
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.EHOSTDOWN):
        return Failure(ErrorKind.UNREACHABLE, "unreachable")
    if exc.errno == errno.ECONNREFUSED:
        return Failure(ErrorKind.REFUSED, "connection refused")
    if exc.errno == errno.ETIMEDOUT:
        return Failure(ErrorKind.TIMEOUT, "timeout")
    return Failure(ErrorKind.NETWORK, f"os error: {exc.strerror or type(exc).__name__}".lower())


def classify(exc: BaseException) -> Failure:
    """The kind and a short, stable error text for a network exception (never the full traceback)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return Failure(ErrorKind.CERTIFICATE, _verify_error(exc))
    if isinstance(exc, ssl.SSLError):
        return Failure(ErrorKind.TLS, _tls_error(exc))
    if isinstance(exc, TimeoutError):
        return Failure(ErrorKind.TIMEOUT, "timeout")
    if isinstance(exc, ConnectionRefusedError):
        return Failure(ErrorKind.REFUSED, "connection refused")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return Failure(ErrorKind.RESET, "connection reset")
    if isinstance(exc, asyncio.IncompleteReadError):
        return Failure(ErrorKind.CLOSED, "connection closed")
    if isinstance(exc, asyncio.LimitOverrunError):
        return Failure(ErrorKind.TOO_LARGE, "response too large")
    if isinstance(exc, ProtocolError):
        return Failure(ErrorKind.BAD_RESPONSE, "protocol error")
    if isinstance(exc, socket.gaierror):
        return Failure(ErrorKind.DNS, "dns: name not resolved")
    if isinstance(exc, OSError):
        return _os_failure(exc)
    if isinstance(exc, ValueError):
        return Failure(ErrorKind.INVALID_REQUEST, "bad request")
    return Failure(ErrorKind.OTHER, type(exc).__name__)


def classify_error(exc: BaseException) -> str:
    """The short, stable error text of `classify` alone."""
    return classify(exc).error


def elapsed_ms(start: float) -> float:
    """Milliseconds since `start` (a time.monotonic() value)."""
    return (time.monotonic() - start) * 1000.0


def failure_detail(error: str, label: str, *, timeout: float, waiting_for: str) -> str:
    """One plain sentence for a network failure `error` (the text of `classify`) reaching `label`.

    `waiting_for` names what never came, e.g. "an HTTP answer", "a handshake answer".
    """
    if error == "connection refused":
        return f"Connection refused by {label}: nothing listens on that port."
    if error == "timeout":
        return f"Timed out after {timeout:g} s waiting for {waiting_for} ({label})."
    if error == "connection reset":
        text = f"{label} reset the connection before {waiting_for}."
    elif error == "connection closed":
        text = f"{label} closed the connection without {waiting_for}."
    elif error == "unreachable":
        text = f"{label} is unreachable from here (no route to that address)."
    elif error == "protocol error":
        text = f"{label} answered with something that is not HTTP."
    elif error == "response too large":
        text = f"{label} sent a response head larger than we read."
    elif error.startswith("dns:"):
        return f"The name of {label} does not resolve."
    elif error.startswith("tls:"):
        return f"TLS with {label} failed: {error.removeprefix('tls: ')}."
    else:
        text = f"{label}: {error} before {waiting_for}."
    return text[:1].upper() + text[1:]
