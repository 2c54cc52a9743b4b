"""The HTTPS listener's certificates, chosen by SNI.

One server :class:`ssl.SSLContext` (TLS ≥ 1.2, ALPN ``http/1.1``) holds the default certificate and a
``sni_callback`` that switches each handshake to the context of the name the client asked for: an exact TLS host,
else a wildcard one (``*.example.com``), else the default. Each ``kubernetes.io/tls`` Secret named by a served
Ingress becomes one context (made again only when the Secret changes); a Secret that is missing, of another type,
or whose ``tls.crt``/``tls.key`` do not load leaves its hosts on the default certificate, and is logged — what
ingress-nginx does.

The default certificate is ingress-nginx's "Kubernetes Ingress Controller Fake Certificate": self-signed, for
``ingress.local``, made when the store is created and never written to disk.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import logging
import os
import ssl
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pinnace.adm.pki import BACKDATE, CERT_VALIDITY, ECDSA_P256, CertPair, generate_key
from pinnace.ingress.routes import TLSRef

__all__ = ["DEFAULT_CERT_NAME", "CertificateStore", "self_signed_pair"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: The default certificate's subject and name, as ingress-nginx's.
DEFAULT_CERT_NAME = "Kubernetes Ingress Controller Fake Certificate"
DEFAULT_CERT_HOST = "ingress.local"


def self_signed_pair(common_name: str, dns_name: str) -> CertPair:
    """A self-signed serving certificate for ``dns_name`` with a fresh ECDSA P-256 key."""
    key = generate_key(ECDSA_P256)
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Co"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])  # fmt: skip
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertPair(cert, key)


def _server_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """A server context serving one certificate chain (``ssl`` loads keys only from files: a private temp dir)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    with tempfile.TemporaryDirectory(prefix="pinnace-ingress-") as tmp:
        crt, key = Path(tmp) / "tls.crt", Path(tmp) / "tls.key"
        for path, data in ((crt, cert_pem), (key, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        context.load_cert_chain(crt, key)
    return context


def _secret_pem(secret: Obj) -> tuple[bytes, bytes]:
    """The decoded ``tls.crt`` and ``tls.key`` of a Secret (ValueError when missing or not base64)."""
    data = secret.get("data") or {}
    try:
        cert, key = base64.b64decode(data["tls.crt"], validate=True), base64.b64decode(data["tls.key"], validate=True)
    except (KeyError, TypeError, binascii.Error) as exc:
        raise ValueError("no base64 tls.crt and tls.key") from exc
    if not cert or not key:
        raise ValueError("empty tls.crt or tls.key")
    return cert, key


class CertificateStore:
    """The HTTPS listener's :attr:`context`, switching certificates by SNI after each :meth:`update`."""

    def __init__(self) -> None:
        default = self_signed_pair(DEFAULT_CERT_NAME, DEFAULT_CERT_HOST)
        self.default_cert_pem = default.cert_pem()
        self.context = _server_context(self.default_cert_pem, default.key_pem())
        self.context.sni_callback = self._select
        #: Secret key → (its resourceVersion, its context or None when it did not load).
        self._loaded: dict[str, tuple[str, ssl.SSLContext | None]] = {}
        self._hosts: dict[str, ssl.SSLContext] = {}

    def update(self, tls: Mapping[str, TLSRef], secret: Callable[[str], Obj | None]) -> None:
        """Serve the certificates of ``tls`` (host → Secret), reading Secrets by ``namespace/name`` from ``secret``."""
        hosts: dict[str, ssl.SSLContext] = {}
        loaded: dict[str, tuple[str, ssl.SSLContext | None]] = {}
        for host, ref in tls.items():
            if not ref.secret:
                continue
            key = f"{ref.namespace}/{ref.secret}"
            if key not in loaded:
                loaded[key] = self._load(key, secret(key), ref.ingress)
            context = loaded[key][1]
            if context is not None:
                hosts[host] = context
        self._loaded, self._hosts = loaded, hosts

    def _load(self, key: str, secret: Obj | None, ingress: str) -> tuple[str, ssl.SSLContext | None]:
        if secret is None:
            log.warning("ingress %s: TLS secret %s not found; using the default certificate", ingress, key)
            return "", None
        version = str((secret.get("metadata") or {}).get("resourceVersion") or "")
        known = self._loaded.get(key)
        if known is not None and known[0] == version and version:
            return known
        if secret.get("type") != "kubernetes.io/tls":
            log.warning("ingress %s: secret %s is not of type kubernetes.io/tls; using the default certificate",
                        ingress, key)  # fmt: skip
            return version, None
        try:
            context = _server_context(*_secret_pem(secret))
        except (ValueError, ssl.SSLError) as exc:
            log.warning("ingress %s: TLS secret %s does not load (%s); using the default certificate",
                        ingress, key, exc)  # fmt: skip
            return version, None
        return version, context

    def context_for(self, server_name: str | None) -> ssl.SSLContext:
        """The context a handshake asking for ``server_name`` gets."""
        if server_name:
            host = server_name.lower().rstrip(".")
            found = self._hosts.get(host)
            if found is None and "." in host:
                first, rest = host.split(".", 1)
                found = self._hosts.get(f"*.{rest}") if first else None
            if found is not None:
                return found
        return self.context

    def _select(self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        context = self.context_for(server_name)
        if context is not self.context:
            connection.context = context
