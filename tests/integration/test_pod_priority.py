"""Pod priority resolved from PriorityClasses at create time (upstream's Priority admission)."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv

PODS = ResourceRef("", "v1", "pods")
CLASSES = ResourceRef("scheduling.k8s.io", "v1", "priorityclasses", namespaced=False)


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


async def test_class_name_resolves_to_priority_and_policy(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await rest.create(CLASSES, {"metadata": {"name": "high"}, "value": 1000, "preemptionPolicy": "Never"})
    created = await rest.create(PODS, pod("p", priorityClassName="high"), "default")
    assert created["spec"]["priority"] == 1000
    assert created["spec"]["preemptionPolicy"] == "Never"
    plain = await rest.create(PODS, pod("plain"), "default")
    assert plain["spec"]["priority"] == 0 and plain["spec"]["preemptionPolicy"] == "PreemptLowerPriority"
    critical = await rest.create(PODS, pod("critical", priorityClassName="system-node-critical"), "default")
    assert critical["spec"]["priority"] == 2000001000


async def test_global_default_class_is_named_in_the_pod(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await rest.create(CLASSES, {"metadata": {"name": "normal"}, "value": 50, "globalDefault": True})
    created = await rest.create(PODS, pod("p"), "default")
    assert (created["spec"]["priorityClassName"], created["spec"]["priority"]) == ("normal", 50)


async def test_unknown_class_and_contradicting_spec_are_forbidden(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    with pytest.raises(errors.Forbidden) as caught:
        await rest.create(PODS, pod("p", priorityClassName="nope"), "default")
    assert caught.value.message == 'pods "p" is forbidden: no PriorityClass with name nope was found'
    await rest.create(CLASSES, {"metadata": {"name": "high"}, "value": 1000})
    with pytest.raises(errors.Forbidden) as caught:
        await rest.create(PODS, pod("q", priorityClassName="high", priority=5), "default")
    assert caught.value.message == (
        'pods "q" is forbidden: the integer value of priority (5) must not be provided in pod spec; '
        "priority admission controller computed 1000 from the given PriorityClass name"
    )
    with pytest.raises(errors.NotFound):
        await rest.get(PODS, "q", "default")


async def test_the_system_priority_classes_exist_from_the_start(pinnace_env: TestEnv) -> None:
    listed = await pinnace_env.rest.list(CLASSES)
    classes = {pc["metadata"]["name"]: pc for pc in listed["items"]}
    assert classes["system-node-critical"]["value"] == 2000001000
    assert classes["system-cluster-critical"]["value"] == 2000000000
    assert classes["system-cluster-critical"]["preemptionPolicy"] == "PreemptLowerPriority"
    assert not classes["system-node-critical"].get("globalDefault")
