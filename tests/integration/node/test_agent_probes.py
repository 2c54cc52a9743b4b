"""Probes on a real node agent (process runtime): a failing liveness probe restarts, readiness gates Ready."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.node.agentenv import eventually, running_agent

from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.ports import free_port
from pinnace.node.agent import NodeAgent

pytestmark = pytest.mark.timeout(90)

PODS = ResourceRef("", "v1", "pods")
EVENTS = ResourceRef("", "v1", "events")
NODE = "probed"


@pytest.fixture
async def agent(client: RestClient, tmp_path: Path) -> AsyncIterator[NodeAgent]:
    async with running_agent(client, tmp_path, NODE) as a:
        yield a


async def create(client: RestClient, name: str, container: dict[str, Any]) -> None:
    spec = {"nodeName": NODE, "terminationGracePeriodSeconds": 1, "containers": [container]}
    await client.create(PODS, {"metadata": {"name": name}, "spec": spec}, namespace="default")


def condition(pod: dict[str, Any], kind: str) -> str | None:
    return next((c["status"] for c in pod.get("status", {}).get("conditions", []) if c["type"] == kind), None)


async def test_a_failing_liveness_probe_restarts_the_container(client: RestClient, agent: NodeAgent) -> None:
    probe = {"exec": {"command": ["sh", "-c", "echo sick; exit 1"]}, "periodSeconds": 1, "failureThreshold": 2}
    await create(
        client, "sick", {"name": "main", "image": "busybox", "command": ["sleep", "600"], "livenessProbe": probe}
    )

    async def restarted() -> bool:
        pod = await client.get(PODS, "sick", "default")
        statuses = pod.get("status", {}).get("containerStatuses") or []
        return bool(statuses) and statuses[0]["restartCount"] >= 1

    await eventually(restarted)

    async def told() -> bool:  # the agent's recorder posts events in the background
        events = (await client.list(EVENTS, namespace="default"))["items"]
        reasons = {(e["reason"], e["message"]) for e in events if e["involvedObject"]["name"] == "sick"}
        return {
            ("Unhealthy", "Liveness probe failed: sick\n"),
            ("Killing", "Container main failed liveness probe, will be restarted"),
        } <= reasons

    await eventually(told)


async def test_a_liveness_kill_uses_the_probes_own_grace_period(client: RestClient, agent: NodeAgent) -> None:
    """As the kubelet: a liveness probe's ``terminationGracePeriodSeconds`` replaces the pod's for its kill."""
    probe = {
        "exec": {"command": ["false"]},
        "periodSeconds": 1,
        "failureThreshold": 1,
        "terminationGracePeriodSeconds": 1,
    }
    container = {"name": "main", "image": "busybox", "command": ["sh", "-c", "trap '' TERM; sleep 600"]}
    spec = {
        "nodeName": NODE,
        "terminationGracePeriodSeconds": 60,
        "containers": [{**container, "livenessProbe": probe}],
    }
    await client.create(PODS, {"metadata": {"name": "deaf"}, "spec": spec}, namespace="default")

    async def restarted() -> bool:
        statuses = (await client.get(PODS, "deaf", "default")).get("status", {}).get("containerStatuses") or []
        return bool(statuses) and statuses[0]["restartCount"] >= 1

    await eventually(restarted, timeout=30)  # SIGTERM is ignored: killed after the probe's 1 s (2 s at least), not 60 s


async def test_readiness_gates_the_pods_ready_condition(client: RestClient, agent: NodeAgent) -> None:
    port = free_port()
    server = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    ready_probe = {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1}
    container = {
        "name": "web",
        "image": "busybox",
        "command": ["sh", "-c", f"sleep 2; exec {' '.join(server)}"],
        "ports": [{"name": "http", "containerPort": port}],
        "readinessProbe": ready_probe,
    }
    await create(client, "web", container)

    async def pod() -> dict[str, Any]:
        return await client.get(PODS, "web", "default")

    async def running_not_ready() -> bool:
        p = await pod()
        statuses = p.get("status", {}).get("containerStatuses") or []
        return bool(statuses) and "running" in statuses[0]["state"] and condition(p, "Ready") == "False"

    await eventually(running_not_ready)

    async def ready() -> bool:
        return condition(await pod(), "Ready") == "True"

    await eventually(ready)
    statuses = (await pod())["status"]["containerStatuses"]
    assert statuses[0]["ready"] is True and statuses[0]["restartCount"] == 0


async def test_probes_go_on_after_an_agent_restart(client: RestClient, tmp_path: Path) -> None:
    flag = tmp_path / "ready"
    flag.write_text("ok")
    probe = {"exec": {"command": ["test", "-f", str(flag)]}, "periodSeconds": 1}
    container = {"name": "main", "image": "busybox", "command": ["sleep", "600"], "readinessProbe": probe}

    async def ready_is(value: str) -> bool:
        return condition(await client.get(PODS, "steady", "default"), "Ready") == value

    async with running_agent(client, tmp_path / "node", NODE, stop_containers=False):
        await create(client, "steady", container)
        await eventually(lambda: ready_is("True"))
    # A new agent adopts the running container and probes it: readiness still follows the flag.
    async with running_agent(client, tmp_path / "node", NODE) as agent:
        await eventually(lambda: ready_is("True"))
        flag.unlink()
        await eventually(lambda: ready_is("False"))
        running = [c for c in await agent.runtime.list_containers() if c.name == "main"]
        assert len(running) == 1  # the same container, not a new one
