"""The real kubectl 1.32 writing to ``pinnace up``: create, generators, replace, delete, label, patch, edit, wait.

One cluster for the module; each test works in its own namespace. kubectl's
generators (``create namespace|configmap|secret|deployment``) send protobuf
bodies, so their tests check every field they set came through.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import get_json, names, start_kubectl, table

pytestmark = pytest.mark.slow


def namespace(cluster: Cluster, name: str) -> str:
    """A fresh namespace for one test."""
    cluster.kubectl("create", "namespace", name)
    return name


MANIFEST = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: {ns}
  labels: {{app: demo}}
data:
  mode: {mode}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: {ns}
spec:
  replicas: 1
  selector: {{matchLabels: {{app: api}}}}
  template:
    metadata: {{labels: {{app: api}}}}
    spec:
      containers: [{{name: api, image: "busybox:{tag}"}}]
"""


# ---- create ------------------------------------------------------------------
def test_create_and_replace_from_a_multi_document_file(cluster: Cluster, tmp_path: Path) -> None:
    ns = namespace(cluster, "files")
    path = tmp_path / "app.yaml"
    path.write_text(MANIFEST.format(ns=ns, mode="fast", tag="1.36"))
    out = cluster.kubectl("create", "-f", str(path))
    assert out.stdout.split("\n")[:2] == ["configmap/settings created", "deployment.apps/api created"]
    dep = get_json(cluster, "deployment", "api", "-n", ns)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"
    first_rv = dep["metadata"]["resourceVersion"]

    again = cluster.kubectl("create", "-f", str(path), check=False)
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        f'Error from server (AlreadyExists): error when creating "{path}": configmaps "settings" already exists',
        f'Error from server (AlreadyExists): error when creating "{path}": deployments.apps "api" already exists',
    ]

    path.write_text(MANIFEST.format(ns=ns, mode="slow", tag="1.37"))
    out = cluster.kubectl("replace", "-f", str(path))
    assert out.stdout.split("\n")[:2] == ["configmap/settings replaced", "deployment.apps/api replaced"]
    assert get_json(cluster, "cm", "settings", "-n", ns)["data"] == {"mode": "slow"}
    dep = get_json(cluster, "deployment", "api", "-n", ns)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.37"
    assert dep["metadata"]["generation"] == 2
    assert int(dep["metadata"]["resourceVersion"]) > int(first_rv)
    assert dep["spec"]["strategy"]["type"] == "RollingUpdate"  # defaulted again on replace


