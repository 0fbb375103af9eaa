"""HAProxy configuration for the lab's Ingresses, rendered the way the HAProxy Ingress controllers
render them (dataplane-facts.md §3, "HAProxy Tech ingress" and "HAProxy Ingress" rows):

- one `frontend http` whose `use_backend` picks a backend from host + path map files (exact
  paths with `map`, prefixes with `map_beg`, longest first), the Host header's port ignored, and a
  default backend answering 404;
- one backend per Service port (`<ns>_<svc>_<port>`, round robin), one `server` per ready
  endpoint; a backend without servers answers 503;
- `defaults` with the controllers' timeouts: `timeout connect 5s`, `timeout client 50s`,
  `timeout server 50s`, `timeout http-keep-alive 1m`, `timeout tunnel 1h` (haproxytech
  fs/usr/local/etc/haproxy/haproxy.cfg `timeout tunnel 3600000`; haproxy-ingress keys.md). After
  an Upgrade HAProxy applies `timeout tunnel` instead of client/server.

What changes them, per flavor:
- "haproxytech" (haproxytech/kubernetes-ingress): annotations `haproxy.org/…`, `haproxy.com/…` or
  `ingress.kubernetes.io/…`; `timeout-server` on the Ingress or the Service (backend), ConfigMap
  keys `timeout-client`, `timeout-server`, `timeout-tunnel`, `timeout-connect` (defaults; tunnel
  is ConfigMap only).
- "haproxy-ingress" (jcmoraisjr/haproxy-ingress): annotations `haproxy-ingress.github.io/…` or
  `ingress.kubernetes.io/…`; `timeout-server` and `timeout-tunnel` per backend; ConfigMap keys
  without prefix (`timeout-client` is global).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.lab.ingress.model import BackendsFn

__all__ = ["DEFAULT_TIMEOUTS", "FLAVORS", "HAProxyBackend", "HAProxyConfig", "controller_inputs", "render_haproxy"]

DEFAULT_TIMEOUTS: dict[str, str] = {"connect": "5s", "client": "50s", "server": "50s",
                                    "http-keep-alive": "1m", "http-request": "5s", "queue": "5s",
                                    "tunnel": "1h"}

FLAVORS: dict[str, dict[str, Any]] = {
    "haproxytech": {"controller": "haproxy.org/ingress-controller", "image": "haproxytech/kubernetes-ingress",
                    "prefixes": ("haproxy.org/", "haproxy.com/", "ingress.kubernetes.io/"),
                    "backend_keys": ("timeout-server",), "service_annotations": True},
    "haproxy-ingress": {"controller": "haproxy-ingress.github.io/controller", "image": "haproxy-ingress",
                        "prefixes": ("haproxy-ingress.github.io/", "ingress.kubernetes.io/"),
                        "backend_keys": ("timeout-server", "timeout-tunnel"), "service_annotations": False},
}

_TIME = re.compile(r"\d+(us|ms|s|m|h|d)?")


@dataclass
class HAProxyBackend:
    name: str
    servers: list[tuple[str, str, int]] = field(default_factory=list)  # (name, host, port)
    timeouts: dict[str, str] = field(default_factory=dict)


@dataclass
class HAProxyConfig:
    text: str
    maps: dict[str, str]  # file name -> content
    backends: dict[str, HAProxyBackend]
    defaults: dict[str, str]


def _md(o: Mapping[str, Any]) -> Mapping[str, Any]:
    return o.get("metadata") or {}


def _annotation(obj: Mapping[str, Any] | None, key: str, prefixes: Iterable[str]) -> str | None:
    ann = _md(obj or {}).get("annotations") or {}
    for p in prefixes:
        if p + key in ann:
            value = str(ann[p + key]).strip()
            return value if _TIME.fullmatch(value) else None
    return None


def controller_inputs(objects: Iterable[Mapping[str, Any]], flavor: str) -> tuple[str | None, dict[str, str]]:
    """What the `flavor` controller reads besides Ingresses, found the way it finds them: the
    IngressClass whose `spec.controller` is its own (installs append "/<class>"), and the ConfigMap
    its pod's `--configmap=NAMESPACE/NAME` argument names. (None, {}) when there is none."""
    objs = [o for o in objects if isinstance(o, Mapping)]
    mine = str(FLAVORS[flavor]["controller"])
    controllers = {str(_md(o).get("name")): str((o.get("spec") or {}).get("controller") or "")
                   for o in objs if o.get("kind") == "IngressClass"}
    cls = next((n for n, c in controllers.items() if c == mine or c.startswith(mine + "/")), None)
    ref = next((str(a).split("=", 1)[1] for o in objs if o.get("kind") == "Pod"
                for c in (o.get("spec") or {}).get("containers") or ()
                if FLAVORS[flavor]["image"] in str(c.get("image") or "")
                for a in c.get("args") or () if str(a).startswith("--configmap=")), None)
    ns, _, name = (ref or "").partition("/")
    cm = next((o for o in objs if o.get("kind") == "ConfigMap" and ref
               and (_md(o).get("namespace"), _md(o).get("name")) == (ns, name)), None)
    return cls, {str(k): str(v) for k, v in ((cm or {}).get("data") or {}).items()}


