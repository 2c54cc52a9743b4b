"""Scheduler throughput: pods bound per second with 1,000 nodes and 10,000 pods, with and without anti-affinity.

The API server is a real ``pinnace up`` in its own process (no node agent:
the 1,000 Node objects are created directly through the API, as
scheduler_perf's ``createNodes`` does). The scheduler runs in this process,
in a runtime Manager, exactly as ``add_scheduler`` wires it for ``pinnace
controller-manager``. Per scenario, on a fresh server:

1. create the nodes (32 cpu, 256Gi, 110 pods each) and the pods (100m cpu,
   128Mi each), all Pending — creation is not timed;
2. start the scheduler; the clock starts when its informers have synced and
   its loop begins, and stops when it has bound every pod (through
   ``pods/binding``; Scheduled events are recorded as upstream does).

Scenarios: ``plain`` (no affinity), and ``anti-affinity``: the pods form 20
groups of 500 (labels ``group=gN``), each pod with a required pod
anti-affinity to its own group on ``kubernetes.io/hostname`` — 500 replicas of
each of 20 deployments spread one per host.

Targets (issue 6): >= 300 pods/s plain, >= 100 pods/s with anti-affinity.
Anchors: upstream's scheduler_perf CI thresholds (the minimum average pods/s a
run must reach; ``test/integration/scheduler_perf/misc/performance-config.yaml``
and ``affinity/performance-config.yaml`` in kubernetes/kubernetes master):
SchedulingBasic/5000Nodes_10000Pods 680 pods/s, SchedulingPodAntiAffinity/
5000Nodes_2000Pods 60 pods/s — Go, 5,000 nodes, an in-process API server,
on CI machines; they are printed beside ours for scale, not as equals.

Run: ``python benchmarks/scheduler.py [--nodes N] [--pods N] [--quick] [--only plain|anti-affinity]``.
Exit status: 0 if every scenario run meets its target, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CONCURRENCY = 32
GROUPS = 20
TARGETS = {"plain": 300.0, "anti-affinity": 100.0}
UPSTREAM = {
    "plain": "SchedulingBasic/5000Nodes_10000Pods threshold 680 pods/s",
    "anti-affinity": "SchedulingPodAntiAffinity/5000Nodes_2000Pods threshold 60 pods/s",
}


def _load(name: str) -> Any:
    """A sibling benchmark module, imported by path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"pinnace_benchmark_{name}", HERE / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


api = _load("api")


def make_node(i: int) -> dict[str, Any]:
    from pinnace.node.simstatus import node_object

    return node_object(
        f"node-{i:05d}",
        internal_ip=f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
        pod_cidr=f"10.{128 + i // 256 % 128}.{i % 256}.0/24",
        cpu="32",
        memory="256Gi",
        pods=110,
        ephemeral_storage="100Gi",
        now=datetime.now(UTC),
    )


def make_pod(i: int, scenario: str) -> dict[str, Any]:
    labels = {"app": "bench"}
    spec: dict[str, Any] = {
        "containers": [
            {
                "name": "c",
                "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            }
        ]
    }
    if scenario == "anti-affinity":
        group = f"g{i % GROUPS}"
        labels["group"] = group
        term = {"labelSelector": {"matchLabels": {"group": group}}, "topologyKey": "kubernetes.io/hostname"}
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{i:06d}", "labels": labels}, "spec": spec}


async def create_all(rest: Any, ref: Any, objects: list[dict[str, Any]], namespace: str | None) -> None:
    """Create objects with CONCURRENCY requests in flight."""
    items = iter(objects)

    async def worker() -> None:
        for obj in items:
            await rest.create(ref, obj, namespace)

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def scenario_run(port: int, scenario: str, nodes: int, pods: int) -> dict[str, float]:
    from pinnace.client.rest import ResourceRef
    from pinnace.runtime.manager import Manager
    from pinnace.scheduler import add_scheduler

    rest = api.rest_client(port, timeout=120)
    started = time.monotonic()
    await create_all(rest, ResourceRef("", "v1", "nodes", namespaced=False), [make_node(i) for i in range(nodes)], None)
    await create_all(rest, ResourceRef("", "v1", "pods"), [make_pod(i, scenario) for i in range(pods)], "default")
    print(f"  [{scenario}] created {nodes} nodes and {pods} pods in {time.monotonic() - started:.1f}s", flush=True)

    manager = Manager(rest)
    scheduler = await add_scheduler(manager)
    run = asyncio.create_task(manager.run())
    try:
        while scheduler.scheduled < pods:
            if run.done():
                run.result()
                raise RuntimeError("the manager stopped")
            await asyncio.sleep(0.02)
        finished = manager.clock.now()
        assert scheduler.started_at is not None
        elapsed = finished - scheduler.started_at
    finally:
        manager.stop()
        await asyncio.wait_for(run, 60)
        await rest.close()
    return {"seconds": elapsed, "rate": pods / elapsed}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--pods", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="200 nodes, 2,000 pods")
    parser.add_argument("--only", choices=sorted(TARGETS))
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.pods = 200, 2000
    scenarios = [args.only] if args.only else ["plain", "anti-affinity"]
    ok = True
    rows = []
    for scenario in scenarios:
        with tempfile.TemporaryDirectory(prefix="pinnace-sched-bench-") as tmp:
            server = api.Pinnace(Path(tmp), controllers="")  # this benchmark runs the scheduler itself
            server.start()
            try:
                result = api._run(scenario_run(server.port, scenario, args.nodes, args.pods))
            finally:
                server.stop()
        met = result["rate"] >= TARGETS[scenario]
        ok = ok and met
        rows.append((scenario, result, met))
        print(
            f"{scenario:14s} {args.pods} pods on {args.nodes} nodes: {result['seconds']:.1f}s, "
            f"{result['rate']:.0f} pods/s (target >= {TARGETS[scenario]:.0f}: {'met' if met else 'MISSED'}); "
            f"upstream anchor: {UPSTREAM[scenario]}",
            flush=True,
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
