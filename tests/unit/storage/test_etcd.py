"""etcd-specific behaviour of ``EtcdStore`` beyond the shared contract: restarts, failover, compaction seen by
another client, watches that do not fit the event window."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.integration.client.pki import CA
from tests.unit.storage.etcd_server import EtcdServer, ServerTLS, free_port
from tests.unit.storage.test_contract import P, take

from pinnace.storage import Compacted, EventType, KeyValue, StorageError, ValueTooLarge
from pinnace.storage.etcd import EtcdStore, EtcdTLS


@pytest.fixture
async def etcd(tmp_path: Path) -> AsyncIterator[EtcdServer]:
    """A fresh single-member etcd, killed after the test."""
    server = EtcdServer(tmp_path / "etcd")
    try:
        await server.start()
        yield server
    finally:
        await server.stop()


async def test_watches_and_writes_survive_an_etcd_restart(etcd: EtcdServer) -> None:
    store = await EtcdStore.open([etcd.endpoint])
    direct = await EtcdStore.open([etcd.endpoint], watch_window=0)
    try:
        before = [await store.create(f"{P}{i}", b"before") for i in range(5)]
        windowed = aiter(store.watch(P, 1))
        own = aiter(direct.watch(P, 1))
        assert [e.kv for e in await take(windowed, 5)] == before
        assert [e.kv for e in await take(own, 5)] == before

        await etcd.stop()
        during = asyncio.ensure_future(store.create(P + "during", b"x"))  # retried until etcd is back
        await asyncio.sleep(0.3)
        assert not during.done()
        await etcd.start()
        after = [await during] + [await direct.update(f"{P}{i}", b"after", None) for i in range(3)]

        for it in (windowed, own):
            events = await take(it, len(after), timeout=20)
            assert [e.kv for e in events] == after, "resumed from the next revision: nothing lost or repeated"
            assert [e.prev.value if e.prev else None for e in events] == [None, b"before", b"before", b"before"]
        assert await store.current_revision() == after[-1].mod_revision == 9
    finally:
        await store.close()
        await direct.close()


async def test_fails_over_to_the_next_endpoint(etcd: EtcdServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    store = await EtcdStore.open([dead, etcd.endpoint], watch_window=0)
    try:
        created = await store.create(P + "a", b"1")
        (event,) = await take(aiter(store.watch(P, 1)), 1)
        assert event.kv == created == KeyValue(P + "a", b"1", 1, 1)
    finally:
        await store.close()


async def test_prefix_isolates_stores_on_one_etcd(etcd: EtcdServer) -> None:
    one = await EtcdStore.open([etcd.endpoint], prefix="/one")
    two = await EtcdStore.open([etcd.endpoint], prefix="/two")
    try:
        a = await one.create(P + "a", b"1")
        b = await two.create(P + "a", b"2")
        assert (a.mod_revision, b.mod_revision) == (1, 2), "one etcd, one revision sequence"
        assert [kv.value for kv in (await one.range("")).items] == [b"1"]
        assert await two.count("") == 1
        (event,) = await take(aiter(two.watch("", 1)), 1)
        assert event.kv == b
    finally:
        await one.close()
        await two.close()


async def test_compaction_by_another_client_surfaces_as_compacted(etcd: EtcdServer) -> None:
    writer = await EtcdStore.open([etcd.endpoint])
    try:
        await writer.create(P + "a", b"1")  # 1
        await writer.update(P + "a", b"2", None)  # 2
        await writer.update(P + "a", b"3", None)  # 3
        await writer.create(P + "b", b"1")  # 4
        await writer.compact(3)
    finally:
        await writer.close()
    reader = await EtcdStore.open([etcd.endpoint])  # knows nothing of the compaction yet
    try:
        with pytest.raises(Compacted) as err:
            await reader.get(P + "a", revision=1)
        assert (err.value.requested, err.value.compacted) == (1, 3)
        assert await reader.compacted_revision() == 3
        with pytest.raises(Compacted):
            await anext(aiter(reader.watch(P, 2)))
        assert await reader.get(P + "a", revision=3) == KeyValue(P + "a", b"3", 1, 3)
        events = await take(aiter(reader.watch(P, 3)), 2)  # before the window: an etcd watch of its own
        assert [(e.revision, e.prev.value if e.prev else None) for e in events] == [(3, b"2"), (4, None)]
    finally:
        await reader.close()


async def test_a_watch_from_before_the_window_reads_etcd_history(etcd: EtcdServer) -> None:
    store = await EtcdStore.open([etcd.endpoint], watch_window=3)
    try:
        kvs = [await store.create(f"{P}{i}", b"x") for i in range(6)]
        deleted = await store.delete(f"{P}0")
        events = await take(aiter(store.watch(P, 1)), 7)
        assert [e.kv for e in events[:6]] == kvs
        assert events[6].type is EventType.DELETE and events[6].revision == deleted.mod_revision
        assert events[6].prev == kvs[0]
    finally:
        await store.close()


async def test_progress_on_a_watch_of_its_own(etcd: EtcdServer) -> None:
    store = await EtcdStore.open([etcd.endpoint], watch_window=0)
    try:
        a = await store.create(P + "a", b"1")
        it = aiter(store.watch(P, 1, progress=True))
        assert (await take(it, 1))[0].kv == a
        other = await store.create("/elsewhere", b"1")
        store.request_progress()
        (event,) = await take(it, 1)
        assert event.type is EventType.PROGRESS and event.revision == other.mod_revision
    finally:
        await store.close()


async def test_tls_with_client_certificates(tmp_path: Path) -> None:
    ca = CA("etcd-ca")
    files = {"ca.pem": ca.pem}
    for name, pair in (("server", ca.issue("etcd", server=True, sans=("127.0.0.1",))), ("client", ca.issue("pinnace"))):
        files[f"{name}.pem"], files[f"{name}-key.pem"] = pair.cert, pair.key
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    client = EtcdTLS(tmp_path / "ca.pem", tmp_path / "client.pem", tmp_path / "client-key.pem")
    server = EtcdServer(tmp_path / "etcd", tls=ServerTLS(tmp_path / "server.pem", tmp_path / "server-key.pem", client))
    try:
        await server.start()
        store = await EtcdStore.open([server.endpoint], tls=client)
        try:
            created = await store.create(P + "a", b"secret")
            (event,) = await take(aiter(store.watch(P, 1)), 1)
            assert event.kv == created
        finally:
            await store.close()
        anonymous = EtcdTLS(tmp_path / "ca.pem")  # trusts the server but shows no client certificate
        with pytest.raises(StorageError):
            await EtcdStore.open([server.endpoint], tls=anonymous, retry_timeout=0.5)
    finally:
        await server.stop()


async def test_the_event_window_gives_each_watch_exactly_the_keys_under_its_prefix(etcd: EtcdServer) -> None:
    # Prefixes ending in "/" are looked up by the key's own prefixes; the others ("" and one that stops inside a
    # name) are tested one by one. Every watch, live or replaying the window, gets exactly the events under its
    # prefix, in order.
    store = await EtcdStore.open([etcd.endpoint])
    try:
        start = await store.current_revision() + 1
        prefixes = [P, f"{P}ns1/", f"{P}ns1/a", "", "/registry/other/things/", "/"]
        keys = [f"{P}ns1/a1", f"{P}ns2/b1", "/registry/other/things/x", f"{P}ns1/b2", f"{P}ns1/a2"]
        watches = {prefix: aiter(store.watch(prefix, start)) for prefix in prefixes}
        live = {
            prefix: asyncio.ensure_future(take(watch, sum(k.startswith(prefix) for k in keys)))
            for prefix, watch in watches.items()
        }
        await asyncio.sleep(0.2)  # every watch is subscribed before the writes
        written = [await store.create(key, b"v") for key in keys]
        replayed = {prefix: aiter(store.watch(prefix, start)) for prefix in prefixes}
        for prefix in prefixes:
            wanted = [kv for kv in written if kv.key.startswith(prefix)]
            assert [e.kv for e in await live[prefix]] == wanted, prefix
            assert [e.kv for e in await take(replayed[prefix], len(wanted))] == wanted, prefix

        # A watch that ended leaves the window; a new one on the same prefix gets only what follows.
        await watches[f"{P}ns1/"].aclose()  # type: ignore[attr-defined]
        again = aiter(store.watch(f"{P}ns1/", written[-1].mod_revision + 1))
        late = await store.create(f"{P}ns1/c", b"v")
        assert [e.kv for e in await take(again, 1)] == [late]
        assert [e.kv for e in await take(watches[P], 1)] == [late]
    finally:
        await store.close()


async def test_a_value_over_etcds_request_limit_is_value_too_large_and_nothing_is_written(etcd: EtcdServer) -> None:
    """etcd takes requests of at most 1.5 MiB (--max-request-bytes); gRPC refuses larger ones (from 2 MiB) before
    etcd sees them. Both are the caller's object being too big: ``ValueTooLarge``, not a store failure."""
    store = await EtcdStore.open([etcd.endpoint])
    try:
        revision = await store.current_revision()
        for size in (1_700_000, 3_000_000):
            with pytest.raises(ValueTooLarge, match="etcdserver: request is too large"):
                await store.create(f"{P}big", b"x" * size)
            kept = await store.create(f"{P}small", b"x")  # the store goes on
            with pytest.raises(ValueTooLarge):
                await store.update(f"{P}small", b"x" * size, kept.mod_revision)
            assert await store.get(f"{P}big") is None
            assert (await store.get(f"{P}small")) == kept
            await store.delete(f"{P}small")
        assert await store.current_revision() == revision + 4  # the two creates and deletes of "small" only
    finally:
        await store.close()


