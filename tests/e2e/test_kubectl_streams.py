"""With the real kubectl against ``pinnace up`` (one process-runtime node): logs, exec, attach, port-forward, probes.

Everything goes through the API server to the node's kubelet API, as with a
real cluster: ``kubectl logs`` and ``logs -f``, ``kubectl exec`` with its exit
code, with stdin from a pipe and with a terminal (driven through a pty here),
``kubectl attach``, ``kubectl port-forward`` (SPDY tunnelled in WebSocket, and
plain SPDY), a failing liveness probe that restarts a container, and readiness
gating a Service's endpoints.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import shutil
import ssl
import struct
import subprocess
import sys
import termios
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.cluster.ports import free_port

from .conftest import Cluster, start_cluster, stop_cluster

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """``pinnace up --nodes 1`` (process runtime) with every controller."""
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    base = tmp_path_factory.mktemp("pinnace-streams")
    c = start_cluster(base / "data", base / "home", extra_args=["--nodes", "1"])
    try:
        eventually(lambda: json.loads(c.kubectl("get", "nodes", "-o", "json").stdout)["items"], 60)
        yield c
    finally:
        stop_cluster(c)


def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"not true within {timeout}s")


def run_pod(c: Cluster, name: str, containers: list[dict[str, Any]], **spec: Any) -> None:
    """Apply a pod and wait until its containers run."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": containers, **spec},
    }
    c.kubectl("apply", "-f", "-", input=json.dumps(pod))

    def running() -> bool:
        status = json.loads(c.kubectl("get", "pod", name, "-o", "json").stdout).get("status", {})
        statuses = status.get("containerStatuses") or []
        return len(statuses) == len(containers) and all("running" in s["state"] for s in statuses)

    eventually(running, 60)


def http_server(port: int) -> list[str]:
    return [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]


def test_logs_and_logs_follow(cluster: Cluster) -> None:
    script = "echo first; sleep 1; for i in 1 2 3; do echo tick $i; sleep 0.5; done"
    run_pod(
        cluster,
        "ticker",
        [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}],
        restartPolicy="Never",
    )
    follow = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "logs", "-f", "ticker"],
        stdout=subprocess.PIPE,
        text=True,
        env=cluster.env,
    )
    assert follow.stdout is not None
    assert follow.stdout.readline() == "first\n"  # streamed before the container is done
    out, _ = follow.communicate(timeout=30)
    assert out == "tick 1\ntick 2\ntick 3\n" and follow.returncode == 0
    assert cluster.kubectl("logs", "ticker", "--tail=1").stdout == "tick 3\n"
    stamped = cluster.kubectl("logs", "ticker", "--timestamps", "--tail=1").stdout
    assert stamped.endswith("Z tick 3\n")
    missing = cluster.kubectl("logs", "ticker", "-c", "nope", check=False)
    assert missing.returncode == 1 and "container nope is not valid for pod ticker" in missing.stderr


def test_exec_exit_code_and_stdin(cluster: Cluster) -> None:
    run_pod(cluster, "shell", [{"name": "main", "image": "busybox", "command": ["sleep", "600"]}])
    result = cluster.kubectl("exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3", check=False)
    assert (result.returncode, result.stdout) == (3, "out\n")
    assert "err\n" in result.stderr
    piped = cluster.kubectl("exec", "-i", "shell", "--", "tr", "a-z", "A-Z", input="from a pipe\n")
    assert piped.stdout == "FROM A PIPE\n"
    # kubectl's fallback path: SPDY when WebSocket exec is turned off.
    spdy = cluster.kubectl(
        "exec", "shell", "--", "sh", "-c", "exit 4", check=False, env={"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"}
    )
    assert spdy.returncode == 4


