"""StorageObjectInUseProtection: new claims and volumes carry the finalizers that keep them while in use.

As upstream's plugin of that name (on by default in kube-apiserver): a
PersistentVolumeClaim created gets ``kubernetes.io/pvc-protection``, a
PersistentVolume ``kubernetes.io/pv-protection``, unless already there. The
pvc-protection and pv-protection controllers (:mod:`pinnace.controllers.storageprotection`)
take them off once a claim being deleted has no pod using it, or a volume being
deleted is no longer bound, so deleting a claim a running pod still mounts does not
pull its volume away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinnace.api.volumes import PV_PROTECTION_FINALIZER, PVC_PROTECTION_FINALIZER
from pinnace.apiserver.admission import AdmissionRequest, Operation

if TYPE_CHECKING:
    from pinnace.apiserver.server import APIServer

__all__ = ["StorageObjectInUseProtection"]

#: The finalizer each protected resource gets, by plural.
_FINALIZERS = {"persistentvolumeclaims": PVC_PROTECTION_FINALIZER, "persistentvolumes": PV_PROTECTION_FINALIZER}


class StorageObjectInUseProtection:
    """The StorageObjectInUseProtection admission plugin (mutating, on create)."""

    name = "StorageObjectInUseProtection"

    @classmethod
    def for_server(cls, server: APIServer) -> StorageObjectInUseProtection:
        """The plugin of an API server (it needs nothing from it)."""
        return cls()

    def handles(self, request: AdmissionRequest) -> bool:
        """Creations of claims and volumes."""
        return (
            request.operation is Operation.CREATE
            and not request.subresource
            and request.info.group == ""
            and request.info.plural in _FINALIZERS
            and isinstance(request.obj, dict)
        )

    async def admit(self, request: AdmissionRequest) -> None:
        """Add the resource's protection finalizer unless it is there."""
        assert request.obj is not None
        finalizer = _FINALIZERS[request.info.plural]
        meta = request.obj.get("metadata")
        if not isinstance(meta, dict):
            meta = request.obj["metadata"] = {}
        finalizers = meta.get("finalizers") or []
        if finalizer not in finalizers:
            meta["finalizers"] = [*finalizers, finalizer]
