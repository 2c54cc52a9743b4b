"""The node lifecycle controller: nodes whose kubelet went quiet go Unknown, get tainted, lose their pods.

Upstream's ``pkg/controller/nodelifecycle`` with its taint-eviction partner
(:mod:`pinnace.controllers.tainteviction`), as one runnable on the manager's
shared informers (Nodes, Leases, Pods indexed by ``spec.nodeName``). Every
``monitor_period`` (upstream ``--node-monitor-period``, 5 s), and whenever a
Node changes:

- **Health.** A node is heard from when its Lease in ``kube-node-lease`` is
  renewed or its Ready condition's ``lastHeartbeatTime`` moves (times are
  taken on this controller's clock when it *sees* the change, so clock skew
  between hosts does not matter). Not heard from within ``grace_period``
  (``--node-monitor-grace-period``, 40 s; ``startup_grace_period``, 60 s, for
  a node that never posted status), its Ready, MemoryPressure, DiskPressure
  and PIDPressure conditions become ``Unknown`` with reason
  ``NodeStatusUnknown``, "Kubelet stopped posting node status." (or
  ``NodeStatusNeverUpdated``). The Node gets a ``NodeNotReady`` event, its
  pods Ready=False and a ``NodeNotReady`` event each (MarkPodsNotReady).
- **Taints.** Ready=Unknown → ``node.kubernetes.io/unreachable`` NoExecute
  and NoSchedule; Ready=False → ``node.kubernetes.io/not-ready`` likewise;
  pressure conditions, NetworkUnavailable and ``spec.unschedulable`` → their
  NoSchedule taints. They go when the node recovers (a ``NodeReady`` event).
  If every node is not Ready, the controller assumes its own view is the
  problem and neither adds NoExecute taints nor evicts (upstream's
  "master disruption mode"). Per-zone eviction rate limits are not modelled.
- **Eviction.** Pods on a NoExecute-tainted node are evicted after their
  tolerationSeconds, see :mod:`.tainteviction`; ``eviction_timeout``
  (``--pod-eviction-timeout``) is the tolerationSeconds of pods without their
  own toleration for not-ready/unreachable (upstream's DefaultTolerationSeconds,
  300 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.controllers.tainteviction import NOT_READY, STRATEGIC, UNREACHABLE, TaintEvictor
from pinnace.runtime.cache.indexer import object_key
from pinnace.runtime.cache.informer import EventHandler, Informer
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder
from pinnace.runtime.manager import Manager
from pinnace.runtime.nodeindex import ensure_pod_node_index, pods_on

__all__ = ["NodeLifecycleController", "add_node_lifecycle_controller", "desired_taints", "unknown_conditions"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

NODES = ResourceRef("", "v1", "nodes", namespaced=False)
PODS = ResourceRef("", "v1", "pods")
NODE_LEASE_NAMESPACE = "kube-node-lease"

#: The conditions a silent kubelet leaves Unknown (NetworkUnavailable is not the kubelet's).
MONITORED = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
#: NoSchedule taints by condition: (condition, status) -> taint key.
CONDITION_TAINTS = {
    ("Ready", "False"): NOT_READY,
    ("Ready", "Unknown"): UNREACHABLE,
    ("MemoryPressure", "True"): "node.kubernetes.io/memory-pressure",
    ("DiskPressure", "True"): "node.kubernetes.io/disk-pressure",
    ("PIDPressure", "True"): "node.kubernetes.io/pid-pressure",
    ("NetworkUnavailable", "True"): "node.kubernetes.io/network-unavailable",
}
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
#: Every (key, effect) this controller owns on a Node.
MANAGED = frozenset(
    {(key, "NoSchedule") for key in [*CONDITION_TAINTS.values(), UNSCHEDULABLE]}
    | {(NOT_READY, "NoExecute"), (UNREACHABLE, "NoExecute")}
)


def _condition(node: Obj, type_: str) -> Obj | None:
    return next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == type_), None)


def unknown_conditions(node: Obj, stamp: str) -> list[Obj] | None:
    """The node's conditions with the monitored ones Unknown (None if they already are)."""
    conditions = [dict(c) for c in (node.get("status") or {}).get("conditions") or []]
    by_type = {c.get("type"): c for c in conditions}
    changed = False
    for type_ in MONITORED:
        cond = by_type.get(type_)
        if cond is None:
            created = (node.get("metadata") or {}).get("creationTimestamp") or stamp
            conditions.append(
                {
                    "type": type_,
                    "status": "Unknown",
                    "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                    "lastHeartbeatTime": created,
                    "lastTransitionTime": stamp,
                }
            )
            changed = True
        elif cond.get("status") != "Unknown":
            cond.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
                lastTransitionTime=stamp,
            )
            changed = True
    return conditions if changed else None


