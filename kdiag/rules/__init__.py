"""Static detection logic for the catalog's checks: pure functions over a Snapshot.

Each rule module registers functions with `@rule(check_id, ...)`. A rule receives a
`RuleContext` and yields `Finding`s built with `ctx.finding(...)`, which fills the explanation and
fix from the catalog entry and the file:line from the snapshot. Rules never do I/O.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.catalog import get_check
from kdiag.model import Finding, Severity
from kdiag.snapshot import Snapshot, obj_ref

__all__ = ["RULES", "RuleContext", "load_rules", "rule", "run_rules"]

RuleFn = Callable[["RuleContext"], Iterable[Finding]]

#: check id -> the rule functions that detect it (a check may have several).
RULES: dict[str, list[RuleFn]] = {}

_MODULES = ("manifest", "ingress", "service", "pod", "client")


def rule(*check_ids: str) -> Callable[[RuleFn], RuleFn]:
    """Register a rule function for one or more check ids (ids must exist in the catalog)."""

    def deco(fn: RuleFn) -> RuleFn:
        for cid in check_ids:
            RULES.setdefault(cid, []).append(fn)
        return fn

    return deco


@dataclass(frozen=True)
class RuleContext:
    """What a rule sees: the snapshot and, for a URL walk, the target (client URL, page URL)."""

    snapshot: Snapshot
    #: For `diagnose`: {"url", "headers", "client_url", "page_url"}; empty for lint.
    target: Mapping[str, Any] = field(default_factory=dict)

    def finding(
        self,
        check_id: str,
        obj: Mapping[str, Any] | str | None,
        message: str,
        *,
        evidence: Mapping[str, Any] | None = None,
        severity: Severity | None = None,
        fix: str | None = None,
    ) -> Finding:
        check = get_check(check_id)
        ev = dict(evidence or {})
        if isinstance(obj, Mapping):
            ref = obj_ref(obj)
            origin = self.snapshot.origin(obj)
            if origin is not None:
                ev.setdefault("location", str(origin))
        else:
            ref = obj or ""
        return Finding(
            check=check_id,
            severity=severity or check.severity,  # type: ignore[arg-type]
            hop=check.hop,
            object=ref,
            message=message,
            explanation=check.explanation,
            fix=fix or check.fix,
            evidence=ev,
        )


def load_rules() -> dict[str, list[RuleFn]]:
    """Import every rule module (registration happens at import)."""
    for name in _MODULES:
        importlib.import_module(f"kdiag.rules.{name}")
    return RULES


def run_rules(ctx: RuleContext, only: Iterable[str] | None = None) -> list[Finding]:
    """Run the registered rules (or only some check ids) and return their findings, deduplicated."""
    load_rules()
    wanted = set(only) if only is not None else None
    out: list[Finding] = []
    seen: set[tuple[str, str, str]] = set()
    done: set[RuleFn] = set()
    for cid, fns in RULES.items():
        if wanted is not None and cid not in wanted:
            continue
        for fn in fns:
            if fn in done:
                continue
            done.add(fn)
            for f in fn(ctx):
                if wanted is not None and f.check not in wanted:
                    continue
                key = (f.check, f.object, f.message)
                if key not in seen:
                    seen.add(key)
                    out.append(f)
    return out
