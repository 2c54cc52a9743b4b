"""The scheduler: watches pods without a node, picks one for each, and binds them.

It runs in a :class:`~pinnace.runtime.manager.Manager` on the shared
informers (pods, nodes, namespaces, PriorityClasses) like any controller, and
only ever talks to the API through the REST client:

* informer events feed the :class:`~pinnace.scheduler.state.ClusterState`
  (placed pods, per node) and the
  :class:`~pinnace.scheduler.queue.SchedulingQueue` (pods to place, for
  ``spec.schedulerName`` default-scheduler);
* one loop pops the next pod, runs the
  :class:`~pinnace.scheduler.framework.Framework` (filters, scores), *assumes*
  the pod on the chosen node and hands the binding (``pods/binding``) to a
  background task — bindings run concurrently, the assumed pod keeps the
  accounting right meanwhile;
* a pod that fits nowhere gets ``PodScheduled=False`` (reason
  Unschedulable) and a FailedScheduling event with upstream's message, may
  preempt lower-priority pods (:mod:`.preemption`), and waits in the queue
  until a node is added or changes or a pod goes away;
* a bound pod gets the Normal ``Scheduled`` event "Successfully assigned
  ns/pod to node".

Pods with PersistentVolumeClaims (upstream's VolumeBinding): the scheduler
also watches claims, volumes and StorageClasses; the filters place a pod only
where its claims can be (:mod:`.volumes`), and before the binding of a pod
whose WaitForFirstConsumer claims are unbound, its binding task prebinds a
volume or asks for one to be provisioned on the chosen node and waits until
the claims are bound (:mod:`.volumebinder`). A pod waiting for its claims
holds no binding slot. If the claims cannot be bound, the pod is reported
(reason SchedulerError, as upstream) and tried again after a backoff. A pod
unschedulable because of its claims is tried again when claims, volumes or
classes change.

Priorities: ``spec.priority``, which the API server resolves from the pod's
PriorityClass at create time (:mod:`pinnace.apiserver.priority`, upstream's
Priority admission); for a pod without it (created before its class, or on a
server without that admission) the scheduler resolves ``priorityClassName``
(or the global default class) from the PriorityClasses it watches.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from pinnace.api import errors
from pinnace.api.podutil import SYSTEM_PRIORITY_CLASSES, condition, set_pod_condition
from pinnace.api.volumes import ANN_LOCAL_PATH_ROOT
from pinnace.client.rest import ResourceRef
from pinnace.runtime.cache.delta_fifo import DeletedFinalStateUnknown
from pinnace.runtime.cache.indexer import object_key
from pinnace.runtime.cache.informer import EventHandler, Informer
from pinnace.runtime.events import NORMAL, WARNING
from pinnace.runtime.manager import Manager
from pinnace.scheduler.framework import FitError, Framework
from pinnace.scheduler.preemption import preempt
from pinnace.scheduler.queue import QueuedPod, SchedulingQueue
from pinnace.scheduler.state import ClusterState
from pinnace.scheduler.types import PodInfo
from pinnace.scheduler.volumebinder import BIND_TIMEOUT, VolumeBinder, VolumeBindingError
from pinnace.scheduler.volumes import PodVolumes

__all__ = ["DEFAULT_SCHEDULER_NAME", "Scheduler", "add_scheduler"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

DEFAULT_SCHEDULER_NAME = "default-scheduler"
#: Who the scheduler's writes show in managedFields: kube-scheduler's own name (its user agent's, upstream), not
#: the controller manager's, whose process and client it shares here.
FIELD_MANAGER = "kube-scheduler"
PODS = ResourceRef("", "v1", "pods")
_STRATEGIC = "application/strategic-merge-patch+json"


async def add_scheduler(
    manager: Manager,
    *,
    scheduler_name: str = DEFAULT_SCHEDULER_NAME,
    percentage_of_nodes_to_score: int = 0,
    parallel_bindings: int = 64,
    initial_backoff: float = 1.0,
    max_backoff: float = 10.0,
    max_unschedulable: float = 300.0,
    record_scheduled_events: bool = True,
    bind_timeout: float = BIND_TIMEOUT,
) -> Scheduler:
    """Add the scheduler to ``manager`` (the registry's ``scheduler`` component)."""
    scheduler = Scheduler(
        manager,
        scheduler_name=scheduler_name,
        percentage_of_nodes_to_score=percentage_of_nodes_to_score,
        parallel_bindings=parallel_bindings,
        queue=SchedulingQueue(
            clock=manager.clock,
            initial_backoff=initial_backoff,
            max_backoff=max_backoff,
            max_unschedulable=max_unschedulable,
        ),
        record_scheduled_events=record_scheduled_events,
        bind_timeout=bind_timeout,
    )
    await scheduler.watch()
    manager.add(scheduler)
    return scheduler


def _spec_of_interest(pod: Obj) -> Obj:
    """What a change must touch to make an unschedulable pod worth another try (not its status)."""
    meta = pod.get("metadata") or {}
    return {"spec": pod.get("spec"), "labels": meta.get("labels"), "annotations": meta.get("annotations")}


def _local_path_root(node: Obj) -> str | None:
    return ((node.get("metadata") or {}).get("annotations") or {}).get(ANN_LOCAL_PATH_ROOT)


class Scheduler:
    """Places pods on nodes (a manager runnable; leader-elected like the controllers)."""

    name = "scheduler"
    needs_leader_election = True

    def __init__(
        self,
        manager: Manager,
        *,
        scheduler_name: str = DEFAULT_SCHEDULER_NAME,
        percentage_of_nodes_to_score: int = 0,
        parallel_bindings: int = 64,
        queue: SchedulingQueue | None = None,
        record_scheduled_events: bool = True,
        bind_timeout: float = BIND_TIMEOUT,
    ) -> None:
        self.manager = manager
        self.rest = manager.rest
        self.scheduler_name = scheduler_name
        self.state = ClusterState()
        self.queue = queue or SchedulingQueue(clock=manager.clock)
        self.framework = Framework(self.state, percentage_of_nodes_to_score=percentage_of_nodes_to_score)
        self.volume_binder = VolumeBinder(
            self.rest, self.state, clock=manager.clock, field_manager=FIELD_MANAGER, timeout=bind_timeout
        )
        # core/v1 Events, which ``kubectl describe`` lists (upstream's scheduler writes events.k8s.io/v1
        # ones, but kube-apiserver serves both from one store; Pinnace's API server keeps them apart).
        self.recorder = manager.get_event_recorder(scheduler_name)
        self.record_scheduled_events = record_scheduled_events
        self._slots = asyncio.Semaphore(parallel_bindings)
        self._tasks: set[asyncio.Task[None]] = set()
        self._informers: list[Informer] = []
        self.priority_classes: dict[str, int] = {}
        self.default_priority = 0
        #: Pods bound by this scheduler, and when its loop started (clock time): for benchmarks and metrics.
        self.scheduled = 0
        self.started_at: float | None = None

    # ---- informers -------------------------------------------------------------------
    async def watch(self) -> None:
        """Register with the manager's informers (they start with the manager's cache)."""
        cache = self.manager.cache
        volumes = self.state.volumes
        handlers: list[tuple[str, EventHandler]] = [
            (
                "scheduling.k8s.io/v1/PriorityClass",
                EventHandler(self._on_class, self._on_class_update, self._on_class_delete),
            ),
            ("v1/Namespace", EventHandler(self._on_namespace, self._on_namespace_update)),
            ("v1/Node", EventHandler(self._on_node, self._on_node_update, self._on_node_delete)),
            ("v1/Pod", EventHandler(self._on_pod, self._on_pod_update, self._on_pod_delete)),
            ("v1/PersistentVolumeClaim", self._volume_handler(volumes.set_claim, volumes.remove_claim)),
            ("v1/PersistentVolume", self._volume_handler(volumes.set_volume, volumes.remove_volume)),
            ("storage.k8s.io/v1/StorageClass", self._volume_handler(volumes.set_class, volumes.remove_class)),
        ]
        for kind, handler in handlers:
            informer = await cache.informer_for(kind, wait=False)
            informer.add_event_handler(handler)
            self._informers.append(informer)

    def _on_class(self, obj: Obj, initial: bool = False) -> None:
        name = str(obj["metadata"]["name"])
        self.priority_classes[name] = int(obj.get("value") or 0)
        if obj.get("globalDefault"):
            self.default_priority = int(obj.get("value") or 0)

    def _on_class_update(self, old: Obj, new: Obj) -> None:
        self._on_class(new)

    def _on_class_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        if isinstance(obj, dict):
            self.priority_classes.pop(str(obj["metadata"]["name"]), None)
            if obj.get("globalDefault"):
                self.default_priority = 0

    def _on_namespace(self, obj: Obj, initial: bool = False) -> None:
        self.state.namespace_labels[str(obj["metadata"]["name"])] = dict(obj["metadata"].get("labels") or {})

    def _on_namespace_update(self, old: Obj, new: Obj) -> None:
        self._on_namespace(new)

    def _on_node(self, obj: Obj, initial: bool = False) -> None:
        _, changed = self.state.set_node(obj)
        if changed:
            self.queue.move_all()

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        _, changed = self.state.set_node(new)
        # A node publishing its local-path root may now take pods whose claims that provisioner serves.
        if changed or _local_path_root(old) != _local_path_root(new):
            self.queue.move_all()

    def _on_node_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        name = obj.key if isinstance(obj, DeletedFinalStateUnknown) else str(obj["metadata"]["name"])
        self.state.remove_node(name)

    # ---- claims, volumes, classes (VolumeBinding) ----------------------------------------
    def _volumes_changed(self) -> None:
        """A claim, volume or class changed: binding tasks look again, pods they ruled out are retried."""
        self.volume_binder.notify()
        if self.queue.unschedulable_count:
            self.queue.move_all()

    def _volume_handler(self, put: Callable[[Obj], None], remove: Callable[[str], None]) -> EventHandler:
        """Informer handlers feeding one kind of :class:`~.volumes.VolumeState` (claims, volumes or classes)."""

        def on_add(obj: Obj, initial: bool = False) -> None:
            put(obj)
            self._volumes_changed()

        def on_delete(obj: Obj | DeletedFinalStateUnknown) -> None:
            remove(obj.key if isinstance(obj, DeletedFinalStateUnknown) else object_key(obj))
            self.volume_binder.notify()

        return EventHandler(on_add, lambda old, new: on_add(new), on_delete)

    def priority_of(self, pod: Obj) -> int:
        """The pod's priority: ``spec.priority``, else its class's value, else the global default."""
        spec = pod.get("spec") or {}
        if spec.get("priority") is not None:
            return int(spec["priority"])
        name = spec.get("priorityClassName")
        if name:
            value = self.priority_classes.get(str(name), SYSTEM_PRIORITY_CLASSES.get(str(name)))
            if value is not None:
                return value
        return self.default_priority

    def _on_pod(self, obj: Obj, initial: bool = False) -> None:
        self._pod_changed(None, obj)

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        self._pod_changed(old, new)

    def _pod_changed(self, old: Obj | None, pod: Obj) -> None:
        meta = pod["metadata"]
        key = f"{meta.get('namespace')}/{meta['name']}"
        spec = pod.get("spec") or {}
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):  # finished pods hold nothing on their node
            self.queue.delete(key)
            if self.state.remove_pod(key) is not None:
                self.queue.move_all()
            return
        if spec.get("nodeName"):
            self.queue.delete(key)
            self.state.unnominate(key)
            info = PodInfo.of(pod, self.priority_of(pod))
            if key in self.state.assumed:
                self.state.confirm(info)
            else:
                self.state.add_pod(info)
            newly_placed = old is None or not (old.get("spec") or {}).get("nodeName")
            relabelled = old is not None and (old["metadata"].get("labels") != meta.get("labels"))
            if self.queue.unschedulable_count and (newly_placed or relabelled):
                self.queue.move_all()  # a placed pod may satisfy someone's affinity or spread
            return
        if key in self.state.pods:  # assumed, binding in flight: the informer has not caught up
            return
        if spec.get("schedulerName", DEFAULT_SCHEDULER_NAME) != self.scheduler_name or meta.get("deletionTimestamp"):
            self.queue.delete(key)
            self.state.unnominate(key)
            return
        if spec.get("schedulingGates"):
            return
        changed = old is None or _spec_of_interest(old) != _spec_of_interest(pod)
        info = PodInfo.of(pod, self.priority_of(pod))
        nominated = (pod.get("status") or {}).get("nominatedNodeName")
        if nominated:
            self.state.nominate(info, str(nominated))
        else:
            self.state.unnominate(key)
        self.queue.add(info, changed=changed)

    def _on_pod_delete(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            key = obj.key
        else:
            key = f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
        self.queue.delete(key)
        self.state.unnominate(key)
        if self.state.remove_pod(key) is not None:
            self.queue.move_all()

    # ---- the loop ----------------------------------------------------------------------
    async def run(self) -> None:
        """Schedule pods until cancelled."""
        for informer in self._informers:
            await informer.wait_for_sync()
        flusher = asyncio.create_task(self.queue.run(), name="scheduling queue flush")
        self.started_at = self.manager.clock.now()
        try:
            while True:
                entry = await self.queue.pop()
                await self._slots.acquire()
                self._slots.release()
                self.schedule_one(entry)
                await asyncio.sleep(0)  # let informer events and bindings progress between pods
        finally:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
            await self.drain()

    async def drain(self) -> None:
        """Wait for the bindings and status writes in flight."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.recorder.flush()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def schedule_one(self, entry: QueuedPod) -> None:
        """Decide for one pod; the binding (or the failure report) continues in the background."""
        pod = entry.info
        try:
            node = self.framework.schedule(pod)
        except FitError as exc:
            self._unschedulable(entry, exc)
            return
        plan = self.volume_binder.reserve(pod, node) if pod.claims else None
        assumed = dataclasses.replace(pod, node=node.name)
        self.state.assume(assumed, node.name)
        self.state.unnominate(pod.key)
        self._spawn(self._bind(entry, assumed, plan))

    async def _bind(self, entry: QueuedPod, pod: PodInfo, plan: PodVolumes | None = None) -> None:
        if plan is not None and not await self._bind_volumes(entry, pod, plan):
            return
        async with self._slots:
            try:
                await self.rest.bind(pod.namespace, pod.name, pod.node, uid=pod.uid or None)
            except errors.NotFound:
                self.state.forget(pod.key)
                self.queue.delete(pod.key)
                return
            except Exception as exc:
                # A pod of a namespace being deleted is about to go: its binding failing is no news.
                level = logging.DEBUG if errors.namespace_terminating(exc) else logging.WARNING
                log.log(level, "binding %s to %s failed: %r", pod.key, pod.node, exc)
                self.state.forget(pod.key)
                self.queue.retry(entry)
                return
        self.queue.delete(pod.key)
        self.scheduled += 1
        if self.record_scheduled_events:
            note = f"Successfully assigned {pod.namespace}/{pod.name} to {pod.node}"
            self.recorder.event(pod.pod, NORMAL, "Scheduled", note, action="Binding")

    async def _bind_volumes(self, entry: QueuedPod, pod: PodInfo, plan: PodVolumes) -> bool:
        """PreBind: bind the pod's claims on its node first; False (pod reported and requeued) if that fails."""
        try:
            await self.volume_binder.bind(pod, pod.node, plan, lambda: pod.key in self.state.pods)
        except VolumeBindingError as exc:
            self.volume_binder.unreserve(plan)
            self.state.forget(pod.key)
            if pod.key not in self.queue:
                return False  # deleted meanwhile
            message = str(exc)
            log.info("binding the volumes of %s on %s failed: %s", pod.key, pod.node, message)
            self.queue.retry(entry)
            self.recorder.event(pod.pod, WARNING, "FailedScheduling", message, action="Scheduling")
            await self._report_unschedulable(pod, message, None, reason="SchedulerError")
            return False
        return True

    def _unschedulable(self, entry: QueuedPod, exc: FitError) -> None:
        pod = entry.info
        diagnosis = exc.diagnosis
        nominated: str | None = None  # None: leave status.nominatedNodeName as it is; "": clear it
        if diagnosis.num_nodes:
            outcome = preempt(pod, self.state, diagnosis)
            diagnosis.post_filter_message = outcome.message
            if outcome.node is not None:
                nominated = outcome.node.name
                self.state.nominate(pod, nominated)
                for victim in outcome.victims:
                    self._spawn(self._evict_victim(victim, pod, nominated))
            elif outcome.searched:
                nominated = ""  # no node can be made room on: a former nomination no longer holds
        message = diagnosis.message()
        self.queue.unschedulable(entry)
        self.recorder.event(pod.pod, WARNING, "FailedScheduling", message, action="Scheduling")
        self._spawn(self._report_unschedulable(pod, message, nominated))

    async def _report_unschedulable(
        self, pod: PodInfo, message: str, nominated: str | None, *, reason: str = "Unschedulable"
    ) -> None:
        """Set PodScheduled=False (and the nominated node) unless the pod already says so."""
        wanted = {"type": "PodScheduled", "status": "False", "reason": reason, "message": message}
        current = condition(pod.pod, "PodScheduled") or {}
        status = pod.pod.get("status") or {}
        same = all(current.get(k) == v for k, v in wanted.items())
        if same and (nominated is None or (status.get("nominatedNodeName") or "") == nominated):
            return
        probe: Obj = {"status": {"conditions": [dict(current)] if current else []}}
        set_pod_condition(probe, wanted)
        patch: Obj = {"status": {"conditions": probe["status"]["conditions"]}}
        if nominated is not None:
            patch["status"]["nominatedNodeName"] = nominated or None  # null removes it
        try:
            await self.rest.patch(
                PODS, pod.name, patch, pod.namespace, patch_type=_STRATEGIC, subresource="status",
                field_manager=FIELD_MANAGER,
            )  # fmt: skip
        except errors.NotFound:
            pass
        except Exception as exc:
            log.warning("could not report %s unschedulable: %r", pod.key, exc)

    async def _evict_victim(self, victim: PodInfo, preemptor: PodInfo, node: str) -> None:
        """Delete a preemption victim gracefully, saying why (DisruptionTarget, a Preempted event)."""
        target = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "PreemptionByScheduler",
            "message": f"{self.scheduler_name}: preempting to accommodate a higher priority pod",
        }
        probe: Obj = {"status": {}}
        set_pod_condition(probe, target)
        try:
            await self.rest.patch(
                PODS, victim.name, probe, victim.namespace, patch_type=_STRATEGIC, subresource="status",
                field_manager=FIELD_MANAGER,
            )  # fmt: skip
            await self.rest.delete(PODS, victim.name, victim.namespace, preconditions={"uid": victim.uid})
        except errors.NotFound:
            return
        except Exception as exc:
            log.warning("could not preempt %s for %s: %r", victim.key, preemptor.key, exc)
            return
        note = f"Preempted by pod {preemptor.uid} on node {node}"
        self.recorder.event(victim.pod, NORMAL, "Preempted", note, action="Preempting")
