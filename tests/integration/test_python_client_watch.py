"""WATCH through ``kubernetes.watch.Watch().stream``: order, resume, bookmarks, timeouts, 410, selectors."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.request
from typing import Any

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ThreadedServer

from pinnace.apiserver.watch import WatchSettings
from pinnace.apiserver.watch_cache import MAX_PENDING_BYTES

NS = "default"


def _cm(name: str, **labels: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels or None))


def _collect(func: Any, **kwargs: Any) -> list[tuple[str, str, str]]:
    """Every (type, name, resourceVersion) of a watch that ends by its timeoutSeconds."""
    out = []
    for event in watch.Watch().stream(func, NS, **kwargs):
        meta = event["raw_object"].get("metadata") or {}
        out.append((event["type"], meta.get("name", ""), meta.get("resourceVersion", "")))
    return out


def test_events_in_order(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    created = core.create_namespaced_config_map(NS, _cm("w"))
    patched = core.patch_namespaced_config_map("w", NS, {"data": {"k": "v"}})
    core.delete_namespaced_config_map("w", NS)
    core.create_namespaced_config_map(NS, _cm("x"))

    events = _collect(core.list_namespaced_config_map, resource_version=start, timeout_seconds=1)
    assert [(t, n) for t, n, _ in events] == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w"), ("ADDED", "x")]
    assert events[0][2] == created.metadata.resource_version
    assert events[1][2] == patched.metadata.resource_version
    revisions = [int(rv) for _, _, rv in events]
    assert revisions == sorted(revisions) and len(set(revisions)) == 4


def test_watch_without_resource_version_starts_with_the_current_state(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    for name in ("a", "b"):
        core.create_namespaced_config_map(NS, _cm(name))
    events = _collect(core.list_namespaced_config_map, timeout_seconds=1)
    assert [(t, n) for t, n, _ in events] == [("ADDED", "a"), ("ADDED", "b")]


def test_resume_from_a_resource_version_misses_nothing(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    for i in range(3):
        core.create_namespaced_config_map(NS, _cm(f"r-{i}"))

    w = watch.Watch()
    seen = []
    for event in w.stream(core.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=5):
        seen.append(event["object"].metadata.name)
        if len(seen) == 2:
            w.stop()
    last_rv = w.resource_version
    assert seen == ["r-0", "r-1"]

    core.create_namespaced_config_map(NS, _cm("r-3"))
    core.delete_namespaced_config_map("r-0", NS)
    rest = _collect(core.list_namespaced_config_map, resource_version=last_rv, timeout_seconds=1)
    assert [(t, n) for t, n, _ in rest] == [("ADDED", "r-2"), ("ADDED", "r-3"), ("DELETED", "r-0")]


def test_bookmarks(monkeypatch: pytest.MonkeyPatch, k8s_client: ApiClient) -> None:
    monkeypatch.setattr(WatchSettings, "bookmark_interval", 0.2)
    core = client.CoreV1Api(k8s_client)
    rv = core.create_namespaced_config_map(NS, _cm("b")).metadata.resource_version
    w = watch.Watch()
    bookmarks = []
    for event in w.stream(
        core.list_namespaced_config_map, NS, resource_version=rv, allow_watch_bookmarks=True, timeout_seconds=2
    ):
        assert event["type"] == "BOOKMARK"
        obj = event["raw_object"]
        assert obj["kind"] == "ConfigMap" and obj["apiVersion"] == "v1"
        bookmarks.append(obj["metadata"]["resourceVersion"])
        if len(bookmarks) == 2:
            w.stop()
    assert len(bookmarks) == 2
    assert int(bookmarks[0]) >= int(rv)
    assert w.resource_version == bookmarks[-1]  # the client resumes from a bookmark's version

    # Without allowWatchBookmarks: no bookmark ever.
    assert _collect(core.list_namespaced_config_map, resource_version=rv, timeout_seconds=1) == []


def test_timeout_seconds_closes_the_stream(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    rv = core.list_namespaced_config_map(NS).metadata.resource_version
    started = time.monotonic()
    assert _collect(core.list_namespaced_config_map, resource_version=rv, timeout_seconds=1) == []
    assert 0.9 <= time.monotonic() - started < 5


def _shrink_watch_window(server: ThreadedServer, size: int) -> None:
    """Make the configmaps watch cache keep only ``size`` events (its window is a knob; 5000 by default)."""
    info = server.server.registry.get("", "v1", "configmaps")
    assert info is not None
    cache = server.call(server.server.rest.caches.get(info))
    cache.window_size = size


def test_too_old_resource_version_is_410_then_relist_and_rewatch(
    threaded_server: ThreadedServer, k8s_client: ApiClient
) -> None:
    _shrink_watch_window(threaded_server, 3)
    core = client.CoreV1Api(k8s_client)
    old = core.create_namespaced_config_map(NS, _cm("old")).metadata.resource_version
    for i in range(5):
        core.create_namespaced_config_map(NS, _cm(f"n-{i}"))

    # Upstream sends the 410 as an ERROR event on an open stream; the client raises it (with a timeout set
    # it does not retry; without one it retries once from the same version and raises the second 410).
    for kwargs in ({"timeout_seconds": 1}, {}):
        with pytest.raises(ApiException) as exc:
            list(watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=old, **kwargs))
        assert exc.value.status == 410
        assert exc.value.reason.startswith("Expired: too old resource version")

    # The raw stream: HTTP 200 and one ERROR event carrying a 410 Status.
    resp = core.list_namespaced_config_map(NS, watch=True, resource_version=old, _preload_content=False)
    assert resp.status == 200
    lines = [json.loads(line) for line in resp.data.decode().splitlines() if line]
    assert len(lines) == 1 and lines[0]["type"] == "ERROR"
    status = lines[0]["object"]
    assert status["kind"] == "Status" and status["code"] == 410 and status["reason"] == "Expired"

    # What a client does next: relist, and watch from the list's version.
    listed = core.list_namespaced_config_map(NS)
    assert len(listed.items) == 6
    core.create_namespaced_config_map(NS, _cm("after"))
    events = _collect(
        core.list_namespaced_config_map, resource_version=listed.metadata.resource_version, timeout_seconds=1
    )
    assert [(t, n) for t, n, _ in events] == [("ADDED", "after")]


def test_label_selector_watch_sees_objects_enter_and_leave(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, _cm("s", app="other"))
    core.patch_namespaced_config_map("s", NS, {"metadata": {"labels": {"app": "web"}}})  # enters
    core.patch_namespaced_config_map("s", NS, {"data": {"k": "v"}})  # changes inside
    core.patch_namespaced_config_map("s", NS, {"metadata": {"labels": {"app": "db"}}})  # leaves
    core.patch_namespaced_config_map("s", NS, {"data": {"k": "w"}})  # changes outside: unseen
    core.patch_namespaced_config_map("s", NS, {"metadata": {"labels": {"app": "web"}}})  # enters again
    core.delete_namespaced_config_map("s", NS)

    events = []
    for event in watch.Watch().stream(
        core.list_namespaced_config_map, NS, resource_version=start, label_selector="app=web", timeout_seconds=1
    ):
        events.append((event["type"], event["object"].metadata.labels["app"]))
    # The object leaves in its new state (labels app=db), as upstream's cacher sends it.
    assert events == [("ADDED", "web"), ("MODIFIED", "web"), ("DELETED", "db"), ("ADDED", "web"), ("DELETED", "web")]


def test_field_selector_watch(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    core.create_namespaced_config_map(NS, _cm("one"))
    core.create_namespaced_config_map(NS, _cm("two"))
    events = _collect(
        core.list_namespaced_config_map, resource_version=start, field_selector="metadata.name=two", timeout_seconds=1
    )
    assert [(t, n) for t, n, _ in events] == [("ADDED", "two")]


def test_send_initial_events(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    for name in ("i-1", "i-2"):
        core.create_namespaced_config_map(NS, _cm(name))
    w = watch.Watch()
    events = []
    for event in w.stream(
        core.list_namespaced_config_map,
        NS,
        send_initial_events=True,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=True,
        resource_version="",
        timeout_seconds=5,
    ):
        obj = event["raw_object"]
        events.append((event["type"], obj["metadata"].get("name"), obj["metadata"].get("annotations")))
        if event["type"] == "BOOKMARK":
            end_rv = obj["metadata"]["resourceVersion"]
            core.create_namespaced_config_map(NS, _cm("i-3"))
        if len(events) == 4:
            w.stop()
    assert events == [
        ("ADDED", "i-1", None),
        ("ADDED", "i-2", None),
        ("BOOKMARK", None, {"k8s.io/initial-events-end": "true"}),
        ("ADDED", "i-3", None),
    ]
    assert int(end_rv) >= 1


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"resource_version_match": "NotOlderThan", "resource_version": "1"},
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents "
            "is provided",
        ),
        (
            {"send_initial_events": True, "allow_watch_bookmarks": True},
            "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
        ),
    ],
)
def test_invalid_watch_options_are_422(k8s_client: ApiClient, kwargs: dict, message: str) -> None:
    core = client.CoreV1Api(k8s_client)
    with pytest.raises(ApiException) as exc:
        list(watch.Watch().stream(core.list_namespaced_config_map, NS, timeout_seconds=1, **kwargs))
    assert exc.value.status == 422
    body = json.loads(exc.value.body)
    assert body["message"] == f'ListOptions.meta.k8s.io "" is invalid: {message}'


def test_send_initial_events_false_starts_at_the_most_recent_state(k8s_client: ApiClient) -> None:
    core = client.CoreV1Api(k8s_client)
    core.create_namespaced_config_map(NS, _cm("before"))
    events = _collect(
        core.list_namespaced_config_map,
        send_initial_events=False,
        resource_version_match="NotOlderThan",
        allow_watch_bookmarks=False,
        timeout_seconds=1,
    )
    assert events == []


def _open_watches(server: ThreadedServer) -> float:
    """The server's gauge of open configmap watches (from ``/metrics``)."""
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    for line in text.splitlines():
        if line.startswith("apiserver_longrunning_requests{") and 'resource="configmaps"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_watch_whose_client_stops_reading_is_closed_and_cut(
    threaded_server: ThreadedServer, k8s_client: ApiClient
) -> None:
    """A client that stops reading its watch (a suspended ``kubectl get -w``) while large objects are written:
    once its pending events weigh more than the bound, the server closes the watch, lets go of those events and
    drops the connection, with everything queued for it; the client finds its stream cut short, and a watch
    from the last version it read brings the rest."""
    info = threaded_server.server.registry.get("", "v1", "configmaps")
    assert info is not None
    cache = threaded_server.call(threaded_server.server.rest.caches.get(info))
    cache.max_pending_bytes = 2_000_000  # 32 MiB by default; the kernel's socket buffers take several MB first
    cache.window_bytes = 100_000_000  # 16 MiB by default: the watch again below finds every event in the window
    core = client.CoreV1Api(k8s_client)
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    stalled = core.list_namespaced_config_map(
        NS, watch=True, resource_version=start, timeout_seconds=600, _preload_content=False
    )
    assert stalled.status == 200 and _open_watches(threaded_server) == 1
    big = "x" * 1_000_000
    written = []
    for i in range(24):  # 24 MB: past the socket buffers and the bound together
        cm = core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata={"name": f"big-{i}"}, data={"v": big}))
        written.append(cm.metadata.name)
    deadline = time.monotonic() + 10
    while _open_watches(threaded_server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _open_watches(threaded_server) == 0  # the watch request ended: it holds nothing any more
    assert not any(w.pending for w in cache._all_watchers())

    # The client, reading again: the events that reached it before the cut, then the end of the stream.
    received: list[tuple[str, str]] = []
    buffer = b""
    with contextlib.suppress(urllib3.exceptions.HTTPError):
        for chunk in stalled.stream(1 << 16):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            received += [(e["type"], e["object"]["metadata"]["resourceVersion"]) for e in map(json.loads, lines)]
    stalled.release_conn()
    cache.max_pending_bytes = MAX_PENDING_BYTES  # the watch again replays what was written meanwhile
    assert 0 < len(received) < len(written) and all(t == "ADDED" for t, _ in received)
    rest = _collect(core.list_namespaced_config_map, resource_version=received[-1][1], timeout_seconds=1)
    assert [n for _, n, _ in rest] == written[len(received) :]


def test_a_watch_from_before_the_windows_byte_budget_is_410(
    threaded_server: ThreadedServer, k8s_client: ApiClient
) -> None:
    """The event window holds at most ``window_bytes`` of objects (16 MiB by default) besides its count: large
    objects written since a version push it out, and a watch from it is told 410 as from a compacted one; a
    version still inside it replays every later event."""
    info = threaded_server.server.registry.get("", "v1", "configmaps")
    assert info is not None
    cache = threaded_server.call(threaded_server.server.rest.caches.get(info))
    cache.window_bytes = 300_000
    core = client.CoreV1Api(k8s_client)
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    versions = []
    for i in range(6):  # 6 x 100 kB: the window keeps the last two or three
        cm = core.create_namespaced_config_map(
            NS, client.V1ConfigMap(metadata={"name": f"b{i}"}, data={"v": "x" * 100_000})
        )
        versions.append(cm.metadata.resource_version)
    with pytest.raises(ApiException) as gone:
        list(watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=1))
    assert gone.value.status == 410
    events = _collect(core.list_namespaced_config_map, resource_version=versions[-2], timeout_seconds=1)
    assert [(t, n) for t, n, _ in events] == [("ADDED", "b5")]


