"""Pure judges of data-plane answers (`kdiag.probes.answers`) and idle-cut attribution (`kdiag.layers`)."""

from __future__ import annotations

from typing import Any

from kdiag.layers import LayerTimeout, attribute_cut, edge_load_balancer
from kdiag.model import ProbeResult, SourceInfo
from kdiag.probes import answers
from kdiag.snapshot import Snapshot


def _p(**kw: Any) -> ProbeResult:
    extra = {k: kw.pop(k) for k in ("response_headers", "body_excerpt", "request") if k in kw}
    return ProbeResult(kind=kw.pop("kind", "http"), via="test", target=kw.pop("target", "http://127.0.0.1:80/"),
                       ok=kw.pop("ok", False), extra=extra, **kw)


def test_envoy_refusing_an_upgrade_is_told_from_the_app_refusing_it() -> None:
    # Envoy conn_manager_impl.cc: 403, empty body (upgrade_failed); gorilla/websocket: 403 with a reason body
    assert answers.upgrade_refused_by_proxy(_p(kind="websocket", status_code=403, body_excerpt=""))
    assert not answers.upgrade_refused_by_proxy(_p(kind="websocket", status_code=403,
                                                   body_excerpt="'Origin' header value not allowed"))
    assert not answers.upgrade_refused_by_proxy(_p(kind="http", status_code=403, body_excerpt=""))


def test_route_timeout_and_protocol_mismatch_signatures() -> None:
    assert answers.route_timeout(_p(status_code=504, body_excerpt="upstream request timeout"))  # Envoy router.cc
    assert not answers.route_timeout(_p(status_code=504, body_excerpt="<center>nginx</center>"))
    page = "<center>The plain HTTP request was sent to HTTPS port</center>"  # nginx special response page
    assert answers.plain_http_to_tls_port(_p(status_code=400, body_excerpt=page))
    assert not answers.plain_http_to_tls_port(_p(status_code=400, body_excerpt="bad"))
    ok = _p(ok=True, status_code=200)
    assert answers.tls_to_plain_port(_p(status_code=502), ok, backend_tls=True)
    assert not answers.tls_to_plain_port(_p(status_code=502), ok, backend_tls=None)


def _snap(objs: list[dict[str, Any]]) -> Snapshot:
    return Snapshot(tuple(objs), SourceInfo("manifests"))  # type: ignore[arg-type]


def test_redirects_that_answer_the_request_itself() -> None:
    ws = _p(kind="websocket", status_code=308, target="ws://127.0.0.1:30080/wss",
            request="GET /wss HTTP/1.1\nHost: chat.example.com",
            response_headers={"Location": "https://chat.example.com/wss"})
    assert (answers.redirect_to_itself(ws) or {})["shape"] == "websocket-redirected"
    loop = _p(status_code=308, ok=True, target="https://10.0.0.1:443/", request="GET / HTTP/1.1\nHost: a.example",
              response_headers={"location": "https://a.example/"})
    assert (answers.redirect_to_itself(loop) or {})["shape"] == "loop"
    upgrade = _p(status_code=308, ok=True, target="http://10.0.0.1:80/", request="GET / HTTP/1.1\nHost: a.example",
                 response_headers={"location": "https://a.example/"})
    assert answers.redirect_to_itself(upgrade) is None  # http -> https is the redirect doing its job


def test_an_idle_cut_is_attributed_to_the_layer_whose_timeout_matches() -> None:
    layers = [LayerTimeout("edge", 60, "alb ... idle_timeout.timeout_seconds", "default", who="AWS ALB"),
              LayerTimeout("ingress", 3600, "proxy-read-timeout", "annotation", name="read")]
    assert attribute_cut(60.4, "ingress", layers) == layers[0]
    assert attribute_cut(3601, "ingress", layers) == layers[1]
    assert attribute_cut(12.0, "ingress", layers) is None
    assert attribute_cut(None, "ingress", layers) is None


def test_the_load_balancer_in_front_is_recognised_from_its_objects() -> None:
    svc = {"kind": "Service", "apiVersion": "v1", "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx",
           "annotations": {"service.beta.kubernetes.io/aws-load-balancer-type": "nlb",
                           "service.beta.kubernetes.io/aws-load-balancer-listener-attributes.TCP-443":
                               "tcp.idle_timeout.seconds=600"}},
           "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]}}
    found = edge_load_balancer(_snap([svc]), [svc])
    assert found is not None and found[0] == "aws-nlb" and found[1].seconds == 600
    alb = {"kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
           "metadata": {"name": "front", "namespace": "ingress-nginx", "annotations": {"kubernetes.io/ingress.class": "alb"}},
           "spec": {"defaultBackend": {"service": {"name": "ingress-nginx-controller", "port": {"number": 80}}}}}
    plain = {**svc, "metadata": {"name": "ingress-nginx-controller", "namespace": "ingress-nginx"},
             "spec": {"type": "NodePort", "ports": [{"port": 80}]}}
    found = edge_load_balancer(_snap([plain, alb]), [plain])
    assert found is not None and found[0] == "aws-alb" and found[1].seconds == 60
    assert edge_load_balancer(_snap([plain]), [plain]) is None


def test_judging_every_route_reads_each_ingress_class_once(monkeypatch: Any) -> None:
    """The route list judges each route with edge_load_balancer: it must not scan every Ingress
    per route (603 routes took 34 s that way). Each Ingress's class is looked up once."""
    import copy

    import kdiag.layers as layers
    from kdiag.lab.scenarios import SCENARIOS
    from kdiag.route_stream import route_rows

    objs: list[dict[str, Any]] = [dict(o) for o in SCENARIOS["healthy"].objects]
    ingress = next(o for o in objs if o["kind"] == "Ingress")
    for i in range(40):
        c = copy.deepcopy(ingress)
        c["metadata"]["name"] = f"copy-{i}"
        c["spec"]["rules"][0]["host"] = f"app{i}.example.com"
        objs.append(c)
    snapshot = Snapshot(tuple(objs), SourceInfo("cluster"))
    calls = 0
    real = layers._ingress_class

    def counted(snap: Snapshot, ing: Any) -> str:
        nonlocal calls
        calls += 1
        return real(snap, ing)

    monkeypatch.setattr(layers, "_ingress_class", counted)
    rows = route_rows(snapshot)
    assert len(rows) >= 41
    assert calls == len(snapshot.list("Ingress"))
