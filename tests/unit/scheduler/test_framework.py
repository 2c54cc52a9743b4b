"""Filtering, scoring and the FailedScheduling message, on a ClusterState without any server."""

from __future__ import annotations

import pytest
from tests.unit.scheduler.helpers import anti_affinity, cluster, node, pod

from pinnace.scheduler.framework import FitError, Framework, fit_message, num_feasible_nodes_to_find


def test_percentage_of_nodes_to_score_is_adaptive_with_a_floor_of_100() -> None:
    assert num_feasible_nodes_to_find(50) == 50
    assert num_feasible_nodes_to_find(100) == 100
    assert num_feasible_nodes_to_find(1000) == 420  # 50% - 1000/125 = 42%
    assert num_feasible_nodes_to_find(5000) == 500  # 10%
    assert num_feasible_nodes_to_find(100_000) == 5000  # at least 5%
    assert num_feasible_nodes_to_find(1000, 10) == 100
    assert num_feasible_nodes_to_find(1000, 50) == 500


def test_message_sorts_the_histogram_as_strings() -> None:
    reasons = ["Insufficient cpu"] * 3 + ["node(s) had untolerated taint {dedicated: gpu}"] * 2
    assert fit_message(5, reasons) == (
        "0/5 nodes are available: 2 node(s) had untolerated taint {dedicated: gpu}, 3 Insufficient cpu."
    )
    assert fit_message(12, ["a"] * 10 + ["b"] * 2) == "0/12 nodes are available: 10 a, 2 b."


def test_fit_error_reasons_per_node() -> None:
    taint = {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    state = cluster(
        node("small", "1"),
        node("tainted", "8", taints=[taint]),
        node("cordoned", "8", unschedulable=True),
        node("full", "8", pods=1),
        node("elsewhere", "8", labels={"zone": "b"}),
    )
    state.add_pod(pod("resident", None, node_name="full"))
    with pytest.raises(FitError) as caught:
        Framework(state).schedule(pod("p", "9"))
    assert str(caught.value) == (
        "0/5 nodes are available: 1 Too many pods, 1 node(s) had untolerated taint {dedicated: gpu}, "
        "1 node(s) were unschedulable, 3 Insufficient cpu."
    )


def test_full_node_says_too_many_pods_and_no_nodes_message() -> None:
    state = cluster(node("n", "8", pods=1))
    state.add_pod(pod("resident", None, node_name="n"))
    with pytest.raises(FitError, match=r"^0/1 nodes are available: 1 Too many pods\.$"):
        Framework(state).schedule(pod("p"))
    with pytest.raises(FitError, match=r"^no nodes available to schedule pods$"):
        Framework(cluster()).schedule(pod("p"))


def test_least_allocated_prefers_the_emptier_node() -> None:
    state = cluster(node("busy", "4"), node("idle", "4"))
    state.add_pod(pod("hog", "3", node_name="busy"))
    assert Framework(state, seed=1).schedule(pod("p", "500m")).name == "idle"


def test_assumed_pods_count_at_once() -> None:
    state = cluster(node("a", "1"), node("b", "1"))
    framework = Framework(state, seed=3)
    first = pod("first", "600m")
    chosen = framework.schedule(first)
    state.assume(first, chosen.name)
    second = framework.schedule(pod("second", "600m"))
    assert second.name != chosen.name
    state.forget(first.key)
    assert state.nodes[chosen.name].requested.get("cpu", 0) == 0


def test_preferred_node_affinity_and_soft_taints_steer_the_choice() -> None:
    soft = {"key": "spot", "value": "true", "effect": "PreferNoSchedule"}
    state = cluster(
        node("spot", labels={"disk": "ssd"}, taints=[soft]), node("ssd", labels={"disk": "ssd"}), node("hdd")
    )
    preferred = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "preference": {"matchExpressions": [{"key": "disk", "operator": "In", "values": ["ssd"]}]},
                }
            ]
        }
    }
    for i in range(5):
        assert Framework(state, seed=i).schedule(pod("p", affinity=preferred)).name == "ssd"


def test_required_anti_affinity_uses_domains_not_scans() -> None:
    state = cluster(*(node(f"n{i}", labels={"zone": f"z{i % 2}"}) for i in range(4)))
    framework = Framework(state, seed=0)
    placed = []
    for i in range(2):
        p = pod(f"zonal-{i}", labels={"app": "z"}, affinity=anti_affinity({"app": "z"}, "zone"))
        target = framework.schedule(p)
        state.assume(p, target.name)
        placed.append(target.labels["zone"])
    assert sorted(placed) == ["z0", "z1"]
    with pytest.raises(FitError, match="4 node\\(s\\) didn't match pod anti-affinity rules"):
        framework.schedule(pod("zonal-2", labels={"app": "z"}, affinity=anti_affinity({"app": "z"}, "zone")))
    state.remove_pod("default/zonal-0")
    assert framework.schedule(pod("zonal-3", labels={"app": "z"}, affinity=anti_affinity({"app": "z"}, "zone")))


def test_topology_spread_schedule_anyway_prefers_the_emptier_domain() -> None:
    state = cluster(node("a", labels={"zone": "z1"}), node("b", labels={"zone": "z2"}))
    state.add_pod(pod("x", node_name="a", labels={"app": "s"}))
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "s"}},
        }
    ]
    for i in range(5):
        assert (
            Framework(state, seed=i).schedule(pod("y", labels={"app": "s"}, topologySpreadConstraints=spread)).name
            == "b"
        )


def test_host_ports_conflict() -> None:
    state = cluster(node("a"), node("b"))
    ports = {"containers": [{"name": "c", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]}]}
    first = pod("web-1", **ports)
    state.assume(first, "a")
    assert Framework(state).schedule(pod("web-2", **ports)).name == "b"
