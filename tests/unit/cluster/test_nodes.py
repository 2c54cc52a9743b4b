"""pinnace up's nodes: --nodes/--runtime and kind-like cluster files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.cluster.nodes import (
    CONTROL_PLANE_LABEL,
    LoopbackPlacer,
    NodeLauncher,
    NodePlacement,
    NodesConfig,
    NodeSpec,
    forbidden_labels,
    load_cluster_config,
)


def test_count_makes_worker_nodes() -> None:
    config = NodesConfig.count(3, "process")
    assert [n.name for n in config.nodes] == ["node-0", "node-1", "node-2"]
    assert config.arguments(None) == ["--nodes=3", "--runtime=process"]
    with pytest.raises(ValueError, match="unknown runtime"):
        NodesConfig.count(1, "docker")


def test_kind_like_config(tmp_path: Path) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(
        """
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
    count: 2
    labels: {tier: apps}
    taints: ["dedicated=apps:NoSchedule"]
  - role: worker
    name: edge
    runtime: oci
    taints: [{key: edge, effect: NoExecute}]
"""
    )
    config = load_cluster_config(path)
    nodes = {n.name: n for n in config.nodes}
    assert list(nodes) == ["control-plane", "node-0", "node-1", "edge"]
    cp = nodes["control-plane"]
    assert cp.labels == {"node-role.kubernetes.io/control-plane": ""}
    assert cp.taints == ({"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},)
    assert nodes["node-1"].labels == {"tier": "apps"}
    assert nodes["node-1"].taints == ({"key": "dedicated", "value": "apps", "effect": "NoSchedule"},)
    assert (nodes["edge"].runtime, nodes["edge"].taints) == ("oci", ({"key": "edge", "effect": "NoExecute"},))
    alone = tmp_path / "alone.yaml"
    alone.write_text("nodes: [{role: control-plane}]")
    assert load_cluster_config(alone).nodes[0].taints == ()  # no workers: the control-plane takes pods, as kind's
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [{role: master}]")
    with pytest.raises(ValueError, match="role must be"):
        load_cluster_config(bad)


async def test_loopback_placement() -> None:
    places = await LoopbackPlacer().place(NodesConfig.count(2).nodes)
    assert [p.address for p in places] == ["127.0.0.2", "127.0.0.3"]
    assert all(p.kubelet_port > 0 for p in places)


def test_labels_a_kubelet_may_not_set_on_itself_are_not_its_flags(tmp_path: Path) -> None:
    """NodeRestriction would refuse the agent's registration with them: the launcher sets them as the admin."""
    spec = NodeSpec("control-plane", "control-plane", labels={CONTROL_PLANE_LABEL: "", "tier": "apps"})
    launcher = NodeLauncher(NodesConfig((spec,)), tmp_path, "https://127.0.0.1:6443")
    options = launcher.options(spec, NodePlacement("127.0.0.2", 10250))
    assert options.node_labels == "tier=apps"
    assert forbidden_labels(dict(spec.labels)) == [CONTROL_PLANE_LABEL]
