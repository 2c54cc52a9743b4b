"""The certificate key and the kubeadm-certs Secret's data: AES-256-GCM round trip, names, refusals."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag

from pinnace.adm import uploadcerts
from pinnace.adm.certs import certificate_key
from pinnace.adm.pki import ECDSA_P256, PKIConfig, create_pki


def test_encryption_round_trip_and_wrong_key() -> None:
    key = uploadcerts.parse_certificate_key(certificate_key())
    sealed = uploadcerts.encrypt(b"-----BEGIN KEY-----", key)
    again = uploadcerts.encrypt(b"-----BEGIN KEY-----", key)
    assert sealed != again  # a fresh nonce each time
    assert len(sealed) == 12 + len(b"-----BEGIN KEY-----") + 16  # nonce, ciphertext, GCM tag
    assert uploadcerts.decrypt(sealed, key) == b"-----BEGIN KEY-----"
    with pytest.raises(InvalidTag):
        uploadcerts.decrypt(sealed, bytes(32))
    with pytest.raises(InvalidTag):
        uploadcerts.decrypt(sealed[:-1] + bytes([sealed[-1] ^ 1]), key)


@pytest.mark.parametrize("bad", ["xyz", "00" * 16, "00" * 33, ""])
def test_a_certificate_key_is_32_bytes_of_hex(bad: str) -> None:
    with pytest.raises(uploadcerts.UploadCertsError, match="error decoding certificate key"):
        uploadcerts.parse_certificate_key(bad)
    assert len(uploadcerts.parse_certificate_key(certificate_key())) == 32


def test_secret_data_holds_each_shared_file_encrypted(tmp_path: Path) -> None:
    create_pki(tmp_path, PKIConfig(node_name="cp", etcd=True, encryption_algorithm=ECDSA_P256))
    (tmp_path / "encryption-config.yaml").write_text("kind: EncryptionConfiguration\n")
    key_hex = certificate_key()
    data = uploadcerts.secret_data(tmp_path, uploadcerts.parse_certificate_key(key_hex))
    assert sorted(data) == sorted(["ca.crt", "ca.key", "front-proxy-ca.crt", "front-proxy-ca.key", "sa.pub", "sa.key",
                                   "etcd-ca.crt", "etcd-ca.key", "encryption-config.yaml"])  # fmt: skip
    for value in data.values():
        assert b"BEGIN" not in base64.b64decode(value)  # no plaintext PEM in the Secret
    files = uploadcerts.decrypt_secret(data, key_hex)
    assert files["etcd-ca.key"] == (tmp_path / "pki" / "etcd" / "ca.key").read_bytes()
    assert files["sa.pub"] == (tmp_path / "pki" / "sa.pub").read_bytes()
    assert files["encryption-config.yaml"] == b"kind: EncryptionConfiguration\n"
    with pytest.raises(uploadcerts.UploadCertsError, match="message authentication failed"):
        uploadcerts.decrypt_secret(data, certificate_key())


def test_without_stacked_etcd_its_ca_is_empty(tmp_path: Path) -> None:
    create_pki(tmp_path, PKIConfig(node_name="cp", encryption_algorithm=ECDSA_P256))
    data = uploadcerts.secret_data(tmp_path, bytes(32))
    assert data["etcd-ca.crt"] == data["etcd-ca.key"] == data["encryption-config.yaml"] == ""
    assert uploadcerts.decrypt_secret(data, "00" * 32)["etcd-ca.key"] == b""


def test_rbac_lets_joining_tokens_get_only_that_secret() -> None:
    (_, role), (_, binding) = uploadcerts.rbac_objects()
    assert role["metadata"] == binding["metadata"] == {"name": "kubeadm:kubeadm-certs", "namespace": "kube-system"}
    assert role["rules"] == [
        {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["kubeadm-certs"], "verbs": ["get"]}
    ]
    assert binding["subjects"][0]["name"] == "system:bootstrappers:kubeadm:default-node-token"
