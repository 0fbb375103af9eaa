"""Building findings from the catalog, ordering them, and telling which route they are about.

Every finding kdiag reports is built by `make_finding`: the check's catalog entry gives its hop,
severity, explanation and fix; the caller gives what it saw (object, message, evidence) and the
structured `Subject` (object, Service port, Ingress rule) the finding is about.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from kdiag.catalog import get_check
from kdiag.model import (
    Finding,
    ObjectRef,
    PortRef,
    Report,
    Severity,
    Subject,
    Verdict,
    severity_rank,
)
from kdiag.snapshot import obj_key

__all__ = [
    "HOP_SEQUENCE",
    "make_finding",
    "names_route_port",
    "object_subject",
    "on_route",
    "order_findings",
    "order_report",
    "sort_findings",
]

# The hops a request crosses, client first; findings of other hops (manifest, source) come after.
HOP_SEQUENCE = ("client", "edge", "ingress", "gateway", "service", "endpoints", "pod")


def object_subject(obj: Mapping[str, Any]) -> ObjectRef:
    """The ObjectRef of a Kubernetes object (namespace None when cluster-scoped), as `obj_ref` names it."""
    kind, ns, name = obj_key(obj)
    return ObjectRef(kind, ns or None, name)


def make_finding(
    check_id: str,
    *,
    object: str,  # noqa: A002 - the contract's name for it
    message: str,
    evidence: Mapping[str, Any] | None = None,
    subject: Subject | None = None,
    hop: str | None = None,
    severity: Severity | None = None,
    fix: str | None = None,
    explanation: str | None = None,
) -> Finding:
    """A finding of a catalog check; hop, severity, explanation and fix default to the catalog's.

    Without a `subject`, the finding is about the object its `object` text names.
    """
    check = get_check(check_id)
    return Finding(
        check=check_id,
        severity=severity or check.severity,  # type: ignore[arg-type]
        hop=hop or check.hop,
        object=object,
        message=message,
        explanation=explanation or check.explanation,
        fix=fix or check.fix,
        evidence=dict(evidence or {}),
        subject=subject if subject is not None else Subject(object=ObjectRef.parse(object)),
    )


def sort_findings(findings: Sequence[Finding]) -> list[Finding]:
    """Most severe first, then by object and check, so output is stable."""
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), f.object, f.check, f.message))


def order_findings(findings: Sequence[Finding], verdict: Verdict) -> tuple[list[Finding], Verdict]:
    """The order every report shows findings in, and the verdict pointing into it.

    The verdict's root finding first; then by hop, from the verdict's hop outward (nearer hops
    first; at equal distance the one nearer the client); then most severe first. Findings of
    hops off the request path (manifest, source) follow; ties keep their order, so the result
    is stable and ordering an ordered list changes nothing.
    """
    root = verdict.finding if verdict.finding is not None and 0 <= verdict.finding < len(findings) else None
    centre = HOP_SEQUENCE.index(verdict.hop) if verdict.hop in HOP_SEQUENCE else None

    def hop_key(hop: str) -> tuple[int, int]:
        if centre is None:  # no broken hop (lint, a healthy walk): severity decides
            return (0, 0)
        if hop not in HOP_SEQUENCE:
            return (len(HOP_SEQUENCE) + 1, 0)
        at = HOP_SEQUENCE.index(hop)
        return (abs(at - centre), at)

    keyed = sorted(range(len(findings)), key=lambda i: (
        i != root, hop_key(findings[i].hop), -severity_rank(findings[i].severity), i))
    ordered = [findings[i] for i in keyed]
    return ordered, replace(verdict, finding=None if root is None else keyed.index(root))


def order_report(report: Report) -> Report:
    """The report with its findings in `order_findings` order (verdict.finding kept pointing at the root)."""
    ordered, verdict = order_findings(report.findings, report.verdict)
    if tuple(ordered) == report.findings and verdict == report.verdict:
        return report
    return replace(report, findings=tuple(ordered), verdict=verdict)


def on_route(subject: Subject, *, port: int | str | None, rule: str | None) -> bool:
    """False when the subject names another Service port or another Ingress rule than the route's.

    `rule` is the route's rule as `RuleRef.where` names it ("chatapp.com/wss"): rules compare by
    host and path, not Ingress (a canary Ingress serves the same rule as its main one).
    """
    if subject.port is not None and subject.port.port is not None and port is not None \
            and port not in (subject.port.port, subject.port.name):
        return False
    return subject.rule is None or rule is None or subject.rule.where == rule


def names_route_port(subject: Subject, *, port: int | str | None) -> bool:
    """True when the subject is about exactly this Service port (its number or its name)."""
    p: PortRef | None = subject.port
    return p is not None and port is not None and port in (p.port, p.name)
