"""A deterministic FakeSession replaying scripted walks built from the seed stories' chat app.

The data is written by hand with the model classes: the chat app whose Service targets ports
the container does not listen on (verdict: service-target-port-mismatch), a healthy shop, and
a game socket route behind ingress-nginx's 60 s default read timeout.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace

from kdiag.events import (
    HopFinished,
    HopStarted,
    ProbeFinished,
    ProbeStarted,
    RouteResolved,
    WalkEvent,
    WalkFinished,
    WalkNote,
)
from kdiag.model import (
    Finding,
    HopResult,
    ProbeResult,
    Report,
    RouteInfo,
    SourceInfo,
    TargetInfo,
    Verdict,
)
from kdiag.session import RouteRow, Session, SessionInfo, WalkRequest

__all__ = [
    "CHAT_POD",
    "FakeSession",
    "ROUTES",
    "TARGET_PORT_FINDING",
    "broken_report",
    "healthy_report",
    "many_routes",
    "walk_events",
]

CREATED = "2026-11-23T03:12:00Z"
CHAT_POD = "default/chatapp-deployment-7d9c8b6f5-x2k4q"

ROUTES: tuple[RouteRow, ...] = (
    RouteRow(url="https://chatapp.com/", ingress="default/chatapp", host="chatapp.com", path="/",
             path_type="Prefix", service="default/chatapp-svc:3001", pods_ready="1/1", status="fail",
             note="targetPort 5001 is not a containerPort (3000, 3001, 3002)"),
    RouteRow(url="https://chatapp.com/api", ingress="default/chatapp", host="chatapp.com",
             path="/api", path_type="Prefix", service="default/chatapp-svc:3002", pods_ready="1/1",
             status="fail", note="targetPort 5002 is not a containerPort (3000, 3001, 3002)"),
    RouteRow(url="wss://chatapp.com/wss", ingress="default/chatapp", host="chatapp.com",
             path="/wss", path_type="Prefix", service="default/chatapp-svc:3003", pods_ready="1/1",
             status="fail", websocket=True,
             note="targetPort 5003 is not a containerPort (3000, 3001, 3002)"),
    RouteRow(url="wss://game.example.com/socket", ingress="default/game", host="game.example.com",
             path="/socket", path_type="Prefix", service="default/game-socket:7003",
             pods_ready="3/3", status="warn", websocket=True,
             note="WebSocket route with proxy-read-timeout 60 s (default)"),
    RouteRow(url="https://shop.example.com/", ingress="default/shop", host="shop.example.com",
             path="/", path_type="Prefix", service="default/shop-web:80", pods_ready="2/2",
             status="ok"),
)

TARGET_PORT_FINDING = Finding(
    check="service-target-port-mismatch",
    severity="error",
    hop="service",
    object="Service default/chatapp-svc",
    message="port 3003 (ws) targets 5003, but the pods declare containerPorts 3000, 3001, 3002 "
            "and nothing listens on 5003",
    explanation="A Service forwards its `port` to the pod's `targetPort`. If no container "
                "listens there, every connection is refused and the Ingress answers 502.",
    fix="In Service default/chatapp-svc set ports[ws].targetPort: 3002 (the containerPort the "
        "app listens on).",
    evidence={"service_port": 3003, "target_port": 5003, "container_ports": [3000, 3001, 3002]},
)

READINESS_FINDING = Finding(
    check="pod-readiness-probe-missing", severity="warning", hop="pod",
    object="Deployment default/chatapp-deployment",
    message="container chatapp has no readinessProbe",
    explanation="Without a readiness probe a pod gets traffic as soon as it starts, before the "
                "app listens: users see 502s during every deploy.",
    fix="Add a readinessProbe (httpGet on the app's health path) to container chatapp.",
)

TIMEOUT_FINDING = Finding(
    check="ingress-websocket-timeout", severity="warning", hop="ingress",
    object="Ingress default/game",
    message="WebSocket route with proxy-read-timeout 60 s (the ingress-nginx default)",
    explanation="ingress-nginx closes a proxied connection when nothing is read for "
                "proxy-read-timeout seconds; an idle WebSocket is dropped every minute.",
    fix="Annotate Ingress default/game with nginx.ingress.kubernetes.io/proxy-read-timeout: "
        "\"3600\" and proxy-send-timeout: \"3600\".",
)


def _ws(via: str, target: str, *, ok: bool, code: int | None, ms: float, detail: str,
        error: str | None = None, response: Sequence[str] = ()) -> ProbeResult:
    extra: dict[str, object] = {
        "request": ["GET /wss HTTP/1.1", "Host: chatapp.com", "Upgrade: websocket",
                    "Connection: Upgrade", "Sec-WebSocket-Version: 13"],
    }
    if response:
        extra["response"] = list(response)
    return ProbeResult(kind="websocket", via=via, target=target, ok=ok, status_code=code,
                       elapsed_ms=ms, detail=detail, error=error, extra=extra)


def _http(via: str, target: str, ms: float) -> ProbeResult:
    return ProbeResult(kind="http", via=via, target=target, ok=True, status_code=200, elapsed_ms=ms,
                       detail="200 OK", extra={"response": ["HTTP/1.1 200 OK",
                                                            "Content-Type: text/html"]})


def _chat_route(path: str, port: int, target_port: int) -> RouteInfo:
    return RouteInfo(ingress="default/chatapp", rule={"host": "chatapp.com", "path": path,
                                                      "pathType": "Prefix"},
                     service="default/chatapp-svc", port=port, target_port=target_port,
                     pods=(CHAT_POD,))


def _broken_hops(idle: float | None) -> tuple[HopResult, ...]:
    ingress_probes = [_ws("ingress-address", "127.0.0.1:8443 (Host chatapp.com)", ok=False, code=502,
                          ms=14.2, detail="502 Bad Gateway from the controller",
                          response=["HTTP/1.1 502 Bad Gateway", "Server: nginx"])]
    if idle:
        ingress_probes.append(ProbeResult(kind="idle", via="ingress-address", target="127.0.0.1:8443",
                                          ok=False, detail="no WebSocket to hold open (handshake failed)",
                                          error="skipped"))
    return (
        HopResult("client", "ok", "wss://chatapp.com/wss is an absolute WebSocket URL",
                  objects=("URL wss://chatapp.com/wss",)),
        HopResult("ingress", "fail", "502 Bad Gateway: the upstream refused the connection",
                  probes=tuple(ingress_probes),
                  objects=("Ingress default/chatapp", "IngressClass nginx")),
        HopResult("service", "fail", "port 3003 → targetPort 5003: connection refused",
                  probes=(_ws("service-proxy", "default/chatapp-svc:3003", ok=False, code=502,
                              ms=9.8, detail="service proxy: error dialing backend",
                              error="dial tcp 10.244.1.17:5003: connect: connection refused"),),
                  objects=("Service default/chatapp-svc",)),
        HopResult("endpoints", "ok", "1 ready endpoint (10.244.1.17:5003)",
                  objects=("EndpointSlice default/chatapp-svc-8k2xq",)),
        HopResult("pod", "ok", "answers 101 on 3002; nothing listens on 5003",
                  probes=(_ws("port-forward", f"{CHAT_POD}:3002", ok=True, code=101, ms=6.4,
                              detail="101 Switching Protocols",
                              response=["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket",
                                        "Connection: Upgrade"]),
                          ProbeResult(kind="tcp", via="port-forward", target=f"{CHAT_POD}:5003",
                                      ok=False, elapsed_ms=3.1, detail="connection refused",
                                      error="failed to connect to localhost:5003 inside the pod")),
                  objects=(f"Pod {CHAT_POD}",)),
    )


def broken_report(idle: float | None = None, headers: dict[str, str] | None = None) -> Report:
    """The chat app's WebSocket route: the Service targets a port nobody listens on."""
    return Report(
        source=SourceInfo(kind="cluster", context="prod-sh", namespace="default"),
        target=TargetInfo(url="wss://chatapp.com/wss", headers=dict(headers or {})),
        route=_chat_route("/wss", 3003, 5003),
        hops=_broken_hops(idle),
        findings=(TARGET_PORT_FINDING, READINESS_FINDING),
        verdict=Verdict(status="fail", hop="service", check="service-target-port-mismatch",
                        summary="Service default/chatapp-svc sends port 3003 to targetPort 5003, "
                                "where nothing listens; the pod answers on 3002."),
        created=CREATED,
    )


