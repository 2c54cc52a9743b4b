"""The garbage collector on the SDK: background, orphan and foreground deletion, dangling and invalid owners."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import errors
from pinnace.cluster.testenv import TestEnv

pytestmark = pytest.mark.pinnace_env(controllers=["gc"])

CM = "v1/ConfigMap"


def cm(name: str, namespace: str = "default", owners: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if owners:
        meta["ownerReferences"] = owners
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


def ref(owner: dict[str, Any], *, block: bool = False) -> dict[str, Any]:
    out = {
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
    }
    if block:
        out["blockOwnerDeletion"] = True
    return out


async def gone(env: TestEnv, kind: str, name: str, namespace: str | None = "default") -> bool:
    try:
        await env.client.get(kind, name, namespace)
    except errors.NotFound:
        return True
    return False


async def test_background_deletion_collects_dependents(pinnace_env: TestEnv) -> None:
    c = pinnace_env.client
    owner = await c.create(cm("owner"))
    await c.create(cm("child", owners=[ref(owner)]))
    await c.create(cm("grandchild", owners=[ref(await c.get(CM, "child", "default"))]))
    await c.delete(owner, propagation_policy="Background")
    await pinnace_env.eventually(lambda: gone(pinnace_env, CM, "child"))
    await pinnace_env.eventually(lambda: gone(pinnace_env, CM, "grandchild"))


async def test_orphan_deletion_keeps_dependents_and_drops_the_reference(pinnace_env: TestEnv) -> None:
    c = pinnace_env.client
    owner = await c.create(cm("owner"))
    other = await c.create(cm("other-owner"))
    await c.create(cm("child", owners=[ref(owner), ref(other)]))
    await c.delete(owner, propagation_policy="Orphan")
    await pinnace_env.eventually(lambda: gone(pinnace_env, CM, "owner"))
    child = await c.get(CM, "child", "default")
    assert [r["name"] for r in child["metadata"]["ownerReferences"]] == ["other-owner"]


async def test_foreground_deletion_removes_dependents_first(pinnace_env: TestEnv) -> None:
    c = pinnace_env.client
    owner = await c.create(cm("owner"))
    await c.create(cm("child", owners=[ref(owner, block=True)]))
    deleting = await c.delete(owner, propagation_policy="Foreground")
    assert "foregroundDeletion" in deleting["metadata"]["finalizers"]
    await pinnace_env.eventually(lambda: gone(pinnace_env, CM, "child"))
    await pinnace_env.eventually(lambda: gone(pinnace_env, CM, "owner"))


async def test_dangling_and_cross_namespace_owners_are_absent(pinnace_env: TestEnv) -> None:
    c = pinnace_env.client
    await c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    owner = await c.create(cm("owner"))
    missing = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "name": "never-was",
        "uid": "00000000-0000-4000-8000-000000000000",
    }
    await c.create(cm("dangling", owners=[missing]))
    await c.create(cm("elsewhere", namespace="other", owners=[ref(owner)]))  # a namespaced owner in another namespace
    await c.create(cm("kept", owners=[ref(owner)]))
    await pinnace_env.eventually(lambda: gone(pinnace_env, CM, "dangling"))
    await pinnace_env.eventually(lambda: gone(pinnace_env, CM, "elsewhere", "other"))
    assert not await gone(pinnace_env, CM, "kept")


async def test_a_cluster_scoped_dependent_of_a_namespaced_kind_is_kept_with_a_warning(pinnace_env: TestEnv) -> None:
    c = pinnace_env.client
    owner = await c.create(cm("owner"))
    role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "odd", "ownerReferences": [ref(owner)]},
        "rules": [],
    }
    await c.create(role)

    async def warned() -> bool:
        events = await c.list("v1/Event", "default")  # core/v1, what kubectl describe lists
        return any(e["reason"] == "OwnerRefInvalidNamespace" and e["involvedObject"]["name"] == "odd" for e in events)

    await pinnace_env.eventually(warned)
    assert not await gone(pinnace_env, "rbac.authorization.k8s.io/v1/ClusterRole", "odd", None)


GADGETS_CRD: dict[str, Any] = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.gc.example.com"},
    "spec": {
        "group": "gc.example.com",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget", "listKind": "GadgetList"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
            }
        ],
    },
}


async def test_kinds_of_a_crd_installed_after_start_are_collected(pinnace_env: TestEnv) -> None:
    """The collector follows discovery: a CRD made after it started is watched, its objects collected."""
    c = pinnace_env.client
    await pinnace_env.install_crds([GADGETS_CRD])
    owner = await c.create(cm("owner"))
    gadget = {
        "apiVersion": "gc.example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": "g", "namespace": "default", "ownerReferences": [ref(owner)]},
    }
    made = await c.create(gadget)
    # A gadget owning a configmap: the owner is answered from the collector's gadget cache once it watches them.
    await c.create(cm("gadget-child", owners=[ref(made)]))
    await c.delete(owner, propagation_policy="Background")
    await pinnace_env.eventually(lambda: gone(pinnace_env, "gc.example.com/v1/Gadget", "g"))
    await pinnace_env.eventually(lambda: gone(pinnace_env, CM, "gadget-child"))
    # And once the CRD is gone, the collector stops watching its kind without breaking the others.
    await c.delete(await c.get("apiextensions.k8s.io/v1/CustomResourceDefinition", "gadgets.gc.example.com"))
    await c.create(cm("owner-2"))
    owner2 = await c.get(CM, "owner-2", "default")
    await c.create(cm("child-2", owners=[ref(owner2)]))
    await c.delete(owner2, propagation_policy="Background")
    await pinnace_env.eventually(lambda: gone(pinnace_env, CM, "child-2"))
