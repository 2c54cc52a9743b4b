"""Table output: columns and cells as kube-apiserver's printers compute them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pinnace.api import errors
from pinnace.api.printers import PRINTERS
from pinnace.api.printers._common import format_label_selector, human_duration, quantity
from pinnace.api.table import (
    build_table,
    custom_resource_columns,
    custom_resource_row_cells,
    table_columns,
    table_row_cells,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


def ts(delta: timedelta) -> str:
    """An RFC3339 timestamp ``delta`` before NOW."""
    return (NOW - delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, created: timedelta = timedelta(hours=1), **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": "default",
        "uid": f"uid-{name}",
        "resourceVersion": "7",
        "creationTimestamp": ts(created),
        **extra,
    }


def cells(group: str, kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Cells keyed by column name, so assertions read like ``kubectl get -o wide``."""
    names = [c["name"] for c in table_columns(group, kind)]
    row = table_row_cells(group, kind, obj, NOW)
    assert len(row) == len(names)
    return dict(zip(names, row, strict=True))


# --- durations, quantities, selectors ---------------------------------------------


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(seconds=0), "0s"),
        (timedelta(seconds=-1.5), "0s"),
        (timedelta(seconds=-3), "<invalid>"),
        (timedelta(seconds=45), "45s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=5, seconds=3), "5m3s"),
        (timedelta(minutes=7), "7m"),
        (timedelta(minutes=42, seconds=59), "42m"),
        (timedelta(hours=3, minutes=10), "3h10m"),
        (timedelta(hours=5), "5h"),
        (timedelta(hours=30, minutes=59), "30h"),
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(days=4), "4d"),
        (timedelta(days=40, hours=5), "40d"),
        (timedelta(days=365 * 3 + 20), "3y20d"),
        (timedelta(days=365 * 9), "9y"),
    ],
)
def test_human_duration_matches_apimachinery(delta: timedelta, expected: str) -> None:
    us = int(delta / timedelta(microseconds=1))
    assert human_duration(us) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1Gi", "1Gi"),
        ("1024Mi", "1Gi"),
        ("1536Mi", "1536Mi"),
        ("1000000", "1M"),
        ("1500", "1500"),
        ("0.5", "500m"),
        ("100m", "100m"),
        ("512", "512"),
        ("1e3", "1e3"),
        (None, "0"),
        (2, "2"),
    ],
)
def test_quantity_is_canonical(raw: Any, expected: str) -> None:
    assert quantity(raw) == expected


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, "<none>"),
        ({}, "<none>"),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["web", "api"]},
                    {"key": "env", "operator": "Exists"},
                    {"key": "zz", "operator": "DoesNotExist"},
                ]
            },
            "env,tier in (api,web),!zz",
        ),
        ({"matchExpressions": [{"key": "x", "operator": "Bogus"}]}, "<error>"),
    ],
)
def test_label_selector_format(selector: Any, expected: str) -> None:
    assert format_label_selector(selector) == expected


# --- Pod ----------------------------------------------------------------------------


def container_status(
    name: str,
    *,
    ready: bool = True,
    restarts: int = 0,
    state: dict[str, Any] | None = None,
    last_finished: timedelta | None = None,
) -> dict[str, Any]:
    cs: dict[str, Any] = {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": state if state is not None else {"running": {"startedAt": ts(timedelta(1))}},
    }
    if last_finished is not None:
        cs["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": ts(last_finished)}}
    return cs


def pod(
    name: str,
    *,
    phase: str = "Running",
    containers: int = 1,
    statuses: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    **meta_extra: Any,
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta(name, timedelta(hours=3, minutes=10), **meta_extra),
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": f"c{k}", "image": "busybox"} for k in range(containers)],
            "initContainers": init or [],
        },
        "status": {
            "phase": phase,
            "podIP": "10.0.0.5",
            "podIPs": [{"ip": "10.0.0.5"}],
            "conditions": conditions or [],
            "containerStatuses": statuses or [],
            "initContainerStatuses": init_statuses or [],
        },
    }


WAIT_CRASH = {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}}

