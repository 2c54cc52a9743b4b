"""The namespace controller empties a Terminating namespace, reports what is left, then lets it go."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.controllers.namespace import add_namespace_controller
from pinnace.runtime.manager import Manager

NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments")


@pytest.fixture
async def controller(client: RestClient) -> AsyncIterator[Manager]:
    """A manager running the namespace controller against the in-process server."""
    manager = Manager(client)
    await add_namespace_controller(manager, retry_interval=0.05)
    task = asyncio.create_task(manager.run())
    try:
        yield manager
    finally:
        manager.stop()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 5.0) -> Any:
    """Poll ``check`` until it returns a truthy value (or fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


async def namespace_gone(client: RestClient, name: str) -> bool:
    """Whether the namespace no longer exists."""
    try:
        await client.get(NAMESPACES, name)
    except errors.NotFound:
        return True
    return False


async def test_deleting_a_namespace_deletes_its_content_then_the_namespace(
    client: RestClient, controller: Manager
) -> None:
    await client.create(NAMESPACES, {"metadata": {"name": "team-a"}})
    await client.create(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "v"}}, namespace="team-a")
    deployment = {
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        },
    }
    await client.create(DEPLOYMENTS, deployment, namespace="team-a")
    deleted = await client.delete(NAMESPACES, "team-a")
    assert deleted["status"]["phase"] == "Terminating"
    assert deleted["metadata"]["deletionTimestamp"]

    await eventually(lambda: namespace_gone(client, "team-a"))
    assert (await client.list(CONFIGMAPS, namespace="team-a"))["items"] == []
    assert (await client.list(DEPLOYMENTS, namespace="team-a"))["items"] == []


async def test_a_terminating_namespace_refuses_new_content_and_says_what_remains(
    client: RestClient, controller: Manager
) -> None:
    await client.create(NAMESPACES, {"metadata": {"name": "team-b"}})
    held = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    await client.create(CONFIGMAPS, held, namespace="team-b")
    await client.delete(NAMESPACES, "team-b")

    with pytest.raises(errors.Forbidden, match="because it is being terminated"):
        await client.create(CONFIGMAPS, {"metadata": {"name": "new"}}, namespace="team-b")

    async def finalizers_reported() -> dict[str, Any] | None:
        ns = await client.get(NAMESPACES, "team-b")
        conditions = {c["type"]: c for c in (ns.get("status") or {}).get("conditions") or []}
        cond = conditions.get("NamespaceFinalizersRemaining")
        return cond if cond and cond["status"] == "True" else None

    cond = await eventually(finalizers_reported)
    assert "example.com/hold in 1 resource instances" in cond["message"]

    await client.patch(
        CONFIGMAPS,
        "held",
        [{"op": "remove", "path": "/metadata/finalizers"}],
        namespace="team-b",
        patch_type="application/json-patch+json",
    )

    await eventually(lambda: namespace_gone(client, "team-b"))
