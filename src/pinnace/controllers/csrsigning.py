"""The CSR signing controller: issues approved certificate requests with the cluster CA.

Upstream's ``csrsigning`` controller for the built-in signers
``kubernetes.io/kube-apiserver-client-kubelet``, ``kube-apiserver-client``,
``kubelet-serving`` and ``legacy-unknown``. An approved request with no
certificate yet is checked against its signer's rules (a kubelet client
request must be a node client request; a client one must ask for client auth
only; a serving one must name a node and ask for server auth with DNS/IP
SANs only) — a request that breaks them gets the condition ``Failed`` with
reason ``SignerValidationFailure``. Otherwise it is signed: the subject and
SANs of the request, key usages from ``spec.usages``, valid from five minutes
ago (never before the CA) for the cluster signing duration (one year) or
``spec.expirationSeconds`` if shorter (never past the CA), and written to
``status.certificate``. Without a CA key (``--cluster-signing-cert-file`` /
``--cluster-signing-key-file``) the controller does not run, as upstream.

The CA files are read at start-up, but parsed (and ``cryptography``, ~8 MB
resident, loaded) only when the first request is signed: an idle controller
manager does not carry it.
"""

from __future__ import annotations

import base64
import logging
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinnace.api import errors
from pinnace.controllers import _csr
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import new_predicate
from pinnace.runtime.reconcile import Request, Result

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

