"""Run real HAProxy (Debian's `haproxy`) on loopback with a configuration from `render_haproxy`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kdiag.lab.haproxy.render import HAProxyConfig, render_haproxy
from kdiag.lab.ingress.model import BackendsFn

__all__ = ["HAProxyIngress", "haproxy_binary"]


def haproxy_binary() -> str | None:
    return shutil.which("haproxy") or (Path("/usr/sbin/haproxy").exists() and "/usr/sbin/haproxy") or None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HAProxyIngress:
    """HAProxy in the foreground (`-db`) serving the Ingresses of `objects` on 127.0.0.1:http_port."""

    def __init__(self, objects: Iterable[Mapping[str, Any]], *, backends: BackendsFn, flavor: str = "haproxytech",
                 haproxy: str = "haproxy", http_port: int = 0, https_port: int = 0, ingress_class: str = "haproxy",
                 configmap: Mapping[str, str] | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="kdiag-haproxy-")
        self._http_port = http_port or _free_port()
        self._https_port = https_port
        self.binary = haproxy
        self.config: HAProxyConfig = render_haproxy(objects, backends=backends, flavor=flavor,
                                                    http_port=self._http_port, ingress_class=ingress_class,
                                                    configmap=configmap, map_dir=self._dir.name)
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def http_port(self) -> int:
        return self._http_port

    @property
    def https_port(self) -> int:
        return self._https_port

    def start(self, timeout: float = 10.0) -> HAProxyIngress:
        d = Path(self._dir.name)
        for name, content in self.config.maps.items():
            (d / name).write_text(content, encoding="utf-8")
        cfg = d / "haproxy.cfg"
        cfg.write_text(self.config.text, encoding="utf-8")
        check = subprocess.run([self.binary, "-c", "-q", "-f", str(cfg)], capture_output=True, timeout=10)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy rejected the configuration: {check.stderr.decode(errors='replace')}")
        self._proc = subprocess.Popen([self.binary, "-db", "-f", str(cfg)], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise RuntimeError(f"haproxy exited: {err}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self._http_port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("haproxy did not start listening")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        self._dir.cleanup()

    def __enter__(self) -> HAProxyIngress:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
