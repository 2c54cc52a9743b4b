"""NodeRestriction's rules, on the admission requests a node's writes become, with upstream's wording."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from pinnace.api import errors
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.noderestriction import NodeRestriction, forbidden_labels, node_identity
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.user import UserInfo
from pinnace.storage.sqlite import SQLiteStore

Obj = dict[str, Any]
NODE = UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated"))


@pytest.fixture
async def plugin(tmp_path: Path) -> AsyncIterator[tuple[NodeRestriction, APIServer]]:
    store = await SQLiteStore.open(tmp_path / "s.db", durable=False)
    server = APIServer(store, admission_plugins=())
    pods = server.registry.get("", "v1", "pods")
    nodes = server.registry.get("", "v1", "nodes")
    assert pods is not None and nodes is not None
    await server.rest.create(nodes, None, {"metadata": {"name": "n1"}})
    for name, node in (("mine", "n1"), ("theirs", "n2")):
        pod = {"metadata": {"name": name}, "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}]}}
        await server.rest.create(pods, "default", pod)
    try:
        yield NodeRestriction(server.rest), server
    finally:
        await store.close()


def request(
    server: APIServer,
    op: str,
    plural: str,
    *,
    name: str = "",
    namespace: str = "default",
    obj: Obj | None = None,
    old: Obj | None = None,
    subresource: str = "",
    group: str = "",
    user: UserInfo | None = NODE,
) -> AdmissionRequest:
    version = "v1"
    info = next(i for i in server.registry.all() if i.group == group and i.plural == plural and i.version == version)
    return AdmissionRequest(Operation(op), info, namespace, name, obj, old, user, subresource=subresource)


async def refused(plugin: NodeRestriction, req: AdmissionRequest) -> str:
    assert plugin.handles(req)
    with pytest.raises(errors.StatusError) as caught:
        await plugin.admit(req)
    return str(caught.value.status()["message"])


def test_only_node_users_are_restricted() -> None:
    assert node_identity(NODE) == ("n1", True)
    assert node_identity(UserInfo("system:node:n1")) == ("", False)  # not in system:nodes
    assert node_identity(UserInfo("alice", groups=("system:nodes",))) == ("", False)
    assert node_identity(UserInfo("system:node:", groups=("system:nodes",))) == ("", True)


async def test_a_node_user_without_a_name_is_refused(plugin: tuple[NodeRestriction, APIServer]) -> None:
    p, server = plugin
    nameless = UserInfo("system:node:", groups=("system:nodes",))
    req = request(server, "UPDATE", "nodes", name="n1", namespace="", obj={}, old={}, user=nameless)
    assert await refused(p, req) == 'nodes "n1" is forbidden: could not determine node from user "system:node:"'


def test_kubelet_labels() -> None:
    allowed = {
        "kubernetes.io/hostname": "n1",
        "node.kubernetes.io/instance-type": "big",
        "kubelet.kubernetes.io/x": "1",
        "foo.node.kubernetes.io/y": "2",
        "example.com/team": "a",
        "plain": "b",
    }
    assert forbidden_labels(allowed) == []
    bad = {"node-role.kubernetes.io/control-plane": "", "node-restriction.kubernetes.io/pool": "a", "x.k8s.io/y": ""}
    assert forbidden_labels({**allowed, **bad}) == sorted(bad)
    # On update only what changes counts: removing a forbidden label is a change too.
    assert forbidden_labels(allowed, {**allowed, "node-role.kubernetes.io/worker": ""}) == [
        "node-role.kubernetes.io/worker"
    ]
    assert forbidden_labels({**allowed, **bad}, {**allowed, **bad}) == []


async def test_nodes(plugin: tuple[NodeRestriction, APIServer]) -> None:
    p, server = plugin
    node: Obj = {"metadata": {"name": "n1", "labels": {"kubernetes.io/os": "linux"}}, "spec": {}}

    def req(op: str, obj: Obj | None, old: Obj | None = None, name: str = "n1") -> AdmissionRequest:
        return request(server, op, "nodes", name=name, namespace="", obj=obj, old=old)

    await p.admit(req("CREATE", node))
    other = {"metadata": {"name": "n2"}}
    assert await refused(p, req("CREATE", other, name="n2")) == (
        'nodes "n2" is forbidden: node "n1" is not allowed to modify node "n2"'
    )
    labelled = copy.deepcopy(node)
    labelled["metadata"]["labels"]["node-role.kubernetes.io/control-plane"] = ""
    assert await refused(p, req("CREATE", labelled)) == (
        'nodes "n1" is forbidden: node "n1" is not allowed to set the following labels: '
        "node-role.kubernetes.io/control-plane"
    )
    tainted = {**node, "spec": {"taints": [{"key": "a", "effect": "NoSchedule"}]}}
    await p.admit(req("CREATE", tainted))  # --register-with-taints
    assert await refused(p, req("UPDATE", node, tainted)) == (
        'nodes "n1" is forbidden: node "n1" is not allowed to modify taints'
    )
    assert await refused(p, req("UPDATE", labelled, node)) == (
        'nodes "n1" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/control-plane'
    )
    await p.admit(req("UPDATE", labelled, labelled))  # a status update leaves labels an admin set alone
    await p.admit(req("DELETE", None, node))
    assert "not allowed to modify node" in await refused(p, req("DELETE", None, other, name="n2"))


async def test_pods(plugin: tuple[NodeRestriction, APIServer]) -> None:
    p, server = plugin
    mine = await server.rest.get(server.registry.get("", "v1", "pods"), "default", "mine")  # type: ignore[arg-type]
    theirs = await server.rest.get(server.registry.get("", "v1", "pods"), "default", "theirs")  # type: ignore[arg-type]
    await p.admit(request(server, "DELETE", "pods", name="mine", old=mine))
    assert await refused(p, request(server, "DELETE", "pods", name="theirs", old=theirs)) == (
        'pods "theirs" is forbidden: node "n1" can only delete pods with spec.nodeName set to itself'
    )
    assert await refused(p, request(server, "UPDATE", "pods", name="mine", obj=mine, old=mine)) == (
        'pods "mine" is forbidden: unexpected operation "UPDATE", node "n1" can only create and delete mirror pods'
    )
    running = copy.deepcopy(mine)
    running["status"] = {"phase": "Running"}
    await p.admit(request(server, "UPDATE", "pods", name="mine", obj=running, old=mine, subresource="status"))
    relabelled = copy.deepcopy(running)
    relabelled["metadata"]["labels"] = {"a": "b"}
    status_req = request(server, "UPDATE", "pods", name="mine", obj=relabelled, old=mine, subresource="status")
    assert "cannot update labels through pod status" in await refused(p, status_req)
    their_status = request(server, "UPDATE", "pods", name="theirs", obj=theirs, old=theirs, subresource="status")
    assert "can only update pod status for pods with spec.nodeName set to itself" in await refused(p, their_status)
    eviction = {"metadata": {"name": "theirs"}}
    await p.admit(request(server, "CREATE", "pods", name="mine", obj=eviction, subresource="eviction"))
    assert await refused(p, request(server, "CREATE", "pods", name="theirs", obj=eviction, subresource="eviction")) == (
        'pods "theirs" is forbidden: node n1 can only evict pods with spec.nodeName set to itself'
    )
    assert "only 'status' and 'eviction' are allowed" in await refused(
        p, request(server, "CREATE", "pods", name="mine", obj={}, subresource="binding")
    )


async def test_mirror_pods(plugin: tuple[NodeRestriction, APIServer]) -> None:
    p, server = plugin
    node = await server.rest.get(server.registry.get("", "v1", "nodes"), None, "n1")  # type: ignore[arg-type]
    owner = {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": node["metadata"]["uid"], "controller": True}
    mirror: Obj = {
        "metadata": {
            "name": "static-n1",
            "annotations": {"kubernetes.io/config.mirror": "hash"},
            "ownerReferences": [owner],
        },
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "x"}]},
    }

    def create(pod: Obj) -> AdmissionRequest:
        return request(server, "CREATE", "pods", name=pod["metadata"]["name"], obj=pod)

    await p.admit(create(mirror))
    plain = copy.deepcopy(mirror)
    del plain["metadata"]["annotations"]
    assert await refused(p, create(plain)) == (
        'pods "static-n1" is forbidden: pod does not have "kubernetes.io/config.mirror" annotation, '
        'node "n1" can only create mirror pods'
    )
    elsewhere = copy.deepcopy(mirror)
    elsewhere["spec"]["nodeName"] = "n2"
    assert "can only create pods with spec.nodeName set to itself" in await refused(p, create(elsewhere))
    orphan = copy.deepcopy(mirror)
    del orphan["metadata"]["ownerReferences"]
    assert "can only create pods with an owner reference set to itself" in await refused(p, create(orphan))
    stale = copy.deepcopy(mirror)
    stale["metadata"]["ownerReferences"][0]["uid"] = "old"
    assert f"node n1 UID mismatch: expected old got {node['metadata']['uid']}" in await refused(p, create(stale))
    with_secret = copy.deepcopy(mirror)
    with_secret["spec"]["volumes"] = [{"name": "s", "secret": {"secretName": "creds"}}]
    assert 'node "n1" can not create pods that reference secrets' in await refused(p, create(with_secret))
    with_account = copy.deepcopy(mirror)
    with_account["spec"]["serviceAccountName"] = "default"
    assert "can not create pods that reference a service account" in await refused(p, create(with_account))


async def test_token_requests(plugin: tuple[NodeRestriction, APIServer]) -> None:
    p, server = plugin
    pods = server.registry.get("", "v1", "pods")
    assert pods is not None
    mine = await server.rest.get(pods, "default", "mine")
    theirs = await server.rest.get(pods, "default", "theirs")

    def token(ref: Obj | None) -> AdmissionRequest:
        body = {"spec": {"boundObjectRef": ref} if ref else {}}
        return request(server, "CREATE", "serviceaccounts", name="default", obj=body, subresource="token")

    def bound(pod: Obj, uid: str | None = None) -> Obj:
        meta = pod["metadata"]
        return {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"] if uid is None else uid}

    await p.admit(token(bound(mine)))
    assert await refused(p, token(None)) == (
        'serviceaccounts "default" is forbidden: node requested token not bound to a pod'
    )
    assert "without a uid" in await refused(p, token(bound(mine, "")))
    assert "does not match the UID in record" in await refused(p, token(bound(mine, "other")))
    assert "bound to a pod scheduled on a different node" in await refused(p, token(bound(theirs)))


async def test_leases_and_csinodes(plugin: tuple[NodeRestriction, APIServer]) -> None:
    p, server = plugin
    lease = {"metadata": {"name": "n1"}}
    group = "coordination.k8s.io"
    await p.admit(request(server, "CREATE", "leases", group=group, namespace="kube-node-lease", obj=lease))
    assert await refused(p, request(server, "CREATE", "leases", group=group, obj=lease)) == (
        'leases.coordination.k8s.io "n1" is forbidden: can only access leases in the "kube-node-lease" system namespace'
    )
    other = request(server, "UPDATE", "leases", group=group, namespace="kube-node-lease", name="n2", obj={}, old={})
    assert "can only access node lease with the same name as the requesting node" in await refused(p, other)
    csinode = request(
        server, "CREATE", "csinodes", group="storage.k8s.io", namespace="", obj={"metadata": {"name": "n2"}}
    )
    assert "can only access CSINode with the same name as the requesting node" in await refused(p, csinode)


async def test_pvc_status(plugin: tuple[NodeRestriction, APIServer]) -> None:
    p, server = plugin
    old: Obj = {"metadata": {"name": "data", "resourceVersion": "5"}, "spec": {"resources": {}}, "status": {}}
    grown = copy.deepcopy(old)
    grown["status"] = {"capacity": {"storage": "2Gi"}}
    grown["metadata"]["resourceVersion"] = ""
    await p.admit(
        request(server, "UPDATE", "persistentvolumeclaims", name="data", obj=grown, old=old, subresource="status")
    )
    relabelled = copy.deepcopy(grown)
    relabelled["metadata"]["labels"] = {"a": "b"}
    relabel = request(
        server, "UPDATE", "persistentvolumeclaims", name="data", obj=relabelled, old=old, subresource="status"
    )
    assert "is not allowed to update fields other than status.quantity and status.conditions" in await refused(
        p, relabel
    )
    spec_write = request(server, "UPDATE", "persistentvolumeclaims", name="data", obj=grown, old=old)
    assert await refused(p, spec_write) == 'persistentvolumeclaims "data" is forbidden: may only update PVC status'


async def test_others_pass_untouched(plugin: tuple[NodeRestriction, APIServer]) -> None:
    p, server = plugin
    admin = UserInfo("kubernetes-admin", groups=("kubeadm:cluster-admins",))
    req = request(server, "UPDATE", "nodes", name="n2", namespace="", obj={}, old={}, user=admin)
    assert not p.handles(req)
