"""Facts about the ingress-nginx controller: annotation vocabulary, defaults, canaries, timeouts.

Everything here is pure data or a pure function over Kubernetes objects (raw JSON dicts). Sources
are the controller's docs and code (see `/work/shared/reference/dataplane-facts.md` §1): the
annotation list of `docs/user-guide/nginx-configuration/annotations.md`, the defaults of
`internal/ingress/controller/config/config.go` and the canary logic of `balancer.lua`.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.shape import as_map, sub

__all__ = [
    "ACK_LEGACY_ANNOTATIONS",
    "CONTROLLER_NAME",
    "DEFAULT_CLASS_NAME",
    "DEFAULT_TIMEOUTS",
    "KNOWN_ANNOTATIONS",
    "PREFIX",
    "CanarySpec",
    "EffectiveValue",
    "Timeouts",
    "annotation",
    "annotations_of",
    "closest_annotation",
    "controller_configmaps",
    "effective_timeouts",
    "is_canary",
    "is_true",
    "parse_canary",
    "uses_regex",
]

#: The default annotation prefix (`--annotations-prefix`).
PREFIX = "nginx.ingress.kubernetes.io/"
#: `spec.controller` of an IngressClass served by ingress-nginx.
CONTROLLER_NAME = "k8s.io/ingress-nginx"
#: The class name the controller answers to by default (also the legacy annotation value).
DEFAULT_CLASS_NAME = "nginx"

#: Annotation names (without the prefix) the controller knows, from its annotations docs
#: (current and recent releases; a few long-standing older ones are kept so that they do not
#: look like typos).
KNOWN_ANNOTATIONS: frozenset[str] = frozenset(
    """
    app-root affinity affinity-mode affinity-canary-behavior
    auth-realm auth-secret auth-secret-type auth-type
    auth-tls-secret auth-tls-verify-depth auth-tls-verify-client auth-tls-error-page
    auth-tls-pass-certificate-to-upstream auth-tls-match-cn
    auth-url auth-cache-key auth-cache-duration auth-keepalive auth-keepalive-share-vars
    auth-keepalive-requests auth-keepalive-timeout auth-proxy-set-headers auth-snippet
    auth-method auth-signin auth-signin-redirect-param auth-response-headers
    auth-request-redirect auth-always-set-cookie enable-global-auth
    backend-protocol
    canary canary-by-header canary-by-header-value canary-by-header-pattern canary-by-cookie
    canary-weight canary-weight-total
    client-body-buffer-size configuration-snippet custom-headers custom-http-errors
    disable-proxy-intercept-errors default-backend
    enable-cors cors-allow-origin cors-allow-methods cors-allow-headers cors-expose-headers
    cors-allow-credentials cors-max-age
    force-ssl-redirect from-to-www-redirect http2-push-preload
    limit-connections limit-rps limit-rpm limit-burst-multiplier limit-rate-after limit-rate
    limit-whitelist limit-allowlist
    global-rate-limit global-rate-limit-window global-rate-limit-key
    global-rate-limit-ignored-cidrs
    permanent-redirect permanent-redirect-code temporal-redirect temporal-redirect-code
    preserve-trailing-slash proxy-body-size proxy-cookie-domain proxy-cookie-path
    proxy-connect-timeout proxy-send-timeout proxy-read-timeout
    proxy-next-upstream proxy-next-upstream-timeout proxy-next-upstream-tries
    proxy-request-buffering proxy-redirect-from proxy-redirect-to proxy-http-version
    proxy-ssl-secret proxy-ssl-ciphers proxy-ssl-name proxy-ssl-protocols proxy-ssl-verify
    proxy-ssl-verify-depth proxy-ssl-server-name
    proxy-buffering proxy-buffers-number proxy-buffer-size proxy-max-temp-file-size
    enable-rewrite-log rewrite-target satisfy server-alias server-snippet service-upstream
    session-cookie-name session-cookie-path session-cookie-domain session-cookie-change-on-failure
    session-cookie-samesite session-cookie-conditional-samesite-none session-cookie-expires
    session-cookie-max-age session-cookie-secure
    ssl-redirect ssl-passthrough ssl-ciphers ssl-prefer-server-ciphers stream-snippet
    upstream-hash-by upstream-hash-by-subset upstream-hash-by-subset-size upstream-vhost
    x-forwarded-prefix load-balance
    whitelist-source-range allowlist-source-range denylist-source-range
    connection-proxy-header enable-access-log
    enable-opentracing opentracing-trust-incoming-span
    enable-opentelemetry opentelemetry-trust-incoming-span opentelemetry-operation-name
    enable-influxdb influxdb-measurement influxdb-port influxdb-host influxdb-server-name
    use-regex enable-modsecurity enable-owasp-core-rules modsecurity-transaction-id
    modsecurity-snippet mirror-request-body mirror-target mirror-host
    secure-backends secure-verify-ca-secret grpc-backend
    """.split()
)

#: Alibaba Cloud ACK's legacy grey-release annotations (same prefix): known to ACK's fork of
#: the controller, removed in ACK Nginx Ingress Controller >= v1.12, ignored by ingress-nginx.
ACK_LEGACY_ANNOTATIONS: Mapping[str, str] = {
    "service-match": (
        "canary: \"true\" on a second Ingress with canary-by-header / canary-by-header-value "
        "(or canary-by-cookie)"
    ),
    "service-weight": "canary: \"true\" on a second Ingress with canary-weight",
}

#: Controller defaults in seconds (config.go): connect 5, read 60, send 60.
DEFAULT_TIMEOUTS: Mapping[str, int] = {"connect": 5, "read": 60, "send": 60}

#: ConfigMap names the common installs use for the controller's configuration.
_CONFIGMAP_NAMES = frozenset(
    {"ingress-nginx-controller", "nginx-configuration", "nginx-ingress-controller",
     "ingress-nginx", "nginx-ingress-nginx-controller"}
)


def is_true(value: Any) -> bool:
    """An annotation boolean: "true" (any case) is true, everything else false."""
    return str(value).strip().lower() == "true"


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return sub(obj, "metadata", "annotations")


def annotation(obj: Mapping[str, Any], name: str) -> str | None:
    """The value of `nginx.ingress.kubernetes.io/<name>` on an object, or None."""
    value = annotations_of(obj).get(PREFIX + name)
    return None if value is None else str(value)


@functools.lru_cache(maxsize=1024)
def closest_annotation(name: str) -> str | None:
    """The known annotation name closest to a misspelt one (`server-snippets` → `server-snippet`)."""
    matches = difflib.get_close_matches(name, sorted(KNOWN_ANNOTATIONS), n=1, cutoff=0.75)
    return matches[0] if matches else None


def uses_regex(ingress: Mapping[str, Any]) -> bool:
    """True when this Ingress turns its host's paths into regex locations (use-regex/rewrite-target)."""
    return is_true(annotation(ingress, "use-regex")) or annotation(ingress, "rewrite-target") is not None


