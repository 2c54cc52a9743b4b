"""VolumeBinding's decisions on a ClusterState without a server: which nodes a pod's claims allow, and why not."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.scheduler.helpers import cluster, node, pod

from pinnace.api.volumes import ANN_BIND_COMPLETED, ANN_LOCAL_PATH_ROOT, ANN_SELECTED_NODE, LOCAL_PATH_PROVISIONER
from pinnace.scheduler.framework import FitError, Framework
from pinnace.scheduler.preemption import preempt
from pinnace.scheduler.state import ClusterState
from pinnace.scheduler.types import PodInfo
from pinnace.scheduler.volumes import PodVolumes, find_pod_volumes, pod_claims

Obj = dict[str, Any]

NOT_HELPFUL = "preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling."


def on_host(*names: str) -> Obj:
    expr = {"key": "kubernetes.io/hostname", "operator": "In", "values": list(names)}
    return {"required": {"nodeSelectorTerms": [{"matchExpressions": [expr]}]}}


def claim(name: str, *, sc: str | None = "wffc", size: str = "1Gi", volume: str = "", **extra: Any) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "uid": f"uid-{name}", "resourceVersion": "5"}
    meta.update(extra.pop("meta", {}))
    spec: Obj = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, **extra}
    if sc is not None:
        spec["storageClassName"] = sc
    if volume:
        spec["volumeName"] = volume
        meta.setdefault("annotations", {})[ANN_BIND_COMPLETED] = "yes"
    return {"metadata": meta, "spec": spec, "status": {"phase": "Bound" if volume else "Pending"}}


def pv(name: str, *, sc: str = "wffc", size: str = "1Gi", hosts: tuple[str, ...] = (), **extra: Any) -> Obj:
    spec: Obj = {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"], "storageClassName": sc, **extra}
    if hosts:
        spec["nodeAffinity"] = on_host(*hosts)
    phase = "Bound" if spec.get("claimRef") else "Available"
    return {"metadata": {"name": name, "resourceVersion": "7"}, "spec": spec, "status": {"phase": phase}}


def storage_class(name: str, mode: str, provisioner: str = "example.com/disk", **extra: Any) -> Obj:
    return {"metadata": {"name": name}, "provisioner": provisioner, "volumeBindingMode": mode, **extra}


def with_claims(name: str, *claims: str, ephemeral: str = "") -> PodInfo:
    volumes: list[Obj] = [{"name": f"v-{c}", "persistentVolumeClaim": {"claimName": c}} for c in claims]
    if ephemeral:
        volumes.append({"name": ephemeral, "ephemeral": {"volumeClaimTemplate": {"spec": {}}}})
    return pod(name, volumes=volumes)


def volumes_state(*nodes: Obj, objects: tuple[Obj, ...] = ()) -> ClusterState:
    state = cluster(*nodes)
    vs = state.volumes
    vs.classes["wffc"] = storage_class("wffc", "WaitForFirstConsumer", provisioner="kubernetes.io/no-provisioner")
    vs.classes["immediate"] = storage_class("immediate", "Immediate")
    for obj in objects:
        if "provisioner" in obj:
            vs.classes[obj["metadata"]["name"]] = obj
        elif "capacity" in obj["spec"]:
            vs.set_volume(obj)
        else:
            vs.set_claim(obj)
    return state


def schedule_error(state: ClusterState, p: PodInfo) -> str:
    with pytest.raises(FitError) as caught:
        Framework(state).schedule(p)
    diagnosis = caught.value.diagnosis
    diagnosis.post_filter_message = preempt(p, state, diagnosis).message
    return diagnosis.message()


def test_pods_without_claims_skip_the_plugin() -> None:
    p = pod("plain", volumes=[{"name": "scratch", "emptyDir": {}}])
    assert p.claims == ()
    assert Framework(volumes_state(node("a"))).schedule(p).name == "a"


def test_missing_claim_rules_out_every_node_and_preemption_does_not_help() -> None:
    state = volumes_state(node("a"), node("b"))
    message = schedule_error(state, with_claims("p", "data"))
    assert message == '0/2 nodes are available: persistentvolumeclaim "data" not found. ' + NOT_HELPFUL.format(n=2)


def test_missing_ephemeral_claim_waits_for_the_ephemeral_volume_controller() -> None:
    state = volumes_state(node("a"))
    p = with_claims("web", ephemeral="scratch")
    assert p.claims[0].name == "web-scratch" and p.claims[0].ephemeral
    assert schedule_error(state, p).startswith(
        "0/1 nodes are available: waiting for ephemeral volume controller to create the persistentvolumeclaim "
        '"web-scratch".'
    )


def test_ephemeral_claim_must_belong_to_the_pod() -> None:
    foreign = claim("web-scratch", meta={"ownerReferences": [{"uid": "someone-else", "controller": True}]})
    state = volumes_state(node("a", labels={}), objects=(foreign,))
    message = schedule_error(state, with_claims("web", ephemeral="scratch"))
    assert "PVC default/web-scratch was not created for pod default/web (pod is not owner)" in message
    owned = claim("web-scratch", meta={"ownerReferences": [{"uid": "uid-web", "controller": True}]})
    state.volumes.set_claim(owned)
    state.volumes.classes["wffc"]["provisioner"] = "example.com/disk"
    assert Framework(state).schedule(with_claims("web", ephemeral="scratch")).name == "a"


def test_claim_being_deleted() -> None:
    going = claim("data", meta={"deletionTimestamp": "2024-01-01T00:00:00Z"})
    message = schedule_error(volumes_state(node("a"), objects=(going,)), with_claims("p", "data"))
    assert message.startswith('0/1 nodes are available: persistentvolumeclaim "data" is being deleted.')


@pytest.mark.parametrize("sc", ["immediate", None, "no-such-class"])
def test_unbound_immediate_claims(sc: str | None) -> None:
    state = volumes_state(node("a"), objects=(claim("data", sc=sc),))
    assert schedule_error(state, with_claims("p", "data")) == (
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. " + NOT_HELPFUL.format(n=1)
    )


def test_prebound_claim_counts_as_immediate_until_the_binder_completes_it() -> None:
    prebound = claim("data", volume="pv-1")
    del prebound["metadata"]["annotations"][ANN_BIND_COMPLETED]
    state = volumes_state(node("a"), objects=(prebound, pv("pv-1")))
    assert "pod has unbound immediate PersistentVolumeClaims" in schedule_error(state, with_claims("p", "data"))


def test_bound_claim_goes_where_its_volume_is() -> None:
    state = volumes_state(
        node("a"), node("b"), node("c"), objects=(claim("data", volume="pv-b"), pv("pv-b", hosts=("b",)))
    )
    assert Framework(state).schedule(with_claims("p", "data")).name == "b"
    state.volumes.set_volume(pv("pv-b", hosts=("elsewhere",)))
    assert schedule_error(state, with_claims("p", "data")).startswith(
        "0/3 nodes are available: 3 node(s) had volume node affinity conflict."
    )


def test_bound_claim_whose_volume_is_gone() -> None:
    state = volumes_state(node("a"), objects=(claim("data", volume="pv-gone"),))
    assert schedule_error(state, with_claims("p", "data")).startswith(
        "0/1 nodes are available: 1 node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)."
    )


def test_waiting_claim_without_volume_or_provisioner() -> None:
    state = volumes_state(node("a"), node("b"), objects=(claim("data"),))
    assert schedule_error(state, with_claims("p", "data")) == (
        "0/2 nodes are available: 2 node(s) didn't find available persistent volumes to bind. "
        + NOT_HELPFUL.format(n=2)
    )


def test_waiting_claim_takes_the_smallest_fitting_volume_on_the_node() -> None:
    objects = (
        claim("data", size="2Gi"),
        pv("too-small", size="1Gi", hosts=("a",)),
        pv("big", size="10Gi", hosts=("b",)),
        pv("right", size="3Gi", hosts=("b",)),
        pv("other-class", sc="other", size="2Gi", hosts=("b",)),
        pv("taken", size="2Gi", hosts=("b",), claimRef={"namespace": "default", "name": "x", "uid": "u"}),
        pv("rwx-only", size="2Gi", hosts=("b",), accessModes=["ReadWriteMany"]),
    )
    state = volumes_state(node("a"), node("b"), objects=objects)
    p = with_claims("p", "data")
    chosen = Framework(state).schedule(p)
    assert chosen.name == "b"
    plan, reasons = find_pod_volumes(pod_claims(p, state.volumes), state.volumes, chosen)
    assert reasons == ()
    assert [(v["metadata"]["name"], c["metadata"]["name"]) for v, c in plan.bindings] == [("right", "data")]
    assert plan.provisions == []


def test_volume_prebound_to_the_claim_wins_but_only_on_its_node() -> None:
    ref = {"namespace": "default", "name": "data"}
    objects = (claim("data"), pv("mine", size="5Gi", hosts=("b",), claimRef=ref), pv("any", hosts=("a", "b")))
    state = volumes_state(node("a"), node("b"), objects=objects)
    claims = pod_claims(with_claims("p", "data"), state.volumes)
    plan, _ = find_pod_volumes(claims, state.volumes, state.nodes["b"])
    assert [v["metadata"]["name"] for v, _ in plan.bindings] == ["mine"]
    _, reasons = find_pod_volumes(claims, state.volumes, state.nodes["a"])
    assert reasons == ("node(s) didn't find available persistent volumes to bind",)


def test_provisioning_needs_a_provisioner_the_topology_and_for_local_path_a_published_root() -> None:
    zoned = storage_class(
        "zoned",
        "WaitForFirstConsumer",
        allowedTopologies=[{"matchLabelExpressions": [{"key": "zone", "values": ["z1"]}]}],
    )
    local = storage_class("standard", "WaitForFirstConsumer", provisioner=LOCAL_PATH_PROVISIONER)
    rooted = node("rooted", labels={"zone": "z2"})
    rooted["metadata"]["annotations"] = {ANN_LOCAL_PATH_ROOT: "/var/lib/pinnace/local-path"}
    objects = (zoned, local, claim("z", sc="zoned"), claim("l", sc="standard"))
    state = volumes_state(node("z1-node", labels={"zone": "z1"}), rooted, node("bare"), objects=objects)
    assert Framework(state).schedule(with_claims("p", "z")).name == "z1-node"
    assert Framework(state).schedule(with_claims("q", "l")).name == "rooted"
    assert schedule_error(state, with_claims("r", "z", "l")).startswith(
        "0/3 nodes are available: 3 node(s) didn't find available persistent volumes to bind."
    )


def test_a_selected_node_holds_the_claim_to_that_node() -> None:
    local = storage_class("standard", "WaitForFirstConsumer", provisioner="example.com/disk")
    chosen = claim("data", sc="standard", meta={"annotations": {ANN_SELECTED_NODE: "b"}})
    state = volumes_state(node("a"), node("b"), node("c"), objects=(local, chosen))
    assert Framework(state).schedule(with_claims("p", "data")).name == "b"


def test_bound_and_waiting_reasons_are_listed_in_upstreams_order() -> None:
    objects = (claim("bound", volume="pv-b"), pv("pv-b", hosts=("b",)), claim("waiting"))
    state = volumes_state(node("a"), objects=objects)
    claims = pod_claims(with_claims("p", "bound", "waiting"), state.volumes)
    _, reasons = find_pod_volumes(claims, state.volumes, state.nodes["a"])
    assert reasons == (
        "node(s) had volume node affinity conflict",
        "node(s) didn't find available persistent volumes to bind",
    )


def test_assumed_decisions_hide_a_chosen_volume_from_the_next_pod_until_reverted() -> None:
    objects = (claim("one"), claim("two"), pv("only", hosts=("a",)))
    state = volumes_state(node("a"), objects=objects)
    vs = state.volumes
    first = with_claims("p1", "one")
    plan, _ = find_pod_volumes(pod_claims(first, vs), vs, state.nodes["a"])
    assumed = vs.assume(plan, "a")
    ref = assumed.bindings[0][0]["spec"]["claimRef"]
    assert ref["name"] == "one" and ref["uid"] == "uid-one"
    assert schedule_error(state, with_claims("p2", "two")).startswith(
        "0/1 nodes are available: 1 node(s) didn't find available persistent volumes to bind."
    )
    vs.set_volume(pv("only", hosts=("a",)))  # an older version from the informer does not undo the assumption
    vs.revert(assumed)
    assert "claimRef" not in vs.volumes["only"]["spec"]
    assert Framework(state).schedule(with_claims("p2", "two")).name == "a"


def test_assumed_selected_node_on_claims_to_provision() -> None:
    local = storage_class("standard", "WaitForFirstConsumer")
    state = volumes_state(node("a"), objects=(local, claim("data", sc="standard")))
    vs = state.volumes
    p = with_claims("p", "data")
    plan, _ = find_pod_volumes(pod_claims(p, vs), vs, state.nodes["a"])
    assert plan == PodVolumes([], [vs.claims["default/data"]])
    assumed = vs.assume(plan, "a")
    assert vs.claims["default/data"]["metadata"]["annotations"][ANN_SELECTED_NODE] == "a"
    newer = claim("data", sc="standard", meta={"resourceVersion": "9"})
    vs.set_claim(newer)  # the informer's newer version ends the assumption
    vs.revert(assumed)
    assert vs.claims["default/data"] is newer
