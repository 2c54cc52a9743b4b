"""The ``pinnace node`` process body: a node agent against the cluster its kubeconfig names, until a signal.

On SIGTERM/SIGINT the agent stops its loops; the runtime's containers keep
running (a restarted agent adopts them, as a restarted kubelet does) — unless
``stop_pods_on_exit``, which ``pinnace up`` sets: its nodes go away with the
cluster, so their containers are stopped (SIGTERM, a short grace, SIGKILL).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal

from pinnace.node import cri
from pinnace.node.agent.agent import AgentConfig, NodeAgent
from pinnace.node.agent.runtimes import make_runtime

__all__ = ["serve", "stop_all_containers"]

log = logging.getLogger(__name__)

#: The grace containers get when their node goes away with its cluster.
SHUTDOWN_GRACE = 2.0


async def stop_all_containers(runtime: cri.RuntimeService, grace: float = SHUTDOWN_GRACE) -> None:
    """Stop every running container of ``runtime`` (a node going away for good)."""
    running = [c for c in await runtime.list_containers() if c.state == cri.ContainerState.RUNNING]
    results = await asyncio.gather(*(runtime.stop_container(c.id, grace) for c in running), return_exceptions=True)
    for c, result in zip(running, results, strict=True):
        if isinstance(result, BaseException):
            log.warning("could not stop container %s (%s): %r", c.name, c.id[:12], result)


async def serve(
    config: AgentConfig,
    *,
    kubeconfig: str | None,
    context: str | None,
    runtime_name: str,
    stop_pods_on_exit: bool = False,
) -> int:
    """Run one node agent until SIGINT/SIGTERM; the process's exit code."""
    from pinnace.client import load_client_config

    client_config = load_client_config(kubeconfig, context)
    if config.client_ca is None and client_config.uses_tls and client_config.tls.ca:
        # kubeadm's clientCAFile is the cluster CA: the one the node's kubeconfig trusts the API server with.
        config = dataclasses.replace(config, client_ca=client_config.tls.ca)
    from pinnace.client.rest import default_user_agent

    rest = client_config.rest_client(user_agent=default_user_agent("kubelet"))  # upstream's manager name for it
    parts = make_runtime(runtime_name, config.data_dir / "runtime", config.node_ip)
    agent = NodeAgent(rest, parts.runtime, config, images=parts.images)
    task = asyncio.create_task(agent.run(), name="node agent")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, task.cancel)
    code = 0
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("node %s: the agent failed", config.node_name)
        code = 1
    finally:
        if stop_pods_on_exit:
            await stop_all_containers(parts.runtime)
            await asyncio.to_thread(agent.volumes.unmount_all)
        await rest.close()
    return code