POD_CASES = [
    (
        "all ready",
        pod("web", containers=2, statuses=[container_status("c0"), container_status("c1")]),
        "2/2",
        "Running",
        "0",
    ),
    (
        "one of two ready",
        pod("half", containers=2, statuses=[container_status("c0"), container_status("c1", ready=False)]),
        "1/2",
        "Running",
        "0",
    ),
    (
        "crash loop with restart age",
        pod(
            "crash",
            statuses=[
                container_status("c0", ready=False, restarts=3, state=WAIT_CRASH, last_finished=timedelta(minutes=5))
            ],
        ),
        "0/1",
        "CrashLoopBackOff",
        "3 (5m ago)",
    ),
    (
        "pending image pull",
        pod(
            "pull",
            phase="Pending",
            statuses=[container_status("c0", ready=False, state={"waiting": {"reason": "ErrImagePull"}})],
        ),
        "0/1",
        "ErrImagePull",
        "0",
    ),
    (
        "completed",
        pod(
            "job-x",
            phase="Succeeded",
            statuses=[
                container_status("c0", ready=False, state={"terminated": {"exitCode": 0, "reason": "Completed"}})
            ],
        ),
        "0/1",
        "Completed",
        "0",
    ),
    (
        "exit code without reason",
        pod(
            "bad",
            phase="Failed",
            statuses=[container_status("c0", ready=False, state={"terminated": {"exitCode": 2}})],
        ),
        "0/1",
        "ExitCode:2",
        "0",
    ),
    (
        "signal without reason",
        pod(
            "sig",
            phase="Failed",
            statuses=[container_status("c0", ready=False, state={"terminated": {"exitCode": 137, "signal": 9}})],
        ),
        "0/1",
        "Signal:9",
        "0",
    ),
    (
        "completed but one still running, not ready",
        pod(
            "mixed",
            containers=2,
            statuses=[
                container_status("c0", ready=False, state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
                container_status("c1"),
            ],
        ),
        "1/2",
        "NotReady",
        "0",
    ),
    (
        "completed but one still running, ready",
        pod(
            "mixed2",
            containers=2,
            conditions=[{"type": "Ready", "status": "True"}],
            statuses=[
                container_status("c0", ready=False, state={"terminated": {"exitCode": 0, "reason": "Completed"}}),
                container_status("c1"),
            ],
        ),
        "1/2",
        "Running",
        "0",
    ),
    (
        "init waiting",
        pod(
            "init0",
            phase="Pending",
            init=[{"name": "i0"}, {"name": "i1"}],
            init_statuses=[
                {
                    "name": "i0",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"waiting": {"reason": "PodInitializing"}},
                },
                {"name": "i1", "ready": False, "restartCount": 0, "state": {"waiting": {}}},
            ],
        ),
        "0/1",
        "Init:0/2",
        "0",
    ),
    (
        "second init running",
        pod(
            "init1",
            phase="Pending",
            init=[{"name": "i0"}, {"name": "i1"}],
            init_statuses=[
                {
                    "name": "i0",
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "reason": "Completed"}},
                },
                {"name": "i1", "restartCount": 0, "state": {"running": {}}},
            ],
        ),
        "0/1",
        "Init:1/2",
        "0",
    ),
    (
        "init failed",
        pod(
            "initerr",
            phase="Pending",
            init=[{"name": "i0"}],
            init_statuses=[
                {
                    "name": "i0",
                    "restartCount": 2,
                    "state": {"terminated": {"exitCode": 1, "reason": "Error"}},
                    "lastState": {"terminated": {"exitCode": 1, "finishedAt": ts(timedelta(seconds=30))}},
                }
            ],
        ),
        "0/1",
        "Init:Error",
        "2 (30s ago)",
    ),
    (
        "init crash loop",
        pod(
            "initcrash",
            phase="Pending",
            init=[{"name": "i0"}],
            init_statuses=[{"name": "i0", "restartCount": 1, "state": WAIT_CRASH}],
        ),
        "0/1",
        "Init:CrashLoopBackOff",
        "1",
    ),
    (
        "sidecar counts as container",
        pod(
            "sidecar",
            init=[{"name": "proxy", "restartPolicy": "Always"}],
            conditions=[{"type": "Initialized", "status": "True"}],
            init_statuses=[
                {"name": "proxy", "ready": True, "started": True, "restartCount": 1, "state": {"running": {}}}
            ],
            statuses=[container_status("c0")],
        ),
        "2/2",
        "Running",
        "1",
    ),
    (
        "terminating",
        pod("going", statuses=[container_status("c0")], deletionTimestamp=ts(timedelta(0))),
        "1/1",
        "Terminating",
        "0",
    ),
    (
        "scheduling gated",
        pod(
            "gated",
            phase="Pending",
            conditions=[{"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}],
        ),
        "0/1",
        "SchedulingGated",
        "0",
    ),
]


@pytest.mark.parametrize(("case", "obj", "ready", "status", "restarts"), POD_CASES, ids=[c[0] for c in POD_CASES])
def test_pod_cells(case: str, obj: dict[str, Any], ready: str, status: str, restarts: str) -> None:
    row = cells("", "Pod", obj)
    assert (row["Ready"], row["Status"], row["Restarts"]) == (ready, status, restarts)
    assert row["Age"] == "3h10m"
    assert row["Name"] == obj["metadata"]["name"]


def test_pod_node_lost_is_unknown() -> None:
    obj = pod("lost", statuses=[container_status("c0")], deletionTimestamp=ts(timedelta(0)))
    obj["status"]["reason"] = "NodeLost"
    assert cells("", "Pod", obj)["Status"] == "Unknown"


def test_pod_wide_cells() -> None:
    obj = pod("wide", statuses=[container_status("c0")], conditions=[{"type": "example.com/gate", "status": "True"}])
    obj["spec"]["readinessGates"] = [
        {"conditionType": "example.com/gate"},
        {"conditionType": "example.com/other"},
    ]
    row = cells("", "Pod", obj)
    assert (row["IP"], row["Node"], row["Nominated Node"], row["Readiness Gates"]) == (
        "10.0.0.5",
        "node-a",
        "<none>",
        "1/2",
    )
    bare = {
        "metadata": {"name": "bare"},
        "spec": {"containers": [{"name": "c"}]},
        "status": {"phase": "Pending"},
    }
    row = cells("", "Pod", bare)
    assert (row["Ready"], row["Status"], row["Age"], row["IP"], row["Node"], row["Readiness Gates"]) == (
        "0/1",
        "Pending",
        "<unknown>",
        "<none>",
        "<none>",
        "<none>",
    )


def test_pod_columns_and_priorities() -> None:
    cols = table_columns("", "Pod")
    assert [(c["name"], c["type"], c["priority"]) for c in cols] == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Status", "string", 0),
        ("Restarts", "string", 0),
        ("Age", "string", 0),
        ("IP", "string", 1),
        ("Node", "string", 1),
        ("Nominated Node", "string", 1),
        ("Readiness Gates", "string", 1),
    ]
    assert cols[0]["format"] == "name" and cols[0]["description"].startswith("Name must be unique")
    cols[0]["name"] = "mutated"
    assert table_columns("", "Pod")[0]["name"] == "Name"