def desired_taints(node: Obj, *, no_execute: bool = True) -> list[Obj]:
    """The taints this controller wants on ``node`` (``no_execute`` False: only the NoSchedule ones)."""
    out: list[Obj] = []
    for cond in (node.get("status") or {}).get("conditions") or []:
        key = CONDITION_TAINTS.get((cond.get("type"), cond.get("status")))
        if key is not None:
            out.append({"key": key, "effect": "NoSchedule"})
            if no_execute and key in (NOT_READY, UNREACHABLE):
                out.append({"key": key, "effect": "NoExecute"})
    if (node.get("spec") or {}).get("unschedulable"):
        out.append({"key": UNSCHEDULABLE, "effect": "NoSchedule"})
    return out


def _merge_taints(current: list[Obj], wanted: list[Obj], stamp: str) -> list[Obj] | None:
    """``current`` with the managed taints made ``wanted`` (None if nothing changes)."""
    pairs = {(t.get("key"), t.get("effect")) for t in current if (t.get("key"), t.get("effect")) in MANAGED}
    wanted_pairs = {(t["key"], t["effect"]) for t in wanted}
    if pairs == wanted_pairs:
        return None
    kept = [
        t for t in current if (t.get("key"), t.get("effect")) not in MANAGED or (t["key"], t["effect"]) in wanted_pairs
    ]
    for taint in wanted:
        if (taint["key"], taint["effect"]) not in pairs:
            kept.append({**taint, "timeAdded": stamp} if taint["effect"] == "NoExecute" else dict(taint))
    return kept


def _as(obj: Obj, api_version: str, kind: str) -> Obj:
    return {**obj, "apiVersion": api_version, "kind": kind}


@dataclass
class _Health:
    """What this controller last saw of a node, and when (on its own clock) it last heard from it."""

    uid: str
    probe: float
    heartbeat: str | None
    renew: str | None
    ready: str | None = None