def healthy_report(headers: dict[str, str] | None = None) -> Report:
    pods = ("default/shop-web-5f6d7c9b8-abcde", "default/shop-web-5f6d7c9b8-fghij")
    return Report(
        source=SourceInfo(kind="cluster", context="prod-sh", namespace="default"),
        target=TargetInfo(url="https://shop.example.com/", headers=dict(headers or {})),
        route=RouteInfo(ingress="default/shop", rule={"host": "shop.example.com", "path": "/",
                                                      "pathType": "Prefix"},
                        service="default/shop-web", port=80, target_port=8080, pods=pods),
        hops=(
            HopResult("client", "ok", "https://shop.example.com/ is a valid URL"),
            HopResult("ingress", "ok", "200 OK through the controller",
                      probes=(_http("ingress-address", "127.0.0.1:8443 (Host shop.example.com)", 21.3),)),
            HopResult("service", "ok", "200 OK through the service proxy",
                      probes=(_http("service-proxy", "default/shop-web:80", 12.0),)),
            HopResult("endpoints", "ok", "2 ready endpoints"),
            HopResult("pod", "ok", "both pods answer 200",
                      probes=tuple(_http("port-forward", f"{p}:8080", 5.5) for p in pods)),
        ),
        findings=(),
        verdict=Verdict(status="ok", hop=None, check=None,
                        summary="Every hop answers: https://shop.example.com/ works from here."),
        created=CREATED,
    )


