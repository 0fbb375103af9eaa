"""Differential diagnosis: compare the hops bottom-up and name the one that breaks the request.

Pure: takes what the route says (`RouteFacts`), what the probes saw at each hop (`HopProbes`)
and the static findings, and returns the hop results, the final findings and the verdict.

The rule: the pod is asked first. If the pod fails, the pod (or what routes to it) is the
cause; if it works but the Service path fails, the Service is; if the Service works but the
Ingress fails, the Ingress is; if every hop works, the client is looked at. A static suspicion on
a hop whose probes succeed is not called an error (it is lowered to a warning and marked
unconfirmed); a probe failure confirms the static finding that explains it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from kdiag.catalog import explainers, probe_refutable
from kdiag.findings import make_finding, on_route, sort_findings
from kdiag.model import (
    Finding,
    HopResult,
    ObjectRef,
    PortRef,
    ProbeResult,
    RuleRef,
    Severity,
    Subject,
    Verdict,
)
from kdiag.outcomes import ErrorKind

__all__ = ["HopProbes", "RouteFacts", "about_route", "judge", "judge_static", "probe_sentence"]

#: Hops from the bottom (the pod) up; the verdict goes to the lowest failing hop.
#: `ingress` stands for the route's entry hop: `gateway` on a Gateway API route (`_hops`).
BOTTOM_UP = ("pod", "endpoints", "service", "ingress", "edge", "client")
TOP_DOWN = ("client", "edge", "ingress", "service", "endpoints", "pod")
#: Without probes, the server side is judged on the way in; the client only when it is clean.
STATIC_ORDER = ("ingress", "service", "endpoints", "pod", "client")


def _hops(order: tuple[str, ...], facts: RouteFacts) -> tuple[str, ...]:
    """An order with the route's entry hop (`ingress` or `gateway`) in place of `ingress`, and the
    `edge` hop above it only when the walk reached the data plane both ways (`RouteFacts.edge`)."""
    return tuple(facts.entry_hop if h == "ingress" else h for h in order if h != "edge" or facts.edge)

@dataclass(frozen=True)
class RouteFacts:
    """What the resolved route says, reduced to what the judge needs."""

    websocket: bool = False
    tls: bool = False
    rule_matched: bool = True
    ingress: str | None = None
    service: str | None = None  # "ns/name" when the Service exists
    service_readable: bool = True  # False: the Service may exist, but reading it was refused
    service_port: str | None = None  # "3003 → targetPort 5003"
    port: int | None = None  # the Service port number the route uses
    rule: str | None = None  # the matched Ingress rule, as `RuleRef.where` names it: "chatapp.com/wss"
    pods_total: int = 0
    pods_ready: int = 0
    endpoints_ready: int | None = None  # None = unknown (not readable / manifests)
    endpoints_total: int | None = None
    objects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    entry_hop: str = "ingress"  # "gateway" for a Gateway API route
    #: The walk reached the data plane through the published address and through its pod (`edge` hop).
    edge: bool = False
    #: Configured idle timeouts per layer (`kdiag.layers.LayerTimeout`), to attribute idle cuts.
    layer_timeouts: tuple[Any, ...] = ()
    #: The entry proxy is told to speak TLS to the backend (None: not known).
    backend_tls: bool | None = None
    #: `externalTrafficPolicy: Local`: addresses of nodes without a ready pod (None: not Local).
    etp_local_nodes: tuple[str, ...] | None = None
    #: The data plane's own Service is `externalTrafficPolicy: Local` with nodes that run no ready
    #: data-plane pod (`kdiag.edge_hop.edge_local_policy`; None: not the case).
    edge_local_policy: Mapping[str, Any] | None = None
    #: The route's Service is `type: ExternalName` for this DNS name: it has no endpoints by design.
    external_name: str | None = None


@dataclass(frozen=True)
class HopProbes:
    """What was probed at one hop."""

    primary: tuple[ProbeResult, ...] = ()  # the request itself (http / websocket), per vantage or pod
    tls: tuple[ProbeResult, ...] = ()
    idle: tuple[ProbeResult, ...] = ()
    #: Pod only: probes on the containerPorts the pods declare, when the Service targets another.
    confirm: tuple[ProbeResult, ...] = ()
    #: Reachability of an exposed address (a NodePort) before the request went another way.
    reach: tuple[ProbeResult, ...] = ()
    skipped: str | None = None  # why the hop was not probed
    #: Socket.IO / Engine.IO stickiness probes (`kdiag.probes.socketio`).
    session: tuple[ProbeResult, ...] = ()

    @property
    def probes(self) -> tuple[ProbeResult, ...]:
        return self.reach + self.primary + self.tls + self.idle + self.confirm + self.session


def _any_ok(probes: Iterable[ProbeResult]) -> bool:
    return any(p.ok for p in probes)


def _all_failed(probes: Sequence[ProbeResult]) -> bool:
    return bool(probes) and not any(p.ok for p in probes)


def probe_sentence(p: ProbeResult) -> str:
    """One line about a probe: what answered, how it was reached, how long it took."""
    took = f" in {p.elapsed_ms:.0f} ms" if p.elapsed_ms is not None else ""
    what = p.detail or (f"HTTP {p.status_code}" if p.status_code else (p.error or ("ok" if p.ok else "failed")))
    return f"{what} (via {p.via}{took})"


def _finding(facts: RouteFacts, check: str, hop: str, obj: str, message: str, evidence: Mapping[str, Any],
             severity: Severity | None = None) -> Finding:
    """A probe finding: about this route (its Ingress rule, or its Service port below the Ingress)."""
    subject = Subject(object=ObjectRef.parse(obj),
                      port=PortRef(port=facts.port) if facts.port is not None and hop not in ("ingress", "gateway", "edge") else None,
                      rule=_rule_ref(facts) if hop == "ingress" else None)
    return make_finding(check, object=obj, message=message, evidence=evidence, subject=subject, hop=hop,
                        severity=severity)


def _rule_ref(facts: RouteFacts) -> RuleRef | None:
    if facts.rule is None:
        return None
    host, _, path = facts.rule.partition("/")
    return RuleRef(ingress=facts.ingress, host="" if host == "*" else host, path=f"/{path}")


def _probe_evidence(p: ProbeResult) -> dict[str, Any]:
    return {"probe": p.to_dict()}


def _is_refused(p: ProbeResult) -> bool:
    return p.error_kind == ErrorKind.REFUSED


def _is_timeout(p: ProbeResult) -> bool:
    return p.error_kind == ErrorKind.TIMEOUT


def _pod_probe_findings(facts: RouteFacts, hp: HopProbes) -> list[Finding]:
    out: list[Finding] = []
    if not _all_failed(hp.primary) or _any_ok(hp.confirm):
        return out
    p = hp.primary[0]
    obj = p.extra.get("pod") or (facts.objects.get("pod") or ("",))[0]
    obj = obj if str(obj).startswith("Pod ") or not obj else f"Pod {obj}"
    if _is_refused(p):
        out.append(_finding(facts, "pod-port-not-listening", "pod", str(obj),
                            f"Nothing listens on {p.target}: {p.error or p.detail}.", _probe_evidence(p)))
    elif p.kind == "websocket" and p.status_code is not None and p.status_code != 101:
        out.append(_finding(facts, "pod-websocket-rejected", "pod", str(obj),
                            f"The pod itself answers the WebSocket handshake with {p.status_code} instead of 101.",
                            _probe_evidence(p)))
    elif (p.status_code or 0) >= 500 or _is_timeout(p):
        what = f"answers {p.status_code}" if p.status_code else f"did not answer ({p.error})"
        out.append(_finding(facts, "pod-http-error", "pod", str(obj), f"The pod itself {what} on {p.target}.",
                            _probe_evidence(p)))
    return out


def _idle_findings(facts: RouteFacts, probes: Mapping[str, HopProbes]) -> list[Finding]:
    """An idle WebSocket cut at a hop while it stays open at the hop below (`kdiag.verdict_edge`)."""
    from kdiag.verdict_edge import idle_findings

    return idle_findings(facts, probes)


def _reach_findings(facts: RouteFacts, probes: Mapping[str, HopProbes]) -> list[Finding]:
    """A Service NodePort that does not answer from here (the Service was probed another way)."""
    svc = probes.get("service")
    bad = [p for p in (svc.reach if svc else ()) if not p.ok]
    if not bad:
        return []
    p = bad[0]
    worked = svc is not None and _any_ok(svc.primary)
    tail = (" The Service itself answers through the API server's proxy, so the NodePort path (firewall, "
            "externalTrafficPolicy: Local, kube-proxy) is what fails." if worked else "")
    from kdiag.verdict_edge import reach_check

    check = reach_check(facts, p)
    if check != "service-nodeport-unreachable":
        tail += " The Service has externalTrafficPolicy: Local and this node runs no ready pod of it."
    return [_finding(facts, check, "service", f"Service {facts.service}" if facts.service else "",
                     f"The NodePort {p.target} does not answer from here: {p.error or p.detail}.{tail}",
                     _probe_evidence(p), severity="warning" if worked else None)]


def _ingress_probe_findings(facts: RouteFacts, probes: Mapping[str, HopProbes],
                            static: Sequence[Finding]) -> list[Finding]:
    out: list[Finding] = []
    ing = probes.get("ingress")
    if ing is None or facts.entry_hop != "ingress":
        return out
    obj = f"Ingress {facts.ingress}" if facts.ingress else ""
    for t in ing.tls:
        if not t.ok:
            out.append(_finding(facts, "ingress-tls-certificate-mismatch", "ingress", obj,
                                f"The certificate served for this host is not valid for it: {t.detail or t.error}.",
                                _probe_evidence(t)))
            break
    if not _all_failed(ing.primary):
        return out
    p = ing.primary[0]
    lower_101 = any(
        q.ok and q.status_code == 101
        for hop in ("service", "pod")
        for q in (probes.get(hop) or HopProbes()).primary
    )
    if facts.websocket and lower_101 and p.status_code not in (None, 404, 502, 503, 504):
        out.append(_finding(facts, "ingress-upgrade-not-forwarded", "ingress", obj,
                            f"The Service and the pod answer 101, but through the Ingress the handshake gets "
                            f"{p.status_code}: the Upgrade header does not reach the backend.",
                            _probe_evidence(p)))
    elif p.status_code is None and p.error_kind in (ErrorKind.REFUSED, ErrorKind.DNS) and not any(
            f.check == "ingress-no-address" for f in static):
        out.append(_finding(facts, "ingress-no-address", "ingress", obj,  # confirmed: an error
                            f"No ingress controller answered for this host: {p.error or p.detail}.",
                            _probe_evidence(p), severity="error"))
    return out


#: The catalog check for a hop whose probe failed in a way no specific check explains.
PROBE_FAILED = {"edge": "edge-probe-failed", "ingress": "ingress-probe-failed", "gateway": "gateway-probe-failed",
                "service": "service-probe-failed", "pod": "pod-probe-failed"}


def _unexplained_failure(hops: Sequence[HopResult], probes: Mapping[str, HopProbes],
                         findings: Sequence[Finding], facts: RouteFacts) -> list[Finding]:
    """A finding for the lowest failing hop when its probe failed and no error finding explains
    it (the peer closed without answering, a reset, a reply that is not HTTP ...): every failed
    hop yields a finding, and the exit code follows."""
    status = {h.hop: h.status for h in hops}
    for hop in _hops(BOTTOM_UP, facts):
        if status.get(hop) != "fail":
            continue
        hp = probes.get(hop)
        if hop not in PROBE_FAILED or hp is None or not _all_failed(hp.primary):
            return []
        wanted = set(explainers(hop))
        if any(f.severity == "error" and f.check in wanted for f in findings):
            return []
        p = hp.primary[0]
        obj = str(p.extra.get("pod") or "") if hop == "pod" else ""
        obj = f"Pod {obj}" if obj else (facts.objects.get(hop) or ("",))[0]
        how = p.error or p.detail or (f"HTTP {p.status_code}" if p.status_code else "failed")
        return [_finding(facts, PROBE_FAILED[hop], hop, obj,
                         f"The request to the {hop} hop failed ({how}) and no specific check explains why.",
                         _probe_evidence(p), severity="error")]
    return []


def about_route(f: Finding, facts: RouteFacts) -> bool:
    """False for a finding about another Ingress rule or Service port than this route's."""
    return on_route(f.about, port=facts.port, rule=facts.rule)


