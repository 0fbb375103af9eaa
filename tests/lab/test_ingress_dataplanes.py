"""Lifecycle of both ingress data planes: start, reload, stop (no process, thread or port left)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from kdiag.lab.apps import AppBehavior, AppServer
from kdiag.lab.ingress.controller import build_ingress_config
from kdiag.lab.ingress.emulated import EmulatedIngress
from kdiag.lab.ingress.model import IngressConfig
from kdiag.lab.ingress.nginx import NginxError, NginxIngress
from tests.conftest import require_nginx

CLASS = {"kind": "IngressClass", "apiVersion": "networking.k8s.io/v1", "metadata": {"name": "nginx"},
         "spec": {"controller": "k8s.io/ingress-nginx"}}


def _objects(hosts: list[str]) -> list[dict[str, Any]]:
    pod = {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "ws-0", "namespace": "default",
                                                          "labels": {"app": "ws"}},
           "spec": {"containers": [{"name": "c", "ports": [{"containerPort": 8080}]}]},
           "status": {"phase": "Running", "podIP": "10.244.0.3", "conditions": [{"type": "Ready", "status": "True"}]}}
    svc = {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "ws", "namespace": "default"},
           "spec": {"selector": {"app": "ws"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    ings = [{"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
             "metadata": {"name": h.split(".")[0], "namespace": "default"},
             "spec": {"ingressClassName": "nginx", "rules": [{"host": h, "http": {"paths": [
                 {"path": "/", "pathType": "Prefix",
                  "backend": {"service": {"name": "ws", "port": {"number": 80}}}}]}}]}} for h in hosts]
    return [CLASS, pod, svc, *ings]


@pytest.fixture(scope="module")
def app() -> Iterator[tuple[AppServer, int]]:
    with AppServer() as apps:
        yield apps, apps.serve(AppBehavior("websocket", name="ws"))


def _config(port: int, hosts: list[str]) -> IngressConfig:
    return build_ingress_config(_objects(hosts), backends=lambda ns, pod, p: ("127.0.0.1", port))


def _make(kind: str, config: IngressConfig, **kw: Any) -> Any:
    if kind == "nginx":
        return NginxIngress(config, nginx=require_nginx(), **kw)
    return EmulatedIngress(config, **kw)


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return False
    except ConnectionRefusedError:
        return True


async def _status(plane: Any, host: str) -> int:
    async with httpx.AsyncClient(trust_env=False, timeout=5) as client:
        r = await client.get(f"http://127.0.0.1:{plane.http_port}/", headers={"Host": host})
        return r.status_code


@pytest.mark.parametrize("kind", [pytest.param("nginx", marks=pytest.mark.nginx), "emulated"])
async def test_reload_serves_new_routes_and_keeps_open_websockets(kind: str, app: tuple[AppServer, int]) -> None:
    from websockets.asyncio.client import connect

    _, port = app
    plane = _make(kind, _config(port, ["one.test"]))
    plane.start()
    try:
        assert await _status(plane, "one.test") == 200
        assert await _status(plane, "two.test") == 404
        async with connect("ws://one.test/ws", host="127.0.0.1", port=plane.http_port, proxy=None,
                           ping_interval=None, open_timeout=5) as ws:
            await asyncio.to_thread(plane.reload, _config(port, ["two.test"]))
            assert await _status(plane, "two.test") == 200
            assert await _status(plane, "one.test") == 404
            await ws.send("still there")  # old workers keep upgraded connections (worker_shutdown_timeout)
            assert await asyncio.wait_for(ws.recv(), 3) == "still there"
    finally:
        plane.stop()


@pytest.mark.parametrize("kind", [pytest.param("nginx", marks=pytest.mark.nginx), "emulated"])
def test_explicit_ports_and_clean_stop(kind: str, app: tuple[AppServer, int]) -> None:
    from kdiag.lab.ingress.nginx import free_loopback_port

    http_port, https_port = free_loopback_port(), free_loopback_port()
    threads_before = {t.ident for t in threading.enumerate()}
    plane = _make(kind, _config(app[1], ["one.test"]), http_port=http_port, https_port=https_port)
    plane.start()
    assert (plane.http_port, plane.https_port) == (http_port, https_port)
    assert plane.running
    pid = plane._proc.pid if kind == "nginx" else None
    plane.stop()
    plane.stop()  # idempotent
    assert not plane.running
    assert _refused(http_port) and _refused(https_port)
    if pid is not None:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert plane.prefix is not None and not plane.prefix.exists()
    assert {t.ident for t in threading.enumerate() if t.is_alive()} <= threads_before | {None}


@pytest.mark.nginx
def test_nginx_workers_are_gone_after_stop(app: tuple[AppServer, int]) -> None:
    plane = _make("nginx", _config(app[1], ["one.test"]))
    plane.start()
    master = plane.master_pid
    assert master is not None
    children = [int(p) for p in os.listdir("/proc") if p.isdigit() and _ppid(int(p)) == master]
    assert children  # one worker
    plane.stop()
    for pid in [master, *children]:
        assert not os.path.exists(f"/proc/{pid}") or _state(pid) == "Z"


@pytest.mark.nginx
def test_nginx_dies_with_the_process_that_started_it(tmp_path: Any, app: tuple[AppServer, int]) -> None:
    """Even when the owner is SIGKILLed (a test run killed by a timeout), nginx goes away."""
    import subprocess
    import sys
    import time

    nginx = require_nginx()
    script = tmp_path / "owner.py"
    script.write_text(
        "import sys, time\n"
        "from kdiag.lab.ingress.controller import build_ingress_config\n"
        "from kdiag.lab.ingress.nginx import NginxIngress\n"
        f"plane = NginxIngress(build_ingress_config([], backends=lambda *a: None), nginx={nginx!r}).start()\n"
        "print(plane.master_pid, plane.http_port, flush=True)\n"
        "time.sleep(60)\n")
    owner = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                             cwd=os.getcwd(), env={**os.environ, "PYTHONPATH": os.getcwd()})
    try:
        assert owner.stdout is not None
        master, port = (int(x) for x in owner.stdout.readline().split())
        assert not _refused(port)
        owner.kill()
        owner.wait(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and os.path.exists(f"/proc/{master}") and _state(master) != "Z":
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{master}") or _state(master) == "Z"
        assert _refused(port)
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(5)


def _ppid(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return ""


def test_missing_nginx_binary_is_a_clear_error(app: tuple[AppServer, int]) -> None:
    plane = NginxIngress(_config(app[1], ["one.test"]), nginx="/nonexistent/nginx")
    with pytest.raises(NginxError, match="not found"):
        plane.start()
    assert not plane.running


@pytest.mark.nginx
def test_busy_port_is_reported_with_the_error_log(app: tuple[AppServer, int]) -> None:
    require_nginx()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        plane = _make("nginx", _config(app[1], ["one.test"]), http_port=busy.getsockname()[1])
        with pytest.raises(NginxError, match="Address already in use"):
            plane.start(timeout=5)
        assert not plane.running
