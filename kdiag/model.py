"""The result types every part of kdiag speaks: findings, probe results, hops, verdicts, reports.

All are frozen dataclasses. `Report.to_dict()` produces exactly the `kdiag.report/v1` JSON
contract of DESIGN.md and `Report.from_dict()` reads it back (for `kdiag report show`).
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kdiag import __version__
from kdiag.outcomes import ErrorKind
from kdiag.shape import as_list, maps

__all__ = [
    "ALL_HOPS",
    "GATEWAY_HOPS",
    "HOPS",
    "SCHEMA",
    "Finding",
    "HopResult",
    "ObjectRef",
    "PortRef",
    "ProbeResult",
    "Report",
    "RouteInfo",
    "RuleRef",
    "Severity",
    "SourceInfo",
    "Subject",
    "TargetInfo",
    "Verdict",
    "exit_code_for",
    "severity_rank",
]

SCHEMA = "kdiag.report/v1"

#: The hops of a request path, client first.
HOPS: tuple[str, ...] = ("client", "ingress", "service", "endpoints", "pod")
#: The hops of a Gateway API route: `gateway` is its entry proxy, in place of `ingress`.
GATEWAY_HOPS: tuple[str, ...] = ("client", "gateway", "service", "endpoints", "pod")
#: Every hop name a report may carry.
ALL_HOPS: tuple[str, ...] = ("client", "ingress", "gateway", "service", "endpoints", "pod")

Severity = Literal["error", "warning", "info"]
HopStatus = Literal["ok", "warn", "fail", "skip"]

_SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


# -- reading saved reports: any JSON may sit where a field is expected ------------------------


def _text(value: Any, default: str = "") -> str:
    """A string field read from JSON: None is the default, anything else its str()."""
    if value is None:
        return default
    return value if isinstance(value, str) else str(value)


def _opt_text(value: Any) -> str | None:
    return None if value is None else _text(value)


def _map(value: Any) -> dict[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _opt_map(value: Any) -> dict[str, Any] | None:
    return _map(value) if isinstance(value, Mapping) else None


def _maps(value: Any, what: str) -> list[Mapping[str, Any]]:
    """A list of objects; an item that is not an object makes the report malformed."""
    items = as_list(value)
    for i, v in enumerate(items):
        if not isinstance(v, Mapping):
            raise TypeError(f"{what}[{i}] is a {type(v).__name__}, not an object")
    return items


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(_text(v) for v in as_list(value) if v is not None)


def _opt_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _port(value: Any) -> int | str | None:
    return value if isinstance(value, str) else _opt_int(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        f = float(value)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _choice(value: Any, choices: tuple[str, ...], default: str) -> Any:
    return value if isinstance(value, str) and value in choices else default


def severity_rank(severity: str) -> int:
    """Order severities: info < warning < error."""
    return _SEVERITY_RANK.get(severity, 0)


@dataclass(frozen=True)
class ObjectRef:
    """Which Kubernetes object: kind, namespace (None when cluster-scoped) and name."""

    kind: str
    namespace: str | None
    name: str

    @classmethod
    def parse(cls, text: str) -> ObjectRef | None:
        """Read a finding's object text ("Kind ns/name", "Kind name", "... (pod template)")."""
        kind, _, rest = text.removesuffix(" (pod template)").strip().partition(" ")
        if not kind or not rest or " " in rest:
            return None
        ns, _, name = rest.rpartition("/")
        return cls(kind, ns or None, name)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "namespace": self.namespace, "name": self.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ObjectRef:
        return cls(_text(d.get("kind")), _opt_text(d.get("namespace")), _text(d.get("name")))


@dataclass(frozen=True)
class PortRef:
    """Which Service port: its number, its name, and the targetPort it sends to."""

    port: int | None = None
    name: str | None = None
    target_port: int | str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"port": self.port, "name": self.name, "target_port": self.target_port}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PortRef:
        return cls(port=_opt_int(d.get("port")), name=_opt_text(d.get("name")),
                   target_port=_port(d.get("target_port")))


@dataclass(frozen=True)
class RuleRef:
    """Which Ingress rule: the Ingress ("ns/name"), its host ("" for any host) and path."""

    ingress: str | None
    host: str
    path: str

    @property
    def where(self) -> str:
        """The rule as findings name it: "chatapp.com/wss", "*/api"."""
        return f"{self.host or '*'}{self.path}"

    def to_dict(self) -> dict[str, Any]:
        return {"ingress": self.ingress, "host": self.host, "path": self.path}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RuleRef:
        return cls(ingress=_opt_text(d.get("ingress")), host=_text(d.get("host") or ""),
                   path=_text(d.get("path") or "/"))


