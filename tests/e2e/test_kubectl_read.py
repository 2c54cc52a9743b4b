"""The real kubectl 1.32 reading from ``pinnace up``: every output form, selectors, watch, describe, discovery.

One cluster for the module; the objects are created once (``objects``), each
test reads them. Outputs are compared with what kubectl prints against a
kube-apiserver.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest
import yaml
from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import get_json, names, start_kubectl, table

pytestmark = pytest.mark.slow

NS = "shop"

OBJECTS = f"""
apiVersion: v1
kind: Namespace
metadata: {{name: {NS}}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: front, namespace: {NS}, labels: {{tier: fe, env: prod}}}}
data: {{color: blue}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: back, namespace: {NS}, labels: {{tier: be, env: prod}}}}
data: {{color: red}}
---
apiVersion: v1
kind: ConfigMap
metadata: {{name: plain, namespace: {NS}}}
data: {{color: green}}
---
apiVersion: v1
kind: Secret
metadata: {{name: opaque, namespace: {NS}}}
stringData: {{password: hunter2}}
---
apiVersion: v1
kind: Secret
metadata: {{name: tls, namespace: {NS}}}
type: kubernetes.io/tls
data: {{tls.crt: "", tls.key: ""}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: {NS}, labels: {{app: web}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers: [{{name: nginx, image: "nginx:1.27", ports: [{{containerPort: 80}}]}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: runner, namespace: {NS}}}
spec:
  containers: [{{name: c, image: busybox}}]
---
apiVersion: v1
kind: Pod
metadata: {{name: waiter, namespace: {NS}}}
spec:
  containers: [{{name: c, image: busybox}}]
"""


@pytest.fixture(scope="module")
def objects(cluster: Cluster) -> Cluster:
    """The module's objects, created once with ``kubectl create -f -``; the pod ``runner`` is Running."""
    cluster.kubectl("create", "-f", "-", input=OBJECTS)
    cluster.kubectl(
        "patch",
        "pod",
        "runner",
        "-n",
        NS,
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Running"}}',
    )
    return cluster


# ---- output forms ------------------------------------------------------------
def test_get_json_and_yaml_return_the_object_with_defaults(objects: Cluster) -> None:
    dep = get_json(objects, "deployment", "web", "-n", NS)
    assert dep["kind"] == "Deployment" and dep["apiVersion"] == "apps/v1"
    assert dep["metadata"]["name"] == "web" and dep["metadata"]["generation"] == 1
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"
    assert dep["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "IfNotPresent"
    as_yaml = yaml.safe_load(objects.kubectl("get", "deployment", "web", "-n", NS, "-o", "yaml").stdout)
    assert as_yaml == dep | {"metadata": dep["metadata"]}
    secret = get_json(objects, "secret", "opaque", "-n", NS)
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"password": "aHVudGVyMg=="}  # stringData folded into data
    assert "stringData" not in secret
    lst = get_json(objects, "configmaps", "-n", NS)
    assert lst["kind"] == "List"
    assert sorted(i["metadata"]["name"] for i in lst["items"]) == ["back", "front", "plain"]


def test_get_jsonpath_and_custom_columns(objects: Cluster) -> None:
    out = objects.kubectl("get", "cm", "-n", NS, "-o", "jsonpath={range .items[*]}{.metadata.name}={.data.color};{end}")
    assert out.stdout == "back=red;front=blue;plain=green;"
    out = objects.kubectl("get", "cm", "-n", NS, "-o", "custom-columns=NAME:.metadata.name,TIER:.metadata.labels.tier")
    assert table(out.stdout) == [["NAME", "TIER"], ["back", "be"], ["front", "fe"], ["plain", "<none>"]]


def test_get_default_wide_and_name(objects: Cluster) -> None:
    rows = table(objects.kubectl("get", "deployments", "-n", NS).stdout)
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert rows[1][:4] == ["web", "0/2", "0", "0"]
    rows = table(objects.kubectl("get", "deployments", "-n", NS, "-o", "wide").stdout)
    assert rows[0] == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    assert rows[1][5:] == ["nginx", "nginx:1.27", "app=web"]
    rows = table(objects.kubectl("get", "secrets", "-n", NS).stdout)
    assert [r[:3] for r in rows] == [
        ["NAME", "TYPE", "DATA"],
        ["opaque", "Opaque", "1"],
        ["tls", "kubernetes.io/tls", "2"],
    ]
    out = objects.kubectl("get", "deployments,cm", "-n", NS, "-o", "name").stdout.split()
    assert out == ["deployment.apps/web", "configmap/back", "configmap/front", "configmap/plain"]


# ---- selectors ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("tier=fe", ["front"]),
        ("tier!=fe", ["back", "plain"]),
        ("tier in (fe,be)", ["back", "front"]),
        ("tier notin (fe)", ["back", "plain"]),
        ("tier", ["back", "front"]),
        ("!tier", ["plain"]),
        ("env=prod,tier=be", ["back"]),
    ],
)
def test_label_selectors(objects: Cluster, selector: str, expected: list[str]) -> None:
    assert names(objects, "cm", "-n", NS, "-l", selector) == expected


