"""Image GC: nothing below the high threshold; above it, LRU images not in use until the low threshold."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.node.images.gc import DiskUsage, ImageGCPolicy, collect_garbage, plan
from pinnace.node.images.store import ImageRecord, ImageStore

from ._layers import file, store_layers

GB = 1_000_000_000


def _record(name: str, size: int, last_used: float, created: float = 0.0) -> ImageRecord:
    return ImageRecord(id=name, manifest="", layers=(), blobs=(), size=size, created=created, last_used=last_used)


def test_plan_follows_upstream_thresholds() -> None:
    images = [
        _record("old", 3 * GB, 10),
        _record("used", 9 * GB, 5),
        _record("mid", 4 * GB, 20),
        _record("new", GB, 30),
    ]
    policy = ImageGCPolicy()
    # 84% used: below the high threshold (85), nothing to do.
    assert plan(images, [], DiskUsage(100 * GB, 16 * GB), policy, now=1000) == (0, [])
    # 90% used: free down to 80% -> 10 GB; least recently used first, never the one in use.
    wanted, chosen = plan(images, ["used"], DiskUsage(100 * GB, 10 * GB), policy, now=1000)
    assert wanted == 10 * GB
    assert [r.id for r in chosen] == ["old", "mid", "new"]
    # Only 5 GB wanted: stop once it is freed.
    _, chosen = plan(images, ["used"], DiskUsage(100 * GB, 15 * GB - 1), policy, now=1000)
    assert [r.id for r in chosen] == ["old", "mid"]


def test_plan_spares_young_images() -> None:
    images = [_record("young", GB, 1, created=950), _record("old", GB, 2, created=0)]
    _, chosen = plan(images, [], DiskUsage(100, 5), ImageGCPolicy(min_age_seconds=120), now=1000)
    assert [r.id for r in chosen] == ["old"]


def test_policy_validation_and_percent() -> None:
    with pytest.raises(ValueError):
        ImageGCPolicy(high_threshold_percent=70, low_threshold_percent=80)
    assert DiskUsage(1000, 149).percent == 86  # the kubelet's integer arithmetic


async def test_collect_garbage_removes_lru_images_not_in_use(tmp_path: Path) -> None:
    now = [0.0]
    store = ImageStore(tmp_path, clock=lambda: now[0])
    a = store_layers(store, [[file("a", b"a" * 1000)]], name="example.com/a:1")
    now[0] = 10
    b = store_layers(store, [[file("b", b"b" * 1000)]], name="example.com/b:1")
    now[0] = 20
    c = store_layers(store, [[file("c", b"c" * 1000)]], name="example.com/c:1")
    now[0] = 30
    store.touch(a)  # a was used most recently of all
    now[0] = 1000
    sizes = {r.id: r.size for r in store.images()}
    # 85% used: free 5% of capacity (half an image); b is the least recently used not in use.
    capacity = 10 * sizes[b] // 100 * 100
    usage = DiskUsage(capacity, available=capacity * 15 // 100)
    assert usage.percent == 85
    result = await collect_garbage(store, ["example.com/c:1"], usage=lambda: usage, clock=lambda: now[0])
    assert result.removed == (b,)
    assert result.enough
    assert {r.id for r in store.images()} == {a, c}
    assert store.require(c).last_used == 1000  # in use: marked used now
    quiet = await collect_garbage(store, [], usage=lambda: DiskUsage(100, 50), clock=lambda: now[0])
    assert quiet.removed == () and quiet.wanted == 0