@dataclass(frozen=True)
class Subject:
    """What a finding is about: an object, and where relevant one Service port and one Ingress rule."""

    object: ObjectRef | None = None
    port: PortRef | None = None
    rule: RuleRef | None = None

    @classmethod
    def infer(cls, obj: str, evidence: Mapping[str, Any]) -> Subject:
        """The subject of a finding built without one (older reports): its object text and port."""
        port = evidence.get("service_port")
        return cls(object=ObjectRef.parse(obj),
                   port=PortRef(port=port, target_port=evidence.get("target_port")) if isinstance(port, int) else None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "object": None if self.object is None else self.object.to_dict(),
            "port": None if self.port is None else self.port.to_dict(),
            "rule": None if self.rule is None else self.rule.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Subject:
        return cls(
            object=ObjectRef.from_dict(d["object"]) if isinstance(d.get("object"), Mapping) and d["object"] else None,
            port=PortRef.from_dict(d["port"]) if isinstance(d.get("port"), Mapping) and d["port"] else None,
            rule=RuleRef.from_dict(d["rule"]) if isinstance(d.get("rule"), Mapping) and d["rule"] else None,
        )


@dataclass(frozen=True)
class Finding:
    """One problem (or note) about one object, tied to a check of the catalog.

    Build findings with `kdiag.findings.make_finding` (it reads the catalog). `subject` says what
    the finding is about in structured form; `about` is it, or for a finding built without one
    (an older report) what its `object` and evidence say.
    """

    check: str
    severity: Severity
    hop: str
    object: str  # "Kind ns/name", "Kind name" for cluster-scoped, or "" when not about one object
    message: str
    explanation: str = ""
    fix: str = ""
    evidence: Mapping[str, Any] = field(default_factory=dict)
    subject: Subject | None = None

    @property
    def about(self) -> Subject:
        """The structured subject (given, or inferred from the object and evidence)."""
        return self.subject if self.subject is not None else Subject.infer(self.object, self.evidence)

    def to_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity,
            "hop": self.hop,
            "object": self.object,
            "message": self.message,
            "explanation": self.explanation,
            "fix": self.fix,
            "evidence": dict(self.evidence),
            "subject": self.about.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            check=_text(d.get("check")),
            severity=_choice(d.get("severity"), ("error", "warning", "info"), "info"),
            hop=_text(d.get("hop")),
            object=_text(d.get("object")),
            message=_text(d.get("message")),
            explanation=_text(d.get("explanation")),
            fix=_text(d.get("fix")),
            evidence=_map(d.get("evidence")),
            subject=Subject.from_dict(d["subject"]) if isinstance(d.get("subject"), Mapping) and d["subject"] else None,
        )


@dataclass(frozen=True)
class ProbeResult:
    """What one probe saw. Probes return these; they never raise for a network outcome.

    `kind` is http | websocket | tcp | tls | idle; `via` is how the hop was reached:
    ingress-address | nodeport | service-proxy | port-forward | direct | dns.
    `extra` carries the evidence that does not fit the contract's fixed keys (request and
    response lines, headers, body excerpt, close code, certificate facts ...); it is written to
    JSON under the same names. `error_kind` says why a probe failed (None when it succeeded, and
    in reports written before it existed); decisions read it, never the prose in `detail`/`error`.
    """

    kind: str
    via: str
    target: str
    ok: bool
    status_code: int | None = None
    elapsed_ms: float | None = None
    detail: str = ""
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    error_kind: ErrorKind | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "via": self.via,
            "target": self.target,
            "ok": self.ok,
            "status_code": self.status_code,
            "elapsed_ms": None if self.elapsed_ms is None else round(self.elapsed_ms, 1),
            "detail": self.detail,
            "error": self.error,
            "error_kind": None if self.error_kind is None else str(self.error_kind),
        }
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ProbeResult:
        fixed = {"kind", "via", "target", "ok", "status_code", "elapsed_ms", "detail", "error", "error_kind"}
        return cls(
            kind=_text(d.get("kind")),
            via=_text(d.get("via")),
            target=_text(d.get("target")),
            ok=d.get("ok") is True,
            status_code=_opt_int(d.get("status_code")),
            elapsed_ms=_number(d.get("elapsed_ms")),
            detail=_text(d.get("detail") or ""),
            error=_opt_text(d.get("error")),
            extra={str(k): v for k, v in d.items() if k not in fixed},
            error_kind=_error_kind(d.get("error_kind")),
        )


