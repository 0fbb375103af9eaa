"""The shape of a data-plane profile: data plus small pure functions (DESIGN.md "Data-plane profiles").

A `Profile` says how a data plane is recognised (IngressClass/GatewayClass controller names,
controller pod images, class names), whether it forwards WebSocket upgrades by default and what
turns them off, its timeout defaults and the exact field that changes each, which annotation
prefixes it honours and which it ignores, what it answers when it has no route, no backend or no
endpoint, and how its own pods are reached. Route resolution and the rules ask the profile of a
route's controller instead of naming one. Every fact carries its upstream source.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Affinity",
    "Answer",
    "CanarySpec",
    "EffectiveValue",
    "PodAccess",
    "Profile",
    "RouteTimeout",
    "RouteUpgrade",
    "TimeoutDefault",
    "Timeouts",
    "annotations_of",
    "is_true",
]

Obj = Mapping[str, Any]


def is_true(value: Any) -> bool:
    """An annotation boolean: "true" (any case) is true, everything else false."""
    return str(value).strip().lower() == "true"


def annotations_of(obj: Obj) -> Mapping[str, str]:
    """`metadata.annotations` of a raw object, or {} (manifests can hold anything)."""
    ann = (obj.get("metadata") or {}).get("annotations") if isinstance(obj.get("metadata"), Mapping) else None
    return ann if isinstance(ann, Mapping) else {}


@dataclass(frozen=True)
class Answer:
    """What the data plane answers in one situation (no route, no backend, no endpoint)."""

    status: int | None  # None: not known
    detail: str
    source: str = ""
    #: Who answers, as a noun phrase for messages ("" : say `detail`).
    who: str = ""


@dataclass(frozen=True)
class TimeoutDefault:
    """One timeout of the data plane: its default and the exact field that changes it."""

    name: str  # e.g. "read", "send", "connect", "idle", "request"
    seconds: float | None  # None: no default (disabled)
    field: str  # the annotation, ConfigMap key or API field that sets it
    source: str = ""
    #: The setting's short name in messages (e.g. "proxy-read-timeout"); "" for `name`.
    setting: str = ""
    #: The full Ingress annotation key that sets it per route ("" : none).
    annotation: str = ""
    #: The controller ConfigMap key that sets it for every route ("" : none).
    configmap_key: str = ""
    #: How values are written: "s" (unitless seconds), "ms" (unitless milliseconds), "duration"
    #: (Go/Envoy/HAProxy durations such as 1h, 30s, 500ms; a bare number means seconds), or
    #: "haproxy" (like "duration", but a bare number means milliseconds).
    unit: str = "s"
    #: What it does to an upgraded WebSocket: "idle" (cuts one that sends nothing for this long),
    #: "lifetime" (cuts every one after this long, busy or not), "" (does not bound it).
    websocket: str = ""
    #: The API whose objects it applies to: "ingress", "gateway" or "" (both).
    api: str = ""
    #: Picks the value out of a compound annotation (ALB `load-balancer-attributes`); None: whole value.
    extract: Callable[[str], str | None] | None = None
    #: Reads the value from other objects (a BackendConfig, a config file in a ConfigMap):
    #: (ingress, backend Service or None, list of objects by kind) -> (raw value, where) or None.
    resolve: Callable[[Obj, Obj | None, Callable[[str], Iterable[Obj]]], tuple[str, str] | None] | None = None
    #: The setting written in the data plane's own terms with a WebSocket-friendly value (Markdown).
    example: str = ""

    @property
    def label(self) -> str:
        """How messages name this timeout."""
        return self.setting or f"{self.name} timeout"

    def applies_to(self, api: str) -> bool:
        """It applies to objects of `api` ("ingress" or "gateway")."""
        return not self.api or self.api == api


@dataclass(frozen=True)
class PodAccess:
    """How the data plane's own pods (and Services) are found."""

    label_selectors: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    service_names: tuple[str, ...] = ()
    #: `app.kubernetes.io/name` (or `app`) label values of its controller Services.
    app_names: tuple[str, ...] = ()
    #: ConfigMap names its installs use for the controller's configuration.
    configmap_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class CanarySpec:
    """A canary's routing settings (header, cookie, weight) as the data plane states them."""

    enabled: bool
    by_header: str | None = None
    by_header_value: str | None = None
    by_header_pattern: str | None = None
    by_cookie: str | None = None
    weight: int = 0
    weight_total: int = 100
    problems: tuple[str, ...] = ()
    #: The data plane uses at least this total (ingress-nginx's balancer.lua: 100).
    weight_total_floor: int = 0

    @property
    def effective_weight_total(self) -> int:
        """The weight total the data plane really uses."""
        return max(self.weight_total, self.weight_total_floor)

    def to_dict(self) -> dict[str, Any]:
        return {
            "by_header": self.by_header,
            "by_header_value": self.by_header_value,
            "by_header_pattern": self.by_header_pattern,
            "by_cookie": self.by_cookie,
            "weight": self.weight,
            "weight_total": self.weight_total,
        }


