"""Several API servers on one etcd: each has its own watch cache, and reads through one see writes through another."""

from __future__ import annotations

from pathlib import Path

from tests.unit.storage.etcd_server import EtcdServer

from pinnace.apiserver.server import APIServer
from pinnace.storage.etcd import EtcdStore


async def test_a_get_through_one_server_sees_a_write_just_made_through_another(tmp_path: Path) -> None:
    etcd = EtcdServer(tmp_path / "etcd")
    await etcd.start()
    stores = [await EtcdStore.open([etcd.endpoint]) for _ in range(2)]
    a, b = (APIServer(store) for store in stores)
    try:
        await a.start()
        await b.start()
        configmaps = a.registry.get("", "v1", "configmaps")
        assert configmaps is not None
        for i in range(20):
            made = await a.rest.create(configmaps, "default", {"metadata": {"name": f"cm-{i}"}, "data": {"i": str(i)}})
            # No await between them lets b's watch deliver the event first: the GET itself must catch up.
            seen = await b.rest.get(configmaps, "default", f"cm-{i}")
            assert seen["data"] == {"i": str(i)}
            assert seen["metadata"]["resourceVersion"] == made["metadata"]["resourceVersion"]
    finally:
        for server in (a, b):
            await server.stop()
        for store in stores:
            await store.close()
        await etcd.stop()