def _no_route_report(request: WalkRequest) -> Report:
    finding = Finding(check="ingress-no-rule-matches", severity="error", hop="ingress", object="",
                      message=f"no Ingress rule matches {request.url}",
                      explanation="The controller answers 404 from its default backend when no "
                                  "rule matches the Host header and path.",
                      fix="Add a rule for this host and path, or use the URL of an existing rule.")
    return Report(
        source=SourceInfo(kind="cluster", context="prod-sh", namespace="default"),
        target=TargetInfo(url=request.url, headers=dict(request.headers)),
        hops=(HopResult("client", "ok", "valid URL"),
              HopResult("ingress", "fail", "404 from the default backend")),
        findings=(finding,),
        verdict=Verdict(status="fail", hop="ingress", check="ingress-no-rule-matches",
                        summary=f"No Ingress rule matches {request.url}."),
        created=CREATED,
    )


def _stream(report: Report) -> list[WalkEvent]:
    """The events a walk producing `report` streams: hop by hop, probe by probe."""
    events: list[WalkEvent] = [WalkNote("reading Ingress, Service, EndpointSlices and pods in default")]
    if report.route is not None:
        events.append(RouteResolved(report.route, tuple(f for f in report.findings
                                                         if f.check != "ingress-no-rule-matches")))
    for hop in report.hops or ():
        events.append(HopStarted(hop.hop, f"probing the {hop.hop} hop"))
        for probe in hop.probes:
            events.append(ProbeStarted(hop.hop, probe.kind, probe.via, probe.target))
            events.append(ProbeFinished(hop.hop, probe))
        events.append(HopFinished(hop))
    events.append(WalkFinished(report))
    return events


def walk_events(request: WalkRequest) -> list[WalkEvent]:
    """The scripted walk for `request` (by host and path, whatever the scheme)."""
    where = request.url.split("://", 1)[-1].rstrip("/")
    if where == "chatapp.com/wss":
        return _stream(broken_report(request.idle, dict(request.headers)))
    if where == "shop.example.com":
        return _stream(healthy_report(dict(request.headers)))
    return _stream(_no_route_report(request))


def many_routes(n: int) -> list[RouteRow]:
    """`n` synthetic routes for responsiveness tests (every 1000th one is about `needle`)."""
    rows = []
    for i in range(n):
        host = f"needle-{i}.example.com" if i % 1000 == 7 else f"svc-{i:05d}.apps.example.com"
        rows.append(RouteRow(url=f"https://{host}/", ingress=f"default/ing-{i}", host=host,
                             path="/", path_type="Prefix", service=f"default/svc-{i}:80",
                             pods_ready="1/1", status="ok" if i % 3 else "warn"))
    return rows


@dataclass
class FakeSession:
    """A scripted `Session`. `hold_after=N` blocks the walk after N events until `release()`."""

    routes_list: list[RouteRow] = field(default_factory=lambda: list(ROUTES))
    context: str = "prod-sh"
    namespace: str = "default"
    contexts: tuple[str, ...] = ("prod-sh", "staging")
    namespaces: tuple[str, ...] = ("default", "game")
    delay: float = 0.005
    hold_after: int | None = None
    fail_walk: str | None = None  # raise RuntimeError(fail_walk) in the middle of a walk
    fail_routes: str | None = None
    read_only: bool = False
    requests: list[WalkRequest] = field(default_factory=list)
    closed: bool = False
    cancelled: int = 0

    def __post_init__(self) -> None:
        self.reached = asyncio.Event()
        self._release = asyncio.Event()

    def info(self) -> SessionInfo:
        return SessionInfo(source_kind="cluster", context=self.context, namespace=self.namespace,
                           contexts=self.contexts, namespaces=self.namespaces,
                           read_only=self.read_only)

    async def routes(self) -> list[RouteRow]:
        await asyncio.sleep(self.delay)
        if self.fail_routes:
            raise RuntimeError(self.fail_routes)
        return list(self.routes_list)

    def release(self) -> None:
        self._release.set()

    async def walk(self, request: WalkRequest) -> AsyncIterator[WalkEvent]:
        self.requests.append(request)
        events = walk_events(request)
        try:
            for index, event in enumerate(events):
                if index == self.hold_after:
                    self.reached.set()
                    await self._release.wait()
                if self.fail_walk and index == 4:
                    raise RuntimeError(self.fail_walk)
                await asyncio.sleep(self.delay)
                yield event
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def switch(self, *, context: str | None = None, namespace: str | None = None) -> Session:
        other = replace(self, context=context or self.context, namespace=namespace or self.namespace,
                        requests=[])
        if other.namespace != "default":
            other.routes_list = [r for r in ROUTES if "game" in r.host]
        return other

    async def namespace_note(self) -> str | None:
        if self.namespace in self.namespaces:
            return None
        return f"namespace {self.namespace!r} does not exist in context {self.context}"

    async def close(self) -> None:
        self.closed = True
