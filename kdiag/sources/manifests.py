"""Manifest files, folders and stdin (YAML, JSON, `kind: List`, rendered Helm/Kustomize) → Snapshot.

One bad document never stops the others: it becomes a `manifest-invalid` finding that points at
its file and line, and the rest is loaded. A path that does not exist or cannot be read is an
`InputError` (exit 2); so is a path that is not a regular file (`/dev/zero`) or is larger than
16 MiB (`kdiag.inputfiles`), while such a file met inside a folder is a warning about it. Secret `data`/`stringData` are dropped at load time.

Besides `Snapshot.origins` (file and first line per object), the loader records the line of every
key in `snapshot.facts["field_lines"]` (`{"Kind ns/name": {"spec.replicas": 12, ...}}`) so that
field-level findings can point at the exact line; `field_line()` reads it.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from kdiag.errors import InputError
from kdiag.findings import make_finding
from kdiag.inputfiles import MAX_MANIFEST_BYTES, Unreadable, read_regular_file, read_stream
from kdiag.model import Finding, SourceInfo
from kdiag.snapshot import Origin, Snapshot, obj_key, obj_ref
from kdiag.sources.yaml_errors import (
    FIX_INDENT,
    FIX_NOT_OBJECT,
    describe_not_an_object,
    describe_yaml_error,
    flattened_block,
)

__all__ = [
    "CLUSTER_SCOPED_KINDS",
    "MANIFEST_SUFFIXES",
    "MAX_NODES",
    "field_line",
    "load_manifest_text",
    "load_manifests",
]

MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")

#: Upper bound of values in one document after YAML aliases are expanded (hostile input guard).
MAX_NODES = 200_000

#: Built-in (and a few very common add-on) kinds that live outside namespaces.
CLUSTER_SCOPED_KINDS = frozenset({
    "APIService", "CertificateSigningRequest", "ClusterIssuer", "ClusterRole",
    "ClusterRoleBinding", "ComponentStatus", "CSIDriver", "CSINode", "CustomResourceDefinition",
    "DeviceClass", "FlowSchema", "GatewayClass", "IngressClass", "IPAddress",
    "MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration", "Namespace", "Node", "PersistentVolume",
    "PodSecurityPolicy", "PriorityClass", "PriorityLevelConfiguration", "RuntimeClass",
    "ServiceCIDR", "StorageClass", "StorageVersionMigration", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration", "VolumeAttachment",
})

#: File names skipped while walking a folder: Helm chart metadata and values, Kustomize config.
_SKIP_NAMES = frozenset({
    "Chart.yaml", "Chart.yml", "Chart.lock", "values.yaml", "values.yml", "values.schema.json",
    "kustomization.yaml", "kustomization.yml", "Kustomization",
})

_DOC_SEP = re.compile(r"^---(?:[ \t].*)?$")
_DOC_END = re.compile(r"^\.\.\.[ \t]*$")
# Go template actions as Helm writes them: {{ .Values.x }}, {{- if }}, {{ include "..." }} ...
_TEMPLATE = re.compile(
    r"\{\{-?\s*(?:[.$]|/\*|(?:if|else|end|range|with|include|template|define|toYaml|tpl|"
    r"required|default|quote|printf|nindent|indent|lookup)\b)"
)
_SECRET_DROP = ("data", "stringData")
_NOT_JSON = object()
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader (libyaml's when available: ~8x faster) that keeps timestamps as strings."""


_Loader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


