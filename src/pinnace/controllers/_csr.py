"""What the CSR approver and signer both need to know of a CertificateSigningRequest.

Parsing the PKCS#10 request, the conditions, and upstream's recognisers for
the kubelet's requests: a *node client* request (signer
``kubernetes.io/kube-apiserver-client-kubelet``) has subject ``O=system:nodes,
CN=system:node:<name>``, no SANs, and usages among digital signature, key
encipherment and client auth (client auth required).
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # cryptography (~8 MB resident) loads with the first request parsed, not with the controllers
    from cryptography import x509

Obj = dict[str, Any]

KUBELET_CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client-kubelet"
CLIENT_SIGNER = "kubernetes.io/kube-apiserver-client"
KUBELET_SERVING_SIGNER = "kubernetes.io/kubelet-serving"
LEGACY_SIGNER = "kubernetes.io/legacy-unknown"
NODE_USER_PREFIX = "system:node:"
NODES_GROUP = "system:nodes"
_NODE_CLIENT_USAGES = frozenset({"digital signature", "key encipherment", "client auth"})


def request_of(csr: Obj) -> x509.CertificateSigningRequest | None:
    """The parsed request (its signature checked by the API server on create); None if unreadable."""
    from cryptography import x509

    data = (csr.get("spec") or {}).get("request")
    try:
        return x509.load_pem_x509_csr(base64.b64decode(str(data), validate=True))
    except (binascii.Error, ValueError):
        return None


def condition(csr: Obj, kind: str) -> Obj | None:
    """The CSR's condition of ``kind`` whose status is True, if any."""
    for c in (csr.get("status") or {}).get("conditions") or []:
        if isinstance(c, dict) and c.get("type") == kind and c.get("status", "True") == "True":
            return c
    return None


def is_pending(csr: Obj) -> bool:
    """Neither approved nor denied yet."""
    return condition(csr, "Approved") is None and condition(csr, "Denied") is None


def subject(request: x509.CertificateSigningRequest) -> tuple[str, list[str]]:
    """(common name, organizations) of the request's subject."""
    from cryptography.x509.oid import NameOID

    cn = [str(a.value) for a in request.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in request.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return (cn[0] if cn else ""), orgs


def has_sans(request: x509.CertificateSigningRequest) -> bool:
    """Whether the request asks for subject alternative names."""
    from cryptography import x509

    try:
        request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return False
    return True


def node_client_problem(csr: Obj, request: x509.CertificateSigningRequest) -> str | None:
    """Why this is not a kubelet client request (upstream's ``ValidateKubeletClientCSR``); None if it is one."""
    cn, orgs = subject(request)
    if orgs != [NODES_GROUP]:
        return f"subject organization is not {NODES_GROUP}"
    if not cn.startswith(NODE_USER_PREFIX):
        return f'subject common name does not begin with "{NODE_USER_PREFIX}"'
    if has_sans(request):
        return "subject alternative names are not allowed"
    usages = set((csr.get("spec") or {}).get("usages") or [])
    if "client auth" not in usages or not usages <= _NODE_CLIENT_USAGES:
        return "usages did not match " + ", ".join(sorted(_NODE_CLIENT_USAGES))
    return None
