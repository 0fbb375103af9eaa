"""Data-plane CRDs read from a cluster only when the data plane in play uses them.

Two kinds of objects, both declared by the profiles (never named here):
- a data plane's own route kinds (`Profile.route_kinds`: Contour's HTTPProxy) are listed when that
  data plane is in play: cluster-wide for one URL (like Ingresses), per namespace read for a full
  snapshot;
- the objects a backend Service names for its data plane (`Profile.service_configs`: the GKE
  BackendConfig of the `cloud.google.com/backend-config` annotation) are read one by one (GET by
  name) when that data plane serves an Ingress to that Service.

A data plane is in play (`profiles_in_play`) when an IngressClass or GatewayClass names its
controller, an Ingress names a class it claims while no IngressClass of that name is visible
(GKE's `gce` needs no IngressClass object), or a controller pod runs its image.

A 404 (the CRD is not installed) is recorded as a kind not served (`Snapshot.facts`
`kinds_not_served`; the route notes it), a 403 as the `source-read-forbidden` note; neither stops
the walk, and no data-plane claim is made from an object that was not read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from kdiag.dataplane import (
    UNKNOWN,
    Profile,
    profile_claiming,
    profile_for_controller,
    profile_for_image,
)
from kdiag.kube import ApiError, Forbidden, NotFound, Unauthorized
from kdiag.kube.errors import unreadable
from kdiag.shape import as_map, maps, sub
from kdiag.snapshot import obj_key

if TYPE_CHECKING:
    from kdiag.sources.cluster import _Reader

__all__ = [
    "INGRESS_CLASS_ANNOTATION",
    "profiles_in_play",
    "read_for_snapshot",
    "route_kinds",
    "service_config_refs",
    "serving_crd_routes",
]

#: Page size of the cluster-wide list of a route kind (like Ingresses: small objects).
ROUTE_PAGE = 2000

INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"


def _images(pod: Mapping[str, Any]) -> Iterable[str]:
    spec = sub(pod, "spec")
    for c in maps(spec.get("containers")) + maps(spec.get("initContainers")):
        if isinstance(c.get("image"), str):
            yield c["image"]


def profiles_in_play(objects: Iterable[Mapping[str, Any]], *, api: str = "") -> list[Profile]:
    """The known data planes the objects show (see the module docstring), by name. `api`
    "ingress" leaves out GatewayClasses (for settings only Ingress routes use)."""
    objs = list(objects)
    class_names = {obj_key(o)[2] for o in objs if o.get("kind") == "IngressClass"}
    found: dict[str, Profile] = {}

    def add(p: Profile) -> None:
        if p is not UNKNOWN and p.name != UNKNOWN.name:
            found.setdefault(p.name, p)

    for o in objs:
        kind = o.get("kind")
        if kind == "IngressClass":
            add(profile_for_controller(str(sub(o, "spec").get("controller") or "")))
        elif kind == "GatewayClass" and api != "ingress":
            add(profile_for_controller(str(sub(o, "spec").get("controllerName") or "")))
        elif kind == "Ingress":
            name = sub(o, "spec").get("ingressClassName") or \
                as_map(sub(o, "metadata").get("annotations")).get(INGRESS_CLASS_ANNOTATION)
            if isinstance(name, str) and name and name not in class_names:
                add(profile_claiming(None, name))
        elif kind == "Pod":
            for image in _images(o):
                add(profile_for_image(image))
    return [found[n] for n in sorted(found)]


def route_kinds(in_play: Iterable[Profile]) -> tuple[str, ...]:
    """The route kinds of their own that the data planes in play serve (HTTPProxy for Contour)."""
    return tuple(dict.fromkeys(k for p in in_play for k in p.route_kinds))


def service_config_refs(in_play: Iterable[Profile], services: Iterable[Mapping[str, Any]]
                        ) -> list[tuple[str, str, str]]:
    """(kind, namespace, name) of every object the Services name for the data planes in play."""
    profiles = list(in_play)
    out: list[tuple[str, str, str]] = []
    for svc in services:
        ns = obj_key(svc)[1]
        for p in profiles:
            for kind, name in p.service_configs(svc):
                if (kind, ns, name) not in out:
                    out.append((kind, ns, name))
    return out


def _host_filters() -> dict[str, Callable[[Iterable[Mapping[str, Any]], str], list[Mapping[str, Any]]]]:
    """Route kind -> the objects of it that can serve a host (the route module of that kind)."""
    from kdiag.route.httpproxy import KIND, proxies_for_host

    return {KIND: proxies_for_host}


def serving_crd_routes(reader: _Reader, lists: set[tuple[str, str]], host: str,
                       objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """For one URL: the data planes in play's own route objects that can serve `host` (one paged
    cluster-wide list per kind; the others are dropped, as Ingresses for other hosts are)."""
    out: list[Mapping[str, Any]] = []
    filters = _host_filters()
    for kind in route_kinds(profiles_in_play(objects)):
        lists.add((kind, "*"))
        try:
            items = reader.kube.list_raw(kind, None, limit=ROUTE_PAGE)
        except Forbidden:
            reader.out.deny(kind, None, "forbidden", f"{kind} routes were not searched for {host}")
            continue
        except NotFound:  # the CRD is not installed: nothing of this kind serves the host
            with reader.out.lock:
                reader.out.absent.add(kind)
            continue
        except ApiError as e:
            if isinstance(e, Unauthorized):
                raise
            raise unreadable(e) from None
        keep = filters.get(kind)
        out += keep(items, host) if keep is not None else items
    return out


def read_for_snapshot(reader: _Reader, namespaces: Iterable[str] | None) -> list[Future[Any]]:
    """For a full snapshot (TUI, `--all-namespaces`): the route kinds of the data planes in play
    in the namespaces read (None: cluster-wide), and the kinds the Services read name for them
    (listed in the namespaces where one is named: one request per namespace, not per Service)."""
    objects = list(reader.out.objects.values())
    jobs: list[Future[Any]] = []
    spaces = sorted(set(namespaces)) if namespaces is not None else [None]
    for kind in route_kinds(profiles_in_play(objects)):
        jobs += [reader.submit(reader.list, kind, ns) for ns in spaces]
    services = [o for o in objects if o.get("kind") == "Service"]
    refs = service_config_refs(profiles_in_play(objects, api="ingress"), services)
    if namespaces is None:
        jobs += [reader.submit(reader.list, kind, None) for kind in dict.fromkeys(k for k, _, _ in refs)]
    else:
        jobs += [reader.submit(reader.list, kind, ns) for kind, ns in sorted({(k, ns) for k, ns, _ in refs})]
    return jobs
