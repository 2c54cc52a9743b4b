"""Optimistic concurrency and watch correctness over HTTP, on SQLite and on a real etcd.

Each test runs against an in-process API server listening on loopback, with
its store either SQLite in a temp dir or a single-member etcd (Debian's
binary), and talks to it through :class:`RestClient` as any client would:

* many clients increment one ConfigMap counter with GET → +1 → PUT carrying the
  resourceVersion, retrying on 409 Conflict; no increment is lost or doubled
  and every successful PUT replaced exactly the version the previous one wrote;
* a writer makes thousands of random creates/updates/deletes while watchers
  (from different resourceVersions, per namespace, with label selectors) record
  what they see; each watcher's list + events replays to the final state, a
  watch resumed from any resourceVersion of the window gets exactly the rest
  of the stream, and a resourceVersion older than the window (and compacted in
  the store) gets the upstream 410 "too old resource version".
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.storage.etcd_server import EtcdServer

from pinnace.api import errors
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient, WatchEvent
from pinnace.storage import Store
from pinnace.storage.etcd import EtcdStore
from pinnace.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.slow

CONFIGMAPS = ResourceRef("", "v1", "configmaps")
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)

# The size: 32 clients x 100 increments. Each success waits for the previous write's commit (a CAS chain on one
# key), so this takes ~50 s (SQLite) and ~90 s (etcd) on a loaded 2-core machine; it runs in CI all the same.
CLIENTS = 32
INCREMENTS = 100
MUTATIONS = 10_000
KEYS_PER_NAMESPACE = 50
WATCH_NAMESPACES = ("w-0", "w-1", "w-2", "w-3")
SENTINEL = "zz-sentinel"


@pytest.fixture(params=["sqlite", "etcd"])
async def server(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[APIServer]:
    """An API server on a free loopback port, on SQLite or on a fresh single-member etcd."""
    etcd: EtcdServer | None = None
    store: Store
    if request.param == "etcd":
        etcd = EtcdServer(tmp_path / "etcd")
        await etcd.start()
        store = await EtcdStore.open([etcd.endpoint])
    else:
        store = await SQLiteStore.open(tmp_path / "store.db")
    api = APIServer(store)
    try:
        await api.listen("127.0.0.1", 0)
        yield api
    finally:
        await api.stop()
        await store.close()
        if etcd is not None:
            await etcd.stop()


# --- concurrency -------------------------------------------------------------------------------


async def _increment(client: RestClient, times: int, log: list[tuple[int, str, str]]) -> int:
    """Add one to the counter ``times`` times; log (new value, version replaced, version written). Returns conflicts."""
    conflicts = 0
    done = 0
    while done < times:
        cm = await client.get(CONFIGMAPS, "counter", "default")
        value = int(cm["data"]["n"]) + 1
        read_rv = cm["metadata"]["resourceVersion"]
        cm["data"]["n"] = str(value)
        try:
            written = await client.update(CONFIGMAPS, cm)
        except errors.Conflict:
            conflicts += 1
            continue
        log.append((value, read_rv, written["metadata"]["resourceVersion"]))
        done += 1
    return conflicts


@pytest.mark.timeout(400)  # a serial CAS chain of 3,200 writes: ~50-90 s on a quiet 2-core machine, more when loaded
async def test_concurrent_increments_with_conflict_retries_are_exact(server: APIServer) -> None:
    async with RestClient(server.url) as setup:
        created = await setup.create(CONFIGMAPS, {"metadata": {"name": "counter"}, "data": {"n": "0"}}, "default")
    log: list[tuple[int, str, str]] = []
    clients = [RestClient(server.url) for _ in range(CLIENTS)]
    try:
        conflicts = await asyncio.gather(*(_increment(c, INCREMENTS, log) for c in clients))
    finally:
        await asyncio.gather(*(c.close() for c in clients))

    async with RestClient(server.url) as reader:
        final = await reader.get(CONFIGMAPS, "counter", "default")
    assert final["data"]["n"] == str(CLIENTS * INCREMENTS)
    assert sum(conflicts) > 0  # the clients did race
    # Each successful PUT wrote the next value, and replaced exactly the version the previous one wrote.
    log.sort()
    assert [value for value, _, _ in log] == list(range(1, CLIENTS * INCREMENTS + 1))
    previous = created["metadata"]["resourceVersion"]
    for _, replaced, written in log:
        assert replaced == previous
        assert int(written) > int(replaced)
        previous = written
    assert final["metadata"]["resourceVersion"] == previous


# --- watch correctness -------------------------------------------------------------------------

State = dict[tuple[str, str], tuple[str, dict[str, str]]]
"""(namespace, name) → (resourceVersion, data)."""


def _key(obj: dict[str, Any]) -> tuple[str, str]:
    return obj["metadata"]["namespace"], obj["metadata"]["name"]


def _entry(obj: dict[str, Any]) -> tuple[str, dict[str, str]]:
    return obj["metadata"]["resourceVersion"], dict(obj.get("data") or {})


def _replay(start: State, events: list[WatchEvent]) -> State:
    state = dict(start)
    for event in events:
        if event.type == "DELETED":
            del state[_key(event.object)]
        else:
            state[_key(event.object)] = _entry(event.object)
    return state


class Recorder:
    """One watch: the list it started from and every event after it, until the last sentinel."""

    def __init__(self, client: RestClient, namespace: str | None, selector: str | None) -> None:
        self.client = client
        self.namespace = namespace
        self.selector = selector or ""  # an empty selector selects everything
        self.start: State = {}
        self.start_rv = ""
        self.events: list[WatchEvent] = []
        self.opened = asyncio.Event()

    async def list_state(self) -> tuple[State, str]:
        """The current list (with this watcher's namespace and selector) and its resourceVersion."""
        listed = await self.client.list(CONFIGMAPS, self.namespace, labelSelector=self.selector)
        return {_key(o): _entry(o) for o in listed["items"]}, listed["metadata"]["resourceVersion"]

    async def run(self, from_rv: str | None = None) -> None:
        """List (unless ``from_rv`` is given), then watch until every namespace's sentinel said "done"."""
        if from_rv is None:
            self.start, self.start_rv = await self.list_state()
        else:
            self.start_rv = from_rv
        waiting = {self.namespace} if self.namespace else set(WATCH_NAMESPACES)
        stream = self.client.watch(
            CONFIGMAPS,
            self.namespace,
            resource_version=self.start_rv,
            on_open=self.opened.set,
            labelSelector=self.selector,
        )
        async for event in stream:
            if event.type == "BOOKMARK":
                continue
            self.events.append(event)
            meta = event.object["metadata"]
            if meta["name"] == SENTINEL and (event.object.get("data") or {}).get("done") == "true":
                waiting.discard(meta["namespace"])
                if not waiting:
                    await stream.aclose()  # type: ignore[attr-defined]
                    return


async def _mutate(
    client: RestClient, namespace: str, live: dict[str, dict[str, Any]], count: int, rng: random.Random
) -> None:
    """``count`` random creates/updates/deletes over this namespace's keys (``live``: name → object; labels change)."""
    for i in range(count):
        name = f"k-{rng.randrange(KEYS_PER_NAMESPACE)}"
        labels = {"parity": rng.choice(["even", "odd"]), "tier": rng.choice(["a", "b", "c"])}
        data = {"i": str(i), "v": str(rng.random())}
        current = live.get(name)
        if current is None:
            body = {"metadata": {"name": name, "labels": labels}, "data": data}
            live[name] = await client.create(CONFIGMAPS, body, namespace)
        elif rng.random() < 0.25:
            await client.delete(CONFIGMAPS, name, namespace)
            del live[name]
        else:
            current["metadata"]["labels"] = labels
            current["data"] = data
            live[name] = await client.update(CONFIGMAPS, current)


def _assert_in_order(events: list[WatchEvent]) -> None:
    revisions = [int(e.object["metadata"]["resourceVersion"]) for e in events]
    assert revisions == sorted(revisions) and len(set(revisions)) == len(revisions)


async def test_watchers_replay_to_the_final_state_resume_exactly_and_get_410_when_compacted(
    server: APIServer,
) -> None:
    rng = random.Random(9)
    clients: list[RestClient] = []

    def new_client() -> RestClient:
        clients.append(RestClient(server.url, timeout=120))
        return clients[-1]

    try:
        admin = new_client()
        for ns in WATCH_NAMESPACES:
            await admin.create(NAMESPACES, {"metadata": {"name": ns}})
            # The sentinel matches every selector used below, so each watcher sees it.
            labels = {"parity": "even", "tier": "a"}
            await admin.create(CONFIGMAPS, {"metadata": {"name": SENTINEL, "labels": labels}}, ns)
        before = (await admin.list(CONFIGMAPS))["metadata"]["resourceVersion"]

        early = [
            Recorder(new_client(), None, None),
            Recorder(new_client(), WATCH_NAMESPACES[0], None),
            Recorder(new_client(), None, "parity=even"),
            Recorder(new_client(), WATCH_NAMESPACES[1], "tier in (a,b)"),
        ]
        tasks = [asyncio.create_task(r.run()) for r in early]
        await asyncio.gather(*(r.opened.wait() for r in early))

        live: dict[str, dict[str, dict[str, Any]]] = {ns: {} for ns in WATCH_NAMESPACES}
        share = MUTATIONS // len(WATCH_NAMESPACES)
        half = share // 2
        await asyncio.gather(
            *(_mutate(new_client(), ns, live[ns], half, random.Random(rng.random())) for ns in WATCH_NAMESPACES)
        )
        late = [Recorder(new_client(), None, None), Recorder(new_client(), WATCH_NAMESPACES[2], "parity!=odd")]
        tasks += [asyncio.create_task(r.run()) for r in late]
        await asyncio.gather(*(r.opened.wait() for r in late))
        await asyncio.gather(
            *(_mutate(new_client(), ns, live[ns], share - half, random.Random(rng.random())) for ns in WATCH_NAMESPACES)
        )
        for ns in WATCH_NAMESPACES:
            sentinel = await admin.get(CONFIGMAPS, SENTINEL, ns)
            sentinel["data"] = {"done": "true"}
            await admin.update(CONFIGMAPS, sentinel)
        await asyncio.gather(*tasks)

        # Each watcher's list + events replays to the final state it can see.
        for recorder in early + late:
            _assert_in_order(recorder.events)
            final, _ = await recorder.list_state()
            assert _replay(recorder.start, recorder.events) == final
        full = early[0]
        assert len(full.events) >= MUTATIONS

        # Resuming from any resourceVersion still in the watch cache's window (the last events) gets the rest.
        window = full.events[-3000:]
        for event in rng.sample(window[:-1], 8):
            rv = event.object["metadata"]["resourceVersion"]
            resumed = Recorder(new_client(), None, None)
            await resumed.run(from_rv=rv)
            suffix = full.events[full.events.index(event) + 1 :]
            assert [(e.type, e.object) for e in resumed.events] == [(e.type, e.object) for e in suffix]

        # Compact the store below the window; a watch from a compacted resourceVersion gets 410 Expired.
        oldest_kept = int(window[0].object["metadata"]["resourceVersion"])
        await server.store.compact(oldest_kept - 1)
        assert await server.store.compacted_revision() >= oldest_kept - 1
        with pytest.raises(errors.Gone) as gone:
            async for _ in admin.watch(CONFIGMAPS, resource_version=before):
                pass
        assert gone.value.code == 410
        assert "too old resource version" in str(gone.value)
    finally:
        await asyncio.gather(*(c.close() for c in clients))
