"""Small builders for scheduler unit tests: nodes and pods as the API would hold them."""

from __future__ import annotations

from typing import Any

from pinnace.scheduler.state import ClusterState
from pinnace.scheduler.types import PodInfo


def node(
    name: str,
    cpu: str = "4",
    memory: str = "8Gi",
    pods: int = 110,
    *,
    labels: dict[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
    unschedulable: bool = False,
) -> dict[str, Any]:
    resources = {"cpu": cpu, "memory": memory, "pods": str(pods)}
    spec: dict[str, Any] = {}
    if taints:
        spec["taints"] = taints
    if unschedulable:
        spec["unschedulable"] = True
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name, **(labels or {})}},
        "spec": spec,
        "status": {"capacity": resources, "allocatable": resources},
    }


def pod(
    name: str, cpu: str | None = "100m", *, node_name: str = "", namespace: str = "default", **spec: Any
) -> PodInfo:
    labels = spec.pop("labels", {})
    priority = spec.pop("priority", None)
    container: dict[str, Any] = {"name": "c", "image": "busybox"}
    if cpu is not None:
        container["resources"] = {"requests": {"cpu": cpu}}
    body: dict[str, Any] = {"containers": [container], **spec}
    if node_name:
        body["nodeName"] = node_name
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": f"uid-{name}", "labels": labels},
        "spec": body,
    }
    return PodInfo.of(obj, priority)


def cluster(*nodes: dict[str, Any]) -> ClusterState:
    state = ClusterState()
    for n in nodes:
        state.set_node(n)
    return state


def anti_affinity(selector: dict[str, str], key: str = "kubernetes.io/hostname") -> dict[str, Any]:
    term = {"labelSelector": {"matchLabels": selector}, "topologyKey": key}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
