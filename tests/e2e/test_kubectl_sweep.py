"""kubectl commands a compatibility sweep found answered unlike kube-apiserver, on one ``pinnace up --sim-nodes 5``."""

from __future__ import annotations

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import get_json, table

pytestmark = pytest.mark.slow


def test_get_subresource_scale_prints_desired_and_available(sim_cluster: Cluster) -> None:
    c = sim_cluster
    c.kubectl("create", "deployment", "scaled", "--image=busybox", "--replicas=2")
    c.kubectl("rollout", "status", "deployment/scaled", "--timeout=60s", timeout=90)
    rows = table(c.kubectl("get", "deployment", "scaled", "--subresource=scale").stdout)
    assert rows[0] == ["NAME", "DESIRED", "AVAILABLE", "AGE"]
    assert rows[1][:3] == ["scaled", "2", "2"]
    assert get_json(c, "deployment", "scaled", "--subresource=scale")["kind"] == "Scale"
