"""The oci runtime on real runc/crun: containers run, log, exit, stop with grace, exec, attach, OOM, adoption."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import socket
import subprocess
import time
from pathlib import Path

import pytest

from pinnace.node import cri
from pinnace.node.oci import OCIRuntime, masquerade

#: The pod UID names the pod's cgroup (pinnace/pod<uid>): unique per test process, as runs may overlap on a host.
SANDBOX = cri.SandboxConfig(name="web", namespace="default", uid=f"uid-{os.getpid()}", hostname="web")


async def _wait_exited(rt: OCIRuntime, container_id: str, timeout: float = 20) -> cri.ContainerStatus:
    deadline = time.monotonic() + timeout
    while True:
        status = await rt.container_status(container_id)
        if status.state is cri.ContainerState.EXITED or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.05)


async def _run(rt: OCIRuntime, sandbox_id: str, tmp_path: Path, script: str, **extra: object) -> str:
    config = cri.ContainerConfig(
        name="c", image="busybox", command=("sh", "-c", script), log_path=str(tmp_path / "logs" / "c.log"),
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip
    container_id = await rt.create_container(sandbox_id, config)
    await rt.start_container(container_id)
    return container_id


async def _wait_logged(path: Path, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not (path.exists() and ("stdout", "F", text) in _log_records(path)):
        assert time.monotonic() < deadline, f"{text!r} not logged"
        await asyncio.sleep(0.05)


def _log_records(path: Path) -> list[tuple[str, str, str]]:
    records = []
    for line in path.read_text().splitlines():
        timestamp, stream, tag, text = line.split(" ", 3) if line.count(" ") >= 3 else (*line.split(" ", 2), "")
        assert timestamp.endswith("Z") and len(timestamp.split(".")[1]) == 10
        records.append((stream, tag, text))
    return records


async def test_a_container_runs_logs_and_exits(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    status = await runtime.pod_sandbox_status(sandbox_id)
    assert status.state is cri.SandboxState.READY
    assert status.ips and status.ips[0].startswith("10.251.")
    container_id = await _run(
        runtime, sandbox_id, tmp_path, "echo out; echo err >&2; hostname; grep web /etc/hosts; exit 3"
    )
    exited = await _wait_exited(runtime, container_id)
    assert (exited.state, exited.exit_code, exited.reason) == (cri.ContainerState.EXITED, 3, "Error")
    assert exited.started_at > 0 and exited.finished_at >= exited.started_at
    records = _log_records(tmp_path / "logs" / "c.log")
    assert ("stdout", "F", "out") in records
    assert ("stderr", "F", "err") in records
    assert ("stdout", "F", "web") in records
    assert ("stdout", "F", f"{status.ips[0]}\tweb") in records


async def test_completed_container_on_each_oci_runtime(
    tmp_path: Path, busybox_rootfs: str, network: dict[str, str], oci_runtime_name: str
) -> None:
    from .busybox_rootfs import BusyboxImages
    from .conftest import make_cni

    rt = OCIRuntime(tmp_path / "oci", BusyboxImages(busybox_rootfs), cni=make_cni(network),
                    oci_runtime=oci_runtime_name)  # fmt: skip
    assert (await rt.version()).startswith(f"{oci_runtime_name}://")
    sandbox_id = await rt.run_pod_sandbox(SANDBOX)
    try:
        container_id = await _run(rt, sandbox_id, tmp_path, "ip -o -4 addr show eth0 | grep -q 10.251. && echo ok")
        exited = await _wait_exited(rt, container_id)
        assert (exited.exit_code, exited.reason) == (0, "Completed")
        assert ("stdout", "F", "ok") in _log_records(tmp_path / "logs" / "c.log")
    finally:
        await rt.remove_pod_sandbox(sandbox_id)
    assert await rt.list_containers() == []


async def test_stop_with_grace_then_kill(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    graceful = await _run(runtime, sandbox_id, tmp_path,
                          "trap 'echo bye; exit 0' TERM; echo up; while true; do sleep 0.1; done")  # fmt: skip
    await _wait_logged(tmp_path / "logs" / "c.log", "up")
    await runtime.stop_container(graceful, 10)
    status = await runtime.container_status(graceful)
    assert (status.state, status.exit_code, status.reason) == (cri.ContainerState.EXITED, 0, "Completed")
    stubborn = await _run(runtime, sandbox_id, tmp_path, "trap '' TERM; echo stubborn; sleep 600")
    # Until the runtime's init has exec'd the shell, a SIGTERM ends that Go process with status 2 (as with
    # containerd): stop the container once its shell has said something.
    await _wait_logged(tmp_path / "logs" / "c.log", "stubborn")
    started = time.monotonic()
    await runtime.stop_container(stubborn, 0.5)
    assert time.monotonic() - started < 8
    status = await runtime.container_status(stubborn)
    assert (status.exit_code, status.reason) == (137, "Error")
    await runtime.stop_container(stubborn, 1)  # idempotent


async def test_exec_sync_exec_with_stdin_and_tty(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    container_id = await _run(runtime, sandbox_id, tmp_path, "sleep 600")
    result = await runtime.exec_sync(container_id, ["sh", "-c", "echo $HOSTNAME; echo e >&2; exit 4"], 10)
    assert (result.exit_code, result.stdout, result.stderr, result.timed_out) == (4, b"web\n", b"e\n", False)
    slow = await runtime.exec_sync(container_id, ["sleep", "30"], 0.5)
    assert slow.timed_out

    piped = await runtime.exec(container_id, ["cat"], tty=False, stdin=True)
    assert piped.stdin is not None
    piped.stdin.write(b"through stdin\n")
    await piped.stdin.drain()
    piped.stdin.close()
    assert await piped.stdout.read() == b"through stdin\n"
    assert await piped.wait() == 0

    tty = await runtime.exec(container_id, ["sh"], tty=True, stdin=True)
    assert tty.stderr is None and tty.stdin is not None
    tty.resize(100, 30)
    # The resize reaches the terminal through the shim, maybe after the shell starts: look until it has.
    # (The terminal echoes the command: it must not contain the size it looks for.)
    size = b'for i in $(seq 50); do s=$(stty size 2>/dev/null) && [ "$s" = "$((29 + 1)) $((99 + 1))" ] && break; '
    tty.stdin.write(size + b'sleep 0.1; done; tty; echo "size=$s"; exit 5\n')
    await tty.stdin.drain()
    output = b""
    while chunk := await asyncio.wait_for(tty.stdout.read(1024), 10):
        output += chunk
    assert b"/dev/pts/" in output
    assert b"size=30 100" in output
    assert await tty.wait() == 5
    await tty.close()
    await runtime.stop_container(container_id, 0)


async def test_attach_to_the_main_process(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    container_id = await _run(runtime, sandbox_id, tmp_path,
                              "while read line; do echo \"got $line\"; done; exit 7",
                              stdin=True, stdin_once=True)  # fmt: skip
    session = await runtime.attach(container_id, tty=False, stdin=True)
    assert session.stdin is not None
    session.stdin.write(b"one\n")
    await session.stdin.drain()
    assert await asyncio.wait_for(session.stdout.readline(), 10) == b"got one\n"
    session.stdin.close()
    assert await asyncio.wait_for(session.wait(), 10) == 7
    await session.close()
    assert ("stdout", "F", "got one") in _log_records(tmp_path / "logs" / "c.log")


async def test_memory_hog_is_oom_killed(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    limit = cri.Resources(memory_limit_bytes=16 << 20)
    hog = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"
    container_id = await _run(runtime, sandbox_id, tmp_path, hog, resources=limit)
    status = await _wait_exited(runtime, container_id, 60)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


async def test_the_pods_namespace_has_lo_up_and_its_address_on_eth0(runtime: OCIRuntime) -> None:
    namespaces = {kind: os.readlink(f"/proc/self/ns/{kind}") for kind in ("net", "ipc", "uts")}
    hostname = socket.gethostname()
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    # Made in threads of their own: the agent's threads keep the host's namespaces and hostname.
    assert {kind: os.readlink(f"/proc/self/ns/{kind}") for kind in namespaces} == namespaces
    assert socket.gethostname() == hostname
    status = await runtime.pod_sandbox_status(sandbox_id)
    inside = subprocess.run(["ip", "netns", "exec", os.path.basename(status.netns_path), "ip", "-o", "addr"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "lo    inet 127.0.0.1/8" in inside
    assert f"eth0    inet {status.ips[0]}/24" in inside
    await runtime.remove_pod_sandbox(sandbox_id)


async def test_port_forward_reaches_a_server_in_the_pod(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    container_id = await _run(runtime, sandbox_id, tmp_path, "httpd -f -p 127.0.0.1:8080 -h /www")
    deadline = time.monotonic() + 10
    while True:
        try:
            reader, writer = await runtime.port_forward(sandbox_id, 8080)
            break
        except cri.RuntimeFailure:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
    writer.write(b"GET /index.html HTTP/1.0\r\n\r\n")
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert response.startswith(b"HTTP/1.")
    assert b"hello from busybox" in response
    with pytest.raises(cri.RuntimeFailure):
        await runtime.port_forward(sandbox_id, 8081)
    await runtime.stop_container(container_id, 0)


async def test_a_new_runtime_object_adopts_running_containers(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    script = "trap 'exit 9' TERM; echo trapping; while true; do sleep 0.1; done"
    container_id = await _run(runtime, sandbox_id, tmp_path, script)
    await _wait_logged(tmp_path / "logs" / "c.log", "trapping")
    again = OCIRuntime(runtime.root, runtime.images, cni=runtime.cni)
    assert [s.id for s in await again.list_pod_sandboxes()] == [sandbox_id]
    (adopted,) = await again.list_containers(sandbox_id)
    assert (adopted.id, adopted.state) == (container_id, cri.ContainerState.RUNNING)
    await again.stop_container(container_id, 10)
    status = await again.container_status(container_id)
    assert (status.exit_code, status.reason) == (9, "Error")
    await again.remove_pod_sandbox(sandbox_id)
    assert await runtime.list_pod_sandboxes() == []


async def test_start_failure_is_reported(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    config = cri.ContainerConfig(name="c", image="busybox", command=("/no/such/binary",))
    container_id = await runtime.create_container(sandbox_id, config)
    with pytest.raises(cri.RuntimeFailure, match="no such file"):
        await runtime.start_container(container_id)
    status = await runtime.container_status(container_id)
    assert (status.state, status.reason) == (cri.ContainerState.EXITED, "StartError")


async def test_host_network_sandbox_has_no_namespace(runtime: OCIRuntime, tmp_path: Path) -> None:
    config = cri.SandboxConfig(name="h", namespace="default", uid=f"uid-h-{os.getpid()}", host_network=True)
    sandbox_id = await runtime.run_pod_sandbox(config)
    status = await runtime.pod_sandbox_status(sandbox_id)
    assert (status.ips, status.netns_path) == (("127.0.0.1",), "")
    container_id = await _run(runtime, sandbox_id, tmp_path, "ip -o link show | grep -q ': lo' && echo host")
    exited = await _wait_exited(runtime, container_id)
    assert exited.exit_code == 0


async def test_the_pods_resolv_conf_and_managed_hosts_file(runtime: OCIRuntime, tmp_path: Path) -> None:
    config = dataclasses.replace(
        SANDBOX,
        dns_servers=("10.96.0.10",),
        dns_searches=("default.svc.cluster.local", "svc.cluster.local", "cluster.local"),
        dns_options=("ndots:5", "edns0"),
        host_domain="sub.default.svc.cluster.local",
        host_aliases=(("10.1.2.3", ("foo.local", "bar.local")),),
    )
    sandbox_id = await runtime.run_pod_sandbox(config)
    ip = (await runtime.pod_sandbox_status(sandbox_id)).ips[0]
    container_id = await _run(runtime, sandbox_id, tmp_path, "cat /etc/resolv.conf /etc/hosts")
    assert (await _wait_exited(runtime, container_id)).exit_code == 0
    lines = [text for stream, _, text in _log_records(tmp_path / "logs" / "c.log") if stream == "stdout"]
    assert lines[:3] == [
        "search default.svc.cluster.local svc.cluster.local cluster.local",
        "nameserver 10.96.0.10",
        "options ndots:5 edns0",
    ]
    assert lines[3:5] == ["# Kubernetes-managed hosts file.", "127.0.0.1\tlocalhost"]
    assert lines[-4:] == [
        f"{ip}\tweb.sub.default.svc.cluster.local\tweb",
        "",
        "# Entries added by HostAliases.",
        "10.1.2.3\tfoo.local\tbar.local",
    ]


async def test_without_dns_config_a_pod_gets_the_hosts_resolv_conf(runtime: OCIRuntime) -> None:
    config = cri.SandboxConfig(
        name="h",
        namespace="default",
        uid=f"uid-h-{os.getpid()}",
        host_network=True,
        host_aliases=(("1.2.3.4", ("x",)),),
    )
    sandbox_id = await runtime.run_pod_sandbox(config)
    directory = Path(runtime.root) / "sandboxes" / sandbox_id
    assert (directory / "resolv.conf").read_bytes() == Path("/etc/resolv.conf").read_bytes()
    hosts = (directory / "hosts").read_text()
    node_hosts = Path("/etc/hosts").read_text()
    aliases = "\n# Entries added by HostAliases.\n1.2.3.4\tx\n"
    assert hosts == f"# Kubernetes-managed hosts file (host network).\n{node_hosts}{aliases}"
    await runtime.remove_pod_sandbox(sandbox_id)


async def test_the_node_network_is_written_once_known_and_adopted(
    tmp_path: Path, busybox_rootfs: str, network: dict[str, str]
) -> None:
    from .busybox_rootfs import BusyboxImages

    rt = OCIRuntime(tmp_path / "oci", BusyboxImages(busybox_rootfs))
    with pytest.raises(cri.RuntimeFailure, match="network is not ready"):
        await rt.run_pod_sandbox(SANDBOX)
    assert await rt.list_pod_sandboxes() == []
    rt.write_network(network["cidr"], bridge=network["bridge"])
    sandbox_id = await rt.run_pod_sandbox(SANDBOX)
    (ip,) = (await rt.pod_sandbox_status(sandbox_id)).ips
    restarted = OCIRuntime(tmp_path / "oci", BusyboxImages(busybox_rootfs))
    assert restarted.cni is not None and restarted.cni.conflist == rt.cni.conflist  # type: ignore[union-attr]
    await restarted.remove_pod_sandbox(sandbox_id)
    leases = os.listdir(tmp_path / "oci" / "cni" / "ipam" / "pinnace")
    assert ip not in leases
    await restarted.remove_all()


def _nat_rules() -> list[str]:
    listed = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True)
    return listed.stdout.splitlines()


async def test_the_node_masquerades_its_pod_cidr_once_not_per_pod(
    tmp_path: Path, busybox_rootfs: str, network: dict[str, str]
) -> None:
    from .busybox_rootfs import BusyboxImages

    rt = OCIRuntime(tmp_path / "oci", BusyboxImages(busybox_rootfs))
    rt.write_network(network["cidr"], bridge=network["bridge"])
    rt.write_network(network["cidr"], bridge=network["bridge"])  # idempotent: one jump, one chain
    chain = masquerade.chain_name(network["bridge"])
    before = _nat_rules()
    assert before.count(f"-A POSTROUTING -s {network['cidr']} -j {chain}") == 1
    assert [r for r in before if r.startswith(f"-A {chain} ")] == [
        f"-A {chain} -d {network['cidr']} -j RETURN",
        f"-A {chain} -d 224.0.0.0/4 -j RETURN",
        f"-A {chain} -j MASQUERADE",
    ]
    sandbox_id = await rt.run_pod_sandbox(SANDBOX)
    (ip,) = (await rt.pod_sandbox_status(sandbox_id)).ips
    assert not [r for r in _nat_rules() if f"-s {ip}/32" in r]  # the bridge plugin made no chain for the pod
    await rt.remove_all()
    assert not [r for r in _nat_rules() if chain in r]


async def test_remove_all_leaves_nothing_running(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandboxes = [await runtime.run_pod_sandbox(SANDBOX) for _ in range(2)]
    containers = [await _run(runtime, sandbox_id, tmp_path, "sleep 600") for sandbox_id in sandboxes]
    pids = [runtime._state(c)["pid"] for c in containers]  # type: ignore[index]
    netns_paths = [(await runtime.pod_sandbox_status(s)).netns_path for s in sandboxes]
    await runtime.remove_all()
    assert await runtime.list_pod_sandboxes() == [] and await runtime.list_containers() == []
    assert not any(os.path.exists(f"/proc/{pid}") for pid in pids)
    assert not any(os.path.exists(path) for path in netns_paths)


async def test_a_tty_container_through_attach(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    container_id = await _run(runtime, sandbox_id, tmp_path, "exec sh", stdin=True, tty=True)
    session = await runtime.attach(container_id, tty=True, stdin=True)
    assert session.stderr is None and session.stdin is not None
    session.resize(120, 40)
    await asyncio.sleep(0.2)
    session.stdin.write(b"stty size; tty; exit 6\n")
    await session.stdin.drain()
    output = b""
    while b"/dev/" not in output or b"40 120" not in output:
        chunk = await asyncio.wait_for(session.stdout.read(1024), 10)
        assert chunk, output
        output += chunk
    assert await asyncio.wait_for(session.wait(), 10) == 6
    await session.close()
    log = (tmp_path / "logs" / "c.log").read_text()
    assert " stdout " in log and "40 120" in log


async def test_containers_of_a_pod_share_ipc_uts_and_shm(runtime: OCIRuntime, tmp_path: Path) -> None:
    sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
    first = await _run(runtime, sandbox_id, tmp_path, "echo shared > /dev/shm/note; sleep 600")
    second = await runtime.create_container(sandbox_id, cri.ContainerConfig(name="d", image="busybox",
                                                                            command=("sleep", "600")))  # fmt: skip
    await runtime.start_container(second)
    ids = []
    for container_id in (first, second):
        script = "readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; hostname; readlink /proc/self/ns/pid"
        result = await runtime.exec_sync(container_id, ["sh", "-c", script], 10)
        ids.append(result.stdout.decode().split())
    (ipc_a, uts_a, host_a, pid_a), (ipc_b, uts_b, host_b, pid_b) = ids
    assert (ipc_a, uts_a, host_a) == (ipc_b, uts_b, host_b) == (ipc_a, uts_a, "web")
    assert pid_a != pid_b  # each container keeps its own PID namespace
    note = await runtime.exec_sync(second, ["cat", "/dev/shm/note"], 10)
    assert note.stdout == b"shared\n"
    host_ipc = os.readlink("/proc/self/ns/ipc")
    assert ipc_a != host_ipc
    await runtime.remove_pod_sandbox(sandbox_id)
    assert not [name for name in os.listdir("/run/pinnace-oci/ns") if name.startswith(sandbox_id)]


async def test_containers_start_while_grpc_is_busy_in_the_agent(runtime: OCIRuntime, tmp_path: Path) -> None:
    # The agent's gRPC probes leave gRPC's poller threads running: a shim forked from the agent would abort.
    import grpc

    channel = grpc.aio.insecure_channel("127.0.0.1:1")
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(channel.channel_ready(), 0.3)
        sandbox_id = await runtime.run_pod_sandbox(SANDBOX)
        container_id = await _run(runtime, sandbox_id, tmp_path, "echo fine")
        status = await _wait_exited(runtime, container_id)
        assert (status.exit_code, status.reason) == (0, "Completed")
    finally:
        await channel.close()
