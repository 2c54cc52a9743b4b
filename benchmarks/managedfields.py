"""CPU per call of managedFields Update tracking (``managedfields.track_update``) on realistic objects.

Every PATCH/PUT through the API server records ownership; this measures that
step alone, in process, with ``time.process_time`` over many calls (the
machine is shared: CPU time, not wall time). Cases:

- ``deployment-status``: a Deployment created by ``kubectl`` (client-side
  apply), scaled by ``kubectl-scale``, its revision annotation and status
  written by ``kube-controller-manager``; the controller writes the status
  again (ready/available replicas, a condition's times);
- ``deployment-image``: ``kubectl-edit`` changes the container image of that
  Deployment (it takes the field from the creator);
- ``widget-status``: the benchmark Widget custom resource (runtime_vs_kopf.py)
  created by a client, its ``status.configMap`` set by the operator through
  /status with a merge patch (the operator's first write);
- ``widget-status-again``: the operator writes that status again (a changed value).

Run: ``python benchmarks/managedfields.py [--calls N] [--rounds N] [--against REV [--store N]]``;
prints microseconds of CPU per call for each case (the best round), and with
``--against`` the same for ``managedfields.py`` of a git revision, rounds
interleaved; ``--store N`` adds whole status updates (Deployment, Widget)
through an in-process REST store, N a round, with either track_update.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import importlib.util
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pinnace.api import crd, managedfields, strategy
from pinnace.api.registry import ResourceInfo, builtin_registry

Obj = dict[str, Any]
HERE = Path(__file__).resolve().parent
REGISTRY = builtin_registry()


def _info(group: str, version: str, plural: str) -> ResourceInfo:
    info = REGISTRY.get(group, version, plural)
    assert info is not None
    return info


DEPLOYMENTS = _info("apps", "v1", "deployments")


def widget_crd() -> Obj:
    """The Widget CRD of runtime_vs_kopf.py, generated from the SDK operator's typed model (widgets_sdk.py)."""
    from pinnace.runtime.crdgen import crd_for

    spec = importlib.util.spec_from_file_location("pinnace_benchmark_widgets_sdk", HERE / "widgets_sdk.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return crd_for(module.Widget)


def widget_info() -> ResourceInfo:
    """The Widget resource, as the API server serves it once the CRD is in."""
    obj = widget_crd()
    crd.set_defaults(obj)
    return crd.resource_infos(obj)[0]


def _deployment() -> Obj:
    obj: Obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "default",
            "labels": {"app": "web", "tier": "frontend"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": '{"apiVersion":"apps/v1"}\n'},
        },
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "frontend"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.25",
                            "ports": [{"containerPort": 80, "name": "http"}],
                            "env": [{"name": "MODE", "value": "prod"}, {"name": "LEVEL", "value": "info"}],
                            "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}},
                            "readinessProbe": {"httpGet": {"path": "/", "port": 80}},
                        },
                        {"name": "sidecar", "image": "busybox", "args": ["sleep", "infinity"]},
                    ]
                },
            },
        },
    }
    strategy.default(DEPLOYMENTS, obj)
    return obj


def _status(ready: int, at: str) -> Obj:
    cond = {"lastTransitionTime": "2024-01-01T00:00:00Z", "lastUpdateTime": at, "status": "True"}
    return {
        "observedGeneration": 2,
        "replicas": 3,
        "updatedReplicas": 3,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            {**cond, "type": "Available", "reason": "MinimumReplicasAvailable", "message": "ok"},
            {**cond, "type": "Progressing", "reason": "NewReplicaSetAvailable", "message": "done"},
        ],
    }


def _update(
    info: ResourceInfo, live: Obj, manager: str, change: Callable[[Obj], None], sub: str | None, at: str
) -> Obj:
    new = copy.deepcopy(live)
    change(new)
    managedfields.track_update(info, live, new, manager, subresource=sub, now=at)
    return new


def _set(path: tuple[Any, ...], value: Any) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        node = obj
        for key in path[:-1]:
            node = node.setdefault(key, {}) if isinstance(node, dict) else node[key]
        node[path[-1]] = value

    return change