def test_a_watch_from_before_the_windows_age_is_410(threaded_server: ThreadedServer, k8s_client: ApiClient) -> None:
    """Events older than the window's age leave it (all but its newest few, here 2): a watch from before them is
    told 410 through the client, one from inside replays what followed."""
    info = threaded_server.server.registry.get("", "v1", "configmaps")
    assert info is not None
    cache = threaded_server.call(threaded_server.server.rest.caches.get(info))
    cache.window_age, cache.window_min = 0.3, 2
    core = client.CoreV1Api(k8s_client)
    start = core.list_namespaced_config_map(NS).metadata.resource_version
    versions = [core.create_namespaced_config_map(NS, _cm(f"a{i}")).metadata.resource_version for i in range(5)]
    time.sleep(0.5)  # they age; the next write lets them go, but for the newest two
    core.create_namespaced_config_map(NS, _cm("late"))
    with pytest.raises(ApiException) as gone:
        list(watch.Watch().stream(core.list_namespaced_config_map, NS, resource_version=start, timeout_seconds=1))
    assert gone.value.status == 410
    events = _collect(core.list_namespaced_config_map, resource_version=versions[3], timeout_seconds=1)
    assert [(t, n) for t, n, _ in events] == [("ADDED", "a4"), ("ADDED", "late")]
