"""Field-level validation of manifest objects against the Kubernetes schema (not a hand list).

The official client `kubernetes` 37 ships pydantic v2 models generated from the Kubernetes
OpenAPI definition (`kubernetes.client.models.V1Deployment` ...). `validate(obj)` walks an
object alongside its model — field names are the models' camelCase JSON names, field types are
followed through Optional/List/Dict/Union — and reports unknown keys (with a close-match
suggestion), scalars of the wrong type and required fields that are missing, each with its JSON
path (`spec.template.spec.containers[0].readinessProbe.periodSecods`).

Objects of a removed API version (`extensions/v1beta1` Deployment ...) are checked against the
replacement's schema, minus the fields that legitimately existed in the old version (the table
of removed versions is `kdiag.removed_apis`). Kinds the
client does not know (custom resources) are skipped. The models are imported lazily (~0.5 s) and
the per-model field tables are cached.
"""

from __future__ import annotations

import difflib
import functools
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kdiag.removed_apis import LEGACY_FIELDS, removed_api

__all__ = [
    "FieldIssue",
    "ValidationResult",
    "known_kind",
    "validate",
]


#: Kubernetes API groups the official client has models for; other groups are custom resources.
_BUILTIN_GROUPS = frozenset({
    "", "admissionregistration.k8s.io", "apiextensions.k8s.io", "apiregistration.k8s.io", "apps",
    "authentication.k8s.io", "authorization.k8s.io", "autoscaling", "batch",
    "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io",
    "flowcontrol.apiserver.k8s.io", "internal.apiserver.k8s.io", "networking.k8s.io", "node.k8s.io",
    "policy", "rbac.authorization.k8s.io", "resource.k8s.io", "scheduling.k8s.io",
    "storage.k8s.io", "storagemigration.k8s.io",
})

#: Dict[str, str] fields whose values are quantities: YAML numbers are fine there (`cpu: 1`).
_QUANTITY_FIELDS = frozenset({
    "limits", "requests", "capacity", "allocatable", "hard", "used", "overhead", "sizeLimit",
    "default", "defaultRequest", "max", "min", "maxLimitRequestRatio", "storage",
})


# -- the type walk ---------------------------------------------------------------------------

# A resolved field type: ("model", cls) | ("list", T) | ("map", T) | ("scalar", names)
# | ("union", (T, ...)) | ("any",)
_Type = tuple[Any, ...]
_ANY: _Type = ("any",)


@dataclass(frozen=True)
class FieldIssue:
    """One problem with one field. `problem` is unknown | type | required."""

    problem: str
    path: str  # JSON path of the field (for `required`, the field that should be there)
    key: str
    message: str
    suggestion: str | None = None
    #: The default the API applies to `suggestion` when the misspelled key is dropped.
    default: str | None = None
    #: Where a key that exists elsewhere in this kind belongs (`spec.template.spec.containers[]`).
    belongs: str | None = None


@dataclass(frozen=True)
class ValidationResult:
    """What `validate` found; `schema` names the model used (None when the kind is unknown)."""

    schema: str | None
    api_version: str
    issues: tuple[FieldIssue, ...] = ()

    def of(self, problem: str) -> list[FieldIssue]:
        return [i for i in self.issues if i.problem == problem]


def _resolve(tp: Any) -> _Type:
    from pydantic import BaseModel

    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _resolve(typing.get_args(tp)[0])
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return ("model", tp)
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(tp)
        return ("list", _resolve(args[0]) if args else _ANY)
    if origin is dict:
        args = typing.get_args(tp)
        return ("map", _resolve(args[1]) if len(args) == 2 else _ANY)
    if origin in (typing.Union, types.UnionType):
        members = tuple(_resolve(a) for a in typing.get_args(tp) if a is not type(None))
        return members[0] if len(members) == 1 else ("union", members)
    if tp is str:
        return ("scalar", frozenset({"str"}))
    if tp is bool:
        return ("scalar", frozenset({"bool"}))
    if tp is int:
        return ("scalar", frozenset({"int"}))
    if tp is float:
        return ("scalar", frozenset({"float", "int"}))
    if tp is bytearray or tp is bytes:
        return ("scalar", frozenset({"str"}))
    return _ANY  # Any, object, datetime (kept as strings), ...


@functools.cache
def _fields(cls: type) -> tuple[dict[str, _Type], frozenset[str]]:
    """JSON name -> resolved type, and the JSON names of required fields, for one model."""
    amap: Mapping[str, str] = getattr(cls, "attribute_map", {}) or {}
    out: dict[str, _Type] = {}
    required: set[str] = set()
    for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        json_name = amap.get(name) or info.serialization_alias or info.alias or name
        out[json_name] = _resolve(info.annotation)
        if info.is_required():
            required.add(json_name)
    return out, frozenset(required)


