"""Typed probe outcomes: the ErrorKind each probe records on real loopback failures, the handshake
cases, the JSON round trip, and a verdict that decides by kind (never by the prose)."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trustme

from kdiag.endpoint import Endpoint
from kdiag.lab.apps import AppBehavior, AppServer
from kdiag.model import ProbeResult, Report
from kdiag.outcomes import ErrorKind, HandshakeCase
from kdiag.probes.base import ProtocolError, classify
from kdiag.probes.http import probe_http
from kdiag.probes.http1 import read_head
from kdiag.probes.idle import probe_idle
from kdiag.probes.tcp import probe_tcp
from kdiag.probes.tls import probe_tls
from kdiag.probes.websocket import judge_handshake, probe_websocket
from kdiag.verdict import HopProbes, RouteFacts, judge

LO = "127.0.0.1"
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(scope="module")
def apps() -> Iterator[AppServer]:
    with AppServer() as srv:
        yield srv


def ep(port: int, *, tls: bool = False, ssl_context: ssl.SSLContext | None = None) -> Endpoint:
    return Endpoint(LO, port, "direct", f"app :{port}", tls=tls, ssl_context=ssl_context)


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[int]:
    async def wrapped(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            await handler(r, w)
        except (OSError, EOFError, asyncio.CancelledError):
            pass
        finally:
            w.transport.abort()

    server = await asyncio.start_server(wrapped, LO, 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()


async def silent(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await asyncio.sleep(30)


async def closes_at_once(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    await read_head(r)


async def resets(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    """Read the request, then close with SO_LINGER 0: the kernel sends an RST."""
    await read_head(r)
    sock = w.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def speaks_ssh(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
    w.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
    await w.drain()
    await asyncio.sleep(30)


# -- the kinds each probe records ---------------------------------------------------------------

async def test_refused_port_is_refused_for_every_probe(apps: AppServer) -> None:
    e = ep(apps.closed_port())
    results = [await probe_tcp(e), await probe_http("http://chatapp.com/", e),
               await probe_websocket("ws://chatapp.com/ws", e), await probe_tls(e, server_name="chatapp.com"),
               await probe_idle("ws://chatapp.com/ws", e, idle=1)]
    assert [(r.kind, r.ok, r.error_kind) for r in results] == [
        (k, False, ErrorKind.REFUSED) for k in ("tcp", "http", "websocket", "tls", "idle")]


@pytest.mark.parametrize("probe", ["http", "websocket", "tls"])
async def test_silent_server_is_a_timeout(probe: str) -> None:
    async with raw_server(silent) as port:
        if probe == "http":
            r = await probe_http("http://chatapp.com/", ep(port), timeout=0.3)
        elif probe == "websocket":
            r = await probe_websocket("ws://chatapp.com/ws", ep(port), timeout=0.3)
        else:
            r = await probe_tls(ep(port), server_name="chatapp.com", timeout=0.3)
    assert (r.ok, r.status_code, r.error_kind) == (False, None, ErrorKind.TIMEOUT), r.detail


@pytest.mark.parametrize(("handler", "kind"), [
    (resets, ErrorKind.RESET),
    (closes_at_once, ErrorKind.CLOSED),
    (speaks_ssh, ErrorKind.BAD_RESPONSE),
])
async def test_misbehaving_servers(handler: Handler, kind: ErrorKind) -> None:
    async with raw_server(handler) as port:
        h = await probe_http("http://chatapp.com/", ep(port), timeout=2)
        w = await probe_websocket("ws://chatapp.com/ws", ep(port), timeout=2)
    assert (h.ok, h.status_code, h.error_kind) == (False, None, kind), h.detail
    assert (w.ok, w.status_code, w.error_kind) == (False, None, kind), w.detail


async def test_tls_garbage_is_a_tls_failure() -> None:
    async with raw_server(speaks_ssh) as port:
        t = await probe_tls(ep(port), server_name="chatapp.com", timeout=2)
        h = await probe_http("https://chatapp.com/", ep(port, tls=True), timeout=2)
    assert (t.ok, t.error_kind) == (False, ErrorKind.TLS) and t.error == "tls: server did not speak TLS"
    assert (h.ok, h.error_kind) == (False, ErrorKind.TLS), h.detail


async def test_certificate_problems_are_certificate_kind(apps: AppServer) -> None:
    ca = trustme.CA()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("chatapp.com").configure_cert(ctx)
    port = apps.serve(AppBehavior("web"), ssl_context=ctx)
    good = await probe_tls(ep(port), server_name="chatapp.com")
    bad = await probe_tls(ep(port), server_name="evil.com")
    assert (good.ok, good.error_kind) == (True, None)
    assert (bad.ok, bad.error_kind) == (False, ErrorKind.CERTIFICATE)
    untrusted = await probe_http("https://chatapp.com/", ep(port, tls=True, ssl_context=ssl.create_default_context()))
    assert (untrusted.ok, untrusted.error_kind) == (False, ErrorKind.CERTIFICATE)


async def test_answers_judged_failures(apps: AppServer) -> None:
    web = ep(apps.serve(AppBehavior("web")))
    err = ep(apps.serve(AppBehavior("error", status=503)))
    ws = ep(apps.serve(AppBehavior("websocket")))
    ok = await probe_http("http://chatapp.com/", web)
    failed = await probe_http("http://chatapp.com/", err)
    upgraded = await probe_websocket("ws://chatapp.com/ws", ws)
    ignored = await probe_websocket("ws://chatapp.com/", web)
    assert (ok.ok, ok.error_kind) == (True, None)
    assert (failed.ok, failed.status_code, failed.error_kind) == (False, 503, ErrorKind.HTTP_STATUS)
    assert (upgraded.ok, upgraded.error_kind, upgraded.extra["case"]) == (True, None, "ok")
    assert (ignored.ok, ignored.error_kind) == (False, ErrorKind.HANDSHAKE)
    assert ignored.extra["case"] == HandshakeCase.UPGRADE_IGNORED


@pytest.mark.parametrize(("close_code", "kinds"), [
    (1001, {ErrorKind.CLOSED}),
    (None, {ErrorKind.CLOSED, ErrorKind.RESET}),  # dropped without a close frame (FIN or RST)
])
async def test_idle_close_kinds(apps: AppServer, close_code: int | None, kinds: set[ErrorKind]) -> None:
    port = apps.serve(AppBehavior("websocket", idle_timeout=0.3, idle_close_code=close_code))
    r = await probe_idle("ws://chatapp.com/ws", ep(port), idle=1.0)
    assert not r.ok and r.error_kind in kinds, r.detail
    still = await probe_idle("ws://chatapp.com/ws", ep(apps.serve(AppBehavior("websocket"))), idle=0.3)
    assert (still.ok, still.error_kind) == (True, None)


@pytest.mark.parametrize(("exc", "kind"), [
    (ConnectionRefusedError(errno.ECONNREFUSED, "refused"), ErrorKind.REFUSED),
    (OSError(errno.ECONNREFUSED, "refused"), ErrorKind.REFUSED),
    (ConnectionResetError(errno.ECONNRESET, "reset"), ErrorKind.RESET),
    (BrokenPipeError(errno.EPIPE, "pipe"), ErrorKind.RESET),
    (TimeoutError(), ErrorKind.TIMEOUT),
    (OSError(errno.ETIMEDOUT, "timed out"), ErrorKind.TIMEOUT),
    (OSError(errno.EHOSTUNREACH, "No route to host"), ErrorKind.UNREACHABLE),
    (OSError(errno.EACCES, "Permission denied"), ErrorKind.NETWORK),
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), ErrorKind.DNS),
    (asyncio.IncompleteReadError(b"", 10), ErrorKind.CLOSED),
    (asyncio.LimitOverrunError("big", 10), ErrorKind.TOO_LARGE),
    (ProtocolError("x"), ErrorKind.BAD_RESPONSE),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), ErrorKind.TLS),
    (ssl.SSLCertVerificationError(1, "certificate verify failed: Hostname mismatch"), ErrorKind.CERTIFICATE),
    (ValueError("bad"), ErrorKind.INVALID_REQUEST),
    (RuntimeError("?"), ErrorKind.OTHER),
])
def test_classify_kinds(exc: BaseException, kind: ErrorKind) -> None:
    assert classify(exc).kind == kind


def test_handshake_cases_are_typed() -> None:
    j = judge_handshake("dGhlIHNhbXBsZSBub25jZQ==", 101,
                        {"upgrade": "websocket", "connection": "Upgrade",
                         "sec-websocket-accept": "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="}, b"")
    assert j.ok and j.case is HandshakeCase.OK
    j = judge_handshake("dGhlIHNhbXBsZSBub25jZQ==", 101,
                        {"upgrade": "websocket", "connection": "Upgrade", "sec-websocket-accept": "nope"}, b"")
    assert j.case is HandshakeCase.ACCEPT_MISMATCH
    assert judge_handshake("k", 101, {"connection": "Upgrade"}, b"").case is HandshakeCase.UPGRADE_HEADERS_MISSING
    assert judge_handshake("k", 418, {}, b"").case is HandshakeCase.UNEXPECTED_STATUS


# -- the JSON -------------------------------------------------------------------------------------

def test_error_kind_json_round_trip() -> None:
    p = ProbeResult("tcp", "direct", "127.0.0.1:1", False, detail="x", error="connection refused",
                    extra={"endpoint": "e"}, error_kind=ErrorKind.REFUSED)
    d = p.to_dict()
    assert d["error_kind"] == "refused" and d["error"] == "connection refused"
    assert list(d)[:9] == ["kind", "via", "target", "ok", "status_code", "elapsed_ms", "detail", "error",
                           "error_kind"]
    assert ProbeResult.from_dict(d) == p
    assert ProbeResult(kind="http", via="direct", target="t", ok=True).to_dict()["error_kind"] is None
    old = {k: v for k, v in d.items() if k != "error_kind"}  # a report written before error_kind existed
    back = ProbeResult.from_dict(old)
    assert back.error_kind is None and back.error == "connection refused" and "error_kind" not in back.extra
    assert ProbeResult.from_dict({**d, "error_kind": "from-the-future"}).error_kind is ErrorKind.OTHER


def test_old_report_without_error_kind_loads() -> None:
    probe = {"kind": "http", "via": "direct", "target": "t", "ok": False, "status_code": None,
             "elapsed_ms": 1.0, "detail": "d", "error": "timeout"}
    report = Report.from_dict({"schema": "kdiag.report/v1", "source": {"kind": "cluster"},
                               "hops": [{"hop": "pod", "status": "fail", "summary": "s", "probes": [probe]}],
                               "findings": [], "verdict": {"status": "fail"}})
    assert report.hops is not None and report.hops[0].probes[0].error_kind is None


# -- the verdict decides by kind -------------------------------------------------------------------

FACTS = RouteFacts(websocket=False, ingress="default/web", service="default/web", port=80, pods_total=1,
                   pods_ready=1, endpoints_ready=1, endpoints_total=1, objects={"pod": ("Pod default/web-0",)})


def _probe(via: str, *, detail: str, error: str | None, kind: ErrorKind | None,
           status: int | None = None, **extra: Any) -> ProbeResult:
    return ProbeResult("http", via, "t", False, status_code=status, detail=detail, error=error,
                       extra=extra, error_kind=kind)


def test_refused_is_judged_by_kind_not_by_text() -> None:
    quiet = _probe("port-forward", detail="The pod did not take the connection.", error="errno 111",
                   kind=ErrorKind.REFUSED, pod="default/web-0")
    _, findings, verdict = judge(FACTS, {"pod": HopProbes(primary=(quiet,))}, [])
    assert (verdict.hop, verdict.check) == ("pod", "pod-port-not-listening")
    assert [f.check for f in findings] == ["pod-port-not-listening"]


def test_refusal_words_in_the_prose_decide_nothing() -> None:
    wordy = _probe("port-forward", detail="HTTP 403: the server refused the request; nothing listens here.",
                   error="connection refused (quoted by the app)", kind=ErrorKind.HTTP_STATUS, status=403,
                   pod="default/web-0")
    _, findings, verdict = judge(FACTS, {"pod": HopProbes(primary=(wordy,))}, [])
    assert "pod-port-not-listening" not in [f.check for f in findings]
    assert verdict.check != "pod-port-not-listening"


def test_timeout_is_judged_by_kind() -> None:
    slow = _probe("port-forward", detail="No answer.", error="no answer", kind=ErrorKind.TIMEOUT, pod="default/web-0")
    _, findings, _ = judge(FACTS, {"pod": HopProbes(primary=(slow,))}, [])
    assert [f.check for f in findings] == ["pod-http-error"]


@pytest.mark.parametrize(("kind", "no_address"), [
    (ErrorKind.REFUSED, True), (ErrorKind.DNS, True), (ErrorKind.TIMEOUT, False), (ErrorKind.RESET, False),
])
def test_ingress_no_address_by_kind(kind: ErrorKind, no_address: bool) -> None:
    p = _probe("ingress-address", detail="Something went wrong.", error="?", kind=kind)
    _, findings, _ = judge(FACTS, {"ingress": HopProbes(primary=(p,))}, [])
    assert ("ingress-no-address" in [f.check for f in findings]) is no_address
