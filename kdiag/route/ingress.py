"""Ingress route resolution: which rule, canary and backend the controller picks for a URL.

Pure over a `Snapshot` (dataplane-facts.md §1.5, §1.7–§1.9). `resolve_route` returns a
`Resolution` with every decision and its reason (the IngressClass of each candidate Ingress, the
host and path match, the canary decision, the default backend) and the backend followed down to
Service, targetPort per pod, endpoints and pods. Controller-specific facts (canaries, regex
paths) come from the data-plane profile of each Ingress's class.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kdiag.dataplane import ASSUMED_INGRESS_PROFILE, Profile, profile_for_class
from kdiag.hosts import ingress_host_match
from kdiag.route.backend import BackendInfo, backend_ref, resolve_backend
from kdiag.route.canary import CanaryDecision, canary_decide
from kdiag.route.classes import ClassDecision, class_decision, ingress_ref
from kdiag.route.match import PathCandidate, path_match, pick_path
from kdiag.route.resolution import Candidate, Resolution, RuleMatch
from kdiag.route.target import Target
from kdiag.shape import as_map, lb_addresses, maps, sub
from kdiag.snapshot import Snapshot

__all__ = ["ingress_rules", "resolve_route", "rule_paths"]

#: How many Ingresses of other hosts a Resolution lists as rejected candidates.
_MAX_HOST_CANDIDATES = 10


@dataclass(frozen=True)
class _PathEntry:
    ingress: Mapping[str, Any]
    host: str
    host_match: str
    path: str
    path_type: str
    backend: Mapping[str, Any]


def _creation_key(ing: Mapping[str, Any]) -> tuple[str, str]:
    return str(sub(ing, "metadata").get("creationTimestamp") or ""), ingress_ref(ing)


def ingress_rules(ing: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """`spec.rules` of an Ingress (the mapping items only)."""
    return maps(sub(ing, "spec").get("rules"))


def rule_paths(rule: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """`http.paths` of an Ingress rule (the mapping items only)."""
    return maps(sub(rule, "http").get("paths"))


def _default_backend_of(ing: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = sub(ing, "spec")
    backend = spec.get("defaultBackend") or spec.get("backend")  # v1beta1 called it `backend`
    return backend if isinstance(backend, Mapping) and backend else None


@dataclass(frozen=True)
class _Index:
    """Per-snapshot precomputation: class decisions and Ingresses by rule host."""

    decisions: tuple[ClassDecision, ...]
    accepted: tuple[Mapping[str, Any], ...]  # oldest first, like the controller
    by_host: Mapping[str, tuple[Mapping[str, Any], ...]]  # rule host ("" = any) -> accepted
    rejected_by_host: Mapping[str, tuple[tuple[Mapping[str, Any], ClassDecision], ...]]
    order: Mapping[int, int]  # id(accepted Ingress) -> position in `accepted`
    decision_of: Mapping[int, ClassDecision]  # id(accepted Ingress) -> its class decision
    profile_of: Mapping[int, Profile]  # id(accepted Ingress) -> its data-plane profile

    def profile(self, ing: Mapping[str, Any]) -> Profile:
        return self.profile_of[id(ing)]

    def is_canary(self, ing: Mapping[str, Any]) -> bool:
        return self.profile(ing).is_canary(ing)

    def dataplane(self, ing: Mapping[str, Any] | None) -> tuple[str | None, Profile]:
        """The controller and profile serving `ing` (the assumed profile when there is none)."""
        if ing is None:  # no Ingress serves the host: the data plane of every accepted Ingress, if one
            served = {self.profile(i).name: i for i in self.accepted}
            if len(served) == 1:
                only = next(iter(served.values()))
                return self.decision_of[id(only)].controller, self.profile(only)
            return None, profile_for_class(None)
        return self.decision_of[id(ing)].controller, self.profile(ing)


_INDEXES: dict[tuple[int, str | None], tuple[weakref.ref[Snapshot], _Index]] = {}


def _rule_host_key(rule: Mapping[str, Any]) -> str:
    return str(rule.get("host") or "").lower().rstrip(".")


def _index(snapshot: Snapshot, ingress_class: str | None) -> _Index:
    key = (id(snapshot), ingress_class)
    hit = _INDEXES.get(key)
    if hit is not None and hit[0]() is snapshot:
        return hit[1]
    decisions: list[ClassDecision] = []
    accepted: list[Mapping[str, Any]] = []
    decision_of: dict[int, ClassDecision] = {}
    by_host: dict[str, list[Mapping[str, Any]]] = {}
    rejected: dict[str, list[tuple[Mapping[str, Any], ClassDecision]]] = {}
    for ing in sorted(snapshot.list("Ingress"), key=_creation_key):
        d = class_decision(snapshot, ing, ingress_class)
        decisions.append(d)
        if d.accepted:
            accepted.append(ing)
            decision_of[id(ing)] = d
        for h in dict.fromkeys(_rule_host_key(r) for r in ingress_rules(ing)):
            if d.accepted:
                by_host.setdefault(h, []).append(ing)
            else:
                rejected.setdefault(h, []).append((ing, d))
    idx = _Index(tuple(decisions), tuple(accepted), {k: tuple(v) for k, v in by_host.items()},
                 {k: tuple(v) for k, v in rejected.items()},
                 {id(i): n for n, i in enumerate(accepted)}, decision_of,
                 {k: d.profile for k, d in decision_of.items()})

    def _forget(_ref: weakref.ref[Snapshot], k: tuple[int, str | None] = key) -> None:
        _INDEXES.pop(k, None)

    _INDEXES[key] = (weakref.ref(snapshot, _forget), idx)
    return idx


def _host_keys(host: str) -> list[str]:
    """The rule-host keys that can match a request host: itself, its one-label wildcard, any."""
    keys = [host]
    if "." in host:
        keys.append("*" + host[host.index("."):])
    keys.append("")
    return keys


def resolve_route(
    snapshot: Snapshot, target: Target, *, ingress_class: str | None = None, addresses: Sequence[str] = ()
) -> Resolution:
    """The Ingress rule, canary and backend the controller would use for `target` (ingress-nginx's
    host and path rendering; canaries and regex paths as each Ingress's profile says)."""
    host = target.request_host
    idx = _index(snapshot, ingress_class)
    decisions = list(idx.decisions)
    accepted = list(idx.accepted)
    candidates: list[Candidate] = []
    keys = _host_keys(host)
    for key in keys:
        for ing, d in idx.rejected_by_host.get(key, ()):
            if any(ingress_host_match(str(r.get("host") or ""), host) for r in ingress_rules(ing)):
                candidates.append(Candidate(d.ingress, False, "class", d.reason))
    for_host: dict[int, Mapping[str, Any]] = {
        id(i): i for key in keys for i in idx.by_host.get(key, ())}
    relevant, plane_notes = _one_data_plane(idx, for_host, host, addresses, candidates)
    others: list[Mapping[str, Any]] = []
    for ing in accepted:
        if len(others) >= _MAX_HOST_CANDIDATES:
            break
        if id(ing) not in for_host:
            others.append(ing)
    n_others = len(accepted) - len(for_host)
    for ing in others:
        hosts = sorted({str(r.get("host") or "*") for r in ingress_rules(ing)})
        candidates.append(Candidate(ingress_ref(ing), False, "host",
                                    f"hosts {', '.join(hosts)} do not match {host}"))

    # Servers: the exact host beats a wildcard, which beats the catch-all (rules without host).
    entries: dict[str, list[_PathEntry]] = {"exact": [], "wildcard": [], "any": []}
    host_ingresses: dict[str, list[Mapping[str, Any]]] = {"exact": [], "wildcard": [], "any": []}
    for ing in sorted(relevant.values(), key=lambda i: idx.order[id(i)]):
        hit_kinds: set[str] = set()
        for rule in ingress_rules(ing):
            rh = str(rule.get("host") or "")
            kind = ingress_host_match(rh, host)
            if kind is None:
                continue
            hit_kinds.add(kind)
            for p in rule_paths(rule):
                entries[kind].append(_PathEntry(ing, rh, kind, str(p.get("path") or "/"),
                                                str(p.get("pathType") or "ImplementationSpecific"),
                                                as_map(p.get("backend"))))
        for kind in hit_kinds:
            host_ingresses[kind].append(ing)
    # Only main (non-canary) Ingresses create servers; a canary alone serves nothing.
    server = next((k for k in ("exact", "wildcard", "any")
                   if any(not idx.is_canary(i) for i in host_ingresses[k])), None)
    notes: list[str] = list(plane_notes)
    if n_others > len(others):
        notes.append(f"{n_others - len(others)} more Ingresses serve other hosts")
    if server is None:
        return _no_match(snapshot, target, candidates, idx, None, False, notes)
    ings = host_ingresses[server]
    for kind in ("exact", "wildcard", "any"):
        if kind != server:
            for ing in host_ingresses[kind]:
                candidates.append(Candidate(ingress_ref(ing), False, "host",
                                            f"a more specific server ({server} host) takes {host}"))
    regex = any(idx.profile(i).uses_regex(i) for i in ings if not idx.is_canary(i))  # canaries inherit
    if regex:
        notes.append("use-regex or rewrite-target on this host: every path is a case-insensitive "
                     "regex ^path (Exact and Prefix lose their meaning)")
    main_entries = [e for e in entries[server] if not idx.is_canary(e.ingress)]
    canary_entries = [e for e in entries[server] if idx.is_canary(e.ingress)]
    paths = [e.path for e in main_entries]
    cands: list[PathCandidate] = []
    for i, e in enumerate(main_entries):
        cand = path_match(e.path, e.path_type, target.path, regex=regex, index=i)
        if cand is not None:
            cands.append(cand)
    chosen = pick_path(cands, paths)
    if not regex and _auto_redirects(main_entries, target.path):
        # nginx's auto_redirect: `location /foo/` (proxied) and no location for /foo itself.
        to = target.path + "/"
        res = resolve_route(snapshot, replace(target, path=to), ingress_class=ingress_class,
                            addresses=addresses)
        return replace(res, redirect=to, notes=(
            f"nginx answers 301 Moved Permanently to {to} (auto_redirect: the rule's location is "
            f"{to} and nothing serves {target.path} itself); browsers and curl -L follow it, "
            "WebSocket clients do not",) + res.notes)
    if chosen is None:
        for ing in ings:
            if not idx.is_canary(ing):
                candidates.append(Candidate(ingress_ref(ing), False, "path",
                                            f"no path of this Ingress matches {target.path}"))
        return _no_match(snapshot, target, candidates, idx, ings, regex, notes)
    e = main_entries[chosen.index]
    match = RuleMatch(e.ingress, e.host, e.host_match, e.path, e.path_type, chosen.mode, e.backend)
    ns = snapshot.namespace_of(e.ingress)
    for ing in ings:
        if ing is e.ingress or idx.is_canary(ing):
            continue
        candidates.append(Candidate(ingress_ref(ing), False, "other-path",
                                    f"same host, but {match.ingress_ref} {e.path} ({e.path_type}) wins"))
    candidates.append(Candidate(match.ingress_ref, True, "matched",
                                f"host {e.host or '*'} ({e.host_match}), path {e.path} ({e.path_type}, {chosen.mode})"))
    ref = backend_ref(e.backend, ns)
    main_backend = resolve_backend(snapshot, ref) if ref is not None else None
    if ref is None:
        notes.append("the matched path has no backend")

    # Canary: a canary Ingress for the same host + path attaches to this location.
    canary: CanaryDecision | None = None
    canary_backend: BackendInfo | None = None
    # ingress-nginx merges a canary into the location with the same path *and* pathType.
    same = [c for c in canary_entries if c.path == e.path and c.path_type == e.path_type]
    for c in canary_entries:
        if c not in same:
            candidates.append(Candidate(ingress_ref(c.ingress), False, "canary",
                                        f"canary for path {c.path} ({c.path_type}), not "
                                        f"{e.path} ({e.path_type})"))
    if same:
        first = same[0]
        for extra_canary in same[1:]:
            candidates.append(Candidate(ingress_ref(extra_canary.ingress), False, "canary",
                                        "only one canary Ingress applies per rule; "
                                        f"{ingress_ref(first.ingress)} is used"))
        spec = idx.profile(first.ingress).parse_canary(first.ingress)
        assert spec is not None
        canary = canary_decide(spec, target, ingress_ref(first.ingress))
        cns = snapshot.namespace_of(first.ingress)
        cref = backend_ref(first.backend, cns)
        canary_backend = resolve_backend(snapshot, cref) if cref is not None else None
        if canary.chosen and _no_ready_endpoints(snapshot, canary_backend):
            canary = replace(canary, chosen=False, reason=canary.reason + "; but the canary backend "
                             f"has no ready endpoints, so {idx.profile(first.ingress).name} falls back to the main backend "
                             "(\"no alternative balancer for backend\")")
        candidates.append(Candidate(ingress_ref(first.ingress), canary.chosen, "canary", canary.reason))
    if main_backend is not None:
        notes.extend(main_backend.notes)
    controller, profile = idx.dataplane(e.ingress)
    return Resolution(
        target=target, candidates=tuple(candidates), classes=tuple(decisions), matched=True,
        match=match, regex_mode=regex, canary=canary, main_backend=main_backend,
        canary_backend=canary_backend, notes=tuple(notes),
        ingresses=(e.ingress,) + ((same[0].ingress,) if same else ()),
        controller=controller, profile=profile,
    )


def _plane(idx: _Index, ing: Mapping[str, Any]) -> tuple[str, str]:
    """The data plane serving an accepted Ingress: (controller, profile name)."""
    return idx.decision_of[id(ing)].controller or "", idx.profile(ing).name


def _one_data_plane(idx: _Index, relevant: dict[int, Mapping[str, Any]], host: str, addresses: Sequence[str],
                    candidates: list[Candidate]) -> tuple[dict[int, Mapping[str, Any]], list[str]]:
    """The Ingresses for `host` of one data plane. Two controllers serving the same host (a
    migration: ingress-nginx and its successor side by side) render separate servers, and a client
    reaches one of them: the one whose published address the URL's host resolves to, else the
    assumed Ingress profile's (clients reach the old controller until DNS is cut over), else the
    oldest Ingress's. The others are named as candidates and in a note."""
    planes: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for ing in sorted(relevant.values(), key=lambda i: idx.order[id(i)]):
        planes.setdefault(_plane(idx, ing), []).append(ing)
    if len(planes) < 2:
        return relevant, []
    reached = set(addresses)
    hit = {k: reached.intersection(a for i in ings for a in lb_addresses(i)) for k, ings in planes.items()}
    by_address = [k for k, addrs in hit.items() if addrs]
    if len(by_address) == 1:
        chosen = by_address[0]
        why = f"the URL's host reaches {sorted(hit[chosen])[0]}, its published address"
    else:
        model = [k for k in planes if k[1] == ASSUMED_INGRESS_PROFILE]
        chosen = model[0] if model else next(iter(planes))
        why = ("the address the URL reaches is not known" if not reached else
               "the URL's host reaches none of their published addresses (or several)")
        why += (f": walked {chosen[1]}'s" if model else ": walked the oldest Ingress's")
        why += " (walk another with --resolve HOST:PORT:ITS-ADDRESS)"
    others = []
    for key, ings in planes.items():
        if key == chosen:
            continue
        for ing in ings:
            others.append(f"{ingress_ref(ing)} ({key[1]})")
            candidates.append(Candidate(ingress_ref(ing), False, "dataplane",
                                        f"also serves {host}, on another data plane ({key[1]}); not walked: {why}"))
    kept = {k: i for k, i in relevant.items() if _plane(idx, i) == chosen}
    note = (f"{host} is served by {len(planes)} data planes: walked {chosen[1]}; also "
            f"{', '.join(others)}: {why}")
    return kept, [note]


def _static_locations(e: _PathEntry) -> list[str]:
    """The non-regex nginx location strings ingress-nginx renders for one path."""
    if e.path_type == "Exact":
        return [e.path]
    if e.path_type == "Prefix" and e.path != "/":
        return [e.path, e.path if e.path.endswith("/") else e.path + "/"]
    return [e.path]


def _auto_redirects(entries: list[_PathEntry], path: str) -> bool:
    """nginx 301-redirects `path` to `path/` when a location is named `path/` and none `path`."""
    names = {loc for e in entries for loc in _static_locations(e)}
    return path not in names and path + "/" in names


def _no_ready_endpoints(snapshot: Snapshot, backend: BackendInfo | None) -> bool:
    """The backend certainly has no ready endpoint (known only for live data, not manifests)."""
    live = snapshot.source.kind == "cluster"
    if backend is None or backend.service is None or backend.service_port is None:
        return live or (backend is not None and backend.ref.service_name is None)
    if backend.endpoints_source == "none":
        return live and snapshot.readable("EndpointSlice")
    return not backend.ready_endpoints


def _no_match(
    snapshot: Snapshot,
    target: Target,
    candidates: list[Candidate],
    idx: _Index,
    host_ings: list[Mapping[str, Any]] | None,
    regex: bool,
    notes: list[str],
) -> Resolution:
    """No rule path matches: an Ingress spec.defaultBackend, else the controller's 404."""
    decisions = idx.decisions
    pool: list[Mapping[str, Any]] = []
    if host_ings:  # the host's server: a defaultBackend of one of its Ingresses
        pool = [i for i in host_ings if _default_backend_of(i) and not idx.is_canary(i)]
    if not pool:  # the catch-all server: an Ingress with a defaultBackend and no host rules
        pool = [i for i in idx.accepted if _default_backend_of(i) and not idx.is_canary(i)
                and not any(r.get("host") for r in ingress_rules(i))]
    if pool:
        ing = pool[0]
        ns = snapshot.namespace_of(ing)
        ref = backend_ref(_default_backend_of(ing), ns)
        backend = resolve_backend(snapshot, ref) if ref is not None else None
        controller, profile = idx.dataplane(ing)
        return Resolution(
            target=target, candidates=tuple(candidates), classes=tuple(decisions), matched=False,
            regex_mode=regex, default_backend="ingress", default_backend_ingress=ingress_ref(ing),
            main_backend=backend, notes=tuple(notes), ingresses=(ing,),
            controller=controller, profile=profile,
        )
    # The controller serving the host (or, with no Ingress for it, the catch-all server) answers.
    controller, profile = idx.dataplane(
        next((i for i in host_ings or () if not idx.is_canary(i)), None))
    notes.append(f"no rule matches: {profile.no_route.detail}" if profile.no_route.status is not None
                 else "no rule matches: the controller answers (Kubernetes leaves it to the controller)")
    return Resolution(
        target=target, candidates=tuple(candidates), classes=tuple(decisions), matched=False,
        regex_mode=regex, default_backend="controller", notes=tuple(notes),
        controller=controller, profile=profile,
    )

