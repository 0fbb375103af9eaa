"""The probes' judges against a real nginx on loopback: its error pages, a dropped Upgrade, an idle cut."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kdiag.endpoint import Endpoint
from kdiag.lab.apps import AppBehavior, AppServer
from kdiag.probes.http import probe_http
from kdiag.probes.idle import probe_idle
from kdiag.probes.websocket import probe_websocket
from tests.conftest import require_nginx

pytestmark = pytest.mark.nginx

LO = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LO, 0))
        return int(s.getsockname()[1])


def _config(tmp: Path, port: int, ws: int, slow: int, closed: int) -> str:
    user = "user root;\n" if os.geteuid() == 0 else ""
    temps = "".join(f"{name}_temp_path {tmp / name};\n" for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""{user}daemon off;
master_process off;
worker_processes 1;
pid {tmp / 'nginx.pid'};
error_log {tmp / 'error.log'} notice;
events {{ worker_connections 64; }}
http {{
  access_log off;
  {temps}
  map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
  server {{
    listen {LO}:{port} default_server;
    server_name _;
    location / {{ return 404; }}
  }}
  server {{
    listen {LO}:{port};
    server_name chatapp.com;
    proxy_http_version 1.1;
    location /ws {{
      proxy_pass http://{LO}:{ws};
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_read_timeout 1s;
      proxy_send_timeout 1s;
    }}
    location /nohdr {{ proxy_pass http://{LO}:{ws}/ws; }}
    location /dead {{ proxy_pass http://{LO}:{closed}; }}
    location /slow {{ proxy_pass http://{LO}:{slow}; proxy_read_timeout 1s; }}
    location /noep {{ return 503; }}
  }}
}}
"""


@pytest.fixture(scope="module")
def nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    binary = require_nginx()
    tmp = tmp_path_factory.mktemp("nginx")
    with AppServer() as apps:
        port = _free_port()
        conf = tmp / "nginx.conf"
        conf.write_text(_config(tmp, port, apps.serve(AppBehavior("websocket", name="chat-0")),
                                apps.serve(AppBehavior("slow", delay=10)), apps.closed_port()))
        proc = subprocess.Popen([binary, "-p", str(tmp), "-c", str(conf), "-e", str(tmp / "error.log")],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    socket.create_connection((LO, port), timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log = (tmp / "error.log").read_text() if (tmp / "error.log").exists() else ""
                        pytest.fail(f"nginx did not start:\n{log}")
                    time.sleep(0.05)
            yield port
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def ingress(port: int) -> Endpoint:
    return Endpoint(LO, port, "ingress-address", "nginx on loopback")


@pytest.mark.parametrize(("url", "status", "answered_by", "words"), [
    ("http://chatapp.com/ws", 400, "app", "WebSocket-only"),
    ("http://unknown.example/", 404, "nginx-default-backend", "default backend"),
    ("http://chatapp.com/noep", 503, "nginx-no-endpoints", "no ready endpoint"),
    ("http://chatapp.com/dead", 502, "nginx-bad-gateway", "Bad Gateway"),
    ("http://chatapp.com/slow", 504, "nginx-gateway-timeout", "Gateway Time-out"),
])
async def test_http_through_nginx(nginx: int, url: str, status: int, answered_by: str, words: str) -> None:
    r = await probe_http(url, ingress(nginx), timeout=5)
    assert (r.status_code, r.ok, r.extra["answered_by"]) == (status, False, answered_by), r.detail
    assert words in r.detail


@pytest.mark.parametrize(("url", "status", "case"), [
    ("ws://chatapp.com/ws", 101, "ok"),
    ("ws://chatapp.com/nohdr", 400, "upgrade-header-dropped"),
    ("ws://unknown.example/ws", 404, "not-found"),
    ("ws://chatapp.com/dead", 502, "proxy-error"),
    ("ws://chatapp.com/noep", 503, "proxy-error"),
])
async def test_websocket_through_nginx(nginx: int, url: str, status: int, case: str) -> None:
    r = await probe_websocket(url, ingress(nginx), timeout=5)
    assert (r.status_code, r.extra["case"], r.ok) == (status, case, case == "ok"), r.detail
    if case == "ok":
        assert r.extra["response_headers"].get("X-App-Name") == "chat-0"


async def test_nginx_read_timeout_cuts_an_idle_websocket(nginx: int) -> None:
    """proxy_read_timeout closes an idle upgraded connection without a close frame (1006)."""
    r = await probe_idle("ws://chatapp.com/ws", ingress(nginx), idle=4, timeout=5)
    assert not r.ok, r.detail
    assert (r.extra["closed_by"], r.extra["close_code"]) == ("drop", 1006)
    assert 0.5 <= r.extra["closed_after_s"] <= 3.5
