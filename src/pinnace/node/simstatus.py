"""What a simulated node and its pods look like: plain functions from specs and times to API objects.

A real kubelet reports what its containers do; a simulated one (see
:mod:`pinnace.node.simulated`) reports what they *would* do, and these
functions say what that is, as a v1.32 kubelet writes it:

- :func:`node_object` — a Node as a kubelet registers it: capacity and
  allocatable, addresses, nodeInfo, labels, the simulated-node annotation;
- :func:`node_conditions` — NetworkUnavailable, MemoryPressure, DiskPressure,
  PIDPressure and Ready, with their reasons and messages;
- :func:`lease_object` — the node's Lease in ``kube-node-lease``;
- :func:`running_status` / :func:`terminated_status` — a pod's status once its
  containers run, or once they exited;
- :class:`PodIPs` — the pod IPs of one node's pod CIDR;
- :func:`parse_duration` — Go's duration syntax (``2s``, ``1m30s``, ``500ms``),
  for the ``pinnace.dev/sim-exit-after`` annotation.

No I/O here, so each rule can be tested alone and the loop that uses them
stays small.
"""

from __future__ import annotations

import hashlib
import ipaddress
import tempfile
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from pinnace.api.goduration import parse_go_duration
from pinnace.api.podutil import ANNOTATION_SIMULATED_NODE
from pinnace.api.volumes import ANN_LOCAL_PATH_ROOT

__all__ = [
    "ANNOTATION_EXIT_AFTER",
    "ANNOTATION_EXIT_CODE",
    "ANNOTATION_PAUSED",
    "ANNOTATION_SIMULATED",
    "KUBELET_VERSION",
    "NODE_LEASE_NAMESPACE",
    "PodIPs",
    "lease_object",
    "node_conditions",
    "node_object",
    "parse_duration",
    "pod_condition",
    "rfc3339",
    "rfc3339_micro",
    "running_status",
    "simulated_local_path_root",
    "terminated_status",
]

Obj = dict[str, Any]

#: The version simulated kubelets report (``kubectl get nodes`` VERSION column).
KUBELET_VERSION = "v1.32.0"
#: Where node heartbeats (Leases) live.
NODE_LEASE_NAMESPACE = "kube-node-lease"
#: Marks a Node as simulated (kwok marks its nodes the same way, ``kwok.x-k8s.io/node: fake``).
ANNOTATION_SIMULATED = ANNOTATION_SIMULATED_NODE
#: On a simulated Node (annotation or label), ``"true"`` stops its heartbeat and pod updates: the node "goes away".
ANNOTATION_PAUSED = "pinnace.dev/sim-paused"
#: On a pod: its containers exit this long (Go duration) after they started.
ANNOTATION_EXIT_AFTER = "pinnace.dev/sim-exit-after"
#: On a pod: the exit code its containers exit with (default 0).
ANNOTATION_EXIT_CODE = "pinnace.dev/sim-exit-code"


def parse_duration(text: str) -> float:
    """Seconds in a Go duration (``"1m30s"``, ``"500ms"``, ``"0"``); ValueError if it is not one."""
    return parse_go_duration(text.strip())


def rfc3339(t: datetime) -> str:
    """A metav1.Time: whole seconds, UTC."""
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def rfc3339_micro(t: datetime) -> str:
    """A metav1.MicroTime: microseconds, UTC (Lease renew times)."""
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


# ---- nodes ---------------------------------------------------------------------
def simulated_local_path_root(name: str) -> str:
    """The local-path root a simulated node publishes, so that the default StorageClass's claims bind on it as on
    a real node: a path under the system's temporary directory that nothing creates (its pods run no container,
    and the provisioner only removes what exists)."""
    return str(Path(tempfile.gettempdir()) / "pinnace-simulated-volumes" / name)


def node_object(
    name: str,
    *,
    internal_ip: str,
    pod_cidr: str,
    cpu: str,
    memory: str,
    pods: int,
    ephemeral_storage: str,
    arch: str = "amd64",
    roles: Iterable[str] = ("agent",),
    labels: Mapping[str, str] | None = None,
    now: datetime,
) -> Obj:
    """The Node a simulated kubelet registers, with its first status."""
    all_labels = {
        "beta.kubernetes.io/arch": arch,
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": arch,
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": "simulated",
        **{f"node-role.kubernetes.io/{role}": "" for role in roles},
        **(labels or {}),
    }
    resources = {"cpu": cpu, "memory": memory, "pods": str(pods), "ephemeral-storage": ephemeral_storage}
    machine = _digest("machine", name)[:32]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": all_labels,
            "annotations": {
                ANNOTATION_SIMULATED: "true",
                ANN_LOCAL_PATH_ROOT: simulated_local_path_root(name),
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"podCIDR": pod_cidr, "podCIDRs": [pod_cidr]},
        "status": {
            "capacity": dict(resources),
            "allocatable": dict(resources),
            "conditions": node_conditions(now),
            "addresses": [{"type": "InternalIP", "address": internal_ip}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": machine,
                "systemUUID": f"{machine[:8]}-{machine[8:12]}-{machine[12:16]}-{machine[16:20]}-{machine[20:32]}",
                "bootID": _digest("boot", name)[:32],
                "kernelVersion": "6.1.0-simulated",
                "osImage": "Pinnace simulated node",
                "containerRuntimeVersion": "sim://1.0.0",
                "kubeletVersion": KUBELET_VERSION,
                "kubeProxyVersion": KUBELET_VERSION,
                "operatingSystem": "linux",
                "architecture": arch,
            },
        },
    }


