"""`kdiag lint`: every static rule over a snapshot, as a report (no target, route or hops)."""

from __future__ import annotations

from kdiag.model import Finding, Report, Verdict, severity_rank
from kdiag.rules import RuleContext, run_rules
from kdiag.snapshot import Snapshot

__all__ = ["lint", "lint_verdict", "sort_findings"]


def sort_findings(findings: list[Finding]) -> list[Finding]:
    """Most severe first, then by object and check, so output is stable."""
    return sorted(findings, key=lambda f: (-severity_rank(f.severity), f.object, f.check, f.message))


def lint_verdict(findings: list[Finding]) -> Verdict:
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        return Verdict("fail", first.hop, first.check, f"{first.object}: {first.message}{more}")
    if warnings:
        return Verdict("warn", warnings[0].hop, warnings[0].check,
                       f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''}, no errors")
    return Verdict("ok", None, None, "No problems found.")


def lint(snapshot: Snapshot) -> Report:
    findings = sort_findings(list(snapshot.findings) + run_rules(RuleContext(snapshot)))
    return Report(source=snapshot.source, findings=tuple(findings), verdict=lint_verdict(findings))
