"""The scheduler and PersistentVolumeClaims against a real API server, with objects made by the official client.

The tests play the PV binder and provisioner themselves (claimRef on the volume, volumeName, bind-completed and
phase Bound on the claim), so only the scheduler runs: where bound claims' volumes are, why unbound Immediate
claims keep a pod Pending, and how a WaitForFirstConsumer claim gets its selected node or a prebound volume
before the pod is bound.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import kubernetes.client as k8s
import pytest
from tests.integration.test_scheduler import node

from pinnace.api.volumes import ANN_BIND_COMPLETED, ANN_SELECTED_NODE
from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv
from pinnace.scheduler import Scheduler, add_scheduler

PODS = ResourceRef("", "v1", "pods")
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
EVENTS = ResourceRef("", "v1", "events")

T = TypeVar("T")
Obj = dict[str, Any]


class Api:
    """The official client's core and storage APIs, called off the event loop (they block)."""

    def __init__(self, env: TestEnv) -> None:
        self.client = k8s.ApiClient(k8s.Configuration(host=env.url))
        self.core = k8s.CoreV1Api(self.client)
        self.storage = k8s.StorageV1Api(self.client)

    async def __call__(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.to_thread(call, *args, **kwargs)


@pytest.fixture
async def world(pinnace_env: TestEnv) -> AsyncIterator[tuple[TestEnv, Api, Scheduler]]:
    """A scheduler with a short bind timeout (so the timeout test is quick), three nodes and the official client."""
    manager = pinnace_env.manager()
    scheduler = await add_scheduler(manager, bind_timeout=3.0, initial_backoff=0.2, max_backoff=0.5)
    await pinnace_env.start(manager)
    for name in ("node-a", "node-b", "node-c"):
        await pinnace_env.rest.create(NODES, node(name))
    api = Api(pinnace_env)
    try:
        yield pinnace_env, api, scheduler
    finally:
        with contextlib.suppress(Exception):
            await asyncio.to_thread(api.client.close)


def on_node(name: str) -> k8s.V1VolumeNodeAffinity:
    expr = k8s.V1NodeSelectorRequirement(key="kubernetes.io/hostname", operator="In", values=[name])
    return k8s.V1VolumeNodeAffinity(
        required=k8s.V1NodeSelector(node_selector_terms=[k8s.V1NodeSelectorTerm(match_expressions=[expr])])
    )


def claim(name: str, storage_class: str) -> k8s.V1PersistentVolumeClaim:
    return k8s.V1PersistentVolumeClaim(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1PersistentVolumeClaimSpec(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class,
            resources=k8s.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
        ),
    )


def volume(
    name: str, node: str, storage_class: str, ref: k8s.V1ObjectReference | None = None
) -> k8s.V1PersistentVolume:
    return k8s.V1PersistentVolume(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1PersistentVolumeSpec(
            capacity={"storage": "1Gi"},
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class,
            host_path=k8s.V1HostPathVolumeSource(path=f"/tmp/{name}", type="DirectoryOrCreate"),
            node_affinity=on_node(node),
            claim_ref=ref,
        ),
    )


def storage_class(name: str, mode: str, provisioner: str = "example.com/disk") -> k8s.V1StorageClass:
    return k8s.V1StorageClass(metadata=k8s.V1ObjectMeta(name=name), provisioner=provisioner, volume_binding_mode=mode)


def pod(name: str, *claims: str) -> k8s.V1Pod:
    volumes = [
        k8s.V1Volume(name=c, persistent_volume_claim=k8s.V1PersistentVolumeClaimVolumeSource(claim_name=c))
        for c in claims
    ]
    container = k8s.V1Container(
        name="c", image="busybox", resources=k8s.V1ResourceRequirements(requests={"cpu": "100m"})
    )
    return k8s.V1Pod(metadata=k8s.V1ObjectMeta(name=name), spec=k8s.V1PodSpec(containers=[container], volumes=volumes))


async def complete_binding(api: Api, claim_name: str, volume_name: str, node: str, storage_class: str) -> None:
    """Play the binder (and, when the volume does not exist, the provisioner): bind the claim to the volume."""
    made = await api(api.core.read_namespaced_persistent_volume_claim, claim_name, "default")
    ref = k8s.V1ObjectReference(
        kind="PersistentVolumeClaim", namespace="default", name=claim_name, uid=made.metadata.uid
    )
    try:
        existing = await api(api.core.read_persistent_volume, volume_name)
        assert existing.spec.claim_ref is not None and existing.spec.claim_ref.uid == made.metadata.uid
    except k8s.ApiException as exc:
        assert exc.status == 404
        await api(api.core.create_persistent_volume, volume(volume_name, node, storage_class, ref))
    patch = {"metadata": {"annotations": {ANN_BIND_COMPLETED: "yes"}}, "spec": {"volumeName": volume_name}}
    await api(api.core.patch_namespaced_persistent_volume_claim, claim_name, "default", patch)
    status = {"status": {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}}
    await api(api.core.patch_namespaced_persistent_volume_claim_status, claim_name, "default", status)


async def consumer(api: Api, name: str, claim_name: str, storage: k8s.V1StorageClass) -> k8s.V1PersistentVolumeClaim:
    """A StorageClass, a claim of it and a pod using the claim; the claim as created."""
    await api(api.storage.create_storage_class, storage)
    made = await api(
        api.core.create_namespaced_persistent_volume_claim, "default", claim(claim_name, storage.metadata.name)
    )
    await api(api.core.create_namespaced_pod, "default", pod(name, claim_name))
    return made


async def node_of(env: TestEnv, name: str, timeout: float = 10.0) -> str:
    async def bound() -> str:
        return str((await env.rest.get(PODS, name, "default"))["spec"].get("nodeName") or "")

    return str(await env.eventually(bound, timeout=timeout))


async def scheduled_condition(env: TestEnv, name: str, reason: str) -> str:
    async def message() -> str:
        current = await env.rest.get(PODS, name, "default")
        for c in (current.get("status") or {}).get("conditions") or []:
            if c["type"] == "PodScheduled" and c["status"] == "False" and c["reason"] == reason:
                return str(c["message"])
        return ""

    return str(await env.eventually(message))


async def failed_scheduling(env: TestEnv, name: str) -> list[str]:
    listing = await env.rest.list(EVENTS, "default")
    return [
        e["message"]
        for e in listing["items"]
        if e["involvedObject"]["name"] == name and e["reason"] == "FailedScheduling"
    ]


async def test_bound_claim_puts_the_pod_where_its_volume_is(world: tuple[TestEnv, Api, Scheduler]) -> None:
    env, api, _ = world
    await api(api.storage.create_storage_class, storage_class("manual", "Immediate"))
    made = await api(api.core.create_namespaced_persistent_volume_claim, "default", claim("data", "manual"))
    ref = k8s.V1ObjectReference(kind="PersistentVolumeClaim", namespace="default", name="data", uid=made.metadata.uid)
    await api(api.core.create_persistent_volume, volume("pv-on-b", "node-b", "manual", ref))
    await complete_binding(api, "data", "pv-on-b", "node-b", "manual")
    for i in range(3):
        await api(api.core.create_namespaced_pod, "default", pod(f"user-{i}", "data"))
    assert [await node_of(env, f"user-{i}") for i in range(3)] == ["node-b"] * 3


async def test_unbound_immediate_claim_keeps_the_pod_pending_until_bound(
    world: tuple[TestEnv, Api, Scheduler],
) -> None:
    env, api, _ = world
    await api(api.core.create_namespaced_pod, "default", pod("waits", "later"))
    missing = await scheduled_condition(env, "waits", "Unschedulable")
    assert missing == (
        '0/3 nodes are available: persistentvolumeclaim "later" not found. '
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    await api(api.storage.create_storage_class, storage_class("fast", "Immediate"))
    await api(api.core.create_namespaced_persistent_volume_claim, "default", claim("later", "fast"))
    message = await env.eventually(lambda: _condition_is(env, "waits", "pod has unbound immediate"))
    assert message == (
        "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims. "
        "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
    )
    assert message in await env.eventually(lambda: failed_scheduling(env, "waits"))
    await complete_binding(api, "later", "pv-later", "node-c", "fast")
    assert await node_of(env, "waits") == "node-c"


async def _condition_is(env: TestEnv, name: str, text: str) -> str:
    message = await scheduled_condition(env, name, "Unschedulable")
    return message if text in message else ""


async def test_wait_for_first_consumer_claim_gets_the_chosen_node_then_the_pod_is_bound(
    world: tuple[TestEnv, Api, Scheduler],
) -> None:
    env, api, scheduler = world
    await consumer(api, "consumer", "scratch", storage_class("local", "WaitForFirstConsumer"))

    async def selected() -> str:
        made = await api(api.core.read_namespaced_persistent_volume_claim, "scratch", "default")
        return str((made.metadata.annotations or {}).get(ANN_SELECTED_NODE) or "")

    chosen = await env.eventually(selected)
    assert chosen in ("node-a", "node-b", "node-c")
    # The pod waits for its claim, but other pods are scheduled meanwhile.
    await api(api.core.create_namespaced_pod, "default", pod("plain"))
    assert await node_of(env, "plain")
    assert (await env.rest.get(PODS, "consumer", "default"))["spec"].get("nodeName") is None
    await complete_binding(api, "scratch", "pvc-scratch", chosen, "local")
    assert await node_of(env, "consumer") == chosen
    assert scheduler.state.volumes.claims["default/scratch"]["spec"]["volumeName"] == "pvc-scratch"


async def test_wait_for_first_consumer_claim_prebinds_an_available_volume(
    world: tuple[TestEnv, Api, Scheduler],
) -> None:
    env, api, _ = world
    await api(api.core.create_persistent_volume, volume("disk-on-a", "node-a", "disks"))
    # As the binder would: a volume bound to nothing is Available.
    await api(api.core.patch_persistent_volume_status, "disk-on-a", {"status": {"phase": "Available"}})
    no_provisioner = storage_class("disks", "WaitForFirstConsumer", "kubernetes.io/no-provisioner")
    made = await consumer(api, "database", "db", no_provisioner)

    async def prebound() -> k8s.V1ObjectReference | None:
        current = await api(api.core.read_persistent_volume, "disk-on-a")
        return current.spec.claim_ref

    ref = await env.eventually(prebound)
    assert (ref.namespace, ref.name, ref.uid) == ("default", "db", made.metadata.uid)
    current = await api(api.core.read_persistent_volume, "disk-on-a")
    assert current.metadata.annotations["pv.kubernetes.io/bound-by-controller"] == "yes"
    await complete_binding(api, "db", "disk-on-a", "node-a", "disks")
    assert await node_of(env, "database") == "node-a"


async def test_claims_not_bound_in_time_send_the_pod_back_with_upstreams_reason(
    world: tuple[TestEnv, Api, Scheduler],
) -> None:
    env, api, _ = world
    await consumer(api, "stuck", "never", storage_class("slow", "WaitForFirstConsumer"))
    message = await scheduled_condition(env, "stuck", "SchedulerError")
    assert message == 'running PreBind plugin "VolumeBinding": binding volumes: context deadline exceeded'
    assert message in await env.eventually(lambda: failed_scheduling(env, "stuck"))
    assert (await env.rest.get(PODS, "stuck", "default"))["spec"].get("nodeName") is None
    # Tried again (the claim keeps its selected node), it is bound once its claim is.
    current = await api(api.core.read_namespaced_persistent_volume_claim, "never", "default")
    chosen = current.metadata.annotations[ANN_SELECTED_NODE]
    await complete_binding(api, "never", "pvc-never", chosen, "slow")
    assert await node_of(env, "stuck", timeout=15.0) == chosen


async def held_read_write_once_pod_claim(env: TestEnv, api: Api, holder: str) -> None:
    """The ReadWriteOncePod claim "only", bound to a volume on node-a, and the pod ``holder`` placed with it."""
    await api(api.storage.create_storage_class, storage_class("single", "Immediate"))
    only = claim("only", "single")
    only.spec.access_modes = ["ReadWriteOncePod"]
    await api(api.core.create_namespaced_persistent_volume_claim, "default", only)
    await complete_binding(api, "only", "pv-only", "node-a", "single")
    await api(api.core.create_namespaced_pod, "default", pod(holder, "only"))
    assert await node_of(env, holder) == "node-a"


async def test_a_read_write_once_pod_claim_serves_one_pod_at_a_time(world: tuple[TestEnv, Api, Scheduler]) -> None:
    env, api, _ = world
    await held_read_write_once_pod_claim(env, api, "first")
    await api(api.core.create_namespaced_pod, "default", pod("second", "only"))
    message = await env.eventually(lambda: _condition_is(env, "second", "ReadWriteOncePod"))
    assert message == (
        "0/3 nodes are available: 3 node has pod using PersistentVolumeClaim with the same name and "
        "ReadWriteOncePod access mode. preemption: 0/3 nodes are available: 3 No preemption victims found for "
        "incoming pod."
    )
    await api(api.core.delete_namespaced_pod, "first", "default", grace_period_seconds=0)
    assert await node_of(env, "second") == "node-a"  # the claim is free again


async def test_a_higher_priority_pod_preempts_the_holder_of_its_read_write_once_pod_claim(
    world: tuple[TestEnv, Api, Scheduler],
) -> None:
    env, api, _ = world
    await held_read_write_once_pod_claim(env, api, "holder")
    high = k8s.V1PriorityClass(metadata=k8s.V1ObjectMeta(name="high"), value=1000)
    await api(k8s.SchedulingV1Api(api.client).create_priority_class, high)
    vip = pod("vip", "only")
    vip.spec.priority_class_name = "high"
    await api(api.core.create_namespaced_pod, "default", vip)

    async def holder_deleting() -> bool:
        current = await api(api.core.read_namespaced_pod, "holder", "default")
        return current.metadata.deletion_timestamp is not None

    await env.eventually(holder_deleting)
    await api(api.core.delete_namespaced_pod, "holder", "default", grace_period_seconds=0)  # as its node would
    assert await node_of(env, "vip") == "node-a"
