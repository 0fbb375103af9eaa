"""Static rules: ingress checks (class, backends, TLS secrets, timeouts, annotations, rule match)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from pathlib import PurePath
from typing import Any

from kdiag.dataplane import Profile, annotations_of, is_true, profile_for_annotation, profiles
from kdiag.model import Finding, PortRef, RuleRef
from kdiag.route import (
    claiming_profile,
    class_decision,
    ingress_profile,
    ingress_ref,
    looks_like_websocket,
)
from kdiag.route.backend import BackendRef, backend_ref, find_service_port
from kdiag.rules import RuleContext, rule
from kdiag.shape import as_int, as_list, as_map, lb_addresses, maps, sub
from kdiag.snapshot import WORKLOAD_KINDS, Snapshot, obj_key, obj_ref

__all__ = [
    "backend_paths",
    "check_backend_port",
    "check_backend_service",
    "check_class",
    "check_no_address",
    "check_no_rule_matches",
    "check_tls_secrets",
    "check_unknown_annotations",
    "check_websocket_timeouts",
]




def backend_paths(
    ing: Mapping[str, Any],
) -> Iterator[tuple[str, str, str, Mapping[str, Any]]]:
    """(host, path, pathType, backend) of every rule path, plus ("", "", "defaultBackend", b)."""
    spec = sub(ing, "spec")
    default = as_map(spec.get("defaultBackend") or spec.get("backend"))
    if default:
        yield "", "", "defaultBackend", default
    for r in maps(spec.get("rules")):
        for p in maps(sub(r, "http").get("paths")):
            yield (str(r.get("host") or ""), str(p.get("path") or "/"),
                   str(p.get("pathType") or "ImplementationSpecific"), as_map(p.get("backend")))


def _where(host: str, path: str, ptype: str) -> str:
    return "defaultBackend" if ptype == "defaultBackend" else f"{host or '*'}{path}"


# -- ingress-class-missing -------------------------------------------------------------------


@rule("ingress-class-missing")
def check_class(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    classes = {str(sub(c, "metadata").get("name")): c for c in snap.list("IngressClass")}
    known = bool(classes) or (snap.source.kind == "cluster" and snap.readable("IngressClass"))
    defaults = sorted(n for n, c in classes.items() if is_true(
        annotations_of(c).get("ingressclass.kubernetes.io/is-default-class")))
    if len(defaults) > 1:
        yield ctx.finding(
            "ingress-class-missing", classes[defaults[0]],
            f"{len(defaults)} IngressClasses are marked default ({', '.join(defaults)}): the API "
            "server rejects new Ingresses without ingressClassName, and none applies to old ones",
            evidence={"default_classes": defaults}, severity="warning")
    if not known:
        return
    existing = sorted(classes)
    for ing in snap.list("Ingress"):
        d = class_decision(snap, ing)
        if d.source == "spec" and d.exists is False:
            close = difflib.get_close_matches(d.class_name or "", existing, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else (
                f"; existing classes: {', '.join(existing)}" if existing else "; the cluster has no IngressClass")
            yield ctx.finding(
                "ingress-class-missing", ing,
                f"ingressClassName {d.class_name!r} names no IngressClass, so no controller serves "
                f"this Ingress{hint}",
                evidence={"class": d.class_name, "existing_classes": existing})
        elif d.source == "none":
            why = ("more than one IngressClass is marked default" if len(defaults) > 1
                   else "no IngressClass is marked default")
            yield ctx.finding(
                "ingress-class-missing", ing,
                f"the Ingress names no class (no ingressClassName, no kubernetes.io/ingress.class) "
                f"and {why}: {ingress_profile(snap, ing).classless or 'no controller may serve it'}",
                evidence={"existing_classes": existing, "default_classes": defaults})


# -- ingress-backend-service-missing ---------------------------------------------------------


def _describes_app(snap: Snapshot, ns: str, ing: Mapping[str, Any]) -> bool:
    """Manifests that carry the app's Services or workloads (else we cannot judge): objects of
    this namespace from the Ingress's own file or folder (any, when origins are unknown)."""
    others = list(snap.list("Service", ns)) + [w for k in WORKLOAD_KINDS for w in snap.list(k, ns)]
    here = snap.origin(ing)
    if here is None:
        return bool(others)
    folder = PurePath(here.path).parent
    for o in others:
        where = snap.origin(o)
        if where is None or where.path == here.path or PurePath(where.path).parent == folder:
            return True
    return False


