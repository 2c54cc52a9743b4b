"""Preemption: the fewest, least important victims; upstream's messages when nothing helps."""

from __future__ import annotations

import pytest
from tests.unit.scheduler.helpers import cluster, node, pod

from pinnace.scheduler.framework import FitError, Framework
from pinnace.scheduler.preemption import preempt


def diagnose(state, p):  # type: ignore[no-untyped-def]
    with pytest.raises(FitError) as caught:
        Framework(state).schedule(p)
    return caught.value.diagnosis


def test_victims_are_reprieved_down_to_what_is_needed() -> None:
    state = cluster(node("n", "4"))
    for name, cpu, prio in (("a", "1", 1), ("b", "1", 2), ("c", "1", 3), ("d", "1", 100)):
        state.add_pod(pod(name, cpu, node_name="n", priority=prio))
    vip = pod("vip", "2", priority=50)
    outcome = preempt(vip, state, diagnose(state, vip))
    assert outcome.node is not None and outcome.node.name == "n"
    assert sorted(v.name for v in outcome.victims) == ["a", "b"]


def test_the_node_with_the_least_important_victims_is_chosen() -> None:
    state = cluster(node("x", "2"), node("y", "2"))
    state.add_pod(pod("x1", "2", node_name="x", priority=10))
    state.add_pod(pod("y1", "2", node_name="y", priority=5))
    vip = pod("vip", "2", priority=50)
    outcome = preempt(vip, state, diagnose(state, vip))
    assert outcome.node is not None and outcome.node.name == "y"


def test_messages_when_preemption_cannot_help() -> None:
    taint = {"key": "k", "value": "v", "effect": "NoSchedule"}
    state = cluster(node("full", "1"), node("tainted", "8", taints=[taint]))
    state.add_pod(pod("equal", "1", node_name="full", priority=7))
    p = pod("p", "1", priority=7)
    outcome = preempt(p, state, diagnose(state, p))
    assert outcome.node is None
    assert outcome.message == (
        "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, "
        "1 Preemption is not helpful for scheduling."
    )
    never = pod("never", "1", priority=100, preemptionPolicy="Never")
    assert preempt(never, state, diagnose(state, never)).message == (
        "preemption: not eligible due to preemptionPolicy=Never."
    )


def test_room_made_for_a_nominated_pod_is_kept_from_lower_priority_pods() -> None:
    state = cluster(node("n", "2"))
    vip = pod("vip", "2", priority=50)
    state.nominate(vip, "n")
    with pytest.raises(FitError, match="1 Insufficient cpu"):
        Framework(state).schedule(pod("low", "1", priority=1))
    assert Framework(state).schedule(pod("higher", "1", priority=60)).name == "n"
    assert Framework(state).schedule(vip).name == "n"  # the nominee itself is not counted twice
    state.unnominate(vip.key)
    assert Framework(state).schedule(pod("low", "1", priority=1)).name == "n"
