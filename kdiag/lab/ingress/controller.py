"""The lab's ingress-nginx controller: Kubernetes objects → the data-plane IR (`model.IngressConfig`).

`build_ingress_config` plays ingress-nginx's controller: it selects the Ingresses of its class,
resolves each backend Service port to the *ready* endpoints of its EndpointSlices, maps pods to
loopback app servers, merges canary Ingresses into their main locations and turns paths into
nginx locations exactly like ingress-nginx does (locations sorted by descending path length; a
root location falling back to the default backend, which answers 404).

Annotations understood (prefix `nginx.ingress.kubernetes.io/`): proxy-connect-timeout,
proxy-send-timeout, proxy-read-timeout (defaults 5/60/60 s), proxy-http-version,
connection-proxy-header, ssl-redirect, force-ssl-redirect, use-regex, rewrite-target, canary,
canary-by-header, canary-by-header-value, canary-by-header-pattern, canary-by-cookie,
canary-weight, canary-weight-total, affinity (cookie), session-cookie-name, session-cookie-path.
Others (backend-protocol, proxy-body-size, default-backend, snippets, CORS, …) are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.lab.ingress.model import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    DEFAULT_SEND_TIMEOUT,
    BackendsFn,
    Canary,
    Endpoint,
    IngressConfig,
    Location,
    Server,
    TlsCert,
    Upstream,
)
from kdiag.lab.world import derive_endpoint_slices

__all__ = ["ANNOTATION_PREFIX", "ServiceResolver", "build_ingress_config"]

ANNOTATION_PREFIX = "nginx.ingress.kubernetes.io/"


def _md(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _key(obj: Mapping[str, Any]) -> str:
    md = _md(obj)
    return f"{md.get('namespace', 'default')}/{md.get('name', '')}"


def _annotations(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return _md(obj).get("annotations") or {}


def _annotation(obj: Mapping[str, Any], name: str) -> str | None:
    value = _annotations(obj).get(ANNOTATION_PREFIX + name)
    return None if value is None else str(value)


def _int_annotation(obj: Mapping[str, Any], name: str, default: int) -> int:
    value = _annotation(obj, name)
    if value is None:
        return default
    try:
        return int(value.strip())
    except ValueError:
        return default


def _bool_annotation(obj: Mapping[str, Any], name: str, default: bool) -> bool:
    value = _annotation(obj, name)
    if value is None:
        return default
    v = value.strip().lower()
    if v in ("true", "1", "t", "yes"):
        return True
    if v in ("false", "0", "f", "no"):
        return False
    return default


def _class_of(ing: Mapping[str, Any], classes: Mapping[str, Mapping[str, Any]], ingress_class: str) -> str | None:
    """Why the controller ignores this Ingress, or None when it serves it (store.go order)."""
    spec = ing.get("spec") or {}
    name = spec.get("ingressClassName")
    if name:
        if name not in classes:
            return f"IngressClass {name!r} does not exist"
        if name != ingress_class:
            return f"IngressClass {name!r} belongs to another controller"
        return None
    annotated = _annotations(ing).get("kubernetes.io/ingress.class")
    if annotated is not None:
        return None if annotated == ingress_class else f"ingress.class annotation {annotated!r}"
    defaults = [n for n, c in classes.items()
                if str(_annotations(c).get("ingressclass.kubernetes.io/is-default-class", "")).lower() == "true"]
    if defaults == [ingress_class]:
        return None
    return "no ingressClassName and no default IngressClass for this controller"


class _Resolver:
    """Backend Service port → Upstream with the ready endpoints (cached per name)."""

    def __init__(self, objects: list[Mapping[str, Any]], backends: BackendsFn) -> None:
        self.backends = backends
        self.services = {_key(o): o for o in objects if o.get("kind") == "Service"}
        slices: list[Mapping[str, Any]] = [o for o in objects if o.get("kind") == "EndpointSlice"]
        if not slices:
            slices = list(derive_endpoint_slices(objects))
        self.slices: dict[str, list[Mapping[str, Any]]] = {}
        for sl in slices:
            svc = (_md(sl).get("labels") or {}).get("kubernetes.io/service-name")
            if svc:
                self.slices.setdefault(f"{_md(sl).get('namespace', 'default')}/{svc}", []).append(sl)
        self.cache: dict[str, Upstream] = {}

    def upstream(self, namespace: str, backend: Mapping[str, Any]) -> Upstream | None:
        svc_ref = backend.get("service") or {}
        name = svc_ref.get("name")
        if not name:  # a resource backend: not supported by the lab controller
            return None
        port_ref = svc_ref.get("port") or {}
        port: int | str = port_ref.get("number") or port_ref.get("name") or ""
        up_name = f"{namespace}-{name}-{port}"
        if up_name in self.cache:
            return self.cache[up_name]
        up = self._resolve(up_name, namespace, str(name), port)
        self.cache[up_name] = up
        return up

    def _resolve(self, up_name: str, ns: str, name: str, port: int | str) -> Upstream:
        key = f"{ns}/{name}"
        svc = self.services.get(key)
        if svc is None:
            return Upstream(up_name, key, port, reason=f'Service "{key}" does not exist')
        spec = svc.get("spec") or {}
        sport = next((p for p in spec.get("ports") or ()
                      if (isinstance(port, int) and p.get("port") == port)
                      or (isinstance(port, str) and port and p.get("name") == port)), None)
        if sport is None:
            return Upstream(up_name, key, port, reason=f'Service "{key}" does not have port {port}')
        if spec.get("type") == "ExternalName":
            return Upstream(up_name, key, port, reason="ExternalName Services are not served by the lab")
        proto = sport.get("protocol", "TCP")
        target = sport.get("targetPort")
        eps: list[Endpoint] = []
        seen: set[tuple[str, int]] = set()
        for sl in self.slices.get(key, ()):
            for ep_port in sl.get("ports") or ():
                if ep_port.get("protocol", "TCP") != proto:
                    continue
                tport = 0
                if not sport.get("name"):
                    tport = int(ep_port.get("port") or 0)
                elif sport.get("name") == ep_port.get("name"):
                    tport = int(ep_port.get("port") or 0)
                if tport == 0 and isinstance(target, int):
                    tport = target
                if tport <= 0:
                    continue
                for ep in sl.get("endpoints") or ():
                    if (ep.get("conditions") or {}).get("ready") is False:
                        continue
                    ref = ep.get("targetRef") or {}
                    for ip in ep.get("addresses") or ():
                        if (ip, tport) in seen:
                            continue
                        seen.add((ip, tport))
                        address = None
                        pod = ""
                        if ref.get("kind", "Pod") == "Pod" and ref.get("name"):
                            pod = f"{ref.get('namespace', ns)}/{ref['name']}"
                            address = self.backends(str(ref.get("namespace", ns)), str(ref["name"]), tport)
                        eps.append(Endpoint(pod, str(ip), tport, address))
        reason = "" if eps else f'Service "{key}" does not have any active Endpoint.'
        return Upstream(up_name, key, port, tuple(eps), reason)


#: Service port → Upstream with its ready endpoints; the lab's Gateway controller resolves backendRefs with it too.
ServiceResolver = _Resolver


def _canary_of(ing: Mapping[str, Any], upstream: Upstream) -> Canary:
    weight = _int_annotation(ing, "canary-weight", 0)
    return Canary(
        upstream=upstream, ingress=_key(ing),
        header=_annotation(ing, "canary-by-header") or None,
        header_value=_annotation(ing, "canary-by-header-value") or None,
        header_pattern=_annotation(ing, "canary-by-header-pattern") or None,
        cookie=_annotation(ing, "canary-by-cookie") or None,
        weight=max(weight, 0), weight_total=_int_annotation(ing, "canary-weight-total", 100),
    )


@dataclass
class _HostDraft:
    host: str
    locations: list[Location] = field(default_factory=list)
    regex: bool = False
    tls: TlsCert | None = None
    default_upstream: Upstream | None = None
    default_ingress: str = ""


def _path_locations(path: str, path_type: str, regex: bool) -> list[tuple[str, str]]:
    """(modifier, path) pairs for one Ingress path, like ingress-nginx's updateServerLocations."""
    if regex:
        return [("~*", "^" + path)]
    if path_type == "Exact":
        return [("=", path)]
    if path_type == "Prefix" and path != "/":
        return [("", path if path.endswith("/") else path + "/"), ("=", path)]
    return [("", path)]


