"""The real kubectl 1.32 with server-side apply: apply --server-side, conflicts, --force-conflicts, diff.

One cluster for the module; each test works in its own namespace.
"""

from __future__ import annotations

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import get_json

pytestmark = pytest.mark.slow


def manifest(replicas: int, image: str = "nginx:1.25", extra_env: bool = False) -> str:
    env = "\n        env: [{name: MODE, value: fast}]" if extra_env else ""
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {{app: web}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: web
        image: {image}{env}
"""


def owners(cluster: Cluster, ns: str) -> dict[str, dict[str, object]]:
    obj = get_json(cluster, "deployment", "web", "-n", ns, "--show-managed-fields")
    return {e["manager"]: e for e in obj["metadata"]["managedFields"]}


def test_apply_server_side_creates_and_updates_with_managed_fields(cluster: Cluster) -> None:
    ns = "ssa-apply"
    cluster.kubectl("create", "namespace", ns)
    out = cluster.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=manifest(2, extra_env=True))
    assert out.stdout.strip() == "deployment.apps/web serverside-applied"
    entry = owners(cluster, ns)["kubectl"]
    assert entry["operation"] == "Apply" and entry["apiVersion"] == "apps/v1" and entry["fieldsType"] == "FieldsV1"
    fields = entry["fieldsV1"]
    assert isinstance(fields, dict)
    container = fields["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert container == {
        ".": {},
        "f:image": {},
        "f:name": {},
        "f:env": {'k:{"name":"MODE"}': {".": {}, "f:name": {}, "f:value": {}}},
    }

    # dropping a field and a list item from the configuration removes them
    cluster.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=manifest(3))
    obj = get_json(cluster, "deployment", "web", "-n", ns)
    assert obj["spec"]["replicas"] == 3
    assert "env" not in obj["spec"]["template"]["spec"]["containers"][0]
    assert "managedFields" not in obj["metadata"]  # kubectl hides them unless asked


def test_conflict_between_two_field_managers_and_force(cluster: Cluster) -> None:
    ns = "ssa-conflict"
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=manifest(2))
    res = cluster.kubectl(
        "apply", "--server-side", "--field-manager=ci", "-n", ns, "-f", "-", input=manifest(5), check=False
    )
    assert res.returncode == 1
    assert 'error: Apply failed with 1 conflict: conflict with "kubectl": .spec.replicas' in res.stderr
    assert "--force-conflicts" in res.stderr

    # the same value from another manager is no conflict: both own it
    cluster.kubectl("apply", "--server-side", "--field-manager=ci", "-n", ns, "-f", "-", input=manifest(2))
    both = owners(cluster, ns)
    assert "f:replicas" in both["ci"]["fieldsV1"]["f:spec"] and "f:replicas" in both["kubectl"]["fieldsV1"]["f:spec"]

    out = cluster.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=ci", "-n", ns, "-f", "-", input=manifest(5)
    )
    assert out.stdout.strip() == "deployment.apps/web serverside-applied"
    assert get_json(cluster, "deployment", "web", "-n", ns)["spec"]["replicas"] == 5
    after = owners(cluster, ns)
    assert "f:replicas" in after["ci"]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in after["kubectl"]["fieldsV1"]["f:spec"]

    # an Update through /scale (manager from kubectl's User-Agent) takes the field; the next apply conflicts
    cluster.kubectl("scale", "deployment", "web", "-n", ns, "--replicas=1")
    res = cluster.kubectl(
        "apply", "--server-side", "--field-manager=ci", "-n", ns, "-f", "-", input=manifest(5), check=False
    )
    assert res.returncode == 1
    assert 'conflict with "kubectl" with subresource "scale" using apps/v1: .spec.replicas' in res.stderr


def test_diff_shows_the_change_against_a_server_side_applied_object(cluster: Cluster) -> None:
    ns = "ssa-diff"
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=manifest(2))
    same = cluster.kubectl("diff", "--server-side", "-n", ns, "-f", "-", input=manifest(2), check=False)
    assert same.returncode == 0 and same.stdout == ""
    for flags in (["--server-side"], []):
        res = cluster.kubectl("diff", *flags, "-n", ns, "-f", "-", input=manifest(4, image="nginx:1.26"), check=False)
        assert res.returncode == 1, res.stderr
        assert "-  replicas: 2" in res.stdout and "+  replicas: 4" in res.stdout
        assert "+      - image: nginx:1.26" in res.stdout
        assert "managedFields" not in res.stdout
    assert get_json(cluster, "deployment", "web", "-n", ns)["spec"]["replicas"] == 2  # diff is a dry run


def test_fields_the_schema_does_not_declare_fail_the_apply_whatever_the_validation(cluster: Cluster) -> None:
    ns = "ssa-undeclared"
    cluster.kubectl("create", "namespace", ns)
    typo = manifest(1).replace("        image: nginx:1.25", "        image: nginx:1.25\n        imagePolicy: Always")
    for validate in ("--validate=strict", "--validate=false"):
        res = cluster.kubectl("apply", "--server-side", validate, "-n", ns, "-f", "-", input=typo, check=False)
        assert res.returncode == 1
        assert res.stderr == (
            f"Error from server (BadRequest): failed to create typed patch object ({ns}/web; apps/v1, Kind=Deployment):"
            ' .spec.template.spec.containers[name="web"].imagePolicy: field not declared in schema\n'
        )
    assert cluster.kubectl("get", "deployments", "-n", ns, "-o", "name").stdout == ""


def test_an_update_owner_s_fields_have_the_shapes_kube_apiserver_writes(cluster: Cluster) -> None:
    """`kubectl create` and `kubectl run` (Update operations): a pointer struct or a node inside a new list item
    is a member ('.'); what the kind's zero value has already belongs to no manager. (What admission adds is
    nobody's either: tests/integration/test_admission.py, where the ServiceAccount plugin runs.)"""
    ns = "ssa-shapes"
    cluster.kubectl("create", "namespace", ns)
    probe = "\n        livenessProbe: {httpGet: {path: /, port: 80}}\n        resources: {limits: {cpu: 100m}}"
    cluster.kubectl("create", "-n", ns, "-f", "-", input=manifest(1) + probe)
    spec = owners(cluster, ns)["kubectl-create"]["fieldsV1"]["f:spec"]  # type: ignore[index]
    assert spec["f:strategy"] == {"f:rollingUpdate": {".": {}, "f:maxSurge": {}, "f:maxUnavailable": {}}, "f:type": {}}
    container = spec["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    assert container["f:livenessProbe"] == {
        ".": {},
        "f:failureThreshold": {},
        "f:httpGet": {".": {}, "f:path": {}, "f:port": {}, "f:scheme": {}},
        "f:periodSeconds": {},
        "f:successThreshold": {},
        "f:timeoutSeconds": {},
    }
    assert container["f:resources"] == {".": {}, "f:limits": {".": {}, "f:cpu": {}}}
    assert "f:metadata" not in spec["f:template"]["f:spec"]

    cluster.kubectl("run", "lone", "-n", ns, "--image=busybox", "--", "sleep", "3600")
    pod = get_json(cluster, "pod", "lone", "-n", ns, "--show-managed-fields")
    [run] = [e for e in pod["metadata"]["managedFields"] if e["manager"] == "kubectl-run"]
    assert set(run["fieldsV1"]["f:spec"]) == {  # as kubectl-run pods read back from kube-apiserver
        "f:containers",
        "f:dnsPolicy",
        "f:enableServiceLinks",
        "f:restartPolicy",
        "f:schedulerName",
        "f:securityContext",
        "f:terminationGracePeriodSeconds",
    }
