"""Read-only access to one Kubernetes API server: kubeconfig, raw JSON reads, port-forward, proxy.

`Kube.connect()` resolves credentials like kubectl (``--kubeconfig``, ``$KUBECONFIG`` with several
files merged, ``~/.kube/config``, then in-cluster config) through the official client's loaders,
so bearer tokens, client certificates and exec plugins work. Every read is a GET with a timeout,
answered as raw JSON dicts (never client models). Nothing here writes to the cluster.

Bad input raises `InputError` and access problems `ClusterAccessError`, each with one clear line.
A 403 raises `Forbidden` (a `ClusterAccessError`), so callers can degrade instead of stopping.
The package itself is import-light: the kubernetes client, urllib3 and websockets are imported
inside the functions that need them. Credentials are never exposed, logged or recorded.

Modules, in reading order:

- `errors`: ApiError, Unauthorized, Forbidden, NotFound; one-line wire errors.
- `resources`: where each kind lives in the API (`RESOURCES`), URL paths.
- `kubeconfig`: find, merge and check kubeconfig files; pick a context; load credentials.
- `portforward`: the local TCP bridge to a pod port over pods/portforward.
- `client`: `Kube`, the connection (bounded GETs, list/get, TLS, port-forward, service proxy).
- `access`: `ClusterReader` / `ClusterAccess`, Protocols of what the rest of kdiag uses of `Kube`.
"""

from __future__ import annotations

from kdiag.kube.access import ClusterAccess, ClusterReader
from kdiag.kube.client import PARTIAL_METADATA, PARTIAL_METADATA_LIST, Kube
from kdiag.kube.errors import ApiError, Forbidden, NotFound, Unauthorized, describe_connection_error
from kdiag.kube.kubeconfig import KubeconfigInfo, load_kubeconfig
from kdiag.kube.portforward import PortForward
from kdiag.kube.resources import RESOURCES, Resource, service_proxy_path

__all__ = [
    "PARTIAL_METADATA",
    "PARTIAL_METADATA_LIST",
    "RESOURCES",
    "ApiError",
    "ClusterAccess",
    "ClusterReader",
    "Forbidden",
    "Kube",
    "KubeconfigInfo",
    "NotFound",
    "PortForward",
    "Resource",
    "Unauthorized",
    "describe_connection_error",
    "load_kubeconfig",
    "service_proxy_path",
]
