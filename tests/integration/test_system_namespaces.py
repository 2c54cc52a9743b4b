"""The system namespaces exist from the start, and come back when deleted (as upstream)."""

from __future__ import annotations

import pytest

from pinnace.api import errors
from pinnace.apiserver.server import SYSTEM_NAMESPACES, APIServer
from pinnace.client.rest import ResourceRef, RestClient

NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)


async def test_system_namespaces_exist_from_the_start(client: RestClient) -> None:
    listed = await client.list(NAMESPACES)
    assert {o["metadata"]["name"] for o in listed["items"]} >= set(SYSTEM_NAMESPACES)


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_immortal_namespaces_refuse_deletion(client: RestClient, name: str) -> None:
    with pytest.raises(errors.Forbidden, match="this namespace may not be deleted"):
        await client.delete(NAMESPACES, name)
    assert (await client.get(NAMESPACES, name))["metadata"]["name"] == name


async def test_a_deleted_kube_node_lease_is_recreated(api_server: APIServer, client: RestClient) -> None:
    before = await client.get(NAMESPACES, "kube-node-lease")
    deleted = await client.delete(NAMESPACES, "kube-node-lease")
    # Without a namespace controller here, the kubernetes finalizer keeps it Terminating: finish the job.
    assert deleted["status"]["phase"] == "Terminating"
    await client.update(NAMESPACES, {**deleted, "spec": {"finalizers": []}}, subresource="finalize")
    with pytest.raises(errors.NotFound):
        await client.get(NAMESPACES, "kube-node-lease")
    await api_server.ensure_system_namespaces()
    again = await client.get(NAMESPACES, "kube-node-lease")
    assert again["metadata"]["uid"] != before["metadata"]["uid"]
