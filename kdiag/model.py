"""The result types every part of kdiag speaks: findings, probe results, hops, verdicts, reports.

All are frozen dataclasses. `Report.to_dict()` produces exactly the `kdiag.report/v1` JSON
contract of DESIGN.md and `Report.from_dict()` reads it back (for `kdiag report show`).
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from kdiag import __version__
from kdiag.outcomes import ErrorKind

__all__ = [
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

Severity = Literal["error", "warning", "info"]
HopStatus = Literal["ok", "warn", "fail", "skip"]

_SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


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
        ns = d.get("namespace")
        return cls(str(d.get("kind", "")), None if ns is None else str(ns), str(d.get("name", "")))


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
        return cls(port=d.get("port"), name=d.get("name"), target_port=d.get("target_port"))


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
        return cls(ingress=d.get("ingress"), host=str(d.get("host") or ""), path=str(d.get("path") or "/"))


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
            object=ObjectRef.from_dict(d["object"]) if d.get("object") else None,
            port=PortRef.from_dict(d["port"]) if d.get("port") else None,
            rule=RuleRef.from_dict(d["rule"]) if d.get("rule") else None,
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
            check=str(d.get("check", "")),
            severity=d.get("severity", "info"),
            hop=str(d.get("hop", "")),
            object=str(d.get("object", "")),
            message=str(d.get("message", "")),
            explanation=str(d.get("explanation", "")),
            fix=str(d.get("fix", "")),
            evidence=dict(d.get("evidence") or {}),
            subject=Subject.from_dict(d["subject"]) if d.get("subject") else None,
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
            kind=str(d.get("kind", "")),
            via=str(d.get("via", "")),
            target=str(d.get("target", "")),
            ok=bool(d.get("ok", False)),
            status_code=d.get("status_code"),
            elapsed_ms=d.get("elapsed_ms"),
            detail=str(d.get("detail") or ""),
            error=d.get("error"),
            extra={k: v for k, v in d.items() if k not in fixed},
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
            hop=str(d.get("hop", "")),
            status=d.get("status", "skip"),
            summary=str(d.get("summary", "")),
            probes=tuple(ProbeResult.from_dict(p) for p in d.get("probes") or ()),
            objects=tuple(d.get("objects") or ()),
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
            status=d.get("status", "ok"),
            hop=d.get("hop"),
            check=d.get("check"),
            summary=str(d.get("summary", "")),
            finding=found if isinstance(found, int) else None,
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
            kind=d.get("kind", "report"),
            context=d.get("context"),
            namespace=d.get("namespace"),
            paths=tuple(d.get("paths") or ()),
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
            url=str(d.get("url", "")),
            headers=dict(d.get("headers") or {}),
            client_url=d.get("client_url"),
            page_url=d.get("page_url"),
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

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "ingress": self.ingress,
            "rule": None if self.rule is None else dict(self.rule),
            "canary": None if self.canary is None else dict(self.canary),
            "service": self.service,
            "port": self.port,
            "target_port": self.target_port,
            "pods": list(self.pods),
        }
        if self.dataplane is not None:
            d["dataplane"] = dict(self.dataplane)
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
        fixed = {"ingress", "rule", "canary", "service", "port", "target_port", "pods", "dataplane"}
        return cls(
            ingress=d.get("ingress"),
            rule=d.get("rule"),
            canary=d.get("canary"),
            service=d.get("service"),
            port=d.get("port"),
            target_port=d.get("target_port"),
            pods=tuple(d.get("pods") or ()),
            dataplane=d.get("dataplane"),
            extra={k: v for k, v in d.items() if k not in fixed},
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
    #: What reading the cluster cost: {"api_requests": N, "api_bytes": N} (None: no cluster read).
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
        if self.stats is not None:
            d["stats"] = dict(self.stats)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Report:
        if d.get("schema") != SCHEMA:
            raise ValueError(f"not a kdiag report (schema is {d.get('schema')!r}, expected {SCHEMA!r})")
        return cls(
            source=SourceInfo.from_dict(d.get("source") or {}),
            findings=tuple(Finding.from_dict(f) for f in d.get("findings") or ()),
            verdict=Verdict.from_dict(d.get("verdict") or {}),
            target=TargetInfo.from_dict(d["target"]) if d.get("target") else None,
            route=RouteInfo.from_dict(d["route"]) if d.get("route") else None,
            hops=tuple(HopResult.from_dict(h) for h in d["hops"]) if d.get("hops") is not None else None,
            created=str(d.get("created", "")),
            kdiag_version=str(d.get("kdiag_version", "")),
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
