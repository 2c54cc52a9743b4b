"""CertificateSigningRequests through the official ``kubernetes`` client: validation, approval, issuing.

Upstream's three CSR strategies: the main resource never changes spec or
status; ``/approval`` changes only the Approved/Denied conditions; ``/status``
sets the certificate once (and other conditions) but may not approve.
"""

from __future__ import annotations

import base64
import datetime
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException

KEY = ec.generate_private_key(ec.SECP256R1())


def _request(cn: str = "system:node:n1", org: str = "system:nodes") -> str:
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        )
        .sign(KEY, hashes.SHA256())
    )
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


def _certificate() -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "system:node:n1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(KEY, hashes.SHA256())
    )
    return base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()


def _csr(name: str, **spec: object) -> dict[str, object]:
    body = {
        "request": _request(),
        "signerName": "kubernetes.io/kube-apiserver-client-kubelet",
        "usages": ["digital signature", "client auth"],
        **spec,
    }
    return {
        "apiVersion": "certificates.k8s.io/v1",
        "kind": "CertificateSigningRequest",
        "metadata": {"name": name},
        "spec": body,
    }


def _error(exc: ApiException) -> dict[str, object]:
    body: dict[str, object] = json.loads(exc.body)
    return body


def _messages(exc: ApiException) -> list[str]:
    return [f"{c['field']}: {c['message']}" for c in _error(exc)["details"]["causes"]]  # type: ignore[index]


def test_a_csr_is_approved_then_issued_through_its_subresources(k8s_client: ApiClient) -> None:
    api = client.CertificatesV1Api(k8s_client)
    created = api.create_certificate_signing_request(_csr("n1", username="mallory", groups=["system:masters"]))
    assert created.spec.username is None and created.spec.groups is None  # only the server says who asked
    assert created.status is None or not created.status.conditions  # nobody creates a pre-approved request

    approved = {"type": "Approved", "status": "True", "reason": "Test", "message": "approved by a test"}
    with pytest.raises(ApiException) as refused:  # the status subresource may not approve
        api.patch_certificate_signing_request_status("n1", {"status": {"conditions": [approved]}})
    assert refused.value.status == 422
    assert 'status.conditions: Forbidden: updates may not add a condition of type "Approved"' in _messages(
        refused.value
    )

    body = api.read_certificate_signing_request("n1")
    body.status = client.V1CertificateSigningRequestStatus(
        conditions=[client.V1CertificateSigningRequestCondition(**approved)]
    )
    result = api.replace_certificate_signing_request_approval("n1", body)
    condition = result.status.conditions[0]
    assert (condition.type, condition.status, condition.reason) == ("Approved", "True", "Test")
    assert condition.last_update_time is not None and condition.last_transition_time is not None

    issued = api.patch_certificate_signing_request_status("n1", {"status": {"certificate": _certificate()}})
    assert issued.status.certificate and issued.status.conditions[0].type == "Approved"
    with pytest.raises(ApiException) as again:
        api.patch_certificate_signing_request_status("n1", {"status": {"certificate": _certificate()}})
    assert "status.certificate: Forbidden: updates may not modify existing certificate content" in _messages(
        again.value
    )

    # The main resource changes metadata only: spec and status stay.
    touched = api.patch_certificate_signing_request(
        "n1", {"metadata": {"labels": {"a": "b"}}, "spec": {"usages": ["any"]}}
    )
    assert touched.metadata.labels == {"a": "b"} and touched.spec.usages == ["digital signature", "client auth"]
    assert touched.status.certificate == issued.status.certificate

    with pytest.raises(ApiException) as removed:
        api.patch_certificate_signing_request_approval("n1", {"status": {"conditions": None}})
    assert 'status.conditions: Forbidden: updates may not remove a condition of type "Approved"' in _messages(
        removed.value
    )


def test_invalid_requests_are_refused_with_every_reason(k8s_client: ApiClient) -> None:
    api = client.CertificatesV1Api(k8s_client)
    bad = _csr(
        "bad",
        request=base64.b64encode(b"not a pem").decode(),
        usages=["client auth", "flying", "client auth"],
        signerName="no-slash",
        expirationSeconds=60,
    )
    with pytest.raises(ApiException) as refused:
        api.create_certificate_signing_request(bad)
    assert refused.value.status == 422
    messages = _messages(refused.value)
    assert any(
        m.startswith("spec.request: Invalid value:") and "PEM block type must be CERTIFICATE REQUEST" in m
        for m in messages
    )
    assert any(m.startswith('spec.usages[1]: Unsupported value: "flying"') for m in messages)
    assert 'spec.usages[2]: Duplicate value: "client auth"' in messages
    assert any(
        m.startswith('spec.signerName: Invalid value: "no-slash": must be a fully qualified domain and path')
        for m in messages
    )
    assert (
        "spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 600 seconds (10 minutes)"
        in messages
    )

    legacy = _csr("legacy", signerName="kubernetes.io/legacy-unknown")
    with pytest.raises(ApiException) as old_signer:
        api.create_certificate_signing_request(legacy)
    assert (
        'spec.signerName: Invalid value: "kubernetes.io/legacy-unknown": '
        "the legacy signerName is not allowed via this API version" in _messages(old_signer.value)
    )

    api.create_certificate_signing_request(_csr("both"))
    conditions = [{"type": "Approved", "status": "True"}, {"type": "Denied", "status": "True"}]
    with pytest.raises(ApiException) as both:
        api.patch_certificate_signing_request_approval("both", {"status": {"conditions": conditions}})
    assert (
        'status.conditions[1].type: Invalid value: "Denied": Approved and Denied conditions are mutually exclusive'
        in _messages(both.value)
    )
    assert (
        api.read_certificate_signing_request("both").status is None
        or not api.read_certificate_signing_request("both").status.conditions
    )
