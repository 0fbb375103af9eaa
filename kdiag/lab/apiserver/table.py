"""Server-side printing (`as=Table`) like kube-apiserver's, so `kubectl get` shows real columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["human_duration", "table"]

Obj = Mapping[str, Any]
Column = tuple[str, str, int, Callable[[Obj, dt.datetime], Any]]  # name, type, priority, cell


def human_duration(seconds: float) -> str:
    """Like k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    m = s // 60
    if m < 10:
        return f"{m}m" if s % 60 == 0 else f"{m}m{s % 60}s"
    if m < 180:
        return f"{m}m"
    h = m // 60
    if h < 8:
        return f"{h}h" if m % 60 == 0 else f"{h}h{m % 60}m"
    if h < 48:
        return f"{h}h"
    d = h // 24
    if h < 24 * 8:
        return f"{d}d" if h % 24 == 0 else f"{d}d{h % 24}h"
    if h < 24 * 365 * 2:
        return f"{d}d"
    y = d // 365
    if h < 24 * 365 * 8:
        return f"{y}y" if d % 365 == 0 else f"{y}y{d % 365}d"
    return f"{y}y"


def _age(obj: Obj, now: dt.datetime) -> str:
    ts = (obj.get("metadata") or {}).get("creationTimestamp")
    if not ts:
        return "<unknown>"
    try:
        created = dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return "<unknown>"
    return human_duration((now - created).total_seconds())


def _name(obj: Obj, _now: dt.datetime) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _spec(obj: Obj) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def _none(v: Any) -> str:
    return str(v) if v not in (None, "", []) else "<none>"


def _pod_ready(obj: Obj, _now: dt.datetime) -> str:
    statuses = _status(obj).get("containerStatuses") or []
    total = len(_spec(obj).get("containers") or [])
    ready = sum(1 for c in statuses if c.get("ready"))
    return f"{ready}/{total}"


def _pod_status(obj: Obj, _now: dt.datetime) -> str:
    md = obj.get("metadata") or {}
    reason = _status(obj).get("reason") or _status(obj).get("phase") or "Unknown"
    for c in _status(obj).get("containerStatuses") or []:
        state = c.get("state") or {}
        if (state.get("waiting") or {}).get("reason"):
            reason = state["waiting"]["reason"]
        elif (state.get("terminated") or {}).get("reason"):
            reason = state["terminated"]["reason"]
    if md.get("deletionTimestamp"):
        reason = "Terminating"
    return str(reason)


def _pod_restarts(obj: Obj, _now: dt.datetime) -> int:
    return sum(int(c.get("restartCount") or 0) for c in _status(obj).get("containerStatuses") or [])


def _svc_ports(obj: Obj, _now: dt.datetime) -> str:
    out = []
    for p in _spec(obj).get("ports") or []:
        text = f"{p.get('port')}"
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        out.append(f"{text}/{p.get('protocol', 'TCP')}")
    return ",".join(out) or "<none>"


def _svc_external(obj: Obj, _now: dt.datetime) -> str:
    spec = _spec(obj)
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName", "<none>"))
    ips = [i.get("ip") or i.get("hostname") for i in
           ((_status(obj).get("loadBalancer") or {}).get("ingress") or [])]
    ips += list(spec.get("externalIPs") or [])
    if ips:
        return ",".join(str(i) for i in ips)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


def _ing_hosts(obj: Obj, _now: dt.datetime) -> str:
    hosts = [r.get("host") for r in _spec(obj).get("rules") or [] if r.get("host")]
    return ",".join(hosts) if hosts else "*"


def _ing_address(obj: Obj, _now: dt.datetime) -> str:
    lb = ((_status(obj).get("loadBalancer") or {}).get("ingress")) or []
    return ",".join(str(i.get("ip") or i.get("hostname")) for i in lb)


def _ing_ports(obj: Obj, _now: dt.datetime) -> str:
    return "80, 443" if _spec(obj).get("tls") else "80"


