"""The certs phase: kubeadm's files, subjects, SANs, validity periods, chains, reuse and renewal."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pinnace.adm import pki
from pinnace.api import sakeys

CONFIG = pki.PKIConfig(node_name="Node-1", advertise_address="192.0.2.10", extra_sans=("api.example.com", "10.0.0.7"))


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pki.PKI]:
    data = tmp_path_factory.mktemp("data")
    return data, pki.create_pki(data, CONFIG)


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _subject(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


def _days(cert: x509.Certificate) -> float:
    return (cert.not_valid_after_utc - cert.not_valid_before_utc) / datetime.timedelta(days=1)


def test_kubeadm_layout_and_file_modes(made: tuple[Path, pki.PKI]) -> None:
    _, p = made
    names = {str(f.relative_to(p.dir)) for f in p.dir.rglob("*") if f.is_file()}
    expected = {f"{n}.{ext}" for n in pki.STANDARD_CERTS for ext in ("crt", "key")} | {"sa.key", "sa.pub"}
    assert names == expected
    for f in p.dir.rglob("*.key"):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    assert not (p.dir / "etcd").exists()


def test_cas_are_ten_years_and_leaves_one_year(made: tuple[Path, pki.PKI]) -> None:
    _, p = made
    for ca in ("ca", "front-proxy-ca"):
        cert = _cert(p.path(ca)[0])
        assert 3650 <= _days(cert) <= 3651
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    for leaf in ("apiserver", "apiserver-kubelet-client", "front-proxy-client"):
        cert = _cert(p.path(leaf)[0])
        assert 365 <= _days(cert) <= 366
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        public = cert.public_key()
        assert isinstance(public, rsa.RSAPublicKey) and public.key_size == 2048


def test_subjects_and_usages(made: tuple[Path, pki.PKI]) -> None:
    _, p = made
    server = _cert(p.path("apiserver")[0])
    assert _subject(server, NameOID.COMMON_NAME) == ["kube-apiserver"]
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    kubelet_client = _cert(p.path("apiserver-kubelet-client")[0])
    assert _subject(kubelet_client, NameOID.COMMON_NAME) == ["kube-apiserver-kubelet-client"]
    assert _subject(kubelet_client, NameOID.ORGANIZATION_NAME) == ["kubeadm:cluster-admins"]
    assert list(kubelet_client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH
    ]
    assert _subject(_cert(p.path("front-proxy-client")[0]), NameOID.COMMON_NAME) == ["front-proxy-client"]


def test_apiserver_sans(made: tuple[Path, pki.PKI]) -> None:
    _, p = made
    sans = _cert(p.path("apiserver")[0]).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(sans.get_values_for_type(x509.DNSName)) == {
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        "localhost",
        "node-1",
        "api.example.com",
    }
    assert set(sans.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address(a) for a in ("127.0.0.1", "10.96.0.1", "192.0.2.10", "10.0.0.7")
    }


def test_chains_verify_with_openssl_as_tls_does(made: tuple[Path, pki.PKI]) -> None:
    _, p = made
    assert pki.signed_by(_cert(p.path("apiserver")[0]), p.ca.cert)
    assert pki.signed_by(_cert(p.path("apiserver-kubelet-client")[0]), p.ca.cert)
    assert pki.signed_by(_cert(p.path("front-proxy-client")[0]), p.front_proxy_ca.cert)
    assert not pki.signed_by(_cert(p.path("front-proxy-client")[0]), p.ca.cert)
    # The serving pair loads into an SSL context, and the CA verifies it by name.
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*map(str, p.path("apiserver")))


def test_service_account_key_pair(made: tuple[Path, pki.PKI]) -> None:
    _, p = made
    key = sakeys.load(p.sa_key)
    assert (p.dir / "sa.pub").read_bytes() == sakeys.public_pem(key)


def test_existing_files_are_reused(made: tuple[Path, pki.PKI]) -> None:
    data, p = made
    before = {f: f.read_bytes() for f in p.dir.rglob("*") if f.is_file()}
    again = pki.create_pki(data, CONFIG)
    assert {f: f.read_bytes() for f in again.dir.rglob("*") if f.is_file()} == before


def test_a_new_san_renews_only_the_serving_cert_keeping_its_key(tmp_path: Path) -> None:
    p = pki.create_pki(tmp_path, pki.PKIConfig(node_name="a"))
    crt, key = p.path("apiserver")
    old_cert, old_key, old_ca = crt.read_bytes(), key.read_bytes(), p.path("ca")[0].read_bytes()
    pki.create_pki(tmp_path, pki.PKIConfig(node_name="a", extra_sans=("new.example.com",)))
    assert crt.read_bytes() != old_cert and key.read_bytes() == old_key
    assert p.path("ca")[0].read_bytes() == old_ca
    sans = _cert(crt).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "new.example.com" in sans.get_values_for_type(x509.DNSName)


def test_a_cert_of_another_ca_or_a_broken_file_is_replaced(tmp_path: Path) -> None:
    p = pki.create_pki(tmp_path, pki.PKIConfig(node_name="a"))
    other = pki.create_pki(tmp_path / "other", pki.PKIConfig(node_name="a"))
    for suffix in (0, 1):
        os.replace(other.path("apiserver")[suffix], p.path("apiserver")[suffix])
    p.path("front-proxy-client")[0].write_text("garbage")
    pki.create_pki(tmp_path, pki.PKIConfig(node_name="a"))
    assert pki.signed_by(_cert(p.path("apiserver")[0]), p.ca.cert)
    assert pki.signed_by(_cert(p.path("front-proxy-client")[0]), p.front_proxy_ca.cert)


def test_an_older_data_dirs_sa_key_moves_into_pki(tmp_path: Path) -> None:
    old = sakeys.load_or_generate(tmp_path / "sa.key")
    p = pki.create_pki(tmp_path, pki.PKIConfig(node_name="a"))
    assert not (tmp_path / "sa.key").exists()
    assert sakeys.key_id(sakeys.load(p.sa_key)) == sakeys.key_id(old)  # tokens it signed stay valid


def test_etcd_certs_only_when_asked(tmp_path: Path) -> None:
    p = pki.create_pki(tmp_path, pki.PKIConfig(node_name="a", etcd=True))
    etcd_ca = _cert(p.path("etcd/ca")[0])
    assert _subject(etcd_ca, NameOID.COMMON_NAME) == ["etcd-ca"]
    for name in ("etcd/server", "etcd/peer", "etcd/healthcheck-client", "apiserver-etcd-client"):
        assert pki.signed_by(_cert(p.path(name)[0]), etcd_ca), name
    server = _cert(p.path("etcd/server")[0])
    eku = list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert eku == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]


def test_ecdsa_keys_when_asked(tmp_path: Path) -> None:
    p = pki.create_pki(tmp_path, pki.PKIConfig(node_name="a", encryption_algorithm=pki.ECDSA_P256))
    assert isinstance(_cert(p.path("apiserver")[0]).public_key(), ec.EllipticCurvePublicKey)
    assert isinstance(sakeys.load(p.sa_key), rsa.RSAPrivateKey)  # tokens are RS256 whatever the PKI uses
    with pytest.raises(ValueError, match="unknown encryption algorithm"):
        pki.generate_key("DSA")
