"""Who may do what on the fake API server: an RBAC-like `forbidden` matrix and access reviews."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aiohttp import web

from kdiag.lab.apiserver.request_info import Target
from kdiag.lab.apiserver.responses import error, json_response, status_details, status_response

__all__ = ["USER", "Forbidden", "access_review", "denied", "forbidden_response"]

#: The user every authenticated request runs as (shown in Forbidden messages, like RBAC does).
USER = "system:serviceaccount:default:kdiag-lab"
#: (verb, resource, namespace) denied; "*" matches any verb, resource or namespace.
Forbidden = tuple[str, str, str | None]


def denied(forbidden: Iterable[Forbidden], verbs: Iterable[str], resource: str,
           namespace: str | None, cluster_wide_list: bool) -> bool:
    verbs = set(verbs)
    for verb, plural, ns in forbidden:
        if verb not in verbs and verb != "*":
            continue
        if plural not in (resource, "*"):
            continue
        if ns == "*" or ns == namespace or cluster_wide_list:
            return True
    return False


def forbidden_response(verb: str, target: Target, resource: str) -> web.Response:
    res = target.resource
    who = f'{res.plural} "{target.name}"' if target.name else res.plural
    where = (f'in the namespace "{target.namespace}"' if target.namespace is not None
             else "at the cluster scope")
    msg = (f'{who} is forbidden: User "{USER}" cannot {verb} resource "{resource}" '
           f'in API group "{res.group}" {where}')
    return status_response(403, "Forbidden", msg, status_details(res, target.name))


async def access_review(request: web.Request, t: Target,
                        forbidden: Iterable[Forbidden]) -> web.Response:
    """Answer a SelfSubjectAccessReview from the `forbidden` matrix."""
    if request.method != "POST" or t.name is not None:
        return error(405, "MethodNotAllowed",
                     "the server does not allow this method on the requested resource")
    try:
        review = json.loads(await request.read() or b"{}")
        attrs = (review.get("spec") or {}).get("resourceAttributes") or {}
    except (ValueError, AttributeError):
        return error(400, "BadRequest", "the body of the request was in an unknown format")
    verb = str(attrs.get("verb") or "")
    plural, _, sub = str(attrs.get("resource") or "").partition("/")
    sub = str(attrs.get("subresource") or "") or sub
    ns = attrs.get("namespace") or None
    full = f"{plural}/{sub}" if sub else plural
    connect = sub in ("proxy", "portforward")
    # like RBAC: no reason on a denial (the lab is read-only, writes are never allowed)
    allowed = ((verb in ("get", "list", "watch") or (connect and verb == "create"))
               and not denied(forbidden, {verb}, full, ns, ns is None and verb in ("list", "watch")))
    status: dict[str, Any] = {"allowed": allowed}
    review = {"kind": "SelfSubjectAccessReview", "apiVersion": "authorization.k8s.io/v1",
              "metadata": {"creationTimestamp": None}, "spec": review.get("spec") or {},
              "status": status}
    return json_response(review, 201)
