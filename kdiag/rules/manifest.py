"""Static rules for manifest files: removed API versions, unknown fields, missing or mistyped fields.

Field checks come from `kdiag.schema` (the Kubernetes OpenAPI schema via the official client's
models). They run on manifest snapshots only: objects read from a live cluster were already
accepted (and pruned) by the API server.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from kdiag.model import Finding
from kdiag.removed_apis import removed_api
from kdiag.rules import RuleContext, rule
from kdiag.schema import FieldIssue, ValidationResult, validate
from kdiag.shape import sub
from kdiag.snapshot import Snapshot, selector_matches

__all__ = ["removed_api_versions", "schema_findings"]

_WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"})
_YAML_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "null", "y", "n"})


def _from_manifests(snapshot: Snapshot) -> bool:
    return snapshot.source.kind == "manifests"


def _location(ctx: RuleContext, obj: Mapping[str, Any], path: str) -> str | None:
    from kdiag.sources.manifests import field_line

    origin = ctx.snapshot.origin(obj)
    if origin is None:
        return None
    line = field_line(ctx.snapshot, obj, path)
    return f"{origin.path}:{line or origin.line}"


def _at(location: str | None) -> str:
    return f"{location}: " if location else ""


def _template_labels(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return sub(obj, "spec", "template", "metadata", "labels")


def _selector_snippet(obj: Mapping[str, Any]) -> str:
    labels = _template_labels(obj) or {"app": "NAME"}
    body = "\n".join(f"      {k}: {_quote(v)}" for k, v in labels.items())
    return f"```yaml\nspec:\n  selector:\n    matchLabels:\n{body}\n```"


def _quote(v: Any) -> str:
    s = str(v)
    bare = re.fullmatch(r"[A-Za-z][\w./-]*", s) and s.lower() not in _YAML_WORDS
    return s if bare else json.dumps(s)


# -- removed API versions --------------------------------------------------------------------


@rule("manifest-removed-api-version")
def removed_api_versions(ctx: RuleContext) -> Iterator[Finding]:
    """Objects whose apiVersion current Kubernetes no longer serves."""
    for obj in ctx.snapshot:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        gone = removed_api(api_version, kind)
        if gone is None:
            continue
        loc = _location(ctx, obj, "apiVersion")
        evidence: dict[str, Any] = {
            "api_version": api_version,
            "kind": kind,
            "removed_in": gone.removed_in,
            "replacement": gone.replacement,
        }
        if loc:
            evidence["location"] = loc
        if gone.replacement is None:
            msg = (f"{_at(loc)}apiVersion {api_version} of {kind} was removed in Kubernetes "
                   f"{gone.removed_in}: the API server answers 'no matches for kind \"{kind}\" in "
                   f"version \"{api_version}\"'")
            msg += f" ({gone.note})" if gone.note else ""
            yield ctx.finding("manifest-removed-api-version", obj, msg, evidence=evidence)
            continue
        needs = [i.path for i in validate(obj).of("required")]
        if kind in _WORKLOADS and "spec.selector" not in needs and not (obj.get("spec") or {}).get("selector"):
            needs.append("spec.selector")
        msg = (f"{_at(loc)}apiVersion {api_version} of {kind} was removed in Kubernetes "
               f"{gone.removed_in}, so the API server rejects it ('no matches for kind \"{kind}\" "
               f"in version \"{api_version}\"'); use {gone.replacement}")
        if needs:
            evidence["replacement_requires"] = needs
            msg += f", which also requires {', '.join(needs)}"
        fix = f"Change `apiVersion: {api_version}` to `apiVersion: {gone.replacement}`."
        if "spec.selector" in needs:
            fix += (" apps/v1 no longer derives the selector from the template labels; add it:\n\n"
                    + _selector_snippet(obj))
        if kind == "Ingress":
            fix += ("\n\nIn networking.k8s.io/v1 every path needs a `pathType`, and the backend "
                    "is written differently:\n\n```yaml\n- path: /\n  pathType: Prefix\n  "
                    "backend:\n    service:\n      name: web        # was serviceName\n      "
                    "port:\n        number: 80     # was servicePort\n```")
        yield ctx.finding("manifest-removed-api-version", obj, msg, evidence=evidence, fix=fix)


# -- schema: unknown fields, missing required fields, wrong scalar types --------------------


def _unknown_finding(ctx: RuleContext, obj: Mapping[str, Any], res: ValidationResult,
                     issue: FieldIssue) -> Finding:
    loc = _location(ctx, obj, issue.path)
    evidence: dict[str, Any] = {"path": issue.path, "field": issue.key, "schema": res.schema}
    if loc:
        evidence["location"] = loc
    if issue.suggestion:
        evidence["suggestion"] = issue.suggestion
        msg = (f"{_at(loc)}{obj.get('kind')} has no field {issue.path}: did you mean "
               f"{issue.suggestion}? The API drops unknown fields (or rejects the object under "
               f"strict validation)")
        if issue.default:
            msg += f", so {issue.suggestion} stays at its default ({issue.default})"
        fix = f"Rename `{issue.key}` to `{issue.suggestion}`" + (f" at {loc}." if loc else ".")
    elif issue.belongs:
        evidence["belongs"] = issue.belongs
        msg = (f"{_at(loc)}{obj.get('kind')} has no field {issue.path}: {issue.key} belongs under "
               f"{issue.belongs}, so here the API drops it (or rejects the object under strict "
               f"validation)")
        fix = f"Move `{issue.key}` under `{issue.belongs}`" + (f" (it is at {loc})." if loc else ".")
    else:
        msg = (f"{_at(loc)}{obj.get('kind')} has no field {issue.path} (the schema "
               f"{res.schema} knows no {issue.key!r}); the API drops it (or rejects the object "
               f"under strict validation)")
        fix = f"Remove `{issue.key}` or move it to the level it belongs to" + (
            f" ({loc})." if loc else ".")
    fix += (f" `kubectl explain {str(obj.get('kind', '')).lower()}.{_explain_path(issue.path)}` "
            "lists the valid fields.")
    return ctx.finding("manifest-unknown-field", obj, msg, evidence=evidence, fix=fix)


def _explain_path(path: str) -> str:
    """`spec.template.spec.containers[0].readinessProbe.periodSecods` -> the parent, no indices."""
    parent = path.rpartition(".")[0] or path
    return re.sub(r"\[\d+\]", "", parent)


def _required_message(obj: Mapping[str, Any], issue: FieldIssue) -> tuple[str, str | None]:
    kind = str(obj.get("kind", ""))
    if issue.path == "spec.selector" and kind in _WORKLOADS:
        return (f"{kind} has no spec.selector: apps/v1 requires it and the API server rejects the "
                f"object ('spec.selector: Required value'); it must match the pod template's "
                f"labels", f"Add a selector equal to the template labels:\n\n{_selector_snippet(obj)}")
    if issue.key == "pathType":
        return (f"Ingress lacks {issue.path}: networking.k8s.io/v1 requires a pathType for every "
                f"path and the API server rejects the Ingress ('pathType: Required value')",
                "Add `pathType: Prefix` (matches the path and everything below it) or "
                "`pathType: Exact`; `ImplementationSpecific` leaves matching to the controller.")
    return (f"{kind} lacks {issue.path}, which {issue.message.rsplit(' by ', 1)[-1]} requires; the "
            f"API server rejects the object without it", None)


@rule("manifest-unknown-field", "manifest-invalid")
def schema_findings(ctx: RuleContext) -> Iterator[Finding]:
    """Unknown fields (typos), missing required fields and wrongly typed values, per object."""
    if not _from_manifests(ctx.snapshot):
        return
    for obj in ctx.snapshot:
        res = validate(obj)
        if res.schema is None:
            continue
        gone = removed_api(str(obj.get("apiVersion", "")), str(obj.get("kind", "")))
        for issue in res.issues:
            if issue.problem == "unknown":
                yield _unknown_finding(ctx, obj, res, issue)
            elif issue.problem == "required" and gone is None:
                parent = issue.path.rpartition(".")[0]
                loc = _location(ctx, obj, parent or "kind")
                msg, fix = _required_message(obj, issue)
                ev: dict[str, Any] = {"path": issue.path, "schema": res.schema}
                if loc:
                    ev["location"] = loc
                yield ctx.finding("manifest-invalid", obj, f"{_at(loc)}{msg}", evidence=ev, fix=fix)
            elif issue.problem == "type":
                loc = _location(ctx, obj, issue.path)
                ev = {"path": issue.path, "schema": res.schema}
                if loc:
                    ev["location"] = loc
                yield ctx.finding("manifest-invalid", obj,
                                  f"{_at(loc)}{obj.get('kind')}: {issue.message}; the API server "
                                  "rejects the object",
                                  evidence=ev)
        yield from _selector_mismatch(ctx, obj, gone is not None)


def _selector_mismatch(ctx: RuleContext, obj: Mapping[str, Any], removed: bool) -> Iterator[Finding]:
    if obj.get("kind") not in _WORKLOADS or removed:
        return
    selector = sub(obj, "spec").get("selector")
    if not isinstance(selector, Mapping):
        return
    labels = _template_labels(obj)
    loc = _location(ctx, obj, "spec.selector")
    ev: dict[str, Any] = {"selector": dict(selector), "template_labels": dict(labels)}
    if loc:
        ev["location"] = loc
    if not selector.get("matchLabels") and not selector.get("matchExpressions"):
        yield ctx.finding(
            "manifest-invalid", obj,
            f"{_at(loc)}spec.selector is empty: the API server rejects a {obj.get('kind')} whose "
            "selector selects nothing ('empty selector is invalid')",
            evidence=ev, fix=f"Select the template's labels:\n\n{_selector_snippet(obj)}")
    elif not selector_matches(selector, {str(k): str(v) for k, v in labels.items()}):
        yield ctx.finding(
            "manifest-invalid", obj,
            f"{_at(loc)}spec.selector does not match spec.template.metadata.labels: the API server "
            "rejects it ('selector does not match template labels')",
            evidence=ev, fix=f"Make the selector a subset of the template labels:\n\n{_selector_snippet(obj)}")
