"""``pinnace adm init`` from a kubeadm config file, then ``certs``, ``upgrade`` and ``reset`` on what it made.

One control plane for the module, made by the real ``pinnace adm init
--config`` (InitConfiguration + ClusterConfiguration, v1beta4) and checked
with the real kubectl and its admin.conf: the node marked control-plane,
kubeadm-config holding the ClusterConfiguration, the bootstrap token, and the
printed join command bringing a worker in (which ``adm reset`` takes out
again: its Node deleted, its agent stopped, its files gone). The module ends
with ``adm reset`` of the control plane.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from tests.e2e.conftest import free_port, run_pinnace
from tests.e2e.kubectl import eventually

pytestmark = pytest.mark.slow

TOKEN = "abcdef.0123456789abcdef"


@dataclass
class ControlPlane:
    """What ``adm init`` made: its data directory, port and printed output."""

    data_dir: Path
    port: int
    output: str

    def kubectl(self, *args: str, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
        """The real kubectl with init's admin.conf."""
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.data_dir / "admin.conf"), *args],
            capture_output=True, text=True, timeout=60, check=False, input=input,
        )  # fmt: skip
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed:\n{result.stderr}")
        return result

    def adm(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        """``pinnace adm ARGS --data-dir DIR``."""
        return run_pinnace("adm", *args, "--data-dir", str(self.data_dir), timeout=timeout)


def config_file(path: Path, port: int) -> Path:
    docs = [
        {
            "apiVersion": "kubeadm.k8s.io/v1beta4",
            "kind": "InitConfiguration",
            "bootstrapTokens": [{"token": TOKEN, "description": "from the config file", "ttl": "2h0m0s"}],
            "localAPIEndpoint": {"advertiseAddress": "127.0.0.1", "bindPort": port},
            "nodeRegistration": {"name": "cp-main"},
        },
        {
            "apiVersion": "kubeadm.k8s.io/v1beta4",
            "kind": "ClusterConfiguration",
            "controlPlaneEndpoint": f"localhost:{port}",
            "networking": {"podSubnet": "10.244.0.0/16"},
            "apiServer": {"certSANs": ["cp.pinnace.test"]},
        },
    ]
    path.write_text(yaml.safe_dump_all(docs))
    return path


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    base = tmp_path_factory.mktemp("adm-init")
    port = free_port()
    data = base / "cp"
    config = config_file(base / "kubeadm.yaml", port)
    init = run_pinnace("adm", "init", "--config", str(config), "--data-dir", str(data), timeout=120)
    try:
        assert init.returncode == 0, init.stdout + init.stderr + _log(data)
        yield ControlPlane(data, port, init.stdout)
    finally:
        run_pinnace("adm", "reset", "--force", "--data-dir", str(data), timeout=60)


def _log(data: Path) -> str:
    path = data / "pinnace.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def test_init_marks_the_node_uploads_the_config_and_makes_the_token(control_plane: ControlPlane) -> None:
    out = control_plane.output
    assert "Your Kubernetes control-plane has initialized successfully!" in out
    for phase in ("[preflight]", "[certs]", "[kubeconfig]", "[wait-control-plane]", "[upload-config]",
                  "[mark-control-plane]", "[bootstrap-token] Using token: " + TOKEN):  # fmt: skip
        assert phase in out
    assert f"pinnace adm join localhost:{control_plane.port} --token {TOKEN}" in out

    node = json.loads(control_plane.kubectl("get", "node", "cp-main", "-o", "json").stdout)
    assert node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
    assert "node.kubernetes.io/exclude-from-external-load-balancers" in node["metadata"]["labels"]
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in node["spec"]["taints"]
    assert control_plane.kubectl("get", "nodes").stdout.split()[7] == "control-plane"  # the ROLES column

    configmap = json.loads(
        control_plane.kubectl("-n", "kube-system", "get", "cm", "kubeadm-config", "-o", "json").stdout
    )
    stored = yaml.safe_load(configmap["data"]["ClusterConfiguration"])
    assert stored["kind"] == "ClusterConfiguration" and stored["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert stored["controlPlaneEndpoint"] == f"localhost:{control_plane.port}"
    assert stored["networking"]["podSubnet"] == "10.244.0.0/16"
    assert stored["apiServer"]["certSANs"] == ["cp.pinnace.test"]
    assert stored["kubernetesVersion"] == "v1.32.0"
    # Joining nodes may read it (kubeadm's Role and RoleBinding).
    can = control_plane.kubectl("auth", "can-i", "get", "configmap/kubeadm-config", "-n", "kube-system",
                                "--as", "system:node:x", "--as-group", "system:nodes", check=False)  # fmt: skip
    assert can.stdout.strip() == "yes"

    info = json.loads(control_plane.kubectl("-n", "kube-public", "get", "cm", "cluster-info", "-o", "json").stdout)
    assert yaml.safe_load(info["data"]["kubeconfig"])["clusters"][0]["cluster"]["server"] == (
        f"https://localhost:{control_plane.port}"
    )  # the control-plane endpoint, where joining nodes go
    tokens = control_plane.adm("token", "list").stdout
    assert TOKEN in tokens and "from the config file" in tokens
    # The serving certificate names the endpoint and the configured SAN.
    context = ssl.create_default_context(cafile=str(control_plane.data_dir / "pki" / "ca.crt"))
    raw = socket.create_connection(("127.0.0.1", control_plane.port))
    with context.wrap_socket(raw, server_hostname="cp.pinnace.test") as tls:
        assert tls.getpeercert() is not None
    # Running init again is refused by preflight.
    again = control_plane.adm("init")
    assert again.returncode == 1 and "[ERROR ControlPlaneRunning]" in again.stderr
    assert "[ERROR FileAvailable--" in again.stderr


def test_the_printed_join_command_brings_a_worker_in_and_reset_takes_it_out(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    line = next(ln for ln in control_plane.output.splitlines() if ln.startswith("pinnace adm join"))
    pin = next(ln for ln in control_plane.output.splitlines() if "--discovery-token-ca-cert-hash" in ln).split()[-1]
    args = [*line.rstrip(" \\").split()[3:], "--discovery-token-ca-cert-hash", pin]
    node_dir = tmp_path / "worker"
    preflight = ["adm", "join", "phase", "preflight", *args, "--data-dir", str(node_dir)]
    checked = run_pinnace(*preflight)
    assert checked.returncode == 0 and "this host can join" in checked.stdout, checked.stderr
    command = [sys.executable, "-m", "pinnace", "adm", "join", *args, "--data-dir", str(node_dir),
               "--node-name", "worker-a", "--node-ip", "127.0.0.9", "--kubelet-port", str(free_port())]  # fmt: skip
    with (tmp_path / "worker.out").open("w") as log:
        agent = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            got = control_plane.kubectl("get", "node", "worker-a", "-o", "json", check=False)
            if got.returncode != 0:
                return False
            conditions = {c["type"]: c["status"] for c in json.loads(got.stdout)["status"]["conditions"]}
            return conditions.get("Ready") == "True"

        eventually(ready, timeout=60)
        again = run_pinnace(*preflight)
        assert again.returncode == 1 and "this data directory is already a node's" in again.stderr
        # A node may not delete its Node (upstream's RBAC), so reset deletes it with an admin's kubeconfig.
        own = subprocess.run(["kubectl", "--kubeconfig", str(node_dir / "kubelet.conf"), "delete", "node", "worker-a"],
                             capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert own.returncode == 1 and "forbidden" in own.stderr
        admin = ["--kubeconfig", str(control_plane.data_dir / "admin.conf")]
        reset = run_pinnace("adm", "reset", "--force", "--data-dir", str(node_dir), *admin, timeout=60)
        assert reset.returncode == 0, reset.stderr
        assert 'Deleted the Node "worker-a"' in reset.stdout, reset.stdout
        assert "Stopped the node agent" in reset.stdout
        assert agent.wait(timeout=30) is not None
        assert not (node_dir / "kubelet.conf").exists() and not (node_dir / "node.yaml").exists()
        eventually(lambda: control_plane.kubectl("get", "node", "worker-a", check=False).returncode == 1, timeout=20)
    finally:
        if agent.poll() is None:
            agent.terminate()
            agent.wait(timeout=30)


def _serving_serial(port: int) -> int:
    der = ssl.get_server_certificate(("127.0.0.1", port))
    return x509.load_pem_x509_certificate(der.encode()).serial_number


def test_a_control_plane_cannot_join_a_cluster_on_sqlite(control_plane: ControlPlane, tmp_path: Path) -> None:
    uploaded = control_plane.adm("init", "phase", "upload-certs", "--upload-certs")
    assert uploaded.returncode == 0, uploaded.stderr
    key = uploaded.stdout.split("Using certificate key:\n", 1)[1].split()[0]
    pin = next(ln for ln in control_plane.output.splitlines() if "--discovery-token-ca-cert-hash" in ln).split()[-1]
    refused = run_pinnace(
        "adm", "join", f"localhost:{control_plane.port}", "--token", TOKEN, "--discovery-token-ca-cert-hash", pin,
        "--control-plane", "--certificate-key", key, "--data-dir", str(tmp_path / "cp-2"), "--node-name", "cp-2",
    )  # fmt: skip
    assert refused.returncode == 1
    assert "the cluster does not run stacked etcd" in refused.stderr, refused.stderr
    assert not (tmp_path / "cp-2" / "pki").exists()  # the downloaded keys are not left behind


def test_certs_check_expiration_and_renew(control_plane: ControlPlane) -> None:
    checked = control_plane.adm("certs", "check-expiration")
    assert checked.returncode == 0, checked.stderr
    lines = checked.stdout.splitlines()
    header = next(ln for ln in lines if ln.startswith("CERTIFICATE "))
    assert header.split() == ["CERTIFICATE", "EXPIRES", "RESIDUAL", "TIME", "CERTIFICATE", "AUTHORITY",
                              "EXTERNALLY", "MANAGED"]  # fmt: skip
    apiserver = next(ln for ln in lines if ln.startswith("apiserver "))
    assert apiserver.split()[-3:] == ["364d", "ca", "no"]
    assert any(ln.startswith("ca ") and ln.split()[-2:] == ["9y", "no"] for ln in lines)

    before = _serving_serial(control_plane.port)
    renewed = control_plane.adm("certs", "renew", "apiserver")
    assert renewed.returncode == 0, renewed.stderr
    assert "certificate for serving the Kubernetes API renewed" in renewed.stdout
    assert _serving_serial(control_plane.port) == before  # served from memory until the restart
    restarted = control_plane.adm("upgrade", "node")
    assert restarted.returncode == 0, restarted.stderr + _log(control_plane.data_dir)
    assert _serving_serial(control_plane.port) != before
    assert control_plane.kubectl("get", "--raw", "/readyz").stdout == "ok"

    all_renewed = control_plane.adm("certs", "renew", "all")
    assert all_renewed.stdout.count(" renewed") == 7
    assert control_plane.kubectl("get", "ns", "kube-system", "-o", "name").stdout.strip() == "namespace/kube-system"
    key = run_pinnace("adm", "certs", "certificate-key").stdout.strip()
    assert len(bytes.fromhex(key)) == 32


def test_upgrade_plan_diff_apply(control_plane: ControlPlane) -> None:
    plan = control_plane.adm("upgrade", "plan")
    assert plan.returncode == 0, plan.stderr
    assert "Awesome, you're up-to-date! Enjoy!" in plan.stdout

    # As if the cluster had been made by the previous minor release.
    cm = json.loads(control_plane.kubectl("-n", "kube-system", "get", "cm", "kubeadm-config", "-o", "json").stdout)
    cm["data"]["ClusterConfiguration"] = cm["data"]["ClusterConfiguration"].replace("v1.32.0", "v1.31.4")
    control_plane.kubectl("replace", "-f", "-", input=json.dumps(cm))
    plan = control_plane.adm("upgrade", "plan")
    assert "[upgrade/versions] Cluster version: v1.31.4" in plan.stdout
    assert any(ln.split() == ["kube-apiserver", "cp-main", "v1.31.4", "v1.32.0"] for ln in plan.stdout.splitlines())
    assert "pinnace adm upgrade apply v1.32.0" in plan.stdout
    diff = control_plane.adm("upgrade", "diff", "v1.32.0").stdout
    assert "-kubernetesVersion: v1.31.4" in diff and "+kubernetesVersion: v1.32.0" in diff

    too_far = control_plane.adm("upgrade", "apply", "v1.33.0", "-y")
    assert too_far.returncode == 1
    assert "is at least one minor release higher than the kubeadm minor release (33 > 32)" in too_far.stderr
    patch_ahead = control_plane.adm("upgrade", "apply", "v1.32.5", "-y")
    assert patch_ahead.returncode == 1 and "You can override this check with --force" in patch_ahead.stderr

    applied = control_plane.adm("upgrade", "apply", "v1.32.0", "-y")
    assert applied.returncode == 0, applied.stderr + _log(control_plane.data_dir)
    assert 'SUCCESS! Your cluster was upgraded to "v1.32.0"' in applied.stdout
    cm = json.loads(control_plane.kubectl("-n", "kube-system", "get", "cm", "kubeadm-config", "-o", "json").stdout)
    assert "kubernetesVersion: v1.32.0" in cm["data"]["ClusterConfiguration"]
    eventually(lambda: "Ready" in control_plane.kubectl("get", "node", "cp-main").stdout.split(), timeout=30)
    assert "up-to-date" in control_plane.adm("upgrade", "plan").stdout
    preflight = control_plane.adm("upgrade", "node", "phase", "preflight")
    assert preflight.returncode == 0 and "[upgrade/preflight] Running pre-flight checks" in preflight.stdout
