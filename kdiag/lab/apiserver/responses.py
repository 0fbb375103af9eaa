"""The fake API server's answers: JSON documents, `Status` errors and Accept negotiation."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from kdiag.lab.apiserver.resources import Resource

__all__ = ["JSON", "error", "item", "json_response", "media", "not_acceptable",
           "not_found_path", "partial", "status_details", "status_response"]

JSON = "application/json"


def json_response(doc: Any, status: int = 200) -> web.Response:
    body = json.dumps(doc, separators=(",", ":")).encode()
    return web.Response(status=status, body=body,
                        headers={"Content-Type": JSON, "Cache-Control": "no-cache, private",
                                 "Audit-Id": str(uuid.uuid4())})


def status_response(code: int, reason: str, message: str,
                    details: Mapping[str, Any] | None = None) -> web.Response:
    doc: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                           "status": "Failure", "message": message, "reason": reason}
    if details:
        doc["details"] = dict(details)
    doc["code"] = code
    return json_response(doc, code)


def error(code: int, reason: str, message: str) -> web.Response:
    return status_response(code, reason, message)


def status_details(res: Resource, name: str | None) -> dict[str, Any]:
    d: dict[str, Any] = {}
    if name:
        d["name"] = name
    if res.group:
        d["group"] = res.group
    d["kind"] = res.plural
    return d


def media(accept: str, want_list: bool) -> str | None:
    """'json', 'partial', 'table' or None (406) for an Accept header; the first acceptable wins."""
    if not accept.strip():
        return "json"
    for candidate in accept.split(","):
        parts = [p.strip() for p in candidate.split(";")]
        mime = parts[0].lower()
        params = {}
        for p in parts[1:]:
            k, _, v = p.partition("=")
            params[k.strip().lower()] = v.strip()
        if mime not in ("application/json", "application/*", "*/*"):
            continue
        as_ = params.get("as")
        if not as_:
            return "json"
        if params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            if as_ == ("PartialObjectMetadataList" if want_list else "PartialObjectMetadata"):
                return "partial"
            if as_ == "Table" and params.get("v") == "v1":
                return "table"
    return None


def partial(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
            "metadata": obj.get("metadata") or {}}


def item(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}


def not_found_path() -> web.Response:
    return status_response(404, "NotFound", "the server could not find the requested resource")


def not_acceptable() -> web.Response:
    return error(406, "NotAcceptable",
                 "only the following media types are accepted: application/json, "
                 "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, "
                 "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1")
