"""TCP probe: can we open a connection to the endpoint (connected / refused / reset / timeout / unreachable)?"""

from __future__ import annotations

import time

from kdiag.endpoint import Endpoint
from kdiag.model import ProbeResult
from kdiag.probes.base import (
    classify,
    elapsed_ms,
    failure_detail,
    open_stream,
    tcp_target,
)

__all__ = ["probe_tcp"]


async def probe_tcp(endpoint: Endpoint, *, timeout: float = 3.0) -> ProbeResult:
    """Open (and at once close) a plain TCP connection; never raises for a network outcome."""
    start = time.monotonic()
    target = tcp_target(endpoint)
    try:
        _, writer = await open_stream(endpoint, server_hostname=None, timeout=timeout, tls=False)
    except (OSError, TimeoutError, EOFError) as e:
        kind, err = classify(e)
        detail = failure_detail(err, endpoint.label, timeout=timeout, waiting_for="the TCP connection to be accepted")
        return ProbeResult("tcp", endpoint.via, target, False, elapsed_ms=elapsed_ms(start), detail=detail,
                           error=err, extra={"endpoint": endpoint.label}, error_kind=kind)
    ms = elapsed_ms(start)
    writer.transport.abort()
    return ProbeResult("tcp", endpoint.via, target, True, elapsed_ms=ms,
                       detail=f"{endpoint.label}: TCP connection accepted.", extra={"endpoint": endpoint.label})