def _confirm_static(static: Sequence[Finding], hop_ok: Mapping[str, bool | None],
                    probes: Mapping[str, HopProbes], facts: RouteFacts) -> list[Finding]:
    """Raise probe-confirmed suspicions with evidence; lower refuted ones to warnings."""
    out: list[Finding] = []
    pod = probes.get("pod") or HopProbes()
    for f in static:
        if f.check in probe_refutable() and about_route(f, facts):
            ok = hop_ok.get(f.hop)
            confirmed = ok is False and (_all_failed(pod.primary) or not pod.primary)
            if confirmed:
                ev = dict(f.evidence)
                svc = (probes.get("service") or HopProbes()).primary
                if svc:
                    ev["service_probe"] = svc[0].to_dict()
                if pod.primary:
                    ev["pod_probe"] = pod.primary[0].to_dict()
                good = [p for p in pod.confirm if p.ok]
                if good:
                    ev["pod_probe_declared_port"] = good[0].to_dict()
                    ev["confirmed"] = (f"nothing answers on the targetPort, but the container answers on its "
                                       f"declared port ({good[0].target})")
                else:
                    ev["confirmed"] = "the probe through the Service failed"
                f = replace(f, severity="error", evidence=ev)
            elif ok is True and f.severity == "error":
                ev = dict(f.evidence)
                ev["unconfirmed"] = "the probe through this hop succeeded, so this is not what breaks the request"
                f = replace(f, severity="warning", evidence=ev)
        out.append(f)
    return out


