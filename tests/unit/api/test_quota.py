"""Quota arithmetic: usage per kind, what a quota covers (scopes), and upstream's printing."""

from __future__ import annotations

from fractions import Fraction

from pinnace.api import quota


def test_pod_usage_counts_requests_limits_and_the_object() -> None:
    pod = {
        "spec": {
            "containers": [
                {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}, "limits": {"cpu": "500m"}}},
                {"resources": {"requests": {"cpu": "250m"}}},
            ],
            "initContainers": [{"resources": {"requests": {"cpu": "2"}}}],
        }
    }
    used = quota.usage("", "pods", pod)
    assert used["pods"] == used["count/pods"] == 1
    assert used["requests.cpu"] == used["cpu"] == 2
    assert used["requests.memory"] == 64 * 2**20
    assert used["limits.cpu"] == Fraction(1, 2)
    assert quota.usage("", "pods", {**pod, "status": {"phase": "Succeeded"}}) == {}


def test_service_claim_and_group_counts() -> None:
    svc = {"spec": {"type": "NodePort", "ports": [{"port": 80}, {"port": 443}]}}
    assert quota.usage("", "services", svc) == {
        "count/services": 1,
        "services": 1,
        "services.loadbalancers": 0,
        "services.nodeports": 2,
    }
    claim = {"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}}}}
    used = quota.usage("", "persistentvolumeclaims", claim)
    assert used["fast.storageclass.storage.k8s.io/requests.storage"] == 5 * 2**30
    assert quota.usage("apps", "deployments", {}) == {"count/deployments.apps": 1}


def test_covered_resources_and_scopes() -> None:
    hard = {"pods": "2", "requests.cpu": "1", "count/deployments.apps": "1", "secrets": "3"}
    assert quota.covered_resources("", "pods", hard) == ["pods", "requests.cpu"]
    assert quota.covered_resources("apps", "deployments", hard) == ["count/deployments.apps"]
    assert quota.covered_resources("", "secrets", hard) == ["secrets"]
    scoped = {"spec": {"hard": {"pods": "1"}, "scopes": ["BestEffort"]}}
    assert quota.matches(scoped, "", "pods", {"spec": {"containers": [{}]}})
    sized = {"spec": {"containers": [{"resources": {"requests": {"cpu": "1"}}}]}}
    assert not quota.matches(scoped, "", "pods", sized)
    by_class = {
        "spec": {
            "hard": {"pods": "1"},
            "scopeSelector": {
                "matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]
            },
        }
    }
    assert quota.matches(by_class, "", "pods", {"spec": {"priorityClassName": "high"}})
    assert not quota.matches(by_class, "", "pods", {"spec": {}})


def test_printing_and_explicit_requests() -> None:
    assert quota.pretty(
        quota.render({"requests.memory": Fraction(2**30), "pods": Fraction(1)}, {"requests.memory": "2Gi"})
    ) == ("pods=1,requests.memory=1Gi")
    pod = {"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}, {"name": "b"}]}}
    assert quota.missing_explicit(pod, ["requests.cpu", "limits.memory", "pods"]) == (
        "must specify limits.memory for: a,b; requests.cpu for: b"
    )
