"""What every report format shares: status words, the rows of the Target and Route sections,
probe and finding summaries. Pure functions of a (redacted) Report."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from kdiag.dataplane import ASSUMED_INGRESS_PROFILE, Profile, profile_named
from kdiag.model import Finding, ProbeResult, Report

__all__ = [
    "STATUS_WORD",
    "cut_to_fit",
    "finding_evidence",
    "finding_message",
    "probe_extra",
    "probe_note",
    "probe_result",
    "root_finding",
    "route_line",
    "route_rows",
    "short",
    "source_line",
    "specific_fix",
    "target_rows",
    "verdict_line",
]

STATUS_WORD = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


def cut_to_fit(text: str, fits: Callable[[str], bool], *, mark: str = "…") -> str:
    """`text` when `fits(text)`, else its longest start for which `fits` holds once `mark` is
    appended, cut back to a word (the verdict banner and the short text report shorten a long
    verdict with it)."""
    if fits(text):
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(text[:mid].rstrip() + mark):
            lo = mid
        else:
            hi = mid - 1
    cut = text[:lo]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:") + mark


def verdict_line(report: Report, *, summary: str | None = None) -> str:
    """The verdict's summary (or a shortened `summary`) with its hop and check."""
    v = report.verdict
    where = []
    if v.hop:
        where.append(f"hop {v.hop}")
    if v.check:
        where.append(f"check {v.check}")
    return f"{v.summary if summary is None else summary}" + (f" ({', '.join(where)})" if where else "")


def source_line(report: Report) -> str:
    s = report.source
    parts: list[str] = [s.kind]
    if s.context:
        parts.append(f"context {s.context}")
    if s.namespace:
        parts.append(f"namespace {s.namespace}")
    if s.paths:
        parts.append("paths " + ", ".join(s.paths))
    line = ", ".join(parts)
    stats = report.stats
    if stats:
        line += (f" · {stats.get('api_requests', 0)} API requests, "
                 f"{stats.get('api_bytes', 0) / 1e6:.2f} MB read")
        if stats.get("api_probes"):
            line += f", {stats['api_probes']} probes through the API server"
    return line


def route_rows(report: Report) -> list[tuple[str, str]]:
    r = report.route
    if r is None:
        return []
    rows: list[tuple[str, str]] = []
    if r.ingress:
        rows.append(("Ingress", r.ingress))
    elif r.extra.get("route_object"):  # a data plane's own route kind (HTTPProxy)
        kind, _, name = str(r.extra["route_object"]).partition(" ")
        rows.append((kind, name))
    if r.gateway or r.httproute:
        rows.append(("Gateway", f"{r.gateway or '?'}" + (f" listener {r.listener}" if r.listener else "")))
        rows.append((r.kind, r.httproute or "(none matches)"))
    if len(r.backends) > 1 or any(b.get("problem") for b in r.backends):
        rows.append(("Backends", ", ".join(f"{b.get('service')}:{b.get('port')} weight {b.get('weight')}"
                                           + (f" ({b['problem']})" if b.get("problem") else "") for b in r.backends)))
    if r.rule:
        rule = r.rule
        rows.append(("Rule", " ".join(str(x) for x in (rule.get("host") or "*", rule.get("path") or "",
                                                        f"({rule.get('pathType')})" if rule.get("pathType") else "") if x)))
    canary = r.canary_summary()
    if canary:
        rows.append(("Canary", canary))
    if r.service:
        backend = r.extra.get("backend")
        missing = isinstance(backend, Mapping) and backend.get("service_found") is False
        rows.append(("Service", f"{r.service}" + (f" port {r.port}" if r.port is not None else "")
                     + (" (no such Service)" if missing else "")))
    if r.target_port is not None:
        rows.append(("Target port", str(r.target_port)))
    if r.pods:
        rows.append(("Pods", ", ".join(r.pods)))
    rows += _route_extra_rows(r.extra, r.dataplane)
    return rows


def _data_plane(dataplane: Mapping[str, Any] | None) -> Profile:
    """The route's profile; reports written before profiles existed are ingress-nginx's."""
    name = (dataplane.get("variant") or dataplane.get("profile")) if dataplane else None
    return profile_named(str(name) if name else ASSUMED_INGRESS_PROFILE)


