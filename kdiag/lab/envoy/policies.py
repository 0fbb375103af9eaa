"""What Envoy Gateway programs into Envoy from its policy CRDs, for the lab's Envoy emulation.

Sources (gateway-controllers-facts.md "Envoy Gateway"; envoyproxy/gateway @ d32f2829, read with the
`fetch` tool: api/v1alpha1/timeout_types.go, internal/xds/translator/route.go):
- ClientTrafficPolicy `spec.timeout.http.streamIdleTimeout` → the listener's HCM
  `stream_idle_timeout` (Envoy's default 5 min when unset);
- BackendTrafficPolicy `spec.timeout.http.requestTimeout` → the route `timeout` unless the
  HTTPRoute rule sets `timeouts.request`, which takes precedence (getEffectiveRequestTimeout);
- the route `idle_timeout` (idleTimeout()): the BackendTrafficPolicy's `streamIdleTimeout`; else
  none when a ClientTrafficPolicy sets the listener's; else max(1 h, request timeout) when a
  request timeout is set (0 when it is "0s"); else none (the HCM's applies).

The lab's data plane has one listener, so a ClientTrafficPolicy that targets any Gateway of the
objects applies. BackendTrafficPolicies target an HTTPRoute (a rule with `sectionName`) or a
Gateway; the route's wins. `targetSelectors` and `mergeType` are not emulated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["EgPolicies", "RuleTimeouts"]


def _md(o: Mapping[str, Any]) -> Mapping[str, Any]:
    return o.get("metadata") or {}


def _ns(o: Mapping[str, Any]) -> str:
    return str(_md(o).get("namespace") or "default")


def _http(policy: Mapping[str, Any]) -> Mapping[str, Any]:
    return ((policy.get("spec") or {}).get("timeout") or {}).get("http") or {}


def _targets(policy: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    spec = policy.get("spec") or {}
    return list(spec.get("targetRefs") or ()) + ([spec["targetRef"]] if spec.get("targetRef") else [])


@dataclass(frozen=True)
class RuleTimeouts:
    """The route `timeout` (None: the flavor's default) and `idle_timeout` (None: the HCM's) of one rule."""

    timeout: float | None
    idle_timeout: float | None
    why: str = ""


class EgPolicies:
    """Envoy Gateway's policies among `objects`, parsed with `parse` (a duration → seconds or None)."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], parse: Any) -> None:
        objs = list(objects)
        self._parse = parse
        self.ctps = [o for o in objs if o.get("kind") == "ClientTrafficPolicy"]
        self.btps = [o for o in objs if o.get("kind") == "BackendTrafficPolicy"]

    def stream_idle_timeout(self) -> tuple[float, str] | None:
        """The HCM stream idle timeout a ClientTrafficPolicy on a Gateway sets (seconds, which policy)."""
        for p in sorted(self.ctps, key=lambda p: str(_md(p).get("creationTimestamp") or "")):
            if any(t.get("kind") == "Gateway" for t in _targets(p)):
                value = self._parse(_http(p).get("streamIdleTimeout"))
                if value is not None:
                    return value, f"ClientTrafficPolicy {_ns(p)}/{_md(p).get('name')}"
        return None

    def _btp(self, route: Mapping[str, Any], rule: Mapping[str, Any]) -> Mapping[str, Any] | None:
        def targets(p: Mapping[str, Any], kind: str, name: Any, section: Any = None) -> bool:
            return any(t.get("kind") == kind and t.get("name") == name
                       and (not t.get("sectionName") or t.get("sectionName") == section) for t in _targets(p))

        mine = [p for p in self.btps if _ns(p) == _ns(route)
                and targets(p, "HTTPRoute", _md(route).get("name"), rule.get("name"))]
        gateways = {(str(ref.get("namespace") or _ns(route)), ref.get("name"))
                    for ref in (route.get("spec") or {}).get("parentRefs") or ()}
        theirs = [p for p in self.btps if any(targets(p, "Gateway", n) for ns, n in gateways if ns == _ns(p))]
        ordered = sorted(mine, key=lambda p: str(_md(p).get("creationTimestamp") or "")) or \
            sorted(theirs, key=lambda p: str(_md(p).get("creationTimestamp") or ""))
        return ordered[0] if ordered else None

    def rule(self, route: Mapping[str, Any], rule: Mapping[str, Any]) -> RuleTimeouts:
        """The route timeout and idle timeout EG programs for one HTTPRoute rule."""
        btp = self._btp(route, rule)
        http = _http(btp) if btp is not None else {}
        request = self._parse((rule.get("timeouts") or {}).get("request"))
        why = "HTTPRoute timeouts.request" if request is not None else ""
        if request is None and http.get("requestTimeout") is not None:
            request = self._parse(http.get("requestTimeout"))
            why = f"BackendTrafficPolicy {_ns(btp or {})}/{_md(btp or {}).get('name')} requestTimeout"
        route_idle = self._parse(http.get("streamIdleTimeout"))
        if route_idle is not None:
            return RuleTimeouts(request, route_idle, why)
        if self.stream_idle_timeout() is not None:
            return RuleTimeouts(request, None, why)
        if request is not None:
            return RuleTimeouts(request, 0.0 if request == 0 else max(3600.0, request), why)
        return RuleTimeouts(None, None, why)
