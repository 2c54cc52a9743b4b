"""Pod requests (init containers, sidecars, overhead), tolerations, node selector terms."""

from __future__ import annotations

from pinnace.api.podutil import pod_requests
from pinnace.scheduler.types import node_selector_matches, tolerates


def test_requests_take_the_larger_of_containers_and_init_containers_plus_overhead() -> None:
    spec = {
        "containers": [
            {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
            {"name": "b", "resources": {"requests": {"cpu": "200m"}}},
        ],
        "initContainers": [{"name": "init", "resources": {"requests": {"cpu": "1", "memory": "16Mi"}}}],
        "overhead": {"cpu": "10m"},
    }
    assert pod_requests(spec) == {"cpu": 1010, "memory": 64 * 1024 * 1024}


def test_sidecars_add_up_with_the_containers_and_limits_default_requests() -> None:
    spec = {
        "containers": [{"name": "a", "resources": {"limits": {"cpu": "500m"}}}],
        "initContainers": [
            {"name": "sidecar", "restartPolicy": "Always", "resources": {"requests": {"cpu": "250m"}}},
            {"name": "init", "resources": {"requests": {"cpu": "300m"}}},
        ],
    }
    assert pod_requests(spec) == {"cpu": 750}


def test_tolerations_as_upstream() -> None:
    taint = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
    assert tolerates([{"key": "dedicated", "operator": "Equal", "value": "db"}], taint)
    assert tolerates([{"key": "dedicated", "operator": "Exists", "effect": "NoSchedule"}], taint)
    assert tolerates([{"operator": "Exists"}], taint)
    assert not tolerates([{"key": "dedicated", "value": "web"}], taint)
    assert not tolerates([{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}], taint)
    assert not tolerates([], taint)


def test_node_selector_terms_are_ored_and_expressions_anded() -> None:
    selector = {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {"key": "zone", "operator": "In", "values": ["a"]},
                    {"key": "gpu", "operator": "Exists"},
                ]
            },
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]},
        ]
    }
    assert node_selector_matches(selector, {"zone": "a", "gpu": "1"}, "n1")
    assert not node_selector_matches(selector, {"zone": "a"}, "n1")
    assert node_selector_matches(selector, {}, "special")
    gt = {"nodeSelectorTerms": [{"matchExpressions": [{"key": "cores", "operator": "Gt", "values": ["8"]}]}]}
    assert node_selector_matches(gt, {"cores": "16"}, "n") and not node_selector_matches(gt, {"cores": "4"}, "n")
    assert not node_selector_matches({"nodeSelectorTerms": [{}]}, {"zone": "a"}, "n")
