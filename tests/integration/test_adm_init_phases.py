"""init's phases through the API (upload-config, mark-control-plane, bootstrap-token) and upgrade's reads/writes,
against an in-process API server with Pinnace's REST client."""

from __future__ import annotations

import pytest

from pinnace.adm import init, kubeadmconfig, upgrade
from pinnace.adm.config import ClusterConfiguration, InitConfiguration
from pinnace.client.rest import ResourceRef, RestClient

NODES = ResourceRef("", "v1", "nodes", namespaced=False)
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
ROLEBINDINGS = ResourceRef("rbac.authorization.k8s.io", "v1", "rolebindings")


async def _node(client: RestClient, name: str, version: str = "v1.32.0") -> None:
    await client.create(NODES, {"metadata": {"name": name}, "spec": {"taints": [{"key": "a", "effect": "NoExecute"}]}})
    await client.patch(NODES, name, {"status": {"nodeInfo": {"kubeletVersion": version}}}, subresource="status")


async def test_upload_and_download_config(client: RestClient) -> None:
    with pytest.raises(init.InitError, match='configmaps "kubeadm-config" not found'):
        await kubeadmconfig.download_config(client)
    cluster = ClusterConfiguration(control_plane_endpoint="cp:6443", pod_subnet="10.244.0.0/16")
    await kubeadmconfig.upload_config(client, cluster)
    assert (await kubeadmconfig.download_config(client)).to_document() == cluster.to_document()
    cluster.kubernetes_version = "v1.31.2"
    await kubeadmconfig.upload_config(client, cluster)  # an update, not a conflict
    assert (await kubeadmconfig.download_config(client)).kubernetes_version == "v1.31.2"
    binding = await client.get(ROLEBINDINGS, "kubeadm:nodes-kubeadm-config", "kube-system")
    assert {s["name"] for s in binding["subjects"]} == {
        "system:bootstrappers:kubeadm:default-node-token",
        "system:nodes",
    }


async def test_mark_control_plane_keeps_taints_and_is_idempotent(client: RestClient) -> None:
    await _node(client, "cp-1")
    config = InitConfiguration(node_name="cp-1")
    for _ in range(2):
        node = await init.mark_control_plane(client, config, timeout=5)
    assert node["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] == ""
    assert node["spec"]["taints"] == [
        {"key": "a", "effect": "NoExecute"},
        {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"},
    ]
    with pytest.raises(init.InitError, match='timed out waiting for the Node "absent"'):
        await init.mark_control_plane(client, InitConfiguration(node_name="absent"), timeout=0.3)


async def test_bootstrap_tokens(client: RestClient) -> None:
    config = InitConfiguration(bootstrap_tokens=[{"token": "abcdef.0123456789abcdef", "ttl": "1h0m0s"}, {}])
    made = await init.bootstrap_tokens(client, config)
    assert made[0].token == "abcdef.0123456789abcdef" and len(made) == 2
    assert made[0].groups == ("system:bootstrappers:kubeadm:default-node-token",)
    assert await init.bootstrap_tokens(client, config)  # the same token again is kept, not an error
    assert await init.first_join_token(client) in {t.token for t in made}


async def test_upgrade_reads_and_records_versions(client: RestClient) -> None:
    await kubeadmconfig.upload_config(client, ClusterConfiguration(kubernetes_version="v1.31.4"))
    await _node(client, "cp-1", "v1.31.4")
    await init.mark_control_plane(client, InitConfiguration(node_name="cp-1"), timeout=5)
    await _node(client, "worker", "v1.30.1")
    cluster, versions = await upgrade.read_versions(client)
    assert versions.cluster == upgrade.Version(1, 31, 4)
    assert versions.kubelets == {"cp-1": upgrade.Version(1, 31, 4), "worker": upgrade.Version(1, 30, 1)}
    assert versions.control_plane_nodes == ("cp-1",)
    updated = await upgrade.record_version(client, cluster, upgrade.Version(1, 32, 0))
    assert (await kubeadmconfig.download_config(client)).to_document() == updated.to_document()
    assert updated.kubernetes_version == "v1.32.0"