Case = tuple[ResourceInfo, Obj, Obj, str, str | None]


def cases() -> dict[str, Case]:
    """name -> (info, live, new, manager, subresource): one Update to track, from objects built by earlier ones."""
    d = _deployment()
    managedfields.track_create(DEPLOYMENTS, d, "kubectl-client-side-apply", now="2024-01-01T00:00:00Z")
    d = _update(DEPLOYMENTS, d, "kubectl-scale", _set(("spec", "replicas"), 4), "scale", "2024-01-01T00:00:01Z")
    rev = _set(("metadata", "annotations", "deployment.kubernetes.io/revision"), "1")
    d = _update(DEPLOYMENTS, d, "kube-controller-manager", rev, None, "2024-01-01T00:00:02Z")
    status = _set(("status",), _status(2, "2024-01-01T00:00:03Z"))
    d = _update(DEPLOYMENTS, d, "kube-controller-manager", status, "status", "2024-01-01T00:00:03Z")
    d_status = copy.deepcopy(d)
    d_status["status"] = _status(3, "2024-01-01T00:00:04Z")
    d_image = copy.deepcopy(d)
    d_image["spec"]["template"]["spec"]["containers"][0]["image"] = "nginx:1.26"

    w_info = widget_info()
    w: Obj = {
        "apiVersion": "bench.example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w-00001", "namespace": "bench"},
        "spec": {"size": 2, "color": "green"},
    }
    managedfields.track_create(w_info, w, "Python-urllib", now="2024-01-01T00:00:00Z")
    w_status = copy.deepcopy(w)
    w_status["status"] = {"configMap": "w-00001"}
    w2 = _update(w_info, w, "widget-operator", _set(("status",), {"configMap": "w-00001"}), "status", "T1")
    w2_status = copy.deepcopy(w2)
    w2_status["status"] = {"configMap": "w-00001-b"}
    return {
        "deployment-status": (DEPLOYMENTS, d, d_status, "kube-controller-manager", "status"),
        "deployment-image": (DEPLOYMENTS, d, d_image, "kubectl-edit", None),
        "widget-status": (w_info, w, w_status, "widget-operator", "status"),
        "widget-status-again": (w_info, w2, w2_status, "widget-operator", "status"),
    }


def cpu_per_call(case: Case, calls: int, module: Any = managedfields) -> float:
    """Microseconds of CPU per track_update call (the new object's metadata copied fresh for each)."""
    info, live, new, manager, sub = case
    meta = new["metadata"]
    news = [{**new, "metadata": dict(meta)} for _ in range(calls)]
    track = module.track_update
    start = time.process_time()
    for obj in news:
        track(info, live, obj, manager, subresource=sub, now="2024-01-01T00:01:00Z")
    return (time.process_time() - start) / calls * 1e6


def module_at(rev: str) -> Any:
    """``pinnace.api.managedfields`` as it was at git revision ``rev`` (importing the rest from this tree)."""
    path = "src/pinnace/api/managedfields.py"
    source = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=HERE.parent, capture_output=True, check=True).stdout
    module = types.ModuleType(f"pinnace.api._managedfields_at_{rev}")
    module.__file__ = f"{rev}:{path}"
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


