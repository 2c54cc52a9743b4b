"""Events expire their TTL after their last write (kube-apiserver's --event-ttl), seen through the official
client: get, the events.k8s.io view of the same object, and a watch that is told of the deletion."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import kubernetes
import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ThreadedServer

TTL = 1.5


@pytest.fixture
def api(tmp_path: Path) -> Iterator[kubernetes.client.ApiClient]:
    server = ThreadedServer(tmp_path, event_ttl=TTL)
    try:
        with kubernetes.client.ApiClient(kubernetes.client.Configuration(host=server.url)) as api_client:
            yield api_client
    finally:
        server.close()


def core_event(name: str) -> client.CoreV1Event:
    return client.CoreV1Event(
        metadata=client.V1ObjectMeta(name=name),
        involved_object=client.V1ObjectReference(kind="ConfigMap", name="cm", namespace="default"),
        reason="Tested",
        message="a test",
        type="Normal",
        first_timestamp=datetime.now(UTC),
        last_timestamp=datetime.now(UTC),
    )


def gone(read: object, name: str) -> bool:
    try:
        read(name, "default", _preload_content=False)  # type: ignore[operator]
    except ApiException as exc:
        return exc.status == 404
    return False


def test_an_event_nobody_writes_again_is_deleted_after_the_ttl_and_watchers_see_it(
    api: kubernetes.client.ApiClient,
) -> None:
    core, events = client.CoreV1Api(api), client.EventsV1Api(api)
    core.create_namespaced_event("default", core_event("once"))
    start = time.monotonic()
    # The same object through events.k8s.io (read raw: this client's model refuses the null eventTime that a
    # core Event has there, on kube-apiserver too).
    as_new = json.loads(events.read_namespaced_event("once", "default", _preload_content=False).data)
    assert (as_new["kind"], as_new["reason"], as_new["note"]) == ("Event", "Tested", "a test")
    listed = core.list_namespaced_event("default")
    seen = []
    for change in watch.Watch().stream(
        core.list_namespaced_event, "default", resource_version=listed.metadata.resource_version, timeout_seconds=15
    ):
        seen.append((change["type"], change["object"].metadata.name))
        if change["type"] == "DELETED":
            break
    took = time.monotonic() - start
    assert seen == [("DELETED", "once")]
    assert TTL <= took < TTL + 10
    assert gone(core.read_namespaced_event, "once") and gone(events.read_namespaced_event, "once")
