"""PodDisruptionBudgets over pods a custom resource controls: their expected pods come from its ``scale``
subresource, at eviction time and in the disruption controller, as upstream's ``getScaleController``; a kind
without one makes the budget fail safe."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv

GROUP = "example.com"
PODS = ResourceRef("", "v1", "pods")
PDBS = ResourceRef("policy", "v1", "poddisruptionbudgets")
EVENTS = ResourceRef("", "v1", "events")
SCALED = ResourceRef(GROUP, "v1", "fleets")
UNSCALED = ResourceRef(GROUP, "v1", "gadgets")


def crd(plural: str, kind: str, *, scale: bool) -> dict[str, Any]:
    subresources: dict[str, Any] = {"status": {}}
    if scale:
        subresources["scale"] = {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}"},
        "spec": {
            "group": GROUP,
            "scope": "Namespaced",
            "names": {"plural": plural, "kind": kind},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": subresources,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                }
            ],
        },
    }


async def workload(env: TestEnv, ref: ResourceRef, kind: str, replicas: int, pods: int) -> None:
    """A custom workload of ``replicas`` whose ``pods`` pods (labelled app=web) are bound and Ready."""
    await env.install_crds([crd(ref.plural, kind, scale=ref is SCALED)])
    owner_obj = await env.rest.create(
        ref, {"apiVersion": f"{GROUP}/v1", "kind": kind, "metadata": {"name": "web"}, "spec": {"replicas": replicas}},
        "default",
    )  # fmt: skip
    owner = {
        "apiVersion": f"{GROUP}/v1",
        "kind": kind,
        "name": "web",
        "uid": owner_obj["metadata"]["uid"],
        "controller": True,
    }
    for i in range(pods):
        body = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"web-{i}", "labels": {"app": "web"}, "ownerReferences": [owner]},
            "spec": {"containers": [{"name": "c", "image": "busybox"}]},
        }
        await env.rest.create(PODS, body, "default")
        await env.rest.bind("default", f"web-{i}", "n1")
        ready = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        await env.rest.patch(PODS, f"web-{i}", {"status": ready}, "default", subresource="status")


BUDGET = {"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}}


async def test_eviction_counts_a_custom_controllers_scale(pinnace_env: TestEnv) -> None:
    """A Fleet of 3 with 2 Ready pods, a budget of maxUnavailable 1: 3 expected, 2 needed, none to spare. (Its
    pods were counted as they were: 2 expected, 1 needed, and the eviction went through.)"""
    rest = pinnace_env.rest
    await workload(pinnace_env, SCALED, "Fleet", replicas=3, pods=2)
    await rest.create(PDBS, BUDGET, "default")
    with pytest.raises(errors.TooManyRequests) as caught:
        await rest.evict("default", "web-0")
    assert caught.value.causes[0].message == "The disruption budget web needs 2 healthy pods and has 2 currently"
    assert not (await rest.get(PODS, "web-0", "default"))["metadata"].get("deletionTimestamp")
    status = (await rest.get(PDBS, "web", "default"))["status"]
    assert (status["expectedPods"], status["desiredHealthy"], status["disruptionsAllowed"]) == (3, 2, 0)
    await rest.patch(SCALED, "web", {"spec": {"replicas": 2}}, "default", subresource="scale")
    assert (await rest.evict("default", "web-0"))["status"] == "Success"  # one of 2 may go now
    assert (await rest.get(PODS, "web-0", "default"))["metadata"]["deletionTimestamp"]


async def test_eviction_fails_safe_for_a_custom_controller_without_scale(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await workload(pinnace_env, UNSCALED, "Gadget", replicas=2, pods=2)
    await rest.create(PDBS, BUDGET, "default")
    with pytest.raises(errors.TooManyRequests):
        await rest.evict("default", "web-0")
    status = (await rest.get(PDBS, "web", "default"))["status"]
    allowed = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    assert (status["disruptionsAllowed"], allowed["reason"]) == (0, "SyncFailed")
    assert allowed["message"] == "gadgets.example.com does not implement the scale subresource"


async def _eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await check()
        if found or asyncio.get_running_loop().time() > deadline:
            return found
        await asyncio.sleep(0.05)


@pytest.mark.pinnace_env(controllers=["disruption"])
async def test_disruption_controller_reads_the_scale_subresource(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await workload(pinnace_env, SCALED, "Fleet", replicas=4, pods=3)
    await rest.create(PDBS, BUDGET, "default")

    async def counted() -> Any:
        status = (await rest.get(PDBS, "web", "default")).get("status") or {}
        return status if status.get("expectedPods") == 4 else None

    status = await _eventually(counted)
    assert status is not None, (await rest.get(PDBS, "web", "default")).get("status")
    assert (status["currentHealthy"], status["desiredHealthy"], status["disruptionsAllowed"]) == (3, 3, 0)


@pytest.mark.pinnace_env(controllers=["disruption"])
async def test_disruption_controller_warns_of_a_custom_controller_without_scale(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await workload(pinnace_env, UNSCALED, "Gadget", replicas=2, pods=2)
    await rest.create(PDBS, BUDGET, "default")
    note = "Failed to calculate the number of expected pods: "
    note += "gadgets.example.com does not implement the scale subresource"

    async def warned() -> Any:
        events = (await rest.list(EVENTS, "default"))["items"]
        return [e for e in events if e.get("reason") == "CalculateExpectedPodCountFailed"]

    events = await _eventually(warned)
    assert events and events[0]["message"] == note
    status = (await rest.get(PDBS, "web", "default"))["status"]
    allowed = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    assert (status["disruptionsAllowed"], allowed["reason"]) == (0, "SyncFailed")
