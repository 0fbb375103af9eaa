"""Shared fixtures: a clean environment for every test, and the lab's loopback-only rule."""

from __future__ import annotations

import os
import shutil

import pytest


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reads the user's kubeconfig or proxy settings."""
    for var in ("KUBECONFIG", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy",
                "all_proxy", "NO_COLOR", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        monkeypatch.delenv(var, raising=False)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))


def nginx_binary() -> str | None:
    return shutil.which("nginx") or (os.path.exists("/usr/sbin/nginx") and "/usr/sbin/nginx") or None


def require_nginx() -> str:
    """The nginx binary; skips locally when missing, fails in CI (CI=true) where it must exist."""
    path = nginx_binary()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("nginx is required in CI (.ci/run installs it) but was not found")
        pytest.skip("nginx not installed")
    return path


def require_haproxy() -> str:
    """The haproxy binary; skips locally when missing, fails in CI (CI=true) where it must exist."""
    path = shutil.which("haproxy") or (os.path.exists("/usr/sbin/haproxy") and "/usr/sbin/haproxy") or None
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("haproxy is required in CI (.ci/run installs it) but was not found")
        pytest.skip("haproxy not installed")
    return path


def require_dataplane(scenario: object) -> None:
    """A lab scenario whose data plane is a real binary (HAProxy: there is no emulation of it) needs
    that binary: skipped locally when missing, failed in CI (see `require_haproxy`)."""
    from kdiag.lab.scenario_lab import HAPROXY_FLAVORS

    if getattr(scenario, "data_plane", None) in HAPROXY_FLAVORS:
        require_haproxy()


@pytest.fixture(scope="session", autouse=True)
def _audit_lab_api_requests() -> object:
    """Every request any lab API server receives in this session is collected; at the end, the
    safety promise is checked over all of them: kdiag only ever sends GET (port-forward and
    service-proxy upgrades are GETs too) and reads Secrets metadata-only."""
    import kdiag.lab.apiserver.server as server

    server.AUDIT = []
    yield server.AUDIT
    recorded, server.AUDIT = server.AUDIT, None
    assert_read_only(recorded)


def assert_read_only(recorded: list) -> None:  # type: ignore[type-arg]
    from kdiag.kube.client import PARTIAL_METADATA, PARTIAL_METADATA_LIST

    writes = [f"{r.method} {r.path}" for r in recorded if r.method != "GET" and r.user_agent.startswith("kdiag/")]
    assert not writes, f"kdiag sent requests other than GET: {writes[:10]}"
    secret_reads = [r for r in recorded if "/secrets" in r.path and r.user_agent.startswith("kdiag/")]
    full = [f"{r.path} Accept: {r.accept}" for r in secret_reads
            if r.accept not in (PARTIAL_METADATA, PARTIAL_METADATA_LIST)]
    assert not full, f"kdiag read Secrets with their data: {full[:10]}"
