"""The watch cache: one store watch per resource, fanned out to every watcher.

A :class:`ResourceCache` lists its resource's prefix once, then follows one
``Store.watch`` from there. It keeps (a) the current objects, so GET and LIST
without pagination are answered from memory, and (b) a window of recent events,
so a watch from a recent resourceVersion can be replayed without touching the
store. Each event is decoded once and serialised once, however many watchers
receive it.

Freshness: the cache knows the revision it has applied. A consistent read asks
it to :meth:`ResourceCache.wait_for` a revision first (the server tracks the
latest revision it wrote under each prefix), so reads see the caller's writes.

Watchers are plain buffers (:class:`Watcher`); the HTTP layer drains them. A
watcher that falls too far behind is terminated rather than allowed to grow
without bound, as upstream does with slow watchers.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from pinnace.storage import Compacted, CorruptValue, Event, EventType, KeyValue, StorageError, Store, StoreClosed

log = logging.getLogger(__name__)

#: Decodes a stored value (bytes) into an object dict with its resourceVersion set.
Decoder = Callable[[KeyValue], dict[str, Any]]
#: How early a wait timeout may fire (the loop runs timers up to its clock resolution early).
_TIMER_SLACK = 0.001
#: A watcher's filter: does this object belong to its view?
Filter = Callable[["CachedObject"], bool]
#: Fan-out paces itself: after a flush of a cache's watchers that took T seconds, the next waits until
#: (FLUSH_SHARE - 1) x T have passed, but never more than MAX_FLUSH_INTERVAL. With a few watchers a flush
#: takes microseconds and events go out at once; with a thousand under a stream of writes, what arrives
#: meanwhile goes out together, in one write per watcher instead of one per event (each a TLS record and
#: a syscall: ~20 us, most of it the kernel's), so the fan-out costs a fraction of the CPU. The cap bounds
#: the wait that batching adds (benchmarks/api.py's fan-out figure: 10 ms gave a lower p99 than 25 or 40).
FLUSH_SHARE = 4
MAX_FLUSH_INTERVAL = 0.010
#: A flush writes to this many watchers, then lets the loop run (requests, the store's events) before it
#: goes on: a thousand TLS writes take ~20 ms, which creates and reads should not wait behind whole.
FLUSH_SLICE = 64
#: How much of its objects' stored size one resource's event window holds at most (besides its count of
#: events). In memory an object weighs several times its stored JSON (more than ten times for a map of many
#: small keys), so without a bound a stream of large objects written and deleted kept gigabytes reachable;
#: with it, at most ~250 MB (twelve 1.4 MB ConfigMaps of 50,000 keys). A thousand and more events of 13 KiB
#: (a pod with its managedFields) fit: seconds of history at hundreds of writes a second.
WINDOW_BYTES = 16 * 1024 * 1024
#: Events older than this leave the window (at the next write, and at :meth:`CacheSet`'s regular sweep), all but
#: the newest :data:`WINDOW_MIN`: kube-apiserver's watch cache keeps its last 75 s of events (eventFreshDuration)
#: and at least 100, shrinking as they age. Without it an idle cluster kept each resource's last 5,000 events
#: (a churn of 2 kB ConfigMaps: ~140 MB) for ever. Watchers are told 410 from before the window, and informers
#: keep a recent version through bookmarks (every minute), well inside it.
WINDOW_AGE = 150.0
WINDOW_MIN = 100
#: The most a watcher may have pending, in its events' weight: a replay of the whole window, and as much again
#: written meanwhile.
MAX_PENDING_BYTES = 2 * WINDOW_BYTES
#: Why a watcher whose client does not keep up was closed (see :attr:`Watcher.max_pending`).
FELL_BEHIND = "the watcher fell too far behind and was closed; watch again from the last resourceVersion"


class CachedObject:
    """One object version: its dict (never mutated), and its JSON, made once."""

    __slots__ = ("_json", "key", "name", "namespace", "obj", "revision")

    def __init__(self, key: str, obj: dict[str, Any], revision: int) -> None:
        self.key = key
        self.obj = obj
        self.revision = revision
        meta = obj.get("metadata") or {}
        self.namespace: str = meta.get("namespace") or ""
        self.name: str = meta.get("name") or ""
        self._json: bytes | None = None

    @property
    def json(self) -> bytes:
        """The object serialised as JSON (cached)."""
        if self._json is None:
            self._json = orjson.dumps(self.obj)
        return self._json


class CacheEvent:
    """A change to one object as watchers see it (never mutated once offered)."""

    __slots__ = ("_line", "_lines", "object", "prev", "revision", "type", "weight")

    def __init__(
        self, type: str, object: CachedObject, prev: CachedObject | None, revision: int, weight: int = 0
    ) -> None:
        self.type = type  # ADDED | MODIFIED | DELETED
        self.object = object
        self.prev = prev
        self.revision = revision
        #: What the event weighs against the window's byte budget: its object's stored size.
        self.weight = weight
        self._line: bytes | None = None
        self._lines: dict[str, bytes] | None = None

    def __repr__(self) -> str:
        return f"CacheEvent({self.type}, {self.object.key!r}, revision={self.revision})"

    def line(self) -> bytes:
        """The event as one line of a JSON watch stream, made once however many watchers send it."""
        if self._line is None:
            self._line = b'{"type":"' + self.type.encode() + b'","object":' + self.object.json + b"}\n"
        return self._line

    def line_as(self, version: str, convert: Callable[[dict[str, Any]], Any]) -> bytes:
        """The event's line with the object as served at ``version`` (``convert``: from its stored form),
        made once per version however many watchers send it."""
        lines = self._lines
        if lines is None:
            lines = self._lines = {}
        line = lines.get(version)
        if line is None:
            obj_json = orjson.dumps(convert(self.object.obj))
            line = lines[version] = b'{"type":"' + self.type.encode() + b'","object":' + obj_json + b"}\n"
        return line


class Watcher:
    """A buffer of events for one watch request, filled by the cache.

    Fan-out is the hot path (every write reaches every open watcher), so it
    avoids per-watcher work where it can: an event's JSON line is made once and
    shared; a watcher with a ``sink`` (a plain JSON stream) whose request is
    idle gets its events written straight to its socket by the cache's flush,
    one write per watcher per flush, without waking its request's task; the
    others are woken with one future's ``set_result``.
    """

    def __init__(
        self,
        cache: ResourceCache,
        namespace: str | None,
        filter_: Filter | None,
        max_pending: int,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self.cache = cache
        self.namespace = namespace
        self.filter = filter_
        #: A watcher with more events than this pending, or events weighing more, is closed (its client does
        #: not read): what it holds would otherwise stay in memory however far it falls behind.
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.pending: collections.deque[CacheEvent] = collections.deque()
        self._pending_weight = 0
        self.error: str | None = None
        self.closed = False
        self._waiter: asyncio.Future[bool] | None = None
        #: Writes the JSON lines of pending events to the client; False if it cannot now (slow client).
        self.sink: Callable[[bytes], bool] | None = None
        #: The line of an event for this watcher's sink (the stored form's, or one made per served version).
        self.encode: Callable[[CacheEvent], bytes] = CacheEvent.line
        #: Called when it is closed for falling behind (see :meth:`_fall_behind`).
        self.on_fell_behind: Callable[[], None] | None = None
        self._dirty = False
        #: The lane it is in (see :class:`_Lane`), and the revision up to which it has had the lane's events
        #: (on joining: every event up to the cache's revision, offered to it one by one before).
        self.lane: _Lane | None = None
        self.sent = 0
        # One lazily re-armed timer for the wait timeouts, not one timer per wait.
        self._expires: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    def stream_to(self, sink: Callable[[bytes], bool], encode: Callable[[CacheEvent], bytes] = CacheEvent.line) -> None:
        """Have the cache's flush write this watcher's events through ``sink`` while its request is idle.

        ``encode`` makes an event's line; a watcher with no selector that sends the shared lines
        (:meth:`CacheEvent.line`) joins its namespace's lane from here on."""
        self.sink = sink
        self.encode = encode
        if self.filter is None and encode is CacheEvent.line:
            self.cache._join_lane(self)

    def _matches(self, obj: CachedObject | None) -> bool:
        if obj is None:
            return False
        if self.namespace is not None and obj.namespace != self.namespace:
            return False
        return self.filter is None or self.filter(obj)

    def offer(self, event: CacheEvent) -> None:
        """Deliver an event, turning MODIFIED into ADDED/DELETED at the selector's edge."""
        if self.filter is None:
            # No selector: an object's namespace never changes, so the event is in view or not.
            if self.namespace is None or event.object.namespace == self.namespace:
                self._push(event)
            return
        cur = self._matches(event.object) if event.type != "DELETED" else False
        was = self._matches(event.prev) if event.type != "ADDED" else False
        if event.type == "DELETED":
            if was or self._matches(event.object):
                self._push(event)
            return
        if cur and was:
            self._push(event)
        elif cur:
            entered = event if event.type == "ADDED" else CacheEvent("ADDED", event.object, event.prev, event.revision)
            self._push(entered)
        elif was and event.prev is not None:
            # The object left the view: the watcher sees it deleted, in its new state.
            self._push(CacheEvent("DELETED", event.object, event.prev, event.revision))

    def _push(self, event: CacheEvent) -> None:
        if self.closed:
            return
        pending = self.pending
        pending.append(event)
        self._pending_weight += event.weight
        if len(pending) > self.max_pending or self._pending_weight > self.max_pending_bytes:
            self._fall_behind()
            return
        if self.sink is None:
            self._wake(True)
        elif not self._dirty:
            self._dirty = True
            self.cache._mark_dirty(self)

    def _flush(self, shared: dict[tuple[CacheEvent, ...], bytes]) -> None:
        """Send the pending events: through the sink if the request is idle, else by waking it.

        ``shared``: the lines of each run of events already joined in this flush (most watchers of a
        resource have the same pending events: they are joined once for all of them)."""
        self._dirty = False
        if self.closed or not self.pending:
            return
        waiter = self._waiter
        if waiter is not None and not waiter.done() and self.sink is not None:
            events = tuple(self.pending)
            encode = self.encode
            if encode is CacheEvent.line:
                data = shared.get(events)
                if data is None:
                    data = shared[events] = b"".join([ev.line() for ev in events])
            else:
                data = b"".join([encode(ev) for ev in events])
            if self.sink(data):
                self.pending.clear()
                self._pending_weight = 0
                return
        self._wake(True)

    def _take(
        self,
        lane: _Lane,
        batches: dict[tuple[int, int], tuple[tuple[CacheEvent, ...], bytes]],
        shared: dict[tuple[CacheEvent, ...], bytes],
    ) -> None:
        """A lane's flush: send the lane's events this watcher has not had yet, as :meth:`_flush` would.

        ``batches``: the runs of events found so far in this flush, with their lines, by (revision had, events
        queued): the watchers a flush reaches before an event arrives share one run, those after it another.
        ``shared``: the flush's joined lines by run, which :meth:`_flush` uses too (a run is joined once)."""
        events = lane.events
        if self.closed or not events or events[-1].revision <= self.sent:
            return
        key = (self.sent, len(events))
        batch = batches.get(key)
        if batch is None:
            run = tuple(events[bisect.bisect_right(events, self.sent, key=_revision) :])
            data = shared.get(run)
            if data is None:
                data = shared[run] = b"".join([ev.line() for ev in run])
            batch = batches[key] = (run, data)
        run, data = batch
        self.sent = run[-1].revision
        pending = self.pending
        if not pending:
            waiter = self._waiter
            if waiter is not None and not waiter.done() and self.sink is not None and self.sink(data):
                return
        pending.extend(run)
        self._pending_weight += sum([ev.weight for ev in run])
        if len(pending) > self.max_pending or self._pending_weight > self.max_pending_bytes:
            self._fall_behind()
            return
        self._flush(shared)

    def _fall_behind(self) -> None:
        """Close a watcher whose client does not keep up: let go of its pending events at once (its client must
        watch again anyway) and have its request cut a write the client is not taking (:attr:`on_fell_behind`)."""
        log.info(
            "closing a watch of %s whose client does not read: %d events (%d bytes stored) pending",
            self.cache.prefix, len(self.pending), self._pending_weight,
        )  # fmt: skip
        self.pending.clear()
        self._pending_weight = 0
        self.terminate(FELL_BEHIND)
        if self.on_fell_behind is not None:
            self.on_fell_behind()

    def _wake(self, value: bool) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(value)

    def terminate(self, error: str | None = None) -> None:
        """End the watch (with an error to report, if any)."""
        if self.closed:
            return
        self.closed = True
        self.error = error
        self.cache._remove_watcher(self)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake(True)

    async def wait(self, timeout: float | None) -> bool:
        """Wait until events are pending or the watch ends; False on timeout."""
        if self.pending or self.closed:
            return True
        if timeout is not None and timeout <= 0:
            return False
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        if timeout is None:
            self._expires = None
        else:
            self._expires = when = loop.time() + timeout
            if self._timer is None or self._timer.when() > when:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = loop.call_at(when, self._on_timer)
        try:
            woken: bool = await waiter
        finally:
            self._waiter = None
        return woken

    def _on_timer(self) -> None:
        """The timer fired: time out the current wait if it is due, else re-arm for when it is."""
        self._timer = None
        waiter, expires = self._waiter, self._expires
        if waiter is None or waiter.done() or expires is None:
            return  # nobody is waiting; the next wait arms a timer again
        loop = asyncio.get_running_loop()
        if loop.time() + _TIMER_SLACK >= expires:
            waiter.set_result(False)
        else:
            self._timer = loop.call_at(expires, self._on_timer)

    def drain(self) -> list[CacheEvent]:
        """Take every pending event."""
        out = list(self.pending)
        self.pending.clear()
        self._pending_weight = 0
        return out


