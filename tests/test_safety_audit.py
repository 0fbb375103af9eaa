"""The session-wide audit of lab API requests (tests/conftest.py) collects and can fail."""

from __future__ import annotations

import pytest

import kdiag.lab.apiserver.server as apiserver
from kdiag.lab.apiserver.server import RecordedRequest
from kdiag.lab.scenarios import SCENARIOS
from tests.conftest import assert_read_only

UA = "kdiag/test"


def test_the_audit_collects_every_lab_request(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kdiag.kube import Kube

    assert apiserver.AUDIT is not None, "the session fixture collects"
    before = len(apiserver.AUDIT)
    with apiserver.FakeApiServer(SCENARIOS["healthy"].objects) as api:
        kube = Kube.connect(kubeconfig=str(api.write_kubeconfig(tmp_path / "kc")))
        kube.list_raw("Secret", "default")
        kube.close()
    new = apiserver.AUDIT[before:]
    assert [(r.method, r.path) for r in new] == [("GET", "/api/v1/namespaces/default/secrets")]
    assert new[0].user_agent.startswith("kdiag/")
    assert_read_only(new)


@pytest.mark.parametrize(("rec", "problem"), [
    (RecordedRequest("POST", "/api/v1/namespaces/default/pods", {}, "application/json", True, user_agent=UA),
     "other than GET"),
    (RecordedRequest("DELETE", "/api/v1/namespaces/default/pods/x", {}, "", True, user_agent=UA), "other than GET"),
    (RecordedRequest("GET", "/api/v1/namespaces/default/secrets", {}, "application/json", True, user_agent=UA),
     "Secrets with their data"),
    (RecordedRequest("GET", "/api/v1/namespaces/default/secrets/tls", {}, "*/*", True, user_agent=UA),
     "Secrets with their data"),
])
def test_the_final_check_fails_on_a_write_or_a_secret_data_read(rec: RecordedRequest, problem: str) -> None:
    with pytest.raises(AssertionError, match=problem):
        assert_read_only([rec])


def test_upgrade_gets_and_metadata_secret_reads_pass() -> None:
    from kdiag.kube.client import PARTIAL_METADATA_LIST

    assert_read_only([
        RecordedRequest("GET", "/api/v1/namespaces/default/pods/p/portforward", {}, "", True, user_agent=UA,
                        upgrade="websocket"),
        RecordedRequest("GET", "/api/v1/namespaces/default/services/s:80/proxy/", {}, "", True, user_agent=UA),
        RecordedRequest("GET", "/api/v1/secrets", {}, PARTIAL_METADATA_LIST, True, user_agent=UA),
        RecordedRequest("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", {}, "", True,
                        user_agent="kubectl/v1.30"),  # kubectl in the lab tests, not kdiag
    ])
