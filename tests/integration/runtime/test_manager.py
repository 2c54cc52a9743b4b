"""The manager and builder over the in-process server: a real operator loop, probes, metrics, failover."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.runtime import metrics
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client, MergeFrom
from pinnace.runtime.controllerutil import set_controller_reference
from pinnace.runtime.manager import Manager, ManagerOptions
from pinnace.runtime.reconcile import Request, Result

CM = "v1/ConfigMap"
SECRET = "v1/Secret"
SECRETS = ResourceRef("", "v1", "secrets")
CONFIGMAPS = ResourceRef("", "v1", "configmaps")


class MirrorReconciler:
    """For each ConfigMap labelled mirror=yes, keep a Secret with the same data, owned by it."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.calls = 0

    async def reconcile(self, req: Request) -> Result:
        self.calls += 1
        try:
            cm = await self.client.get(CM, req.name, req.namespace)
        except errors.NotFound:
            return Result()
        if (cm["metadata"].get("labels") or {}).get("mirror") != "yes":
            return Result()
        want = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": req.name, "namespace": req.namespace},
            "stringData": dict(cm.get("data") or {}),
        }
        set_controller_reference(cm, want)
        try:
            current = await self.client.get(SECRET, req.name, req.namespace)
        except errors.NotFound:
            await self.client.create(want)
            return Result()
        changed = {**current, "stringData": want["stringData"]}
        await self.client.patch(changed, MergeFrom(current))
        return Result()


@contextlib.asynccontextmanager
async def running(manager: Manager) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(manager.run())
    try:
        yield task
    finally:
        manager.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)


async def until(check: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def secret_data(rest: RestClient, name: str) -> dict[str, str] | None:
    try:
        secret = await rest.get(SECRETS, name, "default")
    except errors.NotFound:
        return None
    return dict(secret.get("data") or {})


async def test_builder_operator_reconciles_owned_objects_back(client: RestClient) -> None:
    options = ManagerOptions(health_probe_bind_address="127.0.0.1:0", metrics_bind_address="127.0.0.1:0")
    manager = Manager(client, options)
    reconciler = MirrorReconciler(manager.client)
    await Builder(manager).for_(CM).owns(SECRET).complete(reconciler)
    before = _samples(generate_latest(metrics.REGISTRY).decode())
    async with running(manager):
        mirrored = {"name": "m", "namespace": "default", "labels": {"mirror": "yes"}}
        await manager.client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": mirrored, "data": {"k": "v"}})
        assert await until(lambda: secret_data(client, "m")) == {"k": "dg=="}
        # Someone tampers with the owned Secret: the owner is reconciled and puts it back.
        await client.patch(SECRETS, "m", {"data": {"k": "eA=="}}, "default")
        assert await until(lambda: _equals(client, "m", {"k": "dg=="}))

        host, port = manager.bound["probes"]
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://{host}:{port}/healthz") as resp:
                assert resp.status == 200 and await resp.text() == "ok"
            async with http.get(f"http://{host}:{port}/readyz?verbose") as resp:
                text = await resp.text()
                assert resp.status == 200 and "[+]cache-sync ok" in text
            mhost, mport = manager.bound["metrics"]
            async with http.get(f"http://{mhost}:{mport}/metrics") as resp:
                text = await resp.text()
        after = _samples(text)
    assert 'controller_runtime_reconcile_total{controller="configmap",result="success"}' in text
    grew = {name: after.get(name, 0.0) - before.get(name, 0.0) for name in after}  # the registry is per process
    successes = grew['controller_runtime_reconcile_total{controller="configmap",result="success"}']
    assert successes >= 2  # the create, then the tampering
    assert grew['controller_runtime_reconcile_time_seconds_count{controller="configmap"}'] >= successes
    assert grew['workqueue_adds_total{name="configmap"}'] >= successes
    assert grew['workqueue_queue_duration_seconds_count{name="configmap"}'] >= successes
    assert grew['workqueue_work_duration_seconds_count{name="configmap"}'] >= successes
    assert after['workqueue_depth{name="configmap"}'] == 0  # all worked off


def _samples(exposition: str) -> dict[str, float]:
    """Each sample of a Prometheus text exposition, as ``name{label="value",...}`` (labels sorted) -> value."""
    out = {}
    for family in text_string_to_metric_families(exposition):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()) if k != "le")
            if "le" not in sample.labels:
                out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


async def _equals(client: RestClient, name: str, data: dict[str, str]) -> bool:
    return await secret_data(client, name) == data


async def test_leader_election_runs_controllers_only_on_the_leader_and_fails_over(client: RestClient) -> None:
    def make(identity: str) -> tuple[Manager, MirrorReconciler]:
        opts = ManagerOptions(
            leader_election=True,
            leader_election_id="mirror-lock",
            identity=identity,
            lease_duration=1.5,
            renew_deadline=1.0,
            retry_period=0.2,
        )
        mgr = Manager(client, opts)
        return mgr, MirrorReconciler(mgr.client)

    first, first_rec = make("first")
    await Builder(first).for_(CM).complete(first_rec)
    second, second_rec = make("second")
    await Builder(second).for_(CM).complete(second_rec)
    async with running(first):
        await until(lambda: first.elector is not None and first.elector.is_leader)
        async with running(second) as second_task:
            mirrored = {"metadata": {"name": "a", "labels": {"mirror": "yes"}}, "data": {"x": "1"}}
            await client.create(CONFIGMAPS, mirrored, "default")
            await until(lambda: secret_data(client, "a"))
            assert second_rec.calls == 0  # the follower reconciles nothing
            # The leader stops (cleanly, releasing the lease): the follower takes over and reconciles.
            first.stop()
            await until(lambda: second.elector is not None and second.elector.is_leader, timeout=5)
            await until(lambda: second_rec.calls > 0, timeout=5)
            assert not second_task.done()


async def test_a_runnable_that_fails_stops_the_manager(client: RestClient) -> None:
    class Broken:
        needs_leader_election = False

        async def run(self) -> None:
            raise RuntimeError("boom")

    manager = Manager(client)
    manager.add(Broken())
    await asyncio.wait_for(manager.run(), 5)


async def test_leader_election_needs_an_id(client: RestClient) -> None:
    manager = Manager(client, ManagerOptions(leader_election=True))
    with pytest.raises(ValueError, match="leader_election_id"):
        await manager.start()
    await manager.shutdown()


@pytest.mark.parametrize("address", ["127.0.0.1:0"])
async def test_unknown_probe_is_404(client: RestClient, address: str) -> None:
    manager = Manager(client, ManagerOptions(health_probe_bind_address=address))
    async with running(manager):
        await until(lambda: "probes" in manager.bound)
        host, port = manager.bound["probes"]
        async with aiohttp.ClientSession() as http, http.get(f"http://{host}:{port}/readyz/nope") as resp:
            assert resp.status == 404
