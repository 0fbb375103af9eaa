"""The ingress-nginx profile: annotation vocabulary, defaults, canaries, timeouts (kubernetes/ingress-nginx).

Everything here is pure data or a pure function over Kubernetes objects (raw JSON dicts). Sources
are the controller's own docs and code in https://github.com/kubernetes/ingress-nginx (snapshot
v1.15.1): the annotation list of `docs/user-guide/nginx-configuration/annotations.md`, the
defaults of `internal/ingress/controller/config/config.go` and
`docs/user-guide/nginx-configuration/configmap.md`, the canary logic of
`rootfs/etc/nginx/lua/balancer.lua` and `internal/ingress/annotations/canary/main.go`, the
status codes of `rootfs/etc/nginx/template/nginx.tmpl`, and the WebSocket notes of
`docs/user-guide/miscellaneous.md`.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Iterable, Mapping
from typing import Any

from kdiag.dataplane.base import (
    Affinity,
    Answer,
    CanarySpec,
    EffectiveValue,
    PodAccess,
    Profile,
    TimeoutDefault,
    Timeouts,
    annotations_of,
    is_true,
)
from kdiag.shape import as_map

__all__ = [
    "ACK_LEGACY_ANNOTATIONS",
    "ACK_LEGACY_FIX",
    "ACK_LEGACY_WHY",
    "CONTROLLER_NAME",
    "DEFAULT_CLASS_NAME",
    "DEFAULT_TIMEOUTS",
    "FAKE_CERTIFICATE_CN",
    "KNOWN_ANNOTATIONS",
    "PREFIX",
    "PROFILE",
    "affinity_defeated_by",
    "annotation",
    "closest_annotation",
    "controller_configmaps",
    "controller_service",
    "effective_timeouts",
    "https_redirect",
    "is_canary",
    "parse_canary",
    "sticky",
    "trusts_forwarded_proto",
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

#: What the legacy annotations are, and how to replace them (a fix in Markdown).
ACK_LEGACY_WHY = ("Alibaba Cloud ACK's legacy grey-release annotation, removed in ACK "
                  "Nginx Ingress Controller v1.12")
ACK_LEGACY_FIX = """Replace `service-match` / `service-weight` with a second Ingress for the same host and
path that carries the canary annotations:

```yaml
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: app-canary
  annotations:
    nginx.ingress.kubernetes.io/canary: "true"
    nginx.ingress.kubernetes.io/canary-by-header: "Version"
    nginx.ingress.kubernetes.io/canary-by-header-value: "1.0.0000"
    # or: nginx.ingress.kubernetes.io/canary-weight: "10"
spec:
  rules:
    - host: xx.xxxx.com
      http:
        paths:
          - {path: /, pathType: Prefix, backend: {service: {name: test-svc, port: {number: 80}}}}
```"""

#: Controller defaults in seconds (config.go): connect 5, read 60, send 60.
DEFAULT_TIMEOUTS: Mapping[str, int] = {"connect": 5, "read": 60, "send": 60}

#: ConfigMap names the common installs use for the controller's configuration.
_CONFIGMAP_NAMES = frozenset(
    {"ingress-nginx-controller", "nginx-configuration", "nginx-ingress-controller",
     "ingress-nginx", "nginx-ingress-nginx-controller"}
)

#: Subject and issuer CN of the certificate the controller serves when it has none for a host
#: (internal/net/ssl/ssl.go `fakeCertificate`).
FAKE_CERTIFICATE_CN = "Kubernetes Ingress Controller Fake Certificate"


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
        weight_total_floor=100,  # balancer.lua only uses weight-total when it is above 100
    )


# -- timeouts --------------------------------------------------------------------------------


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


def controller_service(svc: Mapping[str, Any]) -> bool:
    """A Service of the controller: its chart's labels, or the usual names (not the admission webhook)."""
    md = as_map(svc.get("metadata"))
    labels = as_map(md.get("labels"))
    name = str(md.get("name", ""))
    if name.endswith("-admission"):
        return False
    return (labels.get("app.kubernetes.io/name") == "ingress-nginx"
            and labels.get("app.kubernetes.io/component", "controller") == "controller") or (
            name.endswith("ingress-nginx-controller") or name == "nginx-ingress-controller")


# -- session affinity --------------------------------------------------------------------------


def sticky(ingress: Mapping[str, Any]) -> bool:
    """Cookie affinity (`affinity: cookie`) or consistent hashing (`upstream-hash-by`) is set."""
    return str(annotation(ingress, "affinity") or "").lower() == "cookie" or bool(annotation(ingress, "upstream-hash-by"))


