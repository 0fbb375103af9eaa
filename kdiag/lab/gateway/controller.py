"""The lab's NGINX Gateway Fabric controller: Gateway API objects → status and the data-plane IR.

`reconcile` plays NGF's control plane over raw objects: it accepts the GatewayClasses whose
`controllerName` is NGF's, the Gateways of those classes (HTTP listeners), attaches HTTPRoutes to
listeners as the spec says (parentRef `sectionName`/`port`, `allowedRoutes` namespaces Same/All/
Selector and kinds, hostname intersection where `*.example.com` covers one or more labels),
resolves backendRefs (Service and port, cross-namespace only with a ReferenceGrant, ready
endpoints through the Ingress controller's `ServiceResolver`) and writes the status a real
controller writes (GatewayClass/Gateway/listener conditions, route `status.parents` with
`Accepted`/`ResolvedRefs` and their reasons). `with_status` returns objects carrying that status,
so what the fake API server serves and what the data plane does agree by construction.

Not modelled: TLS listeners, filters (logged and ignored), regex path matches, GRPCRoute traffic
(GRPCRoutes get status, the lab serves HTTP only), more than one listener port (port 80 only).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kdiag.lab.gateway.model import (
    DEFAULT_TIMEOUT,
    NGF_CONTROLLER,
    GatewayConfig,
    GwLocation,
    GwServer,
    MatchRule,
    ProxyTimeouts,
    WeightedBackend,
    hostname_matches,
)
from kdiag.lab.ingress.controller import ServiceResolver
from kdiag.lab.ingress.model import BackendsFn

__all__ = ["EG_CONTROLLER", "GROUP", "LAB_ADDRESS", "Reconciled", "reconcile", "with_status"]

GROUP = "gateway.networking.k8s.io"
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")
#: The address the lab's Gateways report in status.addresses (loopback only, see the lab rules).
LAB_ADDRESS = "127.0.0.1"
STAMP = "2026-11-20T09:00:05Z"


def _md(o: Mapping[str, Any]) -> Mapping[str, Any]:
    return o.get("metadata") or {}


def _ns(o: Mapping[str, Any]) -> str:
    return str(_md(o).get("namespace") or "default")


def _key(o: Mapping[str, Any]) -> str:
    return f"{_ns(o)}/{_md(o).get('name', '')}"


def _cond(ctype: str, ok: bool | str, reason: str, message: str, obj: Mapping[str, Any]) -> dict[str, Any]:
    status = ok if isinstance(ok, str) else ("True" if ok else "False")
    return {"type": ctype, "status": status, "reason": reason, "message": message,
            "observedGeneration": int(_md(obj).get("generation") or 1), "lastTransitionTime": STAMP}


def duration_seconds(value: Any) -> int | None:
    """A Gateway API (GEP-2257) / NGF duration ("3s", "500ms", "1h30m") in whole seconds (at least 1)."""
    text = str(value or "").strip()
    parts = re.findall(r"(\d+)(ms|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    seconds = sum(int(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[u] for n, u in parts)
    return max(1, int(seconds + 0.999))


@dataclass
class Reconciled:
    config: GatewayConfig
    #: (kind, "ns/name" or name) -> the status the controller writes
    statuses: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


@dataclass
class _Listener:
    gateway: Mapping[str, Any]
    spec: Mapping[str, Any]
    attached: int = 0

    @property
    def name(self) -> str:
        return str(self.spec.get("name") or "")

    @property
    def hostname(self) -> str:
        return str(self.spec.get("hostname") or "")

    def allows(self, route: Mapping[str, Any], namespaces: Mapping[str, Mapping[str, Any]]) -> bool:
        allowed = self.spec.get("allowedRoutes") or {}
        kinds = [k.get("kind") for k in allowed.get("kinds") or () if (k.get("group") or GROUP) == GROUP]
        if kinds and route.get("kind") not in kinds:
            return False
        frm = (allowed.get("namespaces") or {}).get("from") or "Same"
        if frm == "All":
            return True
        if frm == "Selector":
            sel = ((allowed.get("namespaces") or {}).get("selector") or {}).get("matchLabels") or {}
            labels = _md(namespaces.get(_ns(route), {})).get("labels") or {}
            return all(labels.get(k) == v for k, v in sel.items())
        return _ns(route) == _ns(self.gateway)


def _within(specific: str, pattern: str) -> bool:
    """`specific` (a hostname or wildcard) lies inside `pattern`."""
    if specific == pattern:
        return True
    return pattern.startswith("*.") and hostname_matches(pattern, specific.removeprefix("*."))


def _hostnames(listener: str, route: list[str]) -> list[str]:
    """The hostnames a route serves on a listener ("" = any host); [] = no intersection."""
    if not route:
        return [listener]
    if not listener:
        return list(route)
    out: list[str] = []
    for h in route:
        if _within(h, listener):
            out.append(h)
        elif _within(listener, h):
            out.append(listener)
    return list(dict.fromkeys(out))


def _permitted(objs: list[Mapping[str, Any]], route: Mapping[str, Any], ns: str, name: str) -> bool:
    """A ReferenceGrant in `ns` lets this route kind from its namespace refer to Service `name`."""
    for g in objs:
        if g.get("kind") != "ReferenceGrant" or _ns(g) != ns:
            continue
        spec = g.get("spec") or {}
        frm = any(f.get("group") == GROUP and f.get("kind") == route.get("kind") and f.get("namespace") == _ns(route)
                  for f in spec.get("from") or ())
        to = any((t.get("group") or "") == "" and t.get("kind") == "Service" and (not t.get("name") or t.get("name") == name)
                 for t in spec.get("to") or ())
        if frm and to:
            return True
    return False


def _timeouts(objs: list[Mapping[str, Any]], kind: str, ns: str, name: str) -> ProxyTimeouts | None:
    for p in objs:
        if p.get("kind") != "ProxySettingsPolicy" or _ns(p) != ns:
            continue
        spec = p.get("spec") or {}
        if not any(t.get("kind") == kind and t.get("name") == name for t in spec.get("targetRefs") or ()):
            continue
        t = spec.get("timeout") or {}
        return ProxyTimeouts(connect=duration_seconds(t.get("connect")) or DEFAULT_TIMEOUT,
                             read=duration_seconds(t.get("read")) or DEFAULT_TIMEOUT,
                             send=duration_seconds(t.get("send")) or DEFAULT_TIMEOUT, policy=_key(p))
    return None


#: Envoy Gateway's controllerName (its lab stories: kdiag.lab.gateway_timeout_scenarios, gateway_backend_scenarios).
EG_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"


def _external_name(controller: str, svc: Mapping[str, Any], rule: int, ref: int) -> str:
    """Why `controller` cannot use an ExternalName Service as a backendRef ("" = not one, or it can).

    - Envoy Gateway rejects it: ResolvedRefs False, reason UnsupportedValue, and the rule becomes a
      500 direct response [SRC envoyproxy/gateway@d32f28294245e454d20f81d323d626a90e660c1e
      internal/gatewayapi/route.go processServiceDestinationSetting and validate.go
      validateBackendRefService (since #9190, ee16b3fc, 2026-06-14); the message and the
      `directResponse: {statusCode: 500}` as in internal/gatewayapi/testdata/
      httproute-with-externalname-service-backend.out.yaml].
    - NGINX Gateway Fabric supports ExternalName since 2.2.0 (#3759) but only for a Gateway whose
      NginxProxy sets `dnsResolver`; otherwise the backend is invalid for that Gateway: ResolvedRefs
      False, reason UnsupportedValue, and NGINX answers 500 from `invalid-backend-ref`
      [SRC nginx/nginx-gateway-fabric@e55bfe33969f313b210d3497b3ae56b923175d69
      internal/controller/state/graph/backend_refs.go checkExternalNameValidForGateways,
      route_common.go (the condition on the parent's status), dataplane/configuration.go (a backend
      invalid for the Gateway gets no upstream)]. The lab has no NginxProxy, so never a resolver.
    """
    spec = svc.get("spec") or {}
    if spec.get("type") != "ExternalName":
        return ""
    if controller == EG_CONTROLLER:
        return (f"Failed to process route rule {rule} backendRef {ref}: Service {_key(svc)} is of type ExternalName, "
                "which is not supported as a backend; use an Envoy Gateway Backend resource with an FQDN endpoint "
                "instead.")
    if controller == NGF_CONTROLLER:
        return "ExternalName service requires DNS resolver configuration in Gateway's NginxProxy"
    return ""


class _Reconciler:
    def __init__(self, objs: list[Mapping[str, Any]], backends: BackendsFn, controller: str, port: int) -> None:
        self.objs = objs
        self.controller = controller
        self.port = port
        self.resolver = ServiceResolver(objs, backends)
        self.namespaces = {str(_md(o).get("name")): o for o in objs if o.get("kind") == "Namespace"}
        self.log: list[str] = []
        self.statuses: dict[tuple[str, str], dict[str, Any]] = {}
        self.servers: dict[str, dict[tuple[str, str], list[MatchRule]]] = {}
        self.server_gateway: dict[str, tuple[str, str]] = {}

    def run(self) -> Reconciled:
        classes = {str(_md(c).get("name")): c for c in self.objs if c.get("kind") == "GatewayClass"
                   and (c.get("spec") or {}).get("controllerName") == self.controller}
        for name, c in classes.items():
            self.statuses[("GatewayClass", name)] = {"conditions": [
                _cond("Accepted", True, "Accepted", "GatewayClass is accepted", c),
                _cond("SupportedVersion", True, "SupportedVersion", "Gateway API CRD versions are supported", c)]}
        gateways = [g for g in self.objs if g.get("kind") == "Gateway"
                    and (g.get("spec") or {}).get("gatewayClassName") in classes]
        listeners = {_key(g): [_Listener(g, s) for s in (g.get("spec") or {}).get("listeners") or ()] for g in gateways}
        routes = sorted((r for r in self.objs if r.get("kind") in ROUTE_KINDS),
                        key=lambda r: (str(_md(r).get("creationTimestamp") or ""), _key(r)))
        for route in routes:
            self._route(route, listeners)
        for g in gateways:
            self._gateway_status(g, listeners[_key(g)])
        return Reconciled(self._config(), self.statuses)

    # -- routes --------------------------------------------------------------------------------

    def _route(self, route: Mapping[str, Any], listeners: Mapping[str, list[_Listener]]) -> None:
        parents: list[dict[str, Any]] = []
        resolved, refs_reason, refs_msg, backends = self._backends(route)
        unsupported = [f"spec.rules[{i}].{f}" for i, rule in enumerate((route.get("spec") or {}).get("rules") or ())
                       for f in ("timeouts", "retry") if rule.get(f)] if self.controller == NGF_CONTROLLER else []
        for ref in (route.get("spec") or {}).get("parentRefs") or ():
            if (ref.get("group") or GROUP) != GROUP or (ref.get("kind") or "Gateway") != "Gateway":
                continue
            gkey = f"{ref.get('namespace') or _ns(route)}/{ref.get('name')}"
            if gkey not in listeners:
                continue  # not our Gateway (or none): no status entry, as the spec allows
            attached, reason, msg = self._attach(route, ref, listeners[gkey])
            if attached and unsupported:
                # NGF: the fields are ignored, the route stays Accepted with its own reason [SRC httproute.go]
                accepted = _cond("Accepted", True, "UnsupportedField",
                                 f"The following fields are not supported and are ignored: {', '.join(unsupported)}", route)
            elif attached:
                accepted = _cond("Accepted", True, "Accepted", "The route is accepted", route)
            else:
                accepted = _cond("Accepted", False, reason, msg, route)
            refs = _cond("ResolvedRefs", resolved, refs_reason, refs_msg, route)
            parents.append({"parentRef": dict(ref), "controllerName": self.controller, "conditions": [accepted, refs]})
            if attached and route.get("kind") == "HTTPRoute":
                for lst, hosts in attached:
                    lst.attached += 1
                    for host in hosts:
                        self._render(route, host, lst, backends)
            elif attached:
                for lst, _hosts in attached:
                    lst.attached += 1
                self.log.append(f"{route.get('kind')} {_key(route)}: the lab data plane serves HTTP routes only")
        self.statuses[(str(route.get("kind")), _key(route))] = {"parents": parents}

    def _attach(self, route: Mapping[str, Any], ref: Mapping[str, Any], lsts: list[_Listener]
                ) -> tuple[list[tuple[_Listener, list[str]]], str, str]:
        cands = [lst for lst in lsts if (not ref.get("sectionName") or lst.name == ref.get("sectionName"))
                 and (not ref.get("port") or int(lst.spec.get("port") or 0) == int(ref["port"]))]
        if not cands:
            return [], "NoMatchingParent", "No listener matches the parentRef's sectionName/port"
        cands = [lst for lst in cands if str(lst.spec.get("protocol") or "") in ("HTTP", "HTTPS")]
        allowed = [lst for lst in cands if lst.allows(route, self.namespaces)]
        if not allowed:
            return [], "NotAllowedByListeners", (f"The listener does not allow {route.get('kind')}s "
                                                 f"from namespace {_ns(route)!r}")
        route_hosts = [str(h) for h in (route.get("spec") or {}).get("hostnames") or ()]
        out = [(lst, hosts) for lst in allowed if (hosts := _hostnames(lst.hostname, route_hosts))]
        if not out:
            return [], "NoMatchingListenerHostname", "No listener hostname matches the route's hostnames"
        return out, "", ""

    def _backends(self, route: Mapping[str, Any]) -> tuple[bool, str, str, list[list[WeightedBackend]]]:
        out: list[list[WeightedBackend]] = []
        problem: tuple[str, str] | None = None
        for rule in (route.get("spec") or {}).get("rules") or ():
            refs: list[WeightedBackend] = []
            for b in rule.get("backendRefs") or ():
                ns, name, port = str(b.get("namespace") or _ns(route)), str(b.get("name") or ""), b.get("port")
                weight = int(b.get("weight", 1))
                ref = f"{ns}/{name}:{port}"
                why = ""
                if (b.get("group") or "") != "" or (b.get("kind") or "Service") != "Service":
                    why, msg = "InvalidKind", f"Unsupported backendRef kind {b.get('kind')!r}"
                elif ns != _ns(route) and not _permitted(self.objs, route, ns, name):
                    why, msg = "RefNotPermitted", f"Backend ref to Service {ns}/{name} not permitted by any ReferenceGrant"
                elif f"{ns}/{name}" not in self.resolver.services:
                    why, msg = "BackendNotFound", f"Service {ns}/{name} not found"
                elif (external := _external_name(self.controller, self.resolver.services[f"{ns}/{name}"],
                                                 len(out), len(refs))):
                    why, msg = "UnsupportedValue", external
                elif port is None:
                    why, msg = "UnsupportedValue", "Must specify a port"
                if why:
                    problem = problem or (why, msg)
                    refs.append(WeightedBackend(ref, weight, None, why))
                    continue
                up = self.resolver.upstream(ns, {"service": {"name": name, "port": {"number": int(port)}}})
                refs.append(WeightedBackend(ref, weight, up))
            out.append(refs)
        if problem:
            return False, problem[0], problem[1], out
        return True, "ResolvedRefs", "All references are resolved", out

    def _render(self, route: Mapping[str, Any], host: str, lst: _Listener, backends: list[list[WeightedBackend]]) -> None:
        if int(lst.spec.get("port") or 0) != self.port or lst.spec.get("protocol") != "HTTP":
            self.log.append(f"listener {_key(lst.gateway)}/{lst.name}: the lab serves HTTP on port {self.port} only")
            return
        gw_t = _timeouts(self.objs, "Gateway", _ns(lst.gateway), str(_md(lst.gateway).get("name")))
        timeouts = (_timeouts(self.objs, "HTTPRoute", _ns(route), str(_md(route).get("name"))) or gw_t
                    or ProxyTimeouts())
        draft = self.servers.setdefault(host, {})
        self.server_gateway.setdefault(host, (_key(lst.gateway), lst.name))
        for ri, rule in enumerate((route.get("spec") or {}).get("rules") or ()):
            if rule.get("filters"):
                self.log.append(f"{_key(route)} rule {ri}: filters are not rendered by the lab")
            for mi, match in enumerate(rule.get("matches") or [{}]):
                path = match.get("path") or {}
                ptype, value = str(path.get("type") or "PathPrefix"), str(path.get("value") or "/")
                if ptype not in ("Exact", "PathPrefix"):
                    self.log.append(f"{_key(route)} rule {ri}: {ptype} paths are not served by the lab")
                    continue
                m = MatchRule(
                    route=_key(route), rule=ri, match=mi, exact=ptype == "Exact", path=value,
                    method=match.get("method"),
                    headers=tuple((str(h["name"]).lower(), str(h.get("value", ""))) for h in match.get("headers") or ()
                                  if (h.get("type") or "Exact") == "Exact"),
                    query=tuple((str(q["name"]), str(q.get("value", ""))) for q in match.get("queryParams") or ()
                                if (q.get("type") or "Exact") == "Exact"),
                    backends=tuple(backends[ri]) if ri < len(backends) else (), timeouts=timeouts,
                    created=str(_md(route).get("creationTimestamp") or ""))
                if ptype == "Exact":
                    locs = [("=", value)]
                elif value.rstrip("/") == "":
                    locs = [("", "/")]
                else:
                    base = value.rstrip("/")
                    locs = [("", base + "/"), ("=", base)]
                for loc in locs:
                    bucket = draft.setdefault(loc, [])
                    if not any((x.route, x.rule, x.match) == (m.route, m.rule, m.match) for x in bucket):
                        bucket.append(m)

    # -- gateways and the IR ---------------------------------------------------------------------

    def _gateway_status(self, g: Mapping[str, Any], lsts: list[_Listener]) -> None:
        kinds = [{"group": GROUP, "kind": k} for k in ROUTE_KINDS]
        self.statuses[("Gateway", _key(g))] = {
            "addresses": [{"type": "IPAddress", "value": LAB_ADDRESS}],
            "conditions": [_cond("Accepted", True, "Accepted", "Gateway is accepted", g),
                           _cond("Programmed", True, "Programmed", "Gateway is programmed", g)],
            "listeners": [{"name": lst.name, "supportedKinds": kinds, "attachedRoutes": lst.attached,
                           "conditions": [_cond("Accepted", True, "Accepted", "Listener is accepted", g),
                                          _cond("Programmed", True, "Programmed", "Listener is programmed", g),
                                          _cond("ResolvedRefs", True, "ResolvedRefs", "All references are resolved", g),
                                          _cond("Conflicted", False, "NoConflicts", "No conflicts", g)]}
                          for lst in lsts],
        }

    def _config(self) -> GatewayConfig:
        servers: list[GwServer] = []
        default = GwServer("", (GwLocation("", "/", ()),))
        for host, draft in self.servers.items():
            locs = [GwLocation(mod, path, tuple(sorted(ms, key=lambda m: m.precedence())))
                    for (mod, path), ms in draft.items()]
            if not any(loc.modifier == "" and loc.path == "/" for loc in locs):
                locs.append(GwLocation("", "/", ()))  # NGF: no rule for the path → 404
            gw, listener = self.server_gateway[host]
            srv = GwServer(host, tuple(locs), gateway=gw, listener=listener)
            if host == "":
                default = srv
            else:
                servers.append(srv)
        return GatewayConfig(servers=tuple(servers), default_server=default, port=self.port, log=tuple(self.log))


def reconcile(objects: Iterable[Mapping[str, Any]], *, backends: BackendsFn | None = None,
              controller: str = NGF_CONTROLLER, port: int = 80) -> Reconciled:
    """NGF's view of `objects`: the status it writes and the data-plane IR for listener `port`.

    `backends(ns, pod, container_port)` says where a pod's port really listens in the lab (None:
    nothing, connections refused); without it every endpoint refuses.
    """
    objs = [o for o in objects if isinstance(o, Mapping)]
    return _Reconciler(objs, backends or (lambda _ns, _pod, _port: None), controller, port).run()


def with_status(objects: Iterable[Mapping[str, Any]], *, controller: str = NGF_CONTROLLER) -> list[dict[str, Any]]:
    """Deep copies of `objects`; GatewayClasses, Gateways and routes get the status NGF writes."""
    objs = [copy.deepcopy(dict(o)) for o in objects]
    statuses = reconcile(objs, controller=controller).statuses
    for o in objs:
        kind = str(o.get("kind") or "")
        key = str(_md(o).get("name")) if kind == "GatewayClass" else _key(o)
        if (kind, key) in statuses:
            o["status"] = statuses[(kind, key)]
    return objs