# -- canary ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CanarySpec:
    """The canary annotations of one Ingress, parsed like `annotations/canary/main.go`."""

    enabled: bool
    by_header: str | None = None
    by_header_value: str | None = None
    by_header_pattern: str | None = None
    by_cookie: str | None = None
    weight: int = 0
    weight_total: int = 100
    problems: tuple[str, ...] = ()

    @property
    def effective_weight_total(self) -> int:
        """balancer.lua only uses weight-total when it is above 100; otherwise 100."""
        return self.weight_total if self.weight_total > 100 else 100

    def to_dict(self) -> dict[str, Any]:
        return {
            "by_header": self.by_header,
            "by_header_value": self.by_header_value,
            "by_header_pattern": self.by_header_pattern,
            "by_cookie": self.by_cookie,
            "weight": self.weight,
            "weight_total": self.weight_total,
        }


def _int(value: str | None, default: int, name: str, problems: list[str]) -> int:
    if value is None or not str(value).strip():
        return default
    try:
        return int(str(value).strip())
    except ValueError:
        problems.append(f"{name}: {value!r} is not an integer (ignored)")
        return default


def is_canary(ingress: Mapping[str, Any]) -> bool:
    return is_true(annotation(ingress, "canary"))


def parse_canary(ingress: Mapping[str, Any]) -> CanarySpec | None:
    """The canary settings of an Ingress, or None when it is not a canary (`canary: "true"`)."""
    if not is_canary(ingress):
        return None
    problems: list[str] = []

    def s(name: str) -> str | None:
        v = annotation(ingress, name)
        return v if v else None

    return CanarySpec(
        enabled=True,
        by_header=s("canary-by-header"),
        by_header_value=s("canary-by-header-value"),
        by_header_pattern=s("canary-by-header-pattern"),
        by_cookie=s("canary-by-cookie"),
        weight=_int(annotation(ingress, "canary-weight"), 0, "canary-weight", problems),
        weight_total=_int(annotation(ingress, "canary-weight-total"), 100, "canary-weight-total",
                          problems),
        problems=tuple(problems),
    )


