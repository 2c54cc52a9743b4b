"""Copying a store's objects to another: all of them, at one snapshot, never overwriting."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.cluster.migrate import MigrationConflict, migrate_store
from pinnace.storage.sqlite import SQLiteStore


async def test_every_key_is_copied_once_and_a_rerun_copies_nothing(tmp_path: Path) -> None:
    source = await SQLiteStore.open(tmp_path / "a.db")
    target = await SQLiteStore.open(tmp_path / "b.db")
    try:
        for i in range(1203):
            await source.create(f"/registry/configmaps/ns/cm-{i:04d}", b'{"i":%d}' % i)
        await source.delete("/registry/configmaps/ns/cm-0007")
        await source.create("/other/not-copied", b"x")
        seen: list[int] = []
        report = await migrate_store(source, target, page_size=100, progress=seen.append)
        assert (report.copied, report.already_there) == (1202, 0)
        assert seen[-1] == 1202
        page = await target.range("/registry/", limit=None)
        assert len(page.items) == 1202 and await target.get("/other/not-copied") is None
        assert (await target.get("/registry/configmaps/ns/cm-0042")).value == b'{"i":42}'  # type: ignore[union-attr]
        again = await migrate_store(source, target)
        assert (again.copied, again.already_there) == (0, 1202)
    finally:
        await source.close()
        await target.close()


async def test_a_key_the_target_holds_with_other_content_stops_it(tmp_path: Path) -> None:
    source = await SQLiteStore.open(tmp_path / "a.db")
    target = await SQLiteStore.open(tmp_path / "b.db")
    try:
        await source.create("/registry/configmaps/ns/x", b"mine")
        await target.create("/registry/configmaps/ns/x", b"theirs")
        with pytest.raises(MigrationConflict, match="already holds /registry/configmaps/ns/x"):
            await migrate_store(source, target)
        assert (await target.get("/registry/configmaps/ns/x")).value == b"theirs"  # type: ignore[union-attr]
    finally:
        await source.close()
        await target.close()
