"""The DaemonSet controller: one pod on every eligible node.

Upstream's ``DaemonSetsController`` semantics (v1.32), on the runtime SDK:

- eligibility (:mod:`._daemon_nodes`): nodeSelector, required node affinity,
  taints against the pod's tolerations plus the ones every daemon pod gets;
  the set follows nodes as they come, go, and change labels or taints;
- pods are created for the scheduler to bind, pinned to their node by a
  required ``matchFields metadata.name In [node]`` affinity term (upstream
  ≥ 1.12), labelled ``controller-revision-hash`` and ``pod-template-generation``;
  failed pods are deleted and replaced, extra pods on a node deleted, pods on
  nodes that no longer qualify deleted;
- the template history is kept as ControllerRevisions (:mod:`._workload_history`);
- ``RollingUpdate`` replaces old pods at most ``maxUnavailable`` at a time,
  or — with ``maxSurge`` — starts the new pod beside the old one and deletes
  the old one once the new one is available; ``OnDelete`` leaves old pods be;
- status: desiredNumberScheduled, currentNumberScheduled, numberMisscheduled,
  numberReady, numberAvailable, numberUnavailable, updatedNumberScheduled,
  observedGeneration.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Iterable
from typing import Any

from pinnace.api import errors
from pinnace.controllers._daemon_nodes import add_daemon_tolerations, pin_to_node, should_run, target_node
from pinnace.controllers._pod_control import PodControl
from pinnace.controllers._workload_history import HASH_LABEL, sync_revisions, truncate_history
from pinnace.controllers._workload_pods import (
    Expectations,
    is_available,
    is_ready,
    is_terminating,
    owned_pods,
    pod_from_template,
    selector_string,
)
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client, MergePatch
from pinnace.runtime.clock import Clock
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.events import WARNING, EventRecorder
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import Predicate
from pinnace.runtime.reconcile import Request, Result

__all__ = ["DaemonSetReconciler", "add_daemonset_controller"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

KIND = "apps/v1/DaemonSet"
REVISION_LABEL = "controller-revision-hash"
GENERATION_LABEL = "pod-template-generation"
#: The status counts Go's JSON leaves out at zero (``omitempty``).
_OMITTED_WHEN_ZERO = frozenset({"numberAvailable", "numberUnavailable", "updatedNumberScheduled"})


def _node_changed(old: Obj, new: Obj) -> bool:
    """Node updates that can change eligibility: labels and spec (taints, unschedulable), not heartbeats."""
    return bool(
        (old.get("metadata") or {}).get("labels") != (new.get("metadata") or {}).get("labels")
        or old.get("spec") != new.get("spec")
    )


async def add_daemonset_controller(manager: Manager, *, workers: int = 2) -> Controller:
    """Add the DaemonSet controller to ``manager``."""
    reconciler = DaemonSetReconciler(manager.client, manager.get_event_recorder("daemonset-controller"), manager.clock)
    return await (
        Builder(manager)
        .named("daemonset")
        .for_(KIND)
        .owns("v1/Pod")
        .owns("apps/v1/ControllerRevision")
        .watches("v1/Node", EnqueueRequestsFromMapFunc(reconciler.all_sets), Predicate(update=_node_changed))
        .with_options(max_concurrent_reconciles=workers)
        .complete(reconciler)
    )


def _hash(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION_LABEL, ""))


def _failed(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Failed"


def _scaled(value: Any, total: int) -> int:
    """An IntOrString against ``total`` (percentages round up, as upstream's rolling update does)."""
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value or 0)