def _error_kind(value: Any) -> ErrorKind | None:
    """An `error_kind` read from JSON: None when absent (older reports), OTHER when unknown."""
    if value is None:
        return None
    try:
        return ErrorKind(str(value))
    except ValueError:
        return ErrorKind.OTHER


@dataclass(frozen=True)
class HopResult:
    """The state of one hop after a walk."""

    hop: str
    status: HopStatus
    summary: str
    probes: tuple[ProbeResult, ...] = ()
    objects: tuple[str, ...] = ()  # "Kind ns/name" of the objects this hop is made of

    def to_dict(self) -> dict[str, Any]:
        return {
            "hop": self.hop,
            "status": self.status,
            "summary": self.summary,
            "probes": [p.to_dict() for p in self.probes],
            "objects": list(self.objects),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HopResult:
        return cls(
            hop=_text(d.get("hop")),
            status=_choice(d.get("status"), ("ok", "warn", "fail", "skip"), "skip"),
            summary=_text(d.get("summary")),
            probes=tuple(ProbeResult.from_dict(p) for p in _maps(d.get("probes"), "probes")),
            objects=_texts(d.get("objects")),
        )


@dataclass(frozen=True)
class Verdict:
    """The answer. `finding` is the index of the root finding in the report's findings, if any."""

    status: Literal["ok", "warn", "fail"]
    hop: str | None
    check: str | None
    summary: str
    finding: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "hop": self.hop, "check": self.check, "summary": self.summary,
                "finding": self.finding}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Verdict:
        found = d.get("finding")
        return cls(
            status=_choice(d.get("status"), ("ok", "warn", "fail"), "ok"),
            hop=_opt_text(d.get("hop")),
            check=_opt_text(d.get("check")),
            summary=_text(d.get("summary")),
            finding=_opt_int(found),
        )


@dataclass(frozen=True)
class SourceInfo:
    kind: Literal["cluster", "manifests", "report"]
    context: str | None = None
    namespace: str | None = None
    paths: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "context": self.context,
            "namespace": self.namespace,
            "paths": list(self.paths),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SourceInfo:
        return cls(
            kind=_choice(d.get("kind"), ("cluster", "manifests", "report"), "report"),
            context=_opt_text(d.get("context")),
            namespace=_opt_text(d.get("namespace")),
            paths=_texts(d.get("paths")),
        )


@dataclass(frozen=True)
class TargetInfo:
    url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    client_url: str | None = None
    page_url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "headers": dict(self.headers),
            "client_url": self.client_url,
            "page_url": self.page_url,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TargetInfo:
        return cls(
            url=_text(d.get("url")),
            headers={k: _text(v) for k, v in _map(d.get("headers")).items()},
            client_url=_opt_text(d.get("client_url")),
            page_url=_opt_text(d.get("page_url")),
        )