def affinity_defeated_by(ingress: Mapping[str, Any]) -> str | None:
    """`service-upstream: "true"` proxies to the ClusterIP and so defeats any affinity."""
    if str(annotation(ingress, "service-upstream") or "").lower() != "true":
        return None
    return (f"{PREFIX}service-upstream: \"true\", which proxies to the ClusterIP round-robin and "
            "disables it")


# -- redirects to https --------------------------------------------------------------------------


def _cm_value(configmaps: Iterable[Mapping[str, Any]], key: str) -> str | None:
    for cm in configmaps:
        data = as_map(cm.get("data"))
        if key in data:
            return str(data[key])
    return None


def https_redirect(ingress: Mapping[str, Any], configmaps: Iterable[Mapping[str, Any]] = ()) -> str | None:
    """The setting that makes this Ingress answer plain HTTP with a redirect to https, or None.

    lua_ingress.lua `redirect_to_https`: `force-ssl-redirect` always redirects a request whose
    scheme is http; `ssl-redirect` (default true, annotation or ConfigMap) does when the host has
    a certificate (the Ingress's `tls`).
    """
    cms = list(configmaps)
    force = annotation(ingress, "force-ssl-redirect")
    if is_true(force):
        return f'{PREFIX}force-ssl-redirect: "true"'
    if force is None and is_true(_cm_value(cms, "force-ssl-redirect")):
        return 'ConfigMap force-ssl-redirect: "true"'
    tls = (ingress.get("spec") or {}).get("tls") if isinstance(ingress.get("spec"), Mapping) else None
    if not tls:
        return None
    ssl = annotation(ingress, "ssl-redirect")
    if ssl is not None:
        return f'{PREFIX}ssl-redirect: "{ssl}" (the Ingress has tls)' if is_true(ssl) else None
    cm = _cm_value(cms, "ssl-redirect")
    if cm is not None and not is_true(cm):
        return None
    return "ssl-redirect (default true: the Ingress has tls)"


def trusts_forwarded_proto(configmaps: Iterable[Mapping[str, Any]] = ()) -> bool:
    """lua_ingress.lua: the scheme is `$scheme` unless ConfigMap `use-forwarded-headers` (trust
    X-Forwarded-Proto) or `use-proxy-protocol` (PROXY protocol port 443 means https) is true."""
    cms = list(configmaps)
    return is_true(_cm_value(cms, "use-forwarded-headers")) or is_true(_cm_value(cms, "use-proxy-protocol"))


# -- the profile -----------------------------------------------------------------------------

_REPO = "https://github.com/kubernetes/ingress-nginx/blob/main/"
_CONFIG = _REPO + "internal/ingress/controller/config/config.go"
_ANNOTATIONS_DOC = _REPO + "docs/user-guide/nginx-configuration/annotations.md"

