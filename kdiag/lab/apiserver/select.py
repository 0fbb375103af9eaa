"""Label and field selectors and continue tokens, parsed and matched the way kube-apiserver does."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FIELD_LABELS",
    "SelectorError",
    "decode_continue",
    "encode_continue",
    "field_selector",
    "label_selector",
]

Matcher = Callable[[Mapping[str, Any]], bool]


class SelectorError(ValueError):
    """An unparsable selector or continue token (the server answers 400 BadRequest)."""


_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_RE = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ_RE = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_CMP_RE = re.compile(rf"^\s*({_KEY})\s*(<|>)\s*(-?[0-9]+)\s*$")
_EXISTS_RE = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")
_VALUE_RE = re.compile(rf"^{_VALUE}$")


def _split_top(text: str) -> list[str]:
    """Split on commas that are not inside parentheses."""
    parts: list[str] = []
    cur: list[str] = []
    depth = 0
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


@dataclass(frozen=True)
class _Req:
    key: str
    op: str  # in notin exists !exists < >
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        if self.op == "!exists":
            return not present
        if not present or value is None:
            return False
        try:
            got, want = int(value), int(self.values[0])
        except ValueError:
            return False
        return got < want if self.op == "<" else got > want


def label_selector(text: str | None) -> Matcher:
    """A predicate on objects for a labelSelector string (=, ==, !=, in, notin, exists, !key, <, >)."""
    if not text or not text.strip():
        return lambda _obj: True
    reqs: list[_Req] = []
    for raw in _split_top(text):
        if not raw.strip():
            raise SelectorError(f"unable to parse requirement: found '', expected: identifier in {text!r}")
        if m := _SET_RE.match(raw):
            values = tuple(v.strip() for v in m.group(3).split(","))
            if any(not _VALUE_RE.match(v) for v in values):
                raise SelectorError(f"unable to parse requirement: invalid label value in {raw.strip()!r}")
            reqs.append(_Req(m.group(1), m.group(2), values))
        elif m := _EQ_RE.match(raw):
            op = "notin" if m.group(2) == "!=" else "in"
            reqs.append(_Req(m.group(1), op, (m.group(3),)))
        elif m := _CMP_RE.match(raw):
            reqs.append(_Req(m.group(1), m.group(2), (m.group(3),)))
        elif m := _EXISTS_RE.match(raw):
            reqs.append(_Req(m.group(2), "!exists" if m.group(1) else "exists"))
        else:
            raise SelectorError(f"unable to parse requirement: {raw.strip()!r}")

    def match(obj: Mapping[str, Any]) -> bool:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(r.matches(labels) for r in reqs)

    return match


#: Field labels each resource supports besides metadata.name and metadata.namespace (plural -> labels).
FIELD_LABELS: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
             "spec.hostNetwork", "status.phase", "status.podIP", "status.nominatedNodeName"),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
               "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type"),
    "secrets": ("type",),
    "namespaces": ("status.phase",),
    "nodes": ("spec.unschedulable",),
    "replicasets": ("status.replicas",),
}


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    cur: Any = obj
    for part in path.split("."):
        if not isinstance(cur, Mapping):
            cur = None
            break
        cur = cur.get(part)
    if cur is None:
        if path == "spec.hostNetwork" or path == "spec.unschedulable":
            return "false"
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


def field_selector(text: str | None, plural: str) -> Matcher:
    """A predicate for a fieldSelector (=, ==, !=; comma = and); unknown fields raise SelectorError."""
    if not text or not text.strip():
        return lambda _obj: True
    allowed = {"metadata.name", "metadata.namespace", *FIELD_LABELS.get(plural, ())}
    reqs: list[tuple[str, bool, str]] = []
    for raw in text.split(","):
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", raw)
        if not m:
            raise SelectorError(f"invalid selector: '{text}'; can't understand '{raw}'")
        key, op, value = m.groups()
        if key not in allowed:
            raise SelectorError(f'field label not supported: {key}')
        reqs.append((key, op != "!=", value))

    def match(obj: Mapping[str, Any]) -> bool:
        for key, equal, value in reqs:
            got = _field_value(obj, key)
            if key == "metadata.namespace" and not got:
                got = ""
            if (got == value) != equal:
                return False
        return True

    return match


def encode_continue(resource_version: str, start_after: str) -> str:
    raw = json.dumps({"v": "meta.k8s.io/v1", "rv": resource_version, "start": start_after},
                     separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_continue(token: str) -> tuple[str, str]:
    """(resourceVersion, key to start after); SelectorError when the token is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        if not isinstance(data, dict) or data.get("v") != "meta.k8s.io/v1":
            raise ValueError
        return str(data["rv"]), str(data["start"])
    except (ValueError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
        raise SelectorError("continue key is not valid: incorrect encoded start resourceVersion "
                            "(version meta.k8s.io/v1)") from exc
