"""The runtime client and cache against the in-process server: mapping, cached reads, writes, indexes."""

from __future__ import annotations

import asyncio
import time

import pytest

from pinnace.api import errors
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import RestClient
from pinnace.client.restmapper import GVK, RESTMapper, gvk_of
from pinnace.runtime.cache.cache import Cache, strip_managed_fields
from pinnace.runtime.client import Client, JSONPatch, MergeFrom, MergePatch

CM = "v1/ConfigMap"


def configmap(name: str, namespace: str = "default", **labels: str) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "data": {"v": "0"},
    }


async def eventually_get(c: Client, kind: str, name: str, namespace: str) -> dict[str, object]:
    deadline = time.monotonic() + 5
    while True:
        try:
            return await c.get(kind, name, namespace)
        except errors.NotFound:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.01)


def test_gvk_of_accepts_strings_and_objects() -> None:
    assert gvk_of("apps/v1/Deployment") == GVK("apps", "v1", "Deployment")
    assert gvk_of("v1/ConfigMap") == GVK("", "v1", "ConfigMap")
    assert gvk_of({"apiVersion": "batch/v1", "kind": "Job"}).api_version == "batch/v1"
    with pytest.raises(ValueError):
        gvk_of("Deployment")


async def test_mapper_knows_builtin_kinds_and_scopes(mapper: RESTMapper) -> None:
    deployments = await mapper.mapping("apps/v1/Deployment")
    assert deployments.ref.plural == "deployments" and deployments.ref.namespaced
    assert {"status", "scale"} <= deployments.subresources
    nodes = await mapper.ref("v1/Node")
    assert nodes.plural == "nodes" and not nodes.namespaced
    with pytest.raises(errors.NotFound, match='no matches for kind "Nope"'):
        await mapper.mapping("example.com/v1/Nope")


def request_count(server: APIServer, verb: str, resource: str) -> float:
    total = 0.0
    for metric in server.metrics.requests.collect():
        for sample in metric.samples:
            if (
                sample.name.endswith("_total")
                and sample.labels.get("verb") == verb
                and sample.labels.get("resource") == resource
            ):
                total += sample.value
    return total


async def test_cached_reads_make_no_api_requests(api_server: APIServer, rt_client: Client) -> None:
    for i in range(5):
        await rt_client.create(configmap(f"c{i}", app="x" if i % 2 else "y"))
    await eventually_get(rt_client, CM, "c4", "default")  # informer started and synced
    gets = request_count(api_server, "GET", "configmaps")
    lists = request_count(api_server, "LIST", "configmaps")
    for _ in range(50):
        got = await rt_client.get(CM, "c1", "default")
        assert got["metadata"]["name"] == "c1"
        listed = await rt_client.list(CM, "default", label_selector="app=x")
        assert [o["metadata"]["name"] for o in listed] == ["c1", "c3"]
    assert request_count(api_server, "GET", "configmaps") == gets
    assert request_count(api_server, "LIST", "configmaps") == lists


async def test_reads_are_copies(rt_client: Client) -> None:
    await rt_client.create(configmap("mine"))
    got = await eventually_get(rt_client, CM, "mine", "default")
    got["data"] = {"tampered": "yes"}  # type: ignore[index]
    assert (await rt_client.get(CM, "mine", "default"))["data"] == {"v": "0"}


async def test_writes_patches_status_and_delete(rt_client: Client) -> None:
    created = await rt_client.create(configmap("w"))
    changed = {**created, "data": {"v": "1", "extra": "x"}}
    patched = await rt_client.patch(changed, MergeFrom(created))
    assert patched["data"] == {"v": "1", "extra": "x"}
    stale = {**created, "data": {"v": "2"}}
    with pytest.raises(errors.Conflict):
        await rt_client.patch(stale, MergeFrom(created, optimistic_lock=True))
    patched = await rt_client.patch(patched, JSONPatch([{"op": "remove", "path": "/data/extra"}]))
    assert patched["data"] == {"v": "1"}
    await rt_client.update({**patched, "data": {"v": "3"}})
    with pytest.raises(errors.Conflict):
        await rt_client.update({**patched, "data": {"v": "4"}})  # stale resourceVersion
    await rt_client.delete(patched)
    with pytest.raises(errors.NotFound):
        await rt_client.api_reader.get(CM, "w", "default")


