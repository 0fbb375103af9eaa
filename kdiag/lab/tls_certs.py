"""The lab controller's self-signed "Kubernetes Ingress Controller Fake Certificate"."""

from __future__ import annotations

import datetime
import functools
import ssl

from kdiag.dataplane.ingress_nginx import FAKE_CERTIFICATE_CN

__all__ = ["FAKE_CERT_CN", "FAKE_CERT_ORG", "app_tls_context", "fake_certificate"]

#: Subject of the certificate ingress-nginx serves when a host has no usable TLS Secret.
FAKE_CERT_CN = FAKE_CERTIFICATE_CN
FAKE_CERT_ORG = "Acme Co"


@functools.cache
def fake_certificate() -> tuple[bytes, bytes]:
    """(cert PEM, key PEM) of a self-signed cert like the controller's default one.

    Minted once per process (ECDSA P-256, so it is fast); subject O=Acme Co, CN=Kubernetes
    Ingress Controller Fake Certificate, SAN ingress.local, valid for a year from now.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, FAKE_CERT_ORG),
        x509.NameAttribute(NameOID.COMMON_NAME, FAKE_CERT_CN),
    ])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("ingress.local")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert_pem, key_pem


@functools.cache
def app_tls_context() -> ssl.SSLContext:
    """Server-side TLS for lab apps that serve HTTPS themselves (a self-signed certificate, as a
    pod's own nginx usually has)."""
    import os
    import tempfile

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory(prefix="kdiag-app-tls-") as d:
        crt, key = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        for path, data in zip((crt, key), fake_certificate(), strict=True):
            with open(path, "wb") as f:
                f.write(data)
        ctx.load_cert_chain(crt, key)
    return ctx
