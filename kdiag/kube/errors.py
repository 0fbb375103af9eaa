"""How API access fails: the error classes, and one-line descriptions of wire errors.

`ApiError` and its subclasses are raised when the API server answered with an error status;
`describe_connection_error` turns a failure to reach the server (refused, timeout, DNS, TLS) into
one line. Both are `ClusterAccessError`s of `kdiag.errors`, so the CLI prints them in one line.
"""

from __future__ import annotations

import json
import re
import ssl
from collections.abc import Iterator

from kdiag.errors import ClusterAccessError

__all__ = [
    "ApiError",
    "Forbidden",
    "NotFound",
    "Unauthorized",
    "describe_connection_error",
    "one_line",
    "status_message",
    "unreadable",
]


class ApiError(ClusterAccessError):
    """The API server answered a read with an error status (the message is one line)."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class Unauthorized(ApiError):
    """401: the credentials were not accepted."""


class Forbidden(ApiError):
    """403: RBAC does not allow this read. Callers usually degrade ("cannot verify")."""


class NotFound(ApiError):
    """404: the object, namespace or resource type does not exist."""


def unreadable(e: ClusterAccessError, why: str = "") -> ClusterAccessError:
    """The error that ends a run whose cluster reads got an answer no API server gives."""
    if str(e).startswith("could not read the cluster"):
        return e
    return ClusterAccessError(f"could not read the cluster: {e}" + (f" ({why})" if why else ""))


def one_line(text: object) -> str:
    """`text` as one line: every run of whitespace becomes one space."""
    return re.sub(r"\s+", " ", str(text)).strip()


def status_message(body: bytes | bytearray) -> tuple[str, str]:
    """(reason, message) from a Kubernetes Status body, best effort."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "", one_line(body[:200].decode("utf-8", "replace"))
    if not isinstance(doc, dict):
        return "", ""
    return str(doc.get("reason") or ""), one_line(doc.get("message") or "")


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack.extend([e.__cause__, e.__context__, getattr(e, "reason", None)
                      if isinstance(getattr(e, "reason", None), BaseException) else None])
        stack.extend(a for a in getattr(e, "args", ()) if isinstance(a, BaseException))


def describe_connection_error(exc: BaseException, server: str) -> str:
    """One line that says why the API server could not be reached."""
    for e in _exception_chain(exc):
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"the TLS certificate of the API server at {server} is not trusted: {e.verify_message}"
    for e in _exception_chain(exc):
        if isinstance(e, ConnectionRefusedError):
            return f"cannot reach the API server at {server}: connection refused"
        if isinstance(e, TimeoutError) or type(e).__name__ in (
            "ConnectTimeoutError", "ReadTimeoutError", "TimeoutError"
        ):
            return f"cannot reach the API server at {server}: timed out"
        if type(e).__name__ == "NameResolutionError" or isinstance(e, OSError) and "Name or service" in str(e):
            return f"cannot reach the API server at {server}: the host name does not resolve"
    for e in _exception_chain(exc):
        if isinstance(e, ssl.SSLError):
            return f"TLS handshake with the API server at {server} failed: {one_line(e)}"
    return f"cannot reach the API server at {server}: {one_line(exc) or type(exc).__name__}"
