"""Printers for the core group's configuration and storage kinds, after upstream ``printers.go``.

ConfigMap, Secret, ServiceAccount, PersistentVolume, PersistentVolumeClaim,
ResourceQuota and ComponentStatus. Missing fields that v1 defaulting sets get
that default (Secret type ``Opaque``, PV reclaim policy ``Retain``, phases
``Pending``, volume mode ``Filesystem``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pinnace.api.printers._common import (
    UNSET,
    Column,
    Obj,
    Printer,
    age_col,
    col,
    core,
    has,
    lst,
    m,
    meta_age,
    name_col,
    name_of,
    quantity,
    s,
)

# --- ConfigMap, Secret, ServiceAccount --------------------------------------------


def _configmap_columns() -> list[Column]:
    return [name_col(), col("Data", desc=core("ConfigMap", "data")), age_col()]


def _configmap_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), len(m(obj, "data")) + len(m(obj, "binaryData")), meta_age(obj, now)]


def _secret_columns() -> list[Column]:
    return [
        name_col(),
        col("Type", desc=core("Secret", "type")),
        col("Data", desc=core("Secret", "data")),
        age_col(),
    ]


def _secret_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), s(obj, "type", "Opaque"), len(m(obj, "data")), meta_age(obj, now)]


def _sa_columns() -> list[Column]:
    return [name_col(), col("Secrets", desc=core("ServiceAccount", "secrets")), age_col()]


def _sa_row(obj: Obj, now: datetime) -> list[Any]:
    return [name_of(obj), len(lst(obj, "secrets")), meta_age(obj, now)]


# --- PersistentVolume, PersistentVolumeClaim --------------------------------------


def access_modes(modes: list[Any]) -> str:
    """``GetAccessModesAsString``: RWO, ROX, RWX, RWOP in that order."""
    present = set(modes)
    out = [
        short
        for full, short in (
            ("ReadWriteOnce", "RWO"),
            ("ReadOnlyMany", "ROX"),
            ("ReadWriteMany", "RWX"),
            ("ReadWriteOncePod", "RWOP"),
        )
        if full in present
    ]
    return ",".join(out)


_BETA_CLASS = "volume.beta.kubernetes.io/storage-class"


def _pv_columns() -> list[Column]:
    return [
        name_col(),
        col("Capacity", desc=core("PersistentVolumeSpec", "capacity")),
        col("Access Modes", desc=core("PersistentVolumeSpec", "accessModes")),
        col("Reclaim Policy", desc=core("PersistentVolumeSpec", "persistentVolumeReclaimPolicy")),
        col("Status", desc=core("PersistentVolumeStatus", "phase")),
        col("Claim", desc=core("PersistentVolumeSpec", "claimRef")),
        col("StorageClass", desc="StorageClass of the pv"),
        col("VolumeAttributesClass", desc="VolumeAttributesClass of the pv"),
        col("Reason", desc=core("PersistentVolumeStatus", "reason")),
        age_col(),
        col("VolumeMode", desc=core("PersistentVolumeSpec", "volumeMode"), priority=1),
    ]


def _pv_row(obj: Obj, now: datetime) -> list[Any]:
    meta, spec, status = m(obj, "metadata"), m(obj, "spec"), m(obj, "status")
    claim = ""
    if has(spec, "claimRef"):
        ref = m(spec, "claimRef")
        claim = f"{s(ref, 'namespace')}/{s(ref, 'name')}"
    annotations = m(meta, "annotations")
    klass = s(annotations, _BETA_CLASS) if _BETA_CLASS in annotations else s(spec, "storageClassName")
    phase = "Terminating" if has(meta, "deletionTimestamp") else s(status, "phase", "Pending")
    return [
        s(meta, "name"),
        quantity(m(spec, "capacity").get("storage")),
        access_modes(lst(spec, "accessModes")),
        s(spec, "persistentVolumeReclaimPolicy", "Retain"),
        phase,
        claim,
        klass,
        s(spec, "volumeAttributesClassName", UNSET),
        s(status, "reason"),
        meta_age(obj, now),
        s(spec, "volumeMode", "Filesystem"),
    ]


def _pvc_columns() -> list[Column]:
    return [
        name_col(),
        col("Status", desc=core("PersistentVolumeClaimStatus", "phase")),
        col("Volume", desc=core("PersistentVolumeClaimSpec", "volumeName")),
        col("Capacity", desc=core("PersistentVolumeClaimStatus", "capacity")),
        col("Access Modes", desc=core("PersistentVolumeClaimStatus", "accessModes")),
        col("StorageClass", desc="StorageClass of the pvc"),
        col("VolumeAttributesClass", desc="VolumeAttributesClass of the pvc"),
        age_col(),
        col("VolumeMode", desc=core("PersistentVolumeClaimSpec", "volumeMode"), priority=1),
    ]


def _pvc_row(obj: Obj, now: datetime) -> list[Any]:
    meta, spec, status = m(obj, "metadata"), m(obj, "spec"), m(obj, "status")
    phase = "Terminating" if has(meta, "deletionTimestamp") else s(status, "phase", "Pending")
    capacity = modes = ""
    if s(spec, "volumeName"):
        modes = access_modes(lst(status, "accessModes"))
        capacity = quantity(m(status, "capacity").get("storage"))
    annotations = m(meta, "annotations")
    klass = s(annotations, _BETA_CLASS) if _BETA_CLASS in annotations else s(spec, "storageClassName")
    return [
        s(meta, "name"),
        phase,
        s(spec, "volumeName"),
        capacity,
        modes,
        klass,
        s(spec, "volumeAttributesClassName", UNSET),
        meta_age(obj, now),
        s(spec, "volumeMode", "Filesystem"),
    ]


# --- ResourceQuota, ComponentStatus -----------------------------------------------


def _quota_columns() -> list[Column]:
    return [
        name_col(),
        col("Request", desc="Request represents a minimum amount of cpu/memory that a container may consume."),
        col(
            "Limit",
            desc="Limits control the maximum amount of cpu/memory that a container may use independent "
            "of contention on the node.",
        ),
        age_col(),
    ]


def _quota_row(obj: Obj, now: datetime) -> list[Any]:
    status = m(obj, "status")
    hard, used = m(status, "hard"), m(status, "used")
    requests: list[str] = []
    limits: list[str] = []
    for res in sorted(hard):
        pieces = res.split(".")
        target = limits if len(pieces) > 1 and pieces[0] == "limits" else requests
        target.append(f"{res}: {quantity(used.get(res))}/{quantity(hard.get(res))}")
    return [name_of(obj), ", ".join(requests), ", ".join(limits), meta_age(obj, now)]


def _cs_columns() -> list[Column]:
    return [
        name_col(),
        col("Status", desc="Status of the component conditions"),
        col("Message", desc="Message of the component conditions"),
        col("Error", desc="Error of the component conditions"),
    ]


def _cs_row(obj: Obj, now: datetime) -> list[Any]:
    status, message, error = "Unknown", "", ""
    for c in lst(obj, "conditions"):
        if s(c, "type") == "Healthy":
            status = "Healthy" if s(c, "status") == "True" else "Unhealthy"
            message, error = s(c, "message"), s(c, "error")
            break
    return [name_of(obj), status, message, error]


PRINTERS: dict[tuple[str, str], Printer] = {
    ("", "ConfigMap"): Printer(_configmap_columns, _configmap_row),
    ("", "Secret"): Printer(_secret_columns, _secret_row),
    ("", "ServiceAccount"): Printer(_sa_columns, _sa_row),
    ("", "PersistentVolume"): Printer(_pv_columns, _pv_row),
    ("", "PersistentVolumeClaim"): Printer(_pvc_columns, _pvc_row),
    ("", "ResourceQuota"): Printer(_quota_columns, _quota_row),
    ("", "ComponentStatus"): Printer(_cs_columns, _cs_row),
}
"""Core-group configuration and storage printers by (group, kind)."""