#: The pressure conditions: type, then reason and message when under pressure, then when not.
_PRESSURES = (
    ("MemoryPressure", "KubeletHasInsufficientMemory", "kubelet has insufficient memory available",
     "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
    ("DiskPressure", "KubeletHasDiskPressure", "kubelet has disk pressure",
     "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
    ("PIDPressure", "KubeletHasInsufficientPID", "kubelet has insufficient PID available",
     "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
)  # fmt: skip


def node_conditions(
    now: datetime,
    previous: Iterable[Obj] = (),
    *,
    memory: bool = False,
    disk: bool = False,
    pid: bool = False,
    routes: bool = True,
) -> list[Obj]:
    """A kubelet's node conditions at ``now``: Ready, and the given pressures (transition times kept from
    ``previous`` when unchanged). ``routes``: also NetworkUnavailable False, as the route controller sets it."""
    stamp = rfc3339(now)
    old = {c.get("type"): c for c in previous}
    rows = [("NetworkUnavailable", "False", "RouteCreated", "RouteController created a route")] if routes else []
    for (type_, on_reason, on_message, off_reason, off_message), on in zip(
        _PRESSURES, (memory, disk, pid), strict=True
    ):
        rows.append((type_, "True", on_reason, on_message) if on else (type_, "False", off_reason, off_message))
    rows.append(("Ready", "True", "KubeletReady", "kubelet is posting ready status"))
    out = []
    for type_, status, reason, message in rows:
        prev = old.get(type_) or {}
        transition = prev.get("lastTransitionTime") if prev.get("status") == status else None
        out.append(
            {
                "type": type_,
                "status": status,
                "lastHeartbeatTime": stamp,
                "lastTransitionTime": transition or stamp,
                "reason": reason,
                "message": message,
            }
        )
    return out


def conditions_healthy(conditions: Iterable[Obj]) -> bool:
    """Whether the conditions already say what a healthy kubelet says (no update needed but the heartbeat)."""
    want = {c["type"]: (c["status"], c["reason"]) for c in node_conditions(datetime.fromtimestamp(0))}
    have = {c.get("type"): (c.get("status"), c.get("reason")) for c in conditions}
    return all(have.get(t) == v for t, v in want.items())


def lease_object(node: Obj, *, duration: int, now: datetime) -> Obj:
    """The node's heartbeat Lease (owned by the Node, so it goes when the node does)."""
    meta = node["metadata"]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {
            "name": meta["name"],
            "namespace": NODE_LEASE_NAMESPACE,
            "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": meta["name"], "uid": meta["uid"]}],
        },
        "spec": {
            "holderIdentity": meta["name"],
            "leaseDurationSeconds": duration,
            "renewTime": rfc3339_micro(now),
        },
    }


# ---- pod IPs -------------------------------------------------------------------
class PodIPs:
    """The pod IPs of one node's pod CIDR: each handed out once until released."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr)
        self._used: set[str] = set()
        self._next = 2  # .1 is the bridge, as with the bridge CNI plugin

    def reserve(self, ip: str) -> None:
        """Mark ``ip`` used (a pod that already has it)."""
        self._used.add(ip)

    def release(self, ip: str) -> None:
        """Give ``ip`` back."""
        self._used.discard(ip)

    def allocate(self) -> str:
        """A free IP; RuntimeError when the CIDR is full."""
        size = self.network.num_addresses - 2
        for _ in range(size):
            ip = str(self.network.network_address + self._next)
            self._next = self._next + 1 if self._next < size else 2
            if ip not in self._used:
                self._used.add(ip)
                return ip
        raise RuntimeError(f"pod CIDR {self.network} is full")


# ---- pods ----------------------------------------------------------------------
def _image_ref(image: str) -> str:
    """An image as the container runtime reports it: registry, repository and tag made explicit."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and not digest:
        name += ":latest"
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    return f"{name}@{digest}" if digest else name


def _image_id(image: str) -> str:
    """The runtime's image ID: the repository and a (made-up, stable) digest."""
    ref = _image_ref(image).split("@", 1)[0]
    head, _, last = ref.rpartition("/")
    repo = f"{head}/{last.split(':', 1)[0]}"
    return f"{repo}@sha256:{_digest('image', ref)}"


