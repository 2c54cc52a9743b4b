"""Which pods hold a claim back from deletion (the pvc-protection controller's ``pod_uses_claim``)."""

from __future__ import annotations

from typing import Any

from pinnace.controllers.storageprotection import pod_uses_claim

Obj = dict[str, Any]


def _pod(volume: Obj, *, node: str = "node-a", phase: str = "Running") -> Obj:
    spec: Obj = {"containers": [{"name": "c"}], "volumes": [{"name": "data", **volume}]}
    if node:
        spec["nodeName"] = node
    return {"metadata": {"name": "web", "uid": "pod-uid"}, "spec": spec, "status": {"phase": phase}}


def _claim(name: str, owner_uid: str | None = None) -> Obj:
    meta: Obj = {"name": name}
    if owner_uid:
        meta["ownerReferences"] = [{"kind": "Pod", "name": "web", "uid": owner_uid, "controller": True}]
    return {"metadata": meta}


def test_a_scheduled_pod_naming_the_claim_uses_it_whatever_its_phase() -> None:
    named = {"persistentVolumeClaim": {"claimName": "data"}}
    assert pod_uses_claim(_pod(named), _claim("data"))
    assert pod_uses_claim(_pod(named, phase="Succeeded"), _claim("data"))  # the pod object still exists
    assert not pod_uses_claim(_pod(named), _claim("other"))
    assert not pod_uses_claim(_pod(named, node=""), _claim("data"))  # not scheduled: the node refuses it anyway


def test_an_ephemeral_claim_is_used_by_its_own_running_pod_only() -> None:
    ephemeral = {"ephemeral": {"volumeClaimTemplate": {"spec": {}}}}
    assert pod_uses_claim(_pod(ephemeral), _claim("web-data", owner_uid="pod-uid"))
    assert not pod_uses_claim(_pod(ephemeral), _claim("web-data", owner_uid="someone-else"))
    assert not pod_uses_claim(_pod(ephemeral), _claim("web-data"))
    assert not pod_uses_claim(_pod(ephemeral, phase="Failed"), _claim("web-data", owner_uid="pod-uid"))
