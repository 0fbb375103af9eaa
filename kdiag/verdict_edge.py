"""Probe findings of the edge hop and of data-plane answers (pure; used by `kdiag.verdict.judge`).

- the edge hop: the data-plane pod answers 101 and the published address does not
  (`edge-upgrade-not-forwarded`); an idle cut at the edge only (`edge-idle-timeout`);
- idle cuts attributed to the layer whose configured timeout matches the time of the cut
  (`kdiag.layers`), the fix naming that layer's own field;
- answers that carry a data plane's signature (`kdiag.probes.answers`): Envoy's 403 to an upgrade,
  its 504 "upstream request timeout", nginx's 400 "plain HTTP request was sent to HTTPS port", an
  https redirect answering the request itself;
- probe confirmations of Service-level checks: Socket.IO sessions that are not sticky, a NodePort
  with `externalTrafficPolicy: Local` probed on a node without ready pods.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from kdiag.catalog import catalog
from kdiag.model import Finding, ProbeResult
from kdiag.outcomes import ErrorKind
from kdiag.probes import answers

if TYPE_CHECKING:
    from kdiag.verdict import HopProbes, RouteFacts

__all__ = ["CONFIRMING", "as_layer", "confirm_ignored", "dataplane_findings", "edge_findings", "idle_findings",
           "local_policy_findings", "merge_probe_findings", "reach_check", "session_findings"]

#: Confirmed checks whose static message says why (the objects behind it) and is kept after the probe's.
WHY_STATIC = frozenset({"ingress-ssl-redirect-loop"})


#: Probe findings that replace a static finding of the same check and object (they confirm it).
CONFIRMING = frozenset({"service-session-affinity-needed", "service-external-traffic-policy-local",
                        "ingress-ssl-redirect-loop"})


def _f(facts: RouteFacts, check: str, hop: str, obj: str, message: str, evidence: Mapping[str, Any],
       **kw: Any) -> Finding:
    from kdiag.verdict import _finding

    f = _finding(facts, check, hop, obj, message, evidence, kw.get("severity"))
    return replace(f, fix=kw["fix"]) if kw.get("fix") else f


def _obj(facts: RouteFacts, hop: str, default: str = "") -> str:
    return (facts.objects.get(hop) or (default,))[0]


def _ev(p: ProbeResult, **more: Any) -> dict[str, Any]:
    return {"probe": p.to_dict(), **more}


def _answered_101(hp: HopProbes | None) -> bool:
    return hp is not None and any(q.ok and q.status_code == 101 for q in hp.primary)


def edge_findings(facts: RouteFacts, probes: Mapping[str, HopProbes]) -> list[Finding]:
    """The published address fails a WebSocket handshake that the data-plane pod completes."""
    edge, entry = probes.get("edge"), probes.get(facts.entry_hop)
    if not facts.edge or edge is None or not edge.primary or edge.primary[0].ok or not facts.websocket:
        return []
    p = edge.primary[0]
    if not _answered_101(entry) or (p.status_code is None and p.error_kind not in (ErrorKind.RESET,
                                                                                    ErrorKind.BAD_RESPONSE)):
        return []
    got = f"gets {p.status_code}" if p.status_code else f"fails ({p.error})"
    pod = entry.primary[0].target if entry is not None else ""
    return [_f(facts, "edge-upgrade-not-forwarded", "edge", _obj(facts, "edge", p.target),
               f"Through the data-plane pod ({pod}) the WebSocket handshake gets 101; through the published "
               f"address ({p.target}) it {got}: the load balancer in front does not forward the upgrade.",
               _ev(p, data_plane_probe=entry.primary[0].to_dict() if entry is not None else None))]


def idle_findings(facts: RouteFacts, probes: Mapping[str, HopProbes]) -> list[Finding]:
    """An idle WebSocket cut at a hop while it stays open at the hop below, attributed to a layer."""
    from kdiag.layers import attribute_cut

    out: list[Finding] = []
    below_open = True
    for hop in ("pod", "service", facts.entry_hop) + (("edge",) if facts.edge else ()):
        hp = probes.get(hop)
        if hp is None or not hp.idle:
            continue
        closed = [p for p in hp.idle if not p.ok]
        if not closed:
            below_open = True
            continue
        if not below_open:
            continue
        below_open = False
        p = closed[0]
        after, code = p.extra.get("closed_after_s"), p.extra.get("close_code")
        observed = float(after) if isinstance(after, (int, float)) else None
        how = "dropped without a close frame (1006)" if code in (None, 1006) else f"closed with code {code}"
        when = f" after {observed:.1f} s idle" if observed is not None else ""
        layer = attribute_cut(observed, hop, facts.layer_timeouts)
        check = "websocket-idle-disconnect"
        if hop == "edge":
            check = "edge-idle-timeout"
        elif layer is not None and layer.layer == hop and layer.name == "stream-idle" \
                and "gateway-stream-idle-timeout" in catalog():
            check = "gateway-stream-idle-timeout"
        message = f"An idle WebSocket was {how}{when} at the {hop} hop, while it stayed open at the hop below."
        fix = None
        ev = _ev(p, layer={"layer": hop, "matched": False})
        if layer is not None:
            ev["layer"] = {**layer.to_dict(), "matched": True, "observed_s": observed}
            name = f"{layer.who} {layer.name} timeout" if layer.who else f"{layer.name} timeout"
            message += (f" It matches the {layer.layer} layer: the {name} of {layer.seconds:g} s "
                        f"({layer.where}).")
            fix = (f"Raise the timeout of the layer that closed it ({layer.layer}: {layer.who or 'its proxy'}) "
                   f"above the longest quiet period, and keep an application heartbeat shorter than it:\n\n"
                   f"`{layer.setting}` (now {layer.seconds:g} s, {layer.where}).")
        if hop == "edge":
            mine = [t for t in facts.layer_timeouts if t.layer == facts.entry_hop and t.name != "request"]
            longer = [t for t in mine if observed is None or t.seconds > observed + 1]
            if longer:
                ev["controller_timeouts"] = [t.to_dict() for t in longer]
                message += (f" The {facts.entry_hop}'s own timeout is longer "
                            f"({', '.join(f'{t.name} {t.seconds:g} s' for t in longer)}).")
        out.append(_f(facts, check, hop, _obj(facts, hop, p.target), message, ev, fix=fix))
    return out


def _below(probes: Mapping[str, HopProbes]) -> ProbeResult | None:
    for hop in ("service", "pod"):
        hp = probes.get(hop)
        if hp is not None and hp.primary:
            return hp.primary[0]
    return None


def dataplane_findings(facts: RouteFacts, probes: Mapping[str, HopProbes]) -> list[Finding]:
    """Findings read from who answered at the entry (and edge) hop."""
    out: list[Finding] = []
    entry_hop = facts.entry_hop
    entry = probes.get(entry_hop)
    obj = _obj(facts, entry_hop)
    lower_101 = any(_answered_101(probes.get(h)) for h in ("service", "pod"))
    for hop in ("pod", "service", entry_hop, "edge"):  # the backend's own answer, wherever it shows
        hp = probes.get(hop)
        p = next((q for q in (hp.primary if hp else ()) if answers.plain_http_to_tls_port(q)), None)
        if p is not None:
            out.append(_f(facts, "backend-protocol-mismatch", entry_hop, obj,
                          f"The backend answers 400 \"The plain HTTP request was sent to HTTPS port\" "
                          f"(seen at the {hop} hop): its port speaks TLS, and the proxy sends plain HTTP.",
                          _ev(p, direction="plain HTTP to a TLS port", seen_at=hop)))
            break
    if entry is not None and entry.primary:
        p = entry.primary[0]
        below = _below(probes)
        if answers.tls_to_plain_port(p, below, backend_tls=facts.backend_tls):
            out.append(_f(facts, "backend-protocol-mismatch", entry_hop, obj,
                          f"The {entry_hop} is set to speak TLS to the backend and answers 502, while the backend "
                          f"answers plain HTTP ({below.status_code if below else '?'}): TLS to a plain port.",
                          _ev(p, direction="TLS to a plain port")))
        if facts.websocket and lower_101 and answers.upgrade_refused_by_proxy(p):
            check = "gateway-websocket-upgrade-disabled" if entry_hop == "gateway" else "ingress-websocket-not-enabled"
            if check in catalog():
                out.append(_f(facts, check, entry_hop, obj,
                              f"The pod answers 101, but the {entry_hop} answers the upgrade with 403 and an empty "
                              f"body: the data plane refuses WebSocket upgrades on this route (Envoy "
                              f"`upgrade_failed`).", _ev(p)))
        if answers.route_timeout(p):
            out.append(_route_timeout_finding(facts, entry_hop, obj, p))
        elif answers.envoy_stream_timeout(p):
            out.append(_f(facts, "gateway-stream-idle-timeout", entry_hop, obj,
                          f"The {entry_hop} answered 408 before any response header: Envoy's stream idle "
                          f"timeout fired.", _ev(p)))
    for hop in (entry_hop, "edge"):
        hp = probes.get(hop)
        for p in hp.primary if hp else ():
            loop = answers.redirect_to_itself(p)
            if loop is None:
                continue
            out.append(_f(facts, "ingress-ssl-redirect-loop", entry_hop, obj, _loop_message(hop, p, loop, probes.get(entry_hop)),
                          _ev(p, redirect=loop, seen_at=hop)))
            return out
    return out


def _route_timeout_finding(facts: RouteFacts, hop: str, obj: str, p: ProbeResult) -> Finding:
    """Envoy's 504 "upstream request timeout", matched to the request timeout configured on the route."""
    from kdiag.layers import request_timeout

    observed = p.elapsed_ms / 1000 if p.elapsed_ms else None
    took = f" after {observed:.1f} s" if observed is not None else ""
    message = (f"The {hop} answered 504 \"upstream request timeout\"{took}: its route (request) timeout fired "
               "before the backend answered.")
    t, matched = request_timeout(observed, hop, facts.layer_timeouts)
    ev = _ev(p)
    if t is None:
        return _f(facts, "gateway-route-timeout", hop, obj, message, ev)
    ev["timeout"] = {**t.to_dict(), "matched": matched, "observed_s": observed}
    if not matched:
        message += (f" The request timeout configured on this route is {t.seconds:g} s ({t.where}), which does "
                    "not match the time of the answer: another layer's setting may apply.")
        return _f(facts, "gateway-route-timeout", hop, obj, message, ev)
    message += f" It matches the route's request timeout of {t.seconds:g} s ({t.where})."
    fix = (f"Raise the request timeout of this route above its slowest answer (or disable it with \"0s\"), "
           f"in {t.who or 'the data plane'}'s own field:\n\n`{t.setting}` (now {t.seconds:g} s).\n\n"
           "Or make the slow request shorter (an export started in the background and fetched when ready).")
    return _f(facts, "gateway-route-timeout", hop, obj, message, ev, fix=fix)