async def test_status_writer_touches_only_status(rt_client: Client) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}},
        },
    }
    created = await rt_client.create(deployment)
    changed = {**created, "spec": {**created["spec"], "replicas": 5}, "status": {"observedGeneration": 1}}
    after = await rt_client.status().update(changed)
    assert after["status"]["observedGeneration"] == 1
    assert after["spec"]["replicas"] == 1
    more = {**after, "status": {**after["status"], "replicas": 7}}
    after = await rt_client.status().patch(more, MergeFrom(after))
    assert after["status"] == {"observedGeneration": 1, "replicas": 7}
    assert after["spec"]["replicas"] == 1


async def test_field_index_lists_without_a_scan(cache: Cache, rt_client: Client) -> None:
    await cache.index_field(CM, "data.v", lambda o: [str((o.get("data") or {}).get("v"))])
    await rt_client.create(configmap("a"))
    b = await rt_client.create(configmap("b"))
    await rt_client.create(configmap("c", namespace="kube-system"))
    await rt_client.patch({**b, "data": {"v": "9"}}, MergeFrom(b))
    deadline = time.monotonic() + 5
    # The patch is the last write: once the cache has it, it has every earlier one (events arrive in order).
    # (Waiting for two objects with v=0 could stop early: a and b before c and the patch.)
    while not await rt_client.list(CM, fields={"data.v": "9"}):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    assert len(await rt_client.list(CM, fields={"data.v": "0"})) == 2
    assert [o["metadata"]["name"] for o in await rt_client.list(CM, "default", fields={"data.v": "0"})] == ["a"]
    assert [o["metadata"]["name"] for o in await rt_client.list(CM, fields={"data.v": "9"})] == ["b"]
    with pytest.raises(errors.BadRequest, match="no index for field"):
        await rt_client.list(CM, fields={"metadata.name": "a"})


async def test_reading_before_the_cache_starts_is_an_error(client: object, mapper: RESTMapper) -> None:
    idle = Cache(client, mapper)  # type: ignore[arg-type]
    with pytest.raises(errors.ServiceUnavailable, match="not started"):
        await idle.get(CM, "x", "default")


async def test_a_transform_trims_what_the_cache_keeps(client: RestClient, mapper: RESTMapper) -> None:
    plain = Client(client, mapper)
    await plain.create(configmap("trimmed"))
    assert (await plain.get(CM, "trimmed", "default"))["metadata"]["managedFields"]  # the server records them
    trimmed = Cache(client, mapper, transform=strip_managed_fields)
    await trimmed.start()
    try:
        cached = Client(client, mapper, trimmed)
        got = await eventually_get(cached, CM, "trimmed", "default")
        assert "managedFields" not in got["metadata"] and got["data"] == {"v": "0"}  # type: ignore[index,operator]
        await plain.patch(got, MergePatch({"data": {"v": "1"}}))  # watched updates are trimmed too
        deadline = time.monotonic() + 5
        while (got := await cached.get(CM, "trimmed", "default"))["data"] != {"v": "1"}:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        assert "managedFields" not in got["metadata"]
    finally:
        await trimmed.stop()


async def test_server_side_apply_through_the_runtime_client(rt_client: Client) -> None:
    from pinnace.runtime.client import Apply

    desired = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa", "namespace": "default"}}
    first = await rt_client.apply({**desired, "data": {"a": "1", "b": "2"}}, Apply("tool-a"))
    assert first["data"] == {"a": "1", "b": "2"}
    assert [e["manager"] for e in first["metadata"]["managedFields"]] == ["tool-a"]
    # Omitting a field it owned gives it up; another manager's conflicting value needs force.
    second = await rt_client.apply({**desired, "data": {"a": "1"}}, Apply("tool-a"))
    assert second["data"] == {"a": "1"}
    with pytest.raises(errors.Conflict, match='conflict with "tool-a"'):
        await rt_client.apply({**desired, "data": {"a": "other"}}, Apply("tool-b"))
    forced = await rt_client.apply({**desired, "data": {"a": "other"}}, Apply("tool-b", force=True))
    assert forced["data"] == {"a": "other"}
