"""The real node agent as ``system:node:<name>`` under the Node authorizer, RBAC and NodeRestriction: it
registers, heartbeats, runs a pod with the secret, configmap and service-account token its pod uses, and
reports status; the secret of a pod on another node stays out of its reach."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.node.agentenv import eventually, running_agent
from tests.integration.node.test_agent_claims import CLAIMS, bind, claim_pod, make_claim
from tests.integration.tokenusers import authenticate_tokens

from pinnace.api import errors
from pinnace.api.volumes import ANN_LOCAL_PATH_ROOT
from pinnace.apiserver.authz import enable_rbac
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import ALL_AUTHENTICATED, UserInfo
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.timeout(90)

PODS = ResourceRef("", "v1", "pods")
SECRETS = ResourceRef("", "v1", "secrets")
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
SERVICEACCOUNTS = ResourceRef("", "v1", "serviceaccounts")
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases")
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
NODE = "node-a"
USERS = {
    "admin": UserInfo("kubernetes-admin", groups=("system:masters", ALL_AUTHENTICATED)),
    "node": UserInfo(f"system:node:{NODE}", groups=("system:nodes", ALL_AUTHENTICATED)),
}
Obj = dict[str, Any]


@pytest.fixture
async def clients(tmp_path: Path) -> AsyncIterator[tuple[RestClient, RestClient]]:
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    # NodeRestriction as kubeadm enables it; ServiceAccount gives pods the token volume the agent requests tokens for.
    server = APIServer(store, admission_plugins=("NamespaceLifecycle", "ServiceAccount", "NodeRestriction"))
    authenticate_tokens(server, USERS, tmp_path, anonymous=False)
    rbac = await enable_rbac(server)
    await server.listen("127.0.0.1", 0)
    admin, node = RestClient(server.url, token="admin"), RestClient(server.url, token="node")
    try:
        yield admin, node
    finally:
        await admin.close()
        await node.close()
        rbac.stop()
        await server.stop()
        await store.close()


async def test_the_agent_runs_its_pods_with_only_node_rights(
    clients: tuple[RestClient, RestClient], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    admin, node = clients
    await admin.create(SERVICEACCOUNTS, {"metadata": {"name": "default"}}, namespace="default")
    await admin.create(SERVICEACCOUNTS, {"metadata": {"name": "app"}}, namespace="default")
    secret = {"metadata": {"name": "creds"}, "data": {"password": base64.b64encode(b"s3cret").decode()}}
    await admin.create(SECRETS, secret, namespace="default")
    await admin.create(SECRETS, {"metadata": {"name": "elsewhere"}, "data": {}}, namespace="default")
    await admin.create(CONFIGMAPS, {"metadata": {"name": "settings"}, "data": {"mode": "fast"}}, namespace="default")
    script = 'echo "$MODE $(cat /creds/password)"; sleep 60'
    pod = {
        "metadata": {"name": "app"},
        "spec": {
            "nodeName": NODE,
            "serviceAccountName": "app",
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": ["/bin/sh", "-c", script],
                    "env": [{"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "mode"}}}],
                    "volumeMounts": [{"name": "creds", "mountPath": "/creds"}],
                }
            ],
            "volumes": [{"name": "creds", "secret": {"secretName": "creds"}}],
        },
    }
    # Another node's pod uses "elsewhere": node-a may not read it.
    other = {
        "metadata": {"name": "other"},
        "spec": {
            "nodeName": "node-b",
            "containers": [{"name": "c", "image": "busybox"}],
            "volumes": [{"name": "s", "secret": {"secretName": "elsewhere"}}],
        },
    }
    await admin.create(PODS, other, namespace="default")
    async with running_agent(node, tmp_path / "node", NODE):
        await admin.create(PODS, pod, namespace="default")

        async def running() -> Obj | None:
            current = await admin.get(PODS, "app", "default")
            statuses = current.get("status", {}).get("containerStatuses") or []
            return current if statuses and "running" in statuses[0]["state"] else None

        await eventually(running)
        lease = await admin.get(LEASES, NODE, "kube-node-lease")
        assert lease["spec"]["holderIdentity"] == NODE
        with pytest.raises(errors.Forbidden) as refused:
            await node.get(SECRETS, "elsewhere", "default")
        assert "no relationship found between node 'node-a' and this object" in refused.value.message
        with pytest.raises(errors.Forbidden):
            await node.get(SECRETS, "creds", "kube-system")
        with pytest.raises(errors.Forbidden) as refused:  # NodeRestriction: no steering workloads to itself
            await node.patch(NODES, NODE, {"metadata": {"labels": {"node-role.kubernetes.io/control-plane": ""}}})
        assert refused.value.message == (
            'nodes "node-a" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/control-plane'
        )
        await admin.delete(PODS, "app", "default")  # the agent's own final delete passes NodeRestriction

        async def gone() -> bool:
            try:
                await admin.get(PODS, "app", "default")
            except errors.NotFound:
                return True
            return False

        await eventually(gone)
    refusals = [line for line in caplog.text.splitlines() if "forbidden: User" in line]
    assert refusals == []


async def test_node_publishes_its_local_path_root_and_mounts_its_pods_claims(
    clients: tuple[RestClient, RestClient], tmp_path: Path
) -> None:
    """NodeRestriction lets a node annotate itself; the Node authorizer lets it read its pods' claims and volumes."""
    admin, node = clients
    await admin.create(SERVICEACCOUNTS, {"metadata": {"name": "default"}}, namespace="default")
    claim = await make_claim(admin, "data")
    backing = tmp_path / "pv-data"
    await bind(admin, claim, "pv-data", {"hostPath": {"path": str(backing), "type": "DirectoryOrCreate"}})
    mount = tmp_path / "mnt"
    spec = claim_pod("writer", f"echo from-pod > {mount}/file; sleep 60", mount)
    spec["spec"]["nodeName"] = NODE
    async with running_agent(node, tmp_path / "node", NODE) as agent:
        registered = await admin.get(NODES, NODE)
        assert registered["metadata"]["annotations"][ANN_LOCAL_PATH_ROOT] == str(agent.local_path_root)
        await admin.create(PODS, spec, namespace="default")
        await eventually(lambda: _file_is(backing / "file", "from-pod\n"))
        with pytest.raises(errors.Forbidden):  # a claim no pod of the node uses stays out of reach
            await node.get(CLAIMS, "unrelated", "default")


async def _file_is(path: Path, text: str) -> bool:
    return path.exists() and path.read_text() == text