# --- Service, Endpoints, Node -------------------------------------------------------


def service(spec: dict[str, Any], status: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta("svc", timedelta(days=2, hours=3)),
        "spec": spec,
        "status": status or {},
    }


SERVICE_CASES = [
    (
        "cluster ip",
        {
            "type": "ClusterIP",
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            "selector": {"k8s-app": "kube-dns"},
        },
        {},
        "ClusterIP",
        "10.96.0.10",
        "<none>",
        "53/UDP,53/TCP",
        "k8s-app=kube-dns",
    ),
    (
        "headless defaulted type",
        {"clusterIP": "None", "ports": [{"port": 80}]},
        {},
        "ClusterIP",
        "None",
        "<none>",
        "80/TCP",
        "<none>",
    ),
    (
        "node port",
        {
            "type": "NodePort",
            "clusterIPs": ["10.96.1.1"],
            "externalIPs": ["1.2.3.4"],
            "ports": [
                {"port": 80, "nodePort": 30080, "protocol": "TCP"},
                {"port": 443, "nodePort": 30443, "protocol": "TCP"},
            ],
        },
        {},
        "NodePort",
        "10.96.1.1",
        "1.2.3.4",
        "80:30080/TCP,443:30443/TCP",
        "<none>",
    ),
    (
        "load balancer pending",
        {"type": "LoadBalancer", "clusterIPs": ["10.96.2.2"], "ports": [{"port": 443, "nodePort": 31000}]},
        {},
        "LoadBalancer",
        "10.96.2.2",
        "<pending>",
        "443:31000/TCP",
        "<none>",
    ),
    (
        "load balancer ready",
        {"type": "LoadBalancer", "clusterIPs": ["10.96.2.3"], "externalIPs": ["9.9.9.9"], "ports": []},
        {"loadBalancer": {"ingress": [{"ip": "5.6.7.8"}, {"hostname": "lb.example.com"}, {"ip": "5.6.7.8"}]}},
        "LoadBalancer",
        "10.96.2.3",
        "5.6.7.8,lb.example.com,9.9.9.9",
        "<none>",
        "<none>",
    ),
    (
        "external name",
        {"type": "ExternalName", "externalName": "db.example.com"},
        {},
        "ExternalName",
        "<none>",
        "db.example.com",
        "<none>",
        "<none>",
    ),
]


@pytest.mark.parametrize(
    ("case", "spec", "status", "type_", "cip", "eip", "ports", "selector"),
    SERVICE_CASES,
    ids=[c[0] for c in SERVICE_CASES],
)
def test_service_cells(
    case: str,
    spec: dict[str, Any],
    status: dict[str, Any],
    type_: str,
    cip: str,
    eip: str,
    ports: str,
    selector: str,
) -> None:
    row = cells("", "Service", service(spec, status))
    assert (row["Type"], row["Cluster-IP"], row["External-IP"], row["Port(s)"], row["Selector"]) == (
        type_,
        cip,
        eip,
        ports,
        selector,
    )
    assert row["Age"] == "2d3h"


def test_endpoints_cell_truncates_after_three() -> None:
    obj = {
        "metadata": meta("web"),
        "subsets": [{"addresses": [{"ip": "10.0.0.1"}, {"ip": "fd00::2"}], "ports": [{"port": 8080}, {"port": 9090}]}],
    }
    assert cells("", "Endpoints", obj)["Endpoints"] == "10.0.0.1:8080,[fd00::2]:8080,10.0.0.1:9090 + 1 more..."
    assert cells("", "Endpoints", {"metadata": meta("none")})["Endpoints"] == "<none>"


