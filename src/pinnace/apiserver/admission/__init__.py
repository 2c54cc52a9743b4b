"""Admission: what runs between an authorized write and the store (upstream's admission chain).

A write (create, update, delete, and connect for pods/exec and the like)
becomes an :class:`AdmissionRequest`. The :class:`AdmissionChain` first runs
every mutating plugin in order (each may change ``request.obj``), then —
after the object's own validation — every validating plugin. A plugin says
no by raising a ``StatusError`` (usually ``errors.Forbidden`` or
``errors.invalid``) whose message says what is wrong; it adds warnings
(``Warning:`` headers for kubectl) to ``request.warnings``.

Plugins run in upstream's order: NamespaceLifecycle, LimitRanger,
ServiceAccount, NodeRestriction, PodSecurity, DefaultStorageClass,
StorageObjectInUseProtection, PersistentVolumeClaimResize, CertificateApproval, CertificateSigning,
CertificateSubjectRestriction, MutatingAdmissionWebhook,
ValidatingAdmissionPolicy, ValidatingAdmissionWebhook, ResourceQuota
(:mod:`.plugins` holds the table).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Protocol

from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.user import UserInfo

Obj = dict[str, Any]


class Operation(enum.Enum):
    """What the write does (admission.k8s.io/v1 Operation)."""

    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    CONNECT = "CONNECT"


@dataclass(slots=True)
class AdmissionRequest:
    """One write, as the admission plugins see it (upstream's admission.Attributes)."""

    operation: Operation
    info: ResourceInfo
    namespace: str
    name: str
    #: The object being written (mutable: mutating plugins change it); None for DELETE and most CONNECTs.
    obj: Obj | None
    #: The object as stored before the write (UPDATE, DELETE); None for CREATE.
    old: Obj | None
    #: The user the request is served for (None when the server runs without authentication).
    user: UserInfo | None
    subresource: str = ""
    dry_run: bool = False
    #: The operation's options object (CreateOptions, UpdateOptions, DeleteOptions, PodExecOptions …), as JSON.
    options: Obj | None = None
    #: Warnings to return to the client.
    warnings: list[str] = field(default_factory=list)
    #: The group/version/kind of ``obj`` when it is not the resource's own: a subresource's Binding, Eviction or
    #: PodExecOptions (None: the resource's kind).
    kind: Obj | None = None
    #: Whether a mutating plugin may have changed ``obj`` (set by the chain: every mutating plugin that handled
    #: the request counts, unless it declares ``mutates = False``; such a plugin sets it itself when it does change
    #: the object, as the webhook plugin does for a patch). A create whose object is unchanged since its decode
    #: check found it normal skips the second normalising walk.
    mutated: bool = False


class MutatingPlugin(Protocol):
    """An admission plugin that may change the object.

    One that runs in the mutating phase but never changes the object (NamespaceLifecycle) says so with a class
    attribute ``mutates = False``; without it the chain assumes any plugin that handled a request changed it.
    """

    name: str

    def handles(self, request: AdmissionRequest) -> bool:
        """Whether this plugin has anything to do with the request (cheap: called on every write)."""

    async def admit(self, request: AdmissionRequest) -> None:
        """Change ``request.obj`` as needed, or raise a StatusError to refuse the write."""


class ValidatingPlugin(Protocol):
    """An admission plugin that only accepts or refuses."""

    name: str

    def handles(self, request: AdmissionRequest) -> bool:
        """Whether this plugin has anything to do with the request (cheap: called on every write)."""

    async def validate(self, request: AdmissionRequest) -> None:
        """Raise a StatusError to refuse the write."""
