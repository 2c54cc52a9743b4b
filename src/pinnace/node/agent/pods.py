"""Converging one pod on the runtime: sandbox, volumes, init containers in order, containers, restarts, status.

:class:`PodSync` is what one worker of the agent does with one pod, as the
kubelet's ``SyncPod``: make sure the pod has a ready sandbox; set up its
volumes; run its init containers one at a time (each must exit 0; a sidecar —
``restartPolicy: Always`` — must be running before the next); then start every
container that has no live instance, restarting exited ones by the pod's
restartPolicy with CrashLoopBackOff; and write the status the runtime's
state implies. It adopts whatever the runtime already runs for the pod
(found by the pod UID label), so an agent restart never starts a duplicate.

:meth:`PodSync.terminate` is the graceful end of a deleted pod: preStop hooks
(exec and httpGet), SIGTERM, the rest of the grace period, SIGKILL, then the
sandbox, volumes and logs go — and the agent deletes the pod object with
``gracePeriodSeconds=0`` and the UID as precondition, as the kubelet's status
manager finishes a graceful deletion.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from pinnace.api import podutil
from pinnace.node import cri
from pinnace.node.agent import dnsconfig
from pinnace.node.agent import status as podstatus
from pinnace.node.agent.backoff import CrashBackoff
from pinnace.node.agent.env import ConfigError, SourceLookup, container_env, expand
from pinnace.node.agent.probes import ProbeManager
from pinnace.node.agent.volumes import VolumeError, VolumeManager, read_only_volumes
from pinnace.node.crilog import remove_log
from pinnace.runtime.clock import Clock
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder

__all__ = ["PodSync", "SyncResult"]

#: What a runtime call fails with that the pod's events tell and a retry may cure: the runtime's refusals, and
#: the operating system's (the node's disk full, say), as the kubelet reports both.
RUNTIME_FAILURES = (cri.CRIError, OSError)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
#: Upstream's floor for a kill's grace period (minimumGracePeriodInSeconds).
MIN_GRACE = 2.0
#: How long a postStart hook may run.
POST_START_TIMEOUT = 30.0
#: How soon a pod whose container could not be configured, or whose volume could not be made, is tried again.
RETRY = 2.0


@dataclass
class SyncResult:
    """What one sync found: the status to write, and when to look again (None: on the next event)."""

    status: Obj
    requeue_after: float | None = None


@dataclass
class PodContext:
    """One pod's sync: its sandbox, volumes and the reasons containers wait."""

    pod: Obj
    sandbox: cri.SandboxStatus | None = None
    volumes: dict[str, str] = field(default_factory=dict)
    waiting: dict[str, podstatus.Waiting] = field(default_factory=dict)
    requeue: list[float] = field(default_factory=list)

    @property
    def uid(self) -> str:
        return str(self.pod["metadata"]["uid"])

    def again(self, delay: float) -> None:
        self.requeue.append(max(delay, 0.05))


def _should_restart(policy: str, exit_code: int) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def _pod_ref(pod: Obj) -> str:
    meta = pod["metadata"]
    return f"{meta.get('name')}_{meta.get('namespace')}({meta.get('uid')})"


