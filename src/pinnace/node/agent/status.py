"""A pod's status from what the runtime reports: plain functions, as the kubelet's status generation.

:func:`pod_status` turns the pod's spec, its sandbox and every instance of its
containers (all attempts, from the runtime) plus the agent's own knowledge
(why a container is waiting; which containers the probe manager calls ready
or started) into the ``status`` a v1.32 kubelet writes: container and init
container statuses (state, lastState, restartCount, containerID, image,
imageID, ready, started), phase (upstream's ``getPhase``), the conditions
PodReadyToStartContainers, Initialized, ContainersReady, Ready and
PodScheduled, podIP(s), hostIP(s), startTime and qosClass.

No I/O: each rule can be tested alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pinnace.node import simstatus
from pinnace.node.cri import ContainerState, ContainerStatus, SandboxState, SandboxStatus
from pinnace.node.simstatus import rfc3339

__all__ = [
    "Waiting",
    "instances_by_name",
    "is_sidecar",
    "pod_phase",
    "pod_status",
    "qos_class",
    "terminated_state",
]

Obj = dict[str, Any]
#: Why a container does not run: (reason, message), e.g. ("CrashLoopBackOff", "back-off 10s restarting …").
Waiting = tuple[str, str]
#: Whether the probe manager calls a running container ready (or started): (container name, status) -> bool.
ProbeQuery = Callable[[str, ContainerStatus], bool]


def _stamp(t: float) -> str:
    return rfc3339(datetime.fromtimestamp(t, UTC))


def is_sidecar(container: Mapping[str, Any]) -> bool:
    """An init container with ``restartPolicy: Always`` (a sidecar: it keeps running beside the containers)."""
    return container.get("restartPolicy") == "Always"


def instances_by_name(containers: Iterable[ContainerStatus]) -> dict[str, list[ContainerStatus]]:
    """The runtime's containers of one pod, grouped by container name, oldest attempt first."""
    out: dict[str, list[ContainerStatus]] = {}
    for c in sorted(containers, key=lambda c: (c.attempt, c.created_at)):
        out.setdefault(c.name, []).append(c)
    return out


def terminated_state(c: ContainerStatus, runtime: str) -> Obj:
    """A ``state.terminated`` of an exited container instance."""
    out: Obj = {
        "exitCode": c.exit_code,
        "reason": c.reason or ("Completed" if c.exit_code == 0 else "Error"),
        "startedAt": _stamp(c.started_at) if c.started_at else None,
        "finishedAt": _stamp(c.finished_at) if c.finished_at else None,
        "containerID": f"{runtime}://{c.id}",
    }
    if c.message:
        out["message"] = c.message
    return out


