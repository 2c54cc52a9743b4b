"""NamespaceLifecycle: no content in missing or terminating namespaces, and the system namespaces stay.

As upstream's ``NamespaceLifecycle`` plugin: a create, update or connect in a
namespace that does not exist is 404 ``namespaces "x" not found``; a create in a
namespace being deleted is 403 ``… is forbidden: unable to create new content in
namespace x because it is being terminated`` (with a ``NamespaceTerminating``
cause); deleting ``default``, ``kube-system`` or ``kube-public`` is 403 ``this
namespace may not be deleted``. Deletes of other content are always allowed (the
namespace controller needs them to empty a terminating namespace).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pinnace.api import errors
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import forbidden
from pinnace.apiserver.admission.lookup import namespace_named

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore
    from pinnace.apiserver.server import APIServer

__all__ = ["IMMORTAL_NAMESPACES", "NamespaceLifecycle"]

#: Namespaces that may never be deleted (upstream's immortalNamespaces).
IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
#: Namespaced reviews that do not need their namespace to exist (upstream's accessReviewResources).
_ACCESS_REVIEWS = frozenset({("authorization.k8s.io", "localsubjectaccessreviews")})
#: The field a NamespaceTerminating cause names.
NS_FIELD = "metadata.namespace"


class NamespaceLifecycle:
    """The NamespaceLifecycle admission plugin (mutating phase, first in the chain; changes nothing)."""

    name = "NamespaceLifecycle"
    #: It only refuses: the chain need not assume the object changed.
    mutates = False

    def __init__(self, rest: RestStore) -> None:
        """Namespaces are read through ``rest``'s watch cache, then the store when the cache lacks one."""
        self.rest = rest

    @classmethod
    def for_server(cls, server: APIServer) -> NamespaceLifecycle:
        """The plugin of an API server."""
        return cls(server.rest)

    def handles(self, request: AdmissionRequest) -> bool:
        """Namespace deletes, and writes other than deletes inside a namespace."""
        if request.info.group == "" and request.info.plural == "namespaces":
            return request.operation is Operation.DELETE
        return bool(request.namespace) and request.operation is not Operation.DELETE

    async def admit(self, request: AdmissionRequest) -> None:
        """Refuse the write if the namespace cannot take it."""
        if request.info.plural == "namespaces":
            if request.name in IMMORTAL_NAMESPACES:
                raise forbidden(request, "this namespace may not be deleted")
            return
        if (request.info.group, request.info.plural) in _ACCESS_REVIEWS:
            return
        namespace = await namespace_named(self.rest, request.namespace)
        if namespace is None:
            raise errors.NotFound(
                f'namespaces "{request.namespace}" not found', kind="namespaces", name=request.namespace
            )
        if request.operation is not Operation.CREATE:
            return
        meta = namespace.get("metadata") or {}
        if meta.get("deletionTimestamp") or (namespace.get("status") or {}).get("phase") == "Terminating":
            ns = request.namespace
            raise forbidden(
                request,
                f"unable to create new content in namespace {ns} because it is being terminated",
                [errors.Cause(errors.CAUSE_NAMESPACE_TERMINATING, f"namespace {ns} is being terminated", NS_FIELD)],
            )