@dataclass(frozen=True)
class RouteInfo:
    """The resolved route, as written in the report's `route` object."""

    ingress: str | None = None  # "ns/name"
    rule: Mapping[str, Any] | None = None  # {"host", "path", "pathType"}
    canary: Mapping[str, Any] | None = None
    service: str | None = None  # "ns/name"
    port: int | str | None = None
    target_port: int | str | None = None
    pods: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    dataplane: Mapping[str, Any] | None = None  # {"controller": ..., "profile": ...}
    kind: str = "Ingress"  # "Ingress" | "HTTPRoute" | "GRPCRoute"
    gateway: str | None = None  # "ns/name" of the Gateway (Gateway API routes)
    listener: str | None = None
    httproute: str | None = None  # "ns/name" of the HTTPRoute (or GRPCRoute)
    backends: tuple[Mapping[str, Any], ...] = ()  # [{"service": "ns/name", "port": 80, "weight": 1}]
    #: Routes of the other API serving the same host that were not walked.
    alternatives: tuple[Mapping[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "kind": self.kind,
            "ingress": self.ingress,
            "gateway": self.gateway,
            "listener": self.listener,
            "httproute": self.httproute,
            "rule": None if self.rule is None else dict(self.rule),
            "canary": None if self.canary is None else dict(self.canary),
            "service": self.service,
            "port": self.port,
            "target_port": self.target_port,
            "pods": list(self.pods),
        }
        if self.dataplane is not None:
            d["dataplane"] = dict(self.dataplane)
        if self.backends:
            d["backends"] = [dict(b) for b in self.backends]
        if self.alternatives:
            d["alternatives"] = [dict(a) for a in self.alternatives]
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    def canary_summary(self) -> str | None:
        """The canary decision as one sentence, e.g. "default/game-canary: chosen (header ...)"."""
        c = self.canary
        if not c:
            return None
        if "ingress" not in c:
            return ", ".join(f"{k}={v}" for k, v in c.items())
        verdict = "chosen" if c.get("chosen") else "not chosen"
        if c.get("probabilistic") and c.get("probability") is not None:
            verdict += f" (probabilistic: {float(c['probability']):.0%} of requests go to the canary)"
        reason = f" ({c['reason']})" if c.get("reason") else ""
        return f"{c['ingress']}: {verdict}{reason}"

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RouteInfo:
        fixed = {"ingress", "rule", "canary", "service", "port", "target_port", "pods", "dataplane", "kind",
                 "gateway", "listener", "httproute", "backends", "alternatives"}
        return cls(
            kind=_text(d.get("kind")) or "Ingress",
            gateway=_opt_text(d.get("gateway")),
            listener=_opt_text(d.get("listener")),
            httproute=_opt_text(d.get("httproute")),
            backends=tuple(maps(d.get("backends"))),
            alternatives=tuple(maps(d.get("alternatives"))),
            ingress=_opt_text(d.get("ingress")),
            rule=_opt_map(d.get("rule")),
            canary=_opt_map(d.get("canary")),
            service=_opt_text(d.get("service")),
            port=_port(d.get("port")),
            target_port=_port(d.get("target_port")),
            pods=_texts(d.get("pods")),
            dataplane=_opt_map(d.get("dataplane")),
            extra={str(k): v for k, v in d.items() if k not in fixed},
        )


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Report:
    """A whole diagnosis (or lint run). `target`, `route` and `hops` are None for lint."""

    source: SourceInfo
    findings: tuple[Finding, ...]
    verdict: Verdict
    target: TargetInfo | None = None
    route: RouteInfo | None = None
    hops: tuple[HopResult, ...] | None = None
    created: str = field(default_factory=_now)
    kdiag_version: str = __version__
    #: `kdiag watch`'s figures and timeline (DESIGN.md "JSON report"); None for other commands.
    watch: Mapping[str, Any] | None = None
    #: What the walk cost the API server: {"api_requests": N, "api_bytes": N, "api_probes": N} (the read, and
    #: the probes that went through it); None: no cluster read.
    stats: Mapping[str, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema": SCHEMA,
            "kdiag_version": self.kdiag_version,
            "created": self.created,
            "source": self.source.to_dict(),
        }
        if self.target is not None:
            d["target"] = self.target.to_dict()
        if self.route is not None:
            d["route"] = self.route.to_dict()
        if self.hops is not None:
            d["hops"] = [h.to_dict() for h in self.hops]
        d["findings"] = [f.to_dict() for f in self.findings]
        d["verdict"] = self.verdict.to_dict()
        if self.watch is not None:
            d["watch"] = dict(self.watch)
        if self.stats is not None:
            d["stats"] = dict(self.stats)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a kdiag report (schema is {d.get('schema')!r}, expected {SCHEMA!r})")
        findings = tuple(Finding.from_dict(f) for f in _maps(d.get("findings"), "findings"))
        verdict = Verdict.from_dict(_map(d.get("verdict")))
        if verdict.finding is not None and not 0 <= verdict.finding < len(findings):
            verdict = Verdict(verdict.status, verdict.hop, verdict.check, verdict.summary)
        return cls(
            source=SourceInfo.from_dict(_map(d.get("source"))),
            findings=findings,
            verdict=verdict,
            target=TargetInfo.from_dict(d["target"]) if isinstance(d.get("target"), Mapping) and d["target"] else None,
            route=RouteInfo.from_dict(d["route"]) if isinstance(d.get("route"), Mapping) and d["route"] else None,
            hops=tuple(HopResult.from_dict(h) for h in _maps(d["hops"], "hops")) if d.get("hops") is not None else None,
            created=_text(d.get("created")),
            kdiag_version=_text(d.get("kdiag_version")),
            watch=d["watch"] if isinstance(d.get("watch"), Mapping) else None,
            stats=_stats(d.get("stats")),
        )

    @property
    def exit_code(self) -> int:
        return exit_code_for(self.findings)


def _stats(value: Any) -> dict[str, int] | None:
    if not isinstance(value, Mapping):
        return None
    return {str(k): int(v) for k, v in value.items() if isinstance(v, int) and not isinstance(v, bool)}


def exit_code_for(findings: Sequence[Finding]) -> int:
    """0 when no finding has error severity, else 1 (DESIGN.md exit codes)."""
    return 1 if any(f.severity == "error" for f in findings) else 0
