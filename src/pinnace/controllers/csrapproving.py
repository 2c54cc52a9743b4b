"""The CSR approving controller: approves kubelets' client certificate requests that RBAC allows.

Upstream's ``csrapproving`` controller (kube-controller-manager's
``csrapproving``): a pending request for the signer
``kubernetes.io/kube-apiserver-client-kubelet`` that is a node client request
(see :mod:`pinnace.controllers._csr`) is approved when a SubjectAccessReview
for its requester allows ``create`` on ``certificatesigningrequests/selfnodeclient``
(a node renewing its own certificate: the requester is the CN) or
``certificatesigningrequests/nodeclient`` (a bootstrapper asking for a node's
first one; kubeadm binds ``system:bootstrappers:kubeadm:default-node-token``
to the role that allows it). Anything else is left for a person or another
approver (``kubectl certificate approve``).
"""

from __future__ import annotations

import logging
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.controllers import _csr
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import new_predicate
from pinnace.runtime.reconcile import Request, Result

__all__ = ["CSRApprovingReconciler", "add_csr_approving_controller"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

KIND = "certificates.k8s.io/v1/CertificateSigningRequest"
SUBJECT_ACCESS_REVIEWS = ResourceRef("authorization.k8s.io", "v1", "subjectaccessreviews", namespaced=False)


def _candidate(csr: Obj) -> bool:
    return (csr.get("spec") or {}).get("signerName") == _csr.KUBELET_CLIENT_SIGNER and _csr.is_pending(csr)


async def add_csr_approving_controller(manager: Manager, *, workers: int = 1) -> Controller:
    """Add the CSR approving controller to ``manager``."""
    return await (
        Builder(manager)
        .named("csrapproving")
        .for_(KIND, new_predicate(_candidate))
        .with_options(max_concurrent_reconciles=workers)
        .complete(CSRApprovingReconciler(manager.client))
    )


class CSRApprovingReconciler:
    """Approves node client CSRs whose requester may create them (see the module docstring)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def reconcile(self, request: Request) -> Result:
        """Approve the request if it is a node client request its requester is allowed to make."""
        csr = await get_or_none(self.client, KIND, request.name)
        if csr is None or not _candidate(csr) or (csr.get("status") or {}).get("certificate"):
            return Result()
        parsed = _csr.request_of(csr)
        if parsed is None or _csr.node_client_problem(csr, parsed) is not None:
            return Result()  # not ours to approve
        cn, _ = _csr.subject(parsed)
        spec = csr.get("spec") or {}
        if spec.get("username") == cn and await self._allowed(spec, "selfnodeclient"):
            message = "Auto approving self kubelet client certificate after SubjectAccessReview."
        elif await self._allowed(spec, "nodeclient"):
            message = "Auto approving kubelet client certificate after SubjectAccessReview."
        else:
            return Result()
        approved = {"type": "Approved", "status": "True", "reason": "AutoApproved", "message": message}
        conditions = [*((csr.get("status") or {}).get("conditions") or []), approved]
        csr["status"] = {**(csr.get("status") or {}), "conditions": conditions}
        try:
            await self.client.subresource("approval").update(csr)
        except errors.Conflict:
            return Result(requeue=True)
        except errors.NotFound:
            return Result()
        log.info("approved CSR %s for %s", request.name, spec.get("username"))
        return Result()

    async def _allowed(self, spec: Obj, subresource: str) -> bool:
        """Whether the requester may ``create certificatesigningrequests/<subresource>`` (a SubjectAccessReview)."""
        review = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": spec.get("username", ""),
                "uid": spec.get("uid", ""),
                "groups": spec.get("groups") or [],
                "extra": spec.get("extra") or {},
                "resourceAttributes": {
                    "group": "certificates.k8s.io",
                    "resource": "certificatesigningrequests",
                    "verb": "create",
                    "subresource": subresource,
                },
            },
        }
        answer = await self.client.rest.create(SUBJECT_ACCESS_REVIEWS, review)
        return bool((answer.get("status") or {}).get("allowed"))
