"""A Store decorator that encrypts the values of configured prefixes on the way in and decrypts them on the way out.

It sits between the API server (its REST store and watch caches) and the
real store, so everything above it — validation, the watch caches, watch
events, lists — sees plaintext, and the store (SQLite file, etcd) only ever
holds ciphertext for the encrypted resources: upstream puts its value
transformer at the same place, inside its etcd3 storage.

The storage key is the encryption context (aesgcm authenticates it). A value
read with any but the current write key comes back as a :class:`StaleKeyValue`
(``stale`` is True): an update that changes nothing still rewrites it, so
replacing every object re-encrypts the store with the current key, as
``kubectl replace`` does against kube-apiserver.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from pinnace.apiserver.encryption.providers import DecryptError, Transformer
from pinnace.storage import CorruptValue, Event, KeyValue, RangeResult, Store

__all__ = ["EncryptingStore", "StaleKeyValue", "UnreadableValue"]


@dataclass(frozen=True, slots=True)
class StaleKeyValue(KeyValue):
    """A value that was written with an older key or provider (or unencrypted): rewrite it to re-encrypt."""

    @property
    def stale(self) -> bool:
        """Always True: the value is not in the current write key's form."""
        return True


class UnreadableValue(CorruptValue):
    """A stored value that none of the configured providers can decrypt."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(key, f"cannot decrypt the stored value of {key}: {reason}")


class EncryptingStore:
    """``inner`` with the values under ``prefixes`` encrypted (first matching prefix wins)."""

    def __init__(self, inner: Store, prefixes: list[tuple[str, Transformer]]) -> None:
        self.inner = inner
        self.shared = inner.shared
        self.prefixes = prefixes

    def transformer(self, key: str) -> Transformer | None:
        """The transformer of a key, or None for a key stored as it is."""
        for prefix, transformer in self.prefixes:
            if key.startswith(prefix):
                return transformer
        return None

    def _overlaps(self, prefix: str) -> bool:
        return any(p.startswith(prefix) or prefix.startswith(p) for p, _ in self.prefixes)

    def _open(self, kv: KeyValue) -> KeyValue:
        transformer = self.transformer(kv.key)
        if transformer is None or not kv.value:
            return kv
        try:
            plaintext, stale = transformer.read(kv.value, kv.key.encode())
        except DecryptError as exc:
            raise UnreadableValue(kv.key, str(exc)) from None
        cls = StaleKeyValue if stale else KeyValue
        return cls(kv.key, plaintext, kv.create_revision, kv.mod_revision)

    def _seal(self, key: str, value: bytes) -> bytes:
        transformer = self.transformer(key)
        return value if transformer is None else transformer.write(value, key.encode())

    async def get(self, key: str, revision: int | None = None) -> KeyValue | None:
        """The decrypted value."""
        kv = await self.inner.get(key, revision)
        return None if kv is None else self._open(kv)

    async def range(
        self,
        prefix: str,
        revision: int | None = None,
        limit: int | None = None,
        start_after: str | None = None,
    ) -> RangeResult:
        """A decrypted page."""
        result = await self.inner.range(prefix, revision, limit, start_after)
        if not self._overlaps(prefix):
            return result
        return RangeResult([self._open(kv) for kv in result.items], result.revision, result.more, result.remaining)

    async def count(self, prefix: str) -> int:
        """As the inner store."""
        return await self.inner.count(prefix)

    async def create(self, key: str, value: bytes) -> KeyValue:
        """Encrypt and create; the returned value is the plaintext."""
        kv = await self.inner.create(key, self._seal(key, value))
        return KeyValue(kv.key, value, kv.create_revision, kv.mod_revision)

    async def update(self, key: str, value: bytes, expected_revision: int | None) -> KeyValue:
        """Encrypt and update; the returned value is the plaintext."""
        kv = await self.inner.update(key, self._seal(key, value), expected_revision)
        return KeyValue(kv.key, value, kv.create_revision, kv.mod_revision)

    async def delete(self, key: str, expected_revision: int | None = None) -> KeyValue:
        """Delete; the returned (deleted) value is decrypted."""
        return self._open(await self.inner.delete(key, expected_revision))

    def watch(self, prefix: str, from_revision: int, *, progress: bool = False) -> AsyncIterator[Event]:
        """The inner watch, its values (and previous values) decrypted."""
        events = self.inner.watch(prefix, from_revision, progress=progress)
        if not self._overlaps(prefix):
            return events
        return self._decrypted(events)

    async def _decrypted(self, events: AsyncIterator[Event]) -> AsyncIterator[Event]:
        try:
            async for event in events:
                if not event.kv.key:
                    yield event
                    continue
                prev = None if event.prev is None else self._open(event.prev)
                yield Event(event.type, self._open(event.kv), prev)
        finally:
            aclose = getattr(events, "aclose", None)
            if aclose is not None:
                await aclose()

    def request_progress(self) -> None:
        """As the inner store."""
        self.inner.request_progress()

    async def compact(self, revision: int) -> None:
        """As the inner store."""
        await self.inner.compact(revision)

    async def current_revision(self) -> int:
        """As the inner store."""
        return await self.inner.current_revision()

    async def compacted_revision(self) -> int:
        """As the inner store."""
        return await self.inner.compacted_revision()

    async def close(self) -> None:
        """Close the inner store."""
        await self.inner.close()
