"""Several API servers on one etcd: each has its own watch cache, and reads through one see writes through another."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.unit.storage.etcd_server import EtcdServer

from pinnace.api import errors
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.storage.etcd import EtcdStore

CONFIGMAPS = ResourceRef("", "v1", "configmaps")


@contextlib.asynccontextmanager
async def two_servers(tmp_path: Path) -> AsyncIterator[tuple[APIServer, APIServer]]:
    """Two API servers listening on loopback, each with its own store client and watch cache, on one etcd."""
    etcd = EtcdServer(tmp_path / "etcd")
    await etcd.start()
    stores = [await EtcdStore.open([etcd.endpoint]) for _ in range(2)]
    a, b = (APIServer(store) for store in stores)
    try:
        await a.listen("127.0.0.1", 0)
        await b.listen("127.0.0.1", 0)
        yield a, b
    finally:
        for server in (a, b):
            await server.stop()
        for store in stores:
            await store.close()
        await etcd.stop()


async def test_a_get_through_one_server_sees_a_write_just_made_through_another(tmp_path: Path) -> None:
    async with two_servers(tmp_path) as (a, b):
        configmaps = a.registry.get("", "v1", "configmaps")
        assert configmaps is not None
        for i in range(20):
            made = await a.rest.create(configmaps, "default", {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}})
            # No await between them lets b's watch deliver the event first: the GET itself must catch up.
            seen = await b.rest.get(configmaps, "default", f"cm-{i}")
            assert seen["data"] == {"i": str(i)}
            assert seen["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]


async def test_patches_through_one_server_right_after_writes_through_another_are_never_stale(tmp_path: Path) -> None:
    """A patch may start from the watch cache's copy; a copy behind another server's write must not show:
    a precondition on the newest resourceVersion holds, a patch builds on the newest state, and a patch that
    changes nothing returns the newest object. Through the REST client, one per server."""
    async with two_servers(tmp_path) as (a, b), RestClient(a.url) as through_a, RestClient(b.url) as through_b:
        await through_b.create(CONFIGMAPS, {"metadata": {"name": "shared"}, "data": {"n": "0"}}, "default")
        for i in range(1, 21):
            # b's cache has the object (b made it); a moves it on, and b patches at once.
            moved = await through_a.patch(CONFIGMAPS, "shared", {"data": {"n": str(i)}}, "default")
            rv = moved["metadata"]["resourceVersion"]
            patch = {"metadata": {"resourceVersion": rv}, "data": {f"b{i}": "x"}}
            patched = await through_b.patch(CONFIGMAPS, "shared", patch, "default")
            assert patched["data"]["n"] == str(i) and patched["data"][f"b{i}"] == "x"
            # a may not have b's write yet: the patch changes nothing only against the stored object.
            unchanged = await through_a.patch(CONFIGMAPS, "shared", {"data": {"n": str(i)}}, "default")
            assert unchanged["metadata"]["resourceVersion"] == patched["metadata"]["resourceVersion"]
            assert unchanged["data"] == patched["data"]


async def test_an_object_larger_than_etcd_takes_is_a_413_and_nothing_is_written(tmp_path: Path) -> None:
    """Under the 3 MiB body limit and valid (1 MiB of values at most), yet stored (with its managedFields) it is
    over etcd's request limit: the client is told its object is too large, as a Status; the server goes on."""
    async with two_servers(tmp_path) as (a, _), RestClient(a.url) as rest:
        data = {f"k{i}": "v" for i in range(150_000)}
        with pytest.raises(errors.RequestEntityTooLarge) as exc:
            await rest.create(CONFIGMAPS, {"metadata": {"name": "big"}, "data": data}, "default")
        assert exc.value.code == 413
        assert "etcdserver: request is too large" in str(exc.value)
        with pytest.raises(errors.NotFound):
            await rest.get(CONFIGMAPS, "big", "default")
        made = await rest.create(CONFIGMAPS, {"metadata": {"name": "small"}, "data": {"a": "1"}}, "default")
        with pytest.raises(errors.RequestEntityTooLarge):  # an update too
            await rest.update(CONFIGMAPS, {**made, "data": data})
        assert (await rest.get(CONFIGMAPS, "small", "default"))["data"] == {"a": "1"}
