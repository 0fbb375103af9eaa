"""The choice between a main backend and its canary (ingress-nginx balancer.lua order)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from kdiag.dataplane import CanarySpec
from kdiag.route.target import Target

__all__ = ["CanaryDecision", "canary_decide"]


@dataclass(frozen=True)
class CanaryDecision:
    """The choice between a main backend and its canary (ingress-nginx balancer.lua order)."""

    ingress: str  # the canary Ingress "ns/name"
    chosen: bool  # the request goes to the canary
    rule: str  # header | header-value | header-pattern | cookie | weight | none
    reason: str
    probabilistic: bool = False
    probability: float | None = None  # of going to the canary, for a weight
    spec: CanarySpec | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ingress": self.ingress, "chosen": self.chosen, "rule": self.rule,
                             "reason": self.reason, "probabilistic": self.probabilistic,
                             "probability": self.probability}
        if self.spec is not None:
            d["annotations"] = self.spec.to_dict()
        return d


def canary_decide(spec: CanarySpec, target: Target, ref: str) -> CanaryDecision:
    """balancer.lua `route_to_alternative_balancer`: header, then cookie, then weight."""
    if spec.by_header:
        value = target.header(spec.by_header)
        if value is not None:
            if spec.by_header_value:
                if value == spec.by_header_value:
                    return CanaryDecision(ref, True, "header-value",
                                          f"header {spec.by_header}: {value} equals canary-by-header-value", spec=spec)
            elif spec.by_header_pattern:
                try:
                    hit = re.search(spec.by_header_pattern, value) is not None
                except re.error:
                    return CanaryDecision(ref, False, "header-pattern",
                                          f"canary-by-header-pattern {spec.by_header_pattern!r} is not a valid regex: "
                                          "counted as no match", spec=spec)
                if hit:
                    return CanaryDecision(ref, True, "header-pattern",
                                          f"header {spec.by_header}: {value} matches {spec.by_header_pattern!r}", spec=spec)
            elif value == "always":
                return CanaryDecision(ref, True, "header", f"header {spec.by_header}: always", spec=spec)
            elif value == "never":
                return CanaryDecision(ref, False, "header", f"header {spec.by_header}: never", spec=spec)
    if spec.by_cookie:
        value = target.cookie(spec.by_cookie)
        if value == "always":
            return CanaryDecision(ref, True, "cookie", f"cookie {spec.by_cookie}=always", spec=spec)
        if value == "never":
            return CanaryDecision(ref, False, "cookie", f"cookie {spec.by_cookie}=never", spec=spec)
    total = spec.effective_weight_total
    note = (f" (canary-weight-total {spec.weight_total} is below 100: the controller uses 100)"
            if spec.weight_total < 100 else "")
    if spec.weight <= 0:
        reason = "no canary header/cookie rule applies and canary-weight is 0" + note
        return CanaryDecision(ref, False, "none" if not spec.weight else "weight", reason,
                              probability=0.0, spec=spec)
    if spec.weight >= total:
        return CanaryDecision(ref, True, "weight", f"canary-weight {spec.weight} of {total}: always" + note,
                              probability=1.0, spec=spec)
    p = spec.weight / total
    return CanaryDecision(
        ref, False, "weight",
        f"canary-weight {spec.weight} of {total}: {p:.0%} of requests go to the canary at random; "
        "showing the main backend" + note,
        probabilistic=True, probability=p, spec=spec)
