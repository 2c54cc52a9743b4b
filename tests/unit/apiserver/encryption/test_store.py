"""EncryptingStore on SQLite and etcd: ciphertext in the store, plaintext through every read path."""

from __future__ import annotations

import asyncio
import os

import pytest
from tests.unit.apiserver.encryption.sealed import OTHER_SECRET, WRITER_SECRET, aescbc_sealed

from pinnace.apiserver.encryption import EncryptingStore, StaleKeyValue, UnreadableValue
from pinnace.apiserver.encryption.providers import AESCBCKey, AESGCMKey, Identity, Transformer
from pinnace.storage import EventType, KeyValue, Store

SECRETS = "/registry/core/secrets/"
KEY = SECRETS + "default/s1"
PLAIN = b'{"data":{"password":"c3VwZXJzZWNyZXQ="}}'


def _wrap(store: Store, transformer: Transformer) -> EncryptingStore:
    return EncryptingStore(store, [(SECRETS, transformer)])


async def test_values_are_ciphertext_below_and_plaintext_above(store: Store) -> None:
    enc = _wrap(store, Transformer([AESGCMKey("k1", os.urandom(32))]))
    watch = enc.watch(SECRETS, 1)
    created = await enc.create(KEY, PLAIN)
    assert created.value == PLAIN
    await enc.create("/registry/core/configmaps/default/c", b"{}")

    stored = await store.get(KEY)
    assert stored is not None and stored.value.startswith(b"k8s:enc:aesgcm:v1:k1:")
    assert b"c3VwZXJzZWNyZXQ" not in stored.value
    assert (await store.get("/registry/core/configmaps/default/c")) == await enc.get(
        "/registry/core/configmaps/default/c"
    )

    got = await enc.get(KEY)
    assert got is not None and got.value == PLAIN and type(got) is KeyValue
    page = await enc.range("/registry/", None)
    assert [kv.value for kv in page.items] == [b"{}", PLAIN]

    updated = await enc.update(KEY, PLAIN + b" ", created.mod_revision)
    deleted = await enc.delete(KEY, updated.mod_revision)
    assert deleted.value == PLAIN + b" "

    events = []
    async for event in watch:
        events.append(event)
        if len(events) == 3:
            break
    assert [e.type for e in events] == [EventType.PUT, EventType.PUT, EventType.DELETE]
    assert [e.kv.value for e in events[:2]] == [PLAIN, PLAIN + b" "]
    assert events[1].prev is not None and events[1].prev.value == PLAIN
    assert events[2].prev is not None and events[2].prev.value == PLAIN + b" "


async def test_old_keys_and_plaintext_read_as_stale(store: Store) -> None:
    old, new = AESCBCKey("key1", os.urandom(32)), AESCBCKey("key2", os.urandom(32))
    await store.create(SECRETS + "default/plain", PLAIN)
    await _wrap(store, Transformer([old, Identity()])).create(KEY, PLAIN)

    rotated = _wrap(store, Transformer([new, old, Identity()]))
    for key in (KEY, SECRETS + "default/plain"):
        kv = await rotated.get(key)
        assert isinstance(kv, StaleKeyValue) and kv.stale and kv.value == PLAIN
        await rotated.update(key, kv.value, kv.mod_revision)
        fresh = await rotated.get(key)
        assert fresh is not None and type(fresh) is KeyValue and fresh.value == PLAIN
        rawkv = await store.get(key)
        assert rawkv is not None and rawkv.value.startswith(b"k8s:enc:aescbc:v1:key2:")

    only_new = _wrap(store, Transformer([new]))
    assert (await only_new.get(KEY)) is not None  # the re-encrypted value no longer needs key1


async def test_a_value_no_key_opens_fails_loudly(store: Store) -> None:
    # sealed with a fixed IV: with a random one, a wrong aescbc key "opens" one value in ~256 (see sealed.py)
    await store.create(KEY, aescbc_sealed("key1", WRITER_SECRET, PLAIN))
    assert await _wrap(store, Transformer([AESCBCKey("key1", WRITER_SECRET)])).get(KEY) is not None
    lost = _wrap(store, Transformer([AESCBCKey("key1", OTHER_SECRET)]))
    with pytest.raises(UnreadableValue, match=f"cannot decrypt the stored value of {KEY}"):
        await lost.get(KEY)


async def test_a_watch_that_does_not_overlap_is_passed_through(store: Store) -> None:
    enc = _wrap(store, Transformer([AESCBCKey("key1", os.urandom(32))]))
    watch = enc.watch("/registry/core/configmaps/", 1)
    await enc.create("/registry/core/configmaps/default/c", b"{}")
    event = await asyncio.wait_for(anext(aiter(watch)), 5)
    assert event.kv.value == b"{}"
