"""What a resource URL addresses: kube-apiserver's RequestInfo, reduced to what the lab serves."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from kdiag.lab.apiserver.resources import Resource, find_resource

__all__ = ["Target", "parse_target", "split_scheme_name_port"]

_PROXY_TAIL = re.compile(r"^/(?:api/v1|apis/[^/]+/[^/]+)(?:/namespaces/[^/]+)?/[^/]+/[^/]+/proxy(/.*)?$")


@dataclass(frozen=True)
class Target:
    """What a resource URL addresses (kube-apiserver's RequestInfo, reduced)."""

    resource: Resource
    namespace: str | None
    name: str | None = None
    subresource: str | None = None
    rest: str = ""  # raw path after the subresource (proxy), starting with "/" or empty


def parse_target(group: str, version: str, rest: list[str], raw_path: str) -> Target | None:
    namespace: str | None = None
    parts = [unquote(p) for p in rest]
    if parts[0] == "namespaces" and len(parts) >= 3 and not (len(parts) == 3 and parts[2] in ("status", "finalize")):
        namespace = parts[1]
        parts = parts[2:]
    res = find_resource(group, version, parts[0])
    if res is None:
        return None
    if namespace is not None and not res.namespaced:
        return None
    name = parts[1] if len(parts) > 1 else None
    sub = parts[2] if len(parts) > 2 else None
    tail = ""
    if sub is not None:
        if sub not in {s.name for s in res.subresources}:
            return None
        if len(parts) > 3:
            if sub != "proxy":
                return None
            m = _PROXY_TAIL.match(raw_path)
            tail = m.group(1) if m else "/" + "/".join(rest[-(len(parts) - 3):])
    return Target(res, namespace, name, sub, tail)


def split_scheme_name_port(text: str) -> tuple[str, str, str]:
    """'svc', 'svc:port', 'https:svc:port' -> (scheme, name, port), like utilnet.SplitSchemeNamePort."""
    parts = text.split(":")
    if len(parts) == 3 and parts[0] in ("http", "https"):
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return "", parts[0], ""
