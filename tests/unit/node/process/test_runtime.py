"""The process runtime with real subprocesses: start, logs, exit codes, stop, adoption, exec, attach, volumes."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pinnace.node import cri
from pinnace.node.process import ProcessRuntime
from pinnace.node.process.runtime import mount_namespace_mode, pod_hostname

pytestmark = pytest.mark.timeout(60)

LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) (F|P) (.*)$")


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[ProcessRuntime]:
    rt = ProcessRuntime(tmp_path / "runtime", node_ip="127.0.0.1")
    try:
        yield rt
    finally:
        await rt.stop_all()


async def sandbox(rt: ProcessRuntime, tmp_path: Path, name: str = "web") -> str:
    config = cri.SandboxConfig(
        name=name,
        namespace="default",
        uid=f"uid-{name}",
        log_directory=str(tmp_path / "logs" / name),
        labels={cri.LABEL_POD_UID: f"uid-{name}"},
    )
    return await rt.run_pod_sandbox(config)


async def run(rt: ProcessRuntime, sid: str, tmp_path: Path, *command: str, name: str = "main", **kwargs: object) -> str:
    config = cri.ContainerConfig(
        name=name,
        image="busybox",
        command=command,
        log_path=str(tmp_path / "logs" / f"{name}.log"),
        labels={cri.LABEL_CONTAINER_NAME: name},
        **kwargs,  # type: ignore[arg-type]
    )
    cid = await rt.create_container(sid, config)
    await rt.start_container(cid)
    return cid


async def wait_state(
    rt: ProcessRuntime, cid: str, state: cri.ContainerState, timeout: float = 10
) -> cri.ContainerStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = await rt.container_status(cid)
        if status.state == state or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.02)


def log_records(path: str) -> list[tuple[str, str, str]]:
    out = []
    for line in Path(path).read_text().splitlines():
        match = LOG_LINE.match(line)
        assert match, line
        out.append((match.group(1), match.group(2), match.group(3)))
    return out


async def test_runs_logs_and_reports_the_exit_code(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(
        runtime, sid, tmp_path, "sh", "-c", 'echo "hello $GREETING"; echo oops >&2; exit 3', env=(("GREETING", "you"),)
    )
    status = await wait_state(runtime, cid, cri.ContainerState.EXITED)
    assert status.state == cri.ContainerState.EXITED
    assert (status.exit_code, status.reason) == (3, "Error")
    assert status.finished_at >= status.started_at > 0
    records = log_records(status.log_path)
    assert ("stdout", "F", "hello you") in records and ("stderr", "F", "oops") in records
    assert status.labels[cri.LABEL_CONTAINER_NAME] == "main"


async def test_working_dir_path_and_missing_command(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, tmp_path, "sh", "-c", "pwd; echo $PATH", working_dir=str(tmp_path))
    status = await wait_state(runtime, cid, cri.ContainerState.EXITED)
    lines = [r[2] for r in log_records(status.log_path)]
    assert lines[0] == str(tmp_path) and "/usr/bin" in lines[1]
    assert status.reason == "Completed"
    with pytest.raises(cri.RuntimeFailure, match="no command"):
        await runtime.create_container(sid, cri.ContainerConfig(name="x", image="nginx"))
    bad = await runtime.create_container(
        sid, cri.ContainerConfig(name="bad", image="x", command=("no-such-binary-here",), log_path=status.log_path)
    )
    with pytest.raises(cri.RuntimeFailure, match="executable file not found"):
        await runtime.start_container(bad)
    failed = await runtime.container_status(bad)
    assert (failed.state, failed.exit_code, failed.reason) == (cri.ContainerState.EXITED, 128, "ContainerCannotRun")


async def test_stop_with_grace_then_kill(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    polite = await run(runtime, sid, tmp_path, "sh", "-c", "trap 'echo bye; exit 0' TERM; while :; do sleep 0.05; done")
    stubborn = await run(
        runtime, sid, tmp_path, "sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", name="stubborn"
    )
    assert (await wait_state(runtime, polite, cri.ContainerState.RUNNING)).state == cri.ContainerState.RUNNING
    await asyncio.sleep(0.2)  # the traps are set
    await runtime.stop_container(polite, 5)
    status = await runtime.container_status(polite)
    assert (status.state, status.exit_code) == (cri.ContainerState.EXITED, 0)
    assert ("stdout", "F", "bye") in log_records(status.log_path)
    await runtime.stop_container(stubborn, 0.3)
    status = await runtime.container_status(stubborn)
    assert (status.state, status.exit_code) == (cri.ContainerState.EXITED, 137)


async def test_a_new_runtime_adopts_running_containers(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, tmp_path, "sh", "-c", "read line; echo got $line; exit 7", stdin=True)
    again = ProcessRuntime(runtime.state_dir, node_ip="127.0.0.1")
    [sb] = await again.list_pod_sandboxes()
    assert (sb.id, sb.state, sb.ips) == (sid, cri.SandboxState.READY, ("127.0.0.1",))
    [c] = await again.list_containers(sid)
    assert (c.id, c.state) == (cid, cri.ContainerState.RUNNING)
    session = await again.attach(cid, tty=False, stdin=True)
    assert session.stdin is not None
    session.stdin.write(b"adopted\n")
    await session.stdin.drain()
    assert await asyncio.wait_for(session.stdout.readline(), 10) == b"got adopted\n"
    assert await asyncio.wait_for(session.wait(), 10) == 7
    await session.close()
    status = await wait_state(again, cid, cri.ContainerState.EXITED)
    assert status.exit_code == 7
    await again.remove_pod_sandbox(sid)
    assert await again.list_containers() == [] and await again.list_pod_sandboxes() == []


async def test_exec_pipes_and_tty(runtime: ProcessRuntime, tmp_path: Path) -> None:
    sid = await sandbox(runtime, tmp_path)
    cid = await run(runtime, sid, tmp_path, "sleep", "30", env=(("WHO", "container"),), working_dir="/tmp")
    result = await runtime.exec_sync(cid, ["sh", "-c", "echo $WHO in $(pwd); echo err >&2; exit 4"], 10)
    assert (result.exit_code, result.stdout, result.stderr) == (4, b"container in /tmp\n", b"err\n")
    slow = await runtime.exec_sync(cid, ["sleep", "10"], 0.3)
    assert slow.timed_out
    with pytest.raises(cri.RuntimeFailure, match="not found"):
        await runtime.exec(cid, ["no-such-binary-here"], tty=False, stdin=False)
    session = await runtime.exec(cid, ["sh"], tty=True, stdin=True)
    assert session.stdin is not None and session.stderr is None
    session.resize(100, 40)
    session.stdin.write(b"tty -s && echo is-a-tty; stty size; exit 5\n")
    await session.stdin.drain()
    output = await asyncio.wait_for(session.stdout.read(), 10)
    assert b"is-a-tty" in output and b"40 100" in output
    assert await asyncio.wait_for(session.wait(), 10) == 5
    await session.close()


@pytest.mark.parametrize("mode", ["root", "userns"])
async def test_volumes_are_mounted_in_a_private_namespace(tmp_path: Path, mode: str) -> None:
    if (mode == "root" and os.geteuid() != 0) or mount_namespace_mode() == "none":
        pytest.fail(f"this machine can make no {mode} mount namespace (the tests need root or user namespaces)")
    runtime = ProcessRuntime(tmp_path / "runtime", node_ip="127.0.0.1", namespaces=mode)
    try:
        await _volumes_are_mounted(runtime, tmp_path)
    finally:
        await runtime.stop_all()


async def _volumes_are_mounted(runtime: ProcessRuntime, tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    volume.mkdir()
    (volume / "data.txt").write_text("from the volume")
    target = tmp_path / "mnt" / "config"
    sid = await sandbox(runtime, tmp_path)
    cid = await run(
        runtime,
        sid,
        tmp_path,
        "sh",
        "-c",
        f"cat {target}/data.txt; touch {target}/new 2>/dev/null || echo read-only; sleep 30",
        mounts=(cri.Mount(container_path=str(target), host_path=str(volume), readonly=True),),
    )
    await asyncio.sleep(0.3)
    exec_view = await runtime.exec_sync(cid, ["cat", f"{target}/data.txt"], 10)
    assert exec_view.stdout == b"from the volume"
    status = await runtime.container_status(cid)
    lines = [r[2] for r in log_records(status.log_path)]
    assert lines[:1] == ["from the volumeread-only"]  # cat (no newline in the file), then the failed touch
    assert not (target / "data.txt").exists()  # the host does not see the bind mount


@pytest.mark.parametrize("mode", ["root", "userns"])
async def test_a_pod_has_its_own_host_name_unless_it_uses_the_hosts_network(tmp_path: Path, mode: str) -> None:
    if (mode == "root" and os.geteuid() != 0) or mount_namespace_mode() == "none":
        pytest.fail(f"this machine can make no {mode} namespace (the tests need root or user namespaces)")
    runtime = ProcessRuntime(tmp_path / "runtime", node_ip="127.0.0.1", namespaces=mode)
    long_name = "a" * 62 + "-b"
    try:
        names = {}
        for pod, host_network in (("web-0", False), ("node-agent", True), (long_name, False)):
            config = cri.SandboxConfig(
                name=pod, namespace="default", uid=f"uid-{pod}", host_network=host_network, hostname=pod
            )
            sid = await runtime.run_pod_sandbox(config)
            cid = await run(runtime, sid, tmp_path, "sh", "-c", "hostname; echo $HOSTNAME; sleep 30", name=pod[:20])
            await asyncio.sleep(0.3)
            status = await runtime.container_status(cid)
            names[pod] = [r[2] for r in log_records(status.log_path)][:2]
            assert (await runtime.exec_sync(cid, ["hostname"], 10)).stdout.decode() == names[pod][0] + "\n"
    finally:
        await runtime.stop_all()
    assert names["web-0"] == ["web-0", "web-0"]
    assert names["node-agent"][0] == socket.gethostname()  # hostNetwork: the node's name
    assert names[long_name] == ["a" * 62, "a" * 62]  # cut to 63 characters, without the trailing "-"


@pytest.mark.parametrize("mode", ["root", "userns"])
async def test_a_pod_reads_its_own_resolv_conf(tmp_path: Path, mode: str) -> None:
    if (mode == "root" and os.geteuid() != 0) or mount_namespace_mode() == "none":
        pytest.fail(f"this machine can make no {mode} namespace (the tests need root or user namespaces)")
    runtime = ProcessRuntime(tmp_path / "runtime", node_ip="127.0.0.1", namespaces=mode)
    dns = {"dns_servers": ("10.96.0.10",), "dns_searches": ("default.svc.cluster.local",), "dns_options": ("ndots:5",)}
    pod_file = "search default.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    host_file = Path("/etc/resolv.conf").read_text()
    seen = {}
    try:
        for pod, host_network, policy in (
            ("cluster", False, "ClusterFirst"),
            ("host-net", True, "Default"),  # a hostNetwork pod keeps the node's file ...
            ("host-net-cluster", True, "ClusterFirstWithHostNet"),  # ... unless it asks for the cluster's
        ):
            config = cri.SandboxConfig(
                name=pod, namespace="default", uid=f"uid-{pod}", host_network=host_network, dns_policy=policy, **dns
            )
            sid = await runtime.run_pod_sandbox(config)
            cid = await run(runtime, sid, tmp_path, "sleep", "30", name=pod)
            script = "cat /etc/resolv.conf; [ -w /etc/resolv.conf ] || echo read-only"
            seen[pod] = (await runtime.exec_sync(cid, ["sh", "-c", script], 10)).stdout.decode()
    finally:
        await runtime.stop_all()
    assert seen["cluster"] == seen["host-net-cluster"] == pod_file + "read-only\n"
    assert seen["host-net"].startswith(host_file)
    assert Path("/etc/resolv.conf").read_text() == host_file  # the node's own file is untouched


async def test_without_a_mount_namespace_the_pod_runs_with_the_nodes_resolv_conf(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = ProcessRuntime(tmp_path / "runtime", node_ip="127.0.0.1", namespaces="none")
    try:
        config = cri.SandboxConfig(name="web", namespace="default", uid="uid-web", dns_servers=("10.96.0.10",))
        sid = await runtime.run_pod_sandbox(config)
        cid = await run(runtime, sid, tmp_path, "sleep", "30")
        result = await runtime.exec_sync(cid, ["cat", "/etc/resolv.conf"], 10)
    finally:
        await runtime.stop_all()
    assert result.stdout.decode() == Path("/etc/resolv.conf").read_text()
    assert "sees the node's /etc/resolv.conf, not the pod's" in caplog.text


def test_pod_host_names_are_cut_as_the_kubelet_cuts_them() -> None:
    assert pod_hostname("web-0") == "web-0"
    assert pod_hostname("x" * 63) == "x" * 63
    assert pod_hostname("x" * 61 + ".-y") == "x" * 61


async def test_port_forward_reaches_the_pods_address(runtime: ProcessRuntime, tmp_path: Path) -> None:
    async def pong(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"pong")
        writer.close()

    server = await asyncio.start_server(pong, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sid = await sandbox(runtime, tmp_path)
    reader, writer = await runtime.port_forward(sid, port)
    assert await reader.read() == b"pong"
    writer.close()
    server.close()
    await server.wait_closed()


async def test_run_as_user_and_group(runtime: ProcessRuntime, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.fail("runAsUser needs a root node")
    sid = await sandbox(runtime, tmp_path)
    security = cri.SecurityContext(run_as_user=65534, run_as_group=65533)
    cid = await run(runtime, sid, tmp_path, "sh", "-c", "id -u; id -g; sleep 30", security=security, working_dir="/tmp")
    await wait_state(runtime, cid, cri.ContainerState.RUNNING)
    result = await runtime.exec_sync(cid, ["id", "-u"], 10)
    assert result.stdout == b"65534\n"  # exec runs as the container's user too
    status = await runtime.container_status(cid)
    deadline = time.monotonic() + 10
    while len(log_records(status.log_path)) < 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert [r[2] for r in log_records(status.log_path)] == ["65534", "65533"]


async def test_a_container_printing_without_end_cannot_fill_the_disk(runtime: ProcessRuntime, tmp_path: Path) -> None:
    """60 MB of output: the shim rotates the log as the kubelet does (10 MiB, five files in all), so at most
    ~50 MB stay, the newest, and the current file ends with the last line."""
    sid = await sandbox(runtime, tmp_path)
    script = "yes \"$(head -c 1000 /dev/zero | tr '\\0' x)\" | head -c 60000000; echo; echo the-end"
    cid = await run(runtime, sid, tmp_path, "sh", "-c", script, name="chatty")
    status = await wait_state(runtime, cid, cri.ContainerState.EXITED, timeout=60)
    assert status.exit_code == 0
    files = [Path(status.log_path), *Path(status.log_path).parent.glob(Path(status.log_path).name + ".*")]
    assert len(files) == 5
    assert 40 * 2**20 < sum(f.stat().st_size for f in files) < 51 * 2**20
    assert log_records(status.log_path)[-1] == ("stdout", "F", "the-end")
