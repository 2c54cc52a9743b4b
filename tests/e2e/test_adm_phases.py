"""``pinnace adm init phase …`` one by one, in order, gives what ``init`` gives; ``reset phase …`` undoes it.

Each phase runs as its own real ``pinnace adm init phase NAME [PART]``
command with the same flags; the result is checked on disk and with the real
kubectl, then ``reset phase preflight|remove-etcd-member|cleanup-node`` takes
the host back to nothing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.e2e.conftest import free_port, run_pinnace

pytestmark = pytest.mark.slow

TOKEN = "phases.0123456789abcdef"


def test_init_phases_in_order_then_reset_phases(tmp_path: Path) -> None:
    data = tmp_path / "cp"
    port = free_port()
    flags = ["--data-dir", str(data), "--apiserver-bind-port", str(port), "--node-name", "cp-phases", "--token", TOKEN]

    def phase(*words: str) -> str:
        result = run_pinnace("adm", "init", "phase", *words, *flags, timeout=90)
        assert result.returncode == 0, f"phase {words}: {result.stdout}{result.stderr}"
        return result.stdout

    def kubectl(*args: str) -> str:
        result = subprocess.run(["kubectl", "--kubeconfig", str(data / "admin.conf"), *args],
                                capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout

    listed = run_pinnace("adm", "init", "phase")
    assert "preflight, certs, kubeconfig, etcd, control-plane, upload-config, upload-certs" in listed.stdout
    try:
        assert "[preflight] Running pre-flight checks" in phase("preflight")
        phase("certs", "ca")
        assert sorted(p.name for p in (data / "pki").iterdir()) == ["ca.crt", "ca.key"]
        ca = (data / "pki" / "ca.crt").read_bytes()
        phase("certs", "all")
        assert (data / "pki" / "apiserver.crt").exists() and (data / "pki" / "front-proxy-ca.crt").exists()
        assert (data / "pki" / "ca.crt").read_bytes() == ca  # the CA is kept
        assert '[kubeconfig] Writing "admin.conf" kubeconfig file' in phase("kubeconfig", "admin")
        assert not (data / "scheduler.conf").exists()
        phase("kubeconfig")
        assert all((data / f).exists() for f in ("super-admin.conf", "controller-manager.conf", "scheduler.conf"))

        assert "nothing to start" in phase("etcd")  # no stacked etcd: the store is the SQLite file
        assert "[api-check] The API server is healthy" in phase("control-plane")
        assert kubectl("get", "--raw", "/readyz") == "ok"
        phase("upload-config")
        assert "[upload-certs] Skipping phase. Please see --upload-certs" in phase("upload-certs")
        phase("mark-control-plane")
        assert f"[bootstrap-token] Using token: {TOKEN}" in phase("bootstrap-token")
        shown = phase("show-join-command")
        assert f"pinnace adm join 127.0.0.1:{port} --token {TOKEN}" in shown

        # What init gives: the node marked, kubeadm-config, the token.
        node = json.loads(kubectl("get", "node", "cp-phases", "-o", "json"))
        assert "node-role.kubernetes.io/control-plane" in node["metadata"]["labels"]
        assert node["spec"]["taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
        configmap = json.loads(kubectl("-n", "kube-system", "get", "cm", "kubeadm-config", "-o", "json"))
        assert "kind: ClusterConfiguration" in configmap["data"]["ClusterConfiguration"]
        assert f"certificatesDir: {data / 'pki'}" in configmap["data"]["ClusterConfiguration"]
        secret = kubectl("-n", "kube-system", "get", "secret", "bootstrap-token-phases", "-o", "name")
        assert secret.strip() == "secret/bootstrap-token-phases"
        # Run again, mark-control-plane changes nothing and fails nothing.
        phase("mark-control-plane")
        node = json.loads(kubectl("get", "node", "cp-phases", "-o", "json"))
        assert len(node["spec"]["taints"]) == 1
    finally:
        reset_flags = ["--data-dir", str(data)]
        declined = subprocess.run(
            [sys.executable, "-m", "pinnace", "adm", "reset", "phase", "preflight", *reset_flags],
            input="n\n", capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert declined.returncode == 1 and "aborted reset operation" in declined.stderr
        assert run_pinnace("adm", "reset", "phase", "preflight", "--force", *reset_flags).returncode == 0
        etcd = run_pinnace("adm", "reset", "phase", "remove-etcd-member", *reset_flags)
        assert "SQLite file" in etcd.stdout
        cleaned = run_pinnace("adm", "reset", "phase", "cleanup-node", *reset_flags, timeout=60)
        assert cleaned.returncode == 0, cleaned.stderr
    assert "Stopped the control plane" in cleaned.stdout
    left = sorted(p.name for p in data.iterdir()) if data.exists() else []
    assert left == ["pinnace.log"]
    server = ["--server", f"https://127.0.0.1:{port}", "--insecure-skip-tls-verify"]
    gone = subprocess.run(["kubectl", *server, "get", "--raw", "/readyz"],
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    assert gone.returncode == 1
