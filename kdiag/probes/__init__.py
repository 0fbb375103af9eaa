"""Probes: small async functions that reach one hop for real and return a ProbeResult (never raise).

Import the function you need from its module (`kdiag.probes.http`, `.websocket`, `.idle`, `.tcp`,
`.tls`, `.socketio`); all connect through a `kdiag.endpoint.Endpoint` and say why they failed with a
`kdiag.outcomes.ErrorKind`. Only the standard library is imported here (cryptography is imported
lazily by the certificate judge). Probes never import the cluster access, the rules or the route.
"""

from __future__ import annotations

from kdiag.probes.http import judge_http, probe_http
from kdiag.probes.idle import probe_idle
from kdiag.probes.socketio import probe_socketio
from kdiag.probes.tcp import probe_tcp
from kdiag.probes.tls import CertJudgement, judge_certificate, probe_tls
from kdiag.probes.websocket import HandshakeJudgement, judge_handshake, probe_websocket

__all__ = [
    "CertJudgement",
    "HandshakeJudgement",
    "judge_certificate",
    "judge_handshake",
    "judge_http",
    "probe_http",
    "probe_idle",
    "probe_socketio",
    "probe_tcp",
    "probe_tls",
    "probe_websocket",
]
