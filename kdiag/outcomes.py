"""Typed probe outcomes: how a probe failed (`ErrorKind`) and how a WebSocket handshake ended
(`HandshakeCase`).

Decisions (the verdict, the walk) read these kinds; the prose a person reads stays in a result's
`detail` and `error`. Both are `StrEnum`s: their values are the stable strings written to JSON.
Standard library only; every layer may import this module.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ErrorKind", "HandshakeCase"]


class ErrorKind(StrEnum):
    """Why a probe did not succeed (`ProbeResult.error_kind`; None when it did)."""

    # -- no answer: the connection itself failed
    REFUSED = "refused"  # nothing listens on the port (the connection was refused)
    TIMEOUT = "timeout"  # no connection or no answer within the probe's timeout
    RESET = "reset"  # the peer reset the connection
    CLOSED = "closed"  # the peer closed the connection without answering (or while idle)
    UNREACHABLE = "unreachable"  # no route to the address
    DNS = "dns"  # the name does not resolve
    NETWORK = "network"  # another operating-system error
    TLS = "tls"  # the TLS handshake failed (no TLS, unknown SNI name, closed during handshake)
    # -- an answer that is not the protocol we spoke
    BAD_RESPONSE = "bad-response"  # not HTTP, a malformed head, an invalid WebSocket frame
    TOO_LARGE = "too-large"  # a response head larger than we read
    # -- an answer, judged a failure
    HTTP_STATUS = "http-status"  # an HTTP answer that is not 2xx/3xx
    HANDSHAKE = "handshake"  # a WebSocket handshake answer that is not a valid 101 (see HandshakeCase)
    CERTIFICATE = "certificate"  # the server's certificate is not valid for the host (or missing)
    SESSION = "session"  # a multi-request session (Socket.IO polling) was not kept on one replica
    REDIRECT_LOOP = "redirect-loop"  # redirects that come back to a URL already asked, or never end
    # -- kdiag could not run the probe as asked
    INVALID_REQUEST = "invalid-request"  # the URL or a header cannot be sent
    NO_PORT = "no-port"  # the port to probe could not be resolved (a named port matching nothing)
    PORT_FORWARD = "port-forward"  # the port-forward to the pod could not be opened
    INTERNAL = "internal"  # the probe itself raised (a bug in kdiag)
    OTHER = "other"  # anything not listed above


class HandshakeCase(StrEnum):
    """How a WebSocket opening handshake (RFC 6455 §4.1/§4.2.2) ended."""

    OK = "ok"  # 101 with Upgrade, Connection and the right Sec-WebSocket-Accept
    ACCEPT_MISMATCH = "accept-mismatch"  # 101 without or with a wrong Sec-WebSocket-Accept
    UPGRADE_HEADERS_MISSING = "upgrade-headers-missing"  # 101 without Upgrade: websocket / Connection: Upgrade
    SUBPROTOCOL_NOT_OFFERED = "subprotocol-not-offered"  # 101 choosing a subprotocol we did not offer
    UPGRADE_HEADER_DROPPED = "upgrade-header-dropped"  # the server saw a plain request (a proxy dropped the headers)
    UPGRADE_REQUIRED = "upgrade-required"  # 426
    BAD_REQUEST = "bad-request"  # 400
    UNAUTHORIZED = "unauthorized"  # 401
    FORBIDDEN = "forbidden"  # 403
    NOT_FOUND = "not-found"  # 404 (also nginx's default backend)
    METHOD_NOT_ALLOWED = "method-not-allowed"  # 405
    PROXY_ERROR = "proxy-error"  # 502/503/504 or an error page of a proxy on the way
    UPGRADE_IGNORED = "upgrade-ignored"  # 2xx: answered as plain HTTP
    REDIRECT = "redirect"  # 3xx
    SERVER_ERROR = "server-error"  # other 5xx
    UNEXPECTED_STATUS = "unexpected-status"  # any other status
