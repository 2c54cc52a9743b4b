"""The node agent pulls images as the kubelet does: by imagePullPolicy, with the pod's imagePullSecrets.

A real ``docker-registry`` with htpasswd auth holds an image; an agent on the
process runtime with a local image store pulls it for a pod that names a
``kubernetes.io/dockerconfigjson`` Secret, and cannot for a pod that names
none (ErrImagePull, the registry's refusal in the message).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from tests.integration.node.test_agent_process import NODE, PODS, SECRETS, eventually, pod, sh
from tests.registry_server import RegistryServer, registry_fixture

from pinnace.client.rest import RestClient
from pinnace.node.agent import AgentConfig, NodeAgent
from pinnace.node.cri import RegistryAuth
from pinnace.node.images.build import build_from_directory
from pinnace.node.images.config import ImageConfig
from pinnace.node.images.reference import parse_reference
from pinnace.node.images.registry import RegistryClient
from pinnace.node.images.service import LocalImageService
from pinnace.node.images.store import ImageStore
from pinnace.node.process import ProcessRuntime

pytestmark = pytest.mark.timeout(90)

basic_registry = registry_fixture("basic")


@pytest.fixture
async def agent(client: RestClient, tmp_path: Path) -> AsyncIterator[NodeAgent]:
    runtime = ProcessRuntime(tmp_path / "node" / "runtime", node_ip="127.0.0.1")
    config = AgentConfig(node_name=NODE, data_dir=tmp_path / "node", relist_period=0.1, heartbeat_interval=1.0)
    node = NodeAgent(client, runtime, config, images=LocalImageService(tmp_path / "node" / "images"))
    task = asyncio.create_task(node.run())
    await asyncio.wait_for(node.registered.wait(), 20)
    try:
        yield node
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await runtime.stop_all()
        node.volumes.unmount_all()


async def test_pulls_use_the_pods_image_pull_secrets(
    client: RestClient, agent: NodeAgent, basic_registry: RegistryServer, tmp_path: Path
) -> None:
    image = f"{basic_registry.host}/private/app:1"
    source = ImageStore(tmp_path / "src")
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "hello").write_text("hi\n")
    image_id = build_from_directory(
        source, tmp_path / "ctx", ImageConfig(cmd=("cat", "/hello")), [parse_reference(image)]
    )
    await RegistryClient(source).push(
        image_id, parse_reference(image), RegistryAuth(username="alice", password="wonderland")
    )
    doc = {"auths": {basic_registry.host: {"auth": base64.b64encode(b"alice:wonderland").decode()}}}
    secret = {
        "metadata": {"name": "regcred"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": base64.b64encode(orjson.dumps(doc)).decode()},
    }
    await client.create(SECRETS, secret, "default")
    with_secret = pod("with-secret", sh("app", "sleep 30", image=image), imagePullSecrets=[{"name": "regcred"}])
    # Always: once pulled with another pod's secret the image is present, and IfNotPresent would use it (as
    # upstream). A pull without credentials never rides on one made with them, even when both run at once.
    without = pod("without", sh("app", "sleep 30", image=image, imagePullPolicy="Always"))
    await client.create(PODS, with_secret, "default")
    await client.create(PODS, without, "default")

    async def running() -> bool:
        got = await client.get(PODS, "with-secret", "default")
        states = [s.get("state", {}) for s in got["status"].get("containerStatuses") or []]
        return bool(states and "running" in states[0])

    await eventually(running, timeout=30)
    got = await client.get(PODS, "with-secret", "default")
    assert got["status"]["containerStatuses"][0]["imageID"].endswith(image_id.removeprefix("sha256:"))

    async def refused() -> dict[str, str] | None:
        got = await client.get(PODS, "without", "default")
        for status in got["status"].get("containerStatuses") or []:
            waiting = status.get("state", {}).get("waiting") or {}
            if waiting.get("reason") in ("ErrImagePull", "ImagePullBackOff"):
                return waiting
        return None

    waiting = await eventually(refused, timeout=30)
    assert "unauthorized" in waiting.get("message", "").lower()


async def test_image_gc_removes_unused_images_and_keeps_those_in_use(client: RestClient, tmp_path: Path) -> None:
    from pinnace.node.images.gc import ImageGCPolicy

    images = LocalImageService(tmp_path / "gcnode" / "images")
    ids = {}
    for name in ("used", "unused"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "f").write_text(name)
        ref = parse_reference(f"example.com/{name}:1")
        ids[name] = build_from_directory(images.store, tmp_path / name, ImageConfig(cmd=("true",)), [ref])

    def agent(gc: bool) -> NodeAgent:
        runtime = ProcessRuntime(tmp_path / "gcnode" / "runtime", node_ip="127.0.0.1")
        policy = ImageGCPolicy(high_threshold_percent=0, low_threshold_percent=0, min_age_seconds=0)
        config = AgentConfig(
            node_name=NODE,
            data_dir=tmp_path / "gcnode",
            relist_period=0.1,
            image_gc_period=0.2 if gc else 3600,
            image_gc_policy=policy,
        )
        return NodeAgent(client, runtime, config, images=images)

    async def stop(node: NodeAgent, task: asyncio.Task[None]) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    # The pod's container runs first (an agent without GC); a second agent adopts it, and collects.
    await client.create(PODS, pod("uses", sh("app", "sleep 30", image="example.com/used:1")), "default")
    first = agent(gc=False)
    task = asyncio.create_task(first.run())

    async def running() -> bool:
        got = await client.get(PODS, "uses", "default")
        return any("running" in s.get("state", {}) for s in got["status"].get("containerStatuses") or [])

    await eventually(running, timeout=30)
    await stop(first, task)
    second = agent(gc=True)
    task = asyncio.create_task(second.run())
    try:

        async def collected() -> bool:
            return await images.image_status("example.com/unused:1") is None

        await eventually(collected, timeout=30)
        assert await images.image_status("example.com/used:1") is not None
    finally:
        await stop(second, task)
        assert isinstance(second.runtime, ProcessRuntime)
        await second.runtime.stop_all()
        second.volumes.unmount_all()
