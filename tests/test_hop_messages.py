"""Hop messages say what happened, and the progress line says what the report says."""

from __future__ import annotations

from kdiag.events import ProbeFinished
from kdiag.live import progress_line as _progress_line
from kdiag.model import ProbeResult
from kdiag.outcomes import ErrorKind
from kdiag.verdict import HopProbes, RouteFacts, judge, probe_sentence


def _hop(hops: tuple, name: str) -> tuple[str, str]:  # type: ignore[type-arg]
    h = next(h for h in hops if h.hop == name)
    return h.status, h.summary


def test_no_service_is_said_as_such() -> None:
    hops, _, _ = judge(RouteFacts(ingress="default/chatapp", service=None), {}, [])
    status, summary = _hop(hops, "endpoints")
    assert status == "skip" and "No Service" in summary and "could not be read" not in summary


def test_unreadable_service_is_not_called_missing() -> None:
    hops, _, _ = judge(RouteFacts(ingress="default/chatapp", service=None, service_readable=False), {}, [])
    assert "could not be read" in _hop(hops, "endpoints")[1]
    assert "No Service" not in _hop(hops, "endpoints")[1]


def test_unread_endpoints_behind_a_service() -> None:
    hops, _, _ = judge(RouteFacts(service="default/chatapp-svc"), {}, [])
    assert _hop(hops, "endpoints")[1] == "Endpoints could not be read."


def test_progress_line_and_report_give_the_same_sentence() -> None:
    probe = ProbeResult(kind="websocket", via="service-proxy", target="default/chatapp-svc:ws", ok=False,
                        status_code=503, elapsed_ms=20.4, error="handshake: proxy-error",
                        error_kind=ErrorKind.HANDSHAKE,
                        detail="HTTP 503 instead of 101: the API server's proxy could not reach the backend.")
    facts = RouteFacts(service="default/chatapp-svc", endpoints_ready=1, endpoints_total=1)
    hops, _, _ = judge(facts, {"service": HopProbes(primary=(probe,))}, [])
    status, summary = _hop(hops, "service")
    line = _progress_line(ProbeFinished("service", probe))
    assert status == "fail" and summary == probe_sentence(probe)
    assert line is not None and line.endswith(summary)
    bare = ProbeResult(kind="tcp", via="port-forward", target="pod:5003", ok=False, error="connection refused")
    assert (_progress_line(ProbeFinished("pod", bare)) or "").endswith(probe_sentence(bare))
    assert "connection refused" in probe_sentence(bare)
