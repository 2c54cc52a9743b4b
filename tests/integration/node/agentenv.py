"""A real node agent on the process runtime for integration tests, with its kubelet API on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from pinnace.adm.pki import CLUSTER_ADMINS_GROUP, ECDSA_P256, CertPair, CertSpec, ensure_ca, ensure_cert
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.node.agent import AgentConfig, NodeAgent
from pinnace.node.process import ProcessRuntime

PODS = ResourceRef("", "v1", "pods")


@contextlib.asynccontextmanager
async def running_agent(
    client: RestClient, data_dir: Path, node: str, *, stop_containers: bool = True, **options: Any
) -> AsyncIterator[NodeAgent]:
    """An agent for ``node`` (registered when this yields); its containers are stopped afterwards unless
    ``stop_containers`` is False (an agent restart: the next agent adopts them). ``options``: more of its
    AgentConfig (``client_ca``: its kubelet API is HTTPS and checks every request …)."""
    runtime = ProcessRuntime(data_dir / "runtime")
    config = AgentConfig(
        node_name=node,
        data_dir=data_dir,
        kubelet_port=0,
        backoff_base=0.2,
        relist_period=0.1,
        **options,
    )
    agent = NodeAgent(client, runtime, config)
    task = asyncio.create_task(agent.run())
    await asyncio.wait_for(agent.registered.wait(), 20)
    try:
        yield agent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        if stop_containers:
            await runtime.stop_all()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Poll ``check`` until it returns something truthy (AssertionError after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"not true within {timeout}s")


async def run_pod(client: RestClient, node: str, name: str, *containers: dict[str, Any]) -> dict[str, Any]:
    """Create a pod bound to ``node`` (1 s grace period) and wait until all its containers run."""
    spec = {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": list(containers)}
    await client.create(PODS, {"metadata": {"name": name}, "spec": spec}, namespace="default")

    async def running() -> dict[str, Any] | None:
        pod = await client.get(PODS, name, "default")
        statuses = pod.get("status", {}).get("containerStatuses") or []
        ok = len(statuses) == len(containers) and all("running" in s["state"] for s in statuses)
        return pod if ok else None

    result: dict[str, Any] = await eventually(running)
    return result


def kubelet_pki(pki: Path) -> CertPair:
    """A cluster CA in ``pki`` and the API server's kubelet client certificate (``apiserver-kubelet-client``,
    CN kube-apiserver-kubelet-client, O kubeadm:cluster-admins), as kubeadm makes them; the CA."""
    ca = ensure_ca(pki, "ca", "kubernetes", ECDSA_P256)
    spec = CertSpec("kube-apiserver-kubelet-client", (CLUSTER_ADMINS_GROUP,), client=True)
    ensure_cert(pki, "apiserver-kubelet-client", spec, ca, ECDSA_P256)
    return ca
