"""Printers for the administrative groups, after upstream ``printers.go``.

storage.k8s.io, scheduling.k8s.io, node.k8s.io, certificates.k8s.io,
apiregistration.k8s.io (kube-aggregator's own convertor),
flowcontrol.apiserver.k8s.io and admissionregistration.k8s.io.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pinnace.api.gofmt import label_selector_text
from pinnace.api.printers._common import (
    NONE,
    UNSET,
    Column,
    Obj,
    Printer,
    age_col,
    b,
    col,
    doc,
    has,
    human_duration,
    i,
    lst,
    m,
    meta_age,
    name_col,
    name_of,
    quantity,
    s,
)

# --- storage.k8s.io ---------------------------------------------------------------


def _storage(kind: str, field: str) -> str:
    return doc(f"io.k8s.api.storage.v1.{kind}", field)


def _storage_class_columns() -> list[Column]:
    return [
        name_col(),
        col("Provisioner", desc=_storage("StorageClass", "provisioner")),
        col("ReclaimPolicy", desc=_storage("StorageClass", "reclaimPolicy")),
        col("VolumeBindingMode", desc=_storage("StorageClass", "volumeBindingMode")),
        col("AllowVolumeExpansion", desc=_storage("StorageClass", "allowVolumeExpansion")),
        age_col(),
    ]


def _storage_class_row(obj: Obj, now: datetime) -> list[Any]:
    annotations = m(m(obj, "metadata"), "annotations")
    name = name_of(obj)
    if (
        s(annotations, "storageclass.kubernetes.io/is-default-class") == "true"
        or s(annotations, "storageclass.beta.kubernetes.io/is-default-class") == "true"
    ):
        name += " (default)"
    return [
        name,
        s(obj, "provisioner"),
        s(obj, "reclaimPolicy", "Delete"),
        s(obj, "volumeBindingMode", "Immediate"),
        b(obj, "allowVolumeExpansion"),
        meta_age(obj, now),
    ]


def _csi_driver_columns() -> list[Column]:
    return [
        name_col(),
        col("AttachRequired", "boolean", _storage("CSIDriverSpec", "attachRequired")),
        col("PodInfoOnMount", "boolean", _storage("CSIDriverSpec", "podInfoOnMount")),
        col("StorageCapacity", "boolean", _storage("CSIDriverSpec", "storageCapacity")),
        col("TokenRequests", desc=_storage("CSIDriverSpec", "tokenRequests")),
        col("RequiresRepublish", "boolean", _storage("CSIDriverSpec", "requiresRepublish")),
        col("Modes", desc=_storage("CSIDriverSpec", "volumeLifecycleModes")),
        age_col(),
    ]


def _csi_driver_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    modes = ",".join(str(x) for x in lst(spec, "volumeLifecycleModes")) or "Persistent"  # v1 default
    tokens = UNSET
    if isinstance(spec.get("tokenRequests"), list):
        tokens = ",".join(s(t, "audience") for t in spec["tokenRequests"])
    return [
        name_of(obj),
        b(spec, "attachRequired", True),
        b(spec, "podInfoOnMount"),
        b(spec, "storageCapacity"),
        tokens,
        b(spec, "requiresRepublish"),
        modes,
        meta_age(obj, now),
    ]


def _csi_node_columns() -> list[Column]:
    return [
        name_col(),
        col("Drivers", "integer", "Drivers indicates the number of CSI drivers registered on the node"),
        age_col(),
    ]


def _csi_node_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), len(lst(m(obj, "spec"), "drivers")), meta_age(obj, now)]


def _volume_attachment_columns() -> list[Column]:
    return [
        name_col(),
        col("Attacher", desc=_storage("VolumeAttachmentSpec", "attacher"), fmt="name"),
        col("PV", desc=_storage("VolumeAttachmentSource", "persistentVolumeName")),
        col("Node", desc=_storage("VolumeAttachmentSpec", "nodeName")),
        col("Attached", "boolean", _storage("VolumeAttachmentStatus", "attached")),
        age_col(),
    ]


def _volume_attachment_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    return [
        name_of(obj),
        s(spec, "attacher"),
        s(m(spec, "source"), "persistentVolumeName"),
        s(spec, "nodeName"),
        b(m(obj, "status"), "attached"),
        meta_age(obj, now),
    ]


def _csi_capacity_columns() -> list[Column]:
    return [
        name_col(),
        col("StorageClassName", desc=_storage("CSIStorageCapacity", "storageClassName")),
        col("Capacity", desc=_storage("CSIStorageCapacity", "capacity")),
    ]


def _csi_capacity_row(obj: Obj, now: datetime) -> list[Any]:
    capacity = quantity(obj["capacity"]) if has(obj, "capacity") else UNSET
    return [name_of(obj), s(obj, "storageClassName"), capacity]


# --- scheduling, node, certificates, apiregistration ------------------------------


def _priority_class_columns() -> list[Column]:
    pc = "io.k8s.api.scheduling.v1.PriorityClass"
    return [
        name_col(),
        col("Value", "integer", doc(pc, "value")),
        col("Global-Default", "boolean", doc(pc, "globalDefault")),
        age_col(),
        col("PreemptionPolicy", desc=doc(pc, "preemptionPolicy")),
    ]


def _priority_class_row(obj: Obj, now: datetime) -> list[Any]:
    return [
        name_of(obj),
        i(obj, "value"),
        b(obj, "globalDefault"),
        meta_age(obj, now),
        s(obj, "preemptionPolicy", "PreemptLowerPriority"),
    ]


def _runtime_class_columns() -> list[Column]:
    # upstream describes Handler with ObjectMeta's (nonexistent) "handler" doc: empty
    return [
        name_col(),
        col("Handler", desc=doc("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta", "handler")),
        age_col(),
    ]


def _runtime_class_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), s(obj, "handler"), meta_age(obj, now)]


def _csr_columns() -> list[Column]:
    spec, status = (
        "io.k8s.api.certificates.v1.CertificateSigningRequestSpec",
        "io.k8s.api.certificates.v1.CertificateSigningRequestStatus",
    )
    return [
        name_col(),
        age_col(),
        col("SignerName", desc=doc(spec, "signerName")),
        col("Requestor", desc=doc(spec, "request")),
        col("RequestedDuration", desc=doc(spec, "expirationSeconds")),
        col("Condition", desc=doc(status, "conditions")),
    ]


def _csr_row(obj: Obj, now: datetime) -> list[Any]:
    spec, status = m(obj, "spec"), m(obj, "status")
    kinds = {s(c, "type") for c in lst(status, "conditions")}
    state = "Denied" if "Denied" in kinds else "Approved" if "Approved" in kinds else "Pending"
    if "Failed" in kinds:
        state += ",Failed"
    if s(status, "certificate"):
        state += ",Issued"
    expiration = spec.get("expirationSeconds")
    duration = human_duration(expiration * 1_000_000) if isinstance(expiration, int) else NONE
    return [
        name_of(obj),
        meta_age(obj, now),
        s(spec, "signerName") or NONE,
        s(spec, "username"),
        duration,
        state,
    ]


def _apiservice_columns() -> list[Column]:
    return [
        name_col(),
        col("Service", desc="The reference to the service that hosts this API endpoint."),
        col("Available", desc="Whether this service is available."),
        age_col(),
    ]


def _apiservice_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    service = "Local"
    if has(spec, "service"):
        svc = m(spec, "service")
        service = f"{s(svc, 'namespace')}/{s(svc, 'name')}"
    available = "Unknown"
    for c in lst(m(obj, "status"), "conditions"):
        if s(c, "type") == "Available":
            available = s(c, "status")
            if available != "True" and s(c, "reason"):
                available = f"{available} ({s(c, 'reason')})"
            break
    return [name_of(obj), service, available, meta_age(obj, now)]


# --- flowcontrol, admissionregistration -------------------------------------------


def _fc(kind: str, field: str) -> str:
    return doc(f"io.k8s.api.flowcontrol.v1.{kind}", field)


def _flow_schema_columns() -> list[Column]:
    return [
        name_col(),
        col("PriorityLevel", desc=_fc("PriorityLevelConfigurationReference", "name")),
        col("MatchingPrecedence", desc=_fc("FlowSchemaSpec", "matchingPrecedence")),
        col("DistinguisherMethod", desc=_fc("FlowSchemaSpec", "distinguisherMethod")),
        age_col(),
        col("MissingPL", desc="references a broken or non-existent PriorityLevelConfiguration"),
    ]


def _flow_schema_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    method = s(m(spec, "distinguisherMethod"), "type") if has(spec, "distinguisherMethod") else NONE
    missing = "?"
    for c in lst(m(obj, "status"), "conditions"):
        if s(c, "type") == "Dangling":
            missing = s(c, "status")
            break
    return [
        name_of(obj),
        s(m(spec, "priorityLevelConfiguration"), "name"),
        i(spec, "matchingPrecedence", 1000),
        method,
        meta_age(obj, now),
        missing,
    ]


def _flow_schema_order(obj: Obj) -> tuple[int, str]:
    """``FlowSchemaSequence``: lower matching precedence first, then by name."""
    return i(m(obj, "spec"), "matchingPrecedence", 1000), name_of(obj)


def _plc_columns() -> list[Column]:
    return [
        name_col(),
        col("Type", desc=_fc("PriorityLevelConfigurationSpec", "type")),
        col(
            "NominalConcurrencyShares",
            desc=_fc("LimitedPriorityLevelConfiguration", "nominalConcurrencyShares"),
        ),
        col("Queues", desc=_fc("QueuingConfiguration", "queues")),
        col("HandSize", desc=_fc("QueuingConfiguration", "handSize")),
        col("QueueLengthLimit", desc=_fc("QueuingConfiguration", "queueLengthLimit")),
        age_col(),
    ]


def _plc_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    ncs: Any = NONE
    queues: Any = NONE
    hand: Any = NONE
    qlimit: Any = NONE
    if has(spec, "limited"):
        limited = m(spec, "limited")
        ncs = i(limited, "nominalConcurrencyShares", 30)
        if has(m(limited, "limitResponse"), "queuing"):
            q = m(m(limited, "limitResponse"), "queuing")
            queues, hand, qlimit = i(q, "queues", 64), i(q, "handSize", 8), i(q, "queueLengthLimit", 50)
    return [name_of(obj), s(spec, "type"), ncs, queues, hand, qlimit, meta_age(obj, now)]


def _webhooks_columns() -> list[Column]:
    return [
        name_col(),
        col(
            "Webhooks",
            "integer",
            "Webhooks indicates the number of webhooks registered in this configuration",
        ),
        age_col(),
    ]


def _webhooks_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), len(lst(obj, "webhooks")), meta_age(obj, now)]


def _vap_columns() -> list[Column]:
    return [
        name_col(),
        col(
            "Validations",
            "integer",
            "Validations indicates the number of validation rules defined in this configuration",
        ),
        col("ParamKind", desc="ParamKind specifies the kind of resources used to parameterize this policy"),
        age_col(),
    ]


def _vap_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    param_kind = UNSET
    if has(spec, "paramKind"):
        pk = m(spec, "paramKind")
        param_kind = f"{s(pk, 'apiVersion')}/{s(pk, 'kind')}"
    return [name_of(obj), len(lst(spec, "validations")), param_kind, meta_age(obj, now)]


def _vapb_columns() -> list[Column]:
    return [
        name_col(),
        col("PolicyName", desc="PolicyName indicates the policy definition which the policy binding binded to"),
        col("ParamRef", desc="ParamRef indicates the param resource which sets the configration param"),
        age_col(),
    ]


def _vapb_row(obj: Obj, now: datetime) -> list[Any]:
    spec = m(obj, "spec")
    param = UNSET
    if has(spec, "paramRef"):
        ref = m(spec, "paramRef")
        if s(ref, "name"):
            param = f"{s(ref, 'namespace')}/{s(ref, 'name')}" if s(ref, "namespace") else f"*/{s(ref, 'name')}"
        elif has(ref, "selector"):
            param = label_selector_text(m(ref, "selector"))
    return [name_of(obj), s(spec, "policyName"), param, meta_age(obj, now)]


_AR = "admissionregistration.k8s.io"

PRINTERS: dict[tuple[str, str], Printer] = {
    ("storage.k8s.io", "StorageClass"): Printer(_storage_class_columns, _storage_class_row),
    ("storage.k8s.io", "CSIDriver"): Printer(_csi_driver_columns, _csi_driver_row),
    ("storage.k8s.io", "CSINode"): Printer(_csi_node_columns, _csi_node_row),
    ("storage.k8s.io", "VolumeAttachment"): Printer(_volume_attachment_columns, _volume_attachment_row),
    ("storage.k8s.io", "CSIStorageCapacity"): Printer(_csi_capacity_columns, _csi_capacity_row),
    ("scheduling.k8s.io", "PriorityClass"): Printer(_priority_class_columns, _priority_class_row),
    ("node.k8s.io", "RuntimeClass"): Printer(_runtime_class_columns, _runtime_class_row),
    ("certificates.k8s.io", "CertificateSigningRequest"): Printer(_csr_columns, _csr_row),
    ("apiregistration.k8s.io", "APIService"): Printer(_apiservice_columns, _apiservice_row),
    ("flowcontrol.apiserver.k8s.io", "FlowSchema"): Printer(
        _flow_schema_columns, _flow_schema_row, sort_key=_flow_schema_order
    ),
    ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"): Printer(_plc_columns, _plc_row),
    (_AR, "MutatingWebhookConfiguration"): Printer(_webhooks_columns, _webhooks_row),
    (_AR, "ValidatingWebhookConfiguration"): Printer(_webhooks_columns, _webhooks_row),
    (_AR, "ValidatingAdmissionPolicy"): Printer(_vap_columns, _vap_row),
    (_AR, "ValidatingAdmissionPolicyBinding"): Printer(_vapb_columns, _vapb_row),
}
"""Administrative-group printers by (group, kind)."""
