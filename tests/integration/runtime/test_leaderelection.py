"""Leader election on a real Lease: one leader, renewals, failover within the lease duration, release."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime

import pytest

from pinnace.client.rest import RestClient
from pinnace.runtime.clock import FakeClock, settle
from pinnace.runtime.leaderelection import LEASES, LeaderElectionConfig, LeaderElector


def config(identity: str, **kw: object) -> LeaderElectionConfig:
    return LeaderElectionConfig("ctrl-lock", "kube-system", identity, **kw)  # type: ignore[arg-type]


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def idle(clock: FakeClock, sleepers: int) -> None:
    """Wait (real time) until ``sleepers`` candidates are asleep on the clock: no request is in flight."""
    for _ in range(2000):
        if clock.sleepers >= sleepers:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("candidates never went idle")


async def until(check: object, clock: FakeClock | None = None, step: float = 0.5, rounds: int = 200) -> None:
    """Poll ``check``; with a clock, move fake time on only while every live candidate sleeps on it."""
    for _ in range(rounds):
        if check():  # type: ignore[operator]
            return
        if clock is None:
            await asyncio.sleep(0.01)
            continue
        await idle(clock, 1)
        await clock.advance(step)
    raise AssertionError("condition not met")


async def test_only_one_candidate_leads(client: RestClient) -> None:
    clock = FakeClock()
    a = LeaderElector(client, config("a"), clock=clock)
    b = LeaderElector(client, config("b"), clock=clock)
    tasks = [asyncio.create_task(a.run()), asyncio.create_task(b.run())]
    await until(lambda: a.is_leader or b.is_leader)
    for _ in range(20):  # many renew periods later, still exactly one
        await idle(clock, 2)
        await clock.advance(1.0)
        assert a.is_leader != b.is_leader
    lease = await client.get(LEASES, "ctrl-lock", "kube-system")
    leader = "a" if a.is_leader else "b"
    assert lease["spec"]["holderIdentity"] == leader
    assert lease["spec"]["leaseDurationSeconds"] == 15
    assert lease["spec"]["renewTime"].endswith("Z") and "." in lease["spec"]["renewTime"]
    for t in tasks:
        await stop(t)


async def test_failover_happens_within_the_lease_duration_when_the_leader_dies(client: RestClient) -> None:
    clock = FakeClock()
    a = LeaderElector(client, config("a", release_on_cancel=False), clock=clock)
    a_task = asyncio.create_task(a.run())
    await until(lambda: a.is_leader)
    b = LeaderElector(client, config("b"), clock=clock)
    b_task = asyncio.create_task(b.run())
    for _ in range(20):  # 5 s, in steps taken only while both are idle
        await idle(clock, 2)
        await clock.advance(0.25)
    assert not b.is_leader and b.leader == "a"
    await stop(a_task)  # a dies without releasing: b must wait out the lease
    last = await client.get(LEASES, "ctrl-lock", "kube-system")
    last_renewal = datetime.strptime(last["spec"]["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    await until(lambda: b.is_leader, clock, step=0.25)
    # b takes over one lease duration after it saw the last renewal; it polls every retry period
    # (2 s, jittered up to 2.4 s), so it may see that renewal up to one poll late and act one poll late.
    took = (clock.wall() - last_renewal).total_seconds()
    assert 15 <= took <= 15 + 2 * 2.4 + 0.5
    lease = await client.get(LEASES, "ctrl-lock", "kube-system")
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1
    await stop(b_task)


async def test_a_released_lease_is_taken_at_once(client: RestClient) -> None:
    clock = FakeClock()
    a = LeaderElector(client, config("a"), clock=clock)
    a_task = asyncio.create_task(a.run())
    await until(lambda: a.is_leader)
    b = LeaderElector(client, config("b"), clock=clock)
    b_task = asyncio.create_task(b.run())
    await settle()
    await stop(a_task)  # clean stop: releases
    lease = await client.get(LEASES, "ctrl-lock", "kube-system")
    assert not lease["spec"].get("holderIdentity")
    await until(lambda: b.is_leader, clock, step=0.5, rounds=10)  # within a retry period or two
    await stop(b_task)


async def test_a_leader_that_cannot_renew_steps_down(client: RestClient) -> None:
    clock = FakeClock()
    stopped = asyncio.Event()

    async def on_stopped() -> None:
        stopped.set()

    a = LeaderElector(client, config("a"), clock=clock, on_stopped_leading=on_stopped)
    a_task = asyncio.create_task(a.run())
    await until(lambda: a.is_leader)
    # Someone else takes the lease behind a's back (e.g. an operator edits it): a can no longer renew.
    lease = await client.get(LEASES, "ctrl-lock", "kube-system")
    lease["spec"]["holderIdentity"] = "intruder"
    await client.update(LEASES, lease)
    await until(lambda: stopped.is_set(), clock, step=1.0, rounds=30)
    assert not a.is_leader
    await a_task  # run() returned on its own


def test_config_rejects_inconsistent_timings() -> None:
    with pytest.raises(ValueError):
        config("x", lease_duration=5, renew_deadline=10)
    with pytest.raises(ValueError):
        config("x", renew_deadline=2, retry_period=2)
    with pytest.raises(ValueError):
        config("")


async def test_a_sub_second_lease_duration_is_held_as_one_second(client: RestClient) -> None:
    # A Lease's duration is whole seconds and the API refuses 0: a candidate configured below a second still leads.
    clock = FakeClock()
    a = LeaderElector(client, config("a", lease_duration=0.5, renew_deadline=0.3, retry_period=0.1), clock=clock)
    task = asyncio.create_task(a.run())
    try:
        await until(lambda: a.is_leader)
        lease = await client.get(LEASES, "ctrl-lock", "kube-system")
        assert lease["spec"]["leaseDurationSeconds"] == 1
    finally:
        await stop(task)
