"""Cascading deletion and the garbage collector with the real kubectl, on ``pinnace up --sim-nodes 5``."""

from __future__ import annotations

import json
from typing import Any

from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import eventually, get_json, names


def _owned(cluster: Cluster, kind: str, ns: str, app: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = get_json(cluster, kind, "-n", ns, "-l", f"app={app}")["items"]
    return items


def _deployment_with_pods(cluster: Cluster, ns: str, name: str) -> None:
    cluster.kubectl("create", "deployment", name, "-n", ns, "--image=nginx", "--replicas=2")
    eventually(lambda: len(_owned(cluster, "pods", ns, name)) == 2)


def test_background_foreground_and_orphan_cascades(sim_cluster: Cluster) -> None:
    c, ns = sim_cluster, "cascades"
    c.kubectl("create", "namespace", ns)
    for name in ("bg", "fg", "orphan"):
        _deployment_with_pods(c, ns, name)

    # Background: the deployment goes at once; its ReplicaSet and pods follow.
    c.kubectl("delete", "deployment", "bg", "-n", ns, "--cascade=background")
    eventually(lambda: not _owned(c, "replicasets", ns, "bg") and not _owned(c, "pods", ns, "bg"))

    # Foreground: kubectl waits until the dependents are gone and then the owner itself.
    c.kubectl("delete", "deployment", "fg", "-n", ns, "--cascade=foreground", "--timeout=60s", timeout=90)
    assert "fg" not in names(c, "deployments", "-n", ns)
    assert not _owned(c, "replicasets", ns, "fg") and not _owned(c, "pods", ns, "fg")

    # Orphan: the ReplicaSet and its pods stay, no longer owned by the deployment.
    c.kubectl("delete", "deployment", "orphan", "-n", ns, "--cascade=orphan", "--timeout=60s", timeout=90)
    eventually(lambda: "orphan" not in names(c, "deployments", "-n", ns))
    (rs,) = _owned(c, "replicasets", ns, "orphan")
    assert not rs["metadata"].get("ownerReferences")
    assert len(_owned(c, "pods", ns, "orphan")) == 2  # the ReplicaSet still keeps its pods


def test_dependents_of_a_missing_owner_are_collected(sim_cluster: Cluster) -> None:
    c, ns = sim_cluster, "orphans"
    c.kubectl("create", "namespace", ns)
    c.kubectl("create", "configmap", "owner", "-n", ns)
    owner = get_json(c, "configmap", "owner", "-n", ns)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner", "uid": owner["metadata"]["uid"]}
    gone = {"apiVersion": "v1", "kind": "ConfigMap", "name": "never-was", "uid": "0d2f1c8e-0000-4000-8000-000000000000"}
    for name, refs in (("kept", [ref]), ("dangling", [gone]), ("half", [ref, gone])):
        c.kubectl("apply", "-n", ns, "-f", "-", input=_configmap(name, refs))
    eventually(lambda: "dangling" not in names(c, "configmaps", "-n", ns))
    # An owner that is gone is dropped from the references of a dependent that has another.
    eventually(lambda: len(get_json(c, "configmap", "half", "-n", ns)["metadata"]["ownerReferences"]) == 1)
    assert "kept" in names(c, "configmaps", "-n", ns)
    c.kubectl("delete", "configmap", "owner", "-n", ns)
    eventually(lambda: not {"kept", "half"} & set(names(c, "configmaps", "-n", ns)))


def _configmap(name: str, refs: list[dict[str, str]]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "ownerReferences": refs}})
