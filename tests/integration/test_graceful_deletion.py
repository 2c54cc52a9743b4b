"""Graceful deletion of a pod through the official client: a later delete may only shorten the grace period."""

from __future__ import annotations

from datetime import timedelta

import kubernetes.client
import pytest
from kubernetes.client import CoreV1Api, V1DeleteOptions
from kubernetes.client.rest import ApiException


def test_a_second_delete_only_shortens_the_grace_period(k8s_client: kubernetes.client.ApiClient) -> None:
    api = CoreV1Api(k8s_client)
    spec = {"nodeName": "somewhere", "containers": [{"name": "c", "image": "i"}]}  # bound: a node must finish it
    api.create_namespaced_pod("default", {"metadata": {"name": "slow"}, "spec": spec})
    api.delete_namespaced_pod("slow", "default")  # the pod's own 30 s
    first = api.read_namespaced_pod("slow", "default").metadata
    assert first.deletion_grace_period_seconds == 30

    api.delete_namespaced_pod("slow", "default", body=V1DeleteOptions(grace_period_seconds=60))  # longer: no change
    again = api.read_namespaced_pod("slow", "default").metadata
    assert (again.deletion_grace_period_seconds, again.resource_version) == (30, first.resource_version)

    api.delete_namespaced_pod("slow", "default", grace_period_seconds=5)  # shorter: the deadline moves with it
    shorter = api.read_namespaced_pod("slow", "default").metadata
    assert shorter.deletion_grace_period_seconds == 5
    assert shorter.deletion_timestamp == first.deletion_timestamp - timedelta(seconds=25)

    api.delete_namespaced_pod("slow", "default", grace_period_seconds=0)  # now: gone
    with pytest.raises(ApiException) as err:
        api.read_namespaced_pod("slow", "default")
    assert err.value.status == 404
