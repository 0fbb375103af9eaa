"""Where a probe connects and how: the `Endpoint` the walk builds (from the cluster or the command
line) and every probe connects through.

A neutral data type: the cluster access (`kdiag.kube`), the vantage points and the probes all
use it, so it lives below them all. Standard library only.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Endpoint"]


@dataclass(frozen=True)
class Endpoint:
    """Where a probe connects and how — recorded in every result as `via` and `target`."""

    host: str  # IP or name to open the TCP connection to (e.g. 127.0.0.1 or a local bridge)
    port: int
    via: str  # ingress-address | nodeport | service-proxy | port-forward | direct | dns
    label: str  # human description, e.g. "pod chat-0:3002 via port-forward"
    tls: bool = False
    sni: str | None = None  # server_hostname for TLS (defaults to the URL host)
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False, compare=False)
    path_prefix: str = ""  # e.g. "/api/v1/namespaces/ns/services/svc:http/proxy"
    host_header: str | None = None  # None = the URL's host (and :port when not default)
    hidden_headers: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)
