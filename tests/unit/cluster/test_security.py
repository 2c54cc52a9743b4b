"""pinnace up's security phase: the PKI for its listen address, the kubeconfigs, the client URL."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cryptography import x509

from pinnace.adm.pki import load_pair, signed_by
from pinnace.cluster.security import SecurityConfig, client_url, cluster_pki, write_kubeconfigs


def _ips(data: Path) -> set[str]:
    pair = load_pair(data / "pki" / "apiserver.crt", data / "pki" / "apiserver.key")
    assert pair is not None
    sans = pair.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)} | set(sans.get_values_for_type(x509.DNSName))


def test_the_listen_address_and_extra_sans_are_in_the_serving_certificate(tmp_path: Path) -> None:
    cluster_pki(tmp_path / "a", "192.0.2.7", SecurityConfig(cert_sans=("api.example.com",)))
    assert {"192.0.2.7", "api.example.com", "127.0.0.1", "10.96.0.1"} <= _ips(tmp_path / "a")
    cluster_pki(tmp_path / "b", "0.0.0.0", SecurityConfig())
    assert "0.0.0.0" not in _ips(tmp_path / "b")


def test_the_admin_kubeconfig_is_merged_as_context_pinnace(tmp_path: Path) -> None:
    pki = cluster_pki(tmp_path, "127.0.0.1", SecurityConfig())
    own = write_kubeconfigs(tmp_path, pki, "https://127.0.0.1:6443", SecurityConfig())
    config = yaml.safe_load(own.read_text())
    assert config["current-context"] == "pinnace"
    assert [c["name"] for c in config["contexts"]] == ["pinnace"]
    assert config["contexts"][0]["context"] == {"cluster": "pinnace", "user": "pinnace"}
    admin = yaml.safe_load((tmp_path / "admin.conf").read_text())
    assert config["users"][0]["user"] == admin["users"][0]["user"]  # the very same credentials
    assert config["clusters"][0]["cluster"] == admin["clusters"][0]["cluster"]
    assert (tmp_path / "controller-manager.conf").exists() and (tmp_path / "scheduler.conf").exists()
    server = load_pair(pki.dir / "apiserver.crt", pki.dir / "apiserver.key")
    assert server is not None and signed_by(server.cert, pki.ca.cert)


def test_client_url() -> None:
    assert client_url("https", "0.0.0.0", 6443) == "https://127.0.0.1:6443"
    assert client_url("https", "::", 6443) == "https://127.0.0.1:6443"
    assert client_url("https", "10.0.0.1", 443) == "https://10.0.0.1:443"
    assert client_url("https", "fd00::1", 6443) == "https://[fd00::1]:6443"


def test_clusters_side_by_side_merge_a_context_each(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first cluster merges ``pinnace``; a second one (whose server differs) ``pinnace-<dir>``, so it does not
    overwrite the first's context; the first, restarted, takes ``pinnace`` again."""
    from pinnace.cluster import daemon

    user = tmp_path / "user-kubeconfig"
    monkeypatch.setenv("KUBECONFIG", str(user))
    urls = {}
    for data, port in ((tmp_path / "first", 6443), (tmp_path / "second cluster", 7443), (tmp_path / "first", 6443)):
        pki = cluster_pki(data, "127.0.0.1", SecurityConfig())
        write_kubeconfigs(data, pki, f"https://127.0.0.1:{port}", SecurityConfig())
        _, merged, name = daemon.write_kubeconfigs(data)
        assert merged == user
        urls[name] = f"https://127.0.0.1:{port}"
        assert yaml.safe_load(user.read_text())["current-context"] == name
    assert list(urls) == ["pinnace", "pinnace-second-cluster"]
    config = yaml.safe_load(user.read_text())
    contexts = {c["name"]: c["context"] for c in config["contexts"]}
    clusters = {c["name"]: c["cluster"]["server"] for c in config["clusters"]}
    for name, url in urls.items():
        assert contexts[name] == {"cluster": name, "user": name}
        assert clusters[name] == url
    assert {u["name"] for u in config["users"]} == set(urls)