class NodeLifecycleController:
    """Monitors node health, keeps the controller-owned taints, evicts pods from NoExecute-tainted nodes."""

    name = "nodelifecycle"

    def __init__(
        self,
        manager: Manager,
        *,
        grace_period: float = 40.0,
        eviction_timeout: float = 300.0,
        monitor_period: float = 5.0,
        startup_grace_period: float = 60.0,
    ) -> None:
        self.manager = manager
        self.rest = manager.rest
        self.clock = manager.clock
        self.grace_period = grace_period
        self.monitor_period = monitor_period
        self.startup_grace_period = startup_grace_period
        # core/v1 Events, as kube-controller-manager records them: kubectl describe lists only those.
        self.recorder = EventRecorder(self.rest, "node-controller", manager.identity, clock=self.clock, core=True)
        self.evictor = TaintEvictor(
            self.rest,
            EventRecorder(self.rest, "taint-eviction-controller", manager.identity, clock=self.clock, core=True),
            self.clock,
            default_toleration_seconds=eviction_timeout,
        )
        self.disrupted = False
        self._health: dict[str, _Health] = {}
        self._wake = asyncio.Event()
        self._handler = EventHandler(on_update=lambda _old, _new: self._wake.set(), on_add=self._added)
        self._nodes: Informer | None = None
        self._leases: Informer | None = None
        self._pods: Informer | None = None

    def _added(self, _obj: Obj, _initial: bool) -> None:
        self._wake.set()

    async def prepare(self) -> None:
        """Create the informers this controller reads (started with the manager's cache)."""
        cache = self.manager.cache
        self._pods = await ensure_pod_node_index(self.manager.cache)
        self._nodes = await cache.informer_for("v1/Node", wait=False)
        self._leases = await cache.informer_for("coordination.k8s.io/v1/Lease", wait=False)

    async def run(self) -> None:
        """Monitor until cancelled."""
        cache = self.manager.cache
        for kind in ("v1/Node", "coordination.k8s.io/v1/Lease", "v1/Pod"):
            await cache.informer_for(kind)
        assert self._nodes is not None and self._pods is not None
        self._nodes.add_event_handler(self._handler)
        self._pods.add_event_handler(EventHandler(on_add=self._added))
        try:
            while True:
                self._wake.clear()
                try:
                    await self.monitor()
                except Exception:
                    log.exception("node lifecycle: a monitor pass failed")
                await self._sleep()
        finally:
            self._nodes.remove_event_handler(self._handler)

    async def _sleep(self) -> None:
        delay = self.monitor_period
        deadline = self.evictor.next_deadline()
        if deadline is not None:
            delay = min(delay, max(0.0, deadline - self.clock.now()))
        sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
        if not sleeper.done() or sleeper.cancelled():
            await asyncio.sleep(0.05)  # let a burst of node events settle into one pass

    # ---- one pass ----------------------------------------------------------------
    async def monitor(self) -> None:
        """One pass over every node: health, conditions, taints, pods."""
        assert self._nodes is not None and self._leases is not None and self._pods is not None
        nodes = self._nodes.indexer.objects()
        observed: dict[str, str | None] = {}
        for node in nodes:
            observed[node["metadata"]["name"]] = await self._check_health(node)
        for name in set(self._health) - set(observed):
            del self._health[name]
        disrupted = bool(observed) and all(ready != "True" for ready in observed.values())
        if disrupted != self.disrupted:
            if disrupted:
                log.warning("Controller detected that all Nodes are not-Ready. Entering master disruption mode.")
            else:
                log.info("Controller detected that some Nodes are Ready. Exiting master disruption mode.")
            self.disrupted = disrupted
        on_nodes: set[str] = set()
        for node in self._nodes.indexer.objects():
            name = node["metadata"]["name"]
            node = await self._sync_taints(node)
            pods = pods_on(self._pods.indexer, name)
            on_nodes.update(object_key(p) for p in pods)
            taints = (node.get("spec") or {}).get("taints") or []
            if self.disrupted or not any(t.get("effect") == "NoExecute" for t in taints):
                scheduled = self.evictor.scheduled()
                pending = [p for p in pods if object_key(p) in scheduled]
                if pending:
                    await self.evictor.process_node([], pending)
                continue
            await self.evictor.process_node(taints, pods)
        self.evictor.forget(self.evictor.scheduled() - on_nodes)

    async def _check_health(self, node: Obj) -> str | None:
        """Update what we know of ``node``; mark it Unknown if silent too long. Returns its Ready status."""
        assert self._leases is not None
        meta = node["metadata"]
        name = meta["name"]
        now = self.clock.now()
        ready = _condition(node, "Ready")
        heartbeat = (ready or {}).get("lastHeartbeatTime")
        lease = self._leases.indexer.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        renew = ((lease or {}).get("spec") or {}).get("renewTime")
        health = self._health.get(name)
        if health is None or health.uid != meta.get("uid"):
            health = self._health[name] = _Health(meta.get("uid", ""), now, heartbeat, renew)
            self.recorder.event(
                _as(node, "v1", "Node"),
                NORMAL,
                "RegisteredNode",
                f"Node {name} event: Registered Node {name} in Controller",
            )
        if heartbeat != health.heartbeat or renew != health.renew:
            health.heartbeat, health.renew, health.probe = heartbeat, renew, now
        status = (ready or {}).get("status")
        grace = self.grace_period if ready is not None else self.startup_grace_period
        if now - health.probe > grace:
            stamp = self.clock.wall().strftime("%Y-%m-%dT%H:%M:%SZ")
            conditions = unknown_conditions(node, stamp)
            if conditions is not None:
                log.info("node %s: no heartbeat for %.0fs, marking its status Unknown", name, now - health.probe)
                with contextlib.suppress(errors.NotFound):
                    await self.rest.patch(NODES, name, {"status": {"conditions": conditions}}, subresource="status")
                status = "Unknown"
        if health.ready == "True" and status != "True":
            self.recorder.event(
                _as(node, "v1", "Node"), NORMAL, "NodeNotReady", f"Node {name} status is now: NodeNotReady"
            )
        elif health.ready is not None and health.ready != "True" and status == "True":
            self.recorder.event(_as(node, "v1", "Node"), NORMAL, "NodeReady", f"Node {name} status is now: NodeReady")
        health.ready = status
        if status is not None and status != "True":
            await self._mark_pods_not_ready(name)
        return status

    async def _mark_pods_not_ready(self, node: str) -> None:
        """Ready=False on every pod of ``node`` that says it is Ready (upstream's MarkPodsNotReady)."""
        assert self._pods is not None
        stamp = self.clock.wall().strftime("%Y-%m-%dT%H:%M:%SZ")
        for pod in pods_on(self._pods.indexer, node):
            ready = _condition(pod, "Ready")
            if ready is None or ready.get("status") != "True":
                continue
            meta = pod["metadata"]
            patch = {"status": {"conditions": [{"type": "Ready", "status": "False", "lastTransitionTime": stamp}]}}
            try:
                await self.rest.patch(
                    PODS, meta["name"], patch, meta["namespace"], patch_type=STRATEGIC, subresource="status"
                )
            except errors.NotFound:
                continue
            self.recorder.event(_as(pod, "v1", "Pod"), WARNING, "NodeNotReady", "Node is not ready")

    async def _sync_taints(self, node: Obj) -> Obj:
        """Make the controller-owned taints of ``node`` what its conditions say; the node as it now is."""
        current = list((node.get("spec") or {}).get("taints") or [])
        stamp = self.clock.wall().strftime("%Y-%m-%dT%H:%M:%SZ")
        wanted = desired_taints(node, no_execute=not self.disrupted)
        merged = _merge_taints(current, wanted, stamp)
        if merged is None:
            return node
        meta = node["metadata"]
        patch = {"metadata": {"resourceVersion": meta.get("resourceVersion")}, "spec": {"taints": merged or None}}
        try:
            updated: Obj = await self.rest.patch(NODES, meta["name"], patch)
        except errors.Conflict:
            self._wake.set()  # the informer has a newer node by the next pass
            return node
        except errors.NotFound:
            return node
        added = [f"{t['key']}:{t['effect']}" for t in merged if t not in current]
        log.info("node %s: taints now %s (added %s)", meta["name"], [t["key"] for t in merged], added)
        return updated


async def add_node_lifecycle_controller(
    manager: Manager,
    *,
    grace_period: float = 40.0,
    eviction_timeout: float = 300.0,
    monitor_period: float = 5.0,
    startup_grace_period: float = 60.0,
) -> NodeLifecycleController:
    """Add the node lifecycle controller (and taint-based eviction) to ``manager``."""
    controller = NodeLifecycleController(
        manager,
        grace_period=grace_period,
        eviction_timeout=eviction_timeout,
        monitor_period=monitor_period,
        startup_grace_period=startup_grace_period,
    )
    await controller.prepare()
    manager.add(controller)
    return controller
