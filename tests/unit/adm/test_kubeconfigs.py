"""The kubeconfig phase: kubeadm's files, the identity in each client certificate, reuse, a node's kubeconfig."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from pinnace.adm import kubeconfigs, pki
from pinnace.client import load_client_config


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pki.PKI]:
    data = tmp_path_factory.mktemp("data")
    p = pki.create_pki(data, pki.PKIConfig(node_name="a"))
    kubeconfigs.create_kubeconfigs(data, p, "https://127.0.0.1:6443")
    return data, p


def _identity(config: dict[str, object]) -> tuple[list[str], list[str], x509.Certificate]:
    user = config["users"][0]["user"]  # type: ignore[index]
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["client-certificate-data"]))
    cn = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    return cn, orgs, cert


@pytest.mark.parametrize(
    ("name", "cn", "orgs"),
    [
        ("admin.conf", "kubernetes-admin", ["kubeadm:cluster-admins"]),
        ("super-admin.conf", "kubernetes-super-admin", ["system:masters"]),
        ("controller-manager.conf", "system:kube-controller-manager", []),
        ("scheduler.conf", "system:kube-scheduler", []),
    ],
)
def test_each_file_names_its_component(cluster: tuple[Path, pki.PKI], name: str, cn: str, orgs: list[str]) -> None:
    data, p = cluster
    config = yaml.safe_load((data / name).read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
    assert ca == p.ca.cert_pem()
    got_cn, got_orgs, cert = _identity(config)
    assert (got_cn, got_orgs) == ([cn], orgs)
    assert pki.signed_by(cert, p.ca.cert)
    assert config["current-context"] == f"{cn}@kubernetes"
    # Our client reads it: CA, client certificate and key.
    loaded = load_client_config(str(data / name))
    assert loaded.server == "https://127.0.0.1:6443" and loaded.tls.cert and loaded.tls.key and loaded.tls.ca
    assert (data / name).stat().st_mode & 0o077 == 0


def test_a_rerun_keeps_the_certificates_and_follows_the_server(cluster: tuple[Path, pki.PKI]) -> None:
    data, p = cluster
    before = _identity(yaml.safe_load((data / "admin.conf").read_text()))[2]
    kubeconfigs.create_kubeconfigs(data, p, "https://127.0.0.1:7443")
    config = yaml.safe_load((data / "admin.conf").read_text())
    assert _identity(config)[2] == before
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:7443"


def test_a_new_ca_reissues_the_client_certificates(tmp_path: Path) -> None:
    p = pki.create_pki(tmp_path, pki.PKIConfig(node_name="a"))
    kubeconfigs.create_kubeconfigs(tmp_path, p, "https://127.0.0.1:6443")
    for f in ("ca.crt", "ca.key"):
        (p.dir / f).unlink()
    p2 = pki.create_pki(tmp_path, pki.PKIConfig(node_name="a"))
    kubeconfigs.create_kubeconfigs(tmp_path, p2, "https://127.0.0.1:6443")
    cert = _identity(yaml.safe_load((tmp_path / "admin.conf").read_text()))[2]
    assert pki.signed_by(cert, p2.ca.cert)


def test_node_kubeconfig(cluster: tuple[Path, pki.PKI]) -> None:
    _, p = cluster
    config = kubeconfigs.node_kubeconfig(p, "worker-1", "https://10.0.0.1:6443")
    cn, orgs, cert = _identity(config)
    assert (cn, orgs) == (["system:node:worker-1"], ["system:nodes"])
    assert pki.signed_by(cert, p.ca.cert)


def test_admin_kubeconfigs_name_the_control_plane_endpoint(tmp_path: Path) -> None:
    cluster_pki = pki.create_pki(tmp_path, pki.PKIConfig(node_name="cp", encryption_algorithm=pki.ECDSA_P256))
    written = kubeconfigs.create_kubeconfigs(
        tmp_path, cluster_pki, "https://127.0.0.6:7443", endpoint="https://cp.example:443"
    )
    assert "server: https://cp.example:443" in written["admin.conf"].read_text()
    assert "server: https://cp.example:443" in written["super-admin.conf"].read_text()
    assert "server: https://127.0.0.6:7443" in written["controller-manager.conf"].read_text()
    assert "server: https://127.0.0.6:7443" in written["scheduler.conf"].read_text()