PROFILE = Profile(
    name="ingress-nginx",
    controllers=frozenset({CONTROLLER_NAME}),
    class_names=frozenset({DEFAULT_CLASS_NAME}),
    # Installs name their classes nginx, nginx-internal, nginx-public, ...
    claims_class_name=lambda name: DEFAULT_CLASS_NAME in name.lower(),
    # registry.k8s.io/ingress-nginx/controller (deploy/static/provider/*/deploy.yaml)
    images=("ingress-nginx/controller",),
    # nginx.tmpl: `proxy_set_header Upgrade $http_upgrade` and `Connection $connection_upgrade`
    # in every location; docs/user-guide/miscellaneous.md "Websockets": no configuration needed.
    websocket_upgrade=True,
    websocket_off=(f"{PREFIX}proxy-http-version: \"1.0\" (WebSockets need HTTP/1.1), or "
                   f"{PREFIX}connection-proxy-header set to something other than upgrade"),
    timeouts=(
        TimeoutDefault("connect", 5, f"{PREFIX}proxy-connect-timeout (ConfigMap proxy-connect-timeout)",
                       _CONFIG, "proxy-connect-timeout", annotation=PREFIX + "proxy-connect-timeout",
                       configmap_key="proxy-connect-timeout", api="ingress"),
        # docs/user-guide/miscellaneous.md "Websockets": read/send timeouts (60 s) close idle WebSockets.
        TimeoutDefault("read", 60, f"{PREFIX}proxy-read-timeout (ConfigMap proxy-read-timeout)",
                       _CONFIG, "proxy-read-timeout", annotation=PREFIX + "proxy-read-timeout",
                       configmap_key="proxy-read-timeout", websocket="idle", api="ingress",
                       example=f'`{PREFIX}proxy-read-timeout: "3600"` on the Ingress (ConfigMap key '
                               '`proxy-read-timeout: "3600"` for every Ingress)'),
        TimeoutDefault("send", 60, f"{PREFIX}proxy-send-timeout (ConfigMap proxy-send-timeout)",
                       _CONFIG, "proxy-send-timeout", annotation=PREFIX + "proxy-send-timeout",
                       configmap_key="proxy-send-timeout", websocket="idle", api="ingress",
                       example=f'`{PREFIX}proxy-send-timeout: "3600"` on the Ingress (ConfigMap key '
                               '`proxy-send-timeout: "3600"` for every Ingress)'),
        TimeoutDefault("reload-drain", 240, "ConfigMap worker-shutdown-timeout", _CONFIG,
                       configmap_key="worker-shutdown-timeout", unit="duration", api="ingress"),
    ),
    annotation_prefixes=(PREFIX,),
    known_annotations=KNOWN_ANNOTATIONS,
    # Other controllers' prefixes (dataplane-facts.md §3); ingress-nginx reads only its own.
    ignored_annotation_prefixes=(
        "alb.ingress.kubernetes.io/", "appgw.ingress.kubernetes.io/", "haproxy.org/",
        "haproxy-ingress.github.io/", "konghq.com/", "projectcontour.io/",
        "traefik.ingress.kubernetes.io/", "cloud.google.com/",
    ),
    legacy_annotations=ACK_LEGACY_ANNOTATIONS,
    legacy_why=ACK_LEGACY_WHY,
    legacy_fix=ACK_LEGACY_FIX,
    no_route=Answer(404, "the controller's default backend answers 404",
                    _REPO + "rootfs/etc/nginx/template/nginx.tmpl", who="the controller's 404 default backend"),
    # A backend without endpoints (a missing Service has none) leaves the upstream empty:
    # balancer.lua drops its balancer and answers 503 (dataplane-facts.md §1.8; the missing
    # Service case is inferred from it).
    no_backend=Answer(503, "the backend Service does not exist: the upstream has no endpoints, "
                      "503 Service Temporarily Unavailable",
                      _REPO + "rootfs/etc/nginx/lua/balancer.lua"),
    no_endpoints=Answer(503, "no ready endpoint: 503 Service Temporarily Unavailable",
                        _REPO + "rootfs/etc/nginx/lua/balancer.lua"),
    pods=PodAccess(
        label_selectors=("app.kubernetes.io/name=ingress-nginx",
                         "app.kubernetes.io/component=controller"),
        namespaces=("ingress-nginx",),
        service_names=("ingress-nginx-controller", "nginx-ingress-controller"),
        # Helm charts and distributions label the controller Service with one of these.
        app_names=("ingress-nginx", "nginx-ingress", "ingress-nginx-controller",
                   "nginx-ingress-controller", "rke2-ingress-nginx"),
        configmap_names=("ingress-nginx-controller", "nginx-configuration"),
    ),
    # internal/net/ssl/ssl.go: the self-signed certificate served for hosts without a Secret.
    fallback_certificate=FAKE_CERTIFICATE_CN,
    # store.go: without --watch-ingress-without-class an Ingress of no class is not served.
    classless="ingress-nginx ignores it",
    # docs/user-guide/nginx-configuration/annotations.md "Session Affinity"; the controller
    # balances over pod IPs itself (balancer.lua), so a Service's sessionAffinity is bypassed.
    affinity=Affinity(setting=f"{PREFIX}affinity: cookie annotation", sticky=sticky,
                      defeated_by=affinity_defeated_by, bypasses_service=True),
    is_canary=is_canary,
    parse_canary=parse_canary,
    uses_regex=uses_regex,
    effective_timeouts=effective_timeouts,
    controller_configmaps=controller_configmaps,
    controller_service=controller_service,
    closest_annotation=closest_annotation,
    # rootfs/etc/nginx/lua/lua_ingress.lua (redirect_to_https, rewrite: pass_access_scheme).
    https_redirect=https_redirect,
    trusts_forwarded_proto=trusts_forwarded_proto,
    forwarded_proto_setting=('`use-forwarded-headers: "true"` in the controller ConfigMap (the load balancer '
                             'sends X-Forwarded-Proto: https), or `ssl-redirect: "false"` on the Ingress'),
)