def _route_first(findings: Iterable[Finding], facts: RouteFacts) -> list[Finding]:
    return sorted(findings, key=lambda f: not about_route(f, facts))


def _hop_status(hop: str, hp: HopProbes | None, findings: Sequence[Finding], facts: RouteFacts) -> tuple[str, str]:
    # an error about another rule or port of the same objects does not fail this route's hop
    errors = [f for f in findings if f.hop == hop and f.severity == "error" and about_route(f, facts)]
    warnings = _route_first((f for f in findings if f.hop == hop and f.severity == "warning"), facts)
    probes = hp.primary if hp else ()
    if hop == "endpoints":
        if facts.external_name is not None and not errors:
            return "skip", "An ExternalName Service has no endpoints: it stands for a DNS name, not for pods."
        if facts.endpoints_ready is None:
            return ("skip" if not errors else "fail"), errors[0].message if errors else _no_endpoints_why(facts)
        if facts.endpoints_total == 0:
            return "fail", "The Service has no endpoints."
        if facts.endpoints_ready == 0:
            return "fail", f"None of the {facts.endpoints_total} endpoints is ready."
        return ("warn" if warnings else "ok"), f"{facts.endpoints_ready} of {facts.endpoints_total} endpoints ready."
    if hp is not None and hp.skipped and not probes and not errors:
        return "skip", hp.skipped
    failed_probe = _all_failed(probes)
    idle_closed = hp is not None and any(not p.ok for p in hp.idle)
    tls_bad = hp is not None and any(not p.ok for p in hp.tls)
    if hop == "pod" and failed_probe and hp is not None and _any_ok(hp.confirm):
        good = next(p for p in hp.confirm if p.ok)
        return "warn", (f"Nothing answers on the port the Service targets ({probes[0].target}); the container "
                        f"answers on its declared port: {probe_sentence(good)}.")
    if errors or failed_probe or tls_bad or (idle_closed and any(f.check == "websocket-idle-disconnect"
                                                                 and f.hop == hop for f in findings)):
        if failed_probe:
            return "fail", probe_sentence(probes[0])
        if errors:
            return "fail", errors[0].message
        bad = next(p for p in (hp.tls + hp.idle) if not p.ok) if hp else None
        return "fail", probe_sentence(bad) if bad else "failed"
    if probes:
        ok = next(p for p in probes if p.ok)
        return ("warn" if warnings else "ok"), probe_sentence(ok)
    if warnings:
        return "warn", warnings[0].message
    return "ok", "No problem found here."