def _container_status(
    spec: Obj,
    instances: Sequence[ContainerStatus],
    waiting: Waiting | None,
    runtime: str,
    *,
    init: bool,
    default_waiting: str,
    ready: ProbeQuery,
    started: ProbeQuery,
) -> Obj:
    name = str(spec["name"])
    latest = instances[-1] if instances else None
    previous = instances[-2] if len(instances) > 1 else None
    out: Obj = {
        "name": name,
        "image": str(spec.get("image") or ""),
        "imageID": (latest.image_ref if latest else "") or "",
        "lastState": {},
        "ready": False,
        "restartCount": latest.attempt if latest else 0,
        "started": False,
        "state": {},
    }
    if latest is None or latest.state == ContainerState.CREATED:
        reason, message = waiting or (default_waiting, "")
        out["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        if latest is not None:
            out["containerID"] = f"{runtime}://{latest.id}"
        if previous is not None and previous.state == ContainerState.EXITED:
            out["lastState"] = {"terminated": terminated_state(previous, runtime)}
        return out
    out["containerID"] = f"{runtime}://{latest.id}"
    if latest.state == ContainerState.RUNNING:
        out["state"] = {"running": {"startedAt": _stamp(latest.started_at)}}
        is_started = started(name, latest)
        out["started"] = is_started
        # A running init container is not ready (it is, once it has completed); a sidecar is, by its probes.
        out["ready"] = is_started and ready(name, latest) and not (init and not is_sidecar(spec))
        if previous is not None:
            out["lastState"] = {"terminated": terminated_state(previous, runtime)}
        return out
    terminated = terminated_state(latest, runtime)
    if waiting is not None:
        reason, message = waiting
        out["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
        out["lastState"] = {"terminated": terminated}
    else:
        out["state"] = {"terminated": terminated}
        if previous is not None:
            out["lastState"] = {"terminated": terminated_state(previous, runtime)}
        if init and latest.exit_code == 0:
            out["ready"] = True
    return out


def pod_phase(pod: Obj, init_statuses: Sequence[Obj], statuses: Sequence[Obj]) -> str:
    """The pod's phase, by upstream's rules (kubelet ``getPhase``)."""
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy") or "Always"
    initialized = True
    for c, s in zip(spec.get("initContainers") or [], init_statuses, strict=False):
        state = s.get("state") or {}
        if is_sidecar(c):
            if "running" not in state:
                initialized = False
            continue
        term = state.get("terminated")
        if term is not None and term.get("exitCode") == 0:
            continue
        last = (s.get("lastState") or {}).get("terminated")
        failed = (term is not None and term.get("exitCode") != 0) or (last is not None and "waiting" in state)
        if failed and policy == "Never":
            return "Failed"
        initialized = False
    if not initialized:
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for s in statuses:
        state = s.get("state") or {}
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            if state["terminated"].get("exitCode") == 0:
                succeeded += 1
        elif (s.get("lastState") or {}).get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def qos_class(spec: Obj) -> str:
    """Guaranteed, Burstable or BestEffort, from the containers' requests and limits."""
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    any_set = False
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        requests, limits = res.get("requests") or {}, res.get("limits") or {}
        if requests or limits:
            any_set = True
        for name in ("cpu", "memory"):
            limit = limits.get(name)
            if limit is None or str(requests.get(name, limit)) != str(limit):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def _condition(type_: str, ok: bool, now: str, previous: Mapping[str, Obj], reason: str = "", message: str = "") -> Obj:
    out = simstatus.pod_condition(type_, ok, now, previous, reason)
    if message:
        out["message"] = message
    return out


def _ready_condition(
    spec: Obj, previous: Mapping[str, Obj], unready: Sequence[str], done: bool
) -> tuple[bool, str, str]:
    """Ready: every container ready and every readiness gate's condition True (upstream's reasons and messages)."""
    if done:
        return False, "PodCompleted", ""
    if unready:
        return False, "ContainersNotReady", f"containers with unready status: [{' '.join(unready)}]"
    for gate in spec.get("readinessGates") or []:
        kind = str(gate.get("conditionType") or "")
        cond = previous.get(kind)
        if cond is None:
            return (
                False,
                "ReadinessGatesNotReady",
                f'corresponding condition of pod readiness gate "{kind}" does not exist.',
            )
        if cond.get("status") != "True":
            return (
                False,
                "ReadinessGatesNotReady",
                f'the status of pod readiness gate "{kind}" is not "True", but {cond.get("status")}',
            )
    return True, "", ""


def pod_status(
    pod: Obj,
    *,
    sandbox: SandboxStatus | None,
    containers: Iterable[ContainerStatus],
    waiting: Mapping[str, Waiting],
    runtime: str,
    host_ip: str,
    now: datetime,
    ready: ProbeQuery = lambda _n, _c: True,
    started: ProbeQuery = lambda _n, _c: True,
) -> Obj:
    """The pod's status as the kubelet would write it now (see the module docstring)."""
    spec = pod.get("spec") or {}
    old = pod.get("status") or {}
    stamp = rfc3339(now)
    by_name = instances_by_name(containers)

    def statuses(specs: Iterable[Obj], *, init: bool, default_waiting: str) -> list[Obj]:
        return [
            _container_status(
                c,
                by_name.get(c["name"], []),
                waiting.get(c["name"]),
                runtime,
                init=init,
                default_waiting=default_waiting,
                ready=ready,
                started=started,
            )
            for c in specs
        ]

    inits = statuses(spec.get("initContainers") or [], init=True, default_waiting="PodInitializing")
    initialized = all(
        ("running" in s["state"] and s["started"]) if is_sidecar(c) else s["ready"]
        for c, s in zip(spec.get("initContainers") or [], inits, strict=True)
    )
    regular = statuses(
        spec.get("containers") or [],
        init=False,
        default_waiting="ContainerCreating" if initialized else "PodInitializing",
    )
    phase = pod_phase(pod, inits, regular)
    previous = {c.get("type"): c for c in old.get("conditions") or []}
    done = phase in ("Succeeded", "Failed")
    sandbox_ready = sandbox is not None and sandbox.state == SandboxState.READY and not done
    incomplete = [
        c["name"]
        for c, s in zip(spec.get("initContainers") or [], inits, strict=True)
        if not s["ready"] and not (is_sidecar(c) and s["started"])
    ]
    unready = [s["name"] for s in regular if not s["ready"]]
    ready_ok, ready_reason, ready_message = _ready_condition(spec, previous, unready, done)
    conditions = [
        _condition("PodReadyToStartContainers", sandbox_ready, stamp, previous),
        _condition(
            "Initialized",
            initialized or done,
            stamp,
            previous,
            "PodCompleted" if done else ("" if initialized else "ContainersNotInitialized"),
            "" if initialized or done else f"containers with incomplete status: [{' '.join(incomplete)}]",
        ),
        _condition("Ready", ready_ok, stamp, previous, ready_reason, ready_message),
        _condition(
            "ContainersReady",
            not unready and not done,
            stamp,
            previous,
            "PodCompleted" if done else ("ContainersNotReady" if unready else ""),
            "" if done or not unready else f"containers with unready status: [{' '.join(unready)}]",
        ),
        _condition("PodScheduled", True, stamp, previous),
    ]
    ours = {c["type"] for c in conditions}
    conditions += [c for c in old.get("conditions") or [] if c.get("type") not in ours]
    out: Obj = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": old.get("startTime") or stamp,
        "containerStatuses": regular,
        "qosClass": old.get("qosClass") or qos_class(spec),
    }
    ips = list(sandbox.ips) if sandbox is not None else []
    if not ips and old.get("podIP"):
        ips = [ip.get("ip") for ip in old.get("podIPs") or [{"ip": old["podIP"]}]]
    if ips:
        out["podIP"] = ips[0]
        out["podIPs"] = [{"ip": ip} for ip in ips]
    if inits:
        out["initContainerStatuses"] = inits
    ephemeral = statuses(spec.get("ephemeralContainers") or [], init=False, default_waiting="ContainerCreating")
    if ephemeral:  # (never ready: they serve no traffic, and count for neither the phase nor readiness)
        out["ephemeralContainerStatuses"] = [{**s, "ready": False} for s in ephemeral]
    return out
