"""PersistentVolumeClaimResize: a claim grows only when bound and when its StorageClass allows expansion.

As upstream's plugin of that name (on by default in kube-apiserver). An update
that raises a claim's ``spec.resources.requests.storage`` is refused (403) unless
the claim is Bound and its StorageClass — the same before and after — has
``allowVolumeExpansion: true``. Pinnace's own ``standard`` class does not expand
its directories, so growing one of its claims is refused with upstream's words,
instead of being accepted and never carried out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinnace.api.volumes import claim_class, claim_request, phase_of
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import forbidden
from pinnace.apiserver.admission.lookup import objects_in

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore
    from pinnace.apiserver.server import APIServer

__all__ = ["PersistentVolumeClaimResize"]

_CLASSES = ("storage.k8s.io", "v1", "storageclasses")


class PersistentVolumeClaimResize:
    """The PersistentVolumeClaimResize admission plugin (validating)."""

    name = "PersistentVolumeClaimResize"

    def __init__(self, rest: RestStore) -> None:
        """StorageClasses are read from ``rest``'s watch cache."""
        self.rest = rest

    @classmethod
    def for_server(cls, server: APIServer) -> PersistentVolumeClaimResize:
        """The plugin of an API server."""
        return cls(server.rest)

    def handles(self, request: AdmissionRequest) -> bool:
        """Updates of claims (not their status) that ask for more storage than before."""
        return (
            request.operation is Operation.UPDATE
            and not request.subresource
            and request.info.group == ""
            and request.info.plural == "persistentvolumeclaims"
            and isinstance(request.obj, dict)
            and isinstance(request.old, dict)
            and claim_request(request.obj) > claim_request(request.old)
        )

    async def validate(self, request: AdmissionRequest) -> None:
        """Refuse the growth unless the claim is bound and its class allows expansion."""
        assert request.obj is not None and request.old is not None
        if phase_of(request.old) != "Bound":
            raise forbidden(request, "Only bound persistent volume claims can be expanded")
        wanted, had = claim_class(request.obj), claim_class(request.old)
        if not wanted or not had or wanted != had or not await self._expandable(wanted):
            raise forbidden(
                request,
                "only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must "
                "support resize",
            )

    async def _expandable(self, class_name: str) -> bool:
        for storage_class in await objects_in(self.rest, *_CLASSES, None):
            if (storage_class.get("metadata") or {}).get("name") == class_name:
                return storage_class.get("allowVolumeExpansion") is True
        return False