def _no_endpoints_why(facts: RouteFacts) -> str:
    """Why the endpoints hop has nothing to show: no Service at all, or they could not be read."""
    if facts.service is None:
        if not facts.service_readable:
            return "The Service could not be read, so neither could its Endpoints."
        return "No Service on this route, so there are no Endpoints to read."
    return "Endpoints could not be read."


def _pick_verdict(hops: Sequence[HopResult], findings: Sequence[Finding], facts: RouteFacts) -> Verdict:
    status = {h.hop: h.status for h in hops}
    # Findings about this route's own Service port first.
    errors = _route_first((f for f in findings if f.severity == "error"), facts)
    for hop in _hops(BOTTOM_UP, facts):
        if status.get(hop) != "fail":
            continue
        for check in explainers(hop):  # a finding about another rule or port explains nothing here
            hit = next((f for f in errors if f.check == check and about_route(f, facts)), None)
            if hit is not None:
                return _pointing("fail", hit, findings)
        hop_result = next(h for h in hops if h.hop == hop)
        return Verdict("fail", hop, None, f"The {hop} hop fails: {hop_result.summary}")
    if errors:  # an error finding off the probed path (e.g. a source problem)
        return _pointing("fail", errors[0], findings)
    warnings = _route_first((f for f in findings if f.severity == "warning"), facts)
    if warnings:
        w = warnings[0]
        more = f" (and {len(warnings) - 1} more warning{'s' if len(warnings) > 2 else ''})" if len(warnings) > 1 else ""
        return _pointing("warn", w, findings, f"The request works; worth a look: {_summary(w)}{more}")
    return Verdict("ok", None, None, "Every hop works: no problem found.")


