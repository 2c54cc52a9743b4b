"""A resourceVersion inside a patch is a precondition, as upstream: 409 unless it is current."""

from __future__ import annotations

import pytest

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient

CONFIGMAPS = ResourceRef("", "v1", "configmaps")


async def test_patch_with_a_stale_resource_version_conflicts_and_changes_nothing(client: RestClient) -> None:
    created = await client.create(CONFIGMAPS, {"metadata": {"name": "p"}, "data": {"v": "0"}}, namespace="default")
    rv = created["metadata"]["resourceVersion"]
    moved = await client.patch(CONFIGMAPS, "p", {"data": {"v": "1"}}, namespace="default")
    with pytest.raises(errors.Conflict, match="the object has been modified"):
        await client.patch(
            CONFIGMAPS, "p", {"metadata": {"resourceVersion": rv}, "data": {"v": "2"}}, namespace="default"
        )
    assert (await client.get(CONFIGMAPS, "p", "default"))["data"] == {"v": "1"}
    current = moved["metadata"]["resourceVersion"]
    ok = await client.patch(
        CONFIGMAPS, "p", {"metadata": {"resourceVersion": current}, "data": {"v": "3"}}, namespace="default"
    )
    assert ok["data"] == {"v": "3"}
