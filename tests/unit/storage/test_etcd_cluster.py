"""etcd membership through the store's transport, against a real etcd: list, add a learner, promote, remove.

A learner that never starts does not count in the quorum: the one-member
cluster keeps taking writes while it is there, and removing it restores the
membership. A voting member added and never started would leave a
two-member cluster without quorum: that is why a control-plane join adds a
learner first.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.unit.storage.etcd_server import EtcdServer, free_port

from pinnace.storage.etcd import EtcdStore
from pinnace.storage.etcd_cluster import EtcdCluster


@pytest.fixture
async def etcd(tmp_path: Path) -> AsyncIterator[EtcdServer]:
    server = EtcdServer(tmp_path / "m0")
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_a_learner_that_never_starts_leaves_the_quorum_alone(etcd: EtcdServer) -> None:
    cluster = EtcdCluster([etcd.endpoint])
    store = await EtcdStore.open([etcd.endpoint], retry_timeout=2.0, request_timeout=2.0, watch_window=0)
    try:
        (only,) = await cluster.members()
        assert only.name == "m0" and only.client_urls == (etcd.endpoint,) and not only.is_learner

        peer = f"http://127.0.0.1:{free_port()}"
        added, members = await cluster.add([peer], learner=True)
        assert added.is_learner and added.peer_urls == (peer,) and added.name == ""  # not started: no name yet
        assert {m.id for m in members} == {only.id, added.id}
        await store.create("/registry/test/a", b"written while the learner is absent")  # the quorum is still one
        with pytest.raises(RuntimeError, match=r"FAILED_PRECONDITION|not in sync|learner"):
            await cluster.promote(added.id)  # it has never caught up: etcd refuses

        remaining = await cluster.remove(added.id)
        assert [m.id for m in remaining] == [only.id]
        assert [m.id for m in await cluster.members()] == [only.id]
    finally:
        await store.close()
        await cluster.close()
