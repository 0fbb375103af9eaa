"""What the benchmarks share."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def bytecode_env(env: dict[str, str], tmp: Path, disabled: bool = False) -> dict[str, str]:
    """The environment for kdiag's processes: with a bytecode cache, as an installed kdiag runs.

    pip compiles a wheel's modules at install, so a user's `kdiag` never compiles its ~110
    modules from source; a checkout run with PYTHONDONTWRITEBYTECODE=1 (as on the project's
    machines) would, in every process (about 0.2 s here). The cache lives in a temporary folder
    (PYTHONPYCACHEPREFIX), filled once before the runs; the checkout stays clean.
    `--no-bytecode-cache` measures the other case.
    """
    if disabled:
        return env
    env = {**env, "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "kdiag")], env=env, check=True)
    return env
