"""The real node agent on the oci runtime (crun or runc, CNI, an image built from static busybox), against an
in-process API server: pods get an address from the node's podCIDR, log, exit, and a memory hog is OOMKilled.

Needs root (runc, network namespaces, cgroups); CI runs as root.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.registry_server import RegistryServer, registry_fixture

from pinnace.client.rest import RestClient
from pinnace.node.agent import AgentConfig, NodeAgent
from pinnace.node.images.build import build_from_binary
from pinnace.node.images.config import ImageConfig
from pinnace.node.images.reference import parse_reference
from pinnace.node.images.registry import RegistryClient
from pinnace.node.images.store import ImageStore
from pinnace.node.oci import OCIRuntime
from pinnace.node.oci.factory import OCIOptions, default_oci_runtime, oci_parts

from .test_agent_process import NODE, NODES, PODS, eventually, get_pod, log_of, pod, ready

pytestmark = pytest.mark.timeout(120)
IMAGE = "pinnace.test/busybox:1"
anonymous_registry = registry_fixture("none")


class OCINode:
    """An agent on the oci runtime (enough of test_agent_process.Node for its helpers)."""

    def __init__(self, data_dir: Path, agent: NodeAgent, runtime: OCIRuntime) -> None:
        self.data_dir = data_dir
        self.agent = agent
        self.runtime = runtime


@pytest.fixture
async def oci_node(client: RestClient, tmp_path: Path) -> AsyncIterator[OCINode]:
    images = tmp_path / "images"
    build_from_binary(ImageStore(images), Path("/bin/busybox"), ImageConfig(), [parse_reference(IMAGE)])
    bridge = f"pna{os.getpid() % 10000}"
    options = OCIOptions(images_root=str(images), pod_cidr=f"10.252.{os.getpid() % 200}.0/24", bridge=bridge)
    data_dir = tmp_path / "node"
    parts = oci_parts(data_dir / "runtime", "127.0.0.1", options)
    assert isinstance(parts.runtime, OCIRuntime)
    config = AgentConfig(node_name=NODE, data_dir=data_dir, backoff_base=0.4, relist_period=0.1,
                         heartbeat_interval=1.0, status_update_frequency=1.0)  # fmt: skip
    agent = NodeAgent(client, parts.runtime, config, images=parts.images)
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.registered.wait(), 20)
    try:
        yield OCINode(data_dir, agent, parts.runtime)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await parts.runtime.remove_all()
        subprocess.run(["ip", "link", "delete", bridge], capture_output=True, check=False)


def busybox(name: str, script: str, **extra: object) -> dict[str, object]:
    return {"name": name, "image": IMAGE, "imagePullPolicy": "IfNotPresent", "command": ["sh", "-c", script],
            **extra}  # fmt: skip


async def test_a_pod_runs_as_a_container_with_a_pod_ip(client: RestClient, oci_node: OCINode) -> None:
    node = await client.get(NODES, NODE)
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith(f"{default_oci_runtime()}://")
    await client.create(PODS, pod("web", busybox("main", "echo started in $(hostname); ip -o -4 addr show eth0; "
                                                "sleep 600")), "default")  # fmt: skip
    p = await eventually(lambda: _ready(client, "web"), timeout=40)
    assert oci_node.runtime.cni is not None
    cidr = ipaddress.ip_network(oci_node.runtime.cni.conflist["plugins"][0]["ipam"]["ranges"][0][0]["subnet"])
    assert ipaddress.ip_address(p["status"]["podIP"]) in cidr
    assert p["status"]["podIPs"] == [{"ip": p["status"]["podIP"]}]
    cs = p["status"]["containerStatuses"][0]
    assert cs["containerID"].startswith("oci://")
    assert cs["imageID"]
    text = await eventually(lambda: _log_has(oci_node, p, "main", "started in web"), timeout=10)
    assert f"inet {p['status']['podIP']}/24" in text


async def test_a_memory_hog_is_oom_killed(client: RestClient, oci_node: OCINode) -> None:
    hog = busybox("hog", "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived",
                  resources={"limits": {"memory": "16Mi"}})  # fmt: skip
    await client.create(PODS, pod("hog", hog, restartPolicy="Never"), "default")
    p = await eventually(lambda: _terminated(client, "hog"), timeout=60)
    terminated = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)
    assert p["status"]["phase"] == "Failed"


async def test_an_image_pushed_to_a_registry_is_pulled_and_run(
    client: RestClient, oci_node: OCINode, anonymous_registry: RegistryServer, tmp_path: Path
) -> None:
    ref = parse_reference(f"{anonymous_registry.host}/team/busybox:2")
    source = ImageStore(tmp_path / "source")
    config = ImageConfig(cmd=("sh", "-c", "echo pulled and ran"))
    image_id = build_from_binary(source, Path("/bin/busybox"), config, [ref])
    await RegistryClient(source).push(image_id, ref)
    container = {"name": "main", "image": str(ref), "imagePullPolicy": "Always"}
    await client.create(PODS, pod("pulled", container, restartPolicy="Never"), "default")
    p = await eventually(lambda: _terminated(client, "pulled"), timeout=60)
    status = p["status"]["containerStatuses"][0]
    assert status["state"]["terminated"]["exitCode"] == 0
    assert image_id in status["imageID"]
    assert "pulled and ran" in log_of(oci_node, p, "main")  # type: ignore[arg-type]


async def _ready(client: RestClient, name: str) -> dict[str, object] | None:
    p = await get_pod(client, name)
    return p if ready(p) else None


async def _terminated(client: RestClient, name: str) -> dict[str, object] | None:
    p = await get_pod(client, name)
    statuses = p["status"].get("containerStatuses") or []
    return p if statuses and "terminated" in statuses[0]["state"] else None


async def _log_has(node: OCINode, p: dict[str, object], container: str, text: str) -> str | None:
    found = log_of(node, p, container)  # type: ignore[arg-type]
    return found if text in found else None
