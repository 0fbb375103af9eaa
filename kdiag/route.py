"""Route resolution: which Ingress rule, canary and backend a real ingress-nginx would pick for a URL.

Pure over a `Snapshot` (dataplane-facts.md §1.5, §1.7–§1.9). `parse_target` turns a URL and headers
into a `Target`; `resolve_route` returns a `Resolution` with every decision and its reason (the
IngressClass of each candidate Ingress, the host and path match, the canary decision, the default
backend) and the backend followed down to Service, targetPort per pod, endpoints and pods.
`list_routes` lists every Ingress rule path for the TUI's route list.
"""

from __future__ import annotations

import re
import urllib.parse
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kdiag import ingress_nginx as nx
from kdiag.errors import UsageError
from kdiag.model import RouteInfo
from kdiag.route_backend import BackendInfo, backend_ref, find_service_port, resolve_backend
from kdiag.route_match import (
    PathCandidate,
    host_matches,
    normalize_host,
    path_match,
    pick_path,
)
from kdiag.route_ports import resolve_target_port
from kdiag.shape import as_list, as_map, maps, sub
from kdiag.snapshot import Snapshot, obj_key

__all__ = [
    "Candidate",
    "CanaryDecision",
    "ClassDecision",
    "Resolution",
    "RouteEntry",
    "RuleMatch",
    "Target",
    "class_decision",
    "header_get",
    "ingress_ref",
    "list_routes",
    "looks_like_websocket",
    "normalize_path",
    "parse_target",
    "resolve_route",
    "resolve_target_port",
]

#: How many Ingresses of other hosts a Resolution lists as rejected candidates.
_MAX_HOST_CANDIDATES = 10
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}
_WS_PATH = re.compile(r"(^|/)(ws|wss|websocket|websockets|socket\.io|sockjs|cable|hub|signalr)(/|$)",
                      re.IGNORECASE)
_WS_PORT_NAMES = frozenset({"ws", "wss", "websocket", "websockets", "socket", "socketio", "socket-io"})
_WS_APP_PROTOCOLS = frozenset({"ws", "wss", "kubernetes.io/ws", "kubernetes.io/wss", "websocket"})


# -- target ----------------------------------------------------------------------------------


def header_get(headers: Mapping[str, str], name: str) -> str | None:
    """A header value, case-insensitively (and `-`/`_` alike, as nginx's `$http_*`)."""
    want = name.lower().replace("_", "-")
    for k, v in headers.items():
        if k.lower().replace("_", "-") == want:
            return v
    return None


def _parse_cookies(header: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (header or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name:
            out.setdefault(name.strip(), value.strip())
    return out


@dataclass(frozen=True)
class Target:
    """The request being diagnosed: URL parts, headers and cookies."""

    url: str
    scheme: str  # http | https | ws | wss
    host: str
    port: int
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)

    @property
    def websocket(self) -> bool:
        return self.scheme in ("ws", "wss")

    @property
    def tls(self) -> bool:
        return self.scheme in ("https", "wss")

    @property
    def request_host(self) -> str:
        """The Host the controller routes on: a Host header if given, else the URL's host."""
        h = header_get(self.headers, "Host")
        return normalize_host(h) if h else self.host

    def header(self, name: str) -> str | None:
        return header_get(self.headers, name)

    def cookie(self, name: str) -> str | None:
        """A cookie value by name, case-insensitively (like nginx's `$cookie_NAME`)."""
        want = name.lower()
        return next((v for k, v in self.cookies.items() if k.lower() == want), None)


def normalize_path(raw: str) -> str:
    """The URI path nginx matches locations against: percent-decoded, `//` merged
    (`merge_slashes on`), `.` and `..` segments resolved; a trailing slash is kept."""
    path = urllib.parse.unquote(raw or "/")
    out: list[str] = []
    segments = path.split("/")
    for seg in segments[1:] if path.startswith("/") else segments:
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    trailing = path.endswith(("/", "/.", "/..")) and bool(out)
    return "/" + "/".join(out) + ("/" if trailing else "")


def parse_target(url: str, headers: Mapping[str, str] | None = None) -> Target:
    """Parse an absolute http(s)/ws(s) URL; anything else raises `UsageError`."""
    text = (url or "").strip()
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as e:
        raise UsageError(f"bad URL {url!r}: {e}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise UsageError(
            f"bad URL {url!r}: expected an absolute URL with http://, https://, ws:// or wss://")
    host = (parts.hostname or "").lower()
    if not host:
        raise UsageError(f"bad URL {url!r}: no host")
    hdrs = dict(headers or {})
    path = normalize_path(parts.path)
    return Target(
        url=text, scheme=scheme, host=host, port=port or _DEFAULT_PORTS[scheme], path=path,
        query=parts.query, headers=hdrs, cookies=_parse_cookies(header_get(hdrs, "Cookie")),
    )


# -- ingress classes -------------------------------------------------------------------------


def ingress_ref(ingress: Mapping[str, Any]) -> str:
    _, ns, name = obj_key(ingress)
    return f"{ns or 'default'}/{name}"


@dataclass(frozen=True)
class ClassDecision:
    """Which IngressClass an Ingress belongs to, and whether the controller serves it."""

    ingress: str
    class_name: str | None
    source: str  # "spec" | "annotation" | "default" | "none"
    exists: bool | None  # None: IngressClass objects unknown (manifests or not readable)
    controller: str | None
    accepted: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"ingress": self.ingress, "class": self.class_name, "source": self.source,
                "exists": self.exists, "controller": self.controller,
                "accepted": self.accepted, "reason": self.reason}