def _route_extra_rows(extra: Mapping[str, Any], dataplane: Mapping[str, Any] | None = None
                      ) -> list[tuple[str, str]]:
    """The few route facts a reader needs; the JSON report keeps all of them."""
    rows: list[tuple[str, str]] = []
    if extra.get("matched") is False:
        where = extra.get("default_backend")
        via = f" (Ingress {extra['default_backend_ingress']})" if extra.get("default_backend_ingress") else ""
        rows.append(("No rule matched", "the Ingress defaultBackend answers" + via if where == "ingress"
                     else _data_plane(dataplane).no_route.detail))
    cls = extra.get("ingress_class")
    if isinstance(cls, Mapping) and cls.get("class"):
        rows.append(("Ingress class", f"{cls['class']} ({cls.get('source')})"
                     + ("" if cls.get("accepted", True) else f": {cls.get('reason')}")))
    backend = extra.get("backend")
    if isinstance(backend, Mapping) and backend.get("service_found"):
        eps = backend.get("endpoints") or []
        ready = sum(1 for e in eps if e.get("ready"))
        rows.append(("Endpoints", f"{ready} of {len(eps)} ready ({backend.get('endpoints_source')})"))
    for note in extra.get("notes") or ():
        rows.append(("Note", str(note)))
    return rows


def target_rows(report: Report) -> list[tuple[str, str]]:
    t = report.target
    if t is None:
        return []
    rows = [("URL", t.url)]
    for name, value in t.headers.items():
        rows.append((f"Header {name}", value))
    if t.client_url:
        rows.append(("Client URL", t.client_url))
    if t.page_url:
        rows.append(("Page URL", t.page_url))
    return rows


def probe_result(p: ProbeResult) -> str:
    bits = []
    if p.status_code is not None:
        bits.append(str(p.status_code))
    if p.elapsed_ms is not None:
        bits.append(f"{p.elapsed_ms:.1f} ms")
    return " ".join(bits)


def probe_note(p: ProbeResult) -> str:
    bits = [b for b in (p.detail, f"error: {p.error}" if p.error else "") if b]
    return "; ".join(bits)


def probe_extra(p: ProbeResult) -> dict[str, Any]:
    return {k: v for k, v in p.extra.items() if v not in (None, "", [], {})}


def short(v: Any, limit: int = 200) -> str:
    s = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def root_finding(report: Report) -> Finding | None:
    """The finding the verdict names as the root cause (reports list it first), if any."""
    i = report.verdict.finding
    return report.findings[i] if i is not None and 0 <= i < len(report.findings) else None


def specific_fix(f: Finding) -> str:
    """The fix written for this finding, without the catalog's general advice appended to it.

    Rules that know the exact change write it first and add the check's general fix after; the
    short views show the exact change only. A fix that is only the catalog's is returned whole.
    """
    from kdiag.catalog import catalog

    check = catalog().get(f.check)
    general = check.fix.strip() if check is not None else ""
    fix = f.fix.strip()
    if general and fix != general and fix.endswith(general):
        return fix[: -len(general)].rstrip()
    return fix


def route_line(report: Report) -> str:
    """The route in one line: URL → Ingress rule → Service port → targetPort → pods."""
    parts: list[str] = [report.target.url] if report.target is not None else []
    r = report.route
    if r is None or not (r.ingress or r.service):
        return " → ".join(parts + ["no route resolved"])
    if r.ingress:
        rule = r.rule or {}
        where = f"{rule.get('host') or '*'}{rule.get('path') or ''}" if rule else ""
        parts.append(f"Ingress {r.ingress}" + (f" ({where})" if where else ""))
    if r.service:
        parts.append(f"Service {r.service}" + (f":{r.port}" if r.port is not None else ""))
    if r.target_port is not None:
        parts.append(f"targetPort {r.target_port}")
    if r.pods:
        backend = r.extra.get("backend")
        eps = backend.get("endpoints") or [] if isinstance(backend, Mapping) else []
        ready = sum(1 for e in eps if isinstance(e, Mapping) and e.get("ready"))
        parts.append(f"{len(r.pods)} pod{'s' if len(r.pods) != 1 else ''}"
                     + (f" ({ready}/{len(eps)} ready)" if eps else ""))
    return " → ".join(parts)


def finding_message(f: Finding) -> str:
    """The message without a leading `file:line: ` that is already shown as the location."""
    loc = f.evidence.get("location")
    if loc and f.message.startswith(f"{loc}: "):
        return f.message[len(loc) + 2:]
    return f.message


def finding_evidence(f: Finding) -> dict[str, Any]:
    return {k: v for k, v in f.evidence.items() if k != "location"}
