"""A read-only `Session` over a saved report: the walk screen replays its hops, no rerun."""

from __future__ import annotations

from collections.abc import AsyncIterator

from kdiag.events import HopFinished, RouteResolved, WalkEvent, WalkFinished
from kdiag.model import Report
from kdiag.session import RouteEvent, RouteRow, RoutesFound, Session, SessionInfo, WalkRequest

__all__ = ["ReportSession", "report_request"]


def report_request(report: Report) -> WalkRequest:
    """The walk request that produced `report` (as far as the report says)."""
    target = report.target
    if target is None:
        return WalkRequest(url="")
    return WalkRequest(url=target.url, headers=dict(target.headers), client_url=target.client_url,
                       page_url=target.page_url)


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
            pods_ready=f"{len(route.pods)}" if route else "",
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

    async def close(self) -> None:
        return None
