"""The certificate admission plugins: who may approve, sign and request which certificates.

Upstream's three default-on plugins for CertificateSigningRequests:

- **CertificateApproval**: an update of ``certificatesigningrequests/approval``
  needs the verb ``approve`` on the resource ``signers`` (group
  ``certificates.k8s.io``) named by the request's ``spec.signerName`` — or on
  ``<domain>/*``, the signer's domain wildcard.
- **CertificateSigning**: an update of ``certificatesigningrequests/status``
  that changes ``status.certificate`` needs the verb ``sign`` on that signer.
- **CertificateSubjectRestriction**: a request for the
  ``kubernetes.io/kube-apiserver-client`` signer may not ask for the
  ``system:masters`` group (it would make a cluster admin of whoever gets it
  approved).

Refusals are 403 with upstream's wording. A server without authorization
(in-process tests) allows every approval and signature; the subject
restriction holds regardless.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from cryptography.x509.oid import NameOID

from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import forbidden
from pinnace.apiserver.user import Attributes, Authorizer, Decision, UserInfo

if TYPE_CHECKING:
    from pinnace.apiserver.server import APIServer

__all__ = ["CertificateApproval", "CertificateSigning", "CertificateSubjectRestriction", "authorized_for_signer"]

GROUP = "certificates.k8s.io"
KUBE_APISERVER_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
MASTERS_GROUP = "system:masters"
Obj = dict[str, Any]


async def authorized_for_signer(authorizer: Authorizer | None, user: UserInfo | None, verb: str, signer: str) -> bool:
    """Whether ``user`` may ``verb`` (approve, sign) requests of ``signer``: on the signer's own name, or on its
    domain wildcard ``<domain>/*`` (upstream's IsAuthorizedForSignerName). No authorizer or no user: yes."""
    if authorizer is None or user is None:
        return True
    names = [signer]
    domain, slash, _ = signer.partition("/")
    if slash:
        names.append(f"{domain}/*")
    for name in names:
        attrs = Attributes(user, verb, True, api_group=GROUP, api_version="*", resource="signers", name=name)
        decision, _ = await authorizer.authorize(attrs)
        if decision is Decision.ALLOW:
            return True
    return False


def _is_csr(request: AdmissionRequest) -> bool:
    return request.info.group == GROUP and request.info.plural == "certificatesigningrequests"


def _signer(obj: Obj | None) -> str:
    return str(((obj or {}).get("spec") or {}).get("signerName") or "")


class _SignerPermission:
    """What the approval and signing plugins share: they ask the server's authorizer about signers."""

    def __init__(self, authorizer: Callable[[], Authorizer | None]) -> None:
        """``authorizer`` gives the authorizer to ask (the server's, which may be set after the chain is built)."""
        self.authorizer = authorizer

    @classmethod
    def for_server(cls, server: APIServer) -> Self:
        """The plugin of an API server (it asks the server's authorizer of the moment)."""
        return cls(lambda: server.authorizer)


class CertificateApproval(_SignerPermission):
    """CertificateApproval (validating): approving or denying needs ``approve`` on the request's signer."""

    name = "CertificateApproval"

    def handles(self, request: AdmissionRequest) -> bool:
        """Updates of a CSR's approval subresource."""
        return request.operation is Operation.UPDATE and request.subresource == "approval" and _is_csr(request)

    async def validate(self, request: AdmissionRequest) -> None:
        """403 unless the user may approve requests of the CSR's signer."""
        signer = _signer(request.obj)
        if not await authorized_for_signer(self.authorizer(), request.user, "approve", signer):
            raise forbidden(request, f'user not permitted to approve requests with signerName "{signer}"')


class CertificateSigning(_SignerPermission):
    """CertificateSigning (validating): issuing or changing a certificate needs ``sign`` on the signer."""

    name = "CertificateSigning"

    def handles(self, request: AdmissionRequest) -> bool:
        """Updates of a CSR's status subresource."""
        return request.operation is Operation.UPDATE and request.subresource == "status" and _is_csr(request)

    async def validate(self, request: AdmissionRequest) -> None:
        """403 when ``status.certificate`` changes and the user may not sign for the (old) signer."""
        old_cert = ((request.old or {}).get("status") or {}).get("certificate")
        new_cert = ((request.obj or {}).get("status") or {}).get("certificate")
        if (old_cert or None) == (new_cert or None):
            return
        signer = _signer(request.old)
        if not await authorized_for_signer(self.authorizer(), request.user, "sign", signer):
            raise forbidden(request, f'user not permitted to sign requests with signerName "{signer}"')


class CertificateSubjectRestriction:
    """CertificateSubjectRestriction (validating): no ``system:masters`` through the kube-apiserver-client signer."""

    name = "CertificateSubjectRestriction"

    @classmethod
    def for_server(cls, server: APIServer) -> CertificateSubjectRestriction:
        """The plugin (it needs nothing of the server)."""
        return cls()

    def handles(self, request: AdmissionRequest) -> bool:
        """Creates of CSRs for the kube-apiserver-client signer."""
        return (
            request.operation is Operation.CREATE
            and not request.subresource
            and _is_csr(request)
            and _signer(request.obj) == KUBE_APISERVER_CLIENT_SIGNER
        )

    async def validate(self, request: AdmissionRequest) -> None:
        """403 if the request's subject asks for the system:masters group."""
        from pinnace.api.validation.certificates import parse_request

        try:
            csr = parse_request(request.obj or {})
        except ValueError as exc:
            raise forbidden(request, f"failed to parse CSR: {exc}") from None
        organizations = [attr.value for attr in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
        if MASTERS_GROUP in organizations:
            raise forbidden(
                request, f"use of {KUBE_APISERVER_CLIENT_SIGNER} signer with {MASTERS_GROUP} group is not allowed"
            )
