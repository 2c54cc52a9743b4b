"""Admission chain cost per write: CPU microseconds per create through the REST store, by plugin set.

Creates ConfigMaps and Pods in one namespace of an in-process API server (SQLite,
not durable, so the store's fsync does not drown the figure) with: no admission
at all, NamespaceLifecycle only (what the REST store always did), and the
default plugin set of ``pinnace up``, in a namespace with no LimitRange, quota or
Pod Security label (so every plugin is asked ``handles()`` but has nothing to do),
then with a LimitRange, a ResourceQuota and ``enforce=baseline`` in place.
CPU time (``process_time``) is measured, not wall time, so other load on the
machine does not change the figure much.

Run: ``python benchmarks/admission.py [--count N] [--rounds R]``.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from pinnace.apiserver.admission.plugins import DEFAULT_PLUGINS, MINIMAL_PLUGINS
from pinnace.apiserver.server import APIServer
from pinnace.storage.sqlite import SQLiteStore

SETS: dict[str, tuple[str, ...]] = {"none": (), "minimal": MINIMAL_PLUGINS, "default": DEFAULT_PLUGINS}


def _pod(name: str) -> dict[str, Any]:
    container = {"name": "c", "image": "busybox", "resources": {"requests": {"cpu": "10m"}, "limits": {"cpu": "10m"}}}
    return {"metadata": {"name": name}, "spec": {"automountServiceAccountToken": False, "containers": [container]}}


async def _run(directory: Path, plugins: tuple[str, ...], count: int, *, policies: bool) -> dict[str, float]:
    store = await SQLiteStore.open(directory / "store.db", durable=False)
    server = APIServer(store, admission_plugins=plugins)
    await server.start()
    rest, reg = server.rest, server.registry
    ns, cms, pods, sas = (reg.get("", "v1", r) for r in ("namespaces", "configmaps", "pods", "serviceaccounts"))
    assert ns and cms and pods and sas
    await rest.create(ns, None, {"metadata": {"name": "bench", "labels": {}}})
    await rest.create(sas, "bench", {"metadata": {"name": "default"}})
    if policies:
        lr, rq = reg.get("", "v1", "limitranges"), reg.get("", "v1", "resourcequotas")
        assert lr and rq
        spec = {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}
        await rest.create(lr, "bench", {"metadata": {"name": "l"}, "spec": spec})
        hard = {"pods": "100000", "configmaps": "100000"}
        await rest.create(rq, "bench", {"metadata": {"name": "q"}, "spec": {"hard": hard}})
        await rest.mutate(
            rq,
            "bench",
            "q",
            lambda q: {**q, "status": {"hard": hard, "used": dict.fromkeys(hard, "0")}},
            subresource="status",
        )
        await rest.mutate(
            ns,
            None,
            "bench",
            lambda n: {
                **n,
                "metadata": {**n["metadata"], "labels": {"pod-security.kubernetes.io/enforce": "baseline"}},
            },
        )
    out = {}
    for label, info, make in (("configmap", cms, lambda n: {"metadata": {"name": n}}), ("pod", pods, _pod)):
        for i in range(50):  # warm up
            await rest.create(info, "bench", make(f"warm-{i}"))
        started = time.process_time()
        for i in range(count):
            await rest.create(info, "bench", make(f"x-{i}"))
        out[label] = (time.process_time() - started) / count * 1e6
    await server.stop()
    await store.close()
    return out


def main() -> None:
    """Print CPU µs per create for each plugin set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="runs of every set, interleaved; the best is kept")
    args = parser.parse_args()
    cases = [(name, plugins, policies) for name, plugins in SETS.items() for policies in (False, True)]
    cases = [c for c in cases if c[0] == "default" or not c[2]]
    best: dict[str, dict[str, float]] = {}
    for _ in range(args.rounds):  # interleaved, so a burst of load elsewhere does not favour one set
        for name, plugins, policies in cases:
            with tempfile.TemporaryDirectory() as tmp:
                figures = asyncio.run(_run(Path(tmp), plugins, args.count, policies=policies))
            label = f"{name}{' + LimitRange, quota, baseline' if policies else ''}"
            old = best.setdefault(label, figures)
            best[label] = {k: min(old[k], figures[k]) for k in figures}
    rows = list(best.items())
    for label, figures in rows:
        print(f"{label:42s} configmap {figures['configmap']:7.0f} µs   pod {figures['pod']:7.0f} µs")
    base = rows[0][1]
    for label, figures in rows[1:]:
        ratios = "   ".join(f"{k} {figures[k] / base[k]:.2f}x" for k in base)
        print(f"{label:42s} vs none: {ratios}")


if __name__ == "__main__":
    main()