def _class_names(api_version: str, kind: str) -> list[str]:
    group, _, version = api_version.rpartition("/")
    ver = version[:1].upper() + version[1:]
    prefix = "Core" if not group else group.split(".")[0].capitalize()
    return [f"{prefix}{ver}{kind}", f"{ver}{kind}"]


@functools.cache
def _model_for(api_version: str, kind: str) -> type | None:
    group = api_version.rpartition("/")[0]
    if group not in _BUILTIN_GROUPS or not kind:
        return None
    from kubernetes.client import models

    for name in _class_names(api_version, kind):
        cls = getattr(models, name, None)
        if cls is None:
            continue
        fields, _ = _fields(cls)
        if {"apiVersion", "kind", "metadata"} <= set(fields):
            return cls  # type: ignore[no-any-return]
    return None


def known_kind(api_version: str, kind: str) -> bool:
    """True when the schema of this apiVersion/kind (or of its replacement) is known."""
    return _schema_target(api_version, kind)[0] is not None


def _schema_target(api_version: str, kind: str) -> tuple[type | None, str]:
    gone = removed_api(api_version, kind)
    if gone is not None:
        if gone.replacement is None:
            return None, api_version
        return _model_for(gone.replacement, kind), gone.replacement
    return _model_for(api_version, kind), api_version


def _norm(path: str) -> str:
    """`spec.rules[0].http.paths[1]` -> `spec.rules[].http.paths[]` (the legacy-field form)."""
    return re.sub(r"\[\d+\]", "[]", path)


_SCALAR_NAMES = {bool: "bool", int: "int", float: "float", str: "str"}
_WORDS = {"str": "a string", "int": "an integer", "bool": "true or false", "float": "a number"}
_GOT = {"str": "a string", "int": "an integer", "bool": "a boolean", "float": "a number"}


def _scalar_kind(value: Any) -> str | None:
    for t, name in _SCALAR_NAMES.items():
        if type(value) is t:
            return name
    return None


@functools.cache
def _field_homes(root: type) -> dict[str, str]:
    """field JSON name -> the shortest path (from the root object) of a mapping that has it."""
    homes: dict[str, str] = {}
    seen: set[type] = set()
    queue: list[tuple[type, str]] = [(root, "")]
    while queue:
        cls, path = queue.pop(0)
        if cls in seen:
            continue
        seen.add(cls)
        fields, _ = _fields(cls)
        for name, tp in fields.items():
            homes.setdefault(name, path)
            child = f"{path}.{name}" if path else name
            while tp[0] in ("list", "map"):
                child += "[]" if tp[0] == "list" else ".*"
                tp = tp[1]
            if tp[0] == "model" and not child.startswith("status"):
                queue.append((tp[1], child))
    return homes


