"""The kubelet API's TLS: its self-signed serving certificate and the context that asks callers for theirs.

Without ``serverTLSBootstrap`` (kubeadm's default), upstream's kubelet serves
with a self-signed certificate it makes itself, ``/var/lib/kubelet/pki/
kubelet.crt`` and ``kubelet.key``, for the node's host name and addresses,
valid one year; the API server does not verify it (kubeadm sets no
``--kubelet-certificate-authority``). :func:`ensure_serving_cert` makes it in
``DATA_DIR/pki`` when it is missing, unreadable, expired or does not name the
node (a node that moved to a new address gets a new one) and keeps it across
restarts otherwise. The key is ECDSA P-256 (upstream uses RSA 2048: a tenth
of the cost to make, on the node agent's start path).

What a stored certificate says (validity and names) is read with
``cryptography`` once and remembered beside it (``<file>.facts``, valid only
for the exact bytes whose digest it records): a restarting agent checks its
certificate with the standard library alone and does not load ``cryptography``
(~14 MB resident) at all. Whether the key matches is the TLS context's check.

:func:`serving_context` is the server side of the handshake: TLS ≥ 1.2 with
that certificate, asking for a client certificate verified against the client
CA (``authentication.x509.clientCAFile``: the cluster CA) but not requiring
one — a caller without one may still come with a bearer token.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import ipaddress
import json
import os
import re
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography import x509

__all__ = [
    "CERT_FILE",
    "KEY_FILE",
    "VALIDITY",
    "CertFacts",
    "cert_facts",
    "ensure_serving_cert",
    "general_names",
    "serving_context",
    "serving_names",
    "usable",
    "write_private",
]

CERT_FILE = "kubelet.crt"
KEY_FILE = "kubelet.key"
#: How long a self-signed serving certificate is valid (upstream: one year).
VALIDITY = datetime.timedelta(days=365)
_FIRST_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


@dataclass(frozen=True, slots=True)
class CertFacts:
    """What a certificate says that decides whether to keep serving with it."""

    not_before: float
    not_after: float
    dns: frozenset[str]
    ips: frozenset[str]


def serving_names(node_name: str, addresses: Sequence[str]) -> tuple[set[str], set[str]]:
    """The DNS names and IP addresses a node's serving certificate must carry: its name and ``addresses``
    (IP addresses become IP SANs, anything else a DNS name)."""
    dns = {node_name} if node_name else set()
    ips: set[str] = set()
    for value in addresses:
        try:
            ips.add(str(ipaddress.ip_address(value)))
        except ValueError:
            if value:
                dns.add(value)
    return dns, ips


def general_names(dns: set[str], ips: set[str]) -> list[x509.GeneralName]:
    """Those names as subjectAltName entries, in a stable order."""
    from cryptography import x509

    names: list[x509.GeneralName] = [x509.DNSName(d) for d in sorted(dns)]
    return names + [x509.IPAddress(ipaddress.ip_address(ip)) for ip in sorted(ips)]


def _parse(cert_pem: bytes) -> CertFacts | None:
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        return None
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = frozenset(sans.get_values_for_type(x509.DNSName))
        ips = frozenset(str(ip) for ip in sans.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns = ips = frozenset()
    start, end = cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp()
    return CertFacts(start, end, dns, ips)


def cert_facts(cert_file: Path) -> CertFacts | None:
    """The first certificate of ``cert_file``, as its ``.facts`` record (if it is of these bytes) or a parse
    remembered there; None if there is none or it is unreadable."""
    try:
        found = _FIRST_CERT.search(cert_file.read_bytes())
    except OSError:
        return None
    if found is None:
        return None
    cert_pem = found.group(0)
    digest = hashlib.sha256(cert_pem).hexdigest()
    record = cert_file.with_name(cert_file.name + ".facts")
    try:
        saved = json.loads(record.read_text())
        if saved.get("sha256") == digest:
            return CertFacts(saved["notBefore"], saved["notAfter"], frozenset(saved["dns"]), frozenset(saved["ips"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    facts = _parse(cert_pem)
    if facts is not None:
        fields = {"notBefore": facts.not_before, "notAfter": facts.not_after}
        body = {"sha256": digest, **fields, "dns": sorted(facts.dns), "ips": sorted(facts.ips)}
        with contextlib.suppress(OSError):  # only a shortcut for the next start
            write_private(record, json.dumps(body).encode(), 0o644)
    return facts


def usable(cert_file: Path, key_file: Path, dns: set[str], ips: set[str]) -> CertFacts | None:
    """The certificate's facts if it can serve now: valid, naming all of ``dns`` and ``ips``, with its key."""
    facts = cert_facts(cert_file)
    if facts is None or not facts.not_before <= time.time() < facts.not_after:
        return None
    if not (dns <= facts.dns and ips <= facts.ips):
        return None
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(str(cert_file), str(key_file))
    except (OSError, ssl.SSLError):
        return None
    return facts


def write_private(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` at once (a reader never sees half a file), created with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def ensure_serving_cert(pki_dir: Path, node_name: str, addresses: Sequence[str]) -> tuple[Path, Path]:
    """The kubelet's serving certificate and key files in ``pki_dir``, made self-signed if not usable as they are.

    Subject ``CN=<node>@<unix time>`` (as upstream names it); SANs: the node's name and ``addresses``."""
    crt, key_path = pki_dir / CERT_FILE, pki_dir / KEY_FILE
    dns, ips = serving_names(node_name, addresses)
    if usable(crt, key_path, dns, ips):
        return crt, key_path
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{node_name or 'kubelet'}@{int(now.timestamp())}")])
    general = general_names(dns, ips)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(key_path, key_pem)
    write_private(crt, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    cert_facts(crt)  # remembered now, so the next start needs no parse
    return crt, key_path


def serving_context(cert_file: Path | None, key_file: Path | None, client_ca: bytes) -> ssl.SSLContext:
    """The kubelet API's TLS context: its certificate, and client certificates of ``client_ca`` asked for.

    Without a certificate (``serverTLSBootstrap`` before one is issued) handshakes fail until
    ``load_cert_chain`` gives the context one; a later call replaces it for new connections."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert_file is not None:
        ctx.load_cert_chain(str(cert_file), str(key_file) if key_file is not None else None)
    ctx.load_verify_locations(cadata=client_ca.decode("ascii"))
    ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx
