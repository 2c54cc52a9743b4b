"""A second control plane joins with ``pinnace adm join --control-plane --certificate-key``, on stacked etcd.

``adm init --etcd stacked --upload-certs`` makes the first control plane: its
own TLS etcd member (Debian's etcd) under the API server, and the shared keys
encrypted in ``kubeadm-certs``. The second "host" is a second data directory
with its own loopback address and ports: it downloads the keys with the
printed certificate key, adds its etcd member to the cluster and runs its own
API server on it. A write through either API server (the real kubectl, each
with its own admin.conf) is read through the other; the etcd cluster has two
members; a wrong certificate key is refused before anything starts; and ``adm
reset`` of the second takes its member out again.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.e2e.conftest import free_port, run_pinnace
from tests.e2e.kubectl import eventually

from pinnace.storage.etcd import EtcdStore
from pinnace.storage.etcd_channel import EtcdTLS
from pinnace.storage.etcd_cluster import EtcdCluster

pytestmark = pytest.mark.slow

SECOND_HOST = "127.0.0.6"


@dataclass
class ControlPlane:
    """One control plane: its data directory, API server URL and etcd client URL."""

    data_dir: Path
    url: str
    etcd_url: str

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The real kubectl with this control plane's admin.conf, at its own API server."""
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.data_dir / "admin.conf"), "--server", self.url, *args],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def raw(self, key: str) -> bytes:
        """The bytes etcd holds under ``key``, read with this API server's own etcd client certificate."""
        pki = self.data_dir / "pki"
        tls = EtcdTLS(pki / "etcd/ca.crt", pki / "apiserver-etcd-client.crt", pki / "apiserver-etcd-client.key")

        async def read() -> bytes:
            store = await EtcdStore.open([self.etcd_url], tls=tls, watch_window=0)
            try:
                found = await store.get(key)
            finally:
                await store.close()
            assert found is not None, key
            return found.value

        return asyncio.run(read())

    def etcd_members(self) -> list[str]:
        """The names of the etcd cluster's members, asked through this control plane's member."""
        pki = self.data_dir / "pki"
        tls = EtcdTLS(pki / "etcd/ca.crt", pki / "etcd/healthcheck-client.crt", pki / "etcd/healthcheck-client.key")

        async def names() -> list[str]:
            cluster = EtcdCluster([self.etcd_url], tls=tls)
            try:
                return sorted(m.name for m in await cluster.members())
            finally:
                await cluster.close()

        return asyncio.run(names())


@dataclass
class Init:
    """What ``adm init`` made and printed."""

    first: ControlPlane
    output: str
    #: The control-plane endpoint: ``pinnace lb`` in front of both API servers.
    endpoint: str
    #: The second control plane's API server port (the load balancer knows it already).
    second_port: int

    def control_plane_join(self) -> list[str]:
        """The arguments of the printed ``pinnace adm join … --control-plane --certificate-key K``."""
        block = self.output.split("join any number of control-plane nodes", 1)[1].split("Please note", 1)[0]
        words = block.replace("\\\n", " ").split()
        return words[words.index("join") + 1 :]


def _log(data: Path) -> str:
    found = [p for p in (data / "pinnace.log", data / "etcd.log") if p.exists()]
    return "\n".join(p.read_text(errors="replace")[-2000:] for p in found)


def _load_balancer(base: Path, port: int, backends: list[str]) -> subprocess.Popen[bytes]:
    """``pinnace lb`` on 127.0.0.1:port in front of ``backends``, once it accepts connections."""
    args = [sys.executable, "-m", "pinnace", "lb", "--listen", f"127.0.0.1:{port}"]
    for backend in backends:
        args += ["--backend", backend]
    with (base / "lb.log").open("wb") as log:
        lb = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    eventually(listening, timeout=20, interval=0.05)
    return lb


