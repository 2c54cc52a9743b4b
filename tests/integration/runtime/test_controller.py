"""Controllers over the in-process server: events to requests, concurrency, requeue and backoff."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from pinnace.api import errors
from pinnace.runtime.cache.cache import Cache
from pinnace.runtime.client import Client, MergeFrom
from pinnace.runtime.clock import FakeClock, settle
from pinnace.runtime.controller import QUIET_CONFLICTS, Controller
from pinnace.runtime.handler import EnqueueRequestForObject, EnqueueRequestForOwner, EnqueueRequestsFromMapFunc
from pinnace.runtime.predicate import GENERATION_CHANGED, new_predicate
from pinnace.runtime.ratelimit import ItemExponentialFailureRateLimiter
from pinnace.runtime.reconcile import ReconcilerFunc, Request, Result, TerminalError
from pinnace.runtime.source import Channel, Kind

CM = "v1/ConfigMap"


def configmap(name: str, **extra: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default", **extra}}


@contextlib.asynccontextmanager
async def running(controller: Controller) -> AsyncIterator[Controller]:
    task = asyncio.create_task(controller.run())
    try:
        deadline = time.monotonic() + 5
        while not controller._workers:
            assert time.monotonic() < deadline, "controller did not start"
            await asyncio.sleep(0.01)
        yield controller
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_events_become_requests_and_existing_objects_are_reconciled_at_start(
    cache: Cache, rt_client: Client
) -> None:
    await rt_client.create(configmap("before"))
    seen: list[Request] = []

    async def reconcile(req: Request) -> Result:
        seen.append(req)
        return Result()

    ctrl = Controller("cm", ReconcilerFunc(reconcile))
    ctrl.watch(Kind(cache, CM, EnqueueRequestForObject()))
    async with running(ctrl):
        await until(lambda: Request("default", "before") in seen)
        await rt_client.create(configmap("after"))
        await until(lambda: Request("default", "after") in seen)


async def test_a_request_is_never_reconciled_concurrently_with_itself(cache: Cache, rt_client: Client) -> None:
    active: set[Request] = set()
    overlaps: list[Request] = []
    count = 0

    async def reconcile(req: Request) -> Result:
        nonlocal count
        if req in active:
            overlaps.append(req)
        active.add(req)
        await asyncio.sleep(0.005)
        active.discard(req)
        count += 1
        return Result()

    ctrl = Controller("concurrent", ReconcilerFunc(reconcile), max_concurrent_reconciles=4)
    ctrl.watch(Kind(cache, CM, EnqueueRequestForObject()))
    async with running(ctrl):
        objs = [await rt_client.create(configmap(f"k{i}")) for i in range(3)]
        for round_ in range(15):
            for obj in objs:
                await rt_client.patch({**obj, "data": {"r": str(round_)}}, MergeFrom(obj))
        await until(lambda: count >= 3 and not active and len(ctrl.queue) == 0)
    assert overlaps == []


async def test_errors_back_off_and_requeue_after_waits_on_the_clock(cache: Cache, rt_client: Client) -> None:
    clock = FakeClock()
    attempts: list[float] = []

    async def reconcile(req: Request) -> Result:
        attempts.append(clock.now())
        if len(attempts) < 3:
            raise RuntimeError("not yet")
        if len(attempts) == 3:
            return Result(requeue_after=600)
        return Result()

    ctrl = Controller(
        "backoff",
        ReconcilerFunc(reconcile),
        clock=clock,
        rate_limiter=ItemExponentialFailureRateLimiter(1.0, 100.0),
    )
    await rt_client.create(configmap("flaky"))
    ctrl.watch(Kind(cache, CM, EnqueueRequestForObject()))
    async with running(ctrl):
        await until(lambda: len(attempts) == 1)
        await clock.advance(1.0)  # first failure: 1 s
        await until(lambda: len(attempts) == 2)
        await clock.advance(1.9)
        await settle()
        assert len(attempts) == 2
        await clock.advance(0.1)  # second failure: 2 s
        await until(lambda: len(attempts) == 3)
        assert ctrl.queue.num_requeues(Request("default", "flaky")) == 0  # success forgets the backoff
        await clock.advance(599)
        await settle()
        assert len(attempts) == 3
        await clock.advance(1)  # requeue_after=600
        await until(lambda: len(attempts) == 4)
    assert attempts == [0.0, 1.0, 3.0, 603.0]


async def test_terminal_errors_are_not_retried(cache: Cache, rt_client: Client) -> None:
    clock = FakeClock()
    attempts = 0

    async def reconcile(req: Request) -> Result:
        nonlocal attempts
        attempts += 1
        raise TerminalError("bad spec")

    ctrl = Controller("terminal", ReconcilerFunc(reconcile), clock=clock)
    await rt_client.create(configmap("bad"))
    ctrl.watch(Kind(cache, CM, EnqueueRequestForObject()))
    async with running(ctrl):
        await until(lambda: attempts == 1)
        await clock.advance(3600)
        await settle()
        assert attempts == 1 and ctrl.queue.delayed == 0


async def test_owner_handler_and_predicates(cache: Cache, rt_client: Client) -> None:
    owner = await rt_client.create(configmap("owner"))
    seen: list[Request] = []

    async def reconcile(req: Request) -> Result:
        seen.append(req)
        return Result()

    ctrl = Controller("owners", ReconcilerFunc(reconcile))
    ctrl.watch(Kind(cache, CM, EnqueueRequestForOwner("", "ConfigMap"), [new_predicate(lambda o: "skip" not in o)]))
    async with running(ctrl):
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
        await rt_client.create(configmap("child", ownerReferences=[{**ref, "controller": True}]))
        await rt_client.create(configmap("not-controlled", ownerReferences=[{**ref, "name": "other"}]))
        await until(lambda: Request("default", "owner") in seen)
        assert Request("default", "other") not in seen
        assert Request("default", "child") not in seen


def test_generation_changed_ignores_status_and_metadata_only_updates() -> None:
    old = {"metadata": {"generation": 1, "labels": {}}}
    assert not GENERATION_CHANGED.update(old, {"metadata": {"generation": 1, "labels": {"a": "b"}}})
    assert GENERATION_CHANGED.update(old, {"metadata": {"generation": 2}})


async def test_channel_source_and_map_func(rt_client: Client) -> None:
    seen: list[Request] = []

    async def reconcile(req: Request) -> Result:
        seen.append(req)
        return Result()

    channel = Channel(EnqueueRequestsFromMapFunc(lambda o: [Request("ns", o["target"]), Request("ns", "also")]))
    ctrl = Controller("channel", ReconcilerFunc(reconcile))
    ctrl.watch(channel)
    async with running(ctrl):
        channel.push({"target": "x"})
        await until(lambda: len(seen) == 2)
    assert set(seen) == {Request("ns", "x"), Request("ns", "also")}


async def test_stop_drains_reconciles_in_flight(rt_client: Client) -> None:
    release = asyncio.Event()
    finished: list[Request] = []

    async def reconcile(req: Request) -> Result:
        await release.wait()
        finished.append(req)
        return Result()

    channel = Channel(EnqueueRequestForObject())
    ctrl = Controller("drain", ReconcilerFunc(reconcile))
    ctrl.watch(channel)
    await ctrl.start()
    channel.push({"metadata": {"name": "slow", "namespace": "ns"}})
    await until(lambda: ctrl.queue.is_processing(Request("ns", "slow")))
    stopping = asyncio.create_task(ctrl.stop(drain_timeout=5))
    await settle()
    assert not stopping.done()
    release.set()
    await stopping
    assert finished == [Request("ns", "slow")]


async def test_an_api_refusal_is_logged_as_one_line_and_a_bug_with_its_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: dict[str, Exception] = {
        "refused": errors.Forbidden('configmaps "refused" is forbidden: exceeded quota: q'),
        "bug": KeyError("metadata"),
    }

    async def reconcile(req: Request) -> Result:
        raise failures[req.name]

    caplog.set_level(logging.ERROR, logger="pinnace.runtime.controller")
    channel = Channel(EnqueueRequestForObject())
    ctrl = Controller("logs", ReconcilerFunc(reconcile))
    ctrl.watch(channel)
    async with running(ctrl):
        for name in failures:
            channel.push({"metadata": {"name": name, "namespace": "ns"}})
        await until(lambda: len(caplog.records) >= 2)
    by_request: dict[str, logging.LogRecord] = {}
    for record in caplog.records:  # the first failure of each (retries may follow)
        by_request.setdefault(record.getMessage().split(" failed")[0].rsplit("/", 1)[-1], record)
    refused, bug = by_request["refused"], by_request["bug"]
    assert refused.exc_info is None
    assert refused.getMessage().endswith('(retry 1): configmaps "refused" is forbidden: exceeded quota: q')
    assert bug.exc_info is not None and bug.exc_info[0] is KeyError


async def test_expected_races_are_quiet_conflicts_retried_and_deletions_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    attempts: dict[str, int] = {}
    failures: dict[str, Exception] = {
        # A write from a stale cache: retried, and an error line only once it keeps happening.
        "stale": errors.Conflict('Operation cannot be fulfilled on configmaps "stale": the object has been modified'),
        # The request's own object deleted under the reconcile: nothing left to do.
        "deleted": errors.NotFound('configmaps "deleted" not found', kind="configmaps", name="deleted"),
        # Anything created in a namespace being deleted is refused: nothing left to do either.
        "terminating": errors.Forbidden(
            "unable to create new content in namespace ns because it is being terminated",
            causes=[errors.Cause(errors.CAUSE_NAMESPACE_TERMINATING, "namespace ns is being terminated")],
        ),
        # Another object missing is a real failure: retried and logged.
        "missing": errors.NotFound('secrets "missing" not found', kind="secrets", name="missing"),
    }

    async def reconcile(req: Request) -> Result:
        attempts[req.name] = attempts.get(req.name, 0) + 1
        raise failures[req.name]

    caplog.set_level(logging.DEBUG, logger="pinnace.runtime.controller")
    channel = Channel(EnqueueRequestForObject())
    ctrl = Controller(
        "races",
        ReconcilerFunc(reconcile),
        clock=clock,
        rate_limiter=ItemExponentialFailureRateLimiter(1.0, 1.0),  # a retry a second
        subject=("", "configmaps"),
    )
    ctrl.watch(channel)
    async with running(ctrl):
        for name in failures:
            channel.push({"metadata": {"name": name, "namespace": "ns"}})
        await until(lambda: len(attempts) == len(failures))
        for retries in range(1, QUIET_CONFLICTS + 2):
            await clock.advance(1.0)
            await until(lambda n=retries + 1: attempts["stale"] == attempts["missing"] == n)
    assert attempts["deleted"] == attempts["terminating"] == 1
    assert attempts["stale"] == attempts["missing"] == QUIET_CONFLICTS + 2

    def loud(name: str) -> list[int]:
        return [
            int(r.getMessage().split("(retry ")[1].split(")")[0])
            for r in caplog.records
            if r.levelno >= logging.WARNING and f"ns/{name} " in r.getMessage()
        ]

    assert loud("deleted") == loud("terminating") == []
    assert loud("stale") == [QUIET_CONFLICTS + 1, QUIET_CONFLICTS + 2]
    assert loud("missing") == list(range(1, QUIET_CONFLICTS + 3))


def test_max_concurrent_reconciles_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Controller("x", ReconcilerFunc(lambda r: None), max_concurrent_reconciles=0)  # type: ignore[arg-type,return-value]
