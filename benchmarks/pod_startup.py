"""Benchmark: pod startup latency — pod created to Ready — p50 and p99 over 100 pods on a real node.

Starts ``pinnace up --nodes 1 --runtime process`` (or ``--runtime oci``) as a
child process, waits for its node, then creates ``--pods`` (100) pods at
``--qps`` (10 per second: steady load, as upstream's density test creates
pods at a throughput rather than in one burst) and records, from one watch,
when each pod is reported Ready. A pod's latency runs from the moment its
create request was sent to the moment the watch delivered its Ready
condition — scheduling, the node's sync loop, sandbox and container start,
and the status write are all in it; image pulls are not (``process`` pulls
nothing; for ``oci`` the image must be present on the node — ``--image``).

Upstream's SLO (SIG scalability, pod startup latency of stateless pods
excluding image pulls) is p99 ≤ 5 s; this project's target is p99 ≤ 1 s.
Prints p50, p90, p99 and max beside both.

Latency depends on what else the machine runs; CPU does not, much. As root,
the cluster (``pinnace up`` and everything it starts: API server, controllers,
scheduler, node agent, shims, runc/crun, CNI plugins — not the containers'
own work, which runs in their cgroups) is put in a CPU-accounting cgroup of
its own, and the CPU it used while the pods were created and started is
printed per pod: the figure to compare across machines and loads.

Run: ``python benchmarks/pod_startup.py [--pods 100] [--qps 10] [--runtime process|oci] [--image busybox]``.
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

from pinnace.client import load_client_config
from pinnace.client.rest import ResourceRef, RestClient
from rollout import free_port, wait_for  # the benchmarks' shared helpers (this directory is on sys.path)

TARGET_P99 = 1.0
UPSTREAM_SLO_P99 = 5.0
PODS = ResourceRef("", "v1", "pods")
NODES = ResourceRef("", "v1", "nodes", namespaced=False)


class CPUMeter:
    """CPU used by a process tree, from a cgroup of its own (v2 ``cpu.stat``, or v1 ``cpuacct``); root only."""

    def __init__(self) -> None:
        name = f"pinnace-pod-startup-{os.getpid()}"
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
            self.path, self.counter = f"/sys/fs/cgroup/{name}", "cpu.stat"
        else:
            self.path, self.counter = f"/sys/fs/cgroup/cpuacct/{name}", "cpuacct.usage"
        self.available = False

    def add(self, pid: int) -> None:
        """Account ``pid`` and its future descendants here (nothing happens without root or cgroups)."""
        try:
            os.makedirs(self.path, exist_ok=True)
            with open(os.path.join(self.path, "cgroup.procs"), "w") as handle:
                handle.write(str(pid))
            self.available = True
        except OSError:
            self.available = False

    def seconds(self) -> float:
        """CPU seconds used so far by the processes of the cgroup, the exited ones included."""
        with open(os.path.join(self.path, self.counter)) as handle:
            text = handle.read()
        if self.counter == "cpuacct.usage":
            return int(text) / 1e9
        usage = next(line.split()[1] for line in text.splitlines() if line.startswith("usage_usec"))
        return int(usage) / 1e6

    def remove(self) -> None:
        """Remove the cgroup (left behind if something of the cluster still runs in it)."""
        with contextlib.suppress(OSError):
            os.rmdir(self.path)


def start(data: Path, port: int, runtime: str) -> subprocess.Popen[bytes]:
    """``pinnace up`` with one real node, its output to a file beside the data."""
    cmd = [sys.executable, "-m", "pinnace", "up", "--data-dir", str(data), "--port", str(port)]
    cmd += ["--nodes", "1", "--runtime", runtime, "--no-merge-kubeconfig"]
    env = {**os.environ, "HOME": str(data.parent)}
    out = (data.parent / "pinnace.out").open("wb")
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)


def pod(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": {"bench": "startup"}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {"name": "app", "image": image, "imagePullPolicy": "IfNotPresent", "command": ["sleep", "3600"]}
            ],
        },
    }


def _ready(obj: dict[str, Any]) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


async def watch_ready(rest: RestClient, ready_at: dict[str, float], total: int, done: asyncio.Event) -> None:
    """Record when each benchmark pod is first seen Ready."""
    listing = await rest.list(PODS, "default", labelSelector="bench=startup")
    rv = listing["metadata"]["resourceVersion"]
    while not done.is_set():
        async for event in rest.watch(
            PODS, "default", resource_version=rv, timeout_seconds=300, labelSelector="bench=startup"
        ):
            obj = event.object
            rv = obj["metadata"].get("resourceVersion", rv)
            if event.type not in ("ADDED", "MODIFIED"):
                continue
            name = obj["metadata"]["name"]
            if name not in ready_at and _ready(obj):
                ready_at[name] = time.perf_counter()
                if len(ready_at) >= total:
                    done.set()
                    return


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), as upstream's latency summaries report it."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


async def measure(
    kubeconfig: Path, count: int, qps: float, image: str, cpu: CPUMeter
) -> tuple[list[float], float | None]:
    """Create ``count`` pods at ``qps``; each one's create-to-Ready seconds, and the cluster's CPU seconds meanwhile."""
    rest = load_client_config(str(kubeconfig)).rest_client()
    try:
        await wait_for(lambda: _node_ready(rest), 120, "a Ready node")
        await wait_for(lambda: _default_sa(rest), 60, "the default ServiceAccount")
        sent: dict[str, float] = {}
        ready_at: dict[str, float] = {}
        done = asyncio.Event()
        watcher = asyncio.create_task(watch_ready(rest, ready_at, count, done))
        await asyncio.sleep(0.5)  # the watch is open
        interval = 1.0 / qps
        cpu_before = cpu.seconds() if cpu.available else None
        started = time.perf_counter()
        creates = []
        for i in range(count):
            name = f"startup-{i:04d}"
            delay = started + i * interval - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sent[name] = time.perf_counter()
            creates.append(asyncio.create_task(rest.create(PODS, pod(name, image), "default")))
        await asyncio.gather(*creates)
        await asyncio.wait_for(done.wait(), timeout=max(120.0, count / qps * 4))
        cpu_used = None if cpu_before is None else cpu.seconds() - cpu_before
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        return [ready_at[name] - sent[name] for name in sent], cpu_used
    finally:
        await rest.close()


async def _node_ready(rest: RestClient) -> bool:
    nodes = (await rest.list(NODES))["items"]
    return any(_ready_node(n) for n in nodes)


def _ready_node(node: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in node.get("status", {}).get("conditions", []))


async def _default_sa(rest: RestClient) -> bool:
    await rest.get(ResourceRef("", "v1", "serviceaccounts"), "default", "default")
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--qps", type=float, default=10.0, help="pods created per second")
    parser.add_argument("--runtime", choices=("process", "oci"), default="process")
    parser.add_argument("--image", default="pinnace.local/busybox:1", help="the pods' image (oci: built first)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pinnace-pod-startup-") as tmp:
        data = Path(tmp) / "data"
        if args.runtime == "oci":  # the image is present on the node: built from the static busybox, offline
            build = ["image", "build", "--from-binary", "/bin/busybox", "--tag", args.image, "--data-dir", str(data)]
            subprocess.run([sys.executable, "-m", "pinnace", *build], check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        cpu = CPUMeter()
        proc = start(data, port, args.runtime)
        cpu.add(proc.pid)
        try:
            kubeconfig = data / "kubeconfig"
            deadline = time.monotonic() + 60
            while not kubeconfig.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    print((Path(tmp) / "pinnace.out").read_text()[-3000:], file=sys.stderr)
                    return 1
                time.sleep(0.1)
            latencies, cpu_used = asyncio.run(measure(kubeconfig, args.pods, args.qps, args.image, cpu))
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
            cpu.remove()
    p50, p90, p99 = (percentile(latencies, q) for q in (50, 90, 99))
    print(f"pod startup latency, {len(latencies)} pods at {args.qps:g}/s on one {args.runtime} node (create -> Ready):")
    print(f"  p50 {p50 * 1000:7.0f} ms")
    print(f"  p90 {p90 * 1000:7.0f} ms")
    print(
        f"  p99 {p99 * 1000:7.0f} ms   target {TARGET_P99 * 1000:.0f} ms, upstream SLO {UPSTREAM_SLO_P99 * 1000:.0f} ms"
    )
    print(f"  max {max(latencies) * 1000:7.0f} ms")
    if cpu_used is not None:
        per_pod = cpu_used / len(latencies)
        print(f"  cluster CPU while the pods started: {cpu_used:.2f} s, {per_pod * 1000:.0f} ms per pod "
              f"({per_pod * args.qps:.2f} CPU cores busy at {args.qps:g} pods/s)")  # fmt: skip
    print(f"  load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    verdict = "PASS" if p99 <= TARGET_P99 else "FAIL"
    print(f"{verdict}: p99 {p99:.3f} s vs target {TARGET_P99:.1f} s ({p99 / UPSTREAM_SLO_P99:.2f}x upstream's SLO)")
    return 0 if p99 <= TARGET_P99 else 1


if __name__ == "__main__":
    sys.exit(main())