def _default_classes(snapshot: Snapshot) -> list[Mapping[str, Any]]:
    return [
        c for c in snapshot.list("IngressClass")
        if nx.is_true(nx.annotations_of(c).get("ingressclass.kubernetes.io/is-default-class"))
    ]


def class_decision(
    snapshot: Snapshot, ingress: Mapping[str, Any], ingress_class: str | None = None
) -> ClassDecision:
    """The IngressClass decision of ingress-nginx for one Ingress (store.go `GetIngressClass`).

    With `ingress_class` the controller's class is given; otherwise: the classes whose
    controller is `k8s.io/ingress-nginx` when there are any, else every existing class, else
    (no IngressClass objects known, e.g. manifests) every Ingress is accepted.
    """
    ref = ingress_ref(ingress)
    classes = {str(sub(c, "metadata").get("name")): c for c in snapshot.list("IngressClass")}
    known = bool(classes) or (snapshot.source.kind == "cluster" and snapshot.readable("IngressClass"))
    spec_name = sub(ingress, "spec").get("ingressClassName")
    legacy = nx.annotations_of(ingress).get("kubernetes.io/ingress.class")
    if spec_name:
        name, source = str(spec_name), "spec"
    elif legacy:
        name, source = str(legacy), "annotation"
    else:
        defaults = _default_classes(snapshot)
        if len(defaults) == 1:
            name, source = str(sub(defaults[0], "metadata").get("name")), "default"
        else:
            name, source = None, "none"
    cls = classes.get(name) if name else None
    controller = str(sub(cls, "spec").get("controller")) if cls else None
    exists: bool | None = (cls is not None) if known else None
    nginx_classes = {n for n, c in classes.items()
                     if sub(c, "spec").get("controller") == nx.CONTROLLER_NAME}

    def decide(accepted: bool, reason: str) -> ClassDecision:
        return ClassDecision(ref, name, source, exists, controller, accepted, reason)

    if ingress_class is not None:
        if name == ingress_class:
            return decide(True, f"class {name!r} is the controller's class")
        return decide(False, f"class {name!r} is not the controller's class {ingress_class!r}"
                      if name else "no IngressClass and no default class")
    if name is None:
        if not known:
            return decide(True, "no IngressClass given (cannot check: no IngressClass objects)")
        many = len(_default_classes(snapshot)) > 1
        return decide(False, "no ingressClassName, no kubernetes.io/ingress.class annotation and "
                      + ("more than one default IngressClass" if many else "no default IngressClass")
                      + ": ingress-nginx ignores it (unless --watch-ingress-without-class)")
    if source == "annotation":
        if name in nginx_classes or (name == nx.DEFAULT_CLASS_NAME and (not nginx_classes or cls is None)):
            return decide(True, f"legacy annotation kubernetes.io/ingress.class={name!r}")
        if not known:
            return decide(True, f"legacy annotation kubernetes.io/ingress.class={name!r} "
                          "(cannot check: no IngressClass objects)")
        return decide(False, f"legacy annotation class {name!r} is not served by ingress-nginx")
    if not known:
        return decide(True, f"class {name!r} (cannot check: no IngressClass objects)")
    if cls is None:
        return decide(False, f"IngressClass {name!r} does not exist: no controller serves it")
    if nginx_classes and name not in nginx_classes:
        return decide(False, f"class {name!r} belongs to controller {controller!r}, not ingress-nginx")
    how = "default class" if source == "default" else "class"
    return decide(True, f"{how} {name!r} (controller {controller})")


