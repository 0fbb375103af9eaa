"""Real nginx as the lab's ingress controller, configured the way ingress-nginx renders Ingresses.

`render_nginx_conf` is a pure function of the IR (`kdiag.lab.ingress.model.IngressConfig`);
`NginxIngress` runs it in a private prefix directory (pid, logs, temp paths, certificates inside
it), listening on 127.0.0.1 only. Nothing here is needed by `kdiag demo` (which uses
`kdiag.lab.ingress.emulated`); only tests and `Lab(dataplane="nginx")` need the nginx binary.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kdiag.lab.ingress.model import (
    DEFAULT_BACKEND,
    NEXT_UPSTREAM_TRIES,
    Address,
    Canary,
    IngressConfig,
    Location,
    Server,
    TlsCert,
    Upstream,
    reserve_refusing_port,
)

__all__ = ["NginxIngress", "NginxError", "free_loopback_port", "render_nginx_conf"]

LOOPBACK = "127.0.0.1"


#: sh -c script: start nginx ("$0" "$@"), kill it when stdin reaches EOF, exit with its status.
_WATCHDOG = 'exec 3<&0; "$0" "$@" & p=$!; (read _ <&3; kill -TERM "$p" 2>/dev/null) & exec 3<&-; wait "$p"'


class NginxError(RuntimeError):
    """nginx would not start or reload; the message carries the end of its error log."""


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _q(value: str) -> str:
    """A double-quoted nginx config string (the parser unescapes \\\\ and \\")."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _pcre_literal(value: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "\\" + c for c in value)


def _var_suffix(header: str) -> str | None:
    name = header.strip().lower()
    return name.replace("-", "_") if re.fullmatch(r"[a-z0-9_-]+", name) else None


def _server_name(host: str) -> str:
    if host == "_":
        return "_"
    if host.startswith("*."):
        return _q("~^(?<subdomain>[\\w-]+)" + re.escape(host[1:]) + "$")
    return host


def _upstream_block(up: Upstream, dead: Address) -> list[str]:
    lines = [f"upstream {up.name} {{"]
    for ep in up.endpoints:
        host, port = ep.address or dead
        lines.append(f"    server {host}:{port} max_fails=0;  # {ep.pod or '-'} {ep.ip}:{ep.port}")
    lines += ["    keepalive 320;", "    keepalive_time 1h;", "    keepalive_timeout 60s;",
              "    keepalive_requests 10000;", "}"]
    return lines


def _upstream_header_lines(config: IngressConfig, header: str | None) -> list[str]:
    if not header:
        return []
    lines = ["map $upstream_addr $kdiag_upstream_endpoint {", "    default $upstream_addr;"]
    for up in config.upstreams():
        for ep in up.endpoints:
            if ep.address is not None:
                lines.append(f'    "~(^|, ){re.escape(ep.address[0])}:{ep.address[1]}$" "{ep.ip}:{ep.port}";')
    return [*lines, "}", f"add_header {header} $kdiag_upstream_endpoint always;"]


def _canary_maps(idx: int, loc: Location, canary: Canary) -> tuple[list[str], str]:
    """nginx maps choosing the canary like balancer.lua: header, then cookie, then weight."""
    main = loc.upstream.name if loc.upstream else ""
    alt = canary.upstream.name
    base = f"kdiag_canary_{idx}"
    lines: list[str] = []
    total = canary.weight_total if canary.weight_total > 100 else 100
    weight_var = f"${base}_weight"
    if canary.weight <= 0:
        weight_var = main
    elif canary.weight >= total:
        weight_var = alt
    else:
        pct = f"{canary.weight * 100 / total:.2f}".rstrip("0").rstrip(".")
        lines += [f'split_clients "${{request_id}}" ${base}_weight {{', f"    {pct}% {alt};",
                  f"    * {main};", "}"]
    after_header = weight_var
    cookie_suffix = canary.cookie.strip() if canary.cookie else None
    if cookie_suffix and re.fullmatch(r"[A-Za-z0-9_-]+", cookie_suffix):
        lines += [f"map $cookie_{cookie_suffix} ${base}_cookie {{", f'    "~^always$" {alt};',
                  f'    "~^never$" {main};', f"    default {weight_var};", "}"]
        after_header = f"${base}_cookie"
    suffix = _var_suffix(canary.header) if canary.header else None
    if suffix is None:
        return lines, after_header
    lines.append(f"map $http_{suffix} ${base} {{")
    if canary.header_value:
        lines.append(f"    {_q('~^' + _pcre_literal(canary.header_value) + '$')} {alt};")
    elif canary.header_pattern:
        lines.append(f"    {_q('~' + canary.header_pattern)} {alt};")
    else:
        lines += [f'    "~^always$" {alt};', f'    "~^never$" {main};']
    lines += [f"    default {after_header};", "}"]
    return lines, f"${base}"


def _affinity_var(cookie: str) -> str | None:
    return cookie.lower().replace("-", "_") if re.fullmatch(r"[A-Za-z0-9_-]+", cookie) else None


def _affinity_upstream(up: Upstream, cookie: str) -> str:
    return f"{up.name}-affinity-{_affinity_var(cookie)}"


def _set_cookie_var(loc: Location) -> str:
    import hashlib

    digest = hashlib.sha1(loc.affinity_path.encode()).hexdigest()[:8]
    return f"kdiag_set_cookie_{_affinity_var(loc.affinity_cookie or '')}_{digest}"


def _set_cookie_map(loc: Location) -> list[str]:
    """Set-Cookie for a new session only (empty values are not sent by add_header)."""
    value = f"{loc.affinity_cookie}=$request_id; Path={loc.affinity_path}; HttpOnly"
    return [f"map $cookie_{loc.affinity_cookie} ${_set_cookie_var(loc)} {{", f'    "" {_q(value)};',
            '    default "";', "}"]


def _affinity_blocks(up: Upstream, cookie: str, dead: Address) -> list[str]:
    """A consistent-hash upstream keyed by the session cookie (or a fresh $request_id)."""
    var = _affinity_var(cookie)
    lines = [f"map $cookie_{cookie} $kdiag_affinity_{var} {{", '    "" $request_id;',
             f"    default $cookie_{cookie};", "}"]
    block = _upstream_block(up, dead)
    block[0] = f"upstream {_affinity_upstream(up, cookie)} {{"
    block.insert(1, f"    hash $kdiag_affinity_{var} consistent;")
    return lines + block


def _location_block(loc: Location, target: str | None, *, https_port: int, drop_upgrade: bool,
                    alt_name: str, redirect: bool, dead: Address) -> list[str]:
    head = f"location {loc.modifier + ' ' if loc.modifier else ''}{_q(loc.path)} {{"
    ns, _, name = loc.ingress.partition("/")
    up = loc.upstream
    lines = [head,
             f"    set $namespace {_q(ns)};",
             f"    set $ingress_name {_q(name)};",
             f"    set $service_name {_q(up.service.partition('/')[2] if up else '')};",
             f"    set $proxy_upstream_name {_q(up.name if up else DEFAULT_BACKEND)};",
             f"    set $proxy_alternative_upstream_name {_q(alt_name)};"]
    if up is None:
        return [*lines, "    return 404;", "}"]
    if redirect:
        lines += ["    if ($pass_access_scheme = http) {",
                  f"        return 308 https://$redirect_host:{https_port}$request_uri;", "    }"]
    if not up.has_endpoints or target is None:
        # ingress-nginx answers 503 from Lua but the location still proxies (so nginx's
        # auto_redirect for paths ending in "/" applies to it as well)
        return [*lines, "    return 503;", f"    proxy_pass http://{dead[0]}:{dead[1]};", "}"]
    version = "1.0" if drop_upgrade else loc.proxy_http_version
    upgrade = '""' if drop_upgrade else "$http_upgrade"
    if drop_upgrade:
        connection = '""'
    elif loc.connection_header:
        connection = _q(loc.connection_header)
    else:
        connection = "$connection_upgrade"
    lines += [
        "    proxy_set_header Host $best_http_host;",
        f"    proxy_set_header Upgrade {upgrade};",
        f"    proxy_set_header Connection {connection};",
        "    proxy_set_header X-Request-ID $req_id;",
        "    proxy_set_header X-Real-IP $remote_addr;",
        "    proxy_set_header X-Forwarded-For $remote_addr;",
        "    proxy_set_header X-Forwarded-Host $best_http_host;",
        "    proxy_set_header X-Forwarded-Port $server_port;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    proxy_set_header X-Forwarded-Scheme $scheme;",
        "    proxy_set_header X-Scheme $scheme;",
        "    proxy_set_header X-Original-Forwarded-For $http_x_forwarded_for;",
        '    proxy_set_header Proxy "";',
        f"    proxy_connect_timeout {loc.connect_timeout}s;",
        f"    proxy_send_timeout {loc.send_timeout}s;",
        f"    proxy_read_timeout {loc.read_timeout}s;",
        "    proxy_buffering off;",
        "    proxy_buffer_size 4k;",
        "    proxy_request_buffering on;",
        f"    proxy_http_version {version};",
        "    proxy_cookie_domain off;",
        "    proxy_cookie_path off;",
        "    proxy_redirect off;",
        "    proxy_next_upstream error timeout;",
        "    proxy_next_upstream_timeout 0;",
        f"    proxy_next_upstream_tries {NEXT_UPSTREAM_TRIES};",
    ]
    if loc.affinity_cookie and _affinity_var(loc.affinity_cookie) and not alt_name:
        lines.append(f"    add_header Set-Cookie ${_set_cookie_var(loc)} always;")
        target = _affinity_upstream(up, loc.affinity_cookie)
    if loc.rewrite_target:  # after the returns: `break` ends the rewrite directives
        lines.append(f"    rewrite {_q('(?i)' + loc.rule_path)} {_q(loc.rewrite_target)} break;")
    lines += [
        f"    proxy_pass http://{target};",
        "}",
    ]
    return lines


def render_nginx_conf(config: IngressConfig, *, prefix: str | Path, http_port: int, https_port: int,
                      drop_upgrade: bool = False, dead_address: Address = (LOOPBACK, 9),
                      certs: Mapping[int, str] | None = None, user: str | None = None,
                      upstream_header: str | None = None, redirect_port: int | None = None) -> str:
    """nginx.conf for `config`, like ingress-nginx's nginx.tmpl (the parts the lab needs).

    `certs` maps `id(TlsCert)` → file path (written by the caller); `dead_address` is where
    endpoints with nothing listening point (a refusing loopback port). `upstream_header` adds
    that response header naming the endpoint that answered (the last one tried) as the
    EndpointSlice shows it (pod IP:port), like `add_header … $upstream_addr` would in a cluster.
    `redirect_port` is the port the ssl-redirect's Location names (default `https_port`).
    """
    prefix = Path(prefix)
    certs = dict(certs or {})
    out: list[str] = ["# Rendered by kdiag.lab.ingress.nginx from the lab's Ingresses (ingress-nginx style)."]
    if user:
        out.append(f"user {user};")
    out += [
        "daemon off;",
        "master_process on;",
        "worker_processes 1;",
        f"pid {prefix / 'nginx.pid'};",
        f"error_log {prefix / 'logs' / 'error.log'} notice;",
        "worker_shutdown_timeout 240s;",
        "events {",
        "    worker_connections 1024;",
        "}",
        "http {",
    ]
    http: list[str] = [
        "log_format upstreaminfo '$remote_addr - $remote_user [$time_local] \"$request\" $status "
        "$body_bytes_sent \"$http_referer\" \"$http_user_agent\" $request_length $request_time "
        "[$proxy_upstream_name] [$proxy_alternative_upstream_name] $upstream_addr "
        "$upstream_response_length $upstream_response_time $upstream_status $req_id';",
        f"access_log {prefix / 'logs' / 'access.log'} upstreaminfo;",
        f"client_body_temp_path {prefix / 'tmp' / 'client-body'};",
        f"proxy_temp_path {prefix / 'tmp' / 'proxy'};",
        f"fastcgi_temp_path {prefix / 'tmp' / 'fastcgi'};",
        f"uwsgi_temp_path {prefix / 'tmp' / 'uwsgi'};",
        f"scgi_temp_path {prefix / 'tmp' / 'scgi'};",
        *_upstream_header_lines(config, upstream_header),
        "server_tokens off;",
        "default_type text/html;",
        "keepalive_timeout 75s;",
        "keepalive_requests 1000;",
        "client_max_body_size 1m;",
        "client_header_buffer_size 1k;",
        "large_client_header_buffers 4 8k;",
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_session_cache shared:SSL:1m;",
        "map $http_upgrade $connection_upgrade {",
        "    default upgrade;",
        "    '' '';",
        "}",
        "map $http_x_request_id $req_id {",
        "    default $http_x_request_id;",
        "    '' $request_id;",
        "}",
        "map $http_host $best_http_host {",
        "    default $http_host;",
        "    '' $host;",
        "}",
        "map $best_http_host $redirect_host {",
        "    default $host;",
        "    ~^(?<h>[^:\\[\\]]+)(:\\d+)?$ $h;",
        "}",
        # ConfigMap use-forwarded-headers: the request's scheme is what X-Forwarded-Proto says
        *(["map $http_x_forwarded_proto $pass_access_scheme {", "    default $http_x_forwarded_proto;",
           "    '' $scheme;", "}"] if config.use_forwarded_headers else
          ["map $scheme $pass_access_scheme {", "    default $scheme;", "}"]),
    ]
    for up in config.upstreams():
        if up.has_endpoints:
            http += _upstream_block(up, dead_address)
    sticky = {(loc.upstream.name, loc.affinity_cookie): loc.upstream
              for srv in (config.default_server, *config.servers) for loc in srv.locations
              if loc.affinity_cookie and loc.upstream is not None and loc.upstream.has_endpoints
              and loc.canary is None and _affinity_var(loc.affinity_cookie)}
    cookie_maps: dict[str, list[str]] = {}
    for srv in (config.default_server, *config.servers):
        for loc in srv.locations:
            if loc.upstream is not None and (loc.upstream.name, loc.affinity_cookie) in sticky:
                cookie_maps.setdefault(_set_cookie_var(loc), _set_cookie_map(loc))
    for lines in cookie_maps.values():
        http += lines
    seen_maps: set[str] = set()
    for (_, cookie), up in sticky.items():
        blocks = _affinity_blocks(up, cookie, dead_address)
        var = _affinity_var(cookie) or ""
        if var in seen_maps:
            blocks = blocks[4:]  # the cookie's map is already there
        seen_maps.add(var)
        http += blocks

    canary_idx = 0
    servers: list[Server] = [config.default_server, *config.servers]
    server_lines: list[str] = []
    for srv in servers:
        default = " default_server" if srv.is_default else ""
        cert: TlsCert = srv.tls or config.fake_cert
        block = ["server {",
                 f"    server_name {_server_name(srv.host)};",
                 f"    listen {LOOPBACK}:{http_port}{default};",
                 f"    listen {LOOPBACK}:{https_port}{default} ssl http2;",
                 f"    ssl_certificate {certs.get(id(cert), '')};",
                 f"    ssl_certificate_key {certs.get(-id(cert), '')};"]
        for loc in srv.locations:
            target = loc.upstream.name if loc.upstream and loc.upstream.has_endpoints else None
            alt_name = ""
            if loc.canary is not None and target is not None:
                canary_idx += 1
                maps, target = _canary_maps(canary_idx, loc, loc.canary)
                http += maps
                alt_name = loc.canary.upstream.name
            block += ["    " + line for line in _location_block(
                loc, target, https_port=redirect_port or https_port, drop_upgrade=drop_upgrade, alt_name=alt_name,
                redirect=srv.redirects_to_https(loc), dead=dead_address)]
        block.append("}")
        server_lines += block
    http += server_lines
    out += ["    " + line for line in http]
    out.append("}")
    return "\n".join(out) + "\n"


class NginxIngress:
    """A real nginx serving `config` on 127.0.0.1:`http_port` (plain) and `https_port` (TLS)."""

    def __init__(self, config: IngressConfig, *, nginx: str = "nginx", http_port: int = 0,
                 https_port: int = 0, drop_upgrade: bool = False) -> None:
        self.config = config
        self.nginx = nginx
        self.drop_upgrade = drop_upgrade
        #: See `render_nginx_conf`; set before start() (kdiag.lab.rollout sets it).
        self.upstream_header: str | None = None
        #: The https port the ssl-redirect names (default: this nginx's own). ingress-nginx writes no
        #: port, so a browser comes back on 443, the load balancer's port as much as the controller's;
        #: the lab's load balancer listens elsewhere and sets its port here (kdiag.lab.edge).
        self.redirect_port: int | None = None
        self._http_port = http_port
        self._https_port = https_port
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._dead: Any = None
        self.prefix: Path | None = None

    # -- facts ---------------------------------------------------------------------------------

    @property
    def http_port(self) -> int:
        return self._http_port

    @property
    def https_port(self) -> int:
        return self._https_port

    @property
    def master_pid(self) -> int | None:
        """The nginx master's pid (from its pid file), while running."""
        if self.prefix is None or not self.running:
            return None
        try:
            return int((self.prefix / "nginx.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def error_log_tail(self, lines: int = 40) -> str:
        if self.prefix is None:
            return ""
        try:
            text = (self.prefix / "logs" / "error.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def access_log_tail(self, lines: int = 40) -> str:
        if self.prefix is None:
            return ""
        try:
            text = (self.prefix / "logs" / "access.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> NginxIngress:
        if self._proc is not None:
            return self
        binary = self._binary()
        self._tmp = tempfile.TemporaryDirectory(prefix="kdiag-nginx-")
        self.prefix = Path(self._tmp.name)
        for sub in ("logs", "tmp", "certs"):
            (self.prefix / sub).mkdir()
        if not self._http_port:
            self._http_port = free_loopback_port()
        while not self._https_port or self._https_port == self._http_port:
            self._https_port = free_loopback_port()
        self._dead = reserve_refusing_port()
        conf = self._write_conf(self.config)
        self._test_conf(binary, conf)
        # nginx runs under a tiny sh that holds the read end of a pipe whose write end only
        # we hold: when we close it (stop) or die (even by SIGKILL), the watcher sends nginx
        # SIGTERM, so no nginx outlives the process that started it.
        self._proc = subprocess.Popen(
            ["/bin/sh", "-c", _WATCHDOG, binary, "-p", str(self.prefix), "-c", str(conf),
             "-e", str(self.prefix / "logs" / "error.log")],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                tail = self.error_log_tail()
                self.stop()
                raise NginxError(f"nginx exited at start:\n{tail}")
            if self._answers(self._http_port):
                return self
            if time.monotonic() > deadline:
                tail = self.error_log_tail()
                self.stop()
                raise NginxError(f"nginx did not answer within {timeout:.0f} s:\n{tail}")
            time.sleep(0.02)

    def reload(self, config: IngressConfig, timeout: float = 10.0) -> None:
        """Render `config`, check it, SIGHUP the master and wait for the new workers."""
        if self._proc is None or self.prefix is None:
            self.config = config
            return
        conf = self._write_conf(config, name="nginx.next.conf")
        self._test_conf(self._binary(), conf)
        conf.replace(self.prefix / "nginx.conf")
        self.config = config
        log = self.prefix / "logs" / "error.log"
        offset = log.stat().st_size if log.exists() else 0
        master = self.master_pid
        if master is None:
            raise NginxError("nginx master pid unknown (no pid file)")
        os.kill(master, signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with log.open("rb") as f:
                    f.seek(offset)
                    new = f.read().decode(errors="replace")
            except OSError:
                new = ""
            if "[emerg]" in new:
                raise NginxError(f"nginx reload failed:\n{new[-2000:]}")
            if "start worker process" in new and "gracefully shutting down" in new:
                time.sleep(0.05)
                return
            time.sleep(0.02)
        raise NginxError(f"nginx did not reload within {timeout:.0f} s:\n{self.error_log_tail()}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.stdin is not None:
                proc.stdin.close()  # the watcher sends SIGTERM: fast shutdown, workers included
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=5)
        if self._dead is not None:
            self._dead.close()
            self._dead = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> NginxIngress:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- helpers -------------------------------------------------------------------------------

    def _binary(self) -> str:
        import shutil

        found = shutil.which(self.nginx) or (self.nginx == "nginx" and os.path.exists("/usr/sbin/nginx")
                                             and "/usr/sbin/nginx") or None
        if not found:
            raise NginxError(f"nginx binary {self.nginx!r} not found")
        return str(found)

    def _write_conf(self, config: IngressConfig, name: str = "nginx.conf") -> Path:
        assert self.prefix is not None
        certs: dict[int, str] = {}
        all_certs = [config.fake_cert, *(s.tls for s in config.servers if s.tls is not None)]
        for i, cert in enumerate(all_certs):
            crt = self.prefix / "certs" / f"{name}-{i}.crt"
            key = self.prefix / "certs" / f"{name}-{i}.key"
            crt.write_bytes(cert.cert_pem)
            key.write_bytes(cert.key_pem)
            key.chmod(0o600)
            certs[id(cert)] = str(crt)
            certs[-id(cert)] = str(key)
        dead = self._dead.getsockname() if self._dead is not None else (LOOPBACK, 9)
        user = "root" if os.geteuid() == 0 else None
        text = render_nginx_conf(config, prefix=self.prefix, http_port=self._http_port,
                                 https_port=self._https_port, drop_upgrade=self.drop_upgrade,
                                 dead_address=(dead[0], int(dead[1])), certs=certs, user=user,
                                 upstream_header=self.upstream_header, redirect_port=self.redirect_port)
        path = self.prefix / name
        path.write_text(text)
        return path

    def _test_conf(self, binary: str, conf: Path) -> None:
        assert self.prefix is not None
        res = subprocess.run([binary, "-t", "-q", "-p", str(self.prefix), "-c", str(conf), "-e",
                              str(self.prefix / "logs" / "test.log")],
                             capture_output=True, timeout=20, check=False)
        if res.returncode != 0:
            raise NginxError("nginx rejected the rendered config:\n"
                             + res.stderr.decode(errors="replace")[-2000:])

    @staticmethod
    def _answers(port: int) -> bool:
        """A worker answers HTTP on `port` (the default server's 404 is enough)."""
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
                sock.settimeout(0.5)
                sock.sendall(b"GET / HTTP/1.0\r\nHost: kdiag-readiness.invalid\r\n\r\n")
                return sock.recv(16).startswith(b"HTTP/1.")
        except OSError:
            return False