def build_ingress_config(objects: Iterable[Mapping[str, Any]], *, backends: BackendsFn,
                         ingress_class: str = "nginx",
                         tls_secrets: Mapping[tuple[str, str], tuple[bytes, bytes]] | None = None) -> IngressConfig:
    """The controller's rendering of `objects` (raw JSON dicts) as a data-plane IR.

    `backends(ns, pod, container_port)` says where a pod's port really listens (None: nothing,
    so connections are refused). `tls_secrets[(ns, name)] = (cert PEM, key PEM)` for TLS Secrets
    that exist; a host whose secret is absent gets the controller's fake certificate.
    """
    from kdiag.lab.tls_certs import fake_certificate

    objs = [o for o in objects if isinstance(o, Mapping)]
    secrets = dict(tls_secrets or {})
    fake = TlsCert(*fake_certificate(), secret="", fake=True)
    classes = {str(_md(o).get("name")): o for o in objs if o.get("kind") == "IngressClass"}
    resolver = _Resolver(objs, backends)
    log: list[str] = []

    ingresses = sorted((o for o in objs if o.get("kind") == "Ingress"),
                       key=lambda o: (str(_md(o).get("creationTimestamp") or ""), _key(o)))
    accepted: list[Mapping[str, Any]] = []
    ignored: list[tuple[str, str]] = []
    for ing in ingresses:
        why = _class_of(ing, classes, ingress_class)
        if why is None:
            accepted.append(ing)
        else:
            ignored.append((_key(ing), why))
            log.append(f'Ignoring ingress "{_key(ing)}": {why}')
    mains = [i for i in accepted if not _bool_annotation(i, "canary", False)]
    canaries = [i for i in accepted if _bool_annotation(i, "canary", False)]

    drafts: dict[str, _HostDraft] = {"_": _HostDraft("_")}

    def draft(host: str) -> _HostDraft:
        return drafts.setdefault(host or "_", _HostDraft(host or "_"))

    # regex mode is per host: use-regex or rewrite-target on any Ingress of the host
    for ing in mains:
        regex = _bool_annotation(ing, "use-regex", False) or bool(_annotation(ing, "rewrite-target"))
        for rule in (ing.get("spec") or {}).get("rules") or ():
            if regex:
                draft(str(rule.get("host") or "")).regex = True

    for ing in mains:
        ns = str(_md(ing).get("namespace", "default"))
        spec = ing.get("spec") or {}
        connect_timeout = _int_annotation(ing, "proxy-connect-timeout", DEFAULT_CONNECT_TIMEOUT)
        send_timeout = _int_annotation(ing, "proxy-send-timeout", DEFAULT_SEND_TIMEOUT)
        read_timeout = _int_annotation(ing, "proxy-read-timeout", DEFAULT_READ_TIMEOUT)
        version = _annotation(ing, "proxy-http-version") or "1.1"
        if version not in ("1.0", "1.1"):
            version = "1.1"
        conn = _annotation(ing, "connection-proxy-header") or None
        rewrite = _annotation(ing, "rewrite-target") or None
        affinity = (_annotation(ing, "affinity") or "").strip().lower() == "cookie"
        cookie_name = (_annotation(ing, "session-cookie-name") or "INGRESSCOOKIE").strip()
        cookie_path = _annotation(ing, "session-cookie-path")
        tls_hosts: dict[str, str] = {}
        for tls in spec.get("tls") or ():
            hosts = tls.get("hosts") or [r.get("host") for r in spec.get("rules") or () if r.get("host")]
            for h in hosts:
                tls_hosts.setdefault(str(h), str(tls.get("secretName") or ""))
        ssl_redirect = _bool_annotation(ing, "ssl-redirect", True)
        force = _bool_annotation(ing, "force-ssl-redirect", False)
        default_up = resolver.upstream(ns, spec["defaultBackend"]) if spec.get("defaultBackend") else None
        rules = spec.get("rules") or ()
        if default_up is not None and not rules:
            d = draft("_")
            if d.default_upstream is None:
                d.default_upstream, d.default_ingress = default_up, _key(ing)
        for rule in rules:
            host = str(rule.get("host") or "")
            d = draft(host)
            if default_up is not None and d.default_upstream is None:
                d.default_upstream, d.default_ingress = default_up, _key(ing)
            if host in tls_hosts and d.tls is None:
                secret = tls_hosts[host]
                material = secrets.get((ns, secret)) if secret else None
                if material is None:
                    log.append(f'Error getting SSL certificate "{ns}/{secret}": local SSL certificate '
                               f"{ns}/{secret} was not found. Using default certificate")
                    d.tls = TlsCert(fake.cert_pem, fake.key_pem, secret=f"{ns}/{secret}" if secret else "",
                                    fake=True)
                else:
                    d.tls = TlsCert(material[0], material[1], secret=f"{ns}/{secret}", fake=False)
            for p in (rule.get("http") or {}).get("paths") or ():
                path = str(p.get("path") or "/")
                ptype = str(p.get("pathType") or "ImplementationSpecific")
                up = resolver.upstream(ns, p.get("backend") or {})
                if up is None:
                    continue
                existing = {(loc.modifier, loc.path) for loc in d.locations}
                for mod, lpath in _path_locations(path, ptype, d.regex):
                    if (mod, lpath) in existing:
                        continue  # first Ingress (oldest) wins, like the controller
                    d.locations.append(Location(
                        modifier=mod, path=lpath, upstream=up, ingress=_key(ing), rule_path=path,
                        path_type=ptype, proxy_http_version=version, connection_header=conn,
                        rewrite_target=rewrite if rewrite and rewrite != path else None,
                        affinity_cookie=cookie_name if affinity else None,
                        affinity_path=cookie_path or (path if not d.regex else "/"),
                        ssl_redirect=ssl_redirect, force_ssl_redirect=force, connect_timeout=connect_timeout,
                        send_timeout=send_timeout, read_timeout=read_timeout))

    # canaries: merged into main locations of the same host and path
    for ing in canaries:
        ns = str(_md(ing).get("namespace", "default"))
        for rule in (ing.get("spec") or {}).get("rules") or ():
            host = str(rule.get("host") or "") or "_"
            target = drafts.get(host)
            if target is None:
                log.append(f'cannot merge canary "{_key(ing)}": no main Ingress for host {host!r}')
                continue
            for p in (rule.get("http") or {}).get("paths") or ():
                path = str(p.get("path") or "/")
                up = resolver.upstream(ns, p.get("backend") or {})
                if up is None:
                    continue
                if not up.has_endpoints:
                    log.append(f'no alternative balancer for backend: {up.name} ({up.reason})')
                    continue
                merged = False
                for i, loc in enumerate(target.locations):
                    if loc.rule_path == path and loc.upstream is not None and loc.canary is None:
                        target.locations[i] = _replace(loc, canary=_canary_of(ing, up))
                        merged = True
                if not merged:
                    log.append(f'cannot merge canary "{_key(ing)}": no main location for {host}{path}')

    servers: list[Server] = []
    default_server: Server | None = None
    for host, d in drafts.items():
        locs = list(d.locations)
        has_root = any(loc.path in ("/", "^/") and loc.modifier in ("", "~*") for loc in locs)
        if not has_root:
            locs.append(Location(modifier="~*" if d.regex else "", path="^/" if d.regex else "/",
                                 upstream=d.default_upstream, ingress=d.default_ingress, rule_path="/",
                                 path_type="Prefix" if d.default_upstream else ""))
        locs.sort(key=lambda loc: -len(loc.path))  # stable: ingress-nginx sorts by path length
        srv = Server(host=host, locations=tuple(locs), tls=d.tls)
        if host == "_":
            default_server = srv
        else:
            servers.append(srv)
    assert default_server is not None
    return IngressConfig(servers=tuple(servers), default_server=default_server, fake_cert=fake,
                         ingresses=tuple(_key(i) for i in accepted), ignored=tuple(ignored),
                         log=tuple(log), use_forwarded_headers=_use_forwarded_headers(objs))


def _use_forwarded_headers(objs: list[Mapping[str, Any]]) -> bool:
    """The controller ConfigMap's `use-forwarded-headers` (the lab's controller reads
    `ingress-nginx-controller`, the chart's name for it; default "false")."""
    cms = [o for o in objs if o.get("kind") == "ConfigMap" and _md(o).get("name") == "ingress-nginx-controller"]
    data = cms[0].get("data") if cms else None
    return isinstance(data, Mapping) and str(data.get("use-forwarded-headers", "")).strip().lower() == "true"


def _replace(loc: Location, **changes: Any) -> Location:
    from dataclasses import replace

    return replace(loc, **changes)
