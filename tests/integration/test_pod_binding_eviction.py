"""pods/binding and pods/eviction against a real server: conflicts, budgets, discovery."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv

PODS = ResourceRef("", "v1", "pods")
BINDINGS = ResourceRef("", "v1", "bindings")
PDBS = ResourceRef("policy", "v1", "poddisruptionbudgets")


def pod(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    }


async def running(env: TestEnv, name: str, *, ready: bool = True, node: str = "n1") -> dict[str, Any]:
    """A pod bound to ``node`` that a node agent reported Running (and Ready)."""
    created = await env.rest.create(PODS, pod(name, {"app": "web"}), "default")
    await env.rest.bind("default", name, node)
    status = {
        "phase": "Running",
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    await env.rest.patch(PODS, name, {"status": status}, "default", subresource="status")
    return created


async def test_binding_sets_node_and_scheduled_condition(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    created = await rest.create(PODS, pod("p"), "default")
    answer = await rest.bind("default", "p", "node-1", uid=created["metadata"]["uid"])
    assert answer["status"] == "Success"
    bound = await rest.get(PODS, "p", "default")
    assert bound["spec"]["nodeName"] == "node-1"
    scheduled = [c for c in bound["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert scheduled and scheduled[0]["status"] == "True" and scheduled[0]["lastTransitionTime"]


async def test_binding_an_assigned_pod_conflicts_as_upstream(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await rest.create(PODS, pod("p"), "default")
    await rest.bind("default", "p", "node-1")
    with pytest.raises(errors.Conflict) as caught:
        await rest.bind("default", "p", "node-2")
    assert (
        caught.value.message
        == 'Operation cannot be fulfilled on pods/binding "p": pod p is already assigned to node "node-1"'
    )
    assert (await rest.get(PODS, "p", "default"))["spec"]["nodeName"] == "node-1"


async def test_binding_checks_uid_name_and_target(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await rest.create(PODS, pod("p"), "default")
    with pytest.raises(errors.Conflict, match="Precondition failed: UID in precondition"):
        await rest.bind("default", "p", "node-1", uid="not-the-uid")
    with pytest.raises(errors.BadRequest, match="name in URL does not match name in Binding object"):
        await rest.request(
            "POST",
            PODS.path("default", "p", "binding"),
            body={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "other"}, "target": {"name": "n"}},
        )
    with pytest.raises(errors.Invalid, match=r"target\.name: Required value"):
        await rest.request(
            "POST", PODS.path("default", "p", "binding"), body={"kind": "Binding", "metadata": {"name": "p"}}
        )
    with pytest.raises(errors.NotFound):
        await rest.bind("default", "missing", "node-1")


async def test_legacy_bindings_collection_binds_by_body_name(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await rest.create(PODS, pod("p"), "default")
    body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"}, "target": {"kind": "Node", "name": "n"}}
    await rest.create(BINDINGS, body, "default")
    assert (await rest.get(PODS, "p", "default"))["spec"]["nodeName"] == "n"


async def test_discovery_names_the_subresources_as_kubectl_expects(pinnace_env: TestEnv) -> None:
    listing = await pinnace_env.rest.request("GET", "/api/v1")
    by_name = {r["name"]: r for r in listing["resources"]}
    assert by_name["pods/eviction"]["group"] == "policy"
    assert by_name["pods/eviction"]["version"] == "v1"
    assert by_name["pods/eviction"]["kind"] == "Eviction"
    assert by_name["pods/eviction"]["verbs"] == ["create"]
    assert by_name["pods/binding"]["kind"] == "Binding"
    assert by_name["bindings"]["verbs"] == ["create"]


async def test_eviction_without_budget_deletes_gracefully(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await running(pinnace_env, "p")
    assert (await rest.evict("default", "p"))["status"] == "Success"
    evicted = await rest.get(PODS, "p", "default")  # bound and running: graceful, a node finishes it
    assert evicted["metadata"]["deletionTimestamp"]
    target = [c for c in evicted["status"]["conditions"] if c["type"] == "DisruptionTarget"]
    assert target[0]["reason"] == "EvictionByEvictionAPI"


async def test_eviction_honours_grace_period_of_delete_options(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await running(pinnace_env, "p")
    await rest.evict("default", "p", gracePeriodSeconds=0)
    with pytest.raises(errors.NotFound):
        await rest.get(PODS, "p", "default")


async def test_eviction_refused_when_budget_allows_no_disruption(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    for name in ("a", "b"):
        await running(pinnace_env, name)
    budget = {"metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    await rest.create(PDBS, budget, "default")
    await rest.evict("default", "a")  # 2 healthy, 1 needed: one disruption allowed
    with pytest.raises(errors.TooManyRequests) as caught:
        await rest.evict("default", "b")
    assert caught.value.message == "Cannot evict pod as it would violate the pod's disruption budget."
    assert caught.value.causes[0].type == "DisruptionBudget"
    assert caught.value.causes[0].message == "The disruption budget web needs 1 healthy pods and has 1 currently"
    assert not (await rest.get(PODS, "b", "default"))["metadata"].get("deletionTimestamp")
    status = (await rest.get(PDBS, "web", "default"))["status"]
    assert status["disruptionsAllowed"] == 0 and "a" in status["disruptedPods"]


async def test_eviction_max_unavailable_and_unhealthy_pods(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await running(pinnace_env, "a")
    await running(pinnace_env, "sick", ready=False)
    budget = {
        "metadata": {"name": "web"},
        "spec": {"maxUnavailable": 0, "selector": {"matchLabels": {"app": "web"}}},
    }
    await rest.create(PDBS, budget, "default")
    with pytest.raises(errors.TooManyRequests):
        await rest.evict("default", "a")
    # an unready pod under the default IfHealthyBudget policy goes only when the budget is met: it is not
    with pytest.raises(errors.TooManyRequests):
        await rest.evict("default", "sick")
    await rest.patch(PDBS, "web", {"spec": {"unhealthyPodEvictionPolicy": "AlwaysAllow"}}, "default")
    await rest.evict("default", "sick")
    assert (await rest.get(PODS, "sick", "default"))["metadata"]["deletionTimestamp"]


async def test_pending_pod_is_evicted_regardless_of_budget(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await rest.create(PODS, pod("p", {"app": "web"}), "default")
    budget = {"metadata": {"name": "web"}, "spec": {"minAvailable": 5, "selector": {"matchLabels": {"app": "web"}}}}
    await rest.create(PDBS, budget, "default")
    await rest.evict("default", "p")
    with pytest.raises(errors.NotFound):
        await rest.get(PODS, "p", "default")


async def test_eviction_name_must_match(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await rest.create(PODS, pod("p"), "default")
    with pytest.raises(errors.BadRequest, match="name in URL does not match name in Eviction object"):
        await rest.request(
            "POST",
            PODS.path("default", "p", "eviction"),
            body={"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "q"}},
        )


async def test_max_unavailable_counts_the_controllers_scale(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    replicasets = ResourceRef("apps", "v1", "replicasets")
    template = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    rs = await rest.create(
        replicasets,
        {
            "metadata": {"name": "web"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": template},
        },
        "default",
    )
    owner = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web",
        "uid": rs["metadata"]["uid"],
        "controller": True,
    }
    for name in ("a", "b"):  # the third replica is missing: already one short of 3
        body = pod(name, {"app": "web"})
        body["metadata"]["ownerReferences"] = [owner]
        await rest.create(PODS, body, "default")
        await rest.bind("default", name, "n1")
        ready = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
        await rest.patch(PODS, name, {"status": ready}, "default", subresource="status")
    budget = {"metadata": {"name": "web"}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"app": "web"}}}}
    await rest.create(PDBS, budget, "default")
    with pytest.raises(errors.TooManyRequests) as caught:
        await rest.evict("default", "a")
    assert caught.value.causes[0].message == "The disruption budget web needs 2 healthy pods and has 2 currently"
    assert not (await rest.get(PODS, "a", "default"))["metadata"].get("deletionTimestamp")
    status = (await rest.get(PDBS, "web", "default"))["status"]  # what kubectl get pdb shows
    assert (status["disruptionsAllowed"], status["currentHealthy"], status["desiredHealthy"]) == (0, 2, 2)
    assert status["expectedPods"] == 3
    allowed = next(c for c in status["conditions"] if c["type"] == "DisruptionAllowed")
    assert (allowed["status"], allowed["reason"]) == ("False", "InsufficientPods")