@dataclass(frozen=True)
class EffectiveValue:
    """A setting's value and where it came from: annotation, configmap or default."""

    seconds: int
    source: str  # "annotation" | "configmap" | "default"
    where: str  # e.g. "Ingress ns/name annotation nginx.ingress.kubernetes.io/proxy-read-timeout"

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "source": self.source, "where": self.where}


@dataclass(frozen=True)
class Timeouts:
    """The effective connect/read/send timeouts of one route."""

    connect: EffectiveValue
    read: EffectiveValue
    send: EffectiveValue
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"connect": self.connect.to_dict(), "read": self.read.to_dict(),
                "send": self.send.to_dict()}


def _never(_obj: Obj) -> bool:
    return False


def _no_canary(_obj: Obj) -> CanarySpec | None:
    return None


def _no_timeouts(_obj: Obj, _configmaps: Iterable[Obj] = ()) -> Timeouts | None:
    return None


def _no_configmaps(_objects: Iterable[Obj]) -> list[Obj]:
    return []


def _no_suggestion(_name: str) -> str | None:
    return None


def _no_claim(_obj: Obj) -> bool | None:
    return None


def _no_route_claim(_obj: Obj, _path: str) -> bool | None:
    return None


def _no_redirect(_obj: Obj, _configmaps: Iterable[Obj]) -> str | None:
    return None


def _no_trust_claim(_configmaps: Iterable[Obj]) -> bool | None:
    return None


@dataclass(frozen=True)
class RouteUpgrade:
    """One route of a data plane's own route kind (HTTPProxy) and whether it enables WebSockets."""

    host: str
    path: str
    service: str  # the backend Service name ("" : none)
    port: int | str | None
    enabled: bool
    #: Where the route sits in its object (e.g. "spec.routes[0]"; "" : not known).
    where: str = ""
    #: Per-route timeouts it sets: `TimeoutDefault.name` -> (raw value, its field), e.g.
    #: "stream-idle" -> ("1h", "spec.routes[0].timeoutPolicy.idle").
    timeouts: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: Every backend Service of the route with its port (the first is `service`/`port`).
    services: tuple[tuple[str, int | str | None], ...] = ()


def _no_routes(_obj: Obj) -> list[RouteUpgrade]:
    return []


@dataclass(frozen=True)
class RouteTimeout:
    """One timeout in effect on a Gateway API route rule, read from the objects that set it."""

    name: str  # a `TimeoutDefault.name` ("request", "stream-idle", ...)
    seconds: float | None  # None: disabled ("0s")
    #: The exact field that changes it, in the object that sets it now (or the one to create).
    setting: str
    where: str  # where the value comes from ("HTTPRoute ns/name spec.rules[1].timeouts.request", a default)
    source: str = ""


def _no_rule_timeouts(_route: Obj, _rule: int | None, _gateway: Obj | None, _listener: str | None,
                      _lookup: Callable[[str], Iterable[Obj]]) -> tuple[RouteTimeout, ...]:
    return ()


def _no_service_configs(_svc: Obj) -> tuple[tuple[str, str], ...]:
    return ()


def _no_reason(_obj: Obj) -> str | None:
    return None


@dataclass(frozen=True)
class Affinity:
    """How the data plane keeps one client on one pod (sticky sessions), as far as it is known."""

    #: The setting that turns it on, as a message names it ("" : not known).
    setting: str = ""
    #: Whether an object (an Ingress) asks for it; None: the profile makes no claim.
    sticky: Callable[[Obj], bool | None] = _no_claim
    #: A setting on the object that defeats it, with its effect (None: none).
    defeated_by: Callable[[Obj], str | None] = _no_reason
    #: It proxies to pod IPs itself, so Service `sessionAffinity` does not apply (None: not known).
    bypasses_service: bool | None = None


_UNKNOWN = Answer(None, "not known for this data plane")
#: The `unknown` profile's no-route answer: no controller-specific claim.
_UNKNOWN_NO_ROUTE = Answer(None, "the data plane's answer is not known")


