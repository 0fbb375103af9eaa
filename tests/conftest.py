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
