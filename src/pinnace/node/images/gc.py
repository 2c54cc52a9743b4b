"""Image garbage collection under disk pressure, with upstream kubelet's policy.

When the image filesystem's usage reaches ``imageGCHighThresholdPercent`` (85),
images are deleted until it is back at ``imageGCLowThresholdPercent`` (80):
least recently used first, never an image a container uses, never one first
seen less than ``imageMinimumGCAge`` (2 minutes) ago. An image is "used" when
a container is created from it (:func:`~pinnace.node.images.unpack.unpack`
marks it) and at every collection while a container still runs it.
The agent calls :func:`collect_garbage` periodically (upstream: every 5 minutes)
with the IDs of the images its containers use.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pinnace.node.images.store import ImageInUseError, ImageRecord, ImageStore


@dataclass(frozen=True, slots=True)
class ImageGCPolicy:
    """Thresholds as in the KubeletConfiguration (percentages of the image filesystem's capacity)."""

    high_threshold_percent: int = 85
    low_threshold_percent: int = 80
    min_age_seconds: float = 120.0

    def __post_init__(self) -> None:
        if not 0 <= self.low_threshold_percent <= self.high_threshold_percent <= 100:
            raise ValueError("want 0 <= low threshold <= high threshold <= 100")


@dataclass(frozen=True, slots=True)
class DiskUsage:
    """A filesystem's capacity and available bytes."""

    capacity: int
    available: int

    @property
    def percent(self) -> int:
        """Used percentage, rounded as the kubelet does (100 - available*100/capacity, integer division)."""
        return 100 - self.available * 100 // self.capacity if self.capacity else 0


@dataclass(frozen=True, slots=True)
class GCResult:
    """What a collection did: bytes it wanted to free, bytes freed, images removed."""

    wanted: int
    freed: int
    removed: tuple[str, ...] = field(default=())

    @property
    def enough(self) -> bool:
        """Whether it freed what it wanted (if not, the node stays under disk pressure)."""
        return self.freed >= self.wanted


def disk_usage(path: Path | str) -> DiskUsage:
    """The usage of the filesystem holding ``path``."""
    st = os.statvfs(path)
    return DiskUsage(capacity=st.f_blocks * st.f_frsize, available=st.f_bavail * st.f_frsize)


def plan(
    images: Sequence[ImageRecord], in_use: Iterable[str], usage: DiskUsage, policy: ImageGCPolicy, now: float
) -> tuple[int, list[ImageRecord]]:
    """Bytes to free and the images to delete for it, in order (empty below the high threshold)."""
    if usage.percent < policy.high_threshold_percent:
        return 0, []
    wanted = usage.capacity * (100 - policy.low_threshold_percent) // 100 - usage.available
    used = set(in_use)
    candidates = sorted(
        (r for r in images if r.id not in used and now - r.created >= policy.min_age_seconds),
        key=lambda r: (r.last_used, r.created),
    )
    chosen: list[ImageRecord] = []
    freed = 0
    for record in candidates:
        if freed >= wanted:
            break
        chosen.append(record)
        freed += record.size
    return wanted, chosen


async def collect_garbage(
    store: ImageStore,
    in_use: Iterable[str],
    *,
    policy: ImageGCPolicy | None = None,
    usage: Callable[[], DiskUsage] | None = None,
    clock: Callable[[], float] = time.time,
) -> GCResult:
    """Delete least recently used images not in use while the image filesystem is over the high threshold.

    ``in_use`` holds image IDs or references of running containers' images; they are marked used now.
    ``usage`` measures the filesystem (default: the store's root). The freed figure counts the
    images' recorded sizes, as upstream does.
    """
    policy = policy or ImageGCPolicy()
    now = clock()
    used: set[str] = set()
    for name in in_use:
        record = store.resolve(name)
        if record is not None:
            used.add(record.id)
            store.touch(record.id, now)
    measured = usage() if usage else disk_usage(store.root)
    wanted, chosen = plan(store.images(), used, measured, policy, now)
    freed = 0
    removed: list[str] = []
    for record in chosen:
        try:
            await asyncio.to_thread(store.remove, record.id)
        except ImageInUseError:
            continue  # a container the caller did not list still runs from it
        freed += record.size
        removed.append(record.id)
    return GCResult(wanted=max(wanted, 0), freed=freed, removed=tuple(removed))
