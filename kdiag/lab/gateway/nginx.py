"""Real nginx as the lab's Gateway data plane, configured the way NGINX Gateway Fabric renders one.

`render_gateway_conf` is a pure function of the IR (`kdiag.lab.gateway.model.GatewayConfig`);
`NginxGateway` runs it with `kdiag.lab.ingress.nginx.NginxIngress`'s process handling (private
prefix, watchdog, loopback only). Facts with sources are in `kdiag.lab.gateway.model`; what the
rendering does differently from NGF, on purpose:

- NGF routes method/header/query matches with njs (`httpmatches.redirect`) and internal redirects
  to `/_ngf-internal-…` locations; the lab's nginx has no njs, so `map`s compute the same choice
  (first match in precedence order) and `rewrite … last` jumps to the internal location.
- NGF writes no `proxy_http_version` and relies on nginx ≥ 1.29.7 defaulting to 1.1 (fact sheet:
  DOC3P, UNVERIFIED against nginx CHANGES); the lab's nginx may be older, so 1.1 is spelt out.
- The proxied headers besides Upgrade/Connection (Host from `$gw_api_compliant_host`,
  X-Forwarded-For/-Proto/-Host/-Port, X-Real-IP) are NGF's location template as remembered, not
  in the fact sheet: UNVERIFIED.
- Upstream servers get `max_fails=0` so one refused pod does not change later answers (nginx's
  default max_fails=1 would, for 10 s); `keepalive` is off (NGF's default [INFER]).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from kdiag.lab.gateway.model import (
    INVALID_BACKEND,
    GatewayConfig,
    GwLocation,
    GwServer,
    MatchRule,
    no_ingress_config,
)
from kdiag.lab.ingress.model import Address, IngressConfig, Upstream
from kdiag.lab.ingress.nginx import NginxIngress

__all__ = ["NginxGateway", "render_gateway_conf"]

LOOPBACK = "127.0.0.1"


def _q(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _literal(value: str) -> str:
    """A PCRE pattern matching exactly `value`."""
    return "^" + "".join(c if c.isalnum() or c == "_" else "\\" + c for c in value) + "$"


def _var(header: str) -> str | None:
    name = header.strip().lower()
    return name.replace("-", "_") if re.fullmatch(r"[a-z0-9_-]+", name) else None


def _upstream(up: Upstream, dead: Address, unavailable: str) -> list[str]:
    lines = [f"upstream {up.name} {{"]
    if not up.endpoints:  # NGF: an upstream without endpoints points at the 503 server [SRC]
        lines.append(f"    server {unavailable};")
    for ep in up.endpoints:
        host, port = ep.address or dead
        lines.append(f"    server {host}:{port} max_fails=0;  # {ep.pod or '-'} {ep.ip}:{ep.port}")
    return [*lines, "}"]


def _proxy(target: str, m: MatchRule) -> list[str]:
    t = m.timeouts
    lines = [
        "proxy_http_version 1.1;",
        "proxy_set_header Host $gw_api_compliant_host;",
        "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "proxy_set_header X-Real-IP $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_set_header X-Forwarded-Host $host;",
        "proxy_set_header X-Forwarded-Port $server_port;",
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
    ]
    if not t.is_default:  # ProxySettingsPolicy spec.timeout
        lines += [f"proxy_connect_timeout {t.connect}s;", f"proxy_read_timeout {t.read}s;",
                  f"proxy_send_timeout {t.send}s;"]
    return [*lines, f"proxy_pass http://{target}$request_uri;"]


class _Renderer:
    def __init__(self, config: GatewayConfig, prefix: Path, dead: Address) -> None:
        self.config = config
        self.prefix = prefix
        self.dead = dead
        self.http: list[str] = []
        self.n = 0

    def sock(self, code: int) -> str:
        return f"unix:{self.prefix / f'nginx-{code}-server.sock'}"

    def target(self, m: MatchRule) -> tuple[str, list[str]]:
        """(proxy target, or "" with a `return` line) for one match's backends."""
        one = m.deterministic
        if one is None or (not isinstance(one, str) and one.upstream is None):
            return "", ["return 500;"]
        if not isinstance(one, str):
            assert one.upstream is not None
            return one.upstream.name, []
        self.n += 1
        var = f"kdiag_split_{self.n}"
        total = sum(b.weight for b in m.backends)
        lines = [f"split_clients $request_id ${var} {{"]
        live = [b for b in m.backends if b.weight > 0]
        for i, b in enumerate(live):
            name = b.upstream.name if b.upstream is not None else INVALID_BACKEND
            share = "*" if i == len(live) - 1 else f"{b.weight * 100 / total:.2f}%"
            lines.append(f"    {share} {name};")
        self.http += [*lines, "}"]
        return f"${var}", []

    def location(self, srv_i: int, loc_i: int, loc: GwLocation) -> list[str]:
        head = f"location {loc.modifier + ' ' if loc.modifier else ''}{_q(loc.path)} {{"
        if not loc.matches:
            return [head, "    return 404;", "}"]
        only = loc.matches[0]
        if len(loc.matches) == 1 and not only.has_conditions:
            target, ret = self.target(only)
            body = ret or _proxy(target, only)
            return [head, *("    " + b for b in body), "}"]
        # several matches or conditions: the first that holds wins (NGF: njs httpmatches.redirect)
        base = f"kdiag_s{srv_i}_l{loc_i}"
        internal: list[str] = []
        flags: list[str] = []
        for mi, m in enumerate(loc.matches):
            checks: list[tuple[str, str]] = []
            if m.method:
                checks.append(("$request_method", _literal(m.method)))
            for name, value in m.headers:
                v = _var(name)
                checks.append((f"$http_{v}" if v else '""', _literal(value)))
            for name, value in m.query:
                v = _var(name)
                checks.append((f"$arg_{v}" if v else '""', _literal(value)))
            cvars = []
            for ci, (source, pattern) in enumerate(checks):
                cvar = f"{base}_m{mi}_c{ci}"
                self.http += [f"map {source} ${cvar} {{", f"    {_q('~' + pattern)} 1;", "    default 0;", "}"]
                cvars.append(f"${{{cvar}}}")  # ${name}: the flags are concatenated
            if not cvars:
                flags.append("1")
            elif len(cvars) == 1:
                flags.append(cvars[0])
            else:  # every condition of the match holds
                self.http += [f"map {_q(''.join(cvars))} ${base}_m{mi} {{", f"    {_q('1' * len(cvars))} 1;",
                              "    default 0;", "}"]
                flags.append(f"${{{base}_m{mi}}}")
            path = f"/_ngf-internal-s{srv_i}-l{loc_i}-m{mi}"
            target, ret = self.target(m)
            body = ret or _proxy(target, m)
            internal += [f"location = {path} {{", "    internal;", *("    " + b for b in body), "}"]
        pick = f"{base}_pick"
        lines = [f"map {_q(''.join(flags))} ${pick} {{"]
        for mi in range(len(flags)):
            lines.append(f"    {_q('~^' + '0' * mi + '1')} /_ngf-internal-s{srv_i}-l{loc_i}-m{mi};")
        self.http += [*lines, '    default "";', "}"]
        return [head, f'    if (${pick} = "") {{', "        return 404;", "    }",
                f"    rewrite ^ ${pick} last;", "}", *internal]

    def server(self, srv_i: int, srv: GwServer, port: int) -> list[str]:
        name = "_" if srv.is_default else srv.hostname
        default = " default_server" if srv.is_default else ""
        block = ["server {", f"    listen {LOOPBACK}:{port}{default};", f"    server_name {name};"]
        for loc_i, loc in enumerate(srv.locations):
            block += ["    " + line for line in self.location(srv_i, loc_i, loc)]
        return [*block, "}"]


