"""Path matching of Ingress rules, the way ingress-nginx renders them into nginx locations.

Pure functions (dataplane-facts.md §1.6, §1.9; host wildcards are in `kdiag.hosts`): `Exact`
is `location = /p`; `Prefix /p` is `location = /p` plus `location /p/` (element-wise; note that
`Prefix /p/` does not match `/p` in ingress-nginx although the Kubernetes spec says it should:
nginx answers `/p` with a 301 to `/p/`, see `kdiag.route.ingress`); `ImplementationSpecific` without regex is a plain nginx prefix (`/foo` matches
`/foobar`); with `use-regex`/`rewrite-target` on the host every path is `~* "^<path>"`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "PathCandidate",
    "path_match",
    "pick_path",
    "spec_prefix_match",
]


@dataclass(frozen=True)
class PathCandidate:
    """A path that matched a request, with what nginx needs to choose among matches."""

    index: int  # position of the path in the caller's list
    mode: str  # "exact" | "prefix" | "plain-prefix" | "regex"
    exact_location: bool  # matched an nginx `location =` (Exact, or Prefix equal to the path)
    exact_type: bool  # pathType Exact
    length: int  # length of the matching location string (nginx: longest prefix wins)


def spec_prefix_match(rule_path: str, path: str) -> bool:
    """The Kubernetes API's Prefix semantics: element-wise, trailing slash ignored."""
    base = rule_path.rstrip("/")
    if not base:  # "/" matches everything
        return True
    return path == base or path.startswith(base + "/")


def path_match(
    rule_path: str, path_type: str, path: str, *, regex: bool, index: int = 0
) -> PathCandidate | None:
    """Whether one Ingress path matches a request path, and how; None when it does not."""
    rule_path = rule_path or "/"
    if regex:
        try:
            m = re.match(rule_path, path, re.IGNORECASE)
        except re.error:
            return None
        if m is None:
            return None
        return PathCandidate(index, "regex", False, path_type == "Exact", len(rule_path))
    if path_type == "Exact":
        if path == rule_path:
            return PathCandidate(index, "exact", True, True, len(rule_path))
        return None
    if path_type == "Prefix":
        # ingress-nginx (location.go updateServerLocations): `location = <path as written>` plus
        # `location <path>/`. So `/foo` matches /foo and /foo/x but not /foobar; and unlike the
        # Kubernetes spec, `/foo/` does not match /foo.
        if rule_path == "/":
            return PathCandidate(index, "prefix", False, False, 1)
        if path == rule_path:
            return PathCandidate(index, "prefix", True, False, len(rule_path))
        location = rule_path if rule_path.endswith("/") else rule_path + "/"
        if path.startswith(location):
            return PathCandidate(index, "prefix", False, False, len(location))
        return None
    # ImplementationSpecific (and anything unknown): a plain nginx prefix location.
    if path.startswith(rule_path):
        return PathCandidate(index, "plain-prefix", False, False, len(rule_path))
    return None


def pick_path(candidates: list[PathCandidate], paths: list[str]) -> PathCandidate | None:
    """The candidate nginx serves: exact locations first (Exact type before Prefix), then the
    longest prefix location; in regex mode the first regex in ingress-nginx's order (paths
    sorted by descending length)."""
    if not candidates:
        return None
    regex = [c for c in candidates if c.mode == "regex"]
    if regex:
        # ingress-nginx sorts locations by descending path length; nginx takes the first regex.
        return sorted(regex, key=lambda c: (-len(paths[c.index]), c.index))[0]
    exact = [c for c in candidates if c.exact_location]
    if exact:
        return sorted(exact, key=lambda c: (not c.exact_type, c.index))[0]
    # Equal location strings (Prefix /a and ImplementationSpecific /a/ both give `location /a/`):
    # nginx would refuse the duplicate; the first defined (oldest Ingress) is reported.
    return sorted(candidates, key=lambda c: (-c.length, c.index))[0]