#: How often a reader waiting for the cache to catch up asks the store for progress.
_PROGRESS_INTERVAL = 0.25
#: The wait before a relist after the store's watch failed, doubled on each failure in a row up to the max.
_RELIST_FIRST_DELAY = 0.1
_RELIST_MAX_DELAY = 5.0


def _revision(event: CacheEvent) -> int:
    return event.revision


class _Lane:
    """The watchers of one namespace (or of all) with no selector whose streams send the shared JSON lines.

    They all see the same events, so an event is queued once for all of them, not once per watcher, and a
    flush joins a run of events once and offers the same bytes to each (:meth:`Watcher._take`). A flush
    written in slices lets the store's events in between: the members it has not reached yet take those in
    the same write (each member knows the revision it has had), so an event waits for its watcher's turn in
    the flush under way, not for the whole flush and then the next one."""

    __slots__ = ("dirty", "events", "members", "namespace")

    def __init__(self, namespace: str | None) -> None:
        self.namespace = namespace
        self.members: dict[Watcher, None] = {}  # insertion-ordered set
        self.events: list[CacheEvent] = []  # applied, and not yet had by every member
        self.dirty = False


#: A flush's unit of work: watchers, and either None (each sends its own pending events) or their lane and
#: how many of its events were queued when the flush began (every member has had those when it ends).
_FlushJob = tuple[Sequence[Watcher], "_Lane | None", int]


