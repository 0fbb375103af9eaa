"""The probes sit low in the layers: they never pull in the cluster access, the rules or the route."""

from __future__ import annotations

import subprocess
import sys

PROBES = ["kdiag.probes", "kdiag.probes.base", "kdiag.probes.http", "kdiag.probes.http1", "kdiag.probes.idle", "kdiag.probes.redirects",
          "kdiag.probes.socketio", "kdiag.probes.tcp", "kdiag.probes.tls", "kdiag.probes.websocket",
          "kdiag.probes.wsframe"]


def test_probes_do_not_import_kube_rules_or_route() -> None:
    code = (
        "import sys, importlib\n"
        f"for m in {PROBES!r}: importlib.import_module(m)\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('kdiag.kube', 'kdiag.rules', 'kdiag.route',"
        " 'kdiag.sources', 'kdiag.tui', 'kdiag.lab', 'kdiag.verdict', 'kdiag.diagnose')))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
