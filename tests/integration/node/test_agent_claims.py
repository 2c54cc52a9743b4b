"""A real node agent mounting PersistentVolumeClaims: the bound volume's host path, read-only when the claim says.

The test plays the PV binder: it creates the PersistentVolume and binds it to the claim (claimRef, volumeName,
phase Bound) itself, so no controller is needed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.integration.node.agentenv import eventually, running_agent

from pinnace.api.volumes import ANN_LOCAL_PATH_ROOT
from pinnace.client.rest import ResourceRef, RestClient

pytestmark = pytest.mark.timeout(90)

PODS = ResourceRef("", "v1", "pods")
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
CLAIMS = ResourceRef("", "v1", "persistentvolumeclaims")
VOLUMES = ResourceRef("", "v1", "persistentvolumes", namespaced=False)
EVENTS = ResourceRef("", "v1", "events")
NODE = "claims-node"
#: A local volume must say which node has it.
ON_NODE = {
    "nodeAffinity": {
        "required": {
            "nodeSelectorTerms": [
                {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [NODE]}]}
            ]
        }
    }
}

Obj = dict[str, Any]


async def make_claim(client: RestClient, name: str) -> Obj:
    body = {
        "metadata": {"name": name},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    return await client.create(CLAIMS, body, "default")


async def bind(client: RestClient, claim: Obj, volume: str, source: Obj) -> None:
    """Create the volume and bind it to the claim, as the binder would."""
    meta = claim["metadata"]
    ref = {"kind": "PersistentVolumeClaim", "namespace": "default", "name": meta["name"], "uid": meta["uid"]}
    spec = {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "claimRef": ref, **source}
    await client.create(VOLUMES, {"metadata": {"name": volume}, "spec": spec})
    current = await client.get(CLAIMS, meta["name"], "default")
    current["spec"]["volumeName"] = volume
    await client.update(CLAIMS, current)
    current = await client.get(CLAIMS, meta["name"], "default")
    current["status"] = {"phase": "Bound", "accessModes": ["ReadWriteOnce"], "capacity": {"storage": "1Gi"}}
    await client.update(CLAIMS, current, subresource="status")


def claim_pod(name: str, script: str, mount: Path, *, read_only: bool = False) -> Obj:
    source: Obj = {"claimName": "data", **({"readOnly": True} if read_only else {})}
    return {
        "metadata": {"name": name},
        "spec": {
            "nodeName": NODE,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "command": ["sh", "-c", script],
                    "volumeMounts": [{"name": "data", "mountPath": str(mount)}],
                }
            ],
            "volumes": [{"name": "data", "persistentVolumeClaim": source}],
        },
    }


async def failed_mounts(client: RestClient, pod: str) -> list[str]:
    listing = await client.list(EVENTS, "default")
    return [
        e["message"] for e in listing["items"] if e["involvedObject"]["name"] == pod and e["reason"] == "FailedMount"
    ]


async def running(client: RestClient, name: str) -> bool:
    pod = await client.get(PODS, name, "default")
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return bool(statuses) and "running" in statuses[0]["state"]


async def test_node_publishes_its_local_path_root(client: RestClient, tmp_path: Path) -> None:
    async with running_agent(client, tmp_path / "node", NODE) as agent:
        node = await client.get(NODES, NODE)
        root = node["metadata"]["annotations"][ANN_LOCAL_PATH_ROOT]
        assert Path(root).is_absolute() and Path(root).is_dir()
        assert Path(root) == (tmp_path / "node").resolve() / "local-path" == agent.local_path_root
    # Taking over an existing Node (an agent restart) keeps it published, even when someone removed it.
    node = await client.get(NODES, NODE)
    del node["metadata"]["annotations"][ANN_LOCAL_PATH_ROOT]
    await client.update(NODES, node)
    async with running_agent(client, tmp_path / "node", NODE):
        node = await client.get(NODES, NODE)
        assert node["metadata"]["annotations"][ANN_LOCAL_PATH_ROOT] == root


async def test_a_pod_waits_for_its_claim_then_mounts_the_host_path_volume(client: RestClient, tmp_path: Path) -> None:
    mount = tmp_path / "mnt" / "data"
    backing = tmp_path / "backing" / "pv-data"
    async with running_agent(client, tmp_path / "node", NODE):
        await client.create(PODS, claim_pod("writer", f"echo hello > {mount}/greeting; sleep 60", mount), "default")
        missing = await eventually(lambda: failed_mounts(client, "writer"))
        assert missing[0].startswith(
            "Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data], "
            "failed to process volumes=[data]: error processing PVC default/data: failed to fetch PVC from API server: "
        )
        assert 'persistentvolumeclaims "data" not found' in missing[0]

        claim = await make_claim(client, "data")

        async def not_bound() -> bool:
            return any(
                m.endswith("error processing PVC default/data: PVC is not bound")
                for m in await failed_mounts(client, "writer")
            )

        await eventually(not_bound)
        pod = await client.get(PODS, "writer", "default")
        assert pod["status"]["phase"] == "Pending"

        await bind(client, claim, "pv-data", {"hostPath": {"path": str(backing), "type": "DirectoryOrCreate"}})
        await eventually(lambda: running(client, "writer"))
        await eventually(lambda: _has(backing / "greeting", "hello\n"))


async def test_a_read_only_claim_is_mounted_read_only(client: RestClient, tmp_path: Path) -> None:
    mount = tmp_path / "mnt" / "ro"
    backing = tmp_path / "local-disk"
    backing.mkdir()
    (backing / "seed").write_text("seeded\n")
    claim = await make_claim(client, "data")
    await bind(client, claim, "pv-local", {"local": {"path": str(backing)}, **ON_NODE})
    check = f"if touch {mount}/new 2>/dev/null; then echo writable; else echo read-only; fi"
    script = f"cat {mount}/seed; {check}; sleep 60"
    async with running_agent(client, tmp_path / "node", NODE) as agent:
        await client.create(PODS, claim_pod("reader", script, mount, read_only=True), "default")
        await eventually(lambda: running(client, "reader"))
        pod = await client.get(PODS, "reader", "default")
        log = agent.sync.log_dir(pod) / "main" / "0.log"
        await eventually(lambda: _log_lines(log, 2))
        lines = [line.split(" ", 3)[3] for line in log.read_text().splitlines()]
        assert lines == ["seeded", "read-only"]
        assert not (backing / "new").exists()


async def test_an_unsupported_or_missing_volume_is_told(client: RestClient, tmp_path: Path) -> None:
    claim = await make_claim(client, "data")
    await bind(client, claim, "pv-gone", {"local": {"path": str(tmp_path / "nowhere")}, **ON_NODE})
    async with running_agent(client, tmp_path / "node", NODE):
        await client.create(PODS, claim_pod("lost", "sleep 60", tmp_path / "m"), "default")
        messages = await eventually(lambda: failed_mounts(client, "lost"))
        assert messages[0] == (
            'MountVolume.NewMounter initialization failed for volume "pv-gone" : '
            f'path "{tmp_path / "nowhere"}" does not exist'
        )


async def _has(path: Path, text: str) -> bool:
    return path.exists() and path.read_text() == text


async def _log_lines(path: Path, count: int) -> bool:
    return path.exists() and len(path.read_text().splitlines()) >= count