# -- resolution ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """An Ingress considered for the target, and why it was kept or rejected."""

    ingress: str
    accepted: bool
    reason: str  # "class" | "host" | "path" | "canary" | "matched" | "other-path" ...
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"ingress": self.ingress, "accepted": self.accepted, "reason": self.reason,
                "detail": self.detail}


@dataclass(frozen=True)
class RuleMatch:
    """The Ingress rule path that serves the request."""

    ingress: Mapping[str, Any]
    host: str  # rule host ("" = any host)
    host_match: str  # exact | wildcard | any
    path: str
    path_type: str
    mode: str  # exact | prefix | plain-prefix | regex
    backend: Mapping[str, Any]

    @property
    def ingress_ref(self) -> str:
        return ingress_ref(self.ingress)

    def to_dict(self) -> dict[str, Any]:
        return {"host": self.host, "path": self.path, "pathType": self.path_type}


@dataclass(frozen=True)
class CanaryDecision:
    """ingress-nginx's choice between a main backend and its canary (balancer.lua order)."""

    ingress: str  # the canary Ingress "ns/name"
    chosen: bool  # the request goes to the canary
    rule: str  # header | header-value | header-pattern | cookie | weight | none
    reason: str
    probabilistic: bool = False
    probability: float | None = None  # of going to the canary, for a weight
    spec: nx.CanarySpec | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ingress": self.ingress, "chosen": self.chosen, "rule": self.rule,
                             "reason": self.reason, "probabilistic": self.probabilistic,
                             "probability": self.probability}
        if self.spec is not None:
            d["annotations"] = self.spec.to_dict()
        return d


@dataclass(frozen=True)
class Resolution:
    """Everything route resolution decided, for the hops below and for the TUI."""

    target: Target
    candidates: tuple[Candidate, ...]
    classes: tuple[ClassDecision, ...]
    matched: bool  # an Ingress rule path matched host + path
    match: RuleMatch | None = None
    regex_mode: bool = False
    #: "ingress" (an Ingress spec.defaultBackend) or "controller" (404) when no rule matched.
    default_backend: str | None = None
    default_backend_ingress: str | None = None
    canary: CanaryDecision | None = None
    main_backend: BackendInfo | None = None
    canary_backend: BackendInfo | None = None
    notes: tuple[str, ...] = ()
    #: nginx first answers 301 to this path (auto_redirect), then serves the rule for it.
    redirect: str | None = None
    #: The Ingress objects on the route: the matched one (or the one whose defaultBackend
    #: answers) and the canary Ingress attached to the matched path, if any.
    ingresses: tuple[Mapping[str, Any], ...] = ()

    @property
    def backend(self) -> BackendInfo | None:
        """The backend the request goes to (the canary's when the canary is chosen)."""
        if self.canary is not None and self.canary.chosen and self.canary_backend is not None:
            return self.canary_backend
        return self.main_backend

    @property
    def ingress(self) -> Mapping[str, Any] | None:
        return self.match.ingress if self.match is not None else None

    @property
    def service_port(self) -> Mapping[str, Any] | None:
        b = self.backend
        return b.service_port if b is not None else None

    @property
    def websocket(self) -> bool:
        """The target is a WebSocket, or the matched route looks like one."""
        if self.target.websocket:
            return True
        path = self.match.path if self.match is not None else self.target.path
        return looks_like_websocket(path, self.service_port)

    def route_info(self) -> RouteInfo:
        """The report's `route` object."""
        b = self.backend
        extra: dict[str, Any] = {
            "matched": self.matched,
            "default_backend": self.default_backend,
            "default_backend_ingress": self.default_backend_ingress,
            "ingress_class": next((c.to_dict() for c in self.classes
                                   if self.match is not None and c.ingress == self.match.ingress_ref),
                                  None),
            "regex_mode": self.regex_mode,
            "redirect": self.redirect,
            "candidates": [c.to_dict() for c in self.candidates],
            "notes": list(self.notes),
        }
        if b is not None:
            extra["backend"] = b.to_dict()
        return RouteInfo(
            ingress=self.match.ingress_ref if self.match is not None else self.default_backend_ingress,
            rule=self.match.to_dict() if self.match is not None else None,
            canary=self.canary.to_dict() if self.canary is not None else None,
            service=b.service_ref if b is not None else None,
            port=b.ref.port if b is not None else None,
            target_port=b.target_port if b is not None else None,
            pods=tuple(p.ref for p in b.pods) if b is not None else (),
            extra=extra,
        )


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