@pytest.fixture(scope="module")
def init(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Init]:
    base = tmp_path_factory.mktemp("adm-cp")
    data = base / "cp-1"
    port, second_port, lb_port, etcd_client, etcd_peer = (free_port() for _ in range(5))
    lb = _load_balancer(base, lb_port, [f"127.0.0.1:{port}", f"{SECOND_HOST}:{second_port}"])
    made = run_pinnace(
        "adm", "init", "--data-dir", str(data), "--node-name", "cp-1", "--apiserver-bind-port", str(port),
        "--control-plane-endpoint", f"127.0.0.1:{lb_port}", "--etcd", "stacked", "--etcd-client-port", str(etcd_client),
        "--etcd-peer-port", str(etcd_peer), "--upload-certs", "--service-cidr", "10.112.0.0/16",
        "--pod-network-cidr", "10.150.0.0/16", "--up-arg=--sim-nodes=1", timeout=120,
    )  # fmt: skip
    try:
        assert made.returncode == 0, made.stdout + made.stderr + _log(data)
        first = ControlPlane(data, f"https://127.0.0.1:{port}", f"https://127.0.0.1:{etcd_client}")
        yield Init(first, made.stdout, f"127.0.0.1:{lb_port}", second_port)
    finally:
        run_pinnace("adm", "reset", "--force", "--data-dir", str(data), timeout=60)
        lb.terminate()
        lb.wait(timeout=10)


def _join_second(init: Init, data: Path, *, certificate_key: str | None = None) -> subprocess.CompletedProcess[str]:
    args = init.control_plane_join()
    if certificate_key is not None:
        args[args.index("--certificate-key") + 1] = certificate_key
    return run_pinnace(
        "adm", "join", *args, "--data-dir", str(data), "--node-name", "cp-2",
        "--apiserver-advertise-address", SECOND_HOST, "--apiserver-bind-port", str(init.second_port),
        "--etcd-client-port", str(free_port()), "--etcd-peer-port", str(free_port()), timeout=120,
    )  # fmt: skip


def test_init_runs_on_its_own_etcd_and_uploads_the_certificates(init: Init) -> None:
    out = init.output
    assert "[etcd] The local etcd member is healthy" in out
    key = re.search(r"\[upload-certs\] Using certificate key:\n([0-9a-f]{64})\n", out)
    assert key is not None and f"--certificate-key {key.group(1)}" in out.replace("\\\n\t", "")
    assert "Objects are kept in etcd at 127.0.0.1:" in (init.first.data_dir / "pinnace.log").read_text()
    secret = json.loads(init.first.kubectl("get", "secret", "kubeadm-certs", "-n", "kube-system", "-o", "json").stdout)
    assert sorted(secret["data"]) == ["ca.crt", "ca.key", "encryption-config.yaml", "etcd-ca.crt", "etcd-ca.key",
                                      "front-proxy-ca.crt", "front-proxy-ca.key", "sa.key", "sa.pub"]  # fmt: skip
    assert secret["metadata"]["ownerReferences"][0]["name"].startswith("bootstrap-token-")
    listed = run_pinnace("adm", "token", "list", "--data-dir", str(init.first.data_dir)).stdout
    proxy = next(ln for ln in listed.splitlines() if "Proxy for managing TTL for the kubeadm-certs secret" in ln)
    assert proxy.split()[1] in ("1h", "2h") and "<none>" in proxy.split()  # a 2 h TTL, and no usages
    assert init.first.etcd_members() == ["cp-1"]
    expiring = run_pinnace("adm", "certs", "check-expiration", "--data-dir", str(init.first.data_dir)).stdout
    assert all(name in expiring for name in ("etcd-server", "etcd-peer", "apiserver-etcd-client", "etcd-ca"))
    # The service range is applied: the kubernetes Service and new Services get their IPs from it.
    first = init.first
    assert first.kubectl("get", "service", "kubernetes", "-o", "jsonpath={.spec.clusterIP}").stdout == "10.112.0.1"
    first.kubectl("create", "service", "clusterip", "in-range", "--tcp=80:80")
    assert first.kubectl("get", "service", "in-range", "-o", "jsonpath={.spec.clusterIP}").stdout.startswith("10.112.")
    # And the pod range: a (simulated) node's podCIDR is cut from it.
    eventually(lambda: first.kubectl("get", "node", "sim-node-0", check=False).returncode == 0, timeout=30)
    pod_cidr = first.kubectl("get", "node", "sim-node-0", "-o", "jsonpath={.spec.podCIDR}").stdout
    assert pod_cidr.startswith("10.150."), pod_cidr
    # phase upload-certs again, with the same key: new owner token, same key works for the join below.
    again = run_pinnace("adm", "init", "phase", "upload-certs", "--upload-certs", "--certificate-key", key.group(1),
                        "--data-dir", str(first.data_dir))  # fmt: skip
    assert again.returncode == 0 and f"Using certificate key:\n{key.group(1)}" in again.stdout, again.stderr
    owner = json.loads(first.kubectl("get", "secret", "kubeadm-certs", "-n", "kube-system", "-o", "json").stdout)
    assert owner["metadata"]["ownerReferences"][0]["name"] != secret["metadata"]["ownerReferences"][0]["name"]
    skipped = run_pinnace("adm", "init", "phase", "upload-certs", "--data-dir", str(first.data_dir))
    assert "[upload-certs] Skipping phase. Please see --upload-certs" in skipped.stdout
    # A new token's join command for a control plane, as kubeadm's token create --certificate-key prints it.
    printed = run_pinnace("adm", "token", "create", "--print-join-command", "--certificate-key", key.group(1),
                          "--data-dir", str(first.data_dir))  # fmt: skip
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.startswith(f"pinnace adm join {init.endpoint} --token ")  # admin.conf names the endpoint
    assert printed.stdout.rstrip().endswith(f"--control-plane --certificate-key {key.group(1)}")