def _ep_endpoints(obj: Obj, _now: dt.datetime) -> str:
    out = []
    for s in obj.get("subsets") or []:
        for a in s.get("addresses") or []:
            for p in s.get("ports") or []:
                out.append(f"{a.get('ip')}:{p.get('port')}")
    if not out:
        return "<none>"
    return ",".join(out[:3]) + (f" + {len(out) - 3} more..." if len(out) > 3 else "")


def _slice_ports(obj: Obj, _now: dt.datetime) -> str:
    ports = [str(p.get("port")) for p in obj.get("ports") or [] if p.get("port") is not None]
    return ",".join(ports) if ports else "<unset>"


def _slice_endpoints(obj: Obj, _now: dt.datetime) -> str:
    addrs = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
    if not addrs:
        return "<unset>"
    return ",".join(addrs[:3]) + (f" + {len(addrs) - 3} more..." if len(addrs) > 3 else "")


def _replicas(obj: Obj, _now: dt.datetime) -> str:
    return f"{_status(obj).get('readyReplicas', 0)}/{_spec(obj).get('replicas', 1)}"


def _event_last_seen(obj: Obj, now: dt.datetime) -> str:
    md = obj.get("metadata") or {}
    ts = (obj.get("lastTimestamp") or obj.get("deprecatedLastTimestamp") or obj.get("eventTime")
          or md.get("creationTimestamp"))
    return _age({"metadata": {"creationTimestamp": ts}}, now)


def _event_object(obj: Obj, _now: dt.datetime) -> str:
    ref = obj.get("involvedObject") or obj.get("regarding") or {}
    return f"{str(ref.get('kind', '')).lower()}/{ref.get('name', '')}"


def _condition(kind: str) -> Callable[[Obj, dt.datetime], str]:
    """A condition's status, like the CRD printer column `.status.conditions[?(@.type=="X")].status`."""
    def cell(obj: Obj, _now: dt.datetime) -> str:
        return next((str(c.get("status", "")) for c in _status(obj).get("conditions") or ()
                     if c.get("type") == kind), "")
    return cell


def _hostnames(obj: Obj, _now: dt.datetime) -> str:
    """The CRD printer column `.spec.hostnames`: a JSON array, as kube-apiserver prints it."""
    import json

    names = _spec(obj).get("hostnames")
    return json.dumps(list(names), separators=(",", ":")) if names else ""


_NAME: Column = ("Name", "string", 0, _name)
_AGE: Column = ("Age", "string", 0, _age)