def _rules(ing: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return maps(sub(ing, "spec").get("rules"))


def _paths(rule: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return maps(sub(rule, "http").get("paths"))


def _default_backend_of(ing: Mapping[str, Any]) -> Mapping[str, Any] | None:
    spec = sub(ing, "spec")
    backend = spec.get("defaultBackend") or spec.get("backend")  # v1beta1 called it `backend`
    return backend if isinstance(backend, Mapping) and backend else None


def _canary_decide(spec: nx.CanarySpec, target: Target, ref: str) -> CanaryDecision:
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


@dataclass(frozen=True)
class _Index:
    """Per-snapshot precomputation: class decisions and Ingresses by rule host."""

    decisions: tuple[ClassDecision, ...]
    accepted: tuple[Mapping[str, Any], ...]  # oldest first, like the controller
    by_host: Mapping[str, tuple[Mapping[str, Any], ...]]  # rule host ("" = any) -> accepted
    rejected_by_host: Mapping[str, tuple[tuple[Mapping[str, Any], ClassDecision], ...]]
    order: Mapping[int, int]  # id(accepted Ingress) -> position in `accepted`


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
    by_host: dict[str, list[Mapping[str, Any]]] = {}
    rejected: dict[str, list[tuple[Mapping[str, Any], ClassDecision]]] = {}
    for ing in sorted(snapshot.list("Ingress"), key=_creation_key):
        d = class_decision(snapshot, ing, ingress_class)
        decisions.append(d)
        if d.accepted:
            accepted.append(ing)
        for h in dict.fromkeys(_rule_host_key(r) for r in _rules(ing)):
            if d.accepted:
                by_host.setdefault(h, []).append(ing)
            else:
                rejected.setdefault(h, []).append((ing, d))
    idx = _Index(tuple(decisions), tuple(accepted), {k: tuple(v) for k, v in by_host.items()},
                 {k: tuple(v) for k, v in rejected.items()},
                 {id(i): n for n, i in enumerate(accepted)})

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
    snapshot: Snapshot, target: Target, *, ingress_class: str | None = None
) -> Resolution:
    """The Ingress rule, canary and backend ingress-nginx would use for `target`."""
    host = target.request_host
    idx = _index(snapshot, ingress_class)
    decisions = list(idx.decisions)
    accepted = list(idx.accepted)
    candidates: list[Candidate] = []
    keys = _host_keys(host)
    for key in keys:
        for ing, d in idx.rejected_by_host.get(key, ()):
            if any(host_matches(str(r.get("host") or ""), host) for r in _rules(ing)):
                candidates.append(Candidate(d.ingress, False, "class", d.reason))
    relevant: dict[int, Mapping[str, Any]] = {
        id(i): i for key in keys for i in idx.by_host.get(key, ())}
    others: list[Mapping[str, Any]] = []
    for ing in accepted:
        if len(others) >= _MAX_HOST_CANDIDATES:
            break
        if id(ing) not in relevant:
            others.append(ing)
    n_others = len(accepted) - len(relevant)
    for ing in others:
        hosts = sorted({str(r.get("host") or "*") for r in _rules(ing)})
        candidates.append(Candidate(ingress_ref(ing), False, "host",
                                    f"hosts {', '.join(hosts)} do not match {host}"))

    # Servers: the exact host beats a wildcard, which beats the catch-all (rules without host).
    entries: dict[str, list[_PathEntry]] = {"exact": [], "wildcard": [], "any": []}
    host_ingresses: dict[str, list[Mapping[str, Any]]] = {"exact": [], "wildcard": [], "any": []}
    for ing in sorted(relevant.values(), key=lambda i: idx.order[id(i)]):
        hit_kinds: set[str] = set()
        for rule in _rules(ing):
            rh = str(rule.get("host") or "")
            kind = host_matches(rh, host)
            if kind is None:
                continue
            hit_kinds.add(kind)
            for p in _paths(rule):
                entries[kind].append(_PathEntry(ing, rh, kind, str(p.get("path") or "/"),
                                                str(p.get("pathType") or "ImplementationSpecific"),
                                                as_map(p.get("backend"))))
        for kind in hit_kinds:
            host_ingresses[kind].append(ing)
    # Only main (non-canary) Ingresses create servers; a canary alone serves nothing.
    server = next((k for k in ("exact", "wildcard", "any")
                   if any(not nx.is_canary(i) for i in host_ingresses[k])), None)
    notes: list[str] = []
    if n_others > len(others):
        notes.append(f"{n_others - len(others)} more Ingresses serve other hosts")
    if server is None:
        return _no_match(snapshot, target, candidates, decisions, accepted, None, False, notes)
    ings = host_ingresses[server]
    for kind in ("exact", "wildcard", "any"):
        if kind != server:
            for ing in host_ingresses[kind]:
                candidates.append(Candidate(ingress_ref(ing), False, "host",
                                            f"a more specific server ({server} host) takes {host}"))
    regex = any(nx.uses_regex(i) for i in ings if not nx.is_canary(i))  # canaries inherit
    if regex:
        notes.append("use-regex or rewrite-target on this host: every path is a case-insensitive "
                     "regex ^path (Exact and Prefix lose their meaning)")
    main_entries = [e for e in entries[server] if not nx.is_canary(e.ingress)]
    canary_entries = [e for e in entries[server] if nx.is_canary(e.ingress)]
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
        res = resolve_route(snapshot, replace(target, path=to), ingress_class=ingress_class)
        return replace(res, redirect=to, notes=(
            f"nginx answers 301 Moved Permanently to {to} (auto_redirect: the rule's location is "
            f"{to} and nothing serves {target.path} itself); browsers and curl -L follow it, "
            "WebSocket clients do not",) + res.notes)
    if chosen is None:
        for ing in ings:
            if not nx.is_canary(ing):
                candidates.append(Candidate(ingress_ref(ing), False, "path",
                                            f"no path of this Ingress matches {target.path}"))
        return _no_match(snapshot, target, candidates, decisions, accepted, ings, regex, notes)
    e = main_entries[chosen.index]
    match = RuleMatch(e.ingress, e.host, e.host_match, e.path, e.path_type, chosen.mode, e.backend)
    ns = obj_key(e.ingress)[1] or snapshot.namespace
    for ing in ings:
        if ing is e.ingress or nx.is_canary(ing):
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
        spec = nx.parse_canary(first.ingress)
        assert spec is not None
        canary = _canary_decide(spec, target, ingress_ref(first.ingress))
        cns = obj_key(first.ingress)[1] or snapshot.namespace
        cref = backend_ref(first.backend, cns)
        canary_backend = resolve_backend(snapshot, cref) if cref is not None else None
        if canary.chosen and _no_ready_endpoints(snapshot, canary_backend):
            canary = replace(canary, chosen=False, reason=canary.reason + "; but the canary backend "
                             "has no ready endpoints, so ingress-nginx falls back to the main backend "
                             "(\"no alternative balancer for backend\")")
        candidates.append(Candidate(ingress_ref(first.ingress), canary.chosen, "canary", canary.reason))
    if main_backend is not None:
        notes.extend(main_backend.notes)
    return Resolution(
        target=target, candidates=tuple(candidates), classes=tuple(decisions), matched=True,
        match=match, regex_mode=regex, canary=canary, main_backend=main_backend,
        canary_backend=canary_backend, notes=tuple(notes),
        ingresses=(e.ingress,) + ((same[0].ingress,) if same else ()),
    )


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
    decisions: list[ClassDecision],
    accepted: list[Mapping[str, Any]],
    host_ings: list[Mapping[str, Any]] | None,
    regex: bool,
    notes: list[str],
) -> Resolution:
    """No rule path matches: an Ingress spec.defaultBackend, else the controller's 404."""
    pool: list[Mapping[str, Any]] = []
    if host_ings:  # the host's server: a defaultBackend of one of its Ingresses
        pool = [i for i in host_ings if _default_backend_of(i) and not nx.is_canary(i)]
    if not pool:  # the catch-all server: an Ingress with a defaultBackend and no host rules
        pool = [i for i in accepted if _default_backend_of(i) and not nx.is_canary(i)
                and not any(r.get("host") for r in _rules(i))]
    if pool:
        ing = pool[0]
        ns = obj_key(ing)[1] or snapshot.namespace
        ref = backend_ref(_default_backend_of(ing), ns)
        backend = resolve_backend(snapshot, ref) if ref is not None else None
        return Resolution(
            target=target, candidates=tuple(candidates), classes=tuple(decisions), matched=False,
            regex_mode=regex, default_backend="ingress", default_backend_ingress=ingress_ref(ing),
            main_backend=backend, notes=tuple(notes), ingresses=(ing,),
        )
    notes.append("no rule matches: the controller's default backend answers 404")
    return Resolution(
        target=target, candidates=tuple(candidates), classes=tuple(decisions), matched=False,
        regex_mode=regex, default_backend="controller", notes=tuple(notes),
    )