class DaemonSetReconciler:
    """Keeps one pod of a DaemonSet on each node that should run it."""

    def __init__(self, client: Client, recorder: EventRecorder, clock: Clock) -> None:
        self.client = client
        self.recorder = recorder
        self.clock = clock
        self.expectations = Expectations()
        self.pods = PodControl(client, recorder, clock, self.expectations)
        self.known: set[Request] = set()

    def all_sets(self, _node: Obj) -> Iterable[Request]:
        """A node event concerns every DaemonSet."""
        return list(self.known)

    async def reconcile(self, request: Request) -> Result:
        """Sync one DaemonSet: revisions, pods per node, rolling update, status."""
        key = str(request)
        ds = await get_or_none(self.client, KIND, request.name, request.namespace)
        if ds is None:
            self.known.discard(request)
            self.expectations.forget(key)
            return Result()
        self.known.add(request)
        if ds["metadata"].get("deletionTimestamp"):
            return Result()
        history = await sync_revisions(self.client, ds)
        hash_ = str(history.update["metadata"]["labels"][HASH_LABEL])
        nodes = await self.client.list("v1/Node")
        selector = selector_string(ds["spec"].get("selector"))
        pods = owned_pods(await self.client.list("v1/Pod", request.namespace, label_selector=selector), ds)
        if self.expectations.satisfied(key, pods, self.clock.now()):
            changed = await self._manage(ds, nodes, pods, hash_, key)
            if not changed and (ds["spec"].get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate":
                await self._rolling_update(ds, nodes, pods, hash_, key)
        requeue = await self._update_status(ds, nodes, pods, hash_)
        live = {history.update["metadata"]["name"]} | {
            r["metadata"]["name"]
            for r in history.revisions
            if r["metadata"]["labels"].get(HASH_LABEL) in {_hash(p) for p in pods}
        }
        await truncate_history(self.client, ds, history, live)
        return Result(requeue_after=requeue) if requeue else Result()

    # ---- placing pods -------------------------------------------------------------
    def _by_node(self, pods: list[Obj]) -> dict[str, list[Obj]]:
        out: dict[str, list[Obj]] = {}
        for pod in pods:
            if not is_terminating(pod):
                out.setdefault(target_node(pod), []).append(pod)
        for group in out.values():
            group.sort(key=lambda p: p["metadata"].get("creationTimestamp", ""))
        return out

    def _surge(self, ds: Obj, desired: int) -> int:
        strategy = ds["spec"].get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") != "RollingUpdate":
            return 0
        return _scaled((strategy.get("rollingUpdate") or {}).get("maxSurge"), desired)

    async def _manage(self, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str, key: str) -> bool:
        """Create and delete pods so each node has what it should; True if anything was done."""
        template_spec = (ds["spec"].get("template") or {}).get("spec") or {}
        by_node = self._by_node(pods)
        node_names = {n["metadata"]["name"] for n in nodes}
        desired = sum(1 for n in nodes if should_run(template_spec, n)[0])
        surge = self._surge(ds, desired)
        create: list[str] = []
        delete: list[Obj] = []
        for node in nodes:
            name = node["metadata"]["name"]
            run, stay = should_run(template_spec, node)
            here = by_node.get(name, [])
            failed = [p for p in here if _failed(p)]
            if failed:
                for pod in failed:
                    self.recorder.event(
                        ds,
                        WARNING,
                        "FailedDaemonPod",
                        f"Found failed daemon pod {pod['metadata']['namespace']}/{pod['metadata']['name']} "
                        f"on node {name}, will try to kill it",
                    )
                delete.extend(failed)
                here = [p for p in here if not _failed(p)]
            if run and not here:
                if not failed:
                    create.append(name)
            elif stay and len(here) > 1:
                delete.extend(self._extras(here, hash_, surge))
            elif not stay:
                delete.extend(here)
        for target, stray in by_node.items():
            if target not in node_names:
                delete.extend(stray)  # its node is gone
        await self._delete(ds, delete, key)
        await asyncio.gather(*(self._create(ds, node, hash_, key) for node in create))
        return bool(create or delete)

    @staticmethod
    def _extras(here: list[Obj], hash_: str, surge: int) -> list[Obj]:
        """The pods to delete when a node has more than one (oldest kept; with surge an old+new pair stays)."""
        if surge > 0 and len(here) == 2 and {_hash(here[0]) == hash_, _hash(here[1]) == hash_} == {True, False}:
            return []
        new = [p for p in here if _hash(p) == hash_]
        keep = new[0] if surge > 0 and new else here[0]
        return [p for p in here if p is not keep]

    async def _create(self, ds: Obj, node: str, hash_: str, key: str) -> None:
        pod = pod_from_template(ds["spec"].get("template"), ds, generate_name=f"{ds['metadata']['name']}-")
        pod["metadata"]["labels"].update(
            {REVISION_LABEL: hash_, GENERATION_LABEL: str(ds["metadata"].get("generation", 1))}
        )
        add_daemon_tolerations(pod["spec"])
        pin_to_node(pod["spec"], node)
        await self.pods.create(ds, pod, key)

    async def _delete(self, ds: Obj, pods: list[Obj], key: str) -> None:
        await self.pods.delete(ds, pods, key)

    # ---- rolling update -----------------------------------------------------------
    async def _rolling_update(self, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str, key: str) -> None:
        template_spec = (ds["spec"].get("template") or {}).get("spec") or {}
        eligible = [n["metadata"]["name"] for n in nodes if should_run(template_spec, n)[0]]
        rolling = (ds["spec"].get("updateStrategy") or {}).get("rollingUpdate") or {}
        surge = _scaled(rolling.get("maxSurge"), len(eligible))
        max_unavailable = _scaled(rolling.get("maxUnavailable", 1), len(eligible))
        if surge == 0 and max_unavailable == 0:
            max_unavailable = 1
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        now = self.clock.wall()
        by_node = self._by_node(pods)
        unavailable = 0
        free: list[Obj] = []
        candidates: list[Obj] = []
        surge_nodes: list[str] = []
        surging = 0
        for name in eligible:
            here = by_node.get(name, [])
            new = [p for p in here if _hash(p) == hash_]
            old = [p for p in here if _hash(p) != hash_]
            if not old:
                if not new or not is_available(new[0], min_ready, now):
                    unavailable += 1
                continue
            if new:
                if is_available(new[0], min_ready, now):
                    free.extend(old)  # surge done on this node: the old pod goes
                else:
                    surging += 1
                continue
            if not is_available(old[0], min_ready, now):
                free.extend(old)
            elif surge > 0:
                surge_nodes.append(name)
            else:
                candidates.extend(old)
        budget = max(0, max_unavailable - unavailable)
        await self._delete(ds, free + candidates[:budget], key)
        room = max(0, surge - surging)
        await asyncio.gather(*(self._create(ds, node, hash_, key) for node in surge_nodes[:room]))

    # ---- status -----------------------------------------------------------------
    async def _update_status(self, ds: Obj, nodes: list[Obj], pods: list[Obj], hash_: str) -> float:
        template_spec = (ds["spec"].get("template") or {}).get("spec") or {}
        min_ready = int(ds["spec"].get("minReadySeconds") or 0)
        now = self.clock.wall()
        by_node = self._by_node(pods)
        counts = dict.fromkeys(
            (
                "desiredNumberScheduled",
                "currentNumberScheduled",
                "numberMisscheduled",
                "numberReady",
                "numberAvailable",
                "updatedNumberScheduled",
            ),
            0,
        )
        waiting = False
        for node in nodes:
            run, _ = should_run(template_spec, node)
            here = by_node.get(node["metadata"]["name"], [])
            if run:
                counts["desiredNumberScheduled"] += 1
            if not here:
                continue
            if not run:
                counts["numberMisscheduled"] += 1
                continue
            counts["currentNumberScheduled"] += 1
            pod = next((p for p in here if _hash(p) == hash_), here[0])
            if is_ready(pod):
                counts["numberReady"] += 1
                if is_available(pod, min_ready, now):
                    counts["numberAvailable"] += 1
                else:
                    waiting = True
            if _hash(pod) == hash_:
                counts["updatedNumberScheduled"] += 1
        status: Obj = {
            **counts,
            "numberUnavailable": counts["desiredNumberScheduled"] - counts["numberAvailable"],
            "observedGeneration": ds["metadata"].get("generation"),
        }
        old = ds.get("status") or {}
        if any(old.get(k, 0) != v for k, v in status.items()):
            # omitempty upstream: these counts are not written when zero (the other four always are).
            patch = {k: None if k in _OMITTED_WHEN_ZERO and not v else v for k, v in status.items()}
            with contextlib.suppress(errors.NotFound):
                await self.client.status().patch(ds, MergePatch({"status": patch}))
        return float(min_ready) if waiting else 0.0