def test_debug_runs_an_ephemeral_container_once_beside_the_others(cluster: Cluster) -> None:
    run_pod(cluster, "debuggee", [{"name": "main", "image": "busybox", "command": ["sleep", "600"]}])
    piped = cluster.kubectl(
        "debug",
        "debuggee",
        "-i",
        "--image=busybox",
        "--profile=general",
        "--container=dbg",
        "--",
        "sh",
        input="echo from-the-debugger\nexit 0\n",
        timeout=90,
    )
    assert "from-the-debugger" in piped.stdout

    def finished() -> Any:
        pod = json.loads(cluster.kubectl("get", "pod", "debuggee", "-o", "json").stdout)
        (status,) = pod["status"].get("ephemeralContainerStatuses") or [{}]
        return "terminated" in status.get("state", {}) and (pod, status)

    pod, status = eventually(finished, 30)
    assert status["name"] == "dbg" and status["ready"] is False and status["restartCount"] == 0
    assert status["state"]["terminated"]["exitCode"] == 0  # and it stays so: an ephemeral container is not restarted
    assert pod["status"]["phase"] == "Running" and pod["status"]["containerStatuses"][0]["ready"] is True
    assert cluster.kubectl("logs", "debuggee", "-c", "dbg").stdout == "from-the-debugger\n"
    removed = cluster.kubectl(
        "patch",
        "pod",
        "debuggee",
        "--subresource=ephemeralcontainers",
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/ephemeralContainers/0"}]',
        check=False,
    )
    assert removed.returncode == 1 and 'existing ephemeral containers "dbg" may not be removed' in removed.stderr