# -- route list ------------------------------------------------------------------------------


def looks_like_websocket(path: str, service_port: Mapping[str, Any] | None = None) -> bool:
    """A WebSocket-looking route: a path like /ws /wss /socket.io, or a `ws` Service port."""
    if _WS_PATH.search(path or ""):
        return True
    if service_port:
        name = str(service_port.get("name") or "").lower()
        proto = str(service_port.get("appProtocol") or "").lower()
        if name in _WS_PORT_NAMES or proto in _WS_APP_PROTOCOLS:
            return True
    return False


@dataclass(frozen=True)
class RouteEntry:
    """One Ingress rule path and where it leads (the TUI's route list)."""

    host: str
    path: str
    path_type: str
    ingress: str  # "ns/name"
    service: str  # "ns/name:port" (or the resource)
    websocket: bool
    canary: bool
    tls: bool

    @property
    def url(self) -> str:
        scheme = ("wss" if self.tls else "ws") if self.websocket else ("https" if self.tls else "http")
        host = self.host if self.host and not self.host.startswith("*.") else (
            "www" + self.host[1:] if self.host else "localhost")
        path = self.path if self.path.startswith("/") else "/" + self.path
        return f"{scheme}://{host}{path}"


def list_routes(snapshot: Snapshot) -> list[RouteEntry]:
    """Every Ingress rule path of the snapshot (canaries included, flagged)."""
    out: list[RouteEntry] = []
    for ing in sorted(snapshot.list("Ingress"), key=lambda i: ingress_ref(i)):
        ns = obj_key(ing)[1] or snapshot.namespace
        tls_hosts = {str(h).lower() for t in maps(sub(ing, "spec").get("tls"))
                     for h in as_list(t.get("hosts"))}
        for rule in _rules(ing):
            host = str(rule.get("host") or "")
            for p in _paths(rule):
                ref = backend_ref(as_map(p.get("backend")), ns)
                sp = None
                if ref is not None and ref.service_name:
                    svc = snapshot.get("Service", ns, ref.service_name)
                    if svc is not None:
                        sp = find_service_port(svc, ref)
                path = str(p.get("path") or "/")
                out.append(RouteEntry(
                    host=host, path=path, path_type=str(p.get("pathType") or "ImplementationSpecific"),
                    ingress=ingress_ref(ing), service=ref.label if ref is not None else "",
                    websocket=looks_like_websocket(path, sp), canary=nx.is_canary(ing),
                    tls=host.lower() in tls_hosts,
                ))
    return out