def _pointing(status: Literal["ok", "warn", "fail"], root: Finding, findings: Sequence[Finding],
              summary: str | None = None) -> Verdict:
    """A verdict naming `root`, and pointing at it by its index in `findings`."""
    return Verdict(status, root.hop, root.check, summary or _summary(root), finding=_index_of(root, findings))


def _index_of(root: Finding, findings: Sequence[Finding]) -> int | None:
    return next((i for i, f in enumerate(findings) if f is root), None)


def _reindexed(verdict: Verdict, before: Sequence[Finding], after: Sequence[Finding]) -> Verdict:
    """The verdict pointing into `after`, a reordering of `before`."""
    if verdict.finding is None:
        return verdict
    return replace(verdict, finding=_index_of(before[verdict.finding], after))


def _summary(f: Finding) -> str:
    first_fix = f.fix.strip().splitlines()[0] if f.fix.strip() else ""
    where = f"{f.object}: " if f.object and not f.message.startswith(f.object) else ""
    usable = first_fix and len(first_fix) < 160 and not first_fix.endswith(":")
    return f"{where}{f.message}" + (f" Fix: {first_fix}" if usable else "")


def judge(facts: RouteFacts, probes: Mapping[str, HopProbes], static: Sequence[Finding]) -> tuple[
        tuple[HopResult, ...], list[Finding], Verdict]:
    """Combine static findings and probe results into hop results, findings and a verdict."""
    probe_findings = _pod_probe_findings(facts, probes.get("pod") or HopProbes())
    probe_findings += _idle_findings(facts, probes)
    probe_findings += _reach_findings(facts, probes)
    probe_findings += _ingress_probe_findings(facts, probes, static)
    from kdiag.verdict_edge import (
        confirm_ignored,
        dataplane_findings,
        edge_findings,
        local_policy_findings,
        merge_probe_findings,
        session_findings,
    )

    mine = dataplane_findings(facts, probes)
    probe_findings = edge_findings(facts, probes) + local_policy_findings(facts, probes) + mine + [
        f for f in probe_findings if not (f.check == "ingress-upgrade-not-forwarded" and any(
            g.check.endswith("websocket-upgrade-disabled") or g.check == "ingress-websocket-not-enabled"
            for g in mine))] + session_findings(facts, probes)

    hop_ok: dict[str, bool | None] = {}
    for hop in (facts.entry_hop, "service", "pod", "edge"):
        hp = probes.get(hop)
        hop_ok[hop] = None if hp is None or not hp.primary else _any_ok(hp.primary)
    findings = confirm_ignored(_confirm_static(static, hop_ok, probes, facts), probe_findings)
    findings = merge_probe_findings(findings, probe_findings)

    hops = []
    for hop in _hops(TOP_DOWN, facts):
        st, summary = _hop_status(hop, probes.get(hop), findings, facts)
        hp = probes.get(hop)
        hops.append(HopResult(hop=hop, status=st, summary=summary,  # type: ignore[arg-type]
                              probes=hp.probes if hp else (), objects=facts.objects.get(hop, ())))
    findings += _unexplained_failure(hops, probes, findings, facts)
    verdict = _pick_verdict(hops, findings, facts)
    ordered = sort_findings(findings)
    return tuple(hops), ordered, _reindexed(verdict, findings, ordered)


