"""``serverTLSBootstrap``: the kubelet's serving certificate from the cluster CA, by a ``kubelet-serving`` CSR.

With the kubelet's ``serverTLSBootstrap: true`` a node does not sign its own
serving certificate (:mod:`pinnace.node.kubeletcert`'s default): it asks the
cluster for one with a CertificateSigningRequest — signer
``kubernetes.io/kubelet-serving``, subject ``O=system:nodes,
CN=system:node:<name>``, SANs its name and addresses, usages ``digital
signature`` and ``server auth`` (an ECDSA key) — under its own credentials.
kube-controller-manager does not approve these by itself (a node could claim
any address): an admin does (``kubectl certificate approve``), or an approver
of the cluster's choosing; the csrsigning controller then issues it.

:class:`ServingCertificateManager` keeps the certificate with its key in
``DATA_DIR/pki/kubelet-server-current.pem`` (as upstream's file of that name),
loads it into the kubelet API's TLS context, and asks for a new one when 80 %
of its lifetime has passed (upstream: a jittered 70 to 90 %) or when it no
longer names the node. Until one is issued the kubelet API answers no TLS
handshake, as upstream's ("no serving certificate available for the
kubelet"). A denied or failed request, or one the API server refused, is
logged and asked again after a back-off (5 s doubling to 5 min).
"""

from __future__ import annotations

import base64
import logging
import ssl
import time
from collections.abc import Sequence
from pathlib import Path

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.node.kubeletcert import general_names, serving_names, usable, write_private
from pinnace.runtime.clock import Clock, RealClock

__all__ = ["CURRENT_FILE", "SERVING_SIGNER", "ServingCertificateManager", "ServingRequestRefused"]

log = logging.getLogger(__name__)

SERVING_SIGNER = "kubernetes.io/kubelet-serving"
CURRENT_FILE = "kubelet-server-current.pem"
CSRS = ResourceRef("certificates.k8s.io", "v1", "certificatesigningrequests", namespaced=False)
#: The share of a certificate's lifetime after which a new one is asked for.
RENEW_AT = 0.8


class ServingRequestRefused(Exception):
    """The serving certificate request was denied or failed (the message says why)."""


class ServingCertificateManager:
    """Obtains, loads and renews a node's CA-issued serving certificate (see the module docstring)."""

    def __init__(
        self,
        rest: RestClient,
        node_name: str,
        addresses: Sequence[str],
        pki_dir: Path,
        context: ssl.SSLContext,
        *,
        clock: Clock | None = None,
        poll: float = 1.0,
    ) -> None:
        """Requests go through ``rest`` (the node's credentials); the certificate is loaded into ``context``."""
        self.rest = rest
        self.node_name = node_name
        self.dns, self.ips = serving_names(node_name, addresses)
        self.path = pki_dir / CURRENT_FILE
        self.context = context
        self.clock: Clock = clock or RealClock()
        self.poll = poll
        #: When (Unix time) the loaded certificate is to be renewed (None: none loaded yet).
        self.renew_at: float | None = None

    def load(self) -> bool:
        """Load the stored certificate into the context if it names the node and is not due for renewal."""
        facts = usable(self.path, self.path, self.dns, self.ips)
        if facts is None:
            return False
        renew_at = facts.not_before + (facts.not_after - facts.not_before) * RENEW_AT
        if renew_at <= time.time():
            return False
        self.context.load_cert_chain(str(self.path))
        self.renew_at = renew_at
        return True

    async def run(self) -> None:
        """Keep a current certificate loaded, until cancelled."""
        backoff = 5.0
        while True:
            if self.load():
                backoff = 5.0
                assert self.renew_at is not None
                await self.clock.sleep(max(self.renew_at - time.time(), 0.0))
                continue
            try:
                write_private(self.path, await self.request())
                log.info("node %s: serving certificate issued (%s)", self.node_name, self.path)
            except (ServingRequestRefused, errors.StatusError, OSError) as exc:
                log.warning(
                    "node %s: no serving certificate yet: %s; asking again in %.0fs", self.node_name, exc, backoff
                )
                await self.clock.sleep(backoff)
                backoff = min(backoff * 2, 300.0)

    async def request(self) -> bytes:
        """Ask for a serving certificate and wait until it is issued: the certificate, then its key (PEM)."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:nodes"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"system:node:{self.node_name}"),
            ]
        )
        csr = (
            x509.CertificateSigningRequestBuilder()
            .subject_name(subject)
            .add_extension(x509.SubjectAlternativeName(general_names(self.dns, self.ips)), critical=False)
            .sign(key, hashes.SHA256())
        )
        body = {
            "apiVersion": "certificates.k8s.io/v1",
            "kind": "CertificateSigningRequest",
            "metadata": {"generateName": "csr-"},
            "spec": {
                "request": base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode(),
                "signerName": SERVING_SIGNER,
                "usages": ["digital signature", "server auth"],
            },
        }
        name = (await self.rest.create(CSRS, body))["metadata"]["name"]
        log.info("node %s: asked for a serving certificate (CertificateSigningRequest %s)", self.node_name, name)
        while True:
            status = (await self.rest.get(CSRS, name)).get("status") or {}
            refused = [
                c
                for c in status.get("conditions") or []
                if c.get("type") in ("Denied", "Failed") and c.get("status", "True") == "True"
            ]
            if refused:
                why = refused[0].get("message") or refused[0].get("reason") or ""
                raise ServingRequestRefused(f"certificate signing request {name} was {refused[0]['type']}: {why}")
            if status.get("certificate"):
                key_pem = key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
                return base64.b64decode(status["certificate"]) + key_pem
            await self.clock.sleep(self.poll)