# -- timeouts --------------------------------------------------------------------------------


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
    connect: EffectiveValue
    read: EffectiveValue
    send: EffectiveValue
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"connect": self.connect.to_dict(), "read": self.read.to_dict(),
                "send": self.send.to_dict()}


def controller_configmaps(objects: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """ConfigMaps that look like the ingress-nginx controller's configuration."""
    out = []
    for cm in objects:
        if cm.get("kind") != "ConfigMap":
            continue
        md = as_map(cm.get("metadata"))
        labels = as_map(md.get("labels"))
        if md.get("name") in _CONFIGMAP_NAMES or (
            labels.get("app.kubernetes.io/name") == "ingress-nginx"
            and labels.get("app.kubernetes.io/component", "controller") == "controller"
        ):
            out.append(cm)
    return out


def _seconds(value: Any) -> int | None:
    text = str(value).strip().lower()
    if text.endswith("s") and text[:-1].isdigit():
        text = text[:-1]
    return int(text) if text.isdigit() else None


def effective_timeouts(
    ingress: Mapping[str, Any], configmaps: Iterable[Mapping[str, Any]] = ()
) -> Timeouts:
    """proxy-connect/read/send-timeout of an Ingress's locations: annotation → ConfigMap → default.

    Pass the *main* Ingress of a canary: a canary inherits these from it. `configmaps` are the
    controller ConfigMaps (see `controller_configmaps`); the first one that sets a key wins.
    """
    problems: list[str] = []
    cms = list(configmaps)
    md = ingress.get("metadata") or {}
    ing_ref = f"Ingress {md.get('namespace') or 'default'}/{md.get('name')}"
    values: dict[str, EffectiveValue] = {}
    for kind, default in DEFAULT_TIMEOUTS.items():
        key = f"proxy-{kind}-timeout"
        raw = annotation(ingress, key)
        if raw is not None:
            secs = _seconds(raw)
            if secs is not None:
                values[kind] = EffectiveValue(secs, "annotation", f"{ing_ref} annotation {PREFIX}{key}")
                continue
            problems.append(f"{PREFIX}{key}: {raw!r} is not a number of seconds (ignored)")
        for cm in cms:
            data = as_map(cm.get("data"))
            if key in data:
                secs = _seconds(data[key])
                cmd = cm.get("metadata") or {}
                if secs is not None:
                    values[kind] = EffectiveValue(
                        secs, "configmap",
                        f"ConfigMap {cmd.get('namespace') or 'default'}/{cmd.get('name')} key {key}")
                    break
                problems.append(f"ConfigMap {cmd.get('name')} {key}: {data[key]!r} is not a number")
        else:
            values[kind] = EffectiveValue(default, "default", f"ingress-nginx default ({default}s)")
    return Timeouts(values["connect"], values["read"], values["send"], tuple(problems))
