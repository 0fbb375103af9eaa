"""What the rest of kdiag needs from a connection to a cluster, as Protocols.

- `ClusterReader`: reading objects (the cluster source, `kdiag.sources.cluster.load_cluster`).
- `ClusterAccess`: that plus reaching pods and Services through the API server (the walk and
  the cluster session in `kdiag.diagnose`).

`kdiag.kube.Kube` implements both (checked by mypy below); tests may pass anything with these
members.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kdiag.kube.portforward import PortForward

if TYPE_CHECKING:
    from kdiag.endpoint import Endpoint

__all__ = ["ClusterAccess", "ClusterReader", "WatchEvents"]


class WatchEvents(Protocol):
    """The events of one watch (ADDED/MODIFIED/DELETED/ERROR with the object or Status)."""

    def __iter__(self) -> Iterator[tuple[str, dict[str, Any]]]: ...

    def __next__(self) -> tuple[str, dict[str, Any]]: ...

    def close(self) -> None: ...


@runtime_checkable
class ClusterReader(Protocol):
    """Reads of one API server, as raw JSON.

    Reads raise `kdiag.kube.errors.Forbidden` / `NotFound` (callers degrade) or another
    `ClusterAccessError` (the cluster cannot be read at all).
    """

    @property
    def context(self) -> str | None:
        """The kubeconfig context (None in-cluster)."""
        ...

    @property
    def namespace(self) -> str:
        """The namespace to focus on when none is given."""
        ...

    @property
    def server(self) -> str:
        """The API server's URL (for messages and the report; never credentials)."""
        ...

    def check_access(self) -> dict[str, Any]:
        """A fast reachability check; the version document when the server shares it."""
        ...

    def list_raw(
        self,
        kind: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        limit: int = 500,
        max_items: int | None = None,
    ) -> list[dict[str, Any]]:
        """All objects of a kind in a namespace (None: all namespaces), as raw JSON, in pages of
        `limit`."""
        ...

    def get_raw(self, kind: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        """One object as raw JSON, or None when it does not exist."""
        ...


@runtime_checkable
class ClusterAccess(ClusterReader, Protocol):
    """Read-only access to one API server, as the walk and the cluster session use it."""

    def port_forward(self, namespace: str, pod: str, port: int) -> AbstractAsyncContextManager[PortForward]:
        """A local bridge to pod:port (``async with ... as bridge: host, port = bridge``)."""
        ...

    def port_forward_error(self, namespace: str, pod: str, port: int) -> str | None:
        """The remote side's words for what went wrong on the latest bridge to pod:port."""
        ...

    def service_proxy_endpoint(
        self, namespace: str, service: str, port: int | str, *, scheme: str = "http"
    ) -> Endpoint:
        """An Endpoint that reaches a Service port through the API server's service proxy."""
        ...

    def watch(
        self,
        kind: str,
        namespace: str | None,
        *,
        label_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 60,
    ) -> WatchEvents:
        """A read-only watch: (type, object) pairs from `resourceVersion` on; `close()` ends it."""
        ...

    def stats(self) -> dict[str, int]:
        """What reading the cluster cost so far: {"api_requests": N, "api_bytes": N}."""
        ...

    def close(self) -> None:
        """Release pooled connections."""
        ...


if TYPE_CHECKING:
    from kdiag.kube.client import Kube

    def _kube_is_cluster_access(kube: Kube) -> ClusterAccess:
        return kube  # mypy reports this line when Kube no longer satisfies the Protocol
