"""A read-only `Session` over a saved report: the walk screen replays its hops, no rerun."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from kdiag.events import HopFinished, RouteResolved, WalkEvent, WalkFinished
from kdiag.model import Report
from kdiag.session import RouteEvent, RouteRow, RoutesFound, Session, SessionInfo, WalkRequest

__all__ = ["ReportSession", "ready_count", "report_request"]


def report_request(report: Report) -> WalkRequest:
    """The walk request that produced `report` (as far as the report says)."""
    target = report.target
    if target is None:
        return WalkRequest(url="")
    return WalkRequest(url=target.url, headers=dict(target.headers), client_url=target.client_url,
                       page_url=target.page_url)


def ready_count(report: Report) -> str:
    """`ready/total` pods of the route, as the live route list shows it ("2/2", "0/2").

    Readiness comes from the endpoints the report recorded; a report without them (manifests)
    says `?/2`.
    """
    route = report.route
    if route is None:
        return ""
    backend = route.extra.get("backend")
    endpoints = backend.get("endpoints") if isinstance(backend, Mapping) else None
    total = len(route.pods)
    if not isinstance(endpoints, list) or (not endpoints and report.source.kind != "cluster"):
        return f"?/{total}"
    ready = {str(e.get("pod")) for e in endpoints if isinstance(e, Mapping) and e.get("ready")}
    names = {p.removeprefix("Pod ") for p in route.pods}
    return f"{len(ready & names)}/{total}"


class ReportSession:
    """Serves one saved report. `walk()` replays it whatever the request."""

    def __init__(self, report: Report) -> None:
        self.report = report

    def info(self) -> SessionInfo:
        src = self.report.source
        return SessionInfo(source_kind="report", context=src.context, namespace=src.namespace,
                           title=f"saved report {self.report.created}".strip(), read_only=True)

    async def routes(self) -> list[RouteRow]:
        report = self.report
        if report.target is None:
            return []
        route = report.route
        rule = dict(route.rule or {}) if route else {}
        service = ""
        if route and route.service:
            service = f"{route.service}:{route.port}" if route.port is not None else route.service
        return [RouteRow(
            url=report.target.url,
            ingress=(route.ingress or "") if route else "",
            host=str(rule.get("host") or ""),
            path=str(rule.get("path") or ""),
            path_type=str(rule.get("pathType") or ""),
            service=service,
            pods_ready=ready_count(report),
            status=report.verdict.status,
            websocket=report.target.url.startswith(("ws://", "wss://")),
            note=report.verdict.summary,
        )]

    async def routes_stream(self) -> AsyncIterator[RouteEvent]:
        yield RoutesFound(tuple(await self.routes()))

    async def walk(self, request: WalkRequest) -> AsyncIterator[WalkEvent]:
        report = self.report
        if report.route is not None:
            yield RouteResolved(route=report.route, findings=report.findings)
        for hop in report.hops or ():
            yield HopFinished(result=hop)
        yield WalkFinished(report=report)

    async def switch(self, *, context: str | None = None, namespace: str | None = None) -> Session:
        return self

    async def namespace_note(self) -> str | None:
        return None  # a saved report reads no cluster

    async def close(self) -> None:
        return None
