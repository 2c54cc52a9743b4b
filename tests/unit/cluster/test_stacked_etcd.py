"""Stacked etcd's member description: TLS for clients and peers from the etcd PKI, and the API server's options."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.cluster.etcd_member import etcd_command, read_pid, wait_serving
from pinnace.cluster.ports import free_port
from pinnace.cluster.stacked_etcd import LocalEtcd


def _flag(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_a_member_serves_clients_and_peers_over_tls_of_the_etcd_ca(tmp_path: Path) -> None:
    local = LocalEtcd(tmp_path, "cp-2", "127.0.0.6", 12379, 12380)
    argv = etcd_command(local.spec("cp-1=https://127.0.0.1:2380,cp-2=https://127.0.0.6:12380", "existing"), "etcd")
    assert _flag(argv, "--name") == "cp-2" and _flag(argv, "--data-dir") == str(tmp_path / "etcd")
    assert _flag(argv, "--listen-client-urls") == _flag(argv, "--advertise-client-urls") == "https://127.0.0.6:12379"
    assert _flag(argv, "--listen-peer-urls") == "https://127.0.0.6:12380"
    assert _flag(argv, "--initial-cluster-state") == "existing"
    assert _flag(argv, "--initial-cluster") == "cp-1=https://127.0.0.1:2380,cp-2=https://127.0.0.6:12380"
    pki = tmp_path / "pki" / "etcd"
    assert _flag(argv, "--cert-file") == str(pki / "server.crt") and _flag(argv, "--key-file") == str(
        pki / "server.key"
    )
    assert _flag(argv, "--peer-cert-file") == str(pki / "peer.crt")
    assert _flag(argv, "--trusted-ca-file") == _flag(argv, "--peer-trusted-ca-file") == str(pki / "ca.crt")
    assert "--client-cert-auth" in argv and "--peer-client-cert-auth" in argv


def test_the_api_server_reaches_its_local_member_with_its_etcd_client_certificate(tmp_path: Path) -> None:
    local = LocalEtcd(tmp_path, "cp-1")
    assert local.store_arguments() == [
        "--store=etcd://127.0.0.1:2379",
        f"--etcd-cafile={tmp_path / 'pki/etcd/ca.crt'}",
        f"--etcd-certfile={tmp_path / 'pki/apiserver-etcd-client.crt'}",
        f"--etcd-keyfile={tmp_path / 'pki/apiserver-etcd-client.key'}",
    ]
    assert local.running() is None  # no pid file: nothing runs
    (tmp_path / "etcd.pid").write_text("not a pid\n")
    assert read_pid(tmp_path / "etcd.pid") is None


async def test_a_member_that_never_serves_fails_the_wait_with_its_last_log_line(tmp_path: Path) -> None:
    """A member that neither exits nor answers within the timeout: the error says so and quotes its log."""
    log = tmp_path / "etcd.log"
    log.write_text('{"level":"info","msg":"starting"}\n{"level":"warn","msg":"waiting for the first leader"}\n')
    port = free_port()  # nothing listens there
    with pytest.raises(RuntimeError) as failure:
        await wait_serving(f"http://127.0.0.1:{port}", timeout=0.3, exit_code=lambda: None, log_path=log)
    message = str(failure.value)
    assert f"etcd at http://127.0.0.1:{port} did not serve within 0.3 s" in message
    assert "waiting for the first leader" in message and str(log) in message