def node(name: str, labels: dict[str, str], ready: str | None, unschedulable: bool = False) -> dict[str, Any]:
    conditions = [{"type": "MemoryPressure", "status": "False"}]
    if ready is not None:
        conditions.append({"type": "Ready", "status": ready})
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": meta(name, timedelta(days=10), labels=labels),
        "spec": {"unschedulable": unschedulable},
        "status": {
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": "192.168.1.10"},
                {"type": "Hostname", "address": name},
            ],
            "nodeInfo": {
                "kubeletVersion": "v1.32.0",
                "osImage": "Debian GNU/Linux 12",
                "kernelVersion": "6.1.0",
                "containerRuntimeVersion": "",
            },
        },
    }


@pytest.mark.parametrize(
    ("obj", "status", "roles"),
    [
        (
            node(
                "cp",
                {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": ""},
                "True",
            ),
            "Ready",
            "control-plane,etcd",
        ),
        (
            node("w1", {"kubernetes.io/role": "worker"}, "True", unschedulable=True),
            "Ready,SchedulingDisabled",
            "worker",
        ),
        (node("w2", {}, "False"), "NotReady", "<none>"),
        (node("w3", {"node-role.kubernetes.io/": "x"}, None), "Unknown", "<none>"),
    ],
)
def test_node_cells(obj: dict[str, Any], status: str, roles: str) -> None:
    row = cells("", "Node", obj)
    assert (row["Status"], row["Roles"], row["Age"], row["Version"]) == (status, roles, "10d", "v1.32.0")
    assert (row["Internal-IP"], row["External-IP"], row["OS-Image"], row["Container-Runtime"]) == (
        "192.168.1.10",
        "<none>",
        "Debian GNU/Linux 12",
        "<unknown>",
    )


# --- other core kinds ----------------------------------------------------------------


def test_simple_core_kinds() -> None:
    cm = {"metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells("", "ConfigMap", cm) == {"Name": "cfg", "Data": 3, "Age": "60m"}
    secret = {"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}
    assert cells("", "Secret", secret)["Type"] == "kubernetes.io/tls"
    assert cells("", "Secret", {"metadata": meta("s"), "data": {}})["Type"] == "Opaque"
    assert cells("", "ServiceAccount", {"metadata": meta("default"), "secrets": [{"name": "x"}]})["Secrets"] == 1
    ns = {"metadata": meta("kube-system"), "status": {"phase": "Terminating"}}
    assert cells("", "Namespace", ns)["Status"] == "Terminating"
    quota = {
        "metadata": meta("q"),
        "status": {
            "hard": {"limits.cpu": "2", "requests.cpu": "1", "pods": "10", "requests.memory": "1024Mi"},
            "used": {"requests.cpu": "500m", "pods": "3"},
        },
    }
    row = cells("", "ResourceQuota", quota)
    assert row["Request"] == "pods: 3/10, requests.cpu: 500m/1, requests.memory: 0/1Gi"
    assert row["Limit"] == "limits.cpu: 0/2"
    cs = {
        "metadata": {"name": "etcd-0"},
        "conditions": [{"type": "Healthy", "status": "True", "message": "ok"}],
    }
    assert cells("", "ComponentStatus", cs) == {
        "Name": "etcd-0",
        "Status": "Healthy",
        "Message": "ok",
        "Error": "",
    }


def test_persistent_volumes() -> None:
    pv = {
        "metadata": meta("pv1", annotations={"volume.beta.kubernetes.io/storage-class": "legacy"}),
        "spec": {
            "capacity": {"storage": "1024Mi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Delete",
            "claimRef": {"namespace": "ns", "name": "data"},
            "storageClassName": "fast",
        },
        "status": {"phase": "Bound"},
    }
    row = cells("", "PersistentVolume", pv)
    assert [
        row[k]
        for k in (
            "Capacity",
            "Access Modes",
            "Reclaim Policy",
            "Status",
            "Claim",
            "StorageClass",
            "VolumeAttributesClass",
            "Reason",
            "VolumeMode",
        )
    ] == ["1Gi", "RWO,RWX", "Delete", "Bound", "ns/data", "legacy", "<unset>", "", "Filesystem"]
    pending = {
        "metadata": meta("data"),
        "spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "5Gi"}}},
        "status": {"phase": "Pending"},
    }
    row = cells("", "PersistentVolumeClaim", pending)
    assert (row["Status"], row["Volume"], row["Capacity"], row["Access Modes"], row["StorageClass"]) == (
        "Pending",
        "",
        "",
        "",
        "fast",
    )
    bound = {
        "metadata": meta("data2", deletionTimestamp=ts(timedelta(0))),
        "spec": {"volumeName": "pv1", "volumeMode": "Block"},
        "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOncePod"]},
    }
    row = cells("", "PersistentVolumeClaim", bound)
    assert (row["Status"], row["Capacity"], row["Access Modes"], row["VolumeMode"]) == (
        "Terminating",
        "5Gi",
        "RWOP",
        "Block",
    )


def test_core_event_cells() -> None:
    ev = {
        "metadata": meta("web.17a"),
        "involvedObject": {"kind": "Pod", "name": "web", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff",
        "message": "  Back-off restarting failed container\n",
        "type": "Warning",
        "source": {"component": "kubelet", "host": "node-a"},
        "count": 7,
        "firstTimestamp": ts(timedelta(hours=2)),
        "lastTimestamp": ts(timedelta(seconds=40)),
    }
    assert cells("", "Event", ev) == {
        "Last Seen": "40s",
        "Type": "Warning",
        "Reason": "BackOff",
        "Object": "pod/web",
        "Subobject": "spec.containers{app}",
        "Source": "kubelet, node-a",
        "Message": "Back-off restarting failed container",
        "First Seen": "120m",
        "Count": 7,
        "Name": "web.17a",
    }
    new_style = {
        "metadata": meta("n.1"),
        "involvedObject": {"kind": "Node"},
        "reason": "Starting",
        "eventTime": "2025-03-01T11:59:00.123456Z",
        "reportingController": "kubelet",
        "series": {"count": 4, "lastObservedTime": "2025-03-01T11:59:50.000000Z"},
    }
    row = cells("", "Event", new_style)
    assert (row["Last Seen"], row["First Seen"], row["Count"], row["Object"], row["Source"]) == (
        "10s",
        "59s",  # 59.88s truncates, as Go's int(d.Seconds()) does
        4,
        "node",
        "kubelet",
    )


def test_events_k8s_io_event_prints_like_core() -> None:
    ev = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": meta("x.1"),
        "regarding": {"kind": "Deployment", "name": "web"},
        "note": "Scaled up",
        "reason": "ScalingReplicaSet",
        "type": "Normal",
        "eventTime": ts(timedelta(minutes=3)),
        "reportingController": "deployment-controller",
        "reportingInstance": "cm-1",
    }
    row = cells("events.k8s.io", "Event", ev)
    assert (row["Last Seen"], row["Object"], row["Message"], row["Source"], row["Count"]) == (
        "3m",
        "deployment/web",
        "Scaled up",
        "deployment-controller, cm-1",
        1,
    )


# --- workloads ------------------------------------------------------------------------


def template(*containers: tuple[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": n, "image": i} for n, i in containers]},
    }


def test_deployment_and_friends() -> None:
    dep = {
        "metadata": meta("web"),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": template(("app", "nginx:1.27"), ("log", "fluent")),
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert cells("apps", "Deployment", dep) == {
        "Name": "web",
        "Ready": "2/3",
        "Up-to-date": 3,
        "Available": 2,
        "Age": "60m",
        "Containers": "app,log",
        "Images": "nginx:1.27,fluent",
        "Selector": "app=web",
    }
    rs = {
        "metadata": meta("web-5d"),
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": template(("app", "nginx"))},
        "status": {"replicas": 1},
    }
    row = cells("apps", "ReplicaSet", rs)
    assert (row["Desired"], row["Current"], row["Ready"], row["Selector"]) == (1, 1, 0, "app=web")
    sts = {
        "metadata": meta("db"),
        "spec": {"replicas": 2, "template": template(("pg", "postgres"))},
        "status": {"readyReplicas": 1},
    }
    assert cells("apps", "StatefulSet", sts)["Ready"] == "1/2"
    ds = {
        "metadata": meta("agent"),
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "spec": {
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "containers": [{"name": "a", "image": "agent"}],
                }
            },
        },
        "status": {
            "desiredNumberScheduled": 3,
            "currentNumberScheduled": 3,
            "numberReady": 2,
            "updatedNumberScheduled": 3,
            "numberAvailable": 2,
        },
    }
    row = cells("apps", "DaemonSet", ds)
    assert (row["Desired"], row["Ready"], row["Node Selector"]) == (3, 2, "kubernetes.io/os=linux")
    cr = {
        "metadata": meta(
            "db-7c",
            ownerReferences=[{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "controller": True}],
        ),
        "revision": 4,
    }
    assert cells("apps", "ControllerRevision", cr)["Controller"] == "statefulset.apps/db"
    assert cells("apps", "ControllerRevision", cr)["Revision"] == 4


def job(spec: dict[str, Any], status: dict[str, Any], **meta_extra: Any) -> dict[str, Any]:
    return {
        "metadata": meta("pi", **meta_extra),
        "spec": {"template": template(("pi", "perl")), **spec},
        "status": status,
    }


@pytest.mark.parametrize(
    ("obj", "status", "completions", "duration"),
    [
        (
            job(
                {"completions": 1},
                {
                    "succeeded": 1,
                    "startTime": ts(timedelta(minutes=50)),
                    "completionTime": ts(timedelta(minutes=49, seconds=15)),
                    "conditions": [{"type": "Complete", "status": "True"}],
                },
            ),
            "Complete",
            "1/1",
            "45s",
        ),
        (
            job({"parallelism": 3}, {"active": 3, "startTime": ts(timedelta(minutes=4, seconds=2))}),
            "Running",
            "0/1 of 3",
            "4m2s",
        ),
        (job({}, {}), "Running", "0/1", ""),
        (
            job({"completions": 5}, {"failed": 2, "conditions": [{"type": "Failed", "status": "True"}]}),
            "Failed",
            "0/5",
            "",
        ),
        (
            job({"completions": 2}, {"conditions": [{"type": "Suspended", "status": "True"}]}),
            "Suspended",
            "0/2",
            "",
        ),
        (job({"completions": 2}, {}, deletionTimestamp=ts(timedelta(0))), "Terminating", "0/2", ""),
    ],
)
def test_job_cells(obj: dict[str, Any], status: str, completions: str, duration: str) -> None:
    row = cells("batch", "Job", obj)
    assert (row["Status"], row["Completions"], row["Duration"]) == (status, completions, duration)


def test_cronjob_hpa_pdb() -> None:
    cj = {
        "metadata": meta("nightly"),
        "spec": {
            "schedule": "0 2 * * *",
            "jobTemplate": {"spec": {"template": template(("run", "busybox"))}},
        },
        "status": {"active": [{"name": "a"}], "lastScheduleTime": ts(timedelta(hours=9, minutes=59))},
    }
    row = cells("batch", "CronJob", cj)
    assert (row["Schedule"], row["Timezone"], row["Suspend"], row["Active"], row["Last Schedule"]) == (
        "0 2 * * *",
        "<none>",
        "False",
        1,
        "9h",
    )
    hpa = {
        "apiVersion": "autoscaling/v2",
        "metadata": meta("web"),
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web"},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                },
                {"type": "Pods", "pods": {"target": {"averageValue": "1000m"}}},
                {"type": "Resource", "resource": {"name": "memory", "target": {"averageValue": "1Gi"}}},
            ],
        },
        "status": {
            "currentReplicas": 3,
            "currentMetrics": [
                {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 35}}}
            ],
        },
    }
    row = cells("autoscaling", "HorizontalPodAutoscaler", hpa)
    assert row["Targets"] == "cpu: 35%/70%, <unknown>/1 + 1 more..."
    assert (row["Reference"], row["MinPods"], row["MaxPods"], row["Replicas"]) == (
        "Deployment/web",
        "2",
        10,
        3,
    )
    v1 = {
        "apiVersion": "autoscaling/v1",
        "metadata": meta("old"),
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "old"},
            "maxReplicas": 4,
            "targetCPUUtilizationPercentage": 50,
        },
        "status": {"currentCPUUtilizationPercentage": 12},
    }
    assert cells("autoscaling", "HorizontalPodAutoscaler", v1)["Targets"] == "cpu: 12%/50%"
    pdb = {"metadata": meta("web"), "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}}
    row = cells("policy", "PodDisruptionBudget", pdb)
    assert (row["Min Available"], row["Max Unavailable"], row["Allowed Disruptions"]) == ("50%", "N/A", 1)


# --- cluster-level kinds -----------------------------------------------------------------


def test_cluster_kinds() -> None:
    ing = {
        "metadata": meta("web"),
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["a.example"]}],
            "rules": [{"host": "a.example"}, {"host": "b.example"}, {}],
        },
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.9"}]}},
    }
    row = cells("networking.k8s.io", "Ingress", ing)
    assert (row["Class"], row["Hosts"], row["Address"], row["Ports"]) == (
        "nginx",
        "a.example,b.example",
        "203.0.113.9",
        "80, 443",
    )
    assert (
        cells("networking.k8s.io", "NetworkPolicy", {"metadata": meta("deny"), "spec": {"podSelector": {}}})[
            "Pod-Selector"
        ]
        == "<none>"
    )
    lease = {"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "cp-1_abc"}}
    assert cells("coordination.k8s.io", "Lease", lease)["Holder"] == "cp-1_abc"
    slice_ = {
        "metadata": meta("web-abc"),
        "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "metrics"}],
        "endpoints": [{"addresses": [f"10.0.0.{n}"]} for n in range(5)],
    }
    row = cells("discovery.k8s.io", "EndpointSlice", slice_)
    assert (row["Ports"], row["Endpoints"]) == ("80,metrics", "10.0.0.0,10.0.0.1,10.0.0.2 + 2 more...")
    rb = {
        "metadata": meta("admins"),
        "roleRef": {"kind": "ClusterRole", "name": "admin"},
        "subjects": [
            {"kind": "User", "name": "alice"},
            {"kind": "Group", "name": "ops"},
            {"kind": "ServiceAccount", "namespace": "ci", "name": "bot"},
            {"kind": "User", "name": "bob"},
        ],
    }
    row = cells("rbac.authorization.k8s.io", "RoleBinding", rb)
    assert (row["Role"], row["Users"], row["Groups"], row["ServiceAccounts"]) == (
        "ClusterRole/admin",
        "alice, bob",
        "ops",
        "ci/bot",
    )
    sc = {
        "metadata": meta("standard", annotations={"storageclass.kubernetes.io/is-default-class": "true"}),
        "provisioner": "rancher.io/local-path",
        "volumeBindingMode": "WaitForFirstConsumer",
    }
    row = cells("storage.k8s.io", "StorageClass", sc)
    assert (row["Name"], row["ReclaimPolicy"], row["VolumeBindingMode"], row["AllowVolumeExpansion"]) == (
        "standard (default)",
        "Delete",
        "WaitForFirstConsumer",
        False,
    )
    csr = {
        "metadata": meta("csr-1"),
        "spec": {
            "signerName": "kubernetes.io/kube-apiserver-client",
            "username": "alice",
            "expirationSeconds": 86400,
        },
        "status": {"conditions": [{"type": "Approved", "status": "True"}], "certificate": "LS0t"},
    }
    row = cells("certificates.k8s.io", "CertificateSigningRequest", csr)
    assert (row["Requestor"], row["RequestedDuration"], row["Condition"]) == (
        "alice",
        "24h",
        "Approved,Issued",
    )
    api = {
        "metadata": meta("v1beta1.metrics.k8s.io"),
        "spec": {"service": {"namespace": "kube-system", "name": "metrics-server"}},
        "status": {"conditions": [{"type": "Available", "status": "False", "reason": "MissingEndpoints"}]},
    }
    row = cells("apiregistration.k8s.io", "APIService", api)
    assert (row["Service"], row["Available"]) == ("kube-system/metrics-server", "False (MissingEndpoints)")
    assert cells("apiregistration.k8s.io", "APIService", {"metadata": meta("v1.")})["Service"] == "Local"
    plc = {
        "metadata": meta("workload-low"),
        "spec": {
            "type": "Limited",
            "limited": {
                "nominalConcurrencyShares": 100,
                "limitResponse": {"type": "Queue", "queuing": {"queues": 128}},
            },
        },
    }
    row = cells("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration", plc)
    assert (row["NominalConcurrencyShares"], row["Queues"], row["HandSize"], row["QueueLengthLimit"]) == (
        100,
        128,
        8,
        50,
    )
    pc = {"metadata": meta("high"), "value": 1000000, "globalDefault": True}
    assert cells("scheduling.k8s.io", "PriorityClass", pc)["PreemptionPolicy"] == "PreemptLowerPriority"
    mwc = {"metadata": meta("hooks"), "webhooks": [{"name": "a"}, {"name": "b"}]}
    assert cells("admissionregistration.k8s.io", "MutatingWebhookConfiguration", mwc)["Webhooks"] == 2
    rc = {"metadata": meta("gvisor"), "handler": "runsc"}
    assert cells("node.k8s.io", "RuntimeClass", rc)["Handler"] == "runsc"


# --- default convertor ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("group", "kind"),
    [
        ("rbac.authorization.k8s.io", "Role"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("", "LimitRange"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("example.com", "Unknown"),
    ],
)
def test_default_convertor_prints_name_and_created_at(group: str, kind: str) -> None:
    cols = table_columns(group, kind)
    assert [(c["name"], c["type"], c["format"]) for c in cols] == [
        ("Name", "string", "name"),
        ("Created At", "date", ""),
    ]
    obj = {"metadata": {"name": "view", "creationTimestamp": "2024-05-06T07:08:09+02:00"}}
    assert table_row_cells(group, kind, obj, NOW) == ["view", "2024-05-06T05:08:09Z"]
    assert table_row_cells(group, kind, {"metadata": {"name": "x"}}, NOW) == ["x", "0001-01-01T00:00:00Z"]


# --- custom resources ------------------------------------------------------------------

PRINTER_COLUMNS = [
    {"name": "Ready", "type": "string", "jsonPath": '.status.conditions[?(@.type=="Ready")].status'},
    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
    {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
    {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"},
    {"name": "Started", "type": "date", "jsonPath": ".status.startedAt", "description": "When it began"},
    {"name": "Tags", "type": "string", "jsonPath": ".spec.tags"},
    {"name": "First", "type": "string", "jsonPath": ".spec.items[0].name"},
]


def test_custom_resource_columns() -> None:
    cols = custom_resource_columns(PRINTER_COLUMNS)
    assert [(c["name"], c["type"], c["priority"]) for c in cols] == [
        ("Name", "string", 0),
        ("Ready", "string", 0),
        ("Replicas", "integer", 0),
        ("Ratio", "number", 1),
        ("Paused", "boolean", 0),
        ("Started", "date", 0),
        ("Tags", "string", 0),
        ("First", "string", 0),
    ]
    assert cols[1]["description"] == (
        'Custom resource definition column (in JSONPath format): .status.conditions[?(@.type=="Ready")].status'
    )
    assert cols[5]["description"] == "When it began"
    default = custom_resource_columns([])
    assert [(c["name"], c["type"]) for c in default] == [("Name", "string"), ("Age", "date")]
    assert custom_resource_row_cells([], {"metadata": meta("x", timedelta(minutes=5, seconds=3))}, NOW) == [
        "x",
        "5m3s",
    ]


def test_custom_resource_cells() -> None:
    obj = {
        "metadata": meta("db"),
        "spec": {
            "replicas": 3,
            "ratio": 2,
            "paused": False,
            "tags": {"b": 1, "a": [1]},
            "items": [{"name": "one"}, {"name": "two"}],
        },
        "status": {
            "startedAt": ts(timedelta(days=2, hours=3)),
            "conditions": [{"type": "Synced", "status": "False"}, {"type": "Ready", "status": "True"}],
        },
    }
    assert custom_resource_row_cells(PRINTER_COLUMNS, obj, NOW) == [
        "db",
        "True",
        3,
        2.0,
        False,
        "2d3h",
        '{"a":[1],"b":1}',
        "one",
    ]
    sparse = {
        "metadata": meta("empty"),
        "spec": {"replicas": "three", "ratio": 1.5, "paused": "no"},
        "status": {"startedAt": "yesterday"},
    }
    assert custom_resource_row_cells(PRINTER_COLUMNS, sparse, NOW) == [
        "empty",
        None,
        None,
        1.5,
        None,
        "<invalid>",
        None,
        None,
    ]


def test_custom_resource_invalid_path_truncates_columns() -> None:
    cols = [
        {"name": "A", "type": "string", "jsonPath": ".spec.a"},
        {"name": "B", "type": "string", "jsonPath": "spec.b"},
        {"name": "C", "type": "string", "jsonPath": ".spec.c"},
    ]
    assert [c["name"] for c in custom_resource_columns(cols)] == ["Name", "A"]


# --- whole tables ----------------------------------------------------------------------


def test_build_table_include_object_modes() -> None:
    pods = [
        pod("a", statuses=[container_status("c0")]),
        pod(
            "b",
            phase="Succeeded",
            statuses=[
                container_status("c0", ready=False, state={"terminated": {"exitCode": 0, "reason": "Completed"}})
            ],
        ),
    ]
    table = build_table(
        "", "Pod", pods, list_meta={"resourceVersion": "42", "continue": "", "remainingItemCount": 3}, now=NOW
    )
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42", "remainingItemCount": 3}
    assert [c["name"] for c in table["columnDefinitions"]][:5] == [
        "Name",
        "Ready",
        "Status",
        "Restarts",
        "Age",
    ]
    first, second = table["rows"]
    assert first["cells"][:3] == ["a", "1/1", "Running"] and "conditions" not in first
    assert first["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": pods[0]["metadata"],
    }
    assert second["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]
    full = build_table("", "Pod", pods, include_object="Object", list_meta=None, now=NOW)
    assert full["rows"][1]["object"] is pods[1] and full["metadata"] == {}
    bare = build_table("", "Pod", pods, include_object="None", list_meta=None, now=NOW, no_headers=True)
    assert "object" not in bare["rows"][0] and "columnDefinitions" not in bare
    with pytest.raises(errors.BadRequest, match='unrecognized includeObject value: "Everything"'):
        build_table("", "Pod", pods, include_object="Everything", list_meta=None)
    assert build_table("", "Pod", [], include_object="Everything", list_meta=None)["rows"] == []


def test_build_table_for_custom_resources_and_flowschema_order() -> None:
    crs = [{"metadata": meta("x"), "spec": {"replicas": 1}}]
    table = build_table("example.com", "Widget", crs, list_meta=None, now=NOW, printer_columns=PRINTER_COLUMNS)
    assert table["rows"][0]["cells"][:3] == ["x", None, 1]
    schemas = [
        {"metadata": meta(n), "spec": {"matchingPrecedence": p, "priorityLevelConfiguration": {"name": "pl"}}}
        for n, p in [("zeta", 100), ("catch-all", 10000), ("alpha", 100), ("exempt", 1)]
    ]
    ordered = build_table("flowcontrol.apiserver.k8s.io", "FlowSchema", schemas, list_meta=None, now=NOW)
    assert [r["cells"][0] for r in ordered["rows"]] == ["exempt", "alpha", "zeta", "catch-all"]
    assert ordered["rows"][0]["cells"][2:4] == [1, "<none>"]


@pytest.mark.parametrize(("group", "kind"), sorted(PRINTERS))
def test_every_printer_fills_every_column(group: str, kind: str) -> None:
    for obj in ({}, {"metadata": meta("x"), "spec": {}, "status": {}}):
        row = table_row_cells(group, kind, obj, NOW)
        assert len(row) == len(table_columns(group, kind))


def test_ten_thousand_configmaps_make_ten_thousand_rows() -> None:
    # The time this takes is a benchmark's business (benchmarks/api.py's LIST figure), not a test's.
    objs = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta(f"cm-{n}", timedelta(seconds=n)),
            "data": {"k": "v"},
        }
        for n in range(10_000)
    ]
    table = build_table("", "ConfigMap", objs, list_meta={"resourceVersion": "1"}, now=NOW)
    assert len(table["rows"]) == 10_000 and table["rows"][-1]["cells"] == ["cm-9999", 1, "166m"]
