"""Pinnace's own components under RBAC: every controller, the scheduler and the simulated nodes run as
system:kube-controller-manager with only what the bootstrap policy grants that user, and still do their jobs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tests.integration.tokenusers import authenticate_tokens

from pinnace.api import errors
from pinnace.apiserver.authz import enable_rbac
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import ALL_AUTHENTICATED, UserInfo
from pinnace.client.rest import RestClient
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers import DEFAULT_CONTROLLERS
from pinnace.storage.sqlite import SQLiteStore

Obj = dict[str, Any]
USERS = {
    "admin": UserInfo("kubernetes-admin", groups=("system:masters", ALL_AUTHENTICATED)),
    "kcm": UserInfo("system:kube-controller-manager", groups=(ALL_AUTHENTICATED,)),
}


@pytest.fixture
async def envs(tmp_path: Path) -> AsyncIterator[tuple[TestEnv, TestEnv]]:
    """(admin's env, the controller manager's env with every controller and two simulated nodes running)."""
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store)
    authenticate_tokens(server, USERS, tmp_path, anonymous=False)
    rbac = await enable_rbac(server)
    await server.listen("127.0.0.1", 0)
    admin_rest, kcm_rest = RestClient(server.url, token="admin"), RestClient(server.url, token="kcm")
    admin, kcm = TestEnv(server.url, admin_rest), TestEnv(server.url, kcm_rest)
    try:
        manager = await kcm.run_controllers(DEFAULT_CONTROLLERS)
        await kcm.run_sim_nodes(2, manager, heartbeat_interval=0.5)
        yield admin, kcm
    finally:
        await kcm.close()
        await admin.close()
        await admin_rest.close()
        await kcm_rest.close()
        rbac.stop()
        await server.stop()
        await store.close()


def _forbidden(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Log lines (with their tracebacks) that tell of a request RBAC refused."""
    return [line for line in caplog.text.splitlines() if "forbidden: User" in line]


async def test_controllers_scheduler_and_nodes_work_with_their_bootstrap_rights(
    envs: tuple[TestEnv, TestEnv], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    admin, _ = envs
    c = admin.client
    await c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    labels = {"app": "web"}
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }
    await c.create(deployment)
    await c.create(
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"selector": labels, "ports": [{"port": 80}]},
        }
    )

    async def running() -> bool:
        pods = await c.list("v1/Pod", "shop")
        return len(pods) == 2 and all(p.get("status", {}).get("phase") == "Running" for p in pods)

    await admin.eventually(running, timeout=20)

    async def sliced() -> bool:
        slices = await c.list("discovery.k8s.io/v1/EndpointSlice", "shop")
        return any(len(s.get("endpoints") or []) == 2 for s in slices)

    await admin.eventually(sliced, timeout=20)
    assert await c.get("v1/ServiceAccount", "default", "shop")  # the service-account controller's
    assert await c.get("coordination.k8s.io/v1/Lease", "sim-node-0", "kube-node-lease")

    # The resource-quota controller reports usage; the bootstrap signer signs cluster-info in kube-public.
    quota = {"metadata": {"name": "q", "namespace": "shop"}, "spec": {"hard": {"pods": "10"}}}
    await c.create({"apiVersion": "v1", "kind": "ResourceQuota", **quota})

    async def counted() -> bool:
        used = (await c.get("v1/ResourceQuota", "q", "shop")).get("status", {}).get("used") or {}
        return used.get("pods") == "2"

    await admin.eventually(counted, timeout=20)
    info = {"metadata": {"name": "cluster-info", "namespace": "kube-public"}, "data": {"kubeconfig": "apiVersion: v1"}}
    await c.create({"apiVersion": "v1", "kind": "ConfigMap", **info})
    token = {
        "metadata": {"name": "bootstrap-token-abcdef", "namespace": "kube-system"},
        "type": "bootstrap.kubernetes.io/token",
        "stringData": {"token-id": "abcdef", "token-secret": "0123456789abcdef", "usage-bootstrap-signing": "true"},
    }
    await c.create({"apiVersion": "v1", "kind": "Secret", **token})

    async def signed() -> bool:
        data = (await c.get("v1/ConfigMap", "cluster-info", "kube-public")).get("data") or {}
        return "jws-kubeconfig-abcdef" in data

    await admin.eventually(signed, timeout=20)

    # Deleting the namespace: the namespace controller and the garbage collector empty it.
    await c.delete(await c.get("v1/Namespace", "shop"))

    async def gone() -> bool:
        try:
            await c.get("v1/Namespace", "shop")
        except errors.NotFound:
            return True
        return False

    await admin.eventually(gone, timeout=30)
    assert _forbidden(caplog) == []


async def test_volume_binder_and_local_path_provisioner_work_with_their_bootstrap_rights(
    envs: tuple[TestEnv, TestEnv], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.WARNING)
    admin, _ = envs
    c = admin.client
    # a static volume bound to a claim of no class, and released when the claim goes
    volume = {"metadata": {"name": "static"}, "spec": {"capacity": {"storage": "1Gi"}, "hostPath": {"path": "/tmp/x"}}}
    volume["spec"]["accessModes"] = ["ReadWriteOnce"]
    await c.create({"apiVersion": "v1", "kind": "PersistentVolume", **volume})
    claim_spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    claim = {"metadata": {"name": "static", "namespace": "default"}, "spec": {**claim_spec, "storageClassName": ""}}
    await c.create({"apiVersion": "v1", "kind": "PersistentVolumeClaim", **claim})

    async def phase(kind: str, name: str, namespace: str | None, wanted: str) -> bool:
        return bool((await c.get(kind, name, namespace)).get("status", {}).get("phase") == wanted)

    await admin.eventually(lambda: phase("v1/PersistentVolumeClaim", "static", "default", "Bound"), timeout=20)
    await c.delete(await c.get("v1/PersistentVolumeClaim", "static", "default"))
    await admin.eventually(lambda: phase("v1/PersistentVolume", "static", None, "Released"), timeout=20)

    # a local-path volume made for a claim on a node that published its root, and deleted with the claim
    node = await c.get("v1/Node", "sim-node-0")
    node["metadata"].setdefault("annotations", {})["pinnace.dev/local-path-root"] = str(tmp_path)
    await c.update(node)
    storage_class = {"metadata": {"name": "local"}, "provisioner": "pinnace.dev/local-path"}
    await c.create({"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", **storage_class})
    annotations = {"volume.kubernetes.io/selected-node": "sim-node-0"}
    claim = {"metadata": {"name": "local", "namespace": "default", "annotations": annotations}}
    await c.create(
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            **claim,
            "spec": {**claim_spec, "storageClassName": "local"},
        }
    )
    await admin.eventually(lambda: phase("v1/PersistentVolumeClaim", "local", "default", "Bound"), timeout=20)
    name = (await c.get("v1/PersistentVolumeClaim", "local", "default"))["spec"]["volumeName"]
    await c.delete(await c.get("v1/PersistentVolumeClaim", "local", "default"))

    async def deleted() -> bool:
        try:
            await c.get("v1/PersistentVolume", name)
        except errors.NotFound:
            return True
        return False

    await admin.eventually(deleted, timeout=20)
    assert _forbidden(caplog) == []
