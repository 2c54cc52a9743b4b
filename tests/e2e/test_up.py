"""`pinnace up` as a user runs it: kubeconfig, restart with every object, no lost write on SIGKILL.

Each test starts its own real ``pinnace up`` process (the module-scoped
``cluster`` fixture is not used: these tests stop and restart the server).
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.conftest import Cluster, free_port, read_output, start_cluster, stop_cluster
from tests.e2e.kubectl import eventually

from pinnace.api import sakeys, satoken

pytestmark = pytest.mark.slow


class Api:
    """A tiny keep-alive JSON client (one connection; one per thread)."""

    def __init__(self, cluster: Cluster) -> None:
        self.conn = http.client.HTTPSConnection("127.0.0.1", cluster.port, timeout=10, context=cluster.ssl_context())

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = json.dumps(body).encode() if body is not None else None
        self.conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")

    def close(self) -> None:
        self.conn.close()


def _configmap(name: str, value: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": value}}


def test_up_writes_kubeconfig_merges_context_and_kubectl_works(tmp_path: Path) -> None:
    home = tmp_path / "home"
    user_config = home / ".kube" / "config"
    user_config.parent.mkdir(parents=True)
    user_config.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "other", "cluster": {"server": "https://10.0.0.1:6443"}}],
                "users": [{"name": "other", "user": {"token": "x"}}],
                "contexts": [{"name": "other", "context": {"cluster": "other", "user": "other"}}],
                "current-context": "other",
            }
        )
    )
    cluster = start_cluster(tmp_path / "data", home)
    try:
        own = yaml.safe_load(cluster.kubeconfig.read_text())
        assert own["current-context"] == "pinnace"
        assert own["clusters"][0]["cluster"]["server"] == cluster.url
        merged = yaml.safe_load(user_config.read_text())
        assert merged["current-context"] == "pinnace"
        assert {c["name"] for c in merged["contexts"]} == {"other", "pinnace"}
        # kubectl without --kubeconfig uses the merged user file (KUBECONFIG points at it).
        out = subprocess.run(
            ["kubectl", "get", "namespaces", "-o", "name"],
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
        system = {"default", "kube-system", "kube-public", "kube-node-lease"}
        assert {f"namespace/{name}" for name in system} <= set(out)
    finally:
        printed = stop_cluster(cluster)
    assert cluster.proc.returncode == 0
    assert "kubectl get namespaces" in printed  # it told the user what to type next
    assert "Shutting down" in printed


def test_an_unreadable_user_kubeconfig_is_left_alone_with_a_warning(tmp_path: Path) -> None:
    """A user's kubeconfig that is no YAML: the cluster comes up all the same (its own kubeconfig works), says
    why it did not merge its context, leaves the file as it was, and stops cleanly. (A failure after start-up
    skipped the shutdown: its children ran on and it never became ready.)"""
    home = tmp_path / "home"
    user_config = home / ".kube" / "config"
    user_config.parent.mkdir(parents=True)
    broken = "apiVersion: v1\nclusters: [\n  this is: not yaml: ::\n"
    user_config.write_text(broken)
    data_dir = tmp_path / "data"
    cluster = start_cluster(data_dir, home)
    try:
        assert "warning: the cluster's context was not merged into your kubeconfig: " in read_output(data_dir)
        assert f"{user_config} is not a kubeconfig" in read_output(data_dir)
        got = cluster.kubectl(
            "get", "namespace", "default", "-o", "name", env={"KUBECONFIG": str(data_dir / "kubeconfig")}
        )
        assert got.stdout.strip() == "namespace/default"
        assert user_config.read_text() == broken
    finally:
        stop_cluster(cluster)
    assert cluster.proc.returncode == 0

    # Detached, the command that started it says so too, and prints the next steps without the merged context.
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(user_config)}
    up = subprocess.run(
        [sys.executable, "-m", "pinnace", "up", "--detach", "--data-dir", str(data_dir), "--port", str(free_port()),
         "--nodes", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    try:
        assert up.returncode == 0, up.stderr
        assert up.stderr.startswith("warning: the cluster's context was not merged into your kubeconfig: ")
        assert "Pinnace is up" in up.stdout and "was merged into" not in up.stdout
    finally:
        down = subprocess.run(
            [sys.executable, "-m", "pinnace", "down", "--data-dir", str(data_dir)], env=env, capture_output=True
        )
    assert down.returncode == 0


def test_restart_on_the_same_data_dir_resumes_with_every_object(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    cluster = start_cluster(data, home)
    api = Api(cluster)
    try:
        status, ns = api.call("POST", "/api/v1/namespaces", {"metadata": {"name": "team-a"}})
        assert status == 201
        created = {}
        for i in range(20):
            status, obj = api.call("POST", "/api/v1/namespaces/team-a/configmaps", _configmap(f"cm-{i}", str(i)))
            assert status == 201, obj
            created[obj["metadata"]["name"]] = obj
    finally:
        api.close()
        stop_cluster(cluster)
    assert cluster.proc.returncode == 0

    cluster = start_cluster(data, home, port=cluster.port)
    api = Api(cluster)
    try:
        status, listed = api.call("GET", "/api/v1/namespaces/team-a/configmaps")
        assert status == 200
        after = {o["metadata"]["name"]: o for o in listed["items"]}
        assert after == created  # same uids, data, timestamps and resourceVersions
        status, again = api.call("GET", "/api/v1/namespaces/team-a")
        assert status == 200 and again["metadata"]["uid"] == ns["metadata"]["uid"]
        # New writes continue the revision sequence.
        status, newer = api.call("POST", "/api/v1/namespaces/team-a/configmaps", _configmap("later", "x"))
        assert status == 201
        assert int(newer["metadata"]["resourceVersion"]) > max(
            int(o["metadata"]["resourceVersion"]) for o in created.values()
        )
    finally:
        api.close()
        stop_cluster(cluster)


def test_sigkill_during_concurrent_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    cluster = start_cluster(data, home)
    writers = 16
    # Per writer: its object name -> the last acknowledged value, and the value in flight (if any).
    acked: list[dict[str, str]] = [{} for _ in range(writers)]
    in_flight: list[tuple[str, str] | None] = [None] * writers
    stop = threading.Event()

    def write(w: int) -> None:
        api = Api(cluster)
        try:
            i = 0
            while not stop.is_set():
                name = f"w{w}-{i}"
                in_flight[w] = (name, "created")
                status, _ = api.call("POST", "/api/v1/namespaces/default/configmaps", _configmap(name, "created"))
                if status != 201:
                    return
                acked[w][name] = "created"
                in_flight[w] = (name, "updated")
                status, _ = _merge_patch(api, name)
                if status != 200:
                    return
                acked[w][name] = "updated"
                in_flight[w] = None
                i += 1
        except (OSError, http.client.HTTPException, json.JSONDecodeError):
            return  # the server died mid-request: that write was never acknowledged
        finally:
            api.close()

    threads = [threading.Thread(target=write, args=(w,), daemon=True) for w in range(writers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30  # enough acknowledged writes to prove something, however loaded the machine
    while sum(len(a) for a in acked) < 80 and time.monotonic() < deadline and any(t.is_alive() for t in threads):
        time.sleep(0.05)
    os.kill(cluster.proc.pid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=15)
    cluster.proc.wait(timeout=10)
    total = sum(len(a) for a in acked)
    assert total > 50, f"too few acknowledged writes to prove anything ({total})"

    # The pid file of the killed process is stale; a restart must cope with that.
    cluster = start_cluster(data, home, port=free_port())
    api = Api(cluster)
    try:
        status, listed = api.call("GET", "/api/v1/namespaces/default/configmaps")
        assert status == 200
        # Only the writers' objects (the root CA publisher's kube-root-ca.crt lives here too).
        found = {o["metadata"]["name"]: o["data"]["v"] for o in listed["items"] if "v" in (o.get("data") or {})}
        for w in range(writers):
            for name, value in acked[w].items():
                pending = in_flight[w]
                allowed = {value} | ({pending[1]} if pending is not None and pending[0] == name else set())
                assert name in found, f"acknowledged create of {name} was lost"
                assert found[name] in allowed, f"{name}: acknowledged {value!r}, found {found[name]!r}"
    finally:
        api.close()
        stop_cluster(cluster)


def _merge_patch(api: Api, name: str) -> tuple[int, Any]:
    api.conn.request(
        "PATCH",
        f"/api/v1/namespaces/default/configmaps/{name}",
        body=json.dumps({"data": {"v": "updated"}}).encode(),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    resp = api.conn.getresponse()
    return resp.status, json.loads(resp.read() or b"null")


def test_up_becomes_a_server_process_without_the_command_line_and_stops_on_sigint(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    cluster = start_cluster(data, home, extra_args=["--controllers", ""])
    try:
        # Same pid (start_cluster saw it in the pid file), now the lean entry point: typer is not resident.
        argv = Path(f"/proc/{cluster.proc.pid}/cmdline").read_bytes().split(b"\0")
        assert argv[1:3] == [b"-m", b"pinnace.cluster.up_main"]
        up = [sys.executable, "-m", "pinnace", "up", "--nodes", "0", "--port", str(free_port())]
        second = subprocess.run(
            [*up, "--data-dir", str(data)],
            env=cluster.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1 and "already running" in second.stdout
    finally:
        cluster.proc.send_signal(signal.SIGINT)
        cluster.proc.wait(timeout=20)
    assert cluster.proc.returncode == 0
    assert "Shutting down" in read_output(data)
    assert not (data / "pinnace.pid").exists()


def test_detach_status_down(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / ".kube" / "config")}
    port = str(free_port())

    def pinnace(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pinnace", *args, "--data-dir", str(data)],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    up = pinnace("up", "--detach", "--port", port)
    assert up.returncode == 0, up.stderr
    assert f"https://127.0.0.1:{port}" in up.stdout
    try:
        # Up means its node is listed too: the first `kubectl get nodes` must not find none.
        nodes = subprocess.run(["kubectl", "get", "nodes", "-o", "name"], env=env, capture_output=True, text=True)
        assert nodes.stdout.split() == ["node/node-0"], nodes.stderr
        status = pinnace("status")
        assert status.returncode == 0, status.stdout
        assert "ready" in status.stdout and "NOT ready" not in status.stdout
        again = pinnace("up", "--detach", "--port", port)
        assert again.returncode == 1 and "already running" in again.stderr
    finally:
        down = pinnace("down")
    assert down.returncode == 0, down.stderr
    assert "Stopped the cluster" in down.stdout
    after = pinnace("status")
    assert after.returncode == 1 and "No Pinnace cluster is running" in after.stdout
    # Up again: the Node is in the store already, yet up waits for this start's agent to report (its kubelet
    # API is listening then), not for the old object.
    restarted = datetime.now(UTC).replace(microsecond=0)
    up = pinnace("up", "--detach", "--port", port)
    assert up.returncode == 0, up.stderr
    try:
        node = json.loads(
            subprocess.run(
                ["kubectl", "get", "node", "node-0", "-o", "json"], env=env, capture_output=True, text=True
            ).stdout
        )
        (ready,) = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
        assert datetime.fromisoformat(ready["lastHeartbeatTime"]) >= restarted
    finally:
        assert pinnace("down").returncode == 0


def test_service_account_tokens_are_signed_with_a_key_kept_across_restarts(tmp_path: Path) -> None:
    data, home = tmp_path / "data", tmp_path / "home"
    cluster = start_cluster(data, home, extra_args=["--controllers", "serviceaccount"])
    try:
        eventually(lambda: cluster.kubectl("get", "serviceaccount", "default", check=False).returncode == 0)
        token = cluster.kubectl("create", "token", "default").stdout.strip()
    finally:
        stop_cluster(cluster)
    key_file = data / "pki" / "sa.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = sakeys.load(key_file)

    cluster = start_cluster(data, home, port=cluster.port, extra_args=["--controllers", "serviceaccount"])
    try:
        again = cluster.kubectl("create", "token", "default").stdout.strip()
    finally:
        stop_cluster(cluster)
    assert sakeys.load(key_file).private_numbers() == key.private_numbers()
    for t in (token, again):
        claims = satoken.verify(t, [key.public_key()], audiences=["https://kubernetes.default.svc.cluster.local"])
        assert claims["sub"] == "system:serviceaccount:default:default"


def test_version_prints_the_kubernetes_version_served() -> None:
    """``pinnace version`` (and ``--version``) as ``kind version``: one line; ``-o json`` is the document the API
    server's /version answers (what ``kubectl version`` shows as the server's)."""
    from pinnace import KUBERNETES_VERSION, __version__
    from pinnace.api.buildinfo import version_info

    def pinnace(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "pinnace", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    line = pinnace("version")
    assert line.returncode == 0, line.stderr
    assert line.stdout.startswith(f"pinnace v{__version__} (Kubernetes {KUBERNETES_VERSION}) python3.")
    assert pinnace("--version").stdout == line.stdout
    assert json.loads(pinnace("version", "-o", "json").stdout) == version_info()
    assert yaml.safe_load(pinnace("version", "-o", "yaml").stdout) == version_info()
    wrong = pinnace("version", "-o", "xml")
    assert (wrong.returncode, wrong.stderr.strip()) == (2, "error: --output must be json or yaml, not 'xml'")
