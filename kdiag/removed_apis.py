"""Kubernetes API versions that are no longer served, and what replaced them.

`removed_api(apiVersion, kind)` answers from a table after the Kubernetes deprecated-API
migration guide (https://kubernetes.io/docs/reference/using-api/deprecation-guide/);
`LEGACY_FIELDS` names the fields a removed version had that its replacement does not, so that
the field walker in `kdiag.schema` does not call them typos.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["LEGACY_FIELDS", "REMOVED_APIS", "RemovedApi", "removed_api"]


@dataclass(frozen=True)
class RemovedApi:
    """An apiVersion (for one kind) that current Kubernetes no longer serves."""

    api_version: str
    kind: str
    removed_in: str  # Kubernetes minor version, e.g. "1.16"
    replacement: str | None  # apiVersion to use instead; None when the kind itself is gone
    note: str = ""


def _removed_table() -> dict[tuple[str, str], RemovedApi]:
    rows: list[tuple[str, tuple[str, ...], str, str | None, str]] = [
        ("extensions/v1beta1", ("Deployment", "DaemonSet", "ReplicaSet"), "1.16", "apps/v1", ""),
        ("extensions/v1beta1", ("NetworkPolicy",), "1.16", "networking.k8s.io/v1", ""),
        ("extensions/v1beta1", ("PodSecurityPolicy",), "1.16", None,
         "PodSecurityPolicy is gone since 1.25; use Pod Security Admission (namespace labels)"),
        ("extensions/v1beta1", ("Ingress",), "1.22", "networking.k8s.io/v1", ""),
        ("apps/v1beta1", ("Deployment", "StatefulSet", "ReplicaSet", "ControllerRevision"), "1.16",
         "apps/v1", ""),
        ("apps/v1beta2", ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet",
                          "ControllerRevision"), "1.16", "apps/v1", ""),
        ("networking.k8s.io/v1beta1", ("Ingress", "IngressClass"), "1.22", "networking.k8s.io/v1", ""),
        ("rbac.authorization.k8s.io/v1beta1", ("Role", "RoleBinding", "ClusterRole",
                                               "ClusterRoleBinding"), "1.22",
         "rbac.authorization.k8s.io/v1", ""),
        ("rbac.authorization.k8s.io/v1alpha1", ("Role", "RoleBinding", "ClusterRole",
                                                "ClusterRoleBinding"), "1.22",
         "rbac.authorization.k8s.io/v1", ""),
        ("admissionregistration.k8s.io/v1beta1", ("MutatingWebhookConfiguration",
                                                  "ValidatingWebhookConfiguration"), "1.22",
         "admissionregistration.k8s.io/v1", ""),
        ("apiextensions.k8s.io/v1beta1", ("CustomResourceDefinition",), "1.22",
         "apiextensions.k8s.io/v1", ""),
        ("apiregistration.k8s.io/v1beta1", ("APIService",), "1.22", "apiregistration.k8s.io/v1", ""),
        ("certificates.k8s.io/v1beta1", ("CertificateSigningRequest",), "1.22",
         "certificates.k8s.io/v1", ""),
        ("coordination.k8s.io/v1beta1", ("Lease",), "1.22", "coordination.k8s.io/v1", ""),
        ("scheduling.k8s.io/v1beta1", ("PriorityClass",), "1.22", "scheduling.k8s.io/v1", ""),
        ("scheduling.k8s.io/v1alpha1", ("PriorityClass",), "1.17", "scheduling.k8s.io/v1", ""),
        ("storage.k8s.io/v1beta1", ("CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"),
         "1.22", "storage.k8s.io/v1", ""),
        ("storage.k8s.io/v1beta1", ("CSIStorageCapacity",), "1.27", "storage.k8s.io/v1", ""),
        ("batch/v1beta1", ("CronJob",), "1.25", "batch/v1", ""),
        ("batch/v2alpha1", ("CronJob",), "1.21", "batch/v1", ""),
        ("discovery.k8s.io/v1beta1", ("EndpointSlice",), "1.25", "discovery.k8s.io/v1", ""),
        ("events.k8s.io/v1beta1", ("Event",), "1.25", "events.k8s.io/v1", ""),
        ("policy/v1beta1", ("PodDisruptionBudget",), "1.25", "policy/v1", ""),
        ("policy/v1beta1", ("PodSecurityPolicy",), "1.25", None,
         "PodSecurityPolicy was removed; use Pod Security Admission (namespace labels)"),
        ("node.k8s.io/v1beta1", ("RuntimeClass",), "1.25", "node.k8s.io/v1", ""),
        ("autoscaling/v2beta1", ("HorizontalPodAutoscaler",), "1.25", "autoscaling/v2", ""),
        ("autoscaling/v2beta2", ("HorizontalPodAutoscaler",), "1.26", "autoscaling/v2", ""),
        ("flowcontrol.apiserver.k8s.io/v1beta1", ("FlowSchema", "PriorityLevelConfiguration"),
         "1.26", "flowcontrol.apiserver.k8s.io/v1", ""),
        ("flowcontrol.apiserver.k8s.io/v1beta2", ("FlowSchema", "PriorityLevelConfiguration"),
         "1.29", "flowcontrol.apiserver.k8s.io/v1", ""),
        ("flowcontrol.apiserver.k8s.io/v1beta3", ("FlowSchema", "PriorityLevelConfiguration"),
         "1.32", "flowcontrol.apiserver.k8s.io/v1", ""),
    ]
    table: dict[tuple[str, str], RemovedApi] = {}
    for api_version, kinds, removed_in, replacement, note in rows:
        for kind in kinds:
            table[(api_version, kind)] = RemovedApi(api_version, kind, removed_in, replacement, note)
    return table


#: (apiVersion, kind) -> what happened to it (Kubernetes deprecation guide).
REMOVED_APIS: Mapping[tuple[str, str], RemovedApi] = _removed_table()

#: Whole group-versions that no longer exist, for kinds the table above does not name.
_REMOVED_GROUP_VERSIONS = {
    "extensions/v1beta1": "1.22", "apps/v1beta1": "1.16", "apps/v1beta2": "1.16",
}

#: Fields that existed in a removed version but not in its replacement (paths with [] for lists).
LEGACY_FIELDS: Mapping[str, tuple[str, ...]] = {
    "Ingress": ("spec.backend", "spec.rules[].http.paths[].backend.serviceName",
                "spec.rules[].http.paths[].backend.servicePort"),
    "Deployment": ("spec.rollbackTo", "status.observedGeneration"),
    "DaemonSet": ("spec.templateGeneration",),
    "EndpointSlice": ("endpoints[].topology",),
    "HorizontalPodAutoscaler": (
        "spec.metrics[].resource.targetAverageUtilization",
        "spec.metrics[].resource.targetAverageValue",
        "spec.metrics[].pods.metricName", "spec.metrics[].pods.targetAverageValue",
        "spec.metrics[].pods.selector",
        "spec.metrics[].object.metricName", "spec.metrics[].object.target",
        "spec.metrics[].object.targetValue", "spec.metrics[].object.averageValue",
        "spec.metrics[].object.selector",
        "spec.metrics[].external.metricName", "spec.metrics[].external.metricSelector",
        "spec.metrics[].external.targetValue", "spec.metrics[].external.targetAverageValue",
        "status.currentMetrics",
    ),
    "CustomResourceDefinition": ("spec.version", "spec.validation", "spec.additionalPrinterColumns",
                                 "spec.subresources", "spec.versions[].JSONPath"),
}


def removed_api(api_version: str, kind: str) -> RemovedApi | None:
    """What replaced a removed apiVersion of a kind, or None when it is still served."""
    hit = REMOVED_APIS.get((api_version, kind))
    if hit is not None:
        return hit
    if api_version in _REMOVED_GROUP_VERSIONS:
        return RemovedApi(api_version, kind, _REMOVED_GROUP_VERSIONS[api_version], None,
                          "this API group version no longer exists")
    return None