def _loop_message(hop: str, p: ProbeResult, loop: Mapping[str, Any], entry: HopProbes | None) -> str:
    """What the redirect answer means, and where it does not happen (the data-plane pod over TLS)."""
    if loop["shape"] == "websocket-redirected":
        return (f"The {hop} hop answers {p.status_code} to {loop['location']}: a WebSocket handshake is answered "
                f"with a redirect, which browsers do not follow.")
    chain = [s for s in loop.get("chain") or () if isinstance(s, Mapping)]
    if chain:
        path = " → ".join([str(chain[0].get("url"))] + [f"{s.get('status')} {s.get('location')}" for s in chain])
        text = (f"Through the {hop} hop the request is redirected back to a URL already asked ({path}): a "
                f"redirect loop, and browsers stop with ERR_TOO_MANY_REDIRECTS."
                if loop.get("outcome") == "loop" else
                f"Through the {hop} hop the redirects do not end ({path} …): browsers stop with "
                f"ERR_TOO_MANY_REDIRECTS.")
    else:
        text = (f"The {hop} hop answers {p.status_code} to {loop['location']}: an https request is redirected "
                f"to the very same https URL (a redirect loop).")
    if hop != "edge" and p.via == "port-forward" and p.target.startswith("http://") and chain \
            and str(chain[0].get("url") or "").startswith("https://"):
        text += (" (The controller pod was asked as the load balancer asks it: in plain HTTP with X-Forwarded-Proto: "
                 "https, on the port its Service's https port targets, because TLS ends at the load balancer.)")
    pod = entry if hop == "edge" else None
    good = next((q for q in (pod.primary if pod else ()) if q.ok and q.status_code and q.status_code < 300), None)
    if good is not None:
        text += (f" Through the data-plane pod ({good.target}) the same request gets {good.status_code}: the "
                 f"controller redirects only what reaches it as plain HTTP, so the load balancer in front ends "
                 f"TLS and forwards http, and the controller does not take the original scheme from it.")
    return text