def judge_static(facts: RouteFacts, static: Sequence[Finding]) -> tuple[tuple[HopResult, ...], list[Finding], Verdict]:
    """A walk over manifests: no probes, hops judged from the static findings alone."""
    hops = []
    for hop in _hops(TOP_DOWN, facts):
        errors = _route_first((f for f in static if f.hop == hop and f.severity == "error"), facts)
        warnings = _route_first((f for f in static if f.hop == hop and f.severity == "warning"), facts)
        if hop == "endpoints" and facts.endpoints_ready is None and not errors:
            st, summary = "skip", "Manifests carry no endpoints (no probes without a cluster)."
        elif errors:
            st, summary = "fail", errors[0].message
        elif warnings:
            st, summary = "warn", warnings[0].message
        else:
            st, summary = "ok", "No static problem found (not probed: manifests only)."
        hops.append(HopResult(hop=hop, status=st, summary=summary, objects=facts.objects.get(hop, ())))  # type: ignore[arg-type]
    status = {h.hop: h.status for h in hops}
    errors = _route_first((f for f in static if f.severity == "error"), facts)
    for hop in _hops(STATIC_ORDER, facts):  # statically: the first broken hop on the way in, the client last
        if status.get(hop) != "fail":
            continue
        for check in explainers(hop) + tuple(f.check for f in errors):
            hit = next((f for f in errors if f.check == check and f.hop == hop), None)
            if hit is not None:
                return tuple(hops), list(static), _pointing("fail", hit, static)
    if errors:
        return tuple(hops), list(static), _pointing("fail", errors[0], static)
    warnings = [f for f in static if f.severity == "warning"]
    if warnings:
        return tuple(hops), list(static), Verdict("warn", None, None,
                                                  f"No error found statically; {len(warnings)} warning(s).")
    return tuple(hops), list(static), Verdict("ok", None, None, "No problem found statically (no probes were run).")