class ResourceCache:
    """Current state and recent history of one storage prefix, kept by one watch."""

    def __init__(
        self,
        store: Store,
        prefix: str,
        decode: Decoder,
        *,
        window: int = 5000,
        window_bytes: int = WINDOW_BYTES,
        window_age: float = WINDOW_AGE,
        window_min: int = WINDOW_MIN,
        max_pending: int = 100_000,
        max_pending_bytes: int = MAX_PENDING_BYTES,
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.decode = decode
        self.window_size = window
        self.window_bytes = window_bytes
        self.window_age = window_age
        self.window_min = window_min
        self._window_weight = 0  # the window's events' weights, summed
        self._window_times: collections.deque[float] = collections.deque()  # when each event came (monotonic)
        self.max_pending = max_pending
        self.max_pending_bytes = max_pending_bytes
        self.objects: dict[str, CachedObject] = {}
        #: The same objects by namespace ("" for cluster-scoped ones): a namespace's list or watch looks at its
        #: own objects only, not at every object of the resource.
        self._by_namespace: dict[str, dict[str, CachedObject]] = {}
        self.revision = 0
        #: Oldest revision a watch may start after (events after it are all in the window).
        self.window_start = 0
        self.window: collections.deque[CacheEvent] = collections.deque()
        self._watchers: set[Watcher] = set()
        self._dirty: list[Watcher] = []
        self._lanes: dict[str | None, _Lane] = {}  # by the watchers' namespace (None: all)
        self._dirty_lanes: list[_Lane] = []
        self._next_flush = 0.0  # time.monotonic() before which no flush starts
        self._flushing = False  # a flush is under way (in slices); watchers marked meanwhile wait for the next
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.healthy = False

    # ---- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        """List the prefix and start following it."""
        await self._relist()
        self._task = asyncio.create_task(self._follow(), name=f"watch-cache {self.prefix}")

    async def stop(self) -> None:
        """Stop following and end every watcher."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, StorageError):
                await self._task
        for w in self._all_watchers():
            w.terminate()

    async def _relist(self) -> None:
        objects: dict[str, CachedObject] = {}
        revision: int | None = None
        start_after: str | None = None
        while True:
            page = await self.store.range(self.prefix, revision=revision, limit=10_000, start_after=start_after)
            revision = page.revision
            for kv in page.items:
                objects[kv.key] = CachedObject(kv.key, self.decode(kv), kv.mod_revision)
            if not page.more or not page.items:
                break
            start_after = page.items[-1].key
        self.objects = objects
        self._by_namespace = {}
        for key, obj in objects.items():
            self._index(key, obj)
        self.revision = revision or 0
        self.window.clear()
        self._window_times.clear()
        self._window_weight = 0
        self.window_start = self.revision
        self.healthy = True
        self._ready.set()
        self._release_waiters()

    async def _follow(self) -> None:
        delay = _RELIST_FIRST_DELAY
        while True:
            followed_from = self.revision
            try:
                async for event in self.store.watch(self.prefix, self.revision + 1, progress=True):
                    self._apply(event)
                return
            except asyncio.CancelledError:
                raise
            except StoreClosed:
                self.healthy = False
                return
            except Compacted as exc:
                log.warning("watch cache %s fell behind compaction (%s); relisting", self.prefix, exc)
            except CorruptValue as exc:  # no traceback: the message says which key (a lost encryption key, say)
                log.error("watch cache %s: %s; relisting in %.1f s", self.prefix, exc, delay)
            except Exception:
                log.exception("watch cache %s: store watch failed; relisting", self.prefix)
            if self.revision > followed_from:
                delay = _RELIST_FIRST_DELAY  # the watch got somewhere before it failed: not the same failure again
            # Relist, and end every watcher: they cannot be told what they missed.
            self.healthy = False
            for w in self._all_watchers():
                w.terminate("the watch cache was reinitialized; watch again")
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RELIST_MAX_DELAY)  # a value that stays unreadable is retried ever more slowly
            try:
                await self._relist()
            except StoreClosed:
                return
            except CorruptValue as exc:
                log.error("watch cache %s: relist failed: %s; retrying", self.prefix, exc)
            except Exception:
                log.exception("watch cache %s: relist failed; retrying", self.prefix)

    def _apply(self, event: Event) -> None:
        if event.type is EventType.PROGRESS:
            self._advance(event.revision)  # nothing of ours changed up to here
            return
        key = event.kv.key
        prev = self.objects.get(key)
        if event.type is EventType.PUT:
            obj = CachedObject(key, self.decode(event.kv), event.kv.mod_revision)
            self.objects[key] = obj
            self._index(key, obj)
            weight = len(event.kv.value)
            ce = CacheEvent("MODIFIED" if prev is not None else "ADDED", obj, prev, event.revision, weight)
        else:
            if self.objects.pop(key, None) is not None:
                self._unindex(key)
            if prev is not None and (event.prev is None or event.prev.mod_revision == prev.revision):
                # The cached object is the deleted version: no need to decode it again.
                deleted = dict(prev.obj)
                deleted["metadata"] = {**prev.obj.get("metadata", {}), "resourceVersion": str(event.revision)}
            elif event.prev is not None:
                deleted = self.decode(KeyValue(key, event.prev.value, event.prev.create_revision, event.revision))
            else:  # nothing known of it: nothing to tell watchers
                self._advance(event.revision)
                return
            obj = CachedObject(key, deleted, event.revision)
            weight = len(event.prev.value) if event.prev is not None else 0
            ce = CacheEvent("DELETED", obj, prev, event.revision, weight)
        self._remember(ce)
        for w in list(self._watchers):
            w.offer(ce)
        if self._lanes:
            for lane in (self._lanes.get(None), self._lanes.get(obj.namespace)):
                if lane is not None:
                    lane.events.append(ce)
                    if not lane.dirty:
                        lane.dirty = True
                        self._mark_dirty_lane(lane)
        self._advance(event.revision)

    def _remember(self, event: CacheEvent) -> None:
        """Add ``event`` to the window, then drop its oldest events while it holds more than ``window_size``
        events or more than ``window_bytes`` of objects (the newest event always stays). A watch from before
        the window is told its revision is gone (410) and lists again, as from a compacted revision."""
        now = time.monotonic()
        self.window.append(event)
        self._window_times.append(now)
        self._window_weight += event.weight
        while len(self.window) > self.window_size or (self._window_weight > self.window_bytes and len(self.window) > 1):
            self._drop_oldest()
        self.expire_window(now)

    def expire_window(self, now: float | None = None) -> int:
        """Drop the window's events older than ``window_age`` but the newest ``window_min``; how many went."""
        deadline = (time.monotonic() if now is None else now) - self.window_age
        times, dropped = self._window_times, 0
        while len(times) > self.window_min and times[0] < deadline:
            self._drop_oldest()
            dropped += 1
        return dropped

    def _drop_oldest(self) -> None:
        dropped = self.window.popleft()
        self._window_times.popleft()
        self._window_weight -= dropped.weight
        self.window_start = dropped.revision

    def _advance(self, revision: int) -> None:
        if revision > self.revision:
            self.revision = revision
        self._release_waiters()

    def _release_waiters(self) -> None:
        if not self._waiters:
            return
        keep = []
        for rev, fut in self._waiters:
            if rev <= self.revision:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((rev, fut))
        self._waiters = keep

    # ---- reads -----------------------------------------------------------
    def caught_up(self, revision: int) -> bool:
        """Whether :meth:`wait_for` ``revision`` would return True at once."""
        return revision <= self.revision and self._ready.is_set()

    async def wait_for(self, revision: int, timeout: float = 3.0) -> bool:
        """Wait until the cache has applied ``revision``; False on timeout.

        Writes under other prefixes move the revision on without an event here,
        so the wait asks the store for progress notifications until it is there.
        """
        await self._ready.wait()
        if revision <= self.revision:
            return True
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()
        self._waiters.append((revision, fut))
        deadline = loop.time() + timeout
        while not fut.done():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self.store.request_progress()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(fut), min(remaining, _PROGRESS_INTERVAL))
        return True

    def get(self, key: str) -> CachedObject | None:
        """The current version of one object."""
        return self.objects.get(key)

    def list(self, namespace: str | None) -> list[CachedObject]:
        """Current objects (of one namespace, or all), sorted by key."""
        if namespace is None:
            return [self.objects[k] for k in sorted(self.objects)]
        members = self._by_namespace.get(namespace) if namespace else None
        if not members:
            return []
        return [members[k] for k in sorted(members)]

    def _index(self, key: str, obj: CachedObject) -> None:
        namespace = self._namespace_of(key)
        members = self._by_namespace.get(namespace)
        if members is None:
            members = self._by_namespace[namespace] = {}
        members[key] = obj

    def _unindex(self, key: str) -> None:
        namespace = self._namespace_of(key)
        members = self._by_namespace.get(namespace)
        if members is not None:
            members.pop(key, None)
            if not members:
                del self._by_namespace[namespace]

    def _namespace_of(self, key: str) -> str:
        """The namespace part of a key under the prefix ("" for a cluster-scoped object's)."""
        namespace, slash, _ = key[len(self.prefix) :].partition("/")
        return namespace if slash else ""

    # ---- watch -----------------------------------------------------------
    def watch(
        self,
        namespace: str | None,
        filter_: Filter | None,
        *,
        after_revision: int | None,
    ) -> Watcher:
        """Start a watcher.

        ``after_revision=None`` starts with synthetic ADDED events for every
        current object (upstream's "Get State and Start at Most Recent"); a
        number replays the window's events after it. Raises :class:`Compacted`
        if that revision is older than the window.
        """
        watcher = Watcher(self, namespace, filter_, self.max_pending, self.max_pending_bytes)
        if after_revision is None:
            for obj in self.list(namespace):
                if watcher._matches(obj):
                    watcher.pending.append(CacheEvent("ADDED", obj, None, obj.revision))
        else:
            if after_revision < self.window_start:
                raise Compacted(after_revision, self.window_start)
            for ev in self.window:
                if ev.revision > after_revision:
                    watcher.offer(ev)
        self._watchers.add(watcher)
        return watcher

    def _mark_dirty(self, watcher: Watcher) -> None:
        """Flush ``watcher`` soon: once the events applied in this loop iteration are all queued (and not
        before the pace of :data:`FLUSH_SHARE` allows)."""
        self._flush_soon()
        self._dirty.append(watcher)

    def _mark_dirty_lane(self, lane: _Lane) -> None:
        """Flush ``lane``'s watchers soon, as :meth:`_mark_dirty` does one watcher."""
        self._flush_soon()
        self._dirty_lanes.append(lane)

    def _flush_soon(self) -> None:
        """Schedule a flush, unless one is scheduled (something is marked already) or under way."""
        if not self._dirty and not self._dirty_lanes and not self._flushing:
            self._schedule_flush()

    def _join_lane(self, watcher: Watcher) -> None:
        """Move ``watcher`` from the per-watcher fan-out to its namespace's lane. Every event up to the
        cache's revision has been offered to it one by one; the lane sends it only the later ones."""
        if watcher.closed or watcher.lane is not None or watcher not in self._watchers:
            return
        self._watchers.discard(watcher)
        lane = self._lanes.get(watcher.namespace)
        if lane is None:
            lane = self._lanes[watcher.namespace] = _Lane(watcher.namespace)
        lane.members[watcher] = None
        watcher.lane = lane
        watcher.sent = self.revision

    def _all_watchers(self) -> Sequence[Watcher]:
        out = list(self._watchers)
        for lane in self._lanes.values():
            out.extend(lane.members)
        return out

    def _schedule_flush(self) -> None:
        loop = asyncio.get_running_loop()
        delay = self._next_flush - time.monotonic()
        if delay > 0:
            loop.call_later(delay, self._flush)
        else:
            loop.call_soon(self._flush)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        lanes, self._dirty_lanes = self._dirty_lanes, []
        jobs: list[_FlushJob] = [(dirty, None, 0)] if dirty else []
        for lane in lanes:
            lane.dirty = False
            if not lane.members:
                lane.events.clear()
            elif lane.events:
                jobs.append((list(lane.members), lane, len(lane.events)))
        self._flushing = True
        self._flush_slice(jobs, 0, 0, {}, {}, 0.0)

    def _flush_slice(
        self,
        jobs: Sequence[_FlushJob],
        job: int,
        first: int,
        shared: dict[tuple[CacheEvent, ...], bytes],
        batches: dict[tuple[int, int], tuple[tuple[CacheEvent, ...], bytes]],
        spent: float,
    ) -> None:
        """Flush the next :data:`FLUSH_SLICE` watchers from ``jobs[job]``'s ``first`` on, then the rest in a
        later loop iteration.

        A job is a list of watchers, each with its own pending events, or a lane's members, each taking the
        lane's events it has not had. ``shared``: the lines of each run of events joined so far in this flush;
        ``batches``: the runs the lanes' members took (see :meth:`Watcher._take`). ``spent``: the seconds the
        flush's earlier slices took; the pace counts the flush's own time, not the other work that ran between
        its slices. A watcher not reached yet takes what arrives meanwhile in the same write; one already
        written gets it in the next flush."""
        start = time.monotonic()
        budget = FLUSH_SLICE
        while job < len(jobs) and budget:
            watchers, lane, _ = jobs[job]
            last = min(len(watchers), first + budget)
            for i in range(first, last):
                watcher = watchers[i]
                try:
                    if lane is None:
                        watcher._flush(shared)
                    else:
                        watcher._take(lane, batches, shared)
                except Exception:  # one broken stream must not stall the others: it alone ends
                    log.exception("writing to a watcher failed; ending that watch")
                    watcher.terminate("the watch stream failed; watch again from the last resourceVersion")
            budget -= last - first
            if last < len(watchers):
                first = last
            else:
                job, first = job + 1, 0
        end = time.monotonic()
        spent += end - start
        if job < len(jobs):
            asyncio.get_running_loop().call_soon(self._flush_slice, jobs, job, first, shared, batches, spent)
            return
        for _, lane, queued in jobs:
            if lane is not None:
                del lane.events[:queued]  # every member has had these (the later ones are for the next flush)
        self._flushing = False
        self._next_flush = end + min(MAX_FLUSH_INTERVAL, (FLUSH_SHARE - 1) * spent)
        if self._dirty or self._dirty_lanes:
            self._schedule_flush()

    def _remove_watcher(self, watcher: Watcher) -> None:
        self._watchers.discard(watcher)
        lane = watcher.lane
        if lane is not None:
            lane.members.pop(watcher, None)
            if not lane.members and self._lanes.get(lane.namespace) is lane:
                del self._lanes[lane.namespace]

    @property
    def watcher_count(self) -> int:
        """How many watchers are open."""
        return len(self._watchers) + sum(len(lane.members) for lane in self._lanes.values())