def session_findings(facts: RouteFacts, probes: Mapping[str, HopProbes]) -> list[Finding]:
    """A Socket.IO session whose follow-up requests reach another replica ("Session ID unknown")."""
    for hop in (facts.entry_hop, "edge"):
        hp = probes.get(hop)
        bad = [p for p in (hp.session if hp else ()) if p.error_kind == ErrorKind.SESSION]
        if bad:
            p = bad[0]
            obj = _obj(facts, facts.entry_hop) if facts.entry_hop == "ingress" else _obj(facts, "service")
            return [_f(facts, "service-session-affinity-needed", "service", obj,
                       f"Confirmed by a probe through the {hop} hop: {p.detail} "
                       f"({facts.pods_total} replica(s) behind the Service).",
                       _ev(p, confirmed="follow-up requests of one Engine.IO session got \"Session ID unknown\""),
                       severity="error")]
    return []


def _host(target: str) -> str:
    return target.rsplit(":", 1)[0].strip("[]")


def local_policy_findings(facts: RouteFacts, probes: Mapping[str, HopProbes]) -> list[Finding]:
    """The published address gets no answer while the data-plane pod answers, and the data plane's
    Service is `externalTrafficPolicy: Local` with nodes that run no ready data-plane pod: the load
    balancer sends to such a node, which drops the connection (dataplane-facts.md §4). When the edge
    hop probed the NodePort node by node (`reach`), the nodes that fail must be those without a pod."""
    local = facts.edge_local_policy
    edge, entry = probes.get("edge"), probes.get(facts.entry_hop)
    if not facts.edge or not local or edge is None or not edge.primary or any(p.ok for p in edge.primary):
        return []
    p = edge.primary[0]
    if p.status_code is not None or entry is None or not any(q.ok for q in entry.primary):
        return []  # an HTTP answer came back, or the data plane itself fails: not a dropped connection
    empty = [n for n in local.get("nodes_without_ready_pods") or () if isinstance(n, Mapping)]
    busy = [n for n in local.get("nodes_with_ready_pods") or () if isinstance(n, Mapping)]
    empty_addrs = {str(n.get("address")) for n in empty}
    dead = [r for r in edge.reach if r.kind == "tcp" and not r.ok]
    alive = [r for r in edge.reach if r.kind == "tcp" and r.ok]
    if edge.reach and not any(_host(r.target) in empty_addrs for r in dead):
        return []  # every node without a pod answers on the NodePort: the policy is not what drops it
    svc, np, hc = str(local.get("service") or ""), local.get("node_port"), local.get("health_check_node_port")
    names = ", ".join(f"{n.get('name')} ({n.get('address')})" for n in empty[:3]) + (" …" if len(empty) > 3 else "")
    good = next(q for q in entry.primary if q.ok)
    message = (f"{svc} has externalTrafficPolicy: Local, and node(s) {names} run no ready pod of it: NodePort "
               f"{np} there drops the traffic instead of forwarding it, and the load balancer sends to such a "
               f"node. Through the published address ({p.target}) the connection fails without an answer "
               f"({p.error or p.error_kind or 'no answer'}); through the data-plane pod the request works "
               f"({good.target}: {good.status_code or 'ok'}).")
    if edge.reach:
        message += (f" Probed node by node: NodePort {np} gets no answer on "
                    f"{', '.join(r.target for r in dead)}"
                    + (f" and answers on {', '.join(r.target for r in alive)}." if alive else "."))
    health = (f"an HTTP health check on its healthCheckNodePort {hc}" if hc else
              "an HTTP health check on its healthCheckNodePort")
    fix = (f"Let the load balancer send only to nodes that run a ready pod of {svc}: {health} (kube-proxy "
           f"answers it with success only on nodes with a ready local endpoint). Or run the controller on every "
           f"node that receives traffic (a DaemonSet), or, if the client source IP is not needed, go back to the "
           f"default policy:\n\n```yaml\nspec:\n  externalTrafficPolicy: Cluster\n```")
    ev = _ev(p, service=svc, node_port=np, health_check_node_port=hc, nodes_without_ready_pods=empty,
             nodes_with_ready_pods=busy, data_plane_probe=good.to_dict(),
             node_probes=[r.to_dict() for r in edge.reach])
    return [_f(facts, "service-external-traffic-policy-local", "edge", svc, message, ev, severity="error", fix=fix)]


