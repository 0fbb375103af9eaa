"""Defensive access to raw Kubernetes JSON: manifests may hold any shape where a dict is expected.

Route resolution, the snapshot and the rules read user-written manifests and whatever a (maybe
lying) API server sent; a `rules: 80` or a `paths: "x"` must not crash them. The accessors return
an empty mapping/list (or None) instead. Code that deliberately lets a malformed object raise
catches `MALFORMED`; `guarded` runs a per-object check so that one such object does not stop the
others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar

__all__ = ["MALFORMED", "as_int", "as_list", "as_map", "external_name", "guarded", "lb_addresses", "maps", "sub"]

_EMPTY: Mapping[str, Any] = {}

#: What a malformed object raises when code reads it (wrong types where the API has maps/lists).
MALFORMED = (AttributeError, TypeError, ValueError, KeyError, IndexError)

_T = TypeVar("_T")
_R = TypeVar("_R")


def as_map(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else _EMPTY


def as_list(value: Any) -> list[Any]:
    """`value` if it is a list, else an empty list."""
    return value if isinstance(value, list) else []


def maps(value: Any) -> list[Mapping[str, Any]]:
    """The mapping items of a list (anything else is skipped)."""
    return [v for v in as_list(value) if isinstance(v, Mapping)]


def sub(obj: Any, *keys: str) -> Mapping[str, Any]:
    """obj[k1][k2]... as a mapping, empty when any level is missing or not a mapping."""
    cur = as_map(obj)
    for k in keys:
        cur = as_map(cur.get(k))
    return cur


def external_name(svc: Any) -> str | None:
    """The DNS name an ExternalName Service stands for ("" when it names none); None: not one."""
    spec = sub(svc, "spec")
    return str(spec.get("externalName") or "") if spec.get("type") == "ExternalName" else None


def lb_addresses(obj: Any) -> list[str]:
    """The addresses an Ingress or Service publishes in `status.loadBalancer.ingress` (ip, else
    hostname), in order."""
    return [str(e.get("ip") or e.get("hostname")) for e in maps(sub(obj, "status", "loadBalancer").get("ingress"))
            if e.get("ip") or e.get("hostname")]


def as_int(value: Any) -> int | None:
    """An int, or a string of digits as int; None otherwise (bools are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def guarded(items: Iterable[_T], check: Callable[[_T], Iterable[_R]]) -> Iterator[_R]:
    """Run a per-object check over items; an object too malformed to judge yields nothing.

    Shape errors are reported by the manifest checks (manifest-invalid); a rule must not let one
    bad object stop the others from being checked. The results of an object are all-or-nothing.
    """
    it = iter(items)
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        except MALFORMED:
            return
        try:
            found = list(check(item))
        except MALFORMED:
            continue
        yield from found