def render_haproxy(objects: Iterable[Mapping[str, Any]], *, backends: BackendsFn, flavor: str = "haproxytech",
                   http_port: int, host: str = "127.0.0.1", ingress_class: str = "haproxy",
                   configmap: Mapping[str, str] | None = None, map_dir: str = "/etc/haproxy/maps") -> HAProxyConfig:
    """The HAProxy configuration `flavor` renders for the Ingresses of `ingress_class` (pure but
    for `backends`, which says where each pod port listens in the lab)."""
    from kdiag.lab.ingress.controller import ServiceResolver

    fl = FLAVORS[flavor]
    objs = [o for o in objects if isinstance(o, Mapping)]
    resolver = ServiceResolver(objs, backends)
    services = {(str(_md(o).get("namespace", "default")), str(_md(o).get("name"))): o
                for o in objs if o.get("kind") == "Service"}
    cm = dict(configmap or {})
    defaults = dict(DEFAULT_TIMEOUTS)
    for key in ("connect", "client", "server", "tunnel", "http-keep-alive"):
        value = cm.get(f"timeout-{key}")
        if value and _TIME.fullmatch(value.strip()):
            defaults[key] = value.strip()
    out: dict[str, HAProxyBackend] = {}
    exact: list[tuple[str, str]] = []
    prefix: list[tuple[str, str]] = []
    for ing in objs:
        if ing.get("kind") != "Ingress" or (ing.get("spec") or {}).get("ingressClassName") != ingress_class:
            continue
        ns = str(_md(ing).get("namespace", "default"))
        for rule in (ing.get("spec") or {}).get("rules") or ():
            rhost = str(rule.get("host") or "").lower()
            for p in (rule.get("http") or {}).get("paths") or ():
                svc = (p.get("backend") or {}).get("service") or {}
                port_ref = svc.get("port") or {}
                port = port_ref.get("number") or port_ref.get("name") or ""
                name = f"{ns}_{svc.get('name')}_{port}"
                be = out.get(name)
                if be is None:
                    be = out[name] = HAProxyBackend(name)
                    up = resolver.upstream(ns, {"service": svc})
                    for i, ep in enumerate(up.endpoints if up else ()):
                        if ep.address is not None:
                            be.servers.append((f"SRV_{i + 1}", ep.address[0], ep.address[1]))
                    service = services.get((ns, str(svc.get("name"))))
                    for key in fl["backend_keys"]:
                        value = _annotation(ing, key, fl["prefixes"])
                        if value is None and fl["service_annotations"]:
                            value = _annotation(service, key, fl["prefixes"])
                        if value is not None:
                            be.timeouts[key.removeprefix("timeout-")] = value
                path = str(p.get("path") or "/")
                ptype = p.get("pathType", "ImplementationSpecific")
                if ptype == "Exact":
                    exact.append((rhost + path, name))
                elif ptype == "Prefix":
                    base = path.rstrip("/")
                    exact.append((rhost + (base or "/"), name))
                    prefix.append((rhost + base + "/", name))
                else:
                    prefix.append((rhost + path, name))
    exact.sort(key=lambda e: -len(e[0]))
    prefix.sort(key=lambda e: -len(e[0]))
    maps = {"path-exact.map": "".join(f"{k} {v}\n" for k, v in exact),
            "path-prefix.map": "".join(f"{k} {v}\n" for k, v in prefix)}
    return HAProxyConfig(_text(out, defaults, host, http_port, map_dir), maps, out, defaults)


def _text(backends: Mapping[str, HAProxyBackend], defaults: Mapping[str, str], host: str, port: int,
          map_dir: str) -> str:
    key = "var(txn.host),concat(,txn.path)"
    lines = [
        "global", "  maxconn 2000", "  hard-stop-after 5s", "",
        "defaults", "  mode http", "  option http-keep-alive",
        *(f"  timeout {k} {v}" for k, v in defaults.items()), "",
        "frontend http",
        f"  bind {host}:{port}",
        "  http-request set-var(txn.host) req.hdr(host),field(1,:),lower",
        "  http-request set-var(txn.path) path",
        f"  use_backend %[{key},map({map_dir}/path-exact.map)] if {{ {key},map({map_dir}/path-exact.map) -m found }}",
        f"  use_backend %[{key},map_beg({map_dir}/path-prefix.map)] "
        f"if {{ {key},map_beg({map_dir}/path-prefix.map) -m found }}",
        "  default_backend default_backend", "",
        "backend default_backend", "  http-request return status 404 content-type text/plain string \"404 page not found\"", "",
    ]
    for be in backends.values():
        lines += [f"backend {be.name}", "  balance roundrobin"]
        lines += [f"  timeout {k} {v}" for k, v in be.timeouts.items()]
        lines += [f"  server {n} {h}:{p}" for n, h, p in be.servers]
        lines.append("")
    return "\n".join(lines) + "\n"
