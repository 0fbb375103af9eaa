"""The service proxy root: bare `/proxy` redirects to `/proxy/`, and `/proxy/` reaches the backend."""

from __future__ import annotations

import asyncio

from kdiag.endpoint import Endpoint
from kdiag.kube import Kube
from kdiag.lab.scenario_lab import Lab
from kdiag.lab.scenarios import SCENARIOS
from kdiag.probes.http import probe_http


def test_proxy_root_with_slash_reaches_the_backend_and_bare_root_redirects() -> None:
    with Lab(SCENARIOS["healthy"]) as lab:
        kube = Kube.connect(kubeconfig=str(lab.kubeconfig))
        try:
            ep = kube.service_proxy_endpoint("default", "chatapp-svc", "web")
            root = asyncio.run(probe_http("http://chatapp.com/", ep, timeout=3))
            assert root.status_code == 200, (root.target, root.detail)
            assert root.target.endswith("/proxy/")
            bare = Endpoint(**{**ep.__dict__, "path_prefix": ""})
            prefix = ep.path_prefix
            redirected = asyncio.run(probe_http(f"http://chatapp.com{prefix}", bare, timeout=3))
            assert redirected.status_code == 301
            location = {k.lower(): v for k, v in (redirected.extra.get("response_headers") or {}).items()}["location"]
            assert location == prefix + "/"
        finally:
            kube.close()
