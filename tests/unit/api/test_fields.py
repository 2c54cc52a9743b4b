"""Per-kind field selector labels and values, as upstream v1.32 supports them."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import errors
from pinnace.api.fields import check_field_selector, field_values, supported_fields, unsupported_field_message
from pinnace.api.selectors import parse_field_selector

POD: dict[str, Any] = {
    "metadata": {"name": "web", "namespace": "default"},
    "spec": {
        "nodeName": "n1",
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "serviceAccountName": "sa",
        "hostNetwork": True,
    },
    "status": {
        "phase": "Running",
        "podIP": "10.0.0.9",
        "podIPs": [{"ip": "10.0.0.1"}, {"ip": "fd00::1"}],
        "nominatedNodeName": "n2",
    },
}


def test_pod_values() -> None:
    assert field_values("", "Pod", POD) == {
        "metadata.name": "web",
        "metadata.namespace": "default",
        "spec.nodeName": "n1",
        "spec.host": "n1",
        "spec.restartPolicy": "Always",
        "spec.schedulerName": "default-scheduler",
        "spec.serviceAccountName": "sa",
        "spec.hostNetwork": "true",
        "status.phase": "Running",
        "status.podIP": "10.0.0.1",
        "status.podIPs": "",
        "status.nominatedNodeName": "n2",
    }
    assert set(field_values("", "Pod", POD)) == supported_fields("", "Pod")


def test_pod_defaults_render_like_go() -> None:
    values = field_values("", "Pod", {"metadata": {"name": "p"}})
    assert values["spec.hostNetwork"] == "false"
    assert values["spec.nodeName"] == "" and values["status.podIP"] == ""
    assert field_values("", "Pod", {"status": {"podIP": "1.2.3.4"}})["status.podIP"] == "1.2.3.4"


@pytest.mark.parametrize(
    ("group", "kind", "obj", "expected"),
    [
        (
            "",
            "Node",
            {"metadata": {"name": "n"}, "spec": {"unschedulable": True}},
            {"metadata.name": "n", "spec.unschedulable": "true"},
        ),
        ("", "Node", {"metadata": {"name": "n"}}, {"metadata.name": "n", "spec.unschedulable": "false"}),
        (
            "",
            "Namespace",
            {"metadata": {"name": "ns"}, "status": {"phase": "Active"}},
            {"metadata.name": "ns", "status.phase": "Active"},
        ),
        (
            "",
            "Secret",
            {"metadata": {"name": "s", "namespace": "d"}, "type": "Opaque"},
            {"metadata.name": "s", "metadata.namespace": "d", "type": "Opaque"},
        ),
        (
            "",
            "Service",
            {"metadata": {"name": "s", "namespace": "d"}, "spec": {"clusterIP": "None", "type": "ClusterIP"}},
            {
                "metadata.name": "s",
                "metadata.namespace": "d",
                "spec.clusterIP": "None",
                "spec.type": "ClusterIP",
            },
        ),
        (
            "",
            "ReplicationController",
            {"metadata": {"name": "r", "namespace": "d"}, "status": {"replicas": 3}},
            {"metadata.name": "r", "metadata.namespace": "d", "status.replicas": "3"},
        ),
        (
            "",
            "ReplicationController",
            {"metadata": {"name": "r", "namespace": "d"}},
            {"metadata.name": "r", "metadata.namespace": "d", "status.replicas": "0"},
        ),
        (
            "batch",
            "Job",
            {"metadata": {"name": "j", "namespace": "d"}, "status": {"succeeded": 2}},
            {"metadata.name": "j", "metadata.namespace": "d", "status.successful": "2"},
        ),
        (
            "certificates.k8s.io",
            "CertificateSigningRequest",
            {"metadata": {"name": "c"}, "spec": {"signerName": "kubernetes.io/kubelet-serving"}},
            {"metadata.name": "c", "spec.signerName": "kubernetes.io/kubelet-serving"},
        ),
        (
            "apps",
            "Deployment",
            {"metadata": {"name": "d", "namespace": "x"}},
            {"metadata.name": "d", "metadata.namespace": "x"},
        ),
        (
            "rbac.authorization.k8s.io",
            "ClusterRole",
            {"metadata": {"name": "c"}},
            {"metadata.name": "c", "metadata.namespace": ""},
        ),
    ],
)
def test_kind_values(group: str, kind: str, obj: dict[str, Any], expected: dict[str, str]) -> None:
    assert field_values(group, kind, obj) == expected
    assert supported_fields(group, kind) == frozenset(expected)


def test_core_event() -> None:
    event = {
        "metadata": {"name": "e", "namespace": "d"},
        "involvedObject": {
            "kind": "Pod",
            "name": "p",
            "namespace": "d",
            "uid": "u",
            "apiVersion": "v1",
            "resourceVersion": "7",
            "fieldPath": "spec.containers{a}",
        },
        "reason": "Started",
        "type": "Normal",
        "reportingComponent": "kubelet",
    }
    values = field_values("", "Event", event)
    assert values["involvedObject.kind"] == "Pod"
    assert values["involvedObject.fieldPath"] == "spec.containers{a}"
    assert values["source"] == "kubelet"  # falls back to reportingComponent
    assert values["reportingComponent"] == "kubelet"
    event["source"] = {"component": "scheduler"}
    assert field_values("", "Event", event)["source"] == "scheduler"
    assert set(values) == supported_fields("", "Event")


def test_events_k8s_io_event() -> None:
    event = {
        "metadata": {"name": "e", "namespace": "d"},
        "regarding": {"kind": "Node", "name": "n1"},
        "reason": "Ready",
        "type": "Normal",
        "reportingController": "kubelet",
    }
    values = field_values("events.k8s.io", "Event", event)
    assert values["regarding.kind"] == "Node" and values["regarding.name"] == "n1"
    assert values["reportingController"] == "kubelet" and values["source"] == "kubelet"
    assert "involvedObject.kind" not in supported_fields("events.k8s.io", "Event")
    assert set(values) == supported_fields("events.k8s.io", "Event")


@pytest.mark.parametrize(
    ("group", "kind", "label", "message"),
    [
        ("", "Pod", "status.hostIP", "field label not supported: status.hostIP"),
        ("", "Node", "metadata.namespace", "field label not supported: metadata.namespace"),
        (
            "apps",
            "ReplicaSet",
            "status.replicas",
            '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
        ("batch", "Job", "spec.x", 'field label "spec.x" not supported for Job'),
        (
            "example.com",
            "Widget",
            "spec.size",
            '"spec.size" is not a known field selector: only "metadata.name", "metadata.namespace"',
        ),
    ],
)
def test_unsupported(group: str, kind: str, label: str, message: str) -> None:
    assert label not in supported_fields(group, kind)
    assert unsupported_field_message(group, kind, label) == message
    with pytest.raises(errors.BadRequest) as exc:
        check_field_selector(group, kind, parse_field_selector(f"{label}=x,metadata.name=y"))
    assert exc.value.message == message


def test_selector_against_values() -> None:
    sel = parse_field_selector("spec.nodeName=n1,status.phase!=Failed,spec.hostNetwork=true")
    check_field_selector("", "Pod", sel)
    assert sel.matches(field_values("", "Pod", POD))
    assert parse_field_selector("spec.host=n1").matches(field_values("", "Pod", POD))
