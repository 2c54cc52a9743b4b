"""The Memcached operator against an in-process API server (the pinnace_env fixture)."""

from __future__ import annotations

from typing import Any

import pytest
from memcached_operator.api import Memcached, MemcachedSpec
from memcached_operator.controller import FINALIZER, labels_for, setup

from pinnace.api import errors
from pinnace.cluster.testenv import TestEnv
from pinnace.runtime.conditions import is_status_condition_true
from pinnace.runtime.crdgen import crd_for

DEPLOYMENT = "apps/v1/Deployment"


@pytest.fixture
async def env(pinnace_env: TestEnv) -> TestEnv:
    """The server with the Memcached CRD installed and the operator running."""
    await pinnace_env.install_crds([crd_for(Memcached)])
    manager = pinnace_env.manager()
    await setup(manager)
    await pinnace_env.start(manager)
    return pinnace_env


def pod(name: str, instance: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default", "labels": labels_for(instance)},
        "spec": {"containers": [{"name": "memcached", "image": "memcached:1.6-alpine"}]},
    }


async def test_size_becomes_an_owned_deployment_and_follows_changes(env: TestEnv) -> None:
    c = env.client
    mc = await c.create(Memcached(metadata={"name": "cache", "namespace": "default"}, spec=MemcachedSpec(size=3)))
    deployment = await env.eventually(lambda: c.get(DEPLOYMENT, "cache", "default"))
    assert deployment["spec"]["replicas"] == 3
    (owner,) = deployment["metadata"]["ownerReferences"]
    assert owner["kind"] == "Memcached" and owner["uid"] == mc.metadata["uid"] and owner["controller"] is True

    current: Memcached = await c.get(Memcached, "cache", "default")
    assert FINALIZER in current.metadata["finalizers"]

    async def resize() -> bool:
        # The operator may write the object (its status) between our read and our update: read again then,
        # as client-go's RetryOnConflict does.
        latest: Memcached = await c.get(Memcached, "cache", "default")
        latest.spec.size = 5
        try:
            await c.update(latest)
        except errors.Conflict:
            return False
        return True

    await env.eventually(resize)

    async def scaled() -> bool:
        return bool((await c.get(DEPLOYMENT, "cache", "default"))["spec"]["replicas"] == 5)

    await env.eventually(scaled)


async def test_status_lists_the_pods_and_reports_availability(env: TestEnv) -> None:
    c = env.client
    await c.create(Memcached(metadata={"name": "m", "namespace": "default"}, spec=MemcachedSpec(size=2)))
    await env.eventually(lambda: c.get(DEPLOYMENT, "m", "default"))
    for name in ("m-a", "m-b"):
        await c.create(pod(name, "m"))
    await c.create(pod("other-x", "other"))  # someone else's pod: not listed

    async def listed() -> bool:
        obj: Memcached = await c.get(Memcached, "m", "default")
        return obj.status is not None and obj.status.nodes == ["m-a", "m-b"]

    await env.eventually(listed)
    obj: Memcached = await c.get(Memcached, "m", "default")
    assert obj.status is not None and not is_status_condition_true(obj.status.conditions, "Available")

    # The Deployment reports its pods ready (there is no deployment controller here): Available.
    deployment = await c.get(DEPLOYMENT, "m", "default")
    await c.status().update({**deployment, "status": {"replicas": 2, "readyReplicas": 2}})

    async def available() -> bool:
        obj: Memcached = await c.get(Memcached, "m", "default")
        return obj.status is not None and is_status_condition_true(obj.status.conditions, "Available")

    await env.eventually(available)


async def test_deletion_runs_the_finalizer_and_the_object_goes(env: TestEnv) -> None:
    c = env.client
    await c.create(Memcached(metadata={"name": "gone", "namespace": "default"}, spec=MemcachedSpec(size=1)))
    await env.eventually(lambda: c.get(DEPLOYMENT, "gone", "default"))
    await env.eventually(lambda: _has_finalizer(env, "gone"))
    await c.delete(Memcached(metadata={"name": "gone", "namespace": "default"}))

    async def deleted() -> bool:
        try:
            await c.get(Memcached, "gone", "default")
        except errors.NotFound:
            return True
        return False

    await env.eventually(deleted)
    events = await c.list("v1/Event", "default")  # core/v1 Events, what the manager's recorder writes
    reasons = {e["reason"] for e in events if e["involvedObject"]["name"] == "gone"}
    assert {"Created", "Deleting"} <= reasons


async def test_invalid_size_is_refused_by_the_schema(env: TestEnv) -> None:
    with pytest.raises(errors.Invalid, match=r"spec\.size"):
        await env.client.create(
            {
                "apiVersion": "cache.example.com/v1alpha1",
                "kind": "Memcached",
                "metadata": {"name": "huge", "namespace": "default"},
                "spec": {"size": 500},
            }
        )


async def _has_finalizer(env: TestEnv, name: str) -> bool:
    obj: Memcached = await env.client.get(Memcached, name, "default")
    return FINALIZER in (obj.metadata.get("finalizers") or [])