def render_gateway_conf(config: GatewayConfig, *, prefix: str | Path, http_port: int,
                        dead_address: Address = (LOOPBACK, 9), user: str | None = None) -> str:
    """nginx.conf for `config` (NGF's http context, servers and upstreams; the parts the lab needs)."""
    prefix = Path(prefix)
    r = _Renderer(config, prefix, dead_address)
    out = ["# Rendered by kdiag.lab.gateway.nginx from the lab's Gateways and HTTPRoutes (NGINX Gateway Fabric style)."]
    if user:
        out.append(f"user {user};")
    out += ["daemon off;", "master_process on;", "worker_processes 1;", f"pid {prefix / 'nginx.pid'};",
            f"error_log {prefix / 'logs' / 'error.log'} notice;", "events {", "    worker_connections 1024;", "}",
            "http {"]
    r.http = [
        f"access_log {prefix / 'logs' / 'access.log'};",
        f"client_body_temp_path {prefix / 'tmp' / 'client-body'};",
        f"proxy_temp_path {prefix / 'tmp' / 'proxy'};",
        f"fastcgi_temp_path {prefix / 'tmp' / 'fastcgi'};",
        f"uwsgi_temp_path {prefix / 'tmp' / 'uwsgi'};",
        f"scgi_temp_path {prefix / 'tmp' / 'scgi'};",
        "server_tokens off;",
        "default_type text/html;",
        "keepalive_timeout 75s;",
        # NGF base_http_config_template.go [SRC]
        "map $http_upgrade $connection_upgrade {",
        "    default upgrade;",
        "    '' close;",
        "}",
        # UNVERIFIED: NGF's Host for upstreams (the Host header as sent, else $host)
        "map $http_host $gw_api_compliant_host {",
        "    '' $host;",
        "    default $http_host;",
        "}",
        f"upstream {INVALID_BACKEND} {{",
        f"    server {r.sock(500)};",
        "}",
    ]
    for up in config.upstreams():
        r.http += _upstream(up, dead_address, r.sock(503))
    servers: list[str] = []
    for i, srv in enumerate(config.all_servers()):
        servers += r.server(i, srv, http_port)
    for code in (500, 503):  # NGF's unix-socket servers answering for invalid refs / no endpoints [SRC]
        servers += ["server {", f"    listen {r.sock(code)};", "    access_log off;", f"    return {code};", "}"]
    out += ["    " + line for line in r.http + servers]
    out.append("}")
    return "\n".join(out) + "\n"


class NginxGateway(NginxIngress):
    """A real nginx serving `gateway` (HTTP listeners) on 127.0.0.1:`http_port`."""

    def __init__(self, gateway: GatewayConfig, *, nginx: str = "nginx", http_port: int = 0,
                 https_port: int = 0) -> None:
        super().__init__(no_ingress_config(), nginx=nginx, http_port=http_port, https_port=https_port)
        self.gateway = gateway

    def _write_conf(self, config: IngressConfig, name: str = "nginx.conf") -> Path:
        del config
        assert self.prefix is not None
        dead = self._dead.getsockname() if self._dead is not None else (LOOPBACK, 9)
        user = "root" if os.geteuid() == 0 else None
        text = render_gateway_conf(self.gateway, prefix=self.prefix, http_port=self._http_port,
                                   dead_address=(dead[0], int(dead[1])), user=user)
        path = self.prefix / name
        path.write_text(text)
        return path
