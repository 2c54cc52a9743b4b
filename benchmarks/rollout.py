"""Benchmark: a 1,000-replica Deployment on 100 simulated nodes — seconds to all Ready, and to a full rolling update.

Starts ``pinnace up --sim-nodes 100`` as a child process (every controller
and the scheduler by default; ``--controllers`` passes another selection),
waits for the nodes, then:

1. creates a Deployment of ``--replicas`` (1,000) pods and times until the
   rollout is complete as ``kubectl rollout status`` judges it (observed
   generation, all replicas updated and available);
2. changes the image and times the whole rolling update (25% surge and
   unavailability, the defaults) the same way.

Prints each figure and its ratio to the issue's target (15 s each; a
ratio under 1 meets it). Everything — API server, controllers, scheduler,
simulated kubelets — shares the machine, as on the issue's 2-core box.

Run: ``python benchmarks/rollout.py [--replicas 1000] [--nodes 100] [--controllers all]``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pinnace.api import errors
from pinnace.client import load_client_config
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.ports import free_port

TARGET = 15.0
DEPLOY = ResourceRef("apps", "v1", "deployments")
NODES = ResourceRef("", "v1", "nodes", namespaced=False)


def start(data: Path, port: int, nodes: int, controllers: str) -> subprocess.Popen[bytes]:
    """``pinnace up`` with simulated nodes, its output to a file beside the data."""
    cmd = [sys.executable, "-m", "pinnace", "up", "--data-dir", str(data), "--port", str(port)]
    cmd += ["--sim-nodes", str(nodes), "--nodes", "0", "--controllers", controllers]
    env = {**os.environ, "HOME": str(data.parent), "KUBECONFIG": str(data.parent / "kubeconfig")}
    out = (data.parent / "pinnace.out").open("wb")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


async def wait_for(check: Any, timeout: float, what: str, interval: float = 0.1) -> float:
    """Poll ``check`` until it is truthy; seconds it took."""
    started = time.perf_counter()
    while True:
        with contextlib.suppress(errors.StatusError, OSError):
            if await check():
                return time.perf_counter() - started
        if time.perf_counter() - started > timeout:
            raise TimeoutError(f"{what}: not done within {timeout:.0f}s")
        await asyncio.sleep(interval)


def deployment(replicas: int, image: str) -> dict[str, Any]:
    labels = {"app": "bench"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bench", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": image}]}},
        },
    }


async def rolled_out(rest: RestClient, replicas: int) -> bool:
    """Complete as ``kubectl rollout status`` judges it."""
    d = await rest.get(DEPLOY, "bench", "default")
    status = d.get("status") or {}
    return bool(
        status.get("observedGeneration", 0) >= d["metadata"]["generation"]
        and status.get("updatedReplicas", 0) == replicas
        and status.get("replicas", 0) == replicas
        and status.get("availableReplicas", 0) == replicas
    )


async def nodes_ready(rest: RestClient, count: int) -> bool:
    items = (await rest.list(NODES))["items"]
    ready = [
        n
        for n in items
        if any(c["type"] == "Ready" and c["status"] == "True" for c in (n.get("status") or {}).get("conditions") or [])
    ]
    return len(ready) >= count


async def run(kubeconfig: Path, replicas: int, nodes: int, timeout: float) -> tuple[float, float]:
    await wait_for(lambda: asyncio.sleep(0, kubeconfig.exists()), timeout, "pinnace up's kubeconfig")
    async with load_client_config(str(kubeconfig)).rest_client() as rest:
        await wait_for(lambda: nodes_ready(rest, nodes), 120, f"{nodes} simulated nodes Ready", 0.5)
        await rest.create(DEPLOY, deployment(replicas, "nginx:1.26"), "default")
        created = await wait_for(lambda: rolled_out(rest, replicas), timeout, "all replicas Ready", 0.2)
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}
        await rest.patch(DEPLOY, "bench", patch, "default", patch_type="application/strategic-merge-patch+json")
        rolled = await wait_for(lambda: rolled_out(rest, replicas), timeout, "rolling update complete", 0.2)
    return created, rolled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--replicas", type=int, default=1000)
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--controllers", default="all")
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on a phase after this many seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pinnace-rollout-") as tmp:
        data, port = Path(tmp) / "data", free_port()
        proc = start(data, port, args.nodes, args.controllers)
        try:
            created, rolled = asyncio.run(run(data / "kubeconfig", args.replicas, args.nodes, args.timeout))
        except Exception:
            print((Path(tmp) / "pinnace.out").read_text(errors="replace")[-4000:], file=sys.stderr)
            raise
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    what = f"{args.replicas} replicas on {args.nodes} simulated nodes"
    print(f"create, {what}, to all Ready: {created:.1f} s (target {TARGET:.0f} s, ratio {created / TARGET:.2f})")
    print(f"rolling update (image), {what}: {rolled:.1f} s (target {TARGET:.0f} s, ratio {rolled / TARGET:.2f})")


if __name__ == "__main__":
    main()