def test_field_selectors(objects: Cluster) -> None:
    assert names(objects, "cm", "-n", NS, "--field-selector", "metadata.name=front") == ["front"]
    assert names(objects, "cm", "-n", NS, "--field-selector", "metadata.name!=front") == ["back", "plain"]
    assert names(objects, "secrets", "-n", NS, "--field-selector", "type=Opaque") == ["opaque"]
    assert names(objects, "secrets", "-n", NS, "--field-selector", "type=kubernetes.io/tls") == ["tls"]
    assert names(objects, "pods", "-A", "--field-selector", "status.phase=Running") == ["runner"]
    assert names(objects, "pods", "-n", NS, "--field-selector", "status.phase!=Running") == ["waiter"]
    bad = objects.kubectl("get", "cm", "-n", NS, "--field-selector", "data.color=red", check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip() == (
        'Error from server (BadRequest): Unable to find "/v1, Resource=configmaps" that match label selector "", '
        'field selector "data.color=red": "data.color" is not a known field selector: '
        'only "metadata.name", "metadata.namespace"'
    )


def test_all_namespaces(objects: Cluster) -> None:
    rows = table(objects.kubectl("get", "namespaces").stdout)
    assert {r[0] for r in rows[1:]} >= {"default", "kube-system", "kube-public", "kube-node-lease", NS}
    assert all(r[1] == "Active" for r in rows[1:])
    rows = table(objects.kubectl("get", "configmaps", "--all-namespaces").stdout)
    assert rows[0] == ["NAMESPACE", "NAME", "DATA", "AGE"]
    assert [r[:3] for r in rows[1:] if r[0] == NS] == [[NS, "back", "1"], [NS, "front", "1"], [NS, "plain", "1"]]
    ns = get_json(objects, "namespace", NS)
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": NS}
    assert names(objects, "ns", "-l", "kubernetes.io/metadata.name=default") == ["default"]


# ---- watch -------------------------------------------------------------------
def _lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_line(lines: queue.Queue[str], wanted: str, deadline: float) -> list[str]:
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            seen.append(lines.get(timeout=max(0.0, deadline - time.monotonic())))
        except queue.Empty:
            break
        if seen[-1] == wanted:
            return seen
    raise AssertionError(f"kubectl get -w never printed {wanted!r}; it printed {seen!r}")


@pytest.fixture
def watch_color(objects: Cluster) -> Iterator[queue.Queue[str]]:
    """``kubectl get cm plain -w`` printing the color on every event (stopped by its request timeout or by us)."""
    proc = start_kubectl(
        objects,
        "get",
        "cm",
        "plain",
        "-n",
        NS,
        "-w",
        "--request-timeout=20s",
        "-o",
        "jsonpath={.data.color}{'\\n'}",
    )
    try:
        yield _lines(proc)
    finally:
        proc.kill()
        proc.wait()


def test_get_watch_prints_a_later_change(objects: Cluster, watch_color: queue.Queue[str]) -> None:
    deadline = time.monotonic() + 15
    _wait_line(watch_color, "green", deadline)
    objects.kubectl("patch", "cm", "plain", "-n", NS, "-p", '{"data":{"color":"violet"}}')
    _wait_line(watch_color, "violet", deadline)
    objects.kubectl("patch", "cm", "plain", "-n", NS, "-p", '{"data":{"color":"green"}}')
    _wait_line(watch_color, "green", deadline)


def test_get_watch_ends_with_its_request_timeout(objects: Cluster) -> None:
    out = objects.kubectl("get", "cm", "-n", NS, "-w", "--request-timeout=1s", "-o", "name", timeout=15)
    assert out.stdout.split() == ["configmap/back", "configmap/front", "configmap/plain"]


# ---- describe ----------------------------------------------------------------
def _fields(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith(" "):
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def test_describe_deployment(objects: Cluster) -> None:
    text = objects.kubectl("describe", "deployment", "web", "-n", NS).stdout
    f = _fields(text)
    assert f["Name"] == "web" and f["Namespace"] == NS
    assert f["Labels"] == "app=web" and f["Selector"] == "app=web"
    assert f["Replicas"] == "2 desired | 0 updated | 0 total | 0 available | 0 unavailable"
    assert f["StrategyType"] == "RollingUpdate"
    assert f["RollingUpdateStrategy"] == "25% max unavailable, 25% max surge"
    assert "    Image:         nginx:1.27" in text
    assert "    Port:          80/TCP" in text


def test_describe_configmap_and_namespace(objects: Cluster) -> None:
    text = objects.kubectl("describe", "configmap", "front", "-n", NS).stdout
    f = _fields(text)
    assert f["Name"] == "front" and f["Namespace"] == NS
    assert "Data\n====\ncolor:\n----\nblue\n" in text
    text = objects.kubectl("describe", "namespace", NS).stdout
    f = _fields(text)
    assert f["Name"] == NS and f["Status"] == "Active"
    assert f["Labels"] == f"kubernetes.io/metadata.name={NS}"
    assert "No resource quota." in text and "No LimitRange resource." in text


# ---- discovery ---------------------------------------------------------------
def test_api_resources_versions_version_and_raw(objects: Cluster) -> None:
    rows = table(objects.kubectl("api-resources").stdout)
    assert rows[0] == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    by_name = {r[0]: r for r in rows[1:]}
    assert by_name["deployments"] == ["deployments", "deploy", "apps/v1", "true", "Deployment"]
    assert by_name["namespaces"] == ["namespaces", "ns", "v1", "false", "Namespace"]
    assert by_name["secrets"] == ["secrets", "v1", "true", "Secret"]
    namespaced = objects.kubectl("api-resources", "--namespaced=false", "-o", "name").stdout.split()
    assert "namespaces" in namespaced and "configmaps" not in namespaced
    versions = objects.kubectl("api-versions").stdout.split()
    assert {"v1", "apps/v1", "batch/v1", "rbac.authorization.k8s.io/v1"} <= set(versions)
    assert versions == sorted(versions)
    version = json.loads(objects.kubectl("version", "-o", "json").stdout)
    assert version["serverVersion"]["gitVersion"].startswith("v1.32.")
    assert version["serverVersion"]["major"] == "1" and version["serverVersion"]["minor"] == "32"
    raw = json.loads(objects.kubectl("get", "--raw", "/api/v1/namespaces/default").stdout)
    assert list(raw)[:3] == ["kind", "apiVersion", "metadata"]
    assert raw["kind"] == "Namespace" and raw["metadata"]["name"] == "default"
    assert raw["status"] == {"phase": "Active"}


def test_get_apiservices_lists_the_local_group_versions(objects: Cluster) -> None:
    rows = table(objects.kubectl("get", "apiservices").stdout)
    assert rows[0] == ["NAME", "SERVICE", "AVAILABLE", "AGE"]
    by_name = {row[0]: row[1:3] for row in rows[1:]}
    for name in ("v1.", "v1.apps", "v2.autoscaling", "v1.apiextensions.k8s.io"):
        assert by_name[name] == ["Local", "True"], name
    spec = {"group": "y", "version": "v1", "groupPriorityMinimum": 1, "versionPriority": 1}
    wrong = {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": "v1.x"},
        "spec": spec,
    }
    refused = objects.kubectl("create", "-f", "-", input=json.dumps(wrong), check=False)
    assert 'metadata.name: Invalid value: "v1.x": must be `spec.version+"."+spec.group`: "v1.y"' in refused.stderr


def test_get_componentstatuses_probes_the_control_plane(objects: Cluster) -> None:
    result = objects.kubectl("get", "componentstatuses")
    assert "Warning: v1 ComponentStatus is deprecated in v1.19+" in result.stderr
    rows = table(result.stdout)
    assert rows[0] == ["NAME", "STATUS", "MESSAGE", "ERROR"]
    # (this cluster runs the namespace controller only: no scheduler to report)
    assert sorted(rows[1:]) == [["controller-manager", "Healthy", "ok"], ["sqlite-0", "Healthy", "ok"]]
    one = json.loads(objects.kubectl("get", "cs", "sqlite-0", "-o", "json").stdout)
    assert one["conditions"] == [{"type": "Healthy", "status": "True", "message": "ok"}]
