"""The TUI's route list: every Ingress rule path as a `RouteRow`, judged by the static checks.

The rules run once per snapshot (`snapshot_findings`); each row keeps the findings about its own
route (`route_findings`, `about_route`). A canary row carries the headers that select it.
"""

from __future__ import annotations

from kdiag.diagnose import route_facts, route_findings, snapshot_findings
from kdiag.errors import KdiagError
from kdiag.pods.readiness import pod_is_ready
from kdiag.route import (
    Resolution,
    RouteEntry,
    ingress_profile,
    list_routes,
    parse_target,
    resolve_route,
)
from kdiag.session import RouteRow, WalkRequest
from kdiag.snapshot import Snapshot
from kdiag.verdict import about_route

__all__ = ["route_rows"]


def route_rows(snapshot: Snapshot) -> list[RouteRow]:
    """Every Ingress rule path as a RouteRow, with a status from the static checks on its route."""
    rows: list[RouteRow] = []
    # The rules run once; each route keeps the findings about its own objects. (Route rows carry
    # no client URL, so no target-dependent finding is lost.)
    found = snapshot_findings(snapshot)
    for entry in list_routes(snapshot):
        url = entry.url
        headers, canary_note = _canary_selector(snapshot, entry) if entry.canary else (dict(entry.headers), "")
        req = WalkRequest(url=url, headers=headers)
        res: Resolution | None
        try:
            target = parse_target(url, headers)
            res = resolve_route(snapshot, target)
            facts = route_facts(snapshot, res, target, live=snapshot.source.kind == "cluster")
            findings = [f for f in route_findings(snapshot, res, req, found=found) if about_route(f, facts)]
        except KdiagError:
            findings = []
            res = None
        errors = [f for f in findings if f.severity == "error"]
        warnings = [f for f in findings if f.severity == "warning"]
        backend = res.backend if res is not None else None
        pods = list(backend.pods) if backend is not None else []
        ready = sum(1 for v in pods if v.pod is not None and pod_is_ready(v.pod))
        important = errors or warnings
        note = important[0] if important else None
        rows.append(RouteRow(
            url=url, ingress=entry.ingress, host=entry.host, path=entry.path, path_type=entry.path_type,
            service=entry.service, pods_ready=f"{ready}/{len(pods)}",
            status="fail" if errors else ("warn" if warnings else "ok"),
            websocket=entry.websocket, note=note.message if note is not None else canary_note,
            headers=headers))
    return rows


def _canary_selector(snapshot: Snapshot, entry: RouteEntry) -> tuple[dict[str, str], str]:
    """The request headers that route to a canary Ingress, and a note describing the canary."""
    ns, _, name = entry.ingress.partition("/")
    ing = snapshot.get("Ingress", ns, name)
    spec = ingress_profile(snapshot, ing).parse_canary(ing) if ing is not None else None
    if spec is None:
        return {}, "canary"
    if spec.by_header:
        value = spec.by_header_value or "always"
        return {spec.by_header: value}, f"canary: requests with header {spec.by_header}: {value}"
    if spec.by_cookie:
        return {"Cookie": f"{spec.by_cookie}=always"}, f"canary: requests with cookie {spec.by_cookie}=always"
    share = spec.weight / spec.effective_weight_total
    return {}, f"canary by weight: {share:.0%} of requests (a walk follows the main backend)"