_COLUMNS: dict[str, Sequence[Column]] = {
    "Pod": (_NAME, ("Ready", "string", 0, _pod_ready), ("Status", "string", 0, _pod_status),
            ("Restarts", "string", 0, _pod_restarts), _AGE,
            ("IP", "string", 1, lambda o, _n: _none(_status(o).get("podIP"))),
            ("Node", "string", 1, lambda o, _n: _none(_spec(o).get("nodeName")))),
    "Service": (_NAME, ("Type", "string", 0, lambda o, _n: _spec(o).get("type", "ClusterIP")),
                ("Cluster-IP", "string", 0, lambda o, _n: _none(_spec(o).get("clusterIP"))),
                ("External-IP", "string", 0, _svc_external), ("Port(s)", "string", 0, _svc_ports),
                _AGE,
                ("Selector", "string", 1, lambda o, _n: ",".join(
                    f"{k}={v}" for k, v in sorted((_spec(o).get("selector") or {}).items())) or "<none>")),
    "Ingress": (_NAME, ("Class", "string", 0, lambda o, _n: _none(_spec(o).get("ingressClassName"))),
                ("Hosts", "string", 0, _ing_hosts), ("Address", "string", 0, _ing_address),
                ("Ports", "string", 0, _ing_ports), _AGE),
    "IngressClass": (_NAME, ("Controller", "string", 0, lambda o, _n: _spec(o).get("controller", "")),
                     ("Parameters", "string", 0, lambda o, _n: "<none>"), _AGE),
    "Endpoints": (_NAME, ("Endpoints", "string", 0, _ep_endpoints), _AGE),
    "EndpointSlice": (_NAME, ("AddressType", "string", 0, lambda o, _n: o.get("addressType", "")),
                      ("Ports", "string", 0, _slice_ports), ("Endpoints", "string", 0, _slice_endpoints),
                      _AGE),
    "Deployment": (_NAME, ("Ready", "string", 0, _replicas),
                   ("Up-to-date", "integer", 0, lambda o, _n: int(_status(o).get("updatedReplicas", 0))),
                   ("Available", "integer", 0, lambda o, _n: int(_status(o).get("availableReplicas", 0))),
                   _AGE),
    "StatefulSet": (_NAME, ("Ready", "string", 0, _replicas), _AGE),
    "ReplicaSet": (_NAME, ("Desired", "integer", 0, lambda o, _n: int(_spec(o).get("replicas", 1))),
                   ("Current", "integer", 0, lambda o, _n: int(_status(o).get("replicas", 0))),
                   ("Ready", "integer", 0, lambda o, _n: int(_status(o).get("readyReplicas", 0))), _AGE),
    "Namespace": (_NAME, ("Status", "string", 0, lambda o, _n: _status(o).get("phase", "Active")), _AGE),
    "Secret": (_NAME, ("Type", "string", 0, lambda o, _n: o.get("type", "Opaque")),
               ("Data", "string", 0, lambda o, _n: len(o.get("data") or {})), _AGE),
    "Event": (("Last Seen", "string", 0, _event_last_seen),
              ("Type", "string", 0, lambda o, _n: o.get("type", "")),
              ("Reason", "string", 0, lambda o, _n: o.get("reason", "")),
              ("Object", "string", 0, _event_object),
              ("Message", "string", 0, lambda o, _n: o.get("message") or o.get("note") or "")),
    "ConfigMap": (_NAME, ("Data", "string", 0, lambda o, _n: len(o.get("data") or {})), _AGE),
    # gateway.networking.k8s.io: the CRDs' additionalPrinterColumns (gateway-api v1.6 standard channel)
    "GatewayClass": (_NAME, ("Controller", "string", 0, lambda o, _n: _spec(o).get("controllerName", "")),
                     ("Accepted", "string", 0, _condition("Accepted")), _AGE,
                     ("Description", "string", 1, lambda o, _n: _spec(o).get("description", ""))),
    "Gateway": (_NAME, ("Class", "string", 0, lambda o, _n: _spec(o).get("gatewayClassName", "")),
                ("Address", "string", 0, lambda o, _n: ",".join(
                    str(a.get("value")) for a in _status(o).get("addresses") or () if a.get("value"))),
                ("Programmed", "string", 0, _condition("Programmed")), _AGE),
    "HTTPRoute": (_NAME, ("Hostnames", "string", 0, _hostnames), _AGE),
    "GRPCRoute": (_NAME, ("Hostnames", "string", 0, _hostnames), _AGE),
    "ReferenceGrant": (_NAME, _AGE),
}


def table(objects: Sequence[Obj], kind: str, metadata: Mapping[str, Any], include_object: str,
          now: dt.datetime | None = None) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of `objects`; row objects per includeObject (None|Metadata|Object)."""
    now = now or dt.datetime.now(dt.UTC)
    columns = _COLUMNS.get(kind, (_NAME, ("Created At", "date", 0, lambda o, _n: (
        o.get("metadata") or {}).get("creationTimestamp", ""))))
    rows = []
    for obj in objects:
        row: dict[str, Any] = {"cells": [cell(obj, now) for _n, _t, _p, cell in columns]}
        if include_object == "Object":
            row["object"] = dict(obj)
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata") or {}}
        rows.append(row)
    return {
        "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": dict(metadata),
        "columnDefinitions": [
            {"name": n, "type": t, "format": "name" if n == "Name" else "", "description": n,
             "priority": p} for n, t, p, _c in columns],
        "rows": rows,
    }