def test_a_wrong_certificate_key_is_refused(init: Init, tmp_path: Path) -> None:
    refused = _join_second(init, tmp_path / "wrong", certificate_key="ab" * 32)
    assert refused.returncode == 1
    assert "error decoding secret data with provided key: cipher: message authentication failed" in refused.stderr
    assert not (tmp_path / "wrong" / "pki").exists() and not (tmp_path / "wrong" / "etcd").exists()
    assert init.first.etcd_members() == ["cp-1"]


def test_a_second_control_plane_joins_and_shares_the_store(init: Init, tmp_path: Path) -> None:
    data = tmp_path / "cp-2"
    joined = _join_second(init, data)
    try:
        assert joined.returncode == 0, joined.stdout + joined.stderr + _log(data)
        assert "a new control plane instance was created" in joined.stdout
        url = re.search(r"API server at (https://\S+)\)", joined.stdout)
        assert url is not None
        etcd_url = re.search(r"local etcd member cp-2 at (https://\S+) ", joined.stdout)
        assert etcd_url is not None
        second = ControlPlane(data, url.group(1), etcd_url.group(1))
        first = init.first

        assert first.etcd_members() == second.etcd_members() == ["cp-1", "cp-2"]
        # Its own serving certificate and admin credentials, from the cluster's CA: each kubectl trusts each server.
        first.kubectl("create", "configmap", "via-first", "--from-literal=from=first")
        assert json.loads(second.kubectl("get", "configmap", "via-first", "-o", "json").stdout)["data"] == {
            "from": "first"
        }
        second.kubectl("create", "configmap", "via-second", "--from-literal=from=second")
        assert json.loads(first.kubectl("get", "configmap", "via-second", "-o", "json").stdout)["data"] == {
            "from": "second"
        }
        # Secrets are encrypted at rest in the shared etcd, with the keys both API servers were given.
        second.kubectl("create", "secret", "generic", "shared-secret", "--from-literal=password=hunter2")
        read = first.kubectl("get", "secret", "shared-secret", "-o", "jsonpath={.data.password}")
        assert read.stdout == "aHVudGVyMg=="  # hunter2
        assert second.raw("/registry/core/secrets/default/shared-secret").startswith(b"k8s:enc:aescbc:v1:")
        node = json.loads(first.kubectl("get", "node", "cp-2", "-o", "json").stdout)
        assert node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
        assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in node["spec"]["taints"]
        # Its admin.conf names the control-plane endpoint, as kubeadm writes it.
        assert f"server: https://{init.endpoint}" in (data / "admin.conf").read_text()

        # The first API server stops: the endpoint's clients carry on through the second (etcd keeps its quorum:
        # pinnace down leaves the member running), and the first comes back from its data directory.
        assert run_pinnace("down", "--data-dir", str(first.data_dir)).returncode == 0
        try:
            through_lb = subprocess.run(
                ["kubectl", "--kubeconfig", str(data / "admin.conf"), "get", "configmap", "via-first", "-o", "name"],
                capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert through_lb.stdout.strip() == "configmap/via-first", through_lb.stderr
        finally:
            again = run_pinnace("adm", "init", "phase", "control-plane", "--data-dir", str(first.data_dir), timeout=120)
        assert again.returncode == 0, again.stderr + _log(first.data_dir)
    finally:
        reset = run_pinnace("adm", "reset", "--force", "--data-dir", str(data), timeout=60)
    assert reset.returncode == 0, reset.stderr
    assert "Removed the etcd member cp-2; members left: cp-1" in reset.stdout
    assert init.first.etcd_members() == ["cp-1"]
    assert init.first.kubectl("get", "configmap", "via-second", "-o", "name").stdout.strip() == "configmap/via-second"
