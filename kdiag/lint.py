"""`kdiag lint`: every static rule over a snapshot, as a report (no target, route or hops)."""

from __future__ import annotations

from kdiag.findings import order_report, sort_findings
from kdiag.model import Finding, Report, Verdict
from kdiag.rules import RuleContext, run_rules
from kdiag.snapshot import Snapshot

__all__ = ["lint", "lint_verdict"]


def lint_verdict(findings: list[Finding]) -> Verdict:
    """The verdict over sorted findings: the first error (or warning) is the root finding."""
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        where = f"{first.object}: " if first.object and not first.message.startswith(first.object) else ""
        return Verdict("fail", first.hop, first.check, f"{where}{first.message}{more}",
                       finding=findings.index(first))
    if warnings:
        return Verdict("warn", warnings[0].hop, warnings[0].check,
                       f"{len(warnings)} warning{'s' if len(warnings) > 1 else ''}, no errors",
                       finding=findings.index(warnings[0]))
    return Verdict("ok", None, None, "No problems found.")


def lint(snapshot: Snapshot) -> Report:
    findings = sort_findings(list(snapshot.findings) + run_rules(RuleContext(snapshot)))
    return order_report(Report(source=snapshot.source, findings=tuple(findings), verdict=lint_verdict(findings)))
