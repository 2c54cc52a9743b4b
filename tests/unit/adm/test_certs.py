"""``adm certs``: check-expiration's table, renewal (same CA and key, subject and SANs kept), CSRs, the key."""

from __future__ import annotations

import base64
import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from pinnace.adm import certs, kubeconfigs, pki
from pinnace.client import kubeconfig

UTC = datetime.UTC


@pytest.fixture
def data(tmp_path: Path) -> Path:
    config = pki.PKIConfig(node_name="cp-1", advertise_address="127.0.0.1", extra_sans=("cp.example",))
    made = pki.create_pki(tmp_path, config)
    kubeconfigs.create_kubeconfigs(tmp_path, made, "https://127.0.0.1:6443")
    return tmp_path


def _embedded(path: Path) -> x509.Certificate:
    user = kubeconfig.load(path)["users"][0]["user"]
    return x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))


def _spki(cert: x509.Certificate) -> bytes:
    return cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (datetime.timedelta(seconds=-5), "<invalid>"),
        (datetime.timedelta(seconds=-0.5), "0s"),
        (datetime.timedelta(seconds=59), "59s"),
        (datetime.timedelta(minutes=59, seconds=59), "59m"),
        (datetime.timedelta(hours=23, minutes=59), "23h"),
        (datetime.timedelta(days=364, hours=23), "364d"),
        (datetime.timedelta(days=3650), "10y"),
        (datetime.timedelta(days=3649), "9y"),
    ],
)
def test_short_duration_is_apimachinerys(delta: datetime.timedelta, text: str) -> None:
    assert certs.short_duration(delta) == text


def test_check_expiration_table(data: Path) -> None:
    found, cas = certs.check_expiration(data)
    names = [c.name for c in found]
    assert names == [
        "admin.conf",
        "apiserver",
        "apiserver-kubelet-client",
        "controller-manager.conf",
        "front-proxy-client",
        "scheduler.conf",
        "super-admin.conf",
    ]  # fmt: skip  (no stacked etcd: no etcd certificates)
    assert [c.name for c in cas] == ["ca", "front-proxy-ca"]
    assert {c.ca for c in found} == {"ca", "front-proxy-ca"}
    now = datetime.datetime.now(UTC)
    table = certs.expiration_table(found, cas, now).splitlines()
    assert table[0].split() == ["CERTIFICATE", "EXPIRES", "RESIDUAL", "TIME", "CERTIFICATE", "AUTHORITY",
                                "EXTERNALLY", "MANAGED"]  # fmt: skip
    row = table[2].split()
    assert row[0] == "apiserver" and row[-3:] == ["364d", "ca", "no"]
    assert row[5] == "UTC" and row[1] == found[1].expires.strftime("%b")  # type: ignore[union-attr]
    assert "" in table  # the CA table follows after a blank line
    ca_header = table[table.index("") + 1]
    assert ca_header.split()[:2] == ["CERTIFICATE", "AUTHORITY"]
    assert table[-2].split()[0] == "ca" and table[-2].split()[-2:] == ["9y", "no"]
    # Columns line up as Go's tabwriter lines them up: every row's second field starts at the header's.
    column = table[0].index("EXPIRES")
    assert all(line[column - 1] == " " and line[column] != " " for line in table[1:8])


def test_missing_and_externally_managed(data: Path) -> None:
    (data / "scheduler.conf").unlink()
    (data / "pki" / "front-proxy-ca.key").unlink()
    found, cas = certs.check_expiration(data)
    by_name = {c.name: c for c in found}
    assert by_name["scheduler.conf"].expires is None
    assert by_name["front-proxy-client"].externally_managed and not by_name["apiserver"].externally_managed
    table = certs.expiration_table(found, cas)
    assert "!MISSING! scheduler.conf" in table
    with pytest.raises(certs.CertsError, match="front-proxy-ca key is not in"):
        certs.renew(data, "front-proxy-client", announce=lambda _: None)


def test_renew_keeps_key_subject_and_sans_and_moves_expiry(data: Path) -> None:
    crt = data / "pki" / "apiserver.crt"
    before = x509.load_pem_x509_certificate(crt.read_bytes())
    admin_before = _embedded(data / "admin.conf")
    said: list[str] = []
    assert certs.renew(data, "all", announce=said.append) == [c.name for c in certs.check_expiration(data)[0]]
    assert "certificate for serving the Kubernetes API renewed" in said
    after = x509.load_pem_x509_certificate(crt.read_bytes())
    assert after.serial_number != before.serial_number
    assert _spki(after) == _spki(before) and after.subject == before.subject
    san = x509.SubjectAlternativeName
    assert after.extensions.get_extension_for_class(san) == before.extensions.get_extension_for_class(san)
    assert after.not_valid_after_utc >= before.not_valid_after_utc
    ca = x509.load_pem_x509_certificate((data / "pki" / "ca.crt").read_bytes())
    assert pki.signed_by(after, ca)
    admin_after = _embedded(data / "admin.conf")
    assert admin_after.serial_number != admin_before.serial_number and _spki(admin_after) == _spki(admin_before)
    assert admin_after.subject == admin_before.subject  # CN=kubernetes-admin, O=kubeadm:cluster-admins
    with pytest.raises(certs.CertsError, match="unknown certificate"):
        certs.renew(data, "nope")


def test_certificate_key() -> None:
    key = certs.certificate_key()
    assert len(key) == 64 and bytes.fromhex(key) and key != certs.certificate_key()


def test_generate_csr(tmp_path: Path) -> None:
    config = pki.PKIConfig(node_name="cp-1", advertise_address="10.0.0.5")
    written = certs.generate_csrs(tmp_path / "pki", tmp_path, config, "https://10.0.0.5:6443")
    csr = x509.load_pem_x509_csr((tmp_path / "pki" / "apiserver.csr").read_bytes())
    assert csr.is_signature_valid
    assert csr.subject.rfc4514_string() == "CN=kube-apiserver"
    ips = {
        str(ip)
        for ip in csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(
            x509.IPAddress
        )
    }
    assert {"10.0.0.5", "10.96.0.1", "127.0.0.1"} <= ips
    admin = x509.load_pem_x509_csr((tmp_path / "admin.conf.csr").read_bytes())
    assert admin.subject.rfc4514_string() == "CN=kubernetes-admin,O=kubeadm:cluster-admins"
    key = pki.load_private_key(
        base64.b64decode(kubeconfig.load(tmp_path / "admin.conf")["users"][0]["user"]["client-key-data"])
    )
    assert _spki_of_key(key) == admin.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert (tmp_path / "pki" / "apiserver.key").stat().st_mode & 0o777 == 0o600
    assert len(written) == 3 * 2 + 4 * 2
    with pytest.raises(certs.CertsError, match="refusing to overwrite"):
        certs.generate_csrs(tmp_path / "pki", tmp_path, config, "https://10.0.0.5:6443")


def _spki_of_key(key: pki.PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
