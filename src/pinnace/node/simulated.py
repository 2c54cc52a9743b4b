"""Simulated nodes (the kwok idea): many Nodes whose pods only pretend to run, kept up by one loop.

``await add_simulated_nodes(manager, 1000)`` registers Nodes ``sim-node-0`` …
``sim-node-999`` that look to every client like nodes with a v1.32 kubelet:
capacity and allocatable, addresses, nodeInfo, labels
(``kubernetes.io/hostname``, ``kubernetes.io/os``, ``kubernetes.io/arch``,
``node.kubernetes.io/instance-type=simulated``, role ``agent``) and the
annotation ``pinnace.dev/simulated: "true"`` (and a local-path root, so claims of
the default StorageClass bind on them too). They are not N agents but one
:class:`SimulatedNodes` runnable in the manager:

- **Heartbeats.** Each node's Lease in ``kube-node-lease`` is renewed every
  ``heartbeat_interval`` (upstream: 10 s of a 40 s lease); renewals are
  spread evenly over the interval and sent a few at a time. Node status
  (conditions with ``lastHeartbeatTime``) is posted every ``status_interval``
  (upstream's nodeStatusReportFrequency, 5 min) — and at the next heartbeat
  when someone else changed it, e.g. the node lifecycle controller marking it
  Unknown.
- **Pods.** A pod bound to a simulated node (``spec.nodeName``; one shared
  pod informer with a ``spec.nodeName`` field index) goes Running and Ready
  as a kubelet reports it: hostIP, a podIP from the node's ``podCIDR`` (a /24
  per node from ``cluster_cidr``, 10.244.0.0/16; nodes past its 256th carry
  on into the following addresses, 10.245.0.0/24 …, so 1,000-node runs work),
  startTime, container statuses (running, ready, ``sim://`` IDs), init
  containers completed, and the conditions PodReadyToStartContainers,
  Initialized, Ready, ContainersReady and PodScheduled. Updates go through a
  small pool of workers on a deduplicating work queue.
- **Completion, on request.** A pod annotated ``pinnace.dev/sim-exit-after:
  "2s"`` (a Go duration) has its containers exit that long after they
  started, with ``pinnace.dev/sim-exit-code`` (default ``"0"``). By
  restartPolicy, as a kubelet: ``Never`` → phase Succeeded (code 0) or
  Failed; ``OnFailure`` → Succeeded on 0, else restarted; ``Always`` →
  restarted (restartCount grows, lastState says how it ended). Jobs finish
  this way.
- **Deletion.** A pod with a deletionTimestamp is "stopped" for
  ``termination_delay`` seconds (not its whole grace period) and then deleted
  with ``gracePeriodSeconds=0`` (and its UID as precondition), as a kubelet
  finishes a graceful deletion — so ``kubectl delete pod`` returns promptly.
- **Going away.** :meth:`SimulatedNodes.pause` stops a node's heartbeat and
  pod updates, as if its kubelet died; :meth:`SimulatedNodes.resume` brings
  it back. From outside the process, the label or annotation
  ``pinnace.dev/sim-paused: "true"`` on the Node does the same
  (``kubectl annotate node sim-node-1 pinnace.dev/sim-paused=true``);
  removing it resumes. A Node deleted by a user is no longer simulated;
  :meth:`SimulatedNodes.add_node` adds one at run time; :meth:`stop` stops
  them all (their Nodes stay and go NotReady, as with stopped kubelets).
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import ipaddress
import itertools
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pinnace.api import errors
from pinnace.api.volumes import ANN_LOCAL_PATH_ROOT
from pinnace.client.rest import ResourceRef
from pinnace.node import simstatus as st
from pinnace.runtime.cache.delta_fifo import DeletedFinalStateUnknown
from pinnace.runtime.cache.indexer import object_key
from pinnace.runtime.cache.informer import EventHandler, Informer
from pinnace.runtime.manager import Manager
from pinnace.runtime.nodeindex import ensure_pod_node_index, pods_on
from pinnace.runtime.workqueue import ShutDown, WorkQueue

__all__ = ["SimNodeOptions", "SimulatedNodes", "add_simulated_nodes"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

NODES = ResourceRef("", "v1", "nodes", namespaced=False)
PODS = ResourceRef("", "v1", "pods")
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases")
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)


@dataclass(frozen=True)
class SimNodeOptions:
    """What simulated nodes look like and how often they report (upstream's kubelet defaults)."""

    name_prefix: str = "sim-node-"
    cpu: str = "8"
    memory: str = "32Gi"
    pods: int = 110
    ephemeral_storage: str = "100Gi"
    arch: str = "amd64"
    roles: tuple[str, ...] = ("agent",)
    labels: tuple[tuple[str, str], ...] = ()
    #: Lease renewal period (kubelet: a quarter of the lease, 10 s).
    heartbeat_interval: float = 10.0
    #: leaseDurationSeconds of the node Leases (kubelet: 40).
    lease_duration: int = 40
    #: How often node status is posted when nothing changed (kubelet's nodeStatusReportFrequency: 5 min).
    status_interval: float = 300.0
    #: How long a deleted pod takes to "stop" before it is removed.
    termination_delay: float = 0.25
    #: Pod status workers.
    workers: int = 4
    #: Writes (lease renewals, node registrations) in flight at once.
    max_in_flight: int = 16
    cluster_cidr: str = "10.244.0.0/16"
    node_cidr_mask: int = 24
    #: Node InternalIPs: the first node gets the address after this one.
    node_ip_base: str = "172.20.0.0"


@dataclass
class _SimNode:
    name: str
    index: int
    uid: str
    internal_ip: str
    ips: st.PodIPs
    #: Paused by :meth:`SimulatedNodes.pause`.
    held: bool = False
    #: Paused by the ``pinnace.dev/sim-paused`` mark on the Node.
    marked: bool = False

    @property
    def paused(self) -> bool:
        """Whether its "kubelet" is down: no heartbeats, no pod updates."""
        return self.held or self.marked

    #: Pods whose IP this node handed out: pod key -> IP.
    pod_ips: dict[str, str] = field(default_factory=dict)


def _duration(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, st.parse_duration(str(value)))
    except ValueError:
        return None


def _parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _paused(node: Obj) -> bool:
    meta = node.get("metadata") or {}
    marks = [
        (meta.get("annotations") or {}).get(st.ANNOTATION_PAUSED),
        (meta.get("labels") or {}).get(st.ANNOTATION_PAUSED),
    ]
    return "true" in marks


class SimulatedNodes:
    """N simulated kubelets in one runnable: registration, heartbeats, pod status, deletion."""

    name = "simulated-nodes"
    #: Kubelets run everywhere, leader or not.
    needs_leader_election = False

    def __init__(self, manager: Manager, count: int, options: SimNodeOptions | None = None) -> None:
        self.manager = manager
        self.options = options or SimNodeOptions()
        self.clock = manager.clock
        self.rest = manager.rest
        self._wanted = [f"{self.options.name_prefix}{i}" for i in range(count)]
        self.nodes: dict[str, _SimNode] = {}
        self.queue: WorkQueue[str] = WorkQueue("simulated-pods", clock=self.clock)
        self.registered = asyncio.Event()
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._schedule: list[tuple[float, int, str, str]] = []  # (deadline, seq, what, node)
        self._seq = itertools.count()
        self._used_indexes: set[int] = set()
        self._terminating: dict[str, float] = {}
        self._writes = asyncio.Semaphore(self.options.max_in_flight)
        self._inflight: set[asyncio.Task[Any]] = set()
        self._pods: Informer | None = None
        self._node_informer: Informer | None = None
        self._done = asyncio.Event()
        self._node_handler = EventHandler(on_update=self._node_changed, on_delete=self._node_deleted)
        self._pod_handler = EventHandler(
            on_add=lambda pod, _initial: self._pod_changed(pod),
            on_update=lambda _old, pod: self._pod_changed(pod),
            on_delete=self._pod_deleted,
        )

    # ---- public controls -----------------------------------------------------------
    async def wait_registered(self, timeout: float = 60.0) -> None:
        """Wait until the initial nodes are registered (TimeoutError if not within ``timeout``)."""
        await asyncio.wait_for(self.registered.wait(), timeout)

    def pause(self, name: str) -> None:
        """Stop ``name``'s heartbeat and pod updates, as if its kubelet died."""
        self.nodes[name].held = True

    def resume(self, name: str) -> None:
        """Restart ``name``'s heartbeat (at once) and pod updates."""
        node = self.nodes[name]
        node.held = False
        self._wake_node(node)

    def _wake_node(self, node: _SimNode) -> None:
        if not node.paused:
            self._due(node.name, "lease", self.clock.now())
            self._enqueue_pods(node.name)

    async def add_node(self, name: str | None = None) -> Obj:
        """Register one more simulated node (the next free ``sim-node-N`` unless named); returns the Node."""
        if name is None:
            taken = set(self.nodes) | set(self._wanted)
            name = next(
                f"{self.options.name_prefix}{i}"
                for i in itertools.count()
                if f"{self.options.name_prefix}{i}" not in taken
            )
        return await self._register(name)

    async def stop(self) -> None:
        """Stop simulating (Nodes stay, and go NotReady as nodes with stopped kubelets do)."""
        self._stop.set()
        self._wake.set()
        await self._done.wait()

    # ---- running -------------------------------------------------------------------
    async def run(self) -> None:
        """Register the nodes, then heartbeat and serve pods until stopped or cancelled."""
        try:
            await self._start()
            workers = [
                asyncio.create_task(self._worker(), name=f"sim pod worker {i}") for i in range(self.options.workers)
            ]
            try:
                await self._heartbeat_loop()
            finally:
                self.queue.shut_down()
                for task in [*workers, *self._inflight]:
                    task.cancel()
                await asyncio.gather(*workers, *self._inflight, return_exceptions=True)
        finally:
            if self._pods is not None:
                self._pods.remove_event_handler(self._pod_handler)
            if self._node_informer is not None:
                self._node_informer.remove_event_handler(self._node_handler)
            self._done.set()

    async def _start(self) -> None:
        cache = self.manager.cache
        self._pods = await ensure_pod_node_index(self.manager.cache)
        self._node_informer = await cache.informer_for("v1/Node")
        await cache.informer_for("v1/Pod")
        with contextlib.suppress(errors.AlreadyExists):
            try:
                await self.rest.get(NAMESPACES, st.NODE_LEASE_NAMESPACE)
            except errors.NotFound:
                await self.rest.create(NAMESPACES, {"metadata": {"name": st.NODE_LEASE_NAMESPACE}})
        for node in self._node_informer.indexer.objects():
            spec_cidr = (node.get("spec") or {}).get("podCIDR")
            if ((node.get("metadata") or {}).get("annotations") or {}).get(st.ANNOTATION_SIMULATED) and spec_cidr:
                index = self._index_of(spec_cidr)
                if index is not None:
                    self._used_indexes.add(index)
        await asyncio.gather(*(self._register(name) for name in self._wanted))
        self._node_informer.add_event_handler(self._node_handler)
        self._pods.add_event_handler(self._pod_handler)
        self.registered.set()

    # ---- registration ----------------------------------------------------------------
    def _index_of(self, cidr: str) -> int | None:
        base = ipaddress.ip_network(self.options.cluster_cidr).network_address
        try:
            offset = int(ipaddress.ip_network(cidr).network_address) - int(base)
        except ValueError:
            return None
        size = 2 ** (32 - self.options.node_cidr_mask)
        return offset // size if offset >= 0 and offset % size == 0 else None

    def _cidr_of(self, index: int) -> str:
        base = ipaddress.ip_network(self.options.cluster_cidr).network_address
        size = 2 ** (32 - self.options.node_cidr_mask)
        return f"{base + index * size}/{self.options.node_cidr_mask}"

    def _free_index(self) -> int:
        index = next(i for i in itertools.count() if i not in self._used_indexes)
        self._used_indexes.add(index)
        return index

    async def _register(self, name: str) -> Obj:
        """Create the Node (or adopt the simulated Node of that name left by an earlier run) and its Lease."""
        assert self._node_informer is not None
        if name in self.nodes:
            raise ValueError(f"node {name!r} is already simulated")
        opts = self.options
        existing = self._node_informer.indexer.get(name)
        async with self._writes:
            if existing is None:
                index = self._free_index()
                internal_ip = str(ipaddress.ip_address(opts.node_ip_base) + index + 1)
                body = st.node_object(
                    name,
                    internal_ip=internal_ip,
                    pod_cidr=self._cidr_of(index),
                    cpu=opts.cpu,
                    memory=opts.memory,
                    pods=opts.pods,
                    ephemeral_storage=opts.ephemeral_storage,
                    arch=opts.arch,
                    roles=opts.roles,
                    labels=dict(opts.labels),
                    now=self.clock.wall(),
                )
                try:
                    node = await self.rest.create(NODES, body)
                except errors.AlreadyExists:
                    node = await self.rest.get(NODES, name)
            else:
                node = existing
            annotations = (node.get("metadata") or {}).get("annotations") or {}
            if not annotations.get(st.ANNOTATION_SIMULATED):
                raise ValueError(f"node {name!r} exists and is not a simulated node")
            if ANN_LOCAL_PATH_ROOT not in annotations:  # a node from before simulated nodes published one
                root = {ANN_LOCAL_PATH_ROOT: st.simulated_local_path_root(name)}
                node = await self.rest.patch(NODES, name, {"metadata": {"annotations": root}})
            cidr = (node.get("spec") or {}).get("podCIDR") or self._cidr_of(self._free_index())
            found = self._index_of(cidr)
            if found is not None:
                self._used_indexes.add(found)
            addresses = (node.get("status") or {}).get("addresses") or []
            internal = next((a["address"] for a in addresses if a.get("type") == "InternalIP"), None)
            sim = _SimNode(
                name=name,
                index=found if found is not None else -1,
                uid=node["metadata"]["uid"],
                internal_ip=internal or str(ipaddress.ip_address(opts.node_ip_base) + (found or 0) + 1),
                ips=st.PodIPs(cidr),
                marked=_paused(node),
            )
            self.nodes[name] = sim
            if existing is not None:
                await self._post_status(sim)
            await self._renew(sim)
        self._adopt_pods(sim)
        now = self.clock.now()
        n = max(1, len(self._wanted))
        spread = (sim.index % n) / n if sim.index >= 0 else 0.0
        self._due(name, "lease", now + spread * opts.heartbeat_interval)
        self._due(name, "status", now + opts.status_interval * (1 + spread))
        return node

    def _adopt_pods(self, node: _SimNode) -> None:
        if self._pods is None:
            return
        for pod in pods_on(self._pods.indexer, node.name):
            ip = (pod.get("status") or {}).get("podIP")
            if ip:
                node.ips.reserve(ip)
                node.pod_ips[object_key(pod)] = ip
            self.queue.add(object_key(pod))

    # ---- heartbeats ------------------------------------------------------------------
    def _due(self, name: str, what: str, deadline: float) -> None:
        heapq.heappush(self._schedule, (deadline, next(self._seq), what, name))
        self._wake.set()

    async def _heartbeat_loop(self) -> None:
        opts = self.options
        while not self._stop.is_set():
            now = self.clock.now()
            while self._schedule and self._schedule[0][0] <= now:
                deadline, _, what, name = heapq.heappop(self._schedule)
                node = self.nodes.get(name)
                if node is None:
                    continue  # deleted: no longer simulated
                interval = opts.heartbeat_interval if what == "lease" else opts.status_interval
                # Keep each node's phase (deadline + interval), so renewals stay spread over the interval.
                next_deadline = deadline + interval if deadline + interval > now else now + interval
                self._due(name, what, next_deadline)
                if node.paused:
                    continue
                self._spawn(self._heartbeat(node, what))
            self._wake.clear()
            delay = self._schedule[0][0] - self.clock.now() if self._schedule else opts.heartbeat_interval
            sleeper = asyncio.ensure_future(self.clock.sleep(max(delay, 0.0)))
            waker = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                sleeper.cancel()
                waker.cancel()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _heartbeat(self, node: _SimNode, what: str) -> None:
        async with self._writes:
            try:
                if what == "lease":
                    await self._renew(node)
                    if not self._status_healthy(node):
                        await self._post_status(node)
                else:
                    await self._post_status(node)
            except errors.NotFound:
                pass  # the node is being deleted; the informer will tell
            except Exception as exc:
                log.warning("simulated node %s: %s heartbeat failed: %r", node.name, what, exc)

    def _status_healthy(self, node: _SimNode) -> bool:
        assert self._node_informer is not None
        cached = self._node_informer.indexer.get(node.name)
        if cached is None:
            return True
        return st.conditions_healthy((cached.get("status") or {}).get("conditions") or [])

    async def _renew(self, node: _SimNode) -> None:
        now = self.clock.wall()
        try:
            await self.rest.patch(
                LEASES,
                node.name,
                {"spec": {"renewTime": st.rfc3339_micro(now), "holderIdentity": node.name}},
                st.NODE_LEASE_NAMESPACE,
            )
        except errors.NotFound:
            body = st.lease_object(
                {"metadata": {"name": node.name, "uid": node.uid}}, duration=self.options.lease_duration, now=now
            )
            with contextlib.suppress(errors.AlreadyExists):
                await self.rest.create(LEASES, body, st.NODE_LEASE_NAMESPACE)

    async def _post_status(self, node: _SimNode) -> None:
        assert self._node_informer is not None
        cached = self._node_informer.indexer.get(node.name) or {}
        previous = (cached.get("status") or {}).get("conditions") or []
        conditions = st.node_conditions(self.clock.wall(), previous)
        await self.rest.patch(NODES, node.name, {"status": {"conditions": conditions}}, subresource="status")

    # ---- informer events ---------------------------------------------------------------
    def _node_changed(self, _old: Obj, new: Obj) -> None:
        node = self.nodes.get(new["metadata"]["name"])
        if node is None or new["metadata"].get("uid") != node.uid:
            return
        marked = _paused(new)
        if marked != node.marked:
            log.info("simulated node %s %s (%s)", node.name, "paused" if marked else "resumed", st.ANNOTATION_PAUSED)
            node.marked = marked
            self._wake_node(node)

    def _node_deleted(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        node_obj = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        name = node_obj["metadata"]["name"]
        node = self.nodes.get(name)
        if node is not None and node_obj["metadata"].get("uid") == node.uid:
            log.info("simulated node %s deleted: no longer simulated", name)
            del self.nodes[name]
            self._used_indexes.discard(node.index)

    def _pod_changed(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and node in self.nodes:
            self.queue.add(object_key(pod))

    def _pod_deleted(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        pod = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        key = object_key(pod)
        self._terminating.pop(key, None)
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is not None:
            ip = node.pod_ips.pop(key, None)
            if ip is not None:
                node.ips.release(ip)

    def _enqueue_pods(self, name: str) -> None:
        if self._pods is not None:
            for pod in pods_on(self._pods.indexer, name):
                self.queue.add(object_key(pod))

    # ---- pods ----------------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self._sync_pod(key)
            except errors.NotFound:
                pass
            except errors.Conflict:
                self.queue.add_after(key, 0.1)
            except Exception as exc:
                log.warning("simulated pod %s: %r; retrying", key, exc)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def _sync_pod(self, key: str) -> None:
        """Converge one pod as its kubelet would: finish its deletion, run it, or end its containers."""
        assert self._pods is not None
        pod = self._pods.indexer.get(key)
        if pod is None:
            return
        node = self.nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if node is None or node.paused:
            return
        meta = pod["metadata"]
        if meta.get("deletionTimestamp"):
            await self._finish_deletion(key, pod)
            return
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return
        exit_after = _duration((meta.get("annotations") or {}).get(st.ANNOTATION_EXIT_AFTER))
        if _running(pod):
            if exit_after is not None:
                await self._maybe_exit(key, pod, node, exit_after)
            return
        ip = status.get("podIP") or node.pod_ips.get(key) or node.ips.allocate()
        node.pod_ips[key] = ip
        body = st.running_status(pod, host_ip=node.internal_ip, pod_ip=ip, now=self.clock.wall())
        await self._write_status(pod, body)
        if exit_after is not None:
            self.queue.add_after(key, exit_after)

    async def _finish_deletion(self, key: str, pod: Obj) -> None:
        now = self.clock.now()
        deadline = self._terminating.setdefault(key, now + self.options.termination_delay)
        if now < deadline:
            self.queue.add_after(key, deadline - now)
            return
        meta = pod["metadata"]
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.rest.delete(
                PODS, meta["name"], meta["namespace"], gracePeriodSeconds=0, preconditions={"uid": meta["uid"]}
            )

    async def _maybe_exit(self, key: str, pod: Obj, node: _SimNode, exit_after: float) -> None:
        status = pod.get("status") or {}
        first = (status.get("containerStatuses") or [{}])[0]
        started = ((first.get("state") or {}).get("running") or {}).get("startedAt")
        now = self.clock.wall()
        if started:
            remaining = exit_after - (now - _parse_time(started)).total_seconds()
            if remaining > 0:
                self.queue.add_after(key, remaining)
                return
        meta = pod["metadata"]
        try:
            code = int((meta.get("annotations") or {}).get(st.ANNOTATION_EXIT_CODE) or 0)
        except ValueError:
            code = 1
        policy = (pod.get("spec") or {}).get("restartPolicy") or "Always"
        if policy == "Never" or (policy == "OnFailure" and code == 0):
            await self._write_status(pod, st.terminated_status(pod, exit_code=code, now=now))
            return
        restarts = int(first.get("restartCount") or 0) + 1
        last = st.last_terminated(pod, exit_code=code, now=now)
        ip = status.get("podIP") or node.pod_ips.get(key) or node.ips.allocate()
        body = st.running_status(
            pod, host_ip=node.internal_ip, pod_ip=ip, now=now, restart_count=restarts, last_state=last
        )
        await self._write_status(pod, body)
        self.queue.add_after(key, exit_after)

    async def _write_status(self, pod: Obj, status: Obj) -> None:
        """Patch the pod's status, keeping conditions others own (DisruptionTarget, readiness gates)."""
        ours = {c["type"] for c in status.get("conditions") or []}
        foreign = [c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") not in ours]
        status["conditions"] = [*status.get("conditions", []), *foreign]
        meta = pod["metadata"]
        await self.rest.patch(PODS, meta["name"], {"status": status}, meta["namespace"], subresource="status")


def _running(pod: Obj) -> bool:
    """Whether the pod's status already says every container runs and it is Ready."""
    status = pod.get("status") or {}
    if status.get("phase") != "Running" or not status.get("podIP"):
        return False
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
    statuses = status.get("containerStatuses") or []
    return ready and len(statuses) == len((pod.get("spec") or {}).get("containers") or [])


async def add_simulated_nodes(
    manager: Manager,
    count: int,
    *,
    name_prefix: str = "sim-node-",
    cpu: str = "8",
    memory: str = "32Gi",
    pods: int = 110,
    heartbeat_interval: float = 10.0,
    status_interval: float = 300.0,
    termination_delay: float = 0.25,
    workers: int = 4,
    **options: Any,
) -> SimulatedNodes:
    """Run ``count`` simulated nodes in ``manager`` (see the module docstring); other ``options`` as SimNodeOptions."""
    opts = SimNodeOptions(
        name_prefix=name_prefix,
        cpu=cpu,
        memory=memory,
        pods=pods,
        heartbeat_interval=heartbeat_interval,
        status_interval=status_interval,
        termination_delay=termination_delay,
        workers=workers,
        **options,
    )
    sim = SimulatedNodes(manager, count, opts)
    manager.add(sim, needs_leader_election=False)
    return sim
