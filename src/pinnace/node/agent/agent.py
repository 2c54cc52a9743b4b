"""The node agent (the kubelet): registers its Node, watches its pods and runs them on a runtime.

:class:`NodeAgent` wires the parts together and runs them until cancelled:

- :class:`~.registration.NodeRegistration` — the Node, its Lease, its status, and
  the ``pinnace.dev/local-path-root`` annotation: the directory under which the
  local-path provisioner makes this node's persistent volumes;
- a pod informer with ``fieldSelector=spec.nodeName=<node>`` (only this node's
  pods reach it), feeding a deduplicating work queue;
- ``workers`` pod workers running :class:`~.pods.PodSync` per pod (one pod is
  never synced by two workers at once);
- the PLEG (pod lifecycle event generator): a relist of the runtime's
  containers every ``relist_period``; a container that changed state requeues
  its pod, so exits are seen within that period;
- housekeeping: sandboxes of pods that are gone from the API (deleted while
  the agent was down, or force-deleted) are stopped and removed;
- graceful termination: a pod with a deletionTimestamp is stopped in a task of
  its own (so a long grace period does not hold a worker), then deleted with
  ``gracePeriodSeconds=0`` and its UID as precondition.

Extension points: ``probes`` (see :mod:`.probes`) and the kubelet API, which
:meth:`NodeAgent.start_kubelet_api` starts (``node/server.py``'s
``KubeletServer(runtime, pods, host, port)`` goes there; :meth:`NodeAgent.pods`
lists the pods it serves).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from pinnace.api import errors
from pinnace.api.volumes import ANN_LOCAL_PATH_ROOT
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.node import cri
from pinnace.node.agent import dnsconfig
from pinnace.node.agent.backoff import CrashBackoff
from pinnace.node.agent.env import kubernetes_service_env
from pinnace.node.agent.pods import PodSync
from pinnace.node.agent.probes import NoProbes, ProbeManager
from pinnace.node.agent.registration import NodeRegistration
from pinnace.node.agent.volumes import VolumeManager
from pinnace.node.kubeletauth import kubelet_security
from pinnace.node.probes import NodeProbes
from pinnace.node.server import KubeletServer
from pinnace.runtime.cache.delta_fifo import DeletedFinalStateUnknown
from pinnace.runtime.cache.indexer import object_key
from pinnace.runtime.cache.informer import EventHandler, Informer
from pinnace.runtime.cache.reflector import RestListerWatcher
from pinnace.runtime.clock import Clock, RealClock
from pinnace.runtime.events import EventRecorder
from pinnace.runtime.workqueue import ShutDown, WorkQueue

__all__ = ["AgentConfig", "NodeAgent"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
PODS = ResourceRef("", "v1", "pods")
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
SECRETS = ResourceRef("", "v1", "secrets")


#: Something a node runs beside its agent (the service proxy): given the agent's API client and configuration once
#: the node is registered, a coroutine that runs with the agent's loops, or None when it cannot run here.
Companion = Callable[[RestClient, "AgentConfig"], Coroutine[Any, Any, None] | None]


@dataclass(frozen=True)
class AgentConfig:
    """How one node agent runs (the kubelet's flags and configuration, by their upstream defaults)."""

    node_name: str
    data_dir: Path
    #: The node's InternalIP (process pods share it: it is their pod IP too).
    node_ip: str = "127.0.0.1"
    #: Where the kubelet API listens (status.daemonEndpoints.kubeletEndpoint.Port).
    kubelet_port: int = 10250
    #: A pod CIDR to set on the Node at registration when it has none (the launcher's IPAM; "" leaves it).
    pod_cidr: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    #: --register-with-taints
    taints: Sequence[Obj] = ()
    heartbeat_interval: float = 10.0
    lease_duration: int = 40
    status_update_frequency: float = 10.0
    status_report_frequency: float = 300.0
    #: CrashLoopBackOff's initial and largest back-off (upstream 10 s and 5 min).
    backoff_base: float = 10.0
    backoff_max: float = 300.0
    #: PLEG relist period (upstream 1 s).
    relist_period: float = 0.5
    #: How often ConfigMap/Secret/downward API volumes are refreshed.
    volume_refresh_period: float = 30.0
    #: How often each running pod is synced even without events (upstream --sync-frequency, 1 min).
    sync_frequency: float = 60.0
    #: Pods synced at once. The kubelet has a worker per pod; a pod start mostly waits (on the runtime's
    #: processes, the API server), so a few workers would queue pods created at 10/s behind each other.
    workers: int = 16
    #: How often unused images are garbage-collected under disk pressure (upstream's image GC period, 5 min).
    image_gc_period: float = 300.0
    #: The image GC thresholds (a ``pinnace.node.images.gc.ImageGCPolicy``; None: upstream's 85%/80%, 2 min age).
    image_gc_policy: Any = None
    #: PEM of ``authentication.x509.clientCAFile`` (the cluster CA): set, the kubelet API is HTTPS with authn/authz.
    client_ca: bytes | None = None
    #: serverTLSBootstrap: serve with a certificate the cluster CA issues for a kubelet-serving CSR (not self-signed).
    server_tls_bootstrap: bool = False
    #: What the node runs beside the agent once it is registered, by name (the service proxy: composed in by
    #: :mod:`pinnace.cluster.node_main`, since node/ does not import the layers above it).
    companions: tuple[tuple[str, Companion], ...] = ()
    #: KubeletConfiguration clusterDNS: the cluster DNS server(s) ClusterFirst pods resolve with (none: such pods
    #: fall back to the Default policy, with a MissingClusterDNS warning).
    cluster_dns: tuple[str, ...] = ()
    #: clusterDomain: the domain of Services and pods (``<ns>.svc.<domain>`` searches, pod FQDNs).
    cluster_domain: str = "cluster.local"
    #: --resolv-conf: the host resolver file pods start from ("" for none).
    resolv_conf: str = "/etc/resolv.conf"


class NodeAgent:
    """One node's agent (see the module docstring)."""

    name = "node-agent"

    def __init__(
        self,
        rest: RestClient,
        runtime: cri.RuntimeService,
        config: AgentConfig,
        *,
        images: cri.ImageService | None = None,
        probes: ProbeManager | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.rest = rest
        self.runtime = runtime
        self.config = config
        self.images = images
        self.probes: ProbeManager = probes or NoProbes()
        self.clock: Clock = clock or RealClock()
        self.recorder = EventRecorder(rest, "kubelet", config.node_name, clock=self.clock, core=True)
        if probes is None:
            self.probes = NodeProbes(runtime, self.recorder, clock=self.clock)
        self.queue: WorkQueue[str] = WorkQueue(f"pods-{config.node_name}", clock=self.clock)
        self.registration: NodeRegistration | None = None
        self.informer = Informer(
            RestListerWatcher(rest, PODS, field_selector=f"spec.nodeName={config.node_name}"), clock=self.clock
        )
        self.backoff = CrashBackoff(config.backoff_base, config.backoff_max, clock=self.clock)
        self.volumes = VolumeManager(
            config.data_dir / "pods",
            rest,
            self.lookup,
            allocatable=self._allocatable,
            refresh_period=config.volume_refresh_period,
            clock=self.clock,
        )
        api = urlsplit(rest.base_url)
        self.service_env = kubernetes_service_env(
            api.hostname or "127.0.0.1", api.port or (443 if api.scheme == "https" else 80)
        )
        self.sync = PodSync(
            runtime,
            volumes=self.volumes,
            lookup=self.lookup,
            recorder=self.recorder,
            probes=self.probes,
            backoff=self.backoff,
            clock=self.clock,
            log_root=config.data_dir / "logs" / "pods",
            node_ip=config.node_ip,
            service_env=self.service_env,
            allocatable=self._allocatable,
            images=images,
            dns=dnsconfig.DNSSettings(
                tuple(config.cluster_dns), config.cluster_domain, config.resolv_conf, node_name=config.node_name
            ),
        )
        self.registered = asyncio.Event()
        self._terminating: dict[str, asyncio.Task[None]] = {}
        #: When each terminating pod's containers are killed at the latest (loop time): a shorter grace period
        #: set by a later delete moves it closer (see :meth:`_hurry`).
        self._kill_by: dict[str, float] = {}
        self._written: dict[str, bytes] = {}
        self._seen: dict[str, tuple[str, float]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        #: The kubelet API, once :meth:`start_kubelet_api` has started it.
        self.kubelet: KubeletServer | None = None

    def set_probe_manager(self, probes: ProbeManager) -> None:
        """Use ``probes`` for liveness, readiness and startup (before :meth:`run`)."""
        self.probes = probes
        self.sync.probes = probes

    # ---- what others read ------------------------------------------------------------------------
    def pods(self) -> list[Obj]:
        """The pods bound to this node, as the agent last saw them."""
        return list(self.informer.indexer.objects())

    def _allocatable(self) -> Mapping[str, str]:
        return self.registration.allocatable if self.registration is not None else {}

    async def lookup(self, kind: str, namespace: str, name: str) -> Obj | None:
        """A ConfigMap or Secret the pod refers to (None if it does not exist)."""
        ref = CONFIGMAPS if kind == "ConfigMap" else SECRETS
        try:
            obj = await self.rest.get(ref, name, namespace)
        except errors.NotFound:
            return None
        obj.setdefault("kind", kind)
        return obj

    # ---- probe callbacks ---------------------------------------------------------------------------
    def on_result_changed(self, pod_uid: str) -> None:
        """A probe result changed: resync the pod."""
        key = self._key_of(pod_uid)
        if key:
            self.queue.add(key)

    def on_liveness_failure(self, pod_uid: str, container_name: str, container_id: str, message: str) -> None:
        """Restart a container whose liveness probe failed (kill it; the restart policy brings it back)."""
        key = self._key_of(pod_uid)
        pod = self.informer.indexer.get(key) if key else None
        if pod is None:
            return
        spec = pod.get("spec") or {}
        c = next((c for c in spec.get("containers") or [] if c.get("name") == container_name), None)
        grace = self._probe_kill_grace(pod, c, container_id)

        async def restart() -> None:
            instance = await self.runtime.container_status(container_id)
            await self.sync.kill_container(pod, c, instance, grace, message)
            if key:
                self.queue.add(key)

        self._spawn(restart(), f"liveness restart {container_id[:12]}")

    def _probe_kill_grace(self, pod: Obj, container: Obj | None, container_id: str) -> float:
        """The grace period of a kill for a failed liveness or startup probe, picked as the kubelet picks it: a
        pending deletion's, else the failed probe's own ``terminationGracePeriodSeconds``, else the pod's."""
        if pod["metadata"].get("deletionGracePeriodSeconds") is None and container is not None:
            failed = "livenessProbe" if self.probes.is_started(container_id) else "startupProbe"
            own = (container.get(failed) or {}).get("terminationGracePeriodSeconds")
            if own is not None:
                return float(own)
        return self._grace(pod)

    def _key_of(self, uid: str) -> str | None:
        for pod in self.informer.indexer.objects():
            if pod["metadata"].get("uid") == uid:
                return object_key(pod)
        return None

    # ---- running -------------------------------------------------------------------------------------
    async def start_kubelet_api(self) -> None:
        """Start the kubelet API on ``config.node_ip:config.kubelet_port`` (the KubeletServer of node/server.py).

        Port 0 picks a free one; the Node then reports that port in its daemonEndpoints."""
        cfg = self.config
        security = (
            kubelet_security(
                self.rest,
                cfg.node_name,
                cfg.data_dir / "pki",
                [cfg.node_ip],
                cfg.client_ca,
                server_tls_bootstrap=cfg.server_tls_bootstrap,
            )
            if cfg.client_ca
            else None
        )
        tls, auth = (security.tls, security.auth) if security is not None else (None, None)
        if security is not None and security.certificates is not None:
            self._spawn(security.certificates.run(), "serving certificate")
        self.kubelet = KubeletServer(
            self.runtime,
            self.pods,
            cfg.node_ip,
            cfg.kubelet_port,
            node_name=cfg.node_name,
            log_dir=cfg.data_dir / "logs",
            tls=tls,
            auth=auth,
        )
        try:
            await self.kubelet.start()
        except OSError as exc:
            if not cfg.kubelet_port:
                raise
            # Several nodes on one host (tests, --nodes N on loopback) cannot all have 10250.
            log.warning(
                "node %s: cannot listen on %s:%d for the kubelet API (%s); using a free port instead",
                cfg.node_name,
                cfg.node_ip,
                cfg.kubelet_port,
                exc,
            )
            self.kubelet.port = 0
            await self.kubelet.start()

    @property
    def local_path_root(self) -> Path:
        """Where the local-path provisioner makes this node's volumes (published on its Node): <data-dir>/local-path."""
        return self.config.data_dir.resolve() / "local-path"

    async def run(self) -> None:
        """Register, then run pods until cancelled (containers keep running when the agent stops)."""
        cfg = self.config
        cfg.data_dir.mkdir(parents=True, exist_ok=True)
        self.local_path_root.mkdir(parents=True, exist_ok=True)
        bind = getattr(self.probes, "bind", None)
        if bind is not None:
            bind(self)
        await self.start_kubelet_api()
        self.registration = NodeRegistration(
            self.rest,
            cfg.node_name,
            data_dir=cfg.data_dir,
            internal_ip=cfg.node_ip,
            kubelet_port=self.kubelet.port if self.kubelet is not None else cfg.kubelet_port,
            runtime_version=await self.runtime.version(),
            labels=cfg.labels,
            taints=cfg.taints,
            annotations={ANN_LOCAL_PATH_ROOT: str(self.local_path_root)},
            pod_cidr=cfg.pod_cidr,
            clock=self.clock,
            heartbeat_interval=cfg.heartbeat_interval,
            lease_duration=cfg.lease_duration,
            status_update_frequency=cfg.status_update_frequency,
            status_report_frequency=cfg.status_report_frequency,
        )
        delay = 0.5
        while True:  # as the kubelet, keep trying to register until the API server takes it
            try:
                await self.registration.register()
                break
            except (errors.StatusError, OSError) as exc:
                log.warning("node %s: registering failed (%s); retrying in %.1fs", cfg.node_name, exc, delay)
                await self.clock.sleep(delay)
                delay = min(delay * 2, 7.0)
        self.informer.add_event_handler(
            EventHandler(
                on_add=lambda pod, _initial: self.queue.add(object_key(pod)),
                on_update=lambda _old, pod: self.queue.add(object_key(pod)),
                on_delete=self._pod_deleted,
            )
        )
        self._spawn(self.informer.run(), "pod informer")
        self._spawn(self.registration.run(), "node heartbeat")
        await self.informer.wait_for_sync()
        self.registered.set()
        for i in range(cfg.workers):
            self._spawn(self._worker(), f"pod worker {i}")
        self._spawn(self._pleg(), "pleg")
        for name, companion in cfg.companions:
            work = companion(self.rest, cfg)
            if work is not None:  # else it said why it has nothing to do here
                self._spawn(work, name)
        if hasattr(self.images, "store"):
            self._spawn(self._image_gc(), "image gc")
        log.info("node %s: running pods on the %s runtime", cfg.node_name, self.runtime.name)
        try:
            await asyncio.gather(*self._tasks)
        finally:
            await self.stop()

    async def _image_gc(self) -> None:
        """Every ``image_gc_period``: free disk by removing least recently used images no container uses.

        Upstream's thresholds (start above 85% disk use, stop at 80%); images of containers that still exist
        (running or not yet removed) are in use and kept.
        """
        from pinnace.node.images.gc import collect_garbage

        store = getattr(self.images, "store", None)
        while store is not None:
            await self.clock.sleep(self.config.image_gc_period)
            try:
                containers = await self.runtime.list_containers()
                in_use = {c.image_ref or c.image for c in containers if c.image_ref or c.image}
                result = await collect_garbage(store, in_use, policy=self.config.image_gc_policy)
            except (cri.CRIError, OSError) as exc:
                log.warning("node %s: image garbage collection failed: %s", self.config.node_name, exc)
                continue
            if result.removed:
                log.info(
                    "node %s: image GC removed %d image(s), %d bytes",
                    self.config.node_name,
                    len(result.removed),
                    result.freed,
                )

    async def stop(self) -> None:
        """Stop the agent's loops (the runtime's containers stay, to be adopted by the next agent)."""
        self.queue.shut_down()
        tasks = [*self._tasks, *self._terminating.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(Exception):
            await self.probes.close()
        if self.kubelet is not None:
            await self.kubelet.stop()
            self.kubelet = None
        await self.recorder.flush()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"{self.config.node_name}: {name}")
        self._tasks.append(task)
        task.add_done_callback(self._check_task)

    def _check_task(self, task: asyncio.Task[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("node %s: %s failed: %r", self.config.node_name, task.get_name(), task.exception())

    def _pod_deleted(self, obj: Obj | DeletedFinalStateUnknown) -> None:
        pod = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        uid = str(pod["metadata"].get("uid"))
        self._written.pop(uid, None)
        if uid not in self._terminating:  # force-deleted, or deleted before it ran: release what is left
            self._terminating[uid] = asyncio.create_task(self._release_orphan(pod, uid))

    # ---- pods ---------------------------------------------------------------------------------------------
    async def _worker(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except ShutDown:
                return
            try:
                await self._sync_pod(key)
                self.queue.forget(key)
            except (errors.NotFound, errors.Conflict):
                self.queue.add_after(key, 0.1)
            except Exception:
                log.exception("node %s: syncing pod %s failed; retrying", self.config.node_name, key)
                self.queue.add_rate_limited(key)
            finally:
                self.queue.done(key)

    async def _sync_pod(self, key: str) -> None:
        pod = self.informer.indexer.get(key)
        if pod is None:
            return
        meta = pod["metadata"]
        uid = str(meta["uid"])
        if meta.get("deletionTimestamp"):
            kill_by = asyncio.get_running_loop().time() + self._grace(pod)
            if uid not in self._terminating:
                self._kill_by[uid] = kill_by
                self._terminating[uid] = asyncio.create_task(self._terminate(pod), name=f"terminate {key}")
            elif kill_by < self._kill_by.get(uid, kill_by):
                # A second delete shortened the grace period: as the kubelet, kill again with the shorter one.
                self._kill_by[uid] = kill_by
                self._spawn(self._hurry(pod, uid), f"stop {key} sooner")
            return
        if uid in self._terminating:  # the old pod of this name is still being released
            self.queue.add_after(key, 0.2)
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            # Finished pods keep their final status; anything of theirs still running (a pod failed by someone
            # else, e.g. an eviction) is stopped, as the kubelet kills the containers of a terminal pod.
            await self.sync.stop_all(pod, uid, self._grace(pod))
            return
        result = await self.sync.converge(pod)
        await self._write_status(pod, result.status)
        if result.requeue_after is not None:
            self.queue.add_after(key, result.requeue_after)
        elif result.status.get("phase") not in ("Succeeded", "Failed"):
            self.queue.add_after(key, min(self.config.sync_frequency, self.config.volume_refresh_period))

    async def _write_status(self, pod: Obj, status: Obj) -> None:
        meta = pod["metadata"]
        uid = str(meta["uid"])
        encoded = orjson.dumps(status, option=orjson.OPT_SORT_KEYS)
        if self._written.get(uid) == encoded:
            return
        await self.rest.patch(PODS, meta["name"], {"status": status}, meta["namespace"], subresource="status")
        self._written[uid] = encoded

    def _grace(self, pod: Obj) -> float:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds")
        return float(30 if grace is None else grace)

    async def _hurry(self, pod: Obj, uid: str) -> None:
        """Stop a terminating pod's containers again, with the shorter grace period a later delete set (the
        termination already under way goes on, and finishes once they have exited)."""
        await self.sync.stop_all(pod, uid, self._grace(pod))

    async def _terminate(self, pod: Obj) -> None:
        meta = pod["metadata"]
        uid = str(meta["uid"])
        try:
            await self.sync.terminate(pod, uid, self._grace(pod))
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await self.rest.delete(
                    PODS, meta["name"], meta["namespace"], gracePeriodSeconds=0, preconditions={"uid": uid}
                )
        except Exception:
            log.exception(
                "node %s: terminating pod %s/%s failed", self.config.node_name, meta["namespace"], meta["name"]
            )
            await asyncio.sleep(1.0)
            self.queue.add(object_key(pod))
        finally:
            self._terminating.pop(uid, None)
            self._kill_by.pop(uid, None)

    async def _release_orphan(self, pod: Obj, uid: str) -> None:
        try:
            await self.sync.stop_all(pod, uid, 2.0 if (pod.get("status") or {}).get("phase") == "Running" else 0.0)
            await self.sync.release(uid, pod)
        except Exception:
            log.exception("node %s: releasing deleted pod %s failed", self.config.node_name, uid)
        finally:
            self._terminating.pop(uid, None)

    # ---- PLEG and housekeeping ------------------------------------------------------------------------
    async def _pleg(self) -> None:
        rounds = 0
        while True:
            try:
                await self._relist(housekeeping=rounds % 4 == 0)
            except Exception:
                log.exception("node %s: relisting the runtime failed", self.config.node_name)
            rounds += 1
            await self.clock.sleep(self.config.relist_period)

    async def _relist(self, *, housekeeping: bool) -> None:
        containers = await self.runtime.list_containers()
        known = {str(p["metadata"].get("uid")): p for p in self.informer.indexer.objects()}
        seen: dict[str, tuple[str, float]] = {}
        for c in containers:
            seen[c.id] = (c.state.value, c.finished_at)
            if self._seen.get(c.id) != seen[c.id]:
                pod = known.get(str(c.labels.get(cri.LABEL_POD_UID)))
                if pod is not None:
                    self.queue.add(object_key(pod))
                if c.state == cri.ContainerState.EXITED:
                    self.probes.remove_container(c.id)
        self._seen = seen
        if not housekeeping:
            return
        for sandbox in await self.runtime.list_pod_sandboxes():
            uid = sandbox.config.uid
            if uid not in known and uid not in self._terminating:
                log.info(
                    "node %s: pod %s/%s is gone; removing its sandbox",
                    self.config.node_name,
                    sandbox.config.namespace,
                    sandbox.config.name,
                )
                orphan = {"metadata": {"name": sandbox.config.name, "namespace": sandbox.config.namespace, "uid": uid}}
                self._terminating[uid] = asyncio.create_task(self._release_orphan(orphan, uid))