@dataclass
class _Acc:
    """What loading accumulates before the Snapshot is frozen."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    origins: dict[tuple[str, str, str], Origin] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    lines: dict[str, dict[str, int]] = field(default_factory=dict)


def _invalid(message: str, location: str, *, obj: str = "", severity: str | None = None,
             fix: str | None = None, **evidence: Any) -> Finding:
    return make_finding("manifest-invalid", object=obj, message=message, severity=severity,  # type: ignore[arg-type]
                        fix=fix, evidence={"location": location, **evidence})


def _split_documents(text: str) -> Iterator[tuple[int, str]]:
    """(0-based first line, text) of each YAML document; one bad document stays isolated."""
    start = 0
    buf: list[str] = []
    for i, line in enumerate(text.splitlines()):
        if _DOC_SEP.match(line) or _DOC_END.match(line):
            if buf:
                yield start, "\n".join(buf)
            rest = line[3:].strip() if _DOC_SEP.match(line) else ""
            # `--- {a: 1}` style content on the separator line is rare; keep it on its own line.
            start, buf = (i, [rest]) if rest and not rest.startswith("#") else (i + 1, [])
            continue
        buf.append(line)
    if buf:
        yield start, "\n".join(buf)


def _key_lines(node: yaml.Node, base: int, prefix: str, out: dict[str, int],
               dups: list[tuple[str, int, int]]) -> None:
    """Record the 1-based line of every key under `node`, by JSON path, and duplicated keys."""
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for k, v in node.value:
            if not isinstance(k, yaml.ScalarNode) or k.value == "<<":
                continue
            path = f"{prefix}.{k.value}" if prefix else str(k.value)
            line = base + k.start_mark.line + 1
            if k.value in seen:
                dups.append((path, line, seen[k.value]))
            seen[k.value] = line
            out.setdefault(path, line)
            _key_lines(v, base, path, out, dups)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            out.setdefault(path, base + item.start_mark.line + 1)
            _key_lines(item, base, path, out, dups)


_DEEP_FLOW = re.compile(r"[\[{](?:\s*[\[{]){199}")


def _compose(chunk: str) -> tuple[yaml.Node | None, Any]:
    if _DEEP_FLOW.search(chunk):  # PyYAML takes seconds to fail on these; fail fast instead
        raise RecursionError("flow collections nested 200 deep")
    loader = _Loader(chunk)
    try:
        node = loader.get_single_node()
        if node is not None and _expanded_size(node) > MAX_NODES:
            raise yaml.YAMLError(
                f"its aliases expand to more than {MAX_NODES} values (a 'billion laughs' "
                "document); refusing to expand it")
        try:
            data = loader.construct_document(node) if node is not None else None
        except ValueError as e:  # an integer of thousands of digits (Python's int_max_str_digits)
            raise yaml.YAMLError(f"a value cannot be read: {str(e).split(';')[0]}") from None
        return node, data
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, limit: int = MAX_NODES) -> int:
    """How many nodes the document has once aliases are expanded (stops counting past `limit`)."""
    count, stack = 0, [node]
    while stack and count <= limit:
        n = stack.pop()
        count += 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                stack.append(k)
                stack.append(v)
        elif isinstance(n, yaml.SequenceNode):
            stack.extend(n.value)
    return count


def _templated_name(data: Any) -> bool:
    md = data.get("metadata") if isinstance(data, dict) else None
    return isinstance(md, dict) and "{{" in str(md.get("name", ""))


def _items_nodes(node: yaml.Node | None) -> list[yaml.Node | None]:
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == "items" and isinstance(v, yaml.SequenceNode):
                return list(v.value)
    return []


def _is_list_kind(data: Mapping[str, Any]) -> bool:
    kind = str(data.get("kind") or "")
    return isinstance(data.get("items"), list) and (kind == "List" or kind.endswith("List"))


def _add_object(acc: _Acc, data: Any, node: yaml.Node | None, *, path: str, base: int, doc: int,
                namespace: str, where: str) -> None:
    """Validate the bare minimum, fill the namespace, drop secret data, record origins."""
    line = base + (node.start_mark.line + 1 if node is not None else 1)
    location = f"{path}:{line}"
    if not isinstance(data, dict):
        acc.findings.append(_invalid(
            f"{location}: {where} is {describe_not_an_object(data)} (a mapping with apiVersion, kind "
            "and metadata.name)", location, fix=FIX_NOT_OBJECT))
        return
    md = data.get("metadata")
    missing = [k for k in ("apiVersion", "kind") if not isinstance(data.get(k), str) or not data.get(k)]
    if not isinstance(md, dict) or not md.get("name") and not md.get("generateName"):
        missing.append("metadata.name")
    if missing:
        top: dict[str, int] = {}
        if node is not None:
            _key_lines(node, base, "", top, [])
        flat = flattened_block(data, top)
        if flat is not None:  # `metadata:` with its keys at the top level: lost indentation
            parent, child, at = flat
            loc = f"{path}:{at or line}"
            acc.findings.append(_invalid(
                f"{loc}: indentation problem: `{parent}:` is empty and `{child}:` is a top-level key; "
                f"the lines under `{parent}:` lost their indentation", loc, fix=FIX_INDENT, missing=missing))
            return
        what = f"{data.get('kind')} " if isinstance(data.get("kind"), str) else ""
        acc.findings.append(_invalid(
            f"{location}: {what}{where} lacks {', '.join(missing)}; the API server rejects an "
            "object without them", location, missing=missing))
        return
    obj = dict(data)
    md = dict(md)  # type: ignore[arg-type]
    if not md.get("name"):
        md["name"] = str(md.get("generateName"))
    if obj["kind"] not in CLUSTER_SCOPED_KINDS and not md.get("namespace"):
        md["namespace"] = namespace
    if obj["kind"] == "Secret":
        for k in _SECRET_DROP:
            obj.pop(k, None)
        ann = md.get("annotations")
        if isinstance(ann, dict) and _LAST_APPLIED in ann:
            md["annotations"] = {k: v for k, v in ann.items() if k != _LAST_APPLIED}
    obj["metadata"] = md
    key = obj_key(obj)
    if key in acc.origins:
        first = acc.origins[key]
        acc.findings.append(_invalid(
            f"{location}: {obj_ref(obj)} is defined twice (first at {first}); only the last one "
            "applied survives", location, obj=obj_ref(obj), severity="warning",
            first=str(first)))
        acc.objects = [o for o in acc.objects if obj_key(o) != key]
    acc.objects.append(obj)
    acc.origins[key] = Origin(path=path, line=line, doc=doc)
    lines: dict[str, int] = {}
    dups: list[tuple[str, int, int]] = []
    if node is not None:
        _key_lines(node, base, "", lines, dups)
    acc.lines[obj_ref(obj)] = lines
    for dup_path, dup_line, first_line in dups:
        loc = f"{path}:{dup_line}"
        acc.findings.append(_invalid(
            f"{loc}: {obj['kind']} has the key {dup_path} twice (first at line {first_line}); the "
            "second silently replaces the first, and strict validation rejects the object "
            "('duplicate field')", loc, obj=obj_ref(obj), path=dup_path,
            fix="Merge the two blocks into one key (for lists such as `env` or `ports`, one list "
                "holding every item)."))


def _template_finding(text: str, match: re.Match[str], *, path: str, base: int = 0) -> Finding:
    line = base + text.count("\n", 0, match.start()) + 1
    location = f"{path}:{line}"
    return _invalid(
        f"{location}: this is an unrendered Helm template ({match.group(0)!r}...); kdiag checks "
        "what the API server would receive", location,
        fix="Render the chart first and lint the output: `helm template RELEASE CHART | kdiag "
            "lint -` (or `kustomize build DIR | kdiag lint -`).",
        template=True)


def _load_text(acc: _Acc, text: str, *, path: str, namespace: str, from_dir: bool = False) -> None:
    match = _TEMPLATE.search(text)
    if match and "templates" in Path(path).parts:
        acc.findings.append(_template_finding(text, match, path=path))
        return
    if text.lstrip().startswith(("{", "[")):  # JSON (`kubectl get -o json`), maybe tab-indented
        try:
            data = json.loads(text)
        except RecursionError:
            location = f"{path}:1"
            acc.findings.append(_invalid(f"{location}: the document is nested too deeply to read",
                                         location))
            return
        except json.JSONDecodeError as e:
            if not path.endswith(".json"):
                data = _NOT_JSON  # flow-style YAML, or several documents: let YAML decide
            else:
                location = f"{path}:{e.lineno}"
                acc.findings.append(_invalid(f"{location}: invalid JSON: {e.msg} (column {e.colno})",
                                             location))
                return
        except ValueError as e:  # an integer of thousands of digits
            location = f"{path}:1"
            acc.findings.append(_invalid(f"{location}: invalid JSON: {str(e).split(';')[0]}", location))
            return
    else:
        data = _NOT_JSON
    if data is not _NOT_JSON:
        node = None
        try:  # JSON is YAML: compose it again only to learn lines
            node, _ = _compose(text)
        except (yaml.YAMLError, RecursionError):
            node = None
        _add_document(acc, data, node, path=path, base=0, doc=0, namespace=namespace)
        return
    before = len(acc.objects), len(acc.findings)
    kubeish = False
    for doc, (base, chunk) in enumerate(_split_documents(text)):
        tmpl = _TEMPLATE.search(chunk) if match else None
        try:
            node, data = _compose(chunk)
            if tmpl and _templated_name(data):
                raise yaml.YAMLError("a template action in metadata.name")
        except RecursionError:
            location = f"{path}:{base + 1}"
            acc.findings.append(_invalid(f"{location}: the document is nested too deeply to read",
                                         location))
            continue
        except yaml.YAMLError as e:
            if tmpl is not None:  # a template action that breaks YAML (or names the object)
                kubeish = True
                if not any(f.evidence.get("template") and f.evidence["location"].startswith(f"{path}:")
                           for f in acc.findings):
                    acc.findings.append(_template_finding(chunk, tmpl, path=path, base=base))
                continue
            bad = describe_yaml_error(e, chunk, path=path, base=base)
            acc.findings.append(_invalid(bad.message, bad.location, fix=bad.fix))
            kubeish = True
            continue
        if data is None:
            continue  # empty document (comments only)
        if isinstance(data, dict) and ("apiVersion" in data or "kind" in data):
            kubeish = True
        _add_document(acc, data, node, path=path, base=base, doc=doc, namespace=namespace)
    if from_dir and not kubeish and len(acc.findings) > before[1]:
        # A stray non-Kubernetes YAML file in a folder (CI config, app config): say so quietly.
        del acc.findings[before[1]:]
        del acc.objects[before[0]:]
        location = f"{path}:1"
        acc.findings.append(_invalid(
            f"{location}: skipped: no document in this file is a Kubernetes object", location,
            severity="info", skipped=True,
            fix="Nothing to change if this file is not meant for Kubernetes (CI or app configuration); "
                "to lint manifests only, pass their files or folder."))


def _add_document(acc: _Acc, data: Any, node: yaml.Node | None, *, path: str, base: int, doc: int,
                  namespace: str) -> None:
    if isinstance(data, dict) and _is_list_kind(data):
        nodes = _items_nodes(node)
        for i, item in enumerate(data["items"]):
            item_node = nodes[i] if i < len(nodes) else node
            _add_object(acc, item, item_node, path=path, base=base, doc=doc, namespace=namespace,
                        where=f"item {i} of the {data.get('kind')}")
        return
    _add_object(acc, data, node, path=path, base=base, doc=doc, namespace=namespace,
                where="the document")


def _walk_dir(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root, onerror=_raise_walk_error):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith(".") or name in _SKIP_NAMES:
                continue
            if name.endswith(MANIFEST_SUFFIXES):
                found.append(Path(dirpath) / name)
    return found


def _raise_walk_error(err: OSError) -> None:
    raise InputError(f"cannot read {err.filename}: {err.strerror or err}")


def _read(path: Path) -> str | None:
    """The file's text; None when it is not UTF-8; `Unreadable` when it is no regular file of at
    most MAX_MANIFEST_BYTES."""
    raw = read_regular_file(path, MAX_MANIFEST_BYTES)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _finish(acc: _Acc, *, paths: Sequence[str], namespace: str) -> Snapshot:
    return Snapshot(
        objects=tuple(acc.objects),
        source=SourceInfo(kind="manifests", namespace=namespace, paths=tuple(paths)),
        origins=acc.origins,
        findings=tuple(acc.findings),
        namespace=namespace,
        facts={"field_lines": acc.lines},
    )


def load_manifest_text(text: str, *, path: str, namespace: str = "default") -> Snapshot:
    """Parse one file's (or stdin's) text; `path` names it in origins and findings."""
    acc = _Acc()
    _load_text(acc, text, path=path, namespace=namespace)
    return _finish(acc, paths=(path,), namespace=namespace)


def load_manifests(paths: Sequence[str], *, namespace: str = "default",
                   stdin: TextIO | None = None) -> Snapshot:
    """Load files, folders (recursively) and `-` (stdin) into one Snapshot.

    Raises InputError for a path that does not exist or cannot be read, or a folder that holds
    no manifest file at all.
    """
    if not paths:
        raise InputError("no manifest path given")
    acc = _Acc()
    for raw in paths:
        if not raw.strip():
            raise InputError("an empty string is not a file or folder name")
        if raw == "-":
            stream = stdin if stdin is not None else sys.stdin
            try:
                text = read_stream(stream, MAX_MANIFEST_BYTES)
            except Unreadable as e:
                raise InputError(f"cannot read stdin: {e}") from None
            _load_text(acc, text, path="<stdin>", namespace=namespace)
            continue
        p = Path(raw)
        if not p.exists() and not p.is_symlink():
            raise InputError(f"{raw}: no such file or directory")
        if p.is_dir():
            files = _walk_dir(p)
            if not files:
                raise InputError(f"{raw}: the folder holds no .yaml, .yml or .json file")
            for f in files:
                _load_file(acc, f, namespace=namespace, from_dir=True)
        else:
            _load_file(acc, p, namespace=namespace, from_dir=False)
    return _finish(acc, paths=paths, namespace=namespace)


def _load_file(acc: _Acc, p: Path, *, namespace: str, from_dir: bool) -> None:
    try:
        text = _read(p)
    except Unreadable as e:
        if not from_dir:
            raise InputError(e.about(p)) from None
        location = f"{p}:1"  # one unreadable file in a folder does not stop the others
        acc.findings.append(_invalid(f"{location}: skipped: {'cannot read it: ' if e.os_error else ''}{e}", location, severity="warning",
                                     skipped=True))
        return
    if text is None:
        location = f"{p}:1"
        acc.findings.append(_invalid(f"{location}: not UTF-8 text", location))
        return
    _load_text(acc, text, path=str(p), namespace=namespace, from_dir=from_dir)


def field_line(snapshot: Snapshot, obj: Mapping[str, Any], path: str) -> int | None:
    """The 1-based line of a field (JSON path like `spec.ports[0].port`) of a manifest object.

    Falls back to the nearest recorded parent; None when the object did not come from a file.
    """
    lines = (snapshot.facts.get("field_lines") or {}).get(obj_ref(obj))
    if not lines:
        return None
    p = path
    while p:
        if p in lines:
            return int(lines[p])
        cut = max(p.rfind("."), p.rfind("["))
        p = p[:cut] if cut > 0 else ""
    return None