def test_generators_send_protobuf_that_arrives_whole(cluster: Cluster, tmp_path: Path) -> None:
    ns = "gen"
    assert cluster.kubectl("create", "namespace", ns).stdout.strip() == "namespace/gen created"
    assert get_json(cluster, "ns", ns)["metadata"]["labels"] == {"kubernetes.io/metadata.name": ns}

    blob = bytes(range(256))
    (tmp_path / "blob.bin").write_bytes(blob)
    (tmp_path / "app.conf").write_text("key = value\n")
    cluster.kubectl(
        "create",
        "configmap",
        "conf",
        "-n",
        ns,
        "--from-literal=empty=",
        "--from-literal=greeting=héllo wörld",
        f"--from-file={tmp_path / 'app.conf'}",
        f"--from-file={tmp_path / 'blob.bin'}",
    )
    cm = get_json(cluster, "cm", "conf", "-n", ns)
    assert cm["data"] == {"empty": "", "greeting": "héllo wörld", "app.conf": "key = value\n"}
    assert base64.b64decode(cm["binaryData"]["blob.bin"]) == blob

    cluster.kubectl("create", "secret", "generic", "creds", "-n", ns, "--from-literal=user=admin", "--from-literal=pw=")
    secret = get_json(cluster, "secret", "creds", "-n", ns)
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"user": base64.b64encode(b"admin").decode(), "pw": ""}
    cluster.kubectl("create", "secret", "generic", "typed", "-n", ns, "--type=example.com/token", "--from-literal=t=x")
    assert get_json(cluster, "secret", "typed", "-n", ns)["type"] == "example.com/token"

    cluster.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=3", "--port=8080")
    cluster.kubectl("create", "deployment", "idle", "-n", ns, "--image=busybox", "--replicas=0", "--", "sleep", "3600")
    web = get_json(cluster, "deployment", "web", "-n", ns)
    assert web["metadata"]["labels"] == {"app": "web"}
    assert web["spec"]["replicas"] == 3
    assert web["spec"]["selector"] == {"matchLabels": {"app": "web"}}
    container = web["spec"]["template"]["spec"]["containers"][0]
    assert (container["name"], container["image"], container["ports"]) == (
        "nginx",
        "nginx:1.27",
        [{"containerPort": 8080, "protocol": "TCP"}],
    )
    idle = get_json(cluster, "deployment", "idle", "-n", ns)
    assert idle["spec"]["replicas"] == 0  # an explicit zero survives protobuf decoding
    assert idle["spec"]["template"]["spec"]["containers"][0]["command"] == ["sleep", "3600"]
    assert idle["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] == "Always"


# ---- errors ------------------------------------------------------------------
def test_create_errors_as_upstream(cluster: Cluster) -> None:
    missing = cluster.kubectl("create", "configmap", "x", "-n", "nowhere", check=False)
    assert (missing.returncode, missing.stderr.strip()) == (
        1,
        'error: failed to create configmap: namespaces "nowhere" not found',
    )
    dup = cluster.kubectl("create", "namespace", "default", check=False)
    assert dup.stderr.strip() == 'Error from server (AlreadyExists): namespaces "default" already exists'
    bad = cluster.kubectl("create", "configmap", "Bad_Name", check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip().startswith(
        'error: failed to create configmap: ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: '
        '"Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters'
    )
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: odd}\ncolour: blue\ndata: {a: b}\n"
    strict = cluster.kubectl("create", "-f", "-", input=manifest, check=False)
    assert strict.stderr.strip() == (
        'Error from server (BadRequest): error when creating "STDIN": ConfigMap in version "v1" cannot be '
        'handled as a ConfigMap: strict decoding error: unknown field "colour"'
    )
    warned = cluster.kubectl("create", "-f", "-", "--validate=warn", input=manifest)
    assert warned.stderr.strip() == 'Warning: unknown field "colour"'
    assert "colour" not in get_json(cluster, "cm", "odd")


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_system_namespaces_may_not_be_deleted(cluster: Cluster, name: str) -> None:
    out = cluster.kubectl("delete", "namespace", name, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f'Error from server (Forbidden): namespaces "{name}" is forbidden: this namespace may not be deleted'
    )
    assert get_json(cluster, "namespace", name)["status"]["phase"] == "Active"


# ---- delete ------------------------------------------------------------------
def test_delete_by_name_label_and_all(cluster: Cluster) -> None:
    ns = namespace(cluster, "deletes")
    for name, tier in [("a", "fe"), ("b", "fe"), ("c", "be"), ("d", "")]:
        cluster.kubectl("create", "configmap", name, "-n", ns)
        if tier:
            cluster.kubectl("label", "configmap", name, "-n", ns, f"tier={tier}")
    assert cluster.kubectl("delete", "cm", "a", "-n", ns).stdout.strip() == 'configmap "a" deleted'
    assert cluster.kubectl("delete", "cm", "-n", ns, "-l", "tier=fe").stdout.strip() == 'configmap "b" deleted'
    assert names(cluster, "cm", "-n", ns) == ["c", "d"]
    out = cluster.kubectl("delete", "cm", "--all", "-n", ns)
    assert out.stdout.splitlines() == ['configmap "c" deleted', 'configmap "d" deleted']
    assert names(cluster, "cm", "-n", ns) == []
    gone = cluster.kubectl("delete", "cm", "a", "-n", ns, check=False)
    assert gone.stderr.strip() == 'Error from server (NotFound): configmaps "a" not found'


def test_delete_cascade_policies(cluster: Cluster) -> None:
    ns = namespace(cluster, "cascade")
    for name in ("bg", "fg", "orphan"):
        cluster.kubectl("create", "deployment", name, "-n", ns, "--image=busybox")
    cluster.kubectl("delete", "deployment", "bg", "-n", ns, "--cascade=background")
    assert names(cluster, "deployments", "-n", ns) == ["fg", "orphan"]
    # Without a garbage collector the foreground and orphan finalizers stay: check what the server wrote.
    for name, policy, finalizer in (("fg", "foreground", "foregroundDeletion"), ("orphan", "orphan", "orphan")):
        out = cluster.kubectl("delete", "deployment", name, "-n", ns, f"--cascade={policy}", "--wait=false")
        assert out.stdout.strip() == f'deployment.apps "{name}" deleted'
        meta = get_json(cluster, "deployment", name, "-n", ns)["metadata"]
        assert meta["finalizers"] == [finalizer]
        assert meta["deletionTimestamp"]
        assert meta["deletionGracePeriodSeconds"] == 0
        assert meta["generation"] == 2


# ---- label, annotate, patch, scale, edit -----------------------------------
def test_label_and_annotate(cluster: Cluster) -> None:
    ns = namespace(cluster, "labels")
    cluster.kubectl("create", "configmap", "cm", "-n", ns)
    cluster.kubectl("label", "cm", "cm", "-n", ns, "tier=fe", "env=prod")
    cluster.kubectl("annotate", "cm", "cm", "-n", ns, "note=one")
    refused = cluster.kubectl("annotate", "cm", "cm", "-n", ns, "note=two", check=False)
    assert refused.stderr.strip() == (
        "error: --overwrite is false but found the following declared annotation(s): 'note' already has a value (one)"
    )
    cluster.kubectl("annotate", "cm", "cm", "-n", ns, "note=two", "--overwrite")
    cluster.kubectl("label", "cm", "cm", "-n", ns, "tier=be", "--overwrite")
    meta = get_json(cluster, "cm", "cm", "-n", ns)["metadata"]
    assert (meta["labels"], meta["annotations"]) == ({"tier": "be", "env": "prod"}, {"note": "two"})
    assert cluster.kubectl("label", "cm", "cm", "-n", ns, "tier-", "env-").stdout.strip() == "configmap/cm unlabeled"
    cluster.kubectl("annotate", "cm", "cm", "-n", ns, "note-")
    meta = get_json(cluster, "cm", "cm", "-n", ns)["metadata"]
    assert "labels" not in meta and "annotations" not in meta  # empty maps are omitted, as upstream


def test_patch_strategic_merge_json_and_scale(cluster: Cluster) -> None:
    ns = namespace(cluster, "patches")
    cluster.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1.26")
    sidecar = '{"spec":{"template":{"spec":{"containers":[{"name":"log","image":"busybox"}]}}}}'
    assert cluster.kubectl("patch", "deployment", "web", "-n", ns, "-p", sidecar).stdout.strip() == (
        "deployment.apps/web patched"
    )
    dep = get_json(cluster, "deployment", "web", "-n", ns)
    containers = dep["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["log", "nginx"]  # strategic: merged by name
    assert containers[0]["imagePullPolicy"] == "Always"
    assert dep["metadata"]["generation"] == 2

    merge = '{"spec":{"template":{"spec":{"containers":[{"name":"nginx","image":"nginx:1.27"}]}}}}'
    cluster.kubectl("patch", "deployment", "web", "-n", ns, "--type=merge", "-p", merge)
    containers = get_json(cluster, "deployment", "web", "-n", ns)["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("nginx", "nginx:1.27")]  # merge: list replaced

    ops = '[{"op":"add","path":"/metadata/labels/team","value":"a"},{"op":"replace","path":"/spec/replicas","value":2}]'
    cluster.kubectl("patch", "deployment", "web", "-n", ns, "--type=json", "-p", ops)
    dep = get_json(cluster, "deployment", "web", "-n", ns)
    assert dep["metadata"]["labels"] == {"app": "web", "team": "a"}
    assert dep["spec"]["replicas"] == 2
    failed = cluster.kubectl(
        "patch", "deployment", "web", "-n", ns, "--type=json", "-p", '[{"op":"remove","path":"/nope"}]', check=False
    )
    assert failed.returncode == 1  # upstream's 422 drops the json-patch library's text:
    assert (
        failed.stderr.strip()
        == "The request is invalid: the server rejected our request due to an error in our request"
    )

    assert cluster.kubectl("scale", "deployment", "web", "-n", ns, "--replicas=5").stdout.strip() == (
        "deployment.apps/web scaled"
    )
    assert get_json(cluster, "deployment", "web", "-n", ns)["spec"]["replicas"] == 5
    cond = cluster.kubectl("scale", "deployment", "web", "-n", ns, "--replicas=1", "--current-replicas=4", check=False)
    assert cond.returncode == 1
    assert cond.stderr.strip() == "error: Expected replicas to be 4, was 5"


def test_autoscale_writes_an_autoscaling_v1_hpa_that_v2_reads(cluster: Cluster) -> None:
    ns = namespace(cluster, "autoscale")
    cluster.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx")
    out = cluster.kubectl("autoscale", "deployment", "web", "-n", ns, "--min=2", "--max=5", "--cpu-percent=70")
    assert out.stdout.strip() == "horizontalpodautoscaler.autoscaling/web autoscaled"  # a POST to autoscaling/v1
    rows = table(cluster.kubectl("get", "hpa", "-n", ns).stdout)
    assert rows[0] == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert rows[1][:6] == ["web", "Deployment/web", "cpu:", "<unknown>/70%", "2", "5"]
    hpa = get_json(cluster, "horizontalpodautoscalers.v2.autoscaling", "web", "-n", ns)
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["metrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}
    ]
    raw = json.loads(
        cluster.kubectl("get", "--raw", f"/apis/autoscaling/v1/namespaces/{ns}/horizontalpodautoscalers/web").stdout
    )
    assert raw["apiVersion"] == "autoscaling/v1"
    assert raw["spec"]["targetCPUUtilizationPercentage"] == 70 and raw["spec"]["minReplicas"] == 2


def test_edit_with_an_editor_script(cluster: Cluster) -> None:
    ns = namespace(cluster, "edits")
    cluster.kubectl("create", "configmap", "cm", "-n", ns, "--from-literal=a=b")
    out = cluster.kubectl("edit", "cm", "cm", "-n", ns, env={"EDITOR": "sed -i s/a:\\ b/a:\\ c/"})
    assert out.stdout.strip() == "configmap/cm edited"
    assert get_json(cluster, "cm", "cm", "-n", ns)["data"] == {"a": "c"}
    same = cluster.kubectl("edit", "cm", "cm", "-n", ns, env={"EDITOR": "true"})
    assert same.stderr.strip() == "Edit cancelled, no changes made."


# ---- wait --------------------------------------------------------------------
def test_wait_for_condition_set_through_the_status_subresource(cluster: Cluster) -> None:
    ns = namespace(cluster, "waits")
    cluster.kubectl("create", "deployment", "web", "-n", ns, "--image=busybox")
    status = '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Test"}]}}'
    cluster.kubectl("patch", "deployment", "web", "-n", ns, "--subresource=status", "--type=merge", "-p", status)
    out = cluster.kubectl("wait", "deployment/web", "-n", ns, "--for=condition=Ready", "--timeout=10s")
    assert out.stdout.strip() == "deployment.apps/web condition met"
    dep = get_json(cluster, "deployment", "web", "-n", ns)
    assert dep["status"]["conditions"][0]["type"] == "Ready"
    assert dep["metadata"]["generation"] == 1  # a status write is not a spec change
    late = cluster.kubectl("wait", "deployment/web", "-n", ns, "--for=condition=Available", "--timeout=1s", check=False)
    assert late.returncode == 1
    assert late.stderr.strip() == "error: timed out waiting for the condition on deployments/web"


def test_wait_for_delete(cluster: Cluster) -> None:
    ns = namespace(cluster, "waitdel")
    cluster.kubectl("create", "configmap", "doomed", "-n", ns)
    waiter = start_kubectl(
        cluster,
        "wait",
        "cm/doomed",
        "-n",
        ns,
        "--for=delete",
        "--timeout=20s",
    )
    try:
        time.sleep(0.5)  # let kubectl find the object first (nothing outside it tells when it has)
        assert waiter.poll() is None
        cluster.kubectl("delete", "cm", "doomed", "-n", ns, "--wait=false")
        out, err = waiter.communicate(timeout=20)
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert waiter.returncode == 0, err
    assert out.strip() == "configmap/doomed condition met"
    assert names(cluster, "cm", "-n", ns) == []