def pod_condition(type_: str, status: bool, stamp: str, previous: Mapping[str, Obj], reason: str = "") -> Obj:
    """A pod condition at ``stamp``, its transition time kept from ``previous`` when the status did not change."""
    value = "True" if status else "False"
    prev = previous.get(type_) or {}
    cond: Obj = {
        "type": type_,
        "status": value,
        "lastProbeTime": None,
        "lastTransitionTime": prev.get("lastTransitionTime") if prev.get("status") == value else stamp,
    }
    if reason:
        cond["reason"] = reason
    return cond


def _container_base(pod: Obj, c: Obj, attempt: int) -> Obj:
    uid = pod["metadata"].get("uid", "")
    return {
        "name": c["name"],
        "image": _image_ref(str(c.get("image", ""))),
        "imageID": _image_id(str(c.get("image", ""))),
        "containerID": f"sim://{_digest('container', uid, c['name'], str(attempt))[:64]}",
        "lastState": {},
    }


def _init_statuses(pod: Obj, started: str) -> list[Obj]:
    out = []
    for c in (pod.get("spec") or {}).get("initContainers") or []:
        status = _container_base(pod, c, 0)
        if c.get("restartPolicy") == "Always":  # a sidecar: it keeps running
            status.update(ready=True, started=True, restartCount=0, state={"running": {"startedAt": started}})
        else:
            terminated = {"exitCode": 0, "reason": "Completed", "startedAt": started, "finishedAt": started}
            status.update(ready=True, started=False, restartCount=0, state={"terminated": terminated})
        out.append(status)
    return out


def running_status(
    pod: Obj, *, host_ip: str, pod_ip: str, now: datetime, restart_count: int = 0, last_state: Obj | None = None
) -> Obj:
    """The status of ``pod`` once every container runs and is ready (start times kept from its status)."""
    old = pod.get("status") or {}
    stamp = rfc3339(now)
    start = old.get("startTime") or stamp
    previous = {c.get("type"): c for c in old.get("conditions") or []}
    prior_started = {  # a container that keeps running keeps its start time; a restarted one starts now
        s.get("name"): ((s.get("state") or {}).get("running") or {}).get("startedAt")
        for s in old.get("containerStatuses") or []
        if int(s.get("restartCount") or 0) == restart_count
    }
    containers = []
    for c in (pod.get("spec") or {}).get("containers") or []:
        status = _container_base(pod, c, restart_count)
        started_at = prior_started.get(c["name"]) or stamp
        status.update(
            ready=True,
            restartCount=restart_count,
            started=True,
            state={"running": {"startedAt": started_at}},
        )
        if last_state:
            status["lastState"] = last_state
        containers.append(status)
    out: Obj = {
        "phase": "Running",
        "conditions": [
            pod_condition("PodReadyToStartContainers", True, stamp, previous),
            pod_condition("Initialized", True, stamp, previous),
            pod_condition("Ready", True, stamp, previous),
            pod_condition("ContainersReady", True, stamp, previous),
            pod_condition("PodScheduled", True, stamp, previous),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": start,
        "containerStatuses": containers,
        "qosClass": old.get("qosClass") or "BestEffort",
    }
    inits = _init_statuses(pod, start)
    if inits:
        out["initContainerStatuses"] = inits
    return out


def terminated_status(pod: Obj, *, exit_code: int, now: datetime) -> Obj:
    """The status of ``pod`` once its containers exited with ``exit_code`` and will not restart."""
    old = pod.get("status") or {}
    stamp = rfc3339(now)
    previous = {c.get("type"): c for c in old.get("conditions") or []}
    reason = "Completed" if exit_code == 0 else "Error"
    containers = []
    for s in old.get("containerStatuses") or []:
        started = ((s.get("state") or {}).get("running") or {}).get("startedAt") or old.get("startTime") or stamp
        terminated = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": started,
            "finishedAt": stamp,
            "containerID": s.get("containerID", ""),
        }
        containers.append({**s, "ready": False, "started": False, "state": {"terminated": terminated}})
    out = dict(old)
    out.update(
        phase="Succeeded" if exit_code == 0 else "Failed",
        containerStatuses=containers,
        conditions=[
            pod_condition("PodReadyToStartContainers", False, stamp, previous),
            pod_condition("Initialized", True, stamp, previous, "PodCompleted"),
            pod_condition("Ready", False, stamp, previous, "PodCompleted"),
            pod_condition("ContainersReady", False, stamp, previous, "PodCompleted"),
            pod_condition("PodScheduled", True, stamp, previous),
        ],
    )
    return out


def last_terminated(pod: Obj, *, exit_code: int, now: datetime) -> Obj:
    """The ``lastState`` of a container that exited with ``exit_code`` and is restarted."""
    old = pod.get("status") or {}
    statuses = old.get("containerStatuses") or [{}]
    started = ((statuses[0].get("state") or {}).get("running") or {}).get("startedAt") or rfc3339(now)
    return {
        "terminated": {
            "exitCode": exit_code,
            "reason": "Completed" if exit_code == 0 else "Error",
            "startedAt": started,
            "finishedAt": rfc3339(now),
            "containerID": statuses[0].get("containerID", ""),
        }
    }
