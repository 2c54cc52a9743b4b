"""Failover order across etcd members: a member that left a call unanswered is passed over for a while."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from pinnace.storage import etcd_channel
from pinnace.storage.etcd_channel import Members


@pytest.fixture
async def members() -> AsyncIterator[Members]:
    """Three members nobody listens on: channels open lazily, and no call is made."""
    members = Members(["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3"], None)
    yield members
    await members.close()


async def test_failover_moves_round_the_members(members: Members) -> None:
    seen = []
    for _ in range(4):
        seen.append(members.index)
        members.fail_over(members.channel())
    assert seen == [0, 1, 2, 0]


async def test_a_member_that_did_not_answer_is_passed_over_while_others_are_left(members: Members) -> None:
    members.fail_over(members.channel(), unanswered=True)  # member 0 paused: its call hit the deadline
    assert members.index == 1
    members.fail_over(members.channel())  # member 1 refused (no leader yet): try 2
    assert members.index == 2
    members.fail_over(members.channel())  # member 2 refused too: back to 1, not to the silent 0
    assert members.index == 1


async def test_when_every_member_is_suspect_failover_still_moves(members: Members) -> None:
    for _ in range(3):
        members.fail_over(members.channel(), unanswered=True)
    assert members.index == 0
    members.fail_over(members.channel(), unanswered=True)
    assert members.index == 1


async def test_a_suspect_member_is_tried_again_once_its_time_is_up(
    members: Members, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1000.0]
    monkeypatch.setattr(etcd_channel.time, "monotonic", lambda: now[0])
    members.fail_over(members.channel(), unanswered=True)
    members.fail_over(members.channel())
    assert members.index == 2
    now[0] += etcd_channel.SUSPECT_SECONDS + 0.1
    members.fail_over(members.channel())
    assert members.index == 0


async def test_a_caller_that_failed_on_an_old_channel_does_not_move_the_others(members: Members) -> None:
    old = members.channel()
    members.fail_over(old)
    members.fail_over(old, unanswered=True)  # a second caller reporting the same member: already moved on
    assert members.index == 1