async def test_a_full_etcd_is_a_store_failure_that_says_so_and_deletes_still_work(tmp_path: Path) -> None:
    """Past --quota-backend-bytes etcd raises its NOSPACE alarm and refuses writes with RESOURCE_EXHAUSTED, as it
    does a request over its size limit; but here the store is full, not the object too big: a ``StorageError``
    with etcd's words (the API server's 500, as upstream's), not ``ValueTooLarge`` (a 413 that would blame the
    object). Reads go on, and deletes, which etcd still takes, free room."""
    etcd = EtcdServer(tmp_path / "etcd", quota_backend_bytes=4_000_000)
    await etcd.start()
    store = await EtcdStore.open([etcd.endpoint])
    try:
        written: list[KeyValue] = []
        with pytest.raises(StorageError) as full:
            for i in range(200):  # 20 MB of values: well past the quota
                written.append(await store.create(f"{P}v{i}", b"x" * 100_000))
        assert not isinstance(full.value, ValueTooLarge)
        assert str(full.value) == "etcdserver: mvcc: database space exceeded"
        assert len(written) > 10
        assert [kv.key for kv in (await store.range(P)).items] == sorted(kv.key for kv in written)
        await store.delete(written[0].key)
        assert await store.get(written[0].key) is None
    finally:
        await store.close()
        await etcd.stop()