__all__ = ["CSRSigningReconciler", "ClusterSigner", "add_csr_signing_controller"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

KIND = "certificates.k8s.io/v1/CertificateSigningRequest"
SIGNERS = (_csr.KUBELET_CLIENT_SIGNER, _csr.CLIENT_SIGNER, _csr.KUBELET_SERVING_SIGNER, _csr.LEGACY_SIGNER)
#: kube-controller-manager's --cluster-signing-duration default.
DEFAULT_DURATION = timedelta(days=365)
BACKDATE = timedelta(minutes=5)

#: Extended key usages by name: the ``ExtendedKeyUsageOID`` attribute each stands for.
_EXTENDED = {
    "server auth": "SERVER_AUTH",
    "client auth": "CLIENT_AUTH",
    "code signing": "CODE_SIGNING",
    "email protection": "EMAIL_PROTECTION",
    "s/mime": "EMAIL_PROTECTION",
    "timestamping": "TIME_STAMPING",
    "ocsp signing": "OCSP_SIGNING",
    "any": "ANY_EXTENDED_KEY_USAGE",
}
_KEY_USAGES = {
    "signing": "digital_signature",
    "digital signature": "digital_signature",
    "content commitment": "content_commitment",
    "key encipherment": "key_encipherment",
    "key agreement": "key_agreement",
    "data encipherment": "data_encipherment",
    "cert sign": "key_cert_sign",
    "crl sign": "crl_sign",
    "encipher only": "encipher_only",
    "decipher only": "decipher_only",
}
_SERVING_USAGES = frozenset({"digital signature", "key encipherment", "server auth"})
_CLIENT_USAGES = frozenset({"digital signature", "key encipherment", "client auth"})


class ClusterSigner:
    """The CA certificate and key that sign, and for how long."""

    def __init__(self, cert_file: Path, key_file: Path, duration: timedelta = DEFAULT_DURATION) -> None:
        self._cert_pem, self._key_pem = cert_file.read_bytes(), key_file.read_bytes()
        self._key_file = key_file
        self._parsed: tuple[x509.Certificate, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] | None = None
        self.duration = duration

    def _load(self) -> tuple[x509.Certificate, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]:
        if self._parsed is None:
            from cryptography import x509
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ec, rsa

            certificate = x509.load_pem_x509_certificate(self._cert_pem)
            key = serialization.load_pem_private_key(self._key_pem, password=None)
            if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
                raise ValueError(f"{self._key_file}: the CA key must be RSA or ECDSA")
            self._parsed = (certificate, key)
        return self._parsed

    @property
    def certificate(self) -> x509.Certificate:
        """The CA certificate (parsed on first use)."""
        return self._load()[0]

    @property
    def key(self) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        """The CA private key (parsed on first use)."""
        return self._load()[1]

    def sign(self, request: x509.CertificateSigningRequest, usages: list[str], seconds: int | None) -> bytes:
        """A PEM certificate for ``request`` with ``usages``, valid ``seconds`` (capped by the duration and the CA)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.x509.oid import ExtendedKeyUsageOID

        now = datetime.now(UTC)
        lifetime = self.duration if not seconds else min(self.duration, timedelta(seconds=seconds))
        not_before = max(now - BACKDATE, self.certificate.not_valid_before_utc)
        not_after = min(now + lifetime, self.certificate.not_valid_after_utc)
        flags = dict.fromkeys(set(_KEY_USAGES.values()), False)
        for usage in usages:
            if usage in _KEY_USAGES:
                flags[_KEY_USAGES[usage]] = True
        if not flags["key_agreement"]:
            flags["encipher_only"] = flags["decipher_only"] = False
        builder = (
            x509.CertificateBuilder()
            .subject_name(request.subject)
            .issuer_name(self.certificate.subject)
            .public_key(request.public_key())
            .serial_number(secrets.randbits(127) | 1)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(**flags), critical=True)
        )
        extended = [getattr(ExtendedKeyUsageOID, _EXTENDED[u]) for u in usages if u in _EXTENDED]
        if extended:
            builder = builder.add_extension(x509.ExtendedKeyUsage(list(dict.fromkeys(extended))), critical=False)
        try:
            sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            builder = builder.add_extension(sans.value, critical=False)
        except x509.ExtensionNotFound:
            pass
        cert = builder.sign(self.key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM)


def _signer_problem(csr: Obj, request: x509.CertificateSigningRequest) -> str | None:
    """Why the signer must refuse this request (upstream's per-signer checks), or None."""
    from cryptography import x509

    signer = (csr.get("spec") or {}).get("signerName")
    usages = set((csr.get("spec") or {}).get("usages") or [])
    if signer == _csr.KUBELET_CLIENT_SIGNER:
        return _csr.node_client_problem(csr, request)
    if signer == _csr.CLIENT_SIGNER:
        if "client auth" not in usages or not usages <= _CLIENT_USAGES:
            return "usages did not match " + ", ".join(sorted(_CLIENT_USAGES))
        return None
    if signer == _csr.KUBELET_SERVING_SIGNER:
        cn, orgs = _csr.subject(request)
        if orgs != [_csr.NODES_GROUP]:
            return f"subject organization is not {_csr.NODES_GROUP}"
        if not cn.startswith(_csr.NODE_USER_PREFIX):
            return f'subject common name does not begin with "{_csr.NODE_USER_PREFIX}"'
        if "server auth" not in usages or not usages <= _SERVING_USAGES:
            return "usages did not match " + ", ".join(sorted(_SERVING_USAGES))
        try:
            sans = request.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            return "DNS or IP subjectAltName is required"
        if sans.get_values_for_type(x509.RFC822Name) or sans.get_values_for_type(x509.UniformResourceIdentifier):
            return "email and URI subjectAltNames are not allowed"
        return None
    return None


def _candidate(csr: Obj) -> bool:
    spec, status = csr.get("spec") or {}, csr.get("status") or {}
    return (
        spec.get("signerName") in SIGNERS
        and _csr.condition(csr, "Approved") is not None
        and _csr.condition(csr, "Failed") is None
        and not status.get("certificate")
    )


async def add_csr_signing_controller(
    manager: Manager,
    *,
    cert_file: str | Path | None = None,
    key_file: str | Path | None = None,
    duration: float | None = None,
    workers: int = 1,
) -> Controller | None:
    """Add the CSR signing controller to ``manager`` (nothing without the CA files, with a warning)."""
    if not cert_file or not key_file:
        log.warning("csrsigning: no --cluster-signing-cert-file/--cluster-signing-key-file; not signing CSRs")
        return None
    span = timedelta(seconds=duration) if duration else DEFAULT_DURATION
    signer = ClusterSigner(Path(cert_file), Path(key_file), span)
    return await (
        Builder(manager)
        .named("csrsigning")
        .for_(KIND, new_predicate(_candidate))
        .with_options(max_concurrent_reconciles=workers)
        .complete(CSRSigningReconciler(manager.client, signer))
    )


class CSRSigningReconciler:
    """Signs approved requests of the built-in signers (see the module docstring)."""

    def __init__(self, client: Client, signer: ClusterSigner) -> None:
        self.client = client
        self.signer = signer

    async def reconcile(self, request: Request) -> Result:
        """Issue the certificate, or mark the request Failed if its signer must refuse it."""
        csr = await get_or_none(self.client, KIND, request.name)
        if csr is None or not _candidate(csr):
            return Result()
        parsed = _csr.request_of(csr)
        problem = "the request is not a valid PKCS#10 request" if parsed is None else _signer_problem(csr, parsed)
        status = dict(csr.get("status") or {})
        if problem is not None or parsed is None:
            failed = {"type": "Failed", "status": "True", "reason": "SignerValidationFailure", "message": problem}
            status["conditions"] = [*(status.get("conditions") or []), failed]
        else:
            spec = csr.get("spec") or {}
            pem = self.signer.sign(parsed, list(spec.get("usages") or []), spec.get("expirationSeconds"))
            status["certificate"] = base64.b64encode(pem).decode()
        csr["status"] = status
        try:
            await self.client.status().update(csr)
        except errors.Conflict:
            return Result(requeue=True)
        except errors.NotFound:
            return Result()
        return Result()