async def store_cpu(other: Any, rounds: int, calls: int) -> dict[str, tuple[float, float]]:
    """CPU µs per status update through an in-process REST store (SQLite, not durable), with this tree's
    track_update and ``other``'s (swapped in where the store calls it), rounds interleaved: case -> (this, other).

    The Deployment of ``deployment-status`` gets its status written again and again; a Widget gets its first
    status write (one fresh Widget per update, as the benchmark operator does).
    """
    from pinnace.apiserver.server import APIServer
    from pinnace.storage.sqlite import SQLiteStore

    mine = managedfields.track_update
    with tempfile.TemporaryDirectory() as directory:
        store = await SQLiteStore.open(Path(directory) / "store.db", durable=False)
        server = APIServer(store)
        await server.start()
        rest, reg = server.rest, server.registry
        namespaces, crds = (
            reg.get("", "v1", "namespaces"),
            reg.get("apiextensions.k8s.io", "v1", "customresourcedefinitions"),
        )
        assert namespaces is not None and crds is not None
        await rest.create(namespaces, None, {"metadata": {"name": "bench"}})
        d = _deployment()
        d["metadata"]["namespace"] = "bench"
        await rest.create(DEPLOYMENTS, "bench", d, manager="kubectl-client-side-apply")
        scale = {"spec": {**d["spec"], "replicas": 4}}
        await rest.mutate(DEPLOYMENTS, "bench", "web", lambda o: {**o, **scale}, manager="kubectl-scale")
        await rest.create(crds, None, widget_crd(), manager="kubectl")
        widgets = None
        for _ in range(200):
            widgets = reg.get("bench.example.com", "v1", "widgets")
            if widgets is not None:
                break
            await asyncio.sleep(0.05)
        assert widgets is not None, "the Widget CRD is not served"
        total = (rounds * 2 + 1) * calls
        for i in range(total):
            body = {"metadata": {"name": f"w-{i}"}, "spec": {"size": i % 5 + 1, "color": "red"}}
            await rest.create(widgets, "bench", body, manager="Python-urllib")
        counter = iter(range(10**9))

        async def deployment_status() -> None:
            i = next(counter)
            status = _status(2 + i % 2, f"2024-01-02T00:{i // 60 % 60:02d}:{i % 60:02d}Z")
            await rest.mutate(
                DEPLOYMENTS,
                "bench",
                "web",
                lambda o: {**o, "status": status},
                subresource="status",
                manager="kube-controller-manager",
            )

        widget_names = iter(range(total))

        async def widget_status() -> None:
            name = f"w-{next(widget_names)}"
            status = {"configMap": name}
            await rest.mutate(
                widgets,
                "bench",
                name,
                lambda o: {**o, "status": status},
                subresource="status",
                manager="widget-operator",
            )

        out: dict[str, tuple[float, float]] = {}
        try:
            for case, update in (("deployment-status", deployment_status), ("widget-status", widget_status)):
                for _ in range(calls):  # warm up
                    await update()
                best = {"this": float("inf"), "other": float("inf")}
                for _ in range(rounds):
                    for which, track in (("this", mine), ("other", other.track_update)):
                        managedfields.track_update = track
                        start = time.process_time()
                        for _ in range(calls):
                            await update()
                        best[which] = min(best[which], (time.process_time() - start) / calls * 1e6)
                out[case] = (best["this"], best["other"])
        finally:
            managedfields.track_update = mine
            await server.stop()
            await store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--calls", type=int, default=20000, help="calls per case and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (the best is printed)")
    parser.add_argument("--against", metavar="REV", help="also time managedfields.py of this git revision, A/B")
    parser.add_argument(
        "--store", type=int, metavar="N", help="with --against: also N status updates a round through the REST store"
    )
    args = parser.parse_args()
    other = module_at(args.against) if args.against else None
    for name, case in cases().items():
        entries = len(case[1]["metadata"].get("managedFields") or [])
        best = best_other = float("inf")
        for _ in range(args.rounds):  # interleaved, so a load that comes and goes weighs on both alike
            best = min(best, cpu_per_call(case, args.calls))
            if other is not None:
                best_other = min(best_other, cpu_per_call(case, args.calls, other))
        line = f"{name:22s} {best:7.1f} us CPU/call  ({entries} managedFields entries)"
        if other is not None:
            line += f"  {args.against}: {best_other:7.1f} us  ({best_other / best:.1f}x)"
        print(line)
    if other is not None and args.store:
        for name, (this, theirs) in asyncio.run(store_cpu(other, args.rounds, args.store)).items():
            print(f"{name:22s} {this:7.1f} us CPU/update through the REST store  {args.against}: {theirs:7.1f} us")


if __name__ == "__main__":
    main()