@dataclass(frozen=True)
class Profile:
    """One data plane: recognition, defaults, vocabulary and answers (pure data + functions).

    The function fields default to "no claim" (no canary, no regex paths, no known timeouts),
    which is what the `unknown` profile uses.
    """

    name: str
    #: The name the JSON report contract (DESIGN.md, `route.dataplane.profile`) gives this data
    #: plane when it is not `name`: both HAProxy controllers are `haproxy` there ("" : `name`).
    family: str = ""
    #: IngressClass `spec.controller` / GatewayClass `spec.controllerName` values.
    controllers: frozenset[str] = frozenset()
    #: Class names (and legacy `kubernetes.io/ingress.class` values) it answers to by default.
    class_names: frozenset[str] = frozenset()
    #: Class names that are its own by convention when no IngressClass says so (None: `class_names`).
    claims_class_name: Callable[[str], bool] | None = None
    #: Prefixes of controller names that are its own (installs append a class: `haproxy.org/ingress-controller/x`).
    controller_prefixes: tuple[str, ...] = ()
    #: Substrings of its controller pods' images.
    images: tuple[str, ...] = ()
    #: Forwards WebSocket upgrades without configuration (None: not known).
    websocket_upgrade: bool | None = None
    #: What turns WebSocket upgrades off (or must be set to turn them on).
    websocket_off: str = ""
    #: For Ingress objects, when it differs from `websocket_upgrade` (None: the same).
    ingress_websocket_upgrade: bool | None = None
    #: The setting that enables WebSockets on one route when they are off by default ("" : none).
    websocket_route_setting: str = ""
    #: Whether an Ingress enables WebSockets for one of its paths (None: no claim).
    websocket_route_enabled: Callable[[Obj, str], bool | None] = _no_route_claim
    #: Its own route kinds (CRDs such as Contour's HTTPProxy) and their routes with WebSockets on/off.
    route_kinds: tuple[str, ...] = ()
    route_websockets: Callable[[Obj], list[RouteUpgrade]] = _no_routes
    #: Per-route timeout fields of those route kinds: `TimeoutDefault.name` -> field under the route
    #: (Contour: "stream-idle" -> "timeoutPolicy.idle").
    route_timeout_fields: Mapping[str, str] = field(default_factory=dict)
    #: Objects a backend Service names that configure this data plane for it: (kind, name) in the
    #: Service's namespace (GKE: the BackendConfig of `cloud.google.com/backend-config`). Read
    #: from a cluster one by one, and only when this data plane serves the route.
    service_configs: Callable[[Obj], tuple[tuple[str, str], ...]] = _no_service_configs
    #: It is a cloud load balancer (GKE, ALB, Application Gateway): no proxy pods in the cluster.
    cloud_lb: bool = False
    timeouts: tuple[TimeoutDefault, ...] = ()
    #: Annotation prefixes it reads, and its annotation names (without prefix) it knows.
    annotation_prefixes: tuple[str, ...] = ()
    known_annotations: frozenset[str] = frozenset()
    #: Annotation prefixes it reads that other data planes use too (not its own: `ingress.kubernetes.io/`).
    shared_annotation_prefixes: tuple[str, ...] = ()
    #: Annotation prefixes of other data planes that it silently ignores.
    ignored_annotation_prefixes: tuple[str, ...] = ()
    #: Annotations with its prefix that other builds knew and it ignores: name -> replacement.
    legacy_annotations: Mapping[str, str] = field(default_factory=dict)
    #: What those legacy annotations are, and the fix (Markdown) that replaces them.
    legacy_why: str = "a legacy annotation"
    legacy_fix: str = ""
    no_route: Answer = _UNKNOWN_NO_ROUTE
    no_backend: Answer = _UNKNOWN
    no_endpoints: Answer = _UNKNOWN
    pods: PodAccess = PodAccess()
    #: The certificate it serves for a TLS host whose Secret is missing (None: not known).
    fallback_certificate: str | None = None
    #: What it does with an Ingress that has no class and no default class ("": not known).
    classless: str = ""
    affinity: Affinity = Affinity()
    #: The object is a canary of another route, and its canary settings.
    is_canary: Callable[[Obj], bool] = _never
    parse_canary: Callable[[Obj], CanarySpec | None] = _no_canary
    #: The object turns the paths of its host into regexes.
    uses_regex: Callable[[Obj], bool] = _never
    #: The effective timeouts of an Ingress (None: this profile does not model them).
    effective_timeouts: Callable[[Obj, Iterable[Obj]], Timeouts | None] = _no_timeouts
    #: The ConfigMaps (among `objects`) that configure this data plane.
    controller_configmaps: Callable[[Iterable[Obj]], list[Obj]] = _no_configmaps
    #: The Service exposes this data plane's controller (the Ingress hop's address).
    controller_service: Callable[[Obj], bool] = _never
    #: The known annotation name closest to a misspelt one.
    closest_annotation: Callable[[str], str | None] = _no_suggestion
    #: Gateway API: honours HTTPRoute `rules[].timeouts` (None: not known; False: ignored).
    route_timeouts: bool | None = None
    #: Gateway API: its own policy kinds that set timeouts (read for its routes; kdiag.kube knows them).
    policy_kinds: tuple[str, ...] = ()
    #: Gateway API: the timeouts in effect on one route rule, from the route and the policy objects:
    #: (route, rule index, Gateway, listener name, list of objects by kind) -> () when it makes no claim.
    rule_timeouts: Callable[[Obj, int | None, Obj | None, str | None, Callable[[str], Iterable[Obj]]],
                            tuple[RouteTimeout, ...]] = _no_rule_timeouts
    #: The setting that makes an Ingress redirect plain HTTP to https (a message phrase), or None:
    #: (ingress, controller ConfigMaps) -> phrase. The default makes no claim.
    https_redirect: Callable[[Obj, Iterable[Obj]], str | None] = _no_redirect
    #: It takes the client's scheme from X-Forwarded-Proto / PROXY protocol (None: not known):
    #: (controller ConfigMaps) -> bool; and the setting that makes it do so (Markdown).
    trusts_forwarded_proto: Callable[[Iterable[Obj]], bool | None] = _no_trust_claim
    forwarded_proto_setting: str = ""
    #: Names and numbers of its controller pods' plain-HTTP container port.
    http_ports: tuple[str, ...] = ("http", "80", "8080", "web")
    #: Facts of this profile not confirmed against a primary source ("UNVERIFIED" in the fact sheet).
    unverified: tuple[str, ...] = ()

    def report_fields(self) -> dict[str, str]:
        """`route.dataplane`'s profile fields: the contract's name and, when it differs, the variant."""
        if self.family and self.family != self.name:
            return {"profile": self.family, "variant": self.name}
        return {"profile": self.name}

    def recognises(self, controller: str | None) -> bool:
        """`controller` (an IngressClass/GatewayClass controller name) is this data plane."""
        if controller is None:
            return False
        return controller in self.controllers or (
            bool(self.controller_prefixes) and controller.startswith(self.controller_prefixes))

    def forwards_websocket(self, api: str) -> bool | None:
        """Forwards WebSocket upgrades by default for objects of `api` ("ingress"/"gateway")."""
        if api == "ingress" and self.ingress_websocket_upgrade is not None:
            return self.ingress_websocket_upgrade
        return self.websocket_upgrade

    def owns(self, annotation: str) -> bool:
        """The annotation key has one of this data plane's own prefixes (not a shared one)."""
        return bool(self.annotation_prefixes) and annotation.startswith(self.annotation_prefixes)

    def claims_class(self, class_name: str) -> bool:
        """`class_name` is this data plane's class when no IngressClass object says which it is."""
        if self.claims_class_name is not None:
            return self.claims_class_name(class_name)
        return class_name in self.class_names

    def recognises_image(self, image: str) -> bool:
        """A controller pod image belongs to this data plane."""
        return any(s in image for s in self.images)

    def honours(self, annotation: str) -> bool:
        """The annotation key has one of this data plane's prefixes."""
        prefixes = self.annotation_prefixes + self.shared_annotation_prefixes
        return annotation.startswith(prefixes) if prefixes else False

    def ignores(self, annotation: str) -> bool:
        """The annotation key belongs to another data plane this one ignores."""
        return bool(self.ignored_annotation_prefixes) and annotation.startswith(
            self.ignored_annotation_prefixes)

    def timeout(self, name: str, api: str = "") -> TimeoutDefault | None:
        """The default of one named timeout, with the field that changes it (for `api` when given)."""
        return next((t for t in self.timeouts if t.name == name and (not api or t.applies_to(api))), None)

    def websocket_timeouts(self, api: str) -> tuple[TimeoutDefault, ...]:
        """The timeouts that cut an upgraded WebSocket on objects of `api`."""
        return tuple(t for t in self.timeouts if t.websocket and t.applies_to(api))