def drive_tty(cluster: Cluster, argv: list[str], lines: list[bytes], wait: float = 2.0) -> tuple[bytes, int]:
    """Run kubectl on a pty of 40x120 (as a terminal would), type ``lines``; its output and exit code."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: kubectl on the pty
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.execvpe("kubectl", ["kubectl", "--kubeconfig", str(cluster.kubeconfig), *argv], cluster.env)
    out = b""

    def read(seconds: float) -> None:
        nonlocal out
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 0.1)
            if ready:
                try:
                    out += os.read(fd, 4096)
                except OSError:
                    return

    read(wait)
    for line in lines:
        os.write(fd, line)
        read(wait)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return out, os.waitstatus_to_exitcode(status)


def test_exec_with_a_terminal(cluster: Cluster) -> None:
    run_pod(cluster, "terminal", [{"name": "main", "image": "busybox", "command": ["sleep", "600"]}])
    out, code = drive_tty(
        cluster, ["exec", "-it", "terminal", "--", "sh"], [b"echo size=$(stty size) tty=$(tty)\r", b"exit 7\r"]
    )
    assert b"size=40 120 tty=/dev/" in out
    assert code == 7


def test_attach(cluster: Cluster) -> None:
    run_pod(
        cluster,
        "echoer",
        [
            {
                "name": "main",
                "image": "busybox",
                "command": ["sh", "-c", "while read line; do echo got $line; done"],
                "stdin": True,
            }
        ],
    )
    attach = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "attach", "-i", "echoer"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env,
    )
    assert attach.stdin is not None and attach.stdout is not None
    attach.stdin.write("hello\n")
    attach.stdin.flush()
    ready, _, _ = select.select([attach.stdout], [], [], 20)
    assert ready, "no output from the attached container"
    assert attach.stdout.readline() == "got hello\n"
    attach.kill()
    attach.wait()


@pytest.mark.parametrize("websocket", ["true", "false"])
def test_port_forward_reaches_the_pods_http_server(cluster: Cluster, websocket: str) -> None:
    name = f"web-{websocket}"
    port, local = free_port(), free_port()
    # Ready only once the server listens: kubectl ends a port-forward on the first stream the pod refuses,
    # so a fetch while the interpreter is still starting (slow on a loaded machine) would end the test's tunnel.
    listening = f"wget -q -O /dev/null http://127.0.0.1:{port}/"  # the server binds only the pod's loopback
    ready = {"exec": {"command": ["sh", "-c", listening]}, "periodSeconds": 1}
    server = {"name": "main", "image": "busybox", "command": http_server(port), "readinessProbe": ready}
    run_pod(cluster, name, [server])
    cluster.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=60s")
    forward = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "port-forward", f"pod/{name}", f"{local}:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**cluster.env, "KUBECTL_PORT_FORWARD_WEBSOCKETS": websocket},
    )
    try:
        assert forward.stdout is not None
        assert forward.stdout.readline().startswith(f"Forwarding from 127.0.0.1:{local} -> {port}")

        def fetch() -> bytes | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/", timeout=5) as response:
                    return response.read() if response.status == 200 else None
            except OSError:
                return None

        assert b"Directory listing" in eventually(fetch, 20)
        assert b"Directory listing" in (fetch() or b"")  # a second connection on the same tunnel
    finally:
        forward.terminate()
        forward.wait(10)


def _pod(cluster: Cluster, name: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", "pod", name, "-o", "json").stdout))


def test_a_failing_liveness_probe_restarts_the_container(cluster: Cluster) -> None:
    # The first attempt comes a second after the start: the container has printed its line by then.
    probe = {
        "exec": {"command": ["sh", "-c", "exit 1"]},
        "initialDelaySeconds": 1,
        "periodSeconds": 1,
        "failureThreshold": 1,
    }
    command = ["sh", "-c", "echo started at $(date +%s%N); exec sleep 600"]
    run_pod(cluster, "sickly", [{"name": "main", "image": "busybox", "command": command, "livenessProbe": probe}])
    eventually(lambda: _pod(cluster, "sickly")["status"]["containerStatuses"][0]["restartCount"] >= 1, 60)
    previous = cluster.kubectl("logs", "sickly", "--previous").stdout
    assert previous.startswith("started at ")
    current = eventually(lambda: cluster.kubectl("logs", "sickly").stdout)
    assert current.startswith("started at ") and current != previous
    events = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=sickly").stdout
    assert "Liveness probe failed" in events and "failed liveness probe, will be restarted" in events


def test_readiness_gates_the_service_endpoints(cluster: Cluster, tmp_path: Path) -> None:
    port = free_port()
    flag = tmp_path / "ready"
    probe = {"exec": {"command": ["test", "-f", str(flag)]}, "periodSeconds": 1}
    run_pod(
        cluster,
        "gated",
        [
            {
                "name": "main",
                "image": "busybox",
                "command": http_server(port),
                "ports": [{"containerPort": port}],
                "readinessProbe": probe,
            }
        ],
    )
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "gated"},
        "spec": {"selector": {"app": "gated"}, "ports": [{"port": 80, "targetPort": port}]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(service))

    def subsets() -> list[dict[str, Any]]:
        endpoints = json.loads(cluster.kubectl("get", "endpoints", "gated", "-o", "json", check=False).stdout or "{}")
        return list(endpoints.get("subsets") or [])

    not_ready = eventually(lambda: [s for s in subsets() if s.get("notReadyAddresses")], 30)
    assert not any(s.get("addresses") for s in not_ready)
    assert _pod(cluster, "gated")["status"]["containerStatuses"][0]["ready"] is False
    flag.write_text("ok")
    ready = eventually(lambda: [s for s in subsets() if s.get("addresses")], 30)
    assert ready[0]["addresses"][0]["ip"] == _pod(cluster, "gated")["status"]["podIP"]


def test_pods_and_services_proxy_reach_the_pods_http_server(cluster: Cluster) -> None:
    port = free_port()
    server = {
        "name": "main",
        "image": "busybox",
        "command": [sys.executable, "-m", "http.server", str(port)],  # every address: the pod's IP included
        "ports": [{"containerPort": port}],
        "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 1},
    }
    run_pod(cluster, "proxied", [server])
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "proxied"},
        "spec": {"selector": {"app": "proxied"}, "ports": [{"port": 80, "targetPort": port}]},
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(service))
    for path in (f"pods/proxied:{port}/proxy/", "pods/proxied/proxy/", "services/proxied:80/proxy/"):
        raw = f"/api/v1/namespaces/default/{path}"
        listing = eventually(lambda raw=raw: cluster.kubectl("get", "--raw", raw, check=False).stdout, 30)
        assert "Directory listing for /" in listing, path
    refused = cluster.kubectl("get", "--raw", "/api/v1/namespaces/default/services/proxied:81/proxy/", check=False)
    assert 'Error from server (ServiceUnavailable): no service port 81 found for service "proxied"' in refused.stderr


def test_streams_are_authorized_like_any_request(cluster: Cluster, tmp_path: Path) -> None:
    run_pod(cluster, "guarded", [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hi; sleep 600"]}])
    cluster.kubectl("create", "serviceaccount", "viewer")
    cluster.kubectl("create", "role", "viewer", "--verb=get,list", "--resource=pods,pods/log")
    cluster.kubectl("create", "rolebinding", "viewer", "--role=viewer", "--serviceaccount=default:viewer")
    token = cluster.kubectl("create", "token", "viewer").stdout.strip()
    kubeconfig = tmp_path / "viewer.kubeconfig"
    shutil.copy(cluster.kubeconfig, kubeconfig)

    def as_viewer(*args: str) -> subprocess.CompletedProcess[str]:
        argv = ["kubectl", "--kubeconfig", str(kubeconfig), "--user", "viewer", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=cluster.env, check=False)

    assert as_viewer("config", "set-credentials", "viewer", f"--token={token}").returncode == 0
    assert as_viewer("logs", "guarded").stdout == "hi\n"
    denied = as_viewer("exec", "guarded", "--", "true")
    assert denied.returncode == 1
    assert 'User "system:serviceaccount:default:viewer" cannot create resource "pods/exec"' in denied.stderr
    cluster.kubectl("create", "role", "exec", "--verb=create,get", "--resource=pods/exec")
    cluster.kubectl("create", "rolebinding", "exec", "--role=exec", "--serviceaccount=default:viewer")
    allowed = eventually(lambda: as_viewer("exec", "guarded", "--", "echo", "in").stdout)
    assert allowed == "in\n"


def test_kubectl_cp_both_ways(cluster: Cluster, tmp_path: Path) -> None:
    """``kubectl cp`` is tar over exec (stdout one way, stdin the other)."""
    run_pod(cluster, "files", [{"name": "main", "image": "busybox", "command": ["sleep", "600"]}])
    source = tmp_path / "in.txt"
    source.write_text("copied in\n" * 1000)
    inside = tmp_path / "inside"
    inside.mkdir()
    cluster.kubectl("cp", str(source), f"files:{inside}/in.txt")
    assert (inside / "in.txt").read_text() == source.read_text()  # the process runtime shares the host's files
    back = tmp_path / "back.txt"
    cluster.kubectl("cp", f"files:{inside}/in.txt", str(back))
    assert back.read_text() == source.read_text()


def _kubelet_get(url: str, context: ssl.SSLContext, token: str = "") -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode()


def test_the_kubelet_api_is_https_and_refuses_strangers(cluster: Cluster) -> None:
    """Straight to the kubelet port: HTTPS; no credentials 401; a token without nodes/proxy 403; the admin 200."""
    node = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"][0]
    address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    url = f"https://{address}:{port}/pods"
    stranger = ssl.create_default_context()
    stranger.check_hostname = False
    stranger.verify_mode = ssl.CERT_NONE  # the serving certificate is self-signed, as kubeadm's kubelets' are
    assert _kubelet_get(url, stranger) == (401, "Unauthorized")
    cluster.kubectl("create", "serviceaccount", "kubelet-prober")
    token = cluster.kubectl("create", "token", "kubelet-prober").stdout.strip()
    assert _kubelet_get(url, stranger, token) == (
        403,
        "Forbidden (user=system:serviceaccount:default:kubelet-prober, verb=get, resource=nodes, subresource=proxy)",
    )
    admin = cluster.ssl_context()
    admin.check_hostname = False
    admin.verify_mode = ssl.CERT_NONE
    status, body = _kubelet_get(url, admin)
    assert status == 200 and json.loads(body)["kind"] == "PodList"
    # The API server reaches it as kube-apiserver-kubelet-client: nodes/proxy works through it.
    assert cluster.kubectl("get", "--raw", f"/api/v1/nodes/{node['metadata']['name']}/proxy/healthz").stdout == "ok"


def test_the_node_agent_runs_without_the_command_line_or_cryptography(cluster: Cluster) -> None:
    """``pinnace up`` starts the agent by its lean entry point; its serving certificate was made by the parent."""
    agents = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == cluster.proc.pid and b"pinnace.cluster.node_main" in cmdline:
            agents.append(entry)
    (agent,) = agents
    mapped = {Path(line.split()[-1]).name for line in (agent / "maps").read_text().splitlines() if ".so" in line}
    # cryptography's and pydantic's native modules (typer is pure Python: the unit test checks its modules)
    assert not {name for name in mapped if name.startswith(("_rust.abi3", "_pydantic_core"))}, sorted(mapped)
