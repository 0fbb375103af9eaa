"""Static detection logic for the catalog's checks: pure functions over a Snapshot.

Each rule module registers functions with `@rule(check_id, ...)`. A rule receives a
`RuleContext` and yields `Finding`s built with `ctx.finding(...)`, which fills the explanation and
fix from the catalog entry, the subject from the object, and the file:line from the snapshot.
For a URL walk the context carries the request and the route resolved once for it. Rules never
do I/O.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kdiag.errors import UsageError
from kdiag.findings import make_finding, object_subject
from kdiag.model import Finding, ObjectRef, PortRef, RuleRef, Severity, Subject
from kdiag.session import WalkRequest
from kdiag.snapshot import Snapshot, obj_ref

if TYPE_CHECKING:
    from kdiag.route import Resolution

__all__ = ["RULES", "RuleContext", "load_rules", "rule", "run_rules"]

RuleFn = Callable[["RuleContext"], Iterable[Finding]]

#: check id -> the rule functions that detect it (a check may have several).
RULES: dict[str, list[RuleFn]] = {}

_MODULES = ("manifest", "ingress", "gateway", "migration", "service", "service_exposure", "pod", "client",
            "dataplane", "route_kinds")


def rule(*check_ids: str) -> Callable[[RuleFn], RuleFn]:
    """Register a rule function for one or more check ids (ids must exist in the catalog)."""

    def deco(fn: RuleFn) -> RuleFn:
        for cid in check_ids:
            RULES.setdefault(cid, []).append(fn)
        return fn

    return deco


@dataclass(frozen=True)
class RuleContext:
    """What a rule sees: the snapshot and, for a URL walk, the request and its resolved route."""

    snapshot: Snapshot
    #: For `diagnose`: the URL, headers, client URL and page URL; None for lint.
    target: WalkRequest | None = None
    #: The route of `target`, resolved once (None for lint, or when the URL cannot be parsed).
    resolution: Resolution | None = None

    @classmethod
    def for_request(cls, snapshot: Snapshot, request: WalkRequest | None,
                    resolution: Resolution | None = None) -> RuleContext:
        """A context for a request; resolves its route unless the caller already did."""
        if request is not None and resolution is None:
            from kdiag.route import parse_target, resolve_route

            try:
                resolution = resolve_route(snapshot, parse_target(request.url, request.headers, request.method))
            except UsageError:
                resolution = None
        return cls(snapshot, target=request, resolution=resolution)

    def finding(
        self,
        check_id: str,
        obj: Mapping[str, Any] | str | None,
        message: str,
        *,
        evidence: Mapping[str, Any] | None = None,
        severity: Severity | None = None,
        fix: str | None = None,
        port: PortRef | None = None,
        rule: RuleRef | None = None,
    ) -> Finding:
        ev = dict(evidence or {})
        about: ObjectRef | None
        if isinstance(obj, Mapping):
            ref = obj_ref(obj)
            about = object_subject(obj)
            origin = self.snapshot.origin(obj)
            if origin is not None:
                ev.setdefault("location", str(origin))
        else:
            ref = obj or ""
            about = ObjectRef.parse(ref)
        return make_finding(check_id, object=ref, message=message, evidence=ev, severity=severity, fix=fix,
                            subject=Subject(object=about, port=port, rule=rule))


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
