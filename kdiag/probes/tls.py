"""TLS probe: handshake without verification, then judge the served certificate ourselves."""

from __future__ import annotations

import asyncio
import datetime as _dt
import ipaddress
import time
from dataclasses import dataclass

from kdiag.dataplane import profiles
from kdiag.dataplane.ingress_nginx import FAKE_CERTIFICATE_CN
from kdiag.endpoint import Endpoint
from kdiag.hosts import certificate_name_matches
from kdiag.model import ProbeResult
from kdiag.outcomes import ErrorKind
from kdiag.probes.base import (
    classify,
    elapsed_ms,
    failure_detail,
    open_stream,
    tls_target,
    unverified_context,
)

__all__ = [
    "FAKE_CERT_CN",
    "CertJudgement",
    "judge_certificate",
    "probe_tls",
]

#: Subject and issuer CN of the certificate ingress-nginx serves when it has none for a host
#: (every profile's `fallback_certificate` is recognised).
FAKE_CERT_CN = FAKE_CERTIFICATE_CN


@dataclass(frozen=True)
class CertJudgement:
    """What a certificate means for `host` at `now` (pure data).

    `problems` (make ok False): fake-ingress-cert, host-not-covered, expired, not-yet-valid,
    unparsable. `warnings`: self-signed, expires-soon (under 14 days).
    """

    ok: bool
    detail: str
    error: str | None
    problems: tuple[str, ...]
    warnings: tuple[str, ...]
    subject: str = ""
    issuer: str = ""
    sans: tuple[str, ...] = ()
    not_before: str | None = None
    not_after: str | None = None
    days_left: float | None = None
    self_signed: bool = False
    fake_ingress: bool = False
    covers_host: bool = False

    def to_extra(self) -> dict[str, object]:
        return {
            "subject": self.subject, "issuer": self.issuer, "sans": list(self.sans),
            "not_before": self.not_before, "not_after": self.not_after,
            "days_left": None if self.days_left is None else round(self.days_left, 1),
            "self_signed": self.self_signed, "fake_ingress_cert": self.fake_ingress,
            "covers_host": self.covers_host, "problems": list(self.problems), "warnings": list(self.warnings),
        }


def _norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def judge_certificate(der: bytes, host: str, now: _dt.datetime) -> CertJudgement:
    """Judge a DER certificate for `host` at `now` (pure; no chain verification)."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as e:
        return CertJudgement(False, f"The server's certificate cannot be parsed ({e}).", "tls: bad certificate",
                             ("unparsable",), ())
    if now.tzinfo is None:
        now = now.replace(tzinfo=_dt.UTC)
    subject = cert.subject.rfc4514_string()
    issuer = cert.issuer.rfc4514_string()
    cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    icns = [str(a.value) for a in cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)]
    dns: list[str] = []
    ips: list[str] = []
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = [str(n) for n in ext.get_values_for_type(x509.DNSName)]
        ips = [str(i) for i in ext.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        pass
    sans = tuple(dns + ips)
    try:
        host_ip = ipaddress.ip_address(_norm(host).strip("[]"))
    except ValueError:
        host_ip = None
    if host_ip is not None:
        covers = any(ipaddress.ip_address(i) == host_ip for i in ips)
    else:
        covers = any(certificate_name_matches(d, host) for d in dns)
    nb, na = cert.not_valid_before_utc, cert.not_valid_after_utc
    days_left = (na - now).total_seconds() / 86400
    self_signed = cert.subject == cert.issuer
    names_seen = {str(c) for c in cns + icns}
    fallback_of = next((p for p in profiles() if p.fallback_certificate in names_seen), None)
    fake = fallback_of is not None
    problems: list[str] = []
    warnings: list[str] = []
    if fake:
        problems.append("fake-ingress-cert")
    if not covers:
        problems.append("host-not-covered")
    if now > na:
        problems.append("expired")
    if now < nb:
        problems.append("not-yet-valid")
    if self_signed and not fake:
        warnings.append("self-signed")
    if 0 <= days_left < 14:
        warnings.append("expires-soon")
    names = ", ".join(sans) or (f"no SANs (CN {cns[0]})" if cns else "no names")
    if "fake-ingress-cert" in problems:
        detail = (f"The ingress controller served its built-in fake certificate for {host}: it has no valid "
                  "certificate for this host (TLS secret missing, wrong, or host not listed under tls.hosts).")
        error = f"tls: {fallback_of.name if fallback_of else 'ingress'} fake certificate"
    elif "host-not-covered" in problems:
        detail = f"The certificate does not cover {host} (it names {names})."
        error = "tls: certificate does not match host"
    elif "expired" in problems:
        detail = f"The certificate for {host} expired on {na.isoformat()}."
        error = "tls: certificate has expired"
    elif "not-yet-valid" in problems:
        detail = f"The certificate for {host} is not valid before {nb.isoformat()}."
        error = "tls: certificate is not yet valid"
    else:
        extra = ""
        if "self-signed" in warnings:
            extra = " It is self-signed, so clients will not trust it unless told to."
        elif "expires-soon" in warnings:
            extra = f" It expires in {days_left:.0f} days."
        detail = f"The certificate covers {host} and is valid until {na.date().isoformat()}.{extra}"
        error = None
    return CertJudgement(not problems, detail, error, tuple(problems), tuple(warnings), subject, issuer, sans,
                         nb.isoformat(), na.isoformat(), days_left, self_signed, fake, covers)


async def probe_tls(endpoint: Endpoint, *, server_name: str, timeout: float = 5.0) -> ProbeResult:
    """TLS handshake with SNI `server_name` (no verification), then judge the certificate."""
    start = time.monotonic()
    target = tls_target(endpoint, server_name)
    extra: dict[str, object] = {"endpoint": endpoint.label, "sni": server_name}
    writer: asyncio.StreamWriter | None = None
    try:
        try:
            _, writer = await open_stream(endpoint, server_hostname=server_name, timeout=timeout, tls=True,
                                          ssl_context=unverified_context(("h2", "http/1.1")))
        except (OSError, TimeoutError, EOFError) as e:
            kind, err = classify(e)
            detail = failure_detail(err, endpoint.label, timeout=timeout, waiting_for="a TLS handshake")
            return ProbeResult("tls", endpoint.via, target, False, elapsed_ms=elapsed_ms(start), detail=detail,
                               error=err, extra=extra, error_kind=kind)
        ms = elapsed_ms(start)
        so = writer.get_extra_info("ssl_object")
        der = so.getpeercert(True) if so is not None else None
        extra["tls_version"] = so.version() if so is not None else None
        extra["alpn"] = so.selected_alpn_protocol() if so is not None else None
    finally:
        if writer is not None:
            writer.transport.abort()
    if not der:
        return ProbeResult("tls", endpoint.via, target, False, elapsed_ms=ms,
                           detail=f"{endpoint.label}: the server sent no certificate.", error="tls: no certificate",
                           extra=extra, error_kind=ErrorKind.CERTIFICATE)
    j = judge_certificate(der, server_name, _dt.datetime.now(_dt.UTC))
    extra.update(j.to_extra())
    return ProbeResult("tls", endpoint.via, target, j.ok, elapsed_ms=ms, detail=j.detail, error=j.error, extra=extra,
                       error_kind=None if j.ok else ErrorKind.CERTIFICATE)
