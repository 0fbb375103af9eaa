"""A namespace named with `-n` that does not exist: said once, on stderr, before the walk.

Only a clear "404 Not Found" counts; when RBAC forbids reading namespaces, or the read fails,
nothing is said (kdiag cannot tell, and the walk reports what it can read).
"""

from __future__ import annotations

from kdiag.kube.access import ClusterReader

__all__ = ["missing_namespace_note"]


def missing_namespace_note(kube: ClusterReader, namespace: str | None) -> str | None:
    """One line for stderr when `namespace` does not exist in the cluster, else None."""
    if not namespace:
        return None
    from kdiag.errors import ClusterAccessError

    try:
        found = kube.get_raw("Namespace", None, namespace)
    except ClusterAccessError:  # forbidden or unreadable: cannot tell, say nothing
        return None
    if found is not None:
        return None
    where = f" in context {kube.context}" if kube.context else ""
    return (f"namespace {namespace!r} does not exist{where}; nothing is read from it "
            "(`kubectl get namespaces` lists them)")
