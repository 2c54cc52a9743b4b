"""Moving a cluster's objects from one store to another: ``pinnace adm migrate-store --to etcd://…``.

Every key under ``/registry/`` is read from the source at one snapshot
revision, page by page, and created in the target with its stored bytes as
they are — so every object keeps its uid, its data and its managedFields;
only resourceVersions change, since they are the target's revisions (as in
an etcd restore). A key the target already holds with the same value is
skipped, so an interrupted migration can simply be run again; one it holds
with a different value stops the migration (nothing is overwritten).

The source must not change meanwhile: the command refuses to run while the
cluster is up.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from pinnace.storage.interface import KeyExists, KeyValue, Store

__all__ = ["MigrationConflict", "MigrationReport", "migrate_store"]

REGISTRY_PREFIX = "/registry/"


class MigrationConflict(RuntimeError):
    """The target already holds a key with a different value."""


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What a migration did."""

    copied: int
    already_there: int
    source_revision: int


async def migrate_store(
    source: Store,
    target: Store,
    *,
    prefix: str = REGISTRY_PREFIX,
    page_size: int = 500,
    concurrency: int = 32,
    progress: Callable[[int], None] | None = None,
) -> MigrationReport:
    """Copy every key under ``prefix`` from ``source`` to ``target`` (see the module docstring)."""
    copied = already = 0
    revision: int | None = None
    start_after: str | None = None
    gate = asyncio.Semaphore(concurrency)

    async def copy(kv: KeyValue) -> bool:
        async with gate:
            try:
                await target.create(kv.key, kv.value)
                return True
            except KeyExists:
                held = await target.get(kv.key)
                if held is not None and held.value == kv.value:
                    return False
                raise MigrationConflict(f"the target already holds {kv.key} with other content") from None

    while True:
        page = await source.range(prefix, revision=revision, limit=page_size, start_after=start_after)
        revision = page.revision
        results = await asyncio.gather(*(copy(kv) for kv in page.items))
        copied += sum(results)
        already += len(results) - sum(results)
        if progress is not None:
            progress(copied + already)
        if not page.more or not page.items:
            return MigrationReport(copied, already, revision)
        start_after = page.items[-1].key
