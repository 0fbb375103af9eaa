"""What every report format shares: status words, the rows of the Target and Route sections,
probe and finding summaries. Pure functions of a (redacted) Report."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from kdiag.model import Finding, ProbeResult, Report, severity_rank

__all__ = [
    "STATUS_WORD",
    "finding_evidence",
    "finding_message",
    "probe_extra",
    "probe_note",
    "probe_result",
    "route_rows",
    "short",
    "sorted_findings",
    "source_line",
    "target_rows",
    "verdict_line",
]

STATUS_WORD = {"ok": "OK", "warn": "WARN", "fail": "FAIL", "skip": "SKIP"}


def verdict_line(report: Report) -> str:
    v = report.verdict
    where = []
    if v.hop:
        where.append(f"hop {v.hop}")
    if v.check:
        where.append(f"check {v.check}")
    return f"{v.summary}" + (f" ({', '.join(where)})" if where else "")


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
    return line


def route_rows(report: Report) -> list[tuple[str, str]]:
    r = report.route
    if r is None:
        return []
    rows: list[tuple[str, str]] = []
    if r.ingress:
        rows.append(("Ingress", r.ingress))
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
    rows += _route_extra_rows(r.extra)
    return rows


def _route_extra_rows(extra: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The few route facts a reader needs; the JSON report keeps all of them."""
    rows: list[tuple[str, str]] = []
    if extra.get("matched") is False:
        where = extra.get("default_backend")
        via = f" (Ingress {extra['default_backend_ingress']})" if extra.get("default_backend_ingress") else ""
        rows.append(("No rule matched", "the Ingress defaultBackend answers" + via if where == "ingress"
                     else "the controller's default backend answers 404"))
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


def sorted_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; the order within one severity is kept."""
    return sorted(findings, key=lambda f: -severity_rank(f.severity))


def finding_message(f: Finding) -> str:
    """The message without a leading `file:line: ` that is already shown as the location."""
    loc = f.evidence.get("location")
    if loc and f.message.startswith(f"{loc}: "):
        return f.message[len(loc) + 2:]
    return f.message


def finding_evidence(f: Finding) -> dict[str, Any]:
    return {k: v for k, v in f.evidence.items() if k != "location"}
