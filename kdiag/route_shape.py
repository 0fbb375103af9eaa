"""Defensive access to raw Kubernetes JSON: manifests may hold any shape where a dict is expected.

Route resolution and the ingress rules read user-written manifests; a `rules: 80` or a
`paths: "x"` must not crash them. These helpers return an empty mapping/list (or None) instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["as_int", "as_list", "as_map", "maps", "sub"]

_EMPTY: Mapping[str, Any] = {}


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


def as_int(value: Any) -> int | None:
    """An int, or a string of digits as int; None otherwise (bools are not numbers here)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None
