"""A real ``pinnace up`` process, and the real kubectl pointed at it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from pinnace.client import load_client_config
from pinnace.client.exceptions import ConfigError
from pinnace.cluster.ports import free_port


@dataclass
class Cluster:
    """A running ``pinnace up`` and how to reach it."""

    proc: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    kubeconfig: Path
    port: int
    env: dict[str, str]

    def ssl_context(self) -> ssl.SSLContext:
        """TLS to this cluster as its admin: the cluster CA and the admin kubeconfig's client certificate."""
        return admin_ssl_context(self.data_dir)

    def kubectl(
        self,
        *args: str,
        input: str | None = None,
        check: bool = True,
        timeout: float = 60,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster."""
        result = subprocess.run(
            ["kubectl", "--kubeconfig", str(self.kubeconfig), *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**self.env, **(env or {})},
        )
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


def run_pinnace(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run the ``pinnace`` command to completion (for the ones that should refuse and exit)."""
    return subprocess.run(
        [sys.executable, "-m", "pinnace", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def admin_ssl_context(data_dir: Path) -> ssl.SSLContext:
    """The TLS context of the admin kubeconfig ``pinnace up`` wrote in ``data_dir`` (CA and client certificate)."""
    context = load_client_config(str(data_dir / "kubeconfig")).ssl_context()
    assert context is not None, "pinnace up serves HTTPS"
    return context


def wait_ready(url: str, data_dir: Path, timeout: float = 20.0) -> float:
    """Poll /readyz (as the admin of ``data_dir``) until ok; returns the seconds waited."""
    start = time.monotonic()
    context = None
    while time.monotonic() - start < timeout:
        try:
            context = context or admin_ssl_context(data_dir)
            with urllib.request.urlopen(url + "/readyz", timeout=1, context=context) as resp:
                if resp.status == 200:
                    return time.monotonic() - start
        except (OSError, ConfigError):  # not listening yet, or its kubeconfig not written yet
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} not ready after {timeout}s")


def start_cluster(data_dir: Path, home: Path, port: int | None = None, extra_args: Sequence[str] = ()) -> Cluster:
    """Start ``pinnace up`` (plus ``extra_args``; ``--nodes 0`` unless they say) in the foreground and wait until ready.

    Its output (and its controller manager's) goes to ``DATA_DIR/../pinnace.out``, never to an
    undrained pipe that a chatty cluster could fill.
    """
    port = port or free_port()
    if not any(a.split("=")[0] in ("--nodes", "--config") for a in extra_args):
        extra_args = ["--nodes", "0", *extra_args]  # no node agents unless the test asks for them
    env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / ".kube" / "config")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pinnace", "up", "--data-dir", str(data_dir), "--port", str(port), *extra_args],
        env=env,
        stdout=output_path(data_dir).open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"https://127.0.0.1:{port}"
    try:
        wait_ready(url, data_dir)  # the kubeconfig is written as soon as the server listens
        # The pid file comes last, once the user's kubeconfig has the context too.
        deadline = time.monotonic() + 20
        while not _pid_file_of(data_dir, proc.pid):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise TimeoutError("no pid file")
            time.sleep(0.02)
    except TimeoutError:
        proc.kill()
        proc.wait()
        raise AssertionError(f"pinnace up did not become ready:\n{read_output(data_dir)}") from None
    return Cluster(proc, url, data_dir, data_dir / "kubeconfig", port, env)


def _pid_file_of(data_dir: Path, pid: int) -> bool:
    """Whether ``pinnace up`` (process ``pid``) has written its pid file in ``data_dir``."""
    try:
        return bool(json.loads((data_dir / "pinnace.pid").read_bytes())["pid"] == pid)
    except (OSError, ValueError, KeyError):
        return False


def output_path(data_dir: Path) -> Path:
    """Where a test cluster's output goes."""
    return data_dir.parent / "pinnace.out"


def read_output(data_dir: Path) -> str:
    """What a test cluster has printed so far."""
    return output_path(data_dir).read_bytes().decode(errors="replace")


def stop_cluster(cluster: Cluster) -> str:
    """SIGTERM the cluster and return what it printed."""
    if cluster.proc.poll() is None:
        cluster.proc.send_signal(signal.SIGTERM)
    try:
        cluster.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        cluster.proc.kill()
        cluster.proc.wait()
    return read_output(cluster.data_dir)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One ``pinnace up`` shared by a test module: the API with only the namespace controller.

    These tests check what the API server itself does; workload controllers, the
    garbage collector and the scheduler would change the objects under test.
    ``sim_cluster`` runs everything.
    """
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    base = tmp_path_factory.mktemp("pinnace")
    c = start_cluster(base / "data", base / "home", extra_args=["--controllers", "namespace"])
    try:
        yield c
    finally:
        stop_cluster(c)


#: What the ``sim_cluster`` fixture runs. Every built-in component ("all") by default; while a
#: component is being written, set PINNACE_E2E_CONTROLLERS (e.g. "*,scheduler,deployment").
SIM_CLUSTER_CONTROLLERS = os.environ.get("PINNACE_E2E_CONTROLLERS", "all")
#: Short node-lifecycle timeouts, so a NotReady node and its evictions happen within a test.
SIM_NODE_GRACE_PERIOD = 6.0  # heartbeats every 1.5 s: a loaded CI machine does not make healthy nodes flap
SIM_POD_EVICTION_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def sim_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """``pinnace up --sim-nodes 5`` with every controller and the scheduler, shared by a test module.

    Node lifecycle runs with short timeouts: a node whose heartbeat stops is NotReady after
    SIM_NODE_GRACE_PERIOD seconds and its pods are evicted SIM_POD_EVICTION_TIMEOUT seconds later.
    """
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    base = tmp_path_factory.mktemp("pinnace-sim")
    args = [
        "--sim-nodes",
        "5",
        "--controllers",
        SIM_CLUSTER_CONTROLLERS,
        "--node-monitor-grace-period",
        str(SIM_NODE_GRACE_PERIOD),
        "--pod-eviction-timeout",
        str(SIM_POD_EVICTION_TIMEOUT),
    ]
    c = start_cluster(base / "data", base / "home", extra_args=args)
    try:
        # The ServiceAccount admission plugin refuses pods until the serviceaccount controller has made the
        # namespace's "default" account (as upstream): tests start once it exists.
        deadline = time.monotonic() + 30
        while c.kubectl("get", "serviceaccount", "default", check=False).returncode != 0:
            assert time.monotonic() < deadline, "the default ServiceAccount never appeared"
            time.sleep(0.1)
        yield c
    finally:
        stop_cluster(c)
