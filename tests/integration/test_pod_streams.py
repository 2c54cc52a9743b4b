"""pods/log, exec, attach, portforward and nodes/proxy through the API server to a real node agent's kubelet API.

The API server runs in a background thread (the official client is synchronous);
beside it, on the same loop, a real node agent on the ``process`` runtime,
whose kubelet API listens on a free port that its Node reports. The clients
only ever talk to the API server.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes.client
import pytest
from kubernetes.client import CoreV1Api
from kubernetes.client.rest import ApiException
from kubernetes.stream import portforward, stream
from tests.integration.conftest import ThreadedServer, raw_request

from pinnace.client.rest import RestClient
from pinnace.cluster.ports import free_port
from pinnace.node.agent import AgentConfig, NodeAgent
from pinnace.node.process import ProcessRuntime

pytestmark = pytest.mark.timeout(90)

NODE = "node-1"


@dataclass
class Node:
    """A node agent on the process runtime, running on the API server's loop."""

    server: ThreadedServer
    agent: NodeAgent
    task: asyncio.Task[None]
    root: Path

    def run_pod(self, api: CoreV1Api, name: str, containers: dict[str, list[str]], **extra: Any) -> None:
        """Create a pod bound to this node and wait until all its containers run."""
        spec = {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": c, "image": "busybox", "command": cmd, **extra} for c, cmd in containers.items()],
        }
        api.create_namespaced_pod(
            "default", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            statuses = api.read_namespaced_pod(name, "default").status.container_statuses or []
            if len(statuses) == len(containers) and all(s.state.running for s in statuses):
                return
            time.sleep(0.05)
        raise AssertionError(f"pod {name} did not run: {api.read_namespaced_pod(name, 'default').status}")


@pytest.fixture
def node(threaded_server: ThreadedServer, tmp_path: Path) -> Iterator[Node]:
    logs = tmp_path / "node" / "logs"
    logs.mkdir(parents=True)
    (logs / "kubelet.log").write_text("kubelet started\n")

    async def start() -> Node:
        rest = RestClient(threaded_server.url)
        runtime = ProcessRuntime(tmp_path / "node" / "runtime", node_ip="127.0.0.1")
        config = AgentConfig(node_name=NODE, data_dir=tmp_path / "node", kubelet_port=0, relist_period=0.1)
        agent = NodeAgent(rest, runtime, config)
        task = asyncio.create_task(agent.run())
        await asyncio.wait_for(agent.registered.wait(), 20)
        return Node(threaded_server, agent, task, tmp_path)

    async def stop(n: Node) -> None:
        n.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await n.task
        assert isinstance(n.agent.runtime, ProcessRuntime)
        await n.agent.runtime.stop_all()
        await n.agent.rest.close()

    n = threaded_server.call(start())
    try:
        yield n
    finally:
        threaded_server.call(stop(n))


def wait_for_log(api: CoreV1Api, pod: str, text: str, **kwargs: Any) -> str:
    deadline = time.monotonic() + 10
    while True:
        out = api.read_namespaced_pod_log(pod, "default", **kwargs)
        if text in out or time.monotonic() > deadline:
            return str(out)
        time.sleep(0.05)


def test_logs_with_options_and_errors(node: Node, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    node.run_pod(api, "talker", {"main": ["sh", "-c", "echo one; echo two >&2; sleep 0.3; echo three; exec sleep 60"]})
    out = wait_for_log(api, "talker", "three")
    assert sorted(out.splitlines()) == ["one", "three", "two"]
    assert api.read_namespaced_pod_log("talker", "default", container="main", tail_lines=1) == "three\n"
    stamped = api.read_namespaced_pod_log("talker", "default", timestamps=True, tail_lines=1)
    assert stamped.endswith("Z three\n") and stamped[:4].isdigit()
    # Flags as upstream decodes them, through to the node: anything but absent, 0 and false is true.
    for value, on in (("maybe", True), ("", True), ("0", False), ("FALSE", False)):
        path = f"/api/v1/namespaces/default/pods/talker/log?tailLines=1&timestamps={value}"
        with urllib.request.urlopen(node.server.url + path, timeout=10) as answer:
            assert answer.read().decode().endswith("Z three\n") is on, value
    assert api.read_namespaced_pod_log("talker", "default", limit_bytes=2) in ("on", "tw")
    with pytest.raises(ApiException) as err:
        api.read_namespaced_pod_log("talker", "default", container="nope")
    assert err.value.status == 400
    assert "container nope is not valid for pod talker" in err.value.body
    with pytest.raises(ApiException) as err:
        api.read_namespaced_pod_log("missing", "default")
    assert err.value.status == 404
    with pytest.raises(ApiException) as err:
        api.read_namespaced_pod_log("talker", "default", previous=True)
    assert err.value.status == 400 and "previous terminated container" in err.value.body


def test_log_follow_streams_until_the_container_ends(node: Node, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    node.run_pod(api, "ticker", {"main": ["sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.3; done"]})
    response = api.read_namespaced_pod_log("ticker", "default", follow=True, _preload_content=False)
    lines = [line.decode() for line in response.stream() if line]
    assert "".join(lines).splitlines() == ["tick 1", "tick 2", "tick 3"]


def test_a_pod_without_a_node_has_an_empty_log_and_no_exec(k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    body = {"metadata": {"name": "unbound"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    api.create_namespaced_pod("default", body)
    assert api.read_namespaced_pod_log("unbound", "default") == ""
    with pytest.raises(ApiException) as err:
        api.connect_post_namespaced_pod_exec("unbound", "default", command=["true"], stdout=True)
    assert err.value.status == 400 and "pod unbound does not have a host assigned" in err.value.body


def test_a_container_must_be_named_when_the_pod_has_several(
    node: Node, k8s_client: kubernetes.client.ApiClient
) -> None:
    api = CoreV1Api(k8s_client)
    node.run_pod(api, "pair", {"a": ["sleep", "60"], "b": ["sleep", "60"]})
    with pytest.raises(ApiException) as err:
        api.read_namespaced_pod_log("pair", "default")
    assert "a container name must be specified for pod pair, choose one of: [a b]" in err.value.body


def exec_in(api: CoreV1Api, pod: str, command: list[str], *, stdin: bool) -> Any:
    """An exec session through the API server (the official client's WebSocket, v5 offered first)."""
    return stream(
        api.connect_get_namespaced_pod_exec,
        pod,
        "default",
        command=command,
        stderr=True,
        stdin=stdin,
        stdout=True,
        tty=False,
        _preload_content=False,
    )


def test_exec_output_exit_code_and_stdin(node: Node, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    node.run_pod(api, "shell", {"main": ["sleep", "60"]})
    ws = exec_in(api, "shell", ["sh", "-c", "echo out; echo err >&2; exit 3"], stdin=False)
    ws.run_forever(timeout=10)
    assert (ws.read_stdout(), ws.read_stderr(), ws.returncode) == ("out\n", "err\n", 3)
    ws.close()

    ws = exec_in(api, "shell", ["sh", "-c", "tr a-z A-Z; echo done"], stdin=True)
    ws.write_stdin("hello stdin\n")
    ws.close_channel(0)  # v5: the end of stdin
    ws.run_forever(timeout=10)
    assert (ws.read_stdout(), ws.read_stderr(), ws.returncode) == ("HELLO STDIN\ndone\n", "", 0)
    ws.close()


def test_exec_into_a_missing_container_is_refused(node: Node, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    node.run_pod(api, "lonely", {"main": ["sleep", "60"]})
    with pytest.raises(ApiException) as err:
        stream(api.connect_get_namespaced_pod_exec, "lonely", "default", container="other", command=["true"])
    # The client reports a refused WebSocket handshake as its status line and body.
    assert "400" in str(err.value) and "container other is not valid for pod lonely" in str(err.value)


def test_attach_sees_the_main_process(node: Node, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    node.run_pod(api, "echoer", {"main": ["sh", "-c", "while read line; do echo got $line; done"]}, stdin=True)
    ws = stream(
        api.connect_get_namespaced_pod_attach,
        "echoer",
        "default",
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    ws.write_stdin("ping\n")
    deadline = time.monotonic() + 10
    out = ""
    while "got ping" not in out and time.monotonic() < deadline:
        ws.update(timeout=0.2)
        out += ws.read_stdout(timeout=0.1) or ""
    assert "got ping" in out
    ws.close()


def test_port_forward_over_websocket_channels(node: Node, k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    port = free_port()
    node.run_pod(api, "web", {"main": [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]})
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert time.monotonic() < deadline, "the pod's HTTP server did not start"
            time.sleep(0.1)
    pf = portforward(api.connect_get_namespaced_pod_portforward, "web", "default", ports=str(port))
    conn = pf.socket(port)
    conn.setblocking(True)
    conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
    data = b""
    while chunk := conn.recv(65536):
        data += chunk
    assert data.startswith(b"HTTP/1.0 200")
    assert b"Directory listing" in data
    conn.close()
    assert pf.error(port) is None
    pf.close()


def test_node_proxy_reaches_the_kubelet(node: Node, threaded_server: ThreadedServer) -> None:
    assert node.agent.kubelet is not None and node.agent.kubelet.port != 10250
    base = f"{threaded_server.url}/api/v1/nodes/{NODE}/proxy"
    with urllib.request.urlopen(f"{base}/healthz", timeout=10) as r:
        assert r.read() == b"ok"
    with urllib.request.urlopen(f"{base}/logs/", timeout=10) as r:
        assert b'<a href="kubelet.log">kubelet.log</a>' in r.read()
    with urllib.request.urlopen(f"{base}/logs/kubelet.log", timeout=10) as r:
        assert r.read() == b"kubelet started\n"
    with urllib.request.urlopen(f"{base}/stats/summary", timeout=10) as r:
        summary = json.loads(r.read())
    assert summary["node"]["nodeName"] == NODE
    assert summary["node"]["memory"]["availableBytes"] > 0
    with urllib.request.urlopen(f"{base}/pods", timeout=10) as r:
        assert json.loads(r.read())["kind"] == "PodList"
    # The five relays went over one pooled connection to the kubelet, kept open for the next.
    assert _established_to(node.agent.kubelet.port) == 1


def _established_to(port: int) -> int:
    """Open TCP connections (IPv4) from this machine to a local ``port``."""
    count = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        remote_port, state = int(fields[2].split(":")[1], 16), fields[3]
        count += remote_port == port and state == "01"  # TCP_ESTABLISHED
    return count


def test_log_options_are_validated_before_the_kubelet(
    node: Node, k8s_client: kubernetes.client.ApiClient, threaded_server: ThreadedServer
) -> None:
    api = CoreV1Api(k8s_client)
    node.run_pod(api, "quiet", {"main": ["sleep", "60"]})
    path = "/api/v1/namespaces/default/pods/quiet/log?sinceSeconds=5&sinceTime=2026-01-01T00:00:00Z"
    status, body = raw_request(threaded_server.url, "GET", path)
    assert status == 422 and "at most one of `sinceTime` or `sinceSeconds`" in body["message"]
    with pytest.raises(ApiException) as err:
        api.read_namespaced_pod_log("quiet", "default", limit_bytes=0)
    assert err.value.status == 422 and "limitBytes" in err.value.body


@pytest.mark.parametrize("protocol", ["v4.channel.k8s.io", "base64.channel.k8s.io", "channel.k8s.io"])
def test_older_channel_protocols(
    node: Node, k8s_client: kubernetes.client.ApiClient, threaded_server: ThreadedServer, protocol: str
) -> None:
    api = CoreV1Api(k8s_client)
    node.run_pod(api, "old", {"main": ["sleep", "60"]})
    query = "command=sh&command=-c&command=echo%20hi%3B%20exit%202&stdout=true&stderr=true"
    url = f"{threaded_server.url}/api/v1/namespaces/default/pods/old/exec?{query}"

    async def run() -> dict[int, bytes]:
        got: dict[int, bytes] = {}
        async with aiohttp.ClientSession() as session, session.ws_connect(url, protocols=[protocol]) as ws:
            assert ws.protocol == protocol
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT:
                    channel, data = int(message.data[0]), base64.b64decode(message.data[1:])
                else:
                    channel, data = message.data[0], message.data[1:]
                got[channel] = got.get(channel, b"") + data
        return got

    got = asyncio.run(run())
    assert got[1] == b"hi\n"
    if protocol == "v4.channel.k8s.io":
        assert json.loads(got[3])["details"]["causes"] == [{"reason": "ExitCode", "message": "2"}]
    else:  # before v4 the error channel carries the message as text
        assert got[3].startswith(b"command terminated with non-zero exit code")


def test_a_kubelet_that_cannot_be_dialled_gets_upstreams_bare_500s(k8s_client: kubernetes.client.ApiClient) -> None:
    """Logs fail with the log GET's dial error, exec/attach/port-forward with ``error dialing backend`` (500s with
    no reason, as kube-apiserver answers for a node whose kubelet is down)."""
    api = CoreV1Api(k8s_client)
    closed = free_port()
    node = {
        "metadata": {"name": "dark-node"},
        "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": closed}},
        },
    }
    api.create_node(node)
    api.patch_node_status("dark-node", {"status": node["status"]})
    spec = {"nodeName": "dark-node", "containers": [{"name": "c", "image": "i"}]}
    pod = {"metadata": {"name": "stray"}, "spec": spec}
    api.create_namespaced_pod("default", pod)
    dial = f"dial tcp 127.0.0.1:{closed}: connect: connection refused"
    with pytest.raises(ApiException) as err:
        api.read_namespaced_pod_log("stray", "default")
    status = json.loads(err.value.body)
    url = f"{k8s_client.configuration.host.partition('://')[0]}://127.0.0.1:{closed}/containerLogs/default/stray/c"
    assert (err.value.status, status["message"], status.get("reason", "")) == (500, f'Get "{url}": {dial}', "")
    with pytest.raises(ApiException) as err:  # exec over WebSocket: the client reports the refused handshake
        exec_in(api, "stray", ["true"], stdin=False)
    assert "500" in str(err.value) and f"error dialing backend: {dial}" in str(err.value)
    spdy = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v4.channel.k8s.io"}
    code, answer = raw_request(
        k8s_client.configuration.host, "POST", "/api/v1/namespaces/default/pods/stray/attach?stdout=true", b"", spdy
    )
    assert (code, answer["message"]) == (500, f"error dialing backend: {dial}")
