"""Kubeconfig files for the lab API server (inline CA, bearer token), written with mode 0600."""

from __future__ import annotations

import base64
import os
import pathlib
from typing import Any

__all__ = ["kubeconfig_dict", "write_kubeconfig"]


def kubeconfig_dict(*, server: str, ca_pem: bytes, token: str, context: str = "kdiag-lab",
                    namespace: str = "default", cluster: str | None = None,
                    user: str | None = None) -> dict[str, Any]:
    """A one-context kubeconfig: cluster `server` trusted via `ca_pem`, user with a bearer token."""
    cluster = cluster or context
    user = user or f"{context}-user"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster, "cluster": {
            "server": server,
            "certificate-authority-data": base64.b64encode(ca_pem).decode("ascii"),
        }}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": context, "context": {"cluster": cluster, "user": user,
                                                   "namespace": namespace}}],
        "current-context": context,
    }


def write_kubeconfig(path: str | os.PathLike[str], *, server: str, ca_pem: bytes, token: str,
                     context: str = "kdiag-lab", namespace: str = "default") -> pathlib.Path:
    """Write `kubeconfig_dict(...)` as YAML to `path` (parents created, mode 0600)."""
    import yaml

    out = pathlib.Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    doc = kubeconfig_dict(server=server, ca_pem=ca_pem, token=token, context=context,
                          namespace=namespace)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(doc, fh, sort_keys=False)
    os.chmod(out, 0o600)
    return out
