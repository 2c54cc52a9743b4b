"""DefaultStorageClass: a new claim that names no StorageClass gets the cluster's default one.

As upstream's ``DefaultStorageClass`` plugin (on by default in kube-apiserver).
On PersistentVolumeClaim creation only, a claim with neither
``spec.storageClassName`` nor the beta class annotation gets
``spec.storageClassName`` set to the default StorageClass — the one annotated
``storageclass.kubernetes.io/is-default-class: "true"``; of several, the
newest wins, then the first by name (:func:`~pinnace.api.volumes.default_class`).
Without a default class the claim is left alone (the persistent-volume binder
assigns one later, if one appears: upstream's retroactive default class). A
claim that asks for ``""`` explicitly keeps it: it wants a volume of no class.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinnace.api.volumes import claim_class, default_class
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.lookup import has_none_now, objects_in

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore
    from pinnace.apiserver.server import APIServer

__all__ = ["DefaultStorageClass"]

_CLASSES = ("storage.k8s.io", "v1", "storageclasses")


class DefaultStorageClass:
    """The DefaultStorageClass admission plugin (mutating)."""

    name = "DefaultStorageClass"

    def __init__(self, rest: RestStore) -> None:
        """StorageClasses are read from ``rest``'s watch cache."""
        self.rest = rest

    @classmethod
    def for_server(cls, server: APIServer) -> DefaultStorageClass:
        """The plugin of an API server."""
        return cls(server.rest)

    def handles(self, request: AdmissionRequest) -> bool:
        """Creations of claims that name no class, unless there is no StorageClass at all."""
        return (
            request.operation is Operation.CREATE
            and not request.subresource
            and request.info.group == ""
            and request.info.plural == "persistentvolumeclaims"
            and isinstance(request.obj, dict)
            and claim_class(request.obj) is None
            and not has_none_now(self.rest, *_CLASSES)
        )

    async def admit(self, request: AdmissionRequest) -> None:
        """Name the default StorageClass in the claim, if there is one."""
        assert request.obj is not None
        found = default_class(await objects_in(self.rest, *_CLASSES, None))
        if found is None:
            return
        spec = request.obj.get("spec")
        if not isinstance(spec, dict):
            spec = request.obj["spec"] = {}
        spec["storageClassName"] = str(found["metadata"]["name"])