def reach_check(facts: RouteFacts, p: ProbeResult) -> str:
    """The check for a NodePort that does not answer: `externalTrafficPolicy: Local` on a node without pods."""
    host = p.target.rsplit(":", 1)[0].strip("[]")
    if facts.etp_local_nodes is not None and host in facts.etp_local_nodes:
        return "service-external-traffic-policy-local"
    return "service-nodeport-unreachable"


def confirm_ignored(findings: Sequence[Finding], probe_findings: Sequence[Finding]) -> list[Finding]:
    """A probe confirms `controller-field-ignored`: an idle WebSocket was cut at the hop of an Ingress
    that carries another data plane's WebSocket timeout annotation, the cut matches the serving data
    plane's own timeout (attributed by `kdiag.layers`), and it came well before what the ignored
    annotation asks for. The finding becomes an error naming the cut: the setting the team relies on
    does nothing, and the serving data plane's own field is what cut the connection."""
    from kdiag.layers import tolerance

    cuts = [f for f in probe_findings if f.check == "websocket-idle-disconnect"
            and as_layer(f).get("matched") and as_layer(f).get("layer") == f.hop]
    out = []
    for f in findings:
        asked = (f.evidence.get("websocket_timeout") or {}).get("asked_s") \
            if f.check == "controller-field-ignored" else None
        cut = next((c for c in cuts if c.hop == f.hop and c.object == f.object), None)
        observed = as_layer(cut).get("observed_s") if cut is not None else None
        if cut is None or not isinstance(asked, (int, float)) or not isinstance(observed, (int, float)) \
                or asked <= observed + tolerance(observed):
            out.append(f)
            continue
        cuts.remove(cut)  # one ignored setting per cut (the first); the others stay warnings
        layer = as_layer(cut)
        who = f"{layer.get('who')}'s " if layer.get("who") else "its "
        confirmed = (f"an idle WebSocket was cut after {observed:.1f} s at the {f.hop} hop by {who}"
                     f"{layer.get('name')} timeout of {float(layer.get('seconds') or 0):g} s ({layer.get('where')}), "
                     f"not after the {asked:g} s {f.evidence.get('annotation')} asks for")
        out.append(replace(f, severity="error", message=f"{f.message}. Confirmed: {confirmed}.",
                           evidence={**f.evidence, "confirmed": confirmed, "layer": layer,
                                     "idle_probe": cut.evidence.get("probe")}))
    return out