def _services_selecting(snap: Snapshot, workload: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    ns = obj_key(workload)[1]
    labels = as_map(sub(workload, "spec", "template", "metadata").get("labels"))
    return snap.services_selecting(ns, labels)


def _backend_fix(service: str, ref: BackendRef) -> str:
    port = (f"number: {ref.port_number}" if ref.port_number is not None else f"name: {ref.port_name}")
    return (
        "Name the Service (not the Deployment) in the Ingress backend:\n\n```yaml\n"
        f"backend:\n  service:\n    name: {service}\n    port: {{{port}}}\n```"
    )


@rule("ingress-backend-service-missing")
def check_backend_service(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    for ing in snap.list("Ingress"):
        ns = snap.namespace_of(ing)
        live = snap.source.kind == "cluster"
        for host, path, ptype, backend in backend_paths(ing):
            ref = backend_ref(backend, ns)
            if ref is None or ref.service_name is None:
                continue
            if snap.get("Service", ns, ref.service_name) is not None:
                continue
            if not snap.was_read("Service", ns, ref.service_name):
                continue  # a targeted read did not look there: nothing to judge
            where = _where(host, path, ptype)
            ev: dict[str, Any] = {"path": where, "service": f"{ns}/{ref.service_name}", "port": ref.port}
            rule_ref = RuleRef(ingress_ref(ing), host, path)
            port_ref = PortRef(port=ref.port_number, name=ref.port_name)
            if not snap.readable("Service"):
                yield ctx.finding(
                    "ingress-backend-service-missing", ing,
                    f"cannot verify that Service {ns}/{ref.service_name} ({where}) exists: "
                    f"Services are not readable ({snap.denied.get('Service')})",
                    evidence=ev, severity="info", rule=rule_ref, port=port_ref)
                continue
            if not live and not _describes_app(snap, ns, ing):
                continue  # a lone Ingress file: the Service may live elsewhere
            workload = next((w for k in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")
                             if (w := snap.get(k, ns, ref.service_name)) is not None), None)
            fix = None
            if workload is not None:
                selecting = _services_selecting(snap, workload)
                kind = workload.get("kind")
                if selecting:
                    names = [str(sub(s, "metadata").get("name")) for s in selecting]
                    hint = (f"; Service {names[0]} selects its pods" if len(names) == 1
                            else f"; Services selecting its pods: {', '.join(names)}")
                    fix = _backend_fix(names[0], ref)
                    ev["suggested_service"] = names[0]
                else:
                    hint = "; no Service selects its pods yet: create one and name it here"
                msg = (f"backend {where} names {ref.service_name!r}, which is a {kind}, not a "
                       f"Service: an Ingress can only send traffic to a Service{hint}")
                ev["workload"] = obj_ref(workload)
            else:
                names = [str(sub(s, "metadata").get("name")) for s in snap.list("Service", ns)]
                close = difflib.get_close_matches(ref.service_name, names, n=1, cutoff=0.6)
                if not close:  # chatapp-deployment -> chatapp-svc: same first word, only one
                    stem = ref.service_name.split("-", 1)[0]
                    same = [n for n in names if n.split("-", 1)[0] == stem]
                    close = same if len(same) == 1 else []
                hint = f"; did you mean {close[0]!r}?" if close else ""
                if close:
                    fix = _backend_fix(close[0], ref)
                    ev["suggested_service"] = close[0]
                msg = f"backend {where} names Service {ref.service_name!r}, which does not exist in {ns}{hint}"
            yield ctx.finding("ingress-backend-service-missing", ing, msg, evidence=ev, fix=fix, rule=rule_ref,
                              port=port_ref)


# -- ingress-backend-port-missing ------------------------------------------------------------


def _closest_port(service: Mapping[str, Any], ref: BackendRef) -> tuple[Mapping[str, Any] | None, str]:
    ports = maps(sub(service, "spec").get("ports"))
    if not ports:
        return None, "the Service has no ports"
    if ref.port_number is not None:
        by_target = [p for p in ports if p.get("targetPort") == ref.port_number]
        if by_target:
            return by_target[0], (f"{ref.port_number} is the targetPort of Service port "
                                  f"{by_target[0].get('port')}; the Ingress must use the Service `port`")
        number = ref.port_number
        best = min(ports, key=lambda p: abs((as_int(p.get("port")) or 0) - number))
        return best, f"closest Service port: {best.get('port')}" + (
            f" ({best.get('name')})" if best.get("name") else "")
    names = [str(p.get("name")) for p in ports if p.get("name")]
    close = difflib.get_close_matches(ref.port_name or "", names, n=1, cutoff=0.5)
    if close:
        best = next(p for p in ports if p.get("name") == close[0])
        return best, f"did you mean port name {close[0]!r} ({best.get('port')})?"
    if len(ports) == 1:
        return ports[0], f"the Service's only port is {ports[0].get('port')}"
    return None, "ports: " + ", ".join(f"{p.get('name') or '-'}={p.get('port')}" for p in ports)


@rule("ingress-backend-port-missing")
def check_backend_port(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    for ing in snap.list("Ingress"):
        ns = snap.namespace_of(ing)
        for host, path, ptype, backend in backend_paths(ing):
            ref = backend_ref(backend, ns)
            if ref is None or ref.service_name is None or ref.port is None:
                continue
            service = snap.get("Service", ns, ref.service_name)
            if service is None or find_service_port(service, ref) is not None:
                continue
            best, hint = _closest_port(service, ref)
            what = f"port {ref.port_number}" if ref.port_number is not None else f"port name {ref.port_name!r}"
            fix = None
            if best is not None:
                fix = ("Use a port the Service has:\n\n```yaml\nbackend:\n  service:\n"
                       f"    name: {ref.service_name}\n    port: {{number: {best.get('port')}}}\n```")
            yield ctx.finding(
                "ingress-backend-port-missing", ing,
                f"backend {_where(host, path, ptype)} uses {what} of Service {ref.service_name}, "
                f"which has no such port; {hint}",
                evidence={"service": f"{ns}/{ref.service_name}", "port": ref.port,
                          "service_ports": [dict(p) for p in maps(sub(service, "spec").get("ports"))]},
                fix=fix, rule=RuleRef(ingress_ref(ing), host, path),
                port=PortRef(port=ref.port_number, name=ref.port_name))


# -- ingress-tls-secret-missing --------------------------------------------------------------


@rule("ingress-tls-secret-missing")
def check_tls_secrets(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    for ing in snap.list("Ingress"):
        ns = snap.namespace_of(ing)
        for tls in maps(sub(ing, "spec").get("tls")):
            name = tls.get("secretName")
            if not name or snap.get("Secret", ns, str(name)) is not None:
                continue
            if not snap.was_read("Secret", ns, str(name)):
                continue  # a targeted read did not look there: nothing to judge
            hosts = ", ".join(str(h) for h in as_list(tls.get("hosts"))) or "(no hosts)"
            profile = claiming_profile(snap, ing)
            cert = profile.fallback_certificate
            ev = {"secret": f"{ns}/{name}", "hosts": list(as_list(tls.get("hosts")))}
            if not snap.readable("Secret"):
                yield ctx.finding(
                    "ingress-tls-secret-missing", ing,
                    f"cannot verify TLS Secret {ns}/{name} for {hosts}: Secrets are not readable "
                    f"({snap.denied.get('Secret')}); kdiag never reads Secret data",
                    evidence=ev, severity="info")
            elif snap.source.kind != "cluster":
                yield ctx.finding(
                    "ingress-tls-secret-missing", ing,
                    f"TLS Secret {name!r} for {hosts} is not in these manifests; if nothing creates "
                    "it (cert-manager, a sealed secret, a CI step), "
                    + (f"{profile.name} serves its '{cert}'" if cert else "the data plane has no certificate for them"),
                    evidence=ev, severity="warning")
            else:
                yield ctx.finding(
                    "ingress-tls-secret-missing", ing,
                    f"TLS Secret {ns}/{name} for {hosts} does not exist: "
                    + (f"{profile.name} serves its self-signed '{cert}' and browsers refuse it" if cert
                       else "the data plane has no certificate for them"),
                    evidence=ev)


# -- ingress-websocket-timeout ---------------------------------------------------------------


def _timeout_finding(ctx: RuleContext, ing: Mapping[str, Any], where: str, rule_ref: RuleRef, why: str,
                     profile: Profile) -> Finding | None:
    """None when the timeouts are long enough, or the profile does not model them (the profile's
    own fields decide: `kdiag.rules.dataplane`)."""
    from kdiag.rules.dataplane import websocket_timeout_finding

    return websocket_timeout_finding(ctx, ing, where, rule_ref, why, profile)


@rule("ingress-websocket-timeout")
def check_websocket_timeouts(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    seen: set[tuple[str, str]] = set()
    res = ctx.resolution
    # (an HTTPProxy route has its own timeout fields: kdiag.rules.route_kinds judges it)
    if res is not None and res.target.websocket and res.match is not None and res.kind == "Ingress":
        rule_ref = RuleRef(ingress_ref(res.match.ingress), res.match.host, res.match.path)
        where = f"{res.match.host or '*'}{res.match.path}"
        seen.add((ingress_ref(res.match.ingress), where))
        f = _timeout_finding(ctx, res.match.ingress, where, rule_ref, f"the target is {res.target.scheme}://",
                             res.profile)
        if f is not None:
            yield f
    for ing in snap.list("Ingress"):
        profile = ingress_profile(snap, ing)
        if profile.is_canary(ing):
            continue  # a canary inherits its main Ingress's timeouts
        ns = snap.namespace_of(ing)
        for host, path, ptype, backend in backend_paths(ing):
            if ptype == "defaultBackend":
                continue
            ref = backend_ref(backend, ns)
            sp = None
            if ref is not None and ref.service_name:
                service = snap.get("Service", ns, ref.service_name)
                sp = find_service_port(service, ref) if service is not None else None
            if not looks_like_websocket(path, sp):
                continue
            where = _where(host, path, ptype)
            if (ingress_ref(ing), where) in seen:
                continue
            seen.add((ingress_ref(ing), where))
            why = "its path looks like a WebSocket endpoint" if looks_like_websocket(path) else \
                "its Service port is a WebSocket port"
            f = _timeout_finding(ctx, ing, where, RuleRef(ingress_ref(ing), host, path), why, profile)
            if f is not None:
                yield f


# -- ingress-unknown-annotation --------------------------------------------------------------


@rule("ingress-unknown-annotation")
def check_unknown_annotations(ctx: RuleContext) -> Iterator[Finding]:
    for ing in ctx.snapshot.list("Ingress"):
        for key in sorted(annotations_of(ing)):
            profile = profile_for_annotation(key)
            prefix = next((p for p in profile.annotation_prefixes if key.startswith(p)), None)
            if prefix is None or profile.cloud_lb or not profile.known_annotations:
                continue  # a cloud LB's misspelt annotation is controller-field-ignored's
            name = key[len(prefix):]
            if name in profile.known_annotations:
                continue
            if name in profile.legacy_annotations:
                yield ctx.finding(
                    "ingress-unknown-annotation", ing,
                    f"{key} is {profile.legacy_why} and unknown to {profile.name}: it is silently "
                    f"ignored. Use {profile.legacy_annotations[name]}",
                    evidence={"annotation": key, "replacement": profile.legacy_annotations[name]},
                    fix=profile.legacy_fix or None)
                continue
            close = profile.closest_annotation(name)
            hint = f"; did you mean {prefix}{close}?" if close else ""
            yield ctx.finding(
                "ingress-unknown-annotation", ing,
                f"{profile.name} does not know the annotation {key}, so it is silently ignored{hint}",
                evidence={"annotation": key, "suggestion": (prefix + close) if close else None})



# -- ingress-no-rule-matches -----------------------------------------------------------------


def _similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


@rule("ingress-no-rule-matches")
def check_no_rule_matches(ctx: RuleContext) -> Iterator[Finding]:
    res = ctx.resolution
    if res is None:
        return
    target = res.target
    snap = ctx.snapshot
    if not snap.readable("Ingress"):
        yield ctx.finding(
            "ingress-no-rule-matches", "",
            f"cannot check which Ingress rule serves {target.request_host}{target.path}: Ingresses "
            f"are not readable ({snap.denied.get('Ingress')})", severity="info")
        return
    if res.redirect and target.websocket and res.match is not None:
        yield ctx.finding(
            "ingress-no-rule-matches", res.match.ingress,
            f"no rule serves {target.path} itself: nginx answers 301 to {res.redirect} (rule "
            f"{res.match.host or '*'}{res.match.path}, {res.match.path_type}), and a WebSocket "
            f"handshake does not follow redirects; use {res.redirect} in the client or the path "
            f"{target.path} (without the trailing slash) in the Ingress",
            evidence={"host": target.request_host, "path": target.path, "redirect": res.redirect},
            rule=RuleRef(ingress_ref(res.match.ingress), res.match.host, res.match.path))
        return
    if res.matched:
        return
    if res.kind not in ("Ingress", "HTTPRoute", "GRPCRoute") and res.ingresses:  # an HTTPProxy serves the host
        proxy = res.ingresses[0]
        prefixes = sorted({f"{r.host or '*'}{r.path}" for r in res.profile.route_websockets(proxy)})
        yield ctx.finding(
            "ingress-no-rule-matches", proxy,
            f"{res.kind} {ingress_ref(proxy)} serves {target.request_host}, but none of its routes "
            f"({', '.join(prefixes) or 'none'}) matches {target.path}: {res.profile.no_route.detail}",
            evidence={"host": target.request_host, "path": target.path, "routes": prefixes[:50]})
        return
    routes = [(ing, host, path, ptype) for ing in snap.list("Ingress")
              if not ingress_profile(snap, ing).is_canary(ing)
              for host, path, ptype, _ in backend_paths(ing) if ptype != "defaultBackend"]
    host = target.request_host
    existing = sorted({f"{h or '*'}{p} ({t})" for _, h, p, t in routes})
    closest = None
    if routes:  # the most similar host first (each distinct host scored once), then path
        best_host = max({r[1] for r in routes}, key=lambda h: _similarity(h, host))
        closest = max((r for r in routes if r[1] == best_host),
                      key=lambda r: _similarity(r[2], target.path))
    ev: dict[str, Any] = {"host": host, "path": target.path, "routes": existing[:50],
                          "candidates": [c.to_dict() for c in res.candidates]}
    hint = ""
    obj: Mapping[str, Any] | str = ""
    if closest is not None:
        obj = closest[0]
        ev["closest"] = f"{closest[1] or '*'}{closest[2]}"
        hint = f"; closest rule: {closest[1] or '*'}{closest[2]} in Ingress {ingress_ref(closest[0])}"
    rejected = [c for c in res.candidates if c.reason == "class"]
    if rejected:
        hint += "; ignored because of its class: " + "; ".join(f"{c.ingress} ({c.detail})" for c in rejected)
    if res.default_backend == "ingress":
        yield ctx.finding(
            "ingress-no-rule-matches", obj,
            f"no rule matches {host}{target.path}: it goes to the defaultBackend of Ingress "
            f"{res.default_backend_ingress}{hint}", evidence=ev, severity="warning")
        return
    what = "no Ingress exists" if not routes else f"no Ingress rule matches host {host} and path {target.path}"
    yield ctx.finding(
        "ingress-no-rule-matches", obj,
        f"{what}: {res.profile.no_route.detail}{hint}", evidence=ev)


# -- ingress-no-address ----------------------------------------------------------------------

def _controller_service_found(snap: Snapshot) -> bool:
    app_names = {n for p in profiles() for n in p.pods.app_names}
    for s in snap.list("Service"):
        md = sub(s, "metadata")
        labels = as_map(md.get("labels"))
        name = str(md.get("name") or "")
        if labels.get("app.kubernetes.io/name") in app_names or labels.get("app") in app_names:
            return True
        if "ingress" in name and sub(s, "spec").get("type") in ("LoadBalancer", "NodePort"):
            return True
    return False


@rule("ingress-no-address")
def check_no_address(ctx: RuleContext) -> Iterator[Finding]:
    snap = ctx.snapshot
    if _controller_service_found(snap):
        return
    for ing in snap.list("Ingress"):
        if snap.source.kind != "cluster" and "status" not in ing:
            continue  # plain manifests say nothing about the live address
        if lb_addresses(ing):
            continue
        hosts = sorted({str(r.get("host")) for r in maps(sub(ing, "spec").get("rules")) if r.get("host")})
        yield ctx.finding(
            "ingress-no-address", ing,
            "the Ingress has no address in status.loadBalancer and no ingress controller Service "
            "was found: probably no controller serves it (or it has not admitted it yet)"
            + (f"; {', '.join(hosts)} will only work if DNS points at a controller" if hosts else ""),
            evidence={"hosts": hosts, "status": dict(sub(ing, "status"))})