class _Walker:
    def __init__(self, legacy: tuple[str, ...], root: type | None = None) -> None:
        self.legacy = legacy
        self.root = root
        self.issues: list[FieldIssue] = []

    def walk(self, value: Any, tp: _Type, path: str, key: str, parent: str) -> None:
        tag = tp[0]
        if tag == "any" or value is None:
            return
        if tag == "model":
            if isinstance(value, Mapping):
                self.model(value, tp[1], path)
            else:
                self._shape_issue(value, "a mapping", path, key)
            return
        if tag == "list":
            if isinstance(value, list):
                for i, item in enumerate(value):
                    self.walk(item, tp[1], f"{path}[{i}]", key, parent)
            else:
                self._shape_issue(value, "a list", path, key)
            return
        if tag == "map":
            if not isinstance(value, Mapping):
                self._shape_issue(value, "a mapping", path, key)
            else:
                inner = tp[1]
                if key in _QUANTITY_FIELDS and inner[0] == "scalar":
                    return
                for k, v in value.items():
                    self.walk(v, inner, f"{path}.{k}", key, parent)
            return
        if tag == "union":
            for member in tp[1]:
                if member[0] == "model" and isinstance(value, Mapping):
                    self.walk(value, member, path, key, parent)
                    return
            if _scalar_kind(value) is not None:
                allowed = set().union(*(m[1] for m in tp[1] if m[0] == "scalar"))
                if allowed and not self._scalar_ok(value, allowed):
                    self._type_issue(value, allowed, path, key)
            return
        if tag == "scalar":
            if key in _QUANTITY_FIELDS:
                return
            allowed = tp[1]
            if isinstance(value, Mapping | list):
                self._shape_issue(value, " or ".join(_WORDS[a] for a in sorted(allowed)), path, key)
            elif not self._scalar_ok(value, allowed):
                self._type_issue(value, allowed, path, key)

    def _shape_issue(self, value: Any, want: str, path: str, key: str) -> None:
        if isinstance(value, Mapping):
            got = "a mapping"
        elif isinstance(value, list):
            got = "a list"
        else:
            got = f"{_GOT.get(_scalar_kind(value) or '', 'a value')} ({_yaml_scalar(value)})"
        self.issues.append(FieldIssue("type", path, key, f"{path} must be {want}, got {got}"))

    @staticmethod
    def _scalar_ok(value: Any, allowed: frozenset[str] | set[str]) -> bool:
        kind = _scalar_kind(value)
        if kind is None:
            return False
        if kind == "float" and "int" in allowed and float(value).is_integer():
            return True
        return kind in allowed

    def _type_issue(self, value: Any, allowed: frozenset[str] | set[str], path: str,
                    key: str) -> None:
        want = " or ".join(_WORDS.get(a, a) for a in sorted(allowed))
        got = _scalar_kind(value)
        if isinstance(value, Mapping):
            shown = "a mapping"
        elif isinstance(value, list):
            shown = "a list"
        elif got == "str":
            shown = f"the string {value!r}"
        else:
            shown = f"{_GOT.get(got or '', 'a value')} ({_yaml_scalar(value)})"
        hint = ""
        if "str" in allowed and got in ("int", "float", "bool"):
            hint = f"; YAML reads an unquoted {_yaml_scalar(value)} as {_GOT[got or 'str']}: quote it"
        self.issues.append(FieldIssue(
            "type", path, key, f"{path} must be {want}, got {shown}{hint}"))

    def model(self, value: Mapping[str, Any], cls: type, path: str) -> None:
        fields, required = _fields(cls)
        for k, v in value.items():
            k = str(k)
            child = f"{path}.{k}" if path else k
            if k not in fields:
                legacy = _norm(child) in self.legacy or any(
                    _norm(child).startswith(p + ".") for p in self.legacy)
                if legacy:
                    continue
                self.issues.append(self._unknown(k, child, cls, fields))
                continue
            self.walk(v, fields[k], child, k, path)
        if path == "status" or path.startswith(("status.", "status[")):
            return  # status is written by controllers; its required fields are theirs to fill
        for r in sorted(required):
            if r not in value:
                child = f"{path}.{r}" if path else r
                if _norm(child) in self.legacy:
                    continue
                self.issues.append(FieldIssue(
                    "required", child, r, f"{child} is required by {cls.__name__}"))

    def _unknown(self, key: str, path: str, cls: type, fields: Mapping[str, _Type]) -> FieldIssue:
        names = list(fields)
        lowered = {n.lower(): n for n in names}
        suggestion = lowered.get(key.lower())
        if suggestion is None:  # swapped letters (`tsl`, `pathTpye`): same letters, same length
            same = [n for n in names if len(n) == len(key) and sorted(n.lower()) == sorted(key.lower())]
            suggestion = same[0] if len(same) == 1 else None
        if suggestion is None:
            close = difflib.get_close_matches(key, names, n=1, cutoff=0.75)
            suggestion = close[0] if close else None
        where = cls.__name__.removeprefix("V1").removeprefix("V2") or cls.__name__
        msg = f"unknown field {path!r} ({where} has no field {key!r})"
        default = belongs = None
        if suggestion:
            msg += f"; did you mean {suggestion}?"
            default = _default_of(cls, suggestion)
        elif self.root is not None:
            home = _field_homes(self.root).get(key)
            parent = _norm(path.rpartition(".")[0] if "." in path else "")
            if home is not None and home != parent:
                belongs = home or "the top level"
                msg += f"; {key} belongs under {belongs}"
        return FieldIssue("unknown", path, key, msg, suggestion, default, belongs)


_DEFAULT = re.compile(r"\bDefaults? (?:to|is) (.+?)\.(?:\s|$)")


@functools.cache
def _default_of(cls: type, json_name: str) -> str | None:
    """The default a field's schema description states ("Defaults to 25%."), if any."""
    amap: Mapping[str, str] = getattr(cls, "attribute_map", {}) or {}
    for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
        if (amap.get(name) or name) == json_name:
            m = _DEFAULT.search(info.description or "")
            return m.group(1).strip() if m and len(m.group(1)) < 60 else None
    return None


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def validate(obj: Mapping[str, Any]) -> ValidationResult:
    """Check one raw object (dict) against the schema of its apiVersion/kind.

    Unknown kinds (custom resources, kinds removed without replacement) give a result with
    `schema=None` and no issues.
    """
    api_version = str(obj.get("apiVersion") or "")
    kind = str(obj.get("kind") or "")
    cls, used = _schema_target(api_version, kind)
    if cls is None:
        return ValidationResult(None, api_version)
    legacy = LEGACY_FIELDS.get(kind, ()) if used != api_version else ()
    walker = _Walker(tuple(legacy), cls)
    walker.model(obj, cls, "")
    return ValidationResult(cls.__name__, used, tuple(walker.issues))