def as_layer(f: Finding | None) -> Mapping[str, Any]:
    """The `layer` evidence of an idle-cut finding ({} when there is none)."""
    layer = f.evidence.get("layer") if f is not None else None
    return layer if isinstance(layer, Mapping) else {}


def merge_probe_findings(findings: Sequence[Finding], probe_findings: Sequence[Finding]) -> list[Finding]:
    """Add probe findings; one of a CONFIRMING check replaces the static finding of the same check and object
    (or the only one of its check); others are dropped when that check and object are already there."""
    out = list(findings)
    for f in probe_findings:
        same = [i for i, g in enumerate(out) if g.check == f.check and (g.object == f.object or f.check in CONFIRMING)]
        same.sort(key=lambda i: out[i].object != f.object)  # the same object first
        if f.check in CONFIRMING and same:
            i = same[0]
            # the static finding's own fix (in the data plane's terms) stays unless the probe wrote one
            fix = f.fix if f.fix != catalog()[f.check].fix else out[i].fix
            message = f"{f.message} Why: {out[i].message.strip()}" if f.check in WHY_STATIC else f.message
            out[i] = replace(f, object=out[i].object, subject=out[i].subject, fix=fix, message=message,
                             evidence={**out[i].evidence, **f.evidence, "confirmed_by_probe": True})
        elif not same:
            out.append(f)
    return out
