"""Which stored serving certificate the kubelet keeps using, and which it asks anew for."""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pinnace.client.rest import RestClient
from pinnace.node.kubeletcert import serving_context
from pinnace.node.servingcsr import CURRENT_FILE, ServingCertificateManager

NOW = datetime.datetime.now(datetime.UTC)


def store(pki: Path, *, start: datetime.datetime, days: float, ips: tuple[str, ...] = ("127.0.0.2",)) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "system:node:n1")])
    sans = [x509.DNSName("n1"), *(x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips)]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    pki.mkdir(parents=True, exist_ok=True)
    (pki / CURRENT_FILE).write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key_pem)


def manager(pki: Path, ca: bytes) -> ServingCertificateManager:
    context = serving_context(None, None, ca)
    return ServingCertificateManager(RestClient("http://127.0.0.1:1"), "n1", ["127.0.0.2"], pki, context)


def _ca_pem(tmp_path: Path) -> bytes:
    store(tmp_path / "ca", start=NOW, days=1)
    return (tmp_path / "ca" / CURRENT_FILE).read_bytes().split(b"-----END CERTIFICATE-----")[0] + (
        b"-----END CERTIFICATE-----\n"
    )


def test_a_fresh_certificate_is_used_until_80_percent_of_its_life(tmp_path: Path) -> None:
    ca, pki = _ca_pem(tmp_path), tmp_path / "pki"
    assert not manager(pki, ca).load()  # nothing stored
    store(pki, start=NOW - datetime.timedelta(days=1), days=10)
    fresh = manager(pki, ca)
    assert fresh.load()
    start = NOW.replace(microsecond=0) - datetime.timedelta(days=1)
    assert fresh.renew_at == (start + datetime.timedelta(days=8)).timestamp()
    store(pki, start=NOW - datetime.timedelta(days=9), days=10)
    assert not manager(pki, ca).load()  # 90 % gone: ask for a new one


def test_a_certificate_that_no_longer_names_the_node_is_replaced(tmp_path: Path) -> None:
    ca, pki = _ca_pem(tmp_path), tmp_path / "pki"
    store(pki, start=NOW, days=10, ips=("127.0.0.9",))
    assert not manager(pki, ca).load()
