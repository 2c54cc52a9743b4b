"""Range allocators for Service cluster IPs and node ports, kept in the store.

Upstream keeps each range as one ``RangeAllocation`` object (``/registry/ranges/serviceips``,
``/registry/ranges/servicenodeports``) whose data is the bitmap of taken offsets, and every
allocation is a compare-and-swap on it; so do we. That makes allocation race-free across
concurrent requests and across API servers sharing a store, and durable across restarts.
The stored set is sparse (the taken offsets, sorted), not a dense bitmap: a /12 holds a
million addresses, of which a cluster uses a few thousand.

A range is split as upstream's (``ServiceIPStaticSubrange``, ``ServiceNodePortStaticSubrange``):
dynamic allocations prefer the upper band, so that the lower band stays free for users who
ask for a specific value; only when the upper band is full do they spill over.

Errors are plain exceptions here (:class:`AllocatedError`, :class:`NotInRangeError`,
:class:`RangeFullError`) with upstream's wording; the service storage turns them into
API errors.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import orjson

from pinnace.storage import KeyExists, KeyNotFound, RevisionMismatch, Store

__all__ = [
    "AllocatedError",
    "IPRange",
    "NotInRangeError",
    "PortRange",
    "Range",
    "RangeAllocator",
    "RangeFullError",
]

#: How often a write retries after losing a compare-and-swap race to another writer.
_MAX_RETRIES = 100


class AllocationError(Exception):
    """A value could not be allocated."""


class AllocatedError(AllocationError):
    """The requested value is taken."""


class NotInRangeError(AllocationError):
    """The requested value lies outside the range."""


class RangeFullError(AllocationError):
    """No value is left."""

    def __init__(self) -> None:
        super().__init__("range is full")


class Range(Protocol):
    """A contiguous set of values, numbered by offset from 0 to ``size - 1``."""

    @property
    def size(self) -> int:
        """How many values the range holds."""
        ...

    @property
    def description(self) -> str:
        """The range as users configured it (``10.96.0.0/12``, ``30000-32767``)."""
        ...

    def offset(self, value: str) -> int | None:
        """The offset of a value, or None if it is not in the range (ValueError if it is no value at all)."""
        ...

    def value(self, offset: int) -> str:
        """The value at an offset."""
        ...

    def static_band(self) -> int:
        """How many low offsets dynamic allocation leaves to requested values while others are free."""
        ...

    def taken_error(self) -> AllocatedError:
        """The error for a requested value that is taken."""
        ...

    def range_error(self, value: str) -> NotInRangeError:
        """The error for a requested value outside the range."""
        ...


def _band(size: int, *, minimum: int, maximum: int, step: int) -> int:
    """Upstream's ``calculateRangeOffset``: the static band of a range of ``size``."""
    if size < minimum:
        return 0
    return max(minimum, min(maximum, size // step))


@dataclass(frozen=True, slots=True)
class IPRange:
    """The service IPs of a CIDR: every address but the network address (and, for IPv4, broadcast)."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network

    @classmethod
    def parse(cls, cidr: str) -> IPRange:
        """A range from CIDR notation (ValueError if it is not a network or too small)."""
        network = ipaddress.ip_network(cidr, strict=True)
        if network.num_addresses < 4:
            raise ValueError(f"service CIDR {cidr} is too small")
        return cls(network)

    @property
    def size(self) -> int:
        """Usable addresses; IPv6 ranges are capped at 2^16 as upstream's bitmap is."""
        if self.network.version == 4:
            return int(self.network.num_addresses) - 2
        return min(int(self.network.num_addresses) - 1, 1 << 16)

    @property
    def description(self) -> str:
        """The CIDR."""
        return str(self.network)

    @property
    def family(self) -> str:
        """``IPv4`` or ``IPv6``."""
        return f"IPv{self.network.version}"

    def offset(self, value: str) -> int | None:
        """The offset of an address (ValueError if ``value`` is no IP address)."""
        ip = ipaddress.ip_address(value)
        if ip.version != self.network.version or ip not in self.network:
            return None
        offset = int(ip) - int(self.network.network_address) - 1
        return offset if 0 <= offset < self.size else None

    def value(self, offset: int) -> str:
        """The address at an offset."""
        return str(ipaddress.ip_address(int(self.network.network_address) + 1 + offset))

    def static_band(self) -> int:
        """Upstream: a sixteenth of the range, at least 16, at most 256 addresses."""
        return _band(self.size, minimum=16, maximum=256, step=16)

    def taken_error(self) -> AllocatedError:
        """``provided IP is already allocated``."""
        return AllocatedError("provided IP is already allocated")

    def range_error(self, value: str) -> NotInRangeError:
        """Upstream's ``ErrNotInRange`` for IPs."""
        return NotInRangeError(
            f"the provided IP ({value}) is not in the valid range. The range of valid IPs is {self.description}"
        )


@dataclass(frozen=True, slots=True)
class PortRange:
    """A port range such as the node ports' ``30000-32767`` (both ends included)."""

    base: int
    count: int

    @classmethod
    def parse(cls, text: str) -> PortRange:
        """``first-last`` or ``first+count`` (ValueError otherwise)."""
        if "+" in text:
            first, count = (int(p) for p in text.split("+", 1))
        else:
            first, last = (int(p) for p in text.split("-", 1))
            count = last - first + 1
        if not (0 < first <= 65535 and count > 0 and first + count - 1 <= 65535):
            raise ValueError(f"invalid port range {text!r}")
        return cls(first, count)

    @property
    def size(self) -> int:
        """How many ports."""
        return self.count

    @property
    def description(self) -> str:
        """``first-last``."""
        return f"{self.base}-{self.base + self.count - 1}"

    def offset(self, value: str) -> int | None:
        """The offset of a port (ValueError if ``value`` is no integer)."""
        offset = int(value) - self.base
        return offset if 0 <= offset < self.count else None

    def value(self, offset: int) -> str:
        """The port at an offset."""
        return str(self.base + offset)

    def static_band(self) -> int:
        """Upstream: a thirty-second of the range, at least 16, at most 128 ports."""
        return _band(self.size, minimum=16, maximum=128, step=32)

    def taken_error(self) -> AllocatedError:
        """``provided port is already allocated``."""
        return AllocatedError("provided port is already allocated")

    def range_error(self, value: str) -> NotInRangeError:
        """Upstream's ``ErrNotInRange`` for ports."""
        return NotInRangeError(
            f"provided port is not in the valid range. The range of valid ports is {self.description}"
        )


def _encode(name: str, rng: Range, taken: set[int]) -> bytes:
    return orjson.dumps(
        {
            "kind": "RangeAllocation",
            "apiVersion": "v1",
            "metadata": {"name": name},
            "range": rng.description,
            "allocated": sorted(taken),
        }
    )


class RangeAllocator:
    """Allocates values of one range; the taken set lives in the store under ``key``.

    Every change reads the stored set, changes it and writes it back with
    compare-and-swap on its revision, retrying when another writer got there
    first. One lock serialises this server's own writers, so they do not
    race one another for nothing.
    """

    def __init__(self, store: Store, key: str, rng: Range, *, rand: random.Random | None = None) -> None:
        self.store = store
        self.key = key
        self.range = rng
        self.name = key.rsplit("/", 1)[-1]
        self._lock = asyncio.Lock()
        self._random = rand or random.Random()

    # ---- reads ------------------------------------------------------------------------------------
    async def taken(self) -> set[int]:
        """The offsets allocated now."""
        kv = await self.store.get(self.key)
        return self._decode(kv.value) if kv is not None else set()

    async def taken_values(self) -> set[str]:
        """The values allocated now."""
        return {self.range.value(o) for o in await self.taken()}

    def _decode(self, raw: bytes) -> set[int]:
        doc = orjson.loads(raw)
        if doc.get("range") != self.range.description:
            return set()  # the range was reconfigured: the repair pass re-derives what is in use
        return {int(o) for o in doc.get("allocated") or [] if 0 <= int(o) < self.range.size}

    def checked_offset(self, value: str) -> int:
        """The offset of a requested value; :class:`NotInRangeError` outside the range."""
        offset = self.range.offset(value)
        if offset is None:
            raise self.range.range_error(value)
        return offset

    # ---- writes -----------------------------------------------------------------------------------
    async def allocate(self, value: str, *, dry_run: bool = False) -> str:
        """Take a requested value; :class:`AllocatedError` if taken, :class:`NotInRangeError` if outside."""
        offset = self.checked_offset(value)

        def take(taken: set[int]) -> set[int]:
            if offset in taken:
                raise self.range.taken_error()
            return taken | {offset}

        await self._change(take, dry_run=dry_run)
        return self.range.value(offset)

    async def allocate_next(self, *, dry_run: bool = False) -> str:
        """Take a free value, at random from the upper band first; :class:`RangeFullError` if none is left."""
        chosen: list[int] = []

        def take(taken: set[int]) -> set[int]:
            offset = self._pick(taken)
            chosen[:] = [offset]
            return taken | {offset}

        await self._change(take, dry_run=dry_run)
        return self.range.value(chosen[0])

    async def release(self, values: Iterable[str]) -> None:
        """Give values back (values outside the range or not taken are ignored)."""
        offsets = {o for o in (self.range.offset(v) for v in values) if o is not None}
        if offsets:
            await self._change(lambda taken: taken - offsets)

    async def reconcile(self, change: Callable[[set[int]], set[int]]) -> set[int]:
        """Replace the taken set by ``change(taken)`` atomically (the repair pass); returns the new set."""
        result: list[set[int]] = []

        def apply(taken: set[int]) -> set[int]:
            new = change(taken)
            result[:] = [new]
            return new

        await self._change(apply)
        return result[0]

    def _pick(self, taken: set[int]) -> int:
        size, band = self.range.size, self.range.static_band()
        for low, high in ((band, size), (0, band)):
            free = (high - low) - sum(1 for o in taken if low <= o < high)
            if free <= 0:
                continue
            start = self._random.randrange(low, high)
            for offset in range(start, high):
                if offset not in taken:
                    return offset
            for offset in range(low, start):
                if offset not in taken:
                    return offset
        raise RangeFullError()

    async def _change(self, change: Callable[[set[int]], set[int]], *, dry_run: bool = False) -> None:
        async with self._lock:
            for _ in range(_MAX_RETRIES):
                kv = await self.store.get(self.key)
                taken = self._decode(kv.value) if kv is not None else set()
                new = change(taken)
                if dry_run or new == taken:
                    return
                value = _encode(self.name, self.range, new)
                try:
                    if kv is None:
                        await self.store.create(self.key, value)
                    else:
                        await self.store.update(self.key, value, kv.mod_revision)
                except (KeyExists, KeyNotFound, RevisionMismatch):
                    continue  # another writer changed the range: read it again
                return
        raise AllocationError(f"too many concurrent writers on {self.key}")
