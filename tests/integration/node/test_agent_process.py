"""A real node agent on the process runtime against an in-process API server: pods really run."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.node.agent import AgentConfig, NodeAgent
from pinnace.node.process import ProcessRuntime

pytestmark = pytest.mark.timeout(90)

PODS = ResourceRef("", "v1", "pods")
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases")
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
SECRETS = ResourceRef("", "v1", "secrets")
EVENTS = ResourceRef("", "v1", "events")
NODE = "node-a"

Obj = dict[str, Any]


class Node:
    """An agent and its runtime, restartable on the same data directory."""

    def __init__(self, rest: RestClient, data_dir: Path) -> None:
        self.rest = rest
        self.data_dir = data_dir
        self.agent: NodeAgent | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> NodeAgent:
        runtime = ProcessRuntime(self.data_dir / "runtime", node_ip="127.0.0.1")
        config = AgentConfig(
            node_name=NODE,
            data_dir=self.data_dir,
            backoff_base=0.4,
            relist_period=0.1,
            volume_refresh_period=0.5,
            heartbeat_interval=1.0,
            status_update_frequency=1.0,
            cluster_dns=("10.96.0.10",),
        )
        self.agent = NodeAgent(self.rest, runtime, config)
        self.task = asyncio.create_task(self.agent.run())
        await asyncio.wait_for(self.agent.registered.wait(), 20)
        return self.agent

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    @property
    def runtime(self) -> ProcessRuntime:
        assert self.agent is not None and isinstance(self.agent.runtime, ProcessRuntime)
        return self.agent.runtime


@pytest.fixture
async def node(client: RestClient, tmp_path: Path) -> AsyncIterator[Node]:
    n = Node(client, tmp_path / "node")
    await n.start()
    try:
        yield n
    finally:
        runtime = n.runtime
        assert n.agent is not None
        volumes = n.agent.volumes
        await n.stop()
        await runtime.stop_all()
        volumes.unmount_all()  # no tmpfs volume may outlive the test (pytest could not remove its directory)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            result = await check()
            if result:
                return result
        except (AssertionError, KeyError, IndexError) as exc:
            last = exc
        await asyncio.sleep(0.05)
    raise AssertionError(f"not true within {timeout}s (last error: {last!r})")


def pod(name: str, *containers: Obj, **spec: Any) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"nodeName": NODE, "containers": list(containers), **spec},
    }


def sh(name: str, script: str, **extra: Any) -> Obj:
    return {"name": name, "image": "busybox", "command": ["sh", "-c", script], **extra}


async def get_pod(rest: RestClient, name: str) -> Obj:
    return await rest.get(PODS, name, "default")


def ready(p: Obj) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])


def log_of(node: Node, p: Obj, container: str, attempt: int = 0) -> str:
    meta = p["metadata"]
    path = node.data_dir / "logs" / "pods" / f"default_{meta['name']}_{meta['uid']}" / container / f"{attempt}.log"
    if not path.exists():
        return ""
    return "\n".join(line.split(" ", 3)[3] for line in path.read_text().splitlines())


async def test_node_registers_and_heartbeats(client: RestClient, node: Node) -> None:
    n = await client.get(NODES, NODE)
    status = n["status"]
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "MemoryPressure": "False",
        "DiskPressure": "False",
        "PIDPressure": "False",
        "Ready": "True",
    }
    assert int(status["capacity"]["cpu"]) == os.cpu_count()
    assert status["capacity"]["pods"] == "110" and status["capacity"]["memory"].endswith("Ki")
    assert {"type": "InternalIP", "address": "127.0.0.1"} in status["addresses"]
    assert status["nodeInfo"]["kubeletVersion"] == "v1.32.0"
    assert status["nodeInfo"]["containerRuntimeVersion"].startswith("process://")
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] > 0
    first = (await client.get(LEASES, NODE, "kube-node-lease"))["spec"]["renewTime"]
    await eventually(
        lambda: _renewed(client, first),
        timeout=5,
    )


async def _renewed(client: RestClient, first: str) -> bool:
    return bool((await client.get(LEASES, NODE, "kube-node-lease"))["spec"]["renewTime"] != first)


async def test_a_pod_runs_with_env_and_volumes(client: RestClient, node: Node) -> None:
    await client.create(
        CONFIGMAPS, {"metadata": {"name": "cfg"}, "data": {"greeting": "hello", "color": "blue"}}, "default"
    )
    secret = {"metadata": {"name": "sec"}, "data": {"password": base64.b64encode(b"s3cret").decode()}}
    await client.create(SECRETS, secret, "default")
    mnt = node.data_dir.parent / "mnt"
    script = (
        "echo env $GREETING $PASSWORD $POD_NAME $POD_IP $CFG_color $EXPANDED; "
        f"cat {mnt}/cfg/greeting; echo; cat {mnt}/sec/password; echo; cat {mnt}/info/labels; echo; "
        f"echo scratch > {mnt}/scratch/file && echo wrote; sleep 60"
    )
    spec = pod(
        "web",
        sh(
            "main",
            script,
            env=[
                {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "greeting"}}},
                {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "EXPANDED", "value": "$(POD_NAME)-x-$$(POD_NAME)"},
            ],
            envFrom=[{"prefix": "CFG_", "configMapRef": {"name": "cfg"}}],
            volumeMounts=[
                {"name": "cfg", "mountPath": f"{mnt}/cfg"},
                {"name": "sec", "mountPath": f"{mnt}/sec", "readOnly": True},
                {"name": "info", "mountPath": f"{mnt}/info"},
                {"name": "scratch", "mountPath": f"{mnt}/scratch"},
            ],
        ),
        volumes=[
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
            {
                "name": "info",
                "downwardAPI": {"items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]},
            },
            {"name": "scratch", "emptyDir": {}},
        ],
    )
    spec["metadata"]["labels"] = {"app": "web"}
    await client.create(PODS, spec, "default")
    p = await eventually(lambda: _ready_pod(client, "web"))
    status = p["status"]
    assert status["phase"] == "Running" and status["podIP"] == "127.0.0.1" and status["hostIP"] == "127.0.0.1"
    cs = status["containerStatuses"][0]
    assert cs["ready"] and cs["started"] and cs["restartCount"] == 0 and cs["containerID"].startswith("process://")
    assert {c["type"] for c in status["conditions"]} >= {
        "PodReadyToStartContainers",
        "Initialized",
        "ContainersReady",
        "Ready",
        "PodScheduled",
    }
    out = await eventually(lambda: _log_has(node, p, "main", "wrote"))
    lines = out.splitlines()
    assert lines[0] == "env hello s3cret web 127.0.0.1 blue web-x-$(POD_NAME)"
    assert lines[1:4] == ["hello", "s3cret", 'app="web"']
    uid = p["metadata"]["uid"]
    scratch = node.data_dir / "pods" / uid / "volumes" / "kubernetes.io~empty-dir" / "scratch" / "file"
    assert scratch.read_text() == "scratch\n"
    secret_file = node.data_dir / "pods" / uid / "volumes" / "kubernetes.io~secret" / "sec" / "password"
    assert oct(secret_file.stat().st_mode & 0o777) == "0o400"
    # A ConfigMap change reaches the volume (atomic ..data swap).
    await client.patch(CONFIGMAPS, "cfg", {"data": {"greeting": "changed"}}, "default")
    cfg_file = node.data_dir / "pods" / uid / "volumes" / "kubernetes.io~configmap" / "cfg" / "greeting"
    await eventually(lambda: _file_is(cfg_file, "changed"))
    result = await node.runtime.exec_sync(cs["containerID"].split("://")[1], ["cat", f"{mnt}/cfg/greeting"], 10)
    assert result.stdout == b"changed"


async def _ready_pod(client: RestClient, name: str) -> Obj | None:
    p = await get_pod(client, name)
    return p if ready(p) else None


async def _log_has(node: Node, p: Obj, container: str, text: str, attempt: int = 0) -> str | None:
    out = log_of(node, p, container, attempt)
    return out if text in out else None


async def _file_is(path: Path, text: str) -> bool:
    return path.exists() and path.read_text() == text


async def test_missing_config_is_reported_and_retried(client: RestClient, node: Node) -> None:
    spec = pod(
        "waits",
        sh(
            "main",
            "echo $V; sleep 60",
            env=[{"name": "V", "valueFrom": {"configMapKeyRef": {"name": "later", "key": "v"}}}],
        ),
    )
    await client.create(PODS, spec, "default")

    async def config_error() -> bool:
        state = (await get_pod(client, "waits"))["status"]["containerStatuses"][0]["state"]
        return bool(state.get("waiting", {}).get("reason") == "CreateContainerConfigError")

    await eventually(config_error)
    p = await get_pod(client, "waits")
    assert p["status"]["phase"] == "Pending"
    assert 'configmap "later" not found' in p["status"]["containerStatuses"][0]["state"]["waiting"]["message"]
    await client.create(CONFIGMAPS, {"metadata": {"name": "later"}, "data": {"v": "now"}}, "default")
    await eventually(lambda: _ready_pod(client, "waits"))


async def test_init_containers_run_in_order_first(client: RestClient, node: Node) -> None:
    shared = node.data_dir.parent / "order.txt"
    spec = pod(
        "init",
        sh("main", f"echo main >> {shared}; sleep 60"),
        initContainers=[sh("first", f"echo first >> {shared}"), sh("second", f"sleep 0.2; echo second >> {shared}")],
    )
    await client.create(PODS, spec, "default")
    p = await eventually(lambda: _ready_pod(client, "init"))
    assert shared.read_text().split() == ["first", "second", "main"]
    inits = p["status"]["initContainerStatuses"]
    assert [s["state"]["terminated"]["reason"] for s in inits] == ["Completed", "Completed"]
    assert all(s["ready"] for s in inits)


async def test_failed_init_container_with_never_fails_the_pod(client: RestClient, node: Node) -> None:
    spec = pod("badinit", sh("main", "sleep 60"), initContainers=[sh("setup", "exit 2")], restartPolicy="Never")
    await client.create(PODS, spec, "default")

    async def failed() -> bool:
        return bool((await get_pod(client, "badinit"))["status"].get("phase") == "Failed")

    await eventually(failed)
    p = await get_pod(client, "badinit")
    assert p["status"]["initContainerStatuses"][0]["state"]["terminated"]["exitCode"] == 2
    assert "running" not in p["status"]["containerStatuses"][0]["state"]


async def test_crash_loop_back_off_and_completion(client: RestClient, node: Node) -> None:
    await client.create(PODS, pod("crash", sh("main", "echo run; exit 3")), "default")

    async def backing_off() -> Obj | None:
        cs = (await get_pod(client, "crash"))["status"]["containerStatuses"][0]
        waiting = cs["state"].get("waiting") or {}
        return cs if waiting.get("reason") == "CrashLoopBackOff" and cs["restartCount"] >= 2 else None

    cs = await eventually(backing_off)
    assert cs["lastState"]["terminated"]["exitCode"] == 3
    assert "back-off" in cs["state"]["waiting"]["message"]
    p = await get_pod(client, "crash")
    assert p["status"]["phase"] == "Running"
    # The agent keeps the last exited instance (logs --previous) besides the newest; the older go with their logs.
    logs = node.data_dir / "logs" / "pods" / f"default_crash_{p['metadata']['uid']}" / "main"

    async def logs_pruned() -> list[str] | None:
        names = sorted(f.name for f in logs.iterdir())
        return names if len(names) <= 2 and "0.log" not in names else None

    assert len(await eventually(logs_pruned)) == 2

    async def told() -> bool:  # the agent's recorder posts events in the background
        events = await client.list(EVENTS, "default", fieldSelector="involvedObject.name=crash")
        return {"Created", "Started", "BackOff"} <= {e["reason"] for e in events["items"]}

    await eventually(told)
    # OnFailure and Never: a zero exit completes the pod, which keeps its final status.
    await client.create(PODS, pod("job", sh("main", "echo done"), restartPolicy="OnFailure"), "default")

    async def succeeded() -> Obj | None:
        p = await get_pod(client, "job")
        return p if p["status"].get("phase") == "Succeeded" else None

    done = await eventually(succeeded)
    term = done["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (term["exitCode"], term["reason"]) == (0, "Completed")
    assert not ready(done)


async def test_graceful_termination_leaves_no_process(client: RestClient, node: Node) -> None:
    marker = node.data_dir.parent / "prestop.txt"
    script = "trap 'echo got-term; sleep 0.3; exit 0' TERM; while :; do sleep 0.05; done"
    spec = pod(
        "graceful",
        sh("main", script, lifecycle={"preStop": {"exec": {"command": ["sh", "-c", f"echo prestop > {marker}"]}}}),
        terminationGracePeriodSeconds=5,
    )
    await client.create(PODS, spec, "default")
    p = await eventually(lambda: _ready_pod(client, "graceful"))
    [container] = await node.runtime.list_containers()
    state = node.runtime._state(container.id)
    assert state is not None
    pid = int(state["pid"])
    await asyncio.sleep(0.2)
    await client.delete(PODS, "graceful", "default")

    async def gone() -> bool:
        try:
            await get_pod(client, "graceful")
        except Exception as exc:
            return "not found" in str(exc).lower()
        return False

    await eventually(gone)
    assert marker.read_text() == "prestop\n"
    assert not Path(f"/proc/{pid}").exists()
    assert await node.runtime.list_containers() == [] and await node.runtime.list_pod_sandboxes() == []
    assert not (node.data_dir / "pods" / p["metadata"]["uid"]).exists()


async def test_a_shorter_grace_period_from_a_second_delete_cuts_the_termination_short(
    client: RestClient, node: Node
) -> None:
    # The container ignores SIGTERM: it ends only at the SIGKILL its grace period allows.
    spec = pod("stubborn", sh("main", "trap '' TERM; while :; do sleep 0.05; done"), terminationGracePeriodSeconds=60)
    await client.create(PODS, spec, "default")
    await eventually(lambda: _ready_pod(client, "stubborn"))
    await client.delete(PODS, "stubborn", "default")  # 60 s
    await asyncio.sleep(0.5)
    started = asyncio.get_running_loop().time()
    await client.delete(PODS, "stubborn", "default", gracePeriodSeconds=1)  # as the kubelet: kill again, sooner

    async def gone() -> bool:
        try:
            await get_pod(client, "stubborn")
        except errors.NotFound:
            return True
        return False

    await eventually(gone, timeout=15)
    assert asyncio.get_running_loop().time() - started < 10  # the 2 s floor of a kill's grace, not the 60 s
    assert await node.runtime.list_containers() == []


async def test_agent_restart_adopts_running_pods(client: RestClient, node: Node) -> None:
    await client.create(PODS, pod("steady", sh("main", "echo up; sleep 60")), "default")
    await client.create(PODS, pod("doomed", sh("main", "sleep 60")), "default")
    await eventually(lambda: _ready_pod(client, "steady"))
    await eventually(lambda: _ready_pod(client, "doomed"))
    before = await node.runtime.list_containers()
    doomed = [c for c in before if c.labels.get("io.kubernetes.pod.name") == "doomed"]
    doomed_state = node.runtime._state(doomed[0].id)
    assert doomed_state is not None
    runtime = node.runtime
    await node.stop()
    await client.create(PODS, pod("while-down", sh("main", "sleep 60")), "default")
    await client.delete(PODS, "doomed", "default", gracePeriodSeconds=0)  # force-deleted while the node is down
    await node.start()
    await eventually(lambda: _ready_pod(client, "while-down"))
    after = await node.runtime.list_containers()
    steady = [c for c in after if c.labels.get("io.kubernetes.pod.name") == "steady"]
    assert [c.id for c in steady] == [c.id for c in before if c.labels.get("io.kubernetes.pod.name") == "steady"]
    p = await get_pod(client, "steady")
    assert p["status"]["containerStatuses"][0]["restartCount"] == 0  # adopted, not restarted or duplicated

    async def orphan_gone() -> bool:
        sandboxes = await node.runtime.list_pod_sandboxes()
        return all(s.config.name != "doomed" for s in sandboxes)

    await eventually(orphan_gone)
    assert not Path(f"/proc/{doomed_state['pid']}").exists()
    await runtime.stop_all()


async def test_projected_token_host_path_sub_path_and_memory_volumes(client: RestClient, node: Node) -> None:
    await client.create(ResourceRef("", "v1", "serviceaccounts"), {"metadata": {"name": "default"}}, "default")
    mnt = node.data_dir.parent / "mnt2"
    host_dir = node.data_dir.parent / "host-data"
    script = (
        f"cat {mnt}/sa/namespace; echo; cat {mnt}/sa/token > {mnt}/host/token; "
        f"echo sub > {mnt}/only-sub/file; grep -c ' {mnt}/mem tmpfs' /proc/mounts; sleep 60"
    )
    projected = {
        "sources": [
            {"serviceAccountToken": {"audience": "vault", "expirationSeconds": 600, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
        ]
    }
    spec = pod(
        "vols",
        sh(
            "main",
            script,
            volumeMounts=[
                {"name": "sa", "mountPath": f"{mnt}/sa", "readOnly": True},
                {"name": "host", "mountPath": f"{mnt}/host"},
                {"name": "scratch", "mountPath": f"{mnt}/only-sub", "subPath": "nested/dir"},
                {"name": "mem", "mountPath": f"{mnt}/mem"},
            ],
        ),
        volumes=[
            {"name": "sa", "projected": projected},
            {"name": "host", "hostPath": {"path": str(host_dir), "type": "DirectoryOrCreate"}},
            {"name": "scratch", "emptyDir": {}},
            {"name": "mem", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        ],
    )
    await client.create(PODS, spec, "default")
    p = await eventually(lambda: _ready_pod(client, "vols"))
    out = await eventually(lambda: _log_has(node, p, "main", "\n1"))
    assert out.splitlines()[:2] == ["default", "1"]  # the namespace file; the tmpfs is mounted
    token = await eventually(lambda: _read(host_dir / "token"))
    payload = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert payload["aud"] == ["vault"] and payload["sub"] == "system:serviceaccount:default:default"
    assert payload["exp"] - payload["iat"] == 600
    assert payload["kubernetes.io"]["pod"]["name"] == "vols"
    uid = p["metadata"]["uid"]
    nested = (
        node.data_dir / "pods" / uid / "volumes" / "kubernetes.io~empty-dir" / "scratch" / "nested" / "dir" / "file"
    )
    assert nested.read_text() == "sub\n"


async def _read(path: Path) -> str | None:
    return path.read_text() if path.exists() and path.stat().st_size else None


async def test_a_pod_failed_by_someone_else_has_its_containers_stopped(client: RestClient, node: Node) -> None:
    await client.create(PODS, pod("evicted", sh("main", "sleep 60"), terminationGracePeriodSeconds=1), "default")
    await eventually(lambda: _ready_pod(client, "evicted"))
    [running] = [c for c in await node.runtime.list_containers() if c.labels.get("io.kubernetes.pod.name") == "evicted"]
    patch = {"status": {"phase": "Failed", "reason": "Evicted", "message": "The node was low on memory."}}
    await client.patch(PODS, "evicted", patch, "default", subresource="status")

    async def stopped() -> bool:
        return (await node.runtime.container_status(running.id)).state.value == "CONTAINER_EXITED"

    await eventually(stopped)
    p = await get_pod(client, "evicted")
    assert (p["status"]["phase"], p["status"]["reason"]) == ("Failed", "Evicted")  # the agent does not undo it


async def test_post_start_hook_runs_and_a_failing_one_restarts_the_container(client: RestClient, node: Node) -> None:
    marker = node.data_dir.parent / "poststart.txt"
    good = sh(
        "main", "sleep 60", lifecycle={"postStart": {"exec": {"command": ["sh", "-c", f"echo hooked > {marker}"]}}}
    )
    await client.create(PODS, pod("hooked", good), "default")
    await eventually(lambda: _ready_pod(client, "hooked"))
    assert marker.read_text() == "hooked\n"
    bad = sh("main", "sleep 60", lifecycle={"postStart": {"exec": {"command": ["sh", "-c", "exit 3"]}}})
    await client.create(PODS, pod("unhooked", bad, terminationGracePeriodSeconds=1), "default")

    async def failed_hook() -> bool:
        events = await client.list(EVENTS, "default", fieldSelector="involvedObject.name=unhooked")
        return any(e["reason"] == "FailedPostStartHook" for e in events["items"])

    await eventually(failed_hook)

    async def restarted() -> bool:
        statuses = (await get_pod(client, "unhooked"))["status"].get("containerStatuses") or [{}]
        return int(statuses[0].get("restartCount") or 0) >= 1

    await eventually(restarted)


async def test_an_ephemeral_container_runs_once_but_not_in_a_finished_pod(client: RestClient, node: Node) -> None:
    marks = node.data_dir.parent / "ephemeral.txt"
    await client.create(PODS, pod("target", sh("main", "sleep 60")), "default")
    await eventually(lambda: _ready_pod(client, "target"))
    debugger = sh("dbg", f"echo ran >> {marks}")
    patch = {"spec": {"ephemeralContainers": [debugger]}}
    await client.patch(PODS, "target", patch, "default", subresource="ephemeralcontainers")

    async def finished(name: str) -> Obj | None:
        statuses = (await get_pod(client, name))["status"].get("ephemeralContainerStatuses") or []
        return statuses[0] if statuses and "terminated" in statuses[0]["state"] else None

    status = await eventually(lambda: finished("target"))
    assert status["state"]["terminated"]["exitCode"] == 0 and status["ready"] is False
    await asyncio.sleep(1.0)  # the agent syncs the pod again: the exited debugger is not restarted
    assert marks.read_text() == "ran\n"
    assert (await get_pod(client, "target"))["status"]["phase"] == "Running"

    await client.create(PODS, pod("done", sh("main", "true"), restartPolicy="Never"), "default")

    async def succeeded() -> bool:
        return bool((await get_pod(client, "done"))["status"].get("phase") == "Succeeded")

    await eventually(succeeded)
    await client.patch(PODS, "done", patch, "default", subresource="ephemeralcontainers")
    await asyncio.sleep(1.5)
    statuses = (await get_pod(client, "done"))["status"].get("ephemeralContainerStatuses") or []
    assert all("running" not in s["state"] and "terminated" not in s["state"] for s in statuses)
    assert marks.read_text() == "ran\n"  # it never ran there


async def test_a_full_disk_is_told_in_the_pods_events_and_the_pod_starts_once_there_is_room(
    client: RestClient, node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node's disk fills up (the runtime cannot write its records): as the kubelet, the agent says so in the
    pod's events (FailedCreatePodSandBox, then Failed for the container) and keeps trying; it was a traceback in
    the agent's log every retry and nothing on the pod. Once there is room, the pod runs."""
    runtime = node.runtime
    full = {"sandbox": 2, "create": 2}

    def failing(what: str, real: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if full[what]:
                full[what] -= 1
                raise OSError(28, "No space left on device")
            return await real(*args, **kwargs)

        return call

    monkeypatch.setattr(runtime, "run_pod_sandbox", failing("sandbox", runtime.run_pod_sandbox))
    monkeypatch.setattr(runtime, "create_container", failing("create", runtime.create_container))
    await client.create(PODS, pod("squeezed", sh("main", "echo room; sleep 30")), "default")

    async def told() -> set[str] | None:
        events = await client.list(EVENTS, "default", fieldSelector="involvedObject.name=squeezed")
        messages = {f"{e['reason']}: {e['message']}" for e in events["items"]}
        wanted = {
            "FailedCreatePodSandBox: Failed to create pod sandbox: [Errno 28] No space left on device",
            "Failed: Error: [Errno 28] No space left on device",
        }
        return messages if wanted <= messages else None

    await eventually(told)

    async def running() -> Obj | None:
        p = await get_pod(client, "squeezed")
        return p if p["status"].get("phase") == "Running" and log_of(node, p, "main") == "room" else None

    await eventually(running)


async def test_a_pod_resolves_with_the_cluster_dns_server(client: RestClient, node: Node) -> None:
    """ClusterFirst: the cluster's nameserver and searches in the container's /etc/resolv.conf (bound over the
    node's, which stays as it was); nameservers over the limit are cut, with the kubelet's warning."""
    host = Path("/etc/resolv.conf").read_text()
    extra = {"nameservers": ["10.0.0.1", "10.0.0.2", "10.0.0.3"], "options": [{"name": "edns0"}]}
    await client.create(PODS, pod("dns", sh("main", "cat /etc/resolv.conf; sleep 60"), dnsConfig=extra), "default")
    p = await eventually(lambda: _ready_pod(client, "dns"))
    out = await eventually(lambda: _log_has(node, p, "main", "options"))
    lines = out.splitlines()
    assert lines[0].startswith("search default.svc.cluster.local svc.cluster.local cluster.local")
    assert lines[1:] == ["nameserver 10.96.0.10", "nameserver 10.0.0.1", "nameserver 10.0.0.2", "options ndots:5 edns0"]
    assert Path("/etc/resolv.conf").read_text() == host

    async def warned() -> str | None:
        events = await client.list(EVENTS, "default", fieldSelector="involvedObject.name=dns")
        return next((e["message"] for e in events["items"] if e["reason"] == "DNSConfigForming"), None)

    assert await eventually(warned) == (
        "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "
        "10.96.0.10 10.0.0.1 10.0.0.2"
    )


async def test_without_cluster_dns_a_cluster_first_pod_falls_back_to_default(
    client: RestClient, tmp_path: Path
) -> None:
    from .agentenv import running_agent

    async with running_agent(client, tmp_path / "node-b", "node-b"):
        spec = pod("nodns", sh("main", "cat /etc/resolv.conf; sleep 60"))
        spec["spec"]["nodeName"] = "node-b"
        await client.create(PODS, spec, "default")
        p = await eventually(lambda: _ready_pod(client, "nodns"))
        message = (
            'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. '
            'Falling back to "Default" policy.'
        )

        async def warned() -> bool:
            events = (await client.list(EVENTS, "default"))["items"]
            told = {(e["involvedObject"]["kind"], e["reason"], e["message"]) for e in events}
            pod_ref = f"nodns_default({p['metadata']['uid']})"
            return {
                ("Pod", "MissingClusterDNS", f'pod: "{pod_ref}". {message}'),
                ("Node", "MissingClusterDNS", message),
            } <= told

        await eventually(warned)