class PodSync:
    """Converges pods on one runtime (see the module docstring)."""

    def __init__(
        self,
        runtime: cri.RuntimeService,
        *,
        volumes: VolumeManager,
        lookup: SourceLookup,
        recorder: EventRecorder,
        probes: ProbeManager,
        backoff: CrashBackoff,
        clock: Clock,
        log_root: Path,
        node_ip: str,
        service_env: Mapping[str, str],
        allocatable: Callable[[], Mapping[str, str]],
        images: cri.ImageService | None = None,
        dns: dnsconfig.DNSSettings | None = None,
    ) -> None:
        self.runtime = runtime
        self.volumes = volumes
        self.lookup = lookup
        self.recorder = recorder
        self.probes = probes
        self.backoff = backoff
        self.clock = clock
        self.log_root = log_root
        self.node_ip = node_ip
        self.service_env = service_env
        self.allocatable = allocatable
        self.images = images
        self.dns = dns or dnsconfig.DNSSettings()
        #: The ready sandbox of each pod, as last seen (checked before use; a full listing when it is gone).
        self._sandbox_of: dict[str, str] = {}

    # ---- lookups -------------------------------------------------------------------------------
    async def sandboxes_of(self, uid: str) -> list[cri.SandboxStatus]:
        """The runtime's sandboxes of a pod, oldest first."""
        found = [s for s in await self.runtime.list_pod_sandboxes() if s.config.uid == uid]
        return sorted(found, key=lambda s: s.created_at)

    def log_dir(self, pod: Obj) -> Path:
        """Where the pod's container logs go (``<ns>_<name>_<uid>``, as /var/log/pods)."""
        meta = pod["metadata"]
        return self.log_root / f"{meta['namespace']}_{meta['name']}_{meta['uid']}"

    # ---- converging ------------------------------------------------------------------------------
    async def converge(self, pod: Obj) -> SyncResult:
        """Bring the pod's sandbox and containers to what its spec asks; the status to write."""
        ctx = PodContext(pod)
        await self._ensure_sandbox(ctx)
        containers = await self.runtime.list_containers(ctx.sandbox.id) if ctx.sandbox else []
        try:
            ctx.volumes = await self.volumes.setup(pod)
        except VolumeError as exc:
            self.recorder.event(pod, WARNING, "FailedMount", str(exc))
            ctx.again(RETRY)
            return self._result(ctx, containers)
        by_name = podstatus.instances_by_name(containers)
        spec = pod.get("spec") or {}
        policy = str(spec.get("restartPolicy") or "Always")
        initialized = True
        for c in spec.get("initContainers") or []:
            instances = by_name.get(c["name"], [])
            latest = instances[-1] if instances else None
            if podstatus.is_sidecar(c):
                await self._keep_running(ctx, c, latest, "Always")
                latest = (await self._latest(ctx, c["name"])) or latest
                if latest is None or latest.state != cri.ContainerState.RUNNING:
                    initialized = False
                    break
                continue
            if latest is not None and latest.state == cri.ContainerState.EXITED and latest.exit_code == 0:
                continue
            initialized = False
            if latest is None or latest.state == cri.ContainerState.CREATED:
                await self._start(ctx, c, latest.attempt if latest else 0, existing=latest)
            elif latest.state == cri.ContainerState.EXITED and policy != "Never":
                await self._restart(ctx, c, latest)
            break
        if initialized:
            for c in spec.get("containers") or []:
                instances = by_name.get(c["name"], [])
                await self._keep_running(ctx, c, instances[-1] if instances else None, policy)
            # Ephemeral containers (kubectl debug) run once, beside the others: never restarted, never probed.
            for c in spec.get("ephemeralContainers") or []:
                instances = by_name.get(c["name"], [])
                if not instances or instances[-1].state == cri.ContainerState.CREATED:
                    await self._start(ctx, c, 0, existing=instances[-1] if instances else None)
        containers = await self.runtime.list_containers(ctx.sandbox.id) if ctx.sandbox else []
        return self._result(ctx, containers)

    async def _latest(self, ctx: PodContext, name: str) -> cri.ContainerStatus | None:
        if ctx.sandbox is None:
            return None
        instances = [c for c in await self.runtime.list_containers(ctx.sandbox.id) if c.name == name]
        return max(instances, key=lambda c: (c.attempt, c.created_at)) if instances else None

    def _result(self, ctx: PodContext, containers: list[cri.ContainerStatus]) -> SyncResult:
        # Every running container is probed, those adopted after an agent restart too (add_container is idempotent).
        specs = {c["name"]: c for c in (ctx.pod.get("spec") or {}).get("containers") or []}
        for c in containers:
            if c.state == cri.ContainerState.RUNNING and c.name in specs:
                self.probes.add_container(ctx.pod, specs[c.name], c.id)
        status = podstatus.pod_status(
            ctx.pod,
            sandbox=ctx.sandbox,
            containers=containers,
            waiting=ctx.waiting,
            runtime=self.runtime.name,
            host_ip=self.node_ip,
            now=self.clock.wall(),
            ready=lambda _name, c: self.probes.is_ready(c.id),
            started=lambda _name, c: self.probes.is_started(c.id),
        )
        return SyncResult(status, min(ctx.requeue) if ctx.requeue else None)

    async def _ensure_sandbox(self, ctx: PodContext) -> None:
        pod = ctx.pod
        known = self._sandbox_of.get(ctx.uid)
        if known is not None:
            with contextlib.suppress(cri.NotFoundError):
                status = await self.runtime.pod_sandbox_status(known)
                if status.state == cri.SandboxState.READY:
                    ctx.sandbox = status
                    return
        sandboxes = await self.sandboxes_of(ctx.uid)
        ready = [s for s in sandboxes if s.state == cri.SandboxState.READY]
        if ready:
            ctx.sandbox = ready[-1]
            self._sandbox_of[ctx.uid] = ready[-1].id
            return
        for old in sandboxes:  # a sandbox that died takes its containers with it (they restart in a new one)
            await self.runtime.stop_pod_sandbox(old.id)
        meta, spec = pod["metadata"], pod.get("spec") or {}
        ports = tuple(
            cri.PortMapping(
                int(p["containerPort"]), int(p["hostPort"]), str(p.get("protocol") or "TCP"), str(p.get("hostIP") or "")
            )
            for c in spec.get("containers") or []
            for p in c.get("ports") or []
            if p.get("hostPort")
        )
        try:
            dns = await self._pod_dns(pod)
        except OSError as exc:  # the kubelet's GetPodDNS fails the sandbox when it cannot read --resolv-conf
            self.recorder.event(pod, WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
            ctx.again(RETRY)
            return
        config = cri.SandboxConfig(
            name=meta["name"],
            namespace=meta["namespace"],
            uid=meta["uid"],
            attempt=len(sandboxes),
            hostname=str(spec.get("hostname") or meta["name"]),
            log_directory=str(self.log_dir(pod)),
            host_network=bool(spec.get("hostNetwork")),
            port_mappings=ports,
            labels={
                cri.LABEL_POD_UID: meta["uid"],
                cri.LABEL_POD_NAME: meta["name"],
                cri.LABEL_POD_NAMESPACE: meta["namespace"],
            },
            annotations=dict(meta.get("annotations") or {}),
            dns_servers=dns.servers,
            dns_searches=dns.searches,
            dns_options=dns.options,
            dns_policy=dnsconfig.pod_dns_policy(pod),
            host_domain=dnsconfig.host_domain(pod, self.dns.cluster_domain),
            host_aliases=dnsconfig.host_aliases(pod),
        )
        try:
            sandbox_id = await self.runtime.run_pod_sandbox(config)
        except RUNTIME_FAILURES as exc:
            self.recorder.event(pod, WARNING, "FailedCreatePodSandBox", f"Failed to create pod sandbox: {exc}")
            ctx.again(RETRY)
            return
        ctx.sandbox = await self.runtime.pod_sandbox_status(sandbox_id)
        self._sandbox_of[ctx.uid] = sandbox_id

    async def _pod_dns(self, pod: Obj) -> dnsconfig.PodDNS:
        """The pod's resolver configuration, its warnings recorded (OSError: --resolv-conf cannot be read)."""
        settings = self.dns
        host = await asyncio.to_thread(dnsconfig.read_resolv_conf, settings.resolv_conf)
        dns = dnsconfig.pod_dns(
            pod, cluster_dns=settings.cluster_dns, cluster_domain=settings.cluster_domain, host=host,
            node_ip=self.node_ip,
        )  # fmt: skip
        for reason, message in dns.events:
            self.recorder.event(pod, WARNING, reason, message)
        for reason, message in dns.node_events if settings.node_name else ():
            self.recorder.event(dnsconfig.node_ref(settings.node_name), WARNING, reason, message)
        return dns

    async def _keep_running(self, ctx: PodContext, c: Obj, latest: cri.ContainerStatus | None, policy: str) -> None:
        if latest is None or latest.state == cri.ContainerState.CREATED:
            await self._start(ctx, c, latest.attempt if latest else 0, existing=latest)
        elif latest.state == cri.ContainerState.EXITED and _should_restart(policy, latest.exit_code):
            await self._restart(ctx, c, latest)

    async def _restart(self, ctx: PodContext, c: Obj, latest: cri.ContainerStatus) -> None:
        key = (ctx.uid, str(c["name"]))
        self.probes.remove_container(latest.id)
        wait = self.backoff.remaining(key, latest.finished_at)
        if wait > 0:
            delay = self.backoff.current(key)
            message = f"back-off {_duration(delay)} restarting failed container={c['name']} pod={_pod_ref(ctx.pod)}"
            ctx.waiting[c["name"]] = ("CrashLoopBackOff", message)
            self.recorder.event(ctx.pod, WARNING, "BackOff", "Back-off restarting failed container " + c["name"])
            ctx.again(wait)
            return
        self.backoff.restarted(key, latest.finished_at, latest.finished_at - latest.started_at)
        if await self._start(ctx, c, latest.attempt + 1):
            await self._prune(ctx, c["name"])

    async def _prune(self, ctx: PodContext, name: str) -> None:
        """Keep only the newest exited instance of a container besides the live one (lastState, logs --previous)."""
        if ctx.sandbox is None:
            return
        instances = [i for i in await self.runtime.list_containers(ctx.sandbox.id) if i.name == name]
        instances.sort(key=lambda i: (i.attempt, i.created_at))
        for old in instances[:-2]:
            if old.state == cri.ContainerState.EXITED:
                with contextlib.suppress(cri.CRIError):
                    await self.runtime.remove_container(old.id)
                    if old.log_path:  # and its log, rotated files too: a crash loop must not pile them up
                        await asyncio.to_thread(remove_log, old.log_path)

    async def _pull(self, ctx: PodContext, c: Obj) -> str | None:
        """Make sure the image is there (by imagePullPolicy); its reference, or None with the waiting reason set.

        Pulls use the pod's imagePullSecrets (each matching credential in turn, then anonymous), as the kubelet.
        """
        image = str(c.get("image") or "")
        if self.images is None:
            self.recorder.event(ctx.pod, NORMAL, "Pulled", f'Container image "{image}" already present on machine')
            return ""
        from pinnace.node.images.service import default_pull_policy, pull_with_secrets, should_pull

        policy = c.get("imagePullPolicy") or default_pull_policy(image)
        try:
            present = await self.images.image_status(image)
            if not should_pull(policy, present is not None):
                if present is not None:
                    message = f'Container image "{image}" already present on machine'
                    self.recorder.event(ctx.pod, NORMAL, "Pulled", message)
                    return present.id
                ctx.waiting[c["name"]] = (
                    "ErrImageNeverPull",
                    f'Container image "{image}" is not present with pull policy of Never',
                )
                ctx.again(RETRY)
                return None
            self.recorder.event(ctx.pod, NORMAL, "Pulling", f'Pulling image "{image}"')
            started = time.monotonic()
            ref = await pull_with_secrets(self.images, image, await self._pull_secrets(ctx.pod))
            self.recorder.event(
                ctx.pod, NORMAL, "Pulled", f'Successfully pulled image "{image}" in {time.monotonic() - started:.3f}s'
            )
            return ref
        except cri.CRIError as exc:
            ctx.waiting[c["name"]] = ("ErrImagePull", str(exc))
            self.recorder.event(ctx.pod, WARNING, "Failed", f'Failed to pull image "{image}": {exc}')
            ctx.again(RETRY * 5)
            return None

    async def _pull_secrets(self, pod: Obj) -> list[Obj]:
        """The pod's imagePullSecrets that exist (a missing one is skipped, as the kubelet does, with a warning)."""
        namespace = str((pod.get("metadata") or {}).get("namespace") or "default")
        found: list[Obj] = []
        for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
            name = str((ref or {}).get("name") or "")
            secret = await self.lookup("Secret", namespace, name) if name else None
            if secret is None:
                message = f"Unable to retrieve some image pull secrets ({name}); attempting to pull the image may fail"
                self.recorder.event(pod, WARNING, "FailedToRetrieveImagePullSecret", message)
                continue
            found.append(secret)
        return found

    def _with_addresses(self, ctx: PodContext) -> Obj:
        """The pod with the IPs it will report (the sandbox's, the node's), for status.podIP(s)/hostIP(s) fieldRefs."""
        ips = list(ctx.sandbox.ips) if ctx.sandbox is not None else []
        status = {**(ctx.pod.get("status") or {}), "hostIP": self.node_ip, "hostIPs": [{"ip": self.node_ip}]}
        if ips:
            status.update(podIP=ips[0], podIPs=[{"ip": ip} for ip in ips])
        return {**ctx.pod, "status": status}

    async def _config(self, ctx: PodContext, c: Obj, attempt: int, image_ref: str) -> cri.ContainerConfig:
        pod = self._with_addresses(ctx)
        env = await container_env(pod, c, self.lookup, service_env=self.service_env, allocatable=self.allocatable())
        values = dict(env)
        mounts = []
        forced = read_only_volumes(pod)
        for m in c.get("volumeMounts") or []:
            base = ctx.volumes.get(str(m.get("name")))
            if base is None:
                raise ConfigError(f"volume {m.get('name')!r} of mount {m.get('mountPath')!r} is not in the pod")
            path = Path(base)
            sub = str(m.get("subPath") or "") or expand(str(m.get("subPathExpr") or ""), values)
            if sub:
                path = path / sub
                if not path.exists():
                    path.mkdir(parents=True, exist_ok=True)
            mounts.append(
                cri.Mount(
                    container_path=str(m.get("mountPath")),
                    host_path=str(path),
                    readonly=bool(m.get("readOnly")) or str(m.get("name")) in forced,
                    is_file=path.is_file(),
                )
            )
        resources = c.get("resources") or {}
        limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
        sec = c.get("securityContext") or {}
        caps = sec.get("capabilities") or {}
        meta = pod["metadata"]
        pid_namespace_of = ""
        target = c.get("targetContainerName")  # an ephemeral container sees the target's processes
        if target and ctx.sandbox is not None:
            running = [
                i
                for i in await self.runtime.list_containers(ctx.sandbox.id)
                if i.name == target and i.state == cri.ContainerState.RUNNING
            ]
            pid_namespace_of = running[-1].id if running else ""
        return cri.ContainerConfig(
            name=str(c["name"]),
            image=str(c.get("image") or ""),
            image_ref=image_ref,
            command=tuple(expand(str(a), values) for a in c.get("command") or ()),
            args=tuple(expand(str(a), values) for a in c.get("args") or ()),
            working_dir=str(c.get("workingDir") or ""),
            env=tuple(env),
            mounts=tuple(mounts),
            log_path=str(self.log_dir(pod) / str(c["name"]) / f"{attempt}.log"),
            stdin=bool(c.get("stdin")),
            stdin_once=bool(c.get("stdinOnce")),
            tty=bool(c.get("tty")),
            resources=cri.Resources(
                cpu_millis_limit=podutil.milli_value(limits["cpu"]) if "cpu" in limits else None,
                cpu_millis_request=podutil.milli_value(requests["cpu"]) if "cpu" in requests else None,
                memory_limit_bytes=podutil.value_of(limits["memory"]) if "memory" in limits else None,
            ),
            security=cri.SecurityContext(
                run_as_user=sec.get("runAsUser"),
                run_as_group=sec.get("runAsGroup"),
                privileged=bool(sec.get("privileged")),
                read_only_root_filesystem=bool(sec.get("readOnlyRootFilesystem")),
                capabilities_add=tuple(caps.get("add") or ()),
                capabilities_drop=tuple(caps.get("drop") or ()),
                allow_privilege_escalation=sec.get("allowPrivilegeEscalation"),
            ),
            attempt=attempt,
            pid_namespace_of=pid_namespace_of,
            labels={
                cri.LABEL_POD_UID: meta["uid"],
                cri.LABEL_POD_NAME: meta["name"],
                cri.LABEL_POD_NAMESPACE: meta["namespace"],
                cri.LABEL_CONTAINER_NAME: str(c["name"]),
            },
        )

    async def _start(self, ctx: PodContext, c: Obj, attempt: int, existing: cri.ContainerStatus | None = None) -> bool:
        """Create (unless ``existing``) and start one container; False with the waiting reason set if it could not."""
        if ctx.sandbox is None:
            return False
        name = str(c["name"])
        container_id = existing.id if existing is not None else ""
        if not container_id:
            image_ref = await self._pull(ctx, c)
            if image_ref is None:
                return False
            try:
                config = await self._config(ctx, c, attempt, image_ref)
            except ConfigError as exc:
                ctx.waiting[name] = ("CreateContainerConfigError", str(exc))
                self.recorder.event(ctx.pod, WARNING, "Failed", f"Error: {exc}")
                ctx.again(RETRY)
                return False
            try:
                container_id = await self.runtime.create_container(ctx.sandbox.id, config)
            except RUNTIME_FAILURES as exc:
                ctx.waiting[name] = ("CreateContainerError", str(exc))
                self.recorder.event(ctx.pod, WARNING, "Failed", f"Error: {exc}")
                ctx.again(RETRY)
                return False
            self.recorder.event(ctx.pod, NORMAL, "Created", f"Created container {name}")
        try:
            await self.runtime.start_container(container_id)
        except RUNTIME_FAILURES as exc:
            self.recorder.event(ctx.pod, WARNING, "Failed", f"Error: {exc}")
            ctx.again(0.1)
            return False
        self.recorder.event(ctx.pod, NORMAL, "Started", f"Started container {name}")
        if (c.get("lifecycle") or {}).get("postStart"):
            # As the kubelet: the container counts as started once its postStart hook is done; a failed hook kills
            # it (the restart policy takes over).
            ok = await self._hook(ctx.pod, c, container_id, POST_START_TIMEOUT, "postStart")
            if not ok:
                instance = await self.runtime.container_status(container_id)
                grace = float((ctx.pod.get("spec") or {}).get("terminationGracePeriodSeconds") or 30)
                await self.kill_container(
                    ctx.pod, c, instance, grace, f"FailedPostStartHook: stopping container {name}"
                )
                ctx.again(0.1)
                return False
        self.probes.add_container(ctx.pod, c, container_id)
        return True

    # ---- stopping --------------------------------------------------------------------------------
    async def _hook(self, pod: Obj, c: Obj, container_id: str, timeout: float, which: str = "preStop") -> bool:
        """Run the container's preStop or postStart hook (exec, httpGet or sleep) within ``timeout``.

        A failure is recorded as the kubelet records it (FailedPreStopHook / FailedPostStartHook); False then.
        """
        hook = ((c.get("lifecycle") or {}).get(which)) or {}
        try:
            if hook.get("exec"):
                result = await self.runtime.exec_sync(
                    container_id, [str(a) for a in hook["exec"].get("command") or []], timeout
                )
                if result.exit_code != 0:
                    raise RuntimeError(f"command exited with {result.exit_code}: {result.stdout[-200:]!r}")
            elif hook.get("httpGet"):
                get = hook["httpGet"]
                port = get.get("port")
                if isinstance(port, str) and not port.isdigit():
                    port = next((p["containerPort"] for p in c.get("ports") or [] if p.get("name") == port), 80)
                scheme = str(get.get("scheme") or "HTTP").lower()
                url = f"{scheme}://{get.get('host') or self.node_ip}:{port}{get.get('path') or '/'}"
                headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
                timeouts = aiohttp.ClientTimeout(total=timeout)
                async with (
                    aiohttp.ClientSession(timeout=timeouts) as session,
                    session.get(url, headers=headers) as resp,
                ):
                    if resp.status >= 400:
                        raise RuntimeError(f"HTTP {resp.status}")
            elif hook.get("sleep"):
                await asyncio.sleep(min(float(hook["sleep"].get("seconds") or 0), timeout))
        except Exception as exc:
            name = which[0].upper() + which[1:]
            self.recorder.event(pod, WARNING, f"Failed{name}Hook", f"{name}Hook failed: {exc!s}")
            return False
        return True

    async def kill_container(
        self, pod: Obj, c: Obj | None, instance: cri.ContainerStatus, grace: float, reason: str
    ) -> None:
        """Stop one running container: the Killing event, its preStop hook, SIGTERM, then SIGKILL after ``grace``."""
        self.recorder.event(pod, NORMAL, "Killing", reason)
        deadline = time.monotonic() + grace
        if c is not None and (c.get("lifecycle") or {}).get("preStop") and grace > 0:
            await asyncio.wait_for(self._hook(pod, c, instance.id, grace), grace + 1)
        remaining = max(deadline - time.monotonic(), MIN_GRACE if grace > 0 else 0.0)
        self.probes.remove_container(instance.id)
        await self.runtime.stop_container(instance.id, remaining)

    async def stop_all(self, pod: Obj, uid: str, grace: float) -> None:
        """Stop every running container of the pod (containers first, then sidecars, in reverse order)."""
        spec = pod.get("spec") or {}
        specs = {c["name"]: c for c in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]}
        sidecars = [c["name"] for c in spec.get("initContainers") or [] if podstatus.is_sidecar(c)]
        running = []
        for sandbox in await self.sandboxes_of(uid):
            running += [
                c for c in await self.runtime.list_containers(sandbox.id) if c.state == cri.ContainerState.RUNNING
            ]
        first = [c for c in running if c.name not in sidecars]
        last = sorted((c for c in running if c.name in sidecars), key=lambda c: -sidecars.index(c.name))
        for group in (first, last):
            await asyncio.gather(
                *(self.kill_container(pod, specs.get(c.name), c, grace, f"Stopping container {c.name}") for c in group)
            )

    async def terminate(self, pod: Obj, uid: str, grace: float) -> None:
        """End a pod: stop its containers gracefully, then release its sandbox, volumes and logs."""
        await self.stop_all(pod, uid, grace)
        await self.release(uid, pod)

    async def release(self, uid: str, pod: Obj | None = None) -> None:
        """Remove what the node holds for a pod: containers, sandboxes, volumes, logs, back-off."""
        log_dirs = set()
        for sandbox in await self.sandboxes_of(uid):
            for c in await self.runtime.list_containers(sandbox.id):
                self.probes.remove_container(c.id)
            await self.runtime.stop_pod_sandbox(sandbox.id)
            await self.runtime.remove_pod_sandbox(sandbox.id)
            if sandbox.config.log_directory:
                log_dirs.add(sandbox.config.log_directory)
        if pod is not None:
            log_dirs.add(str(self.log_dir(pod)))
        await asyncio.to_thread(self.volumes.cleanup, uid)
        for path in log_dirs:
            await asyncio.to_thread(shutil.rmtree, path, True)
        self.backoff.forget_pod(uid)
        self._sandbox_of.pop(uid, None)


def _duration(seconds: float) -> str:
    """A Go duration string for whole seconds and minutes (``10s``, ``5m0s``)."""
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:g}s" if seconds != whole else f"{whole}s"
    return f"{whole // 60}m{whole % 60}s"
