"""HTTPRoute (and GRPCRoute) rule matching and precedence (gateway-api `apis/v1/httproute_types.go`).

A match needs all of: path (`Exact`; `PathPrefix` element-wise, trailing `/` ignored;
`RegularExpression` as a full match, implementation-specific), `method`, every header
(`Exact` by value, names case-insensitive, or `RegularExpression`) and every query parameter.
A rule without matches matches `PathPrefix /`. Across all rules of the routes on a listener the
winner has, in order: the most specific matching hostname, an `Exact` path, the longest
`PathPrefix`, a method match, the most header matches, the most query-param matches, then the
oldest route (creationTimestamp), then `namespace/name`; within a route the first rule and match
in list order (dataplane-facts.md §2.1).

GRPCRoute matches (`method.service` / `method.method`, headers) are read as the HTTP/2 path
`/<service>/<method>` they select.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.route.match import spec_prefix_match
from kdiag.route.target import Target
from kdiag.shape import as_list, maps, sub
from kdiag.snapshot import obj_key

__all__ = ["MatchHit", "match_request", "precedence_key", "route_rules", "rule_matches"]

DEFAULT_MATCH: Mapping[str, Any] = {"path": {"type": "PathPrefix", "value": "/"}}


def route_rules(route: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return maps(sub(route, "spec").get("rules"))


def _grpc_as_http(match: Mapping[str, Any]) -> Mapping[str, Any]:
    method = sub(match, "method")
    svc, meth = method.get("service"), method.get("method")
    out: dict[str, Any] = {"headers": match.get("headers") or [], "method": "POST"}
    if svc and meth:
        out["path"] = {"type": "Exact", "value": f"/{svc}/{meth}"}
    elif svc:
        out["path"] = {"type": "PathPrefix", "value": f"/{svc}"}
    elif meth:
        out["path"] = {"type": "RegularExpression", "value": rf"/[^/]+/{re.escape(str(meth))}"}
    else:
        out["path"] = DEFAULT_MATCH["path"]
    return out


def rule_matches(route: Mapping[str, Any], rule: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A rule's matches as HTTP matches (the default `PathPrefix /` when it has none)."""
    ms = maps(rule.get("matches"))
    if route.get("kind") == "GRPCRoute":
        return [_grpc_as_http(m) for m in ms] or [{"method": "POST", **DEFAULT_MATCH}]
    return ms or [DEFAULT_MATCH]


def _path(match: Mapping[str, Any]) -> tuple[str, str]:
    p = sub(match, "path")
    if not p:
        return "PathPrefix", "/"
    return str(p.get("type") or "PathPrefix"), str(p.get("value") or "/")


def _full(pattern: str, text: str) -> bool:
    try:
        return re.fullmatch(pattern, text) is not None
    except re.error:
        return False


def _path_ok(match: Mapping[str, Any], path: str) -> bool:
    ptype, value = _path(match)
    if ptype == "Exact":
        return path == value
    if ptype == "PathPrefix":
        return spec_prefix_match(value, path)
    if ptype == "RegularExpression":
        return _full(value, path)
    return False


def _value_ok(spec: Mapping[str, Any], actual: str | None) -> bool:
    if actual is None:
        return False
    want = str(spec.get("value") or "")
    if str(spec.get("type") or "Exact") == "RegularExpression":
        return _full(want, actual)
    return actual == want


def _query(target: Target) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in urllib.parse.parse_qsl(target.query, keep_blank_values=True):
        out.setdefault(k, v)  # the first value, as most data planes use
    return out


def match_request(match: Mapping[str, Any], target: Target) -> tuple[bool, str]:
    """Whether one match accepts the request, and the first condition that fails."""
    if not _path_ok(match, target.path):
        ptype, value = _path(match)
        return False, f"path {target.path} does not match {ptype} {value}"
    want_method = match.get("method")
    if want_method and str(want_method).upper() != target.method:
        return False, f"method {target.method} is not {str(want_method).upper()}"
    for h in maps(match.get("headers")):
        name = str(h.get("name") or "")
        if not _value_ok(h, target.header(name)):
            got = target.header(name)
            return False, (f"header {name}: {h.get('value')!r} wanted, "
                           + ("not sent" if got is None else f"got {got!r}"))
    query = _query(target)
    for q in maps(match.get("queryParams")):
        name = str(q.get("name") or "")
        if not _value_ok(q, query.get(name)):
            return False, f"query parameter {name}={q.get('value')!r} not in the URL"
    return True, "matches"


def precedence_key(match: Mapping[str, Any], route: Mapping[str, Any], host_rank: tuple[int, int],
                   rule_index: int, match_index: int) -> tuple[Any, ...]:
    """Sort key: the smallest key wins (spec precedence, then age, then name, then order)."""
    ptype, value = _path(match)
    exact = ptype == "Exact"
    prefix_len = len(value.rstrip("/") or "/") if ptype in ("Exact", "PathPrefix") else 0
    md = sub(route, "metadata")
    _, ns, name = obj_key(route)
    return (-host_rank[0], -host_rank[1], not exact, -prefix_len, not match.get("method"),
            -len(as_list(match.get("headers"))), -len(as_list(match.get("queryParams"))),
            str(md.get("creationTimestamp") or "9999"), f"{ns}/{name}", rule_index, match_index)


@dataclass(frozen=True)
class MatchHit:
    """One match of one rule of one route that accepts the request."""

    route: Mapping[str, Any]
    rule_index: int
    match_index: int
    match: Mapping[str, Any]
    hostname: str | None  # the route hostname that matched (None: the route has none)
    key: tuple[Any, ...]

    @property
    def rule(self) -> Mapping[str, Any]:
        return route_rules(self.route)[self.rule_index]

    def describe(self) -> str:
        ptype, value = _path(self.match)
        parts = [f"{ptype} {value}"]
        if self.match.get("method"):
            parts.append(f"method {self.match['method']}")
        for h in maps(self.match.get("headers")):
            parts.append(f"header {h.get('name')}: {h.get('value')}")
        for q in maps(self.match.get("queryParams")):
            parts.append(f"query {q.get('name')}={q.get('value')}")
        return ", ".join(parts)
