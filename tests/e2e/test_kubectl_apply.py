"""The real kubectl 1.32's client-side apply, diff, set and patch against ``pinnace up``.

Client-side ``apply`` is a three-way strategic merge (the file, the
``last-applied-configuration`` annotation and the live object) computed by
kubectl and sent as a strategic merge patch; ``set image|env|resources`` send
strategic patches too. Each step checks the live object field by field, as a
kube-apiserver leaves it. Duplicate fields are checked on raw request bodies:
kubectl itself turns YAML into JSON (the last duplicate wins) before sending.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import get_json

pytestmark = pytest.mark.slow

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

FIRST = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web, tier: fe}}
  annotations: {{note: one}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: c
        image: nginx:1.26
        env:
        - {{name: A, value: "1"}}
        - {{name: B, value: "2"}}
        ports:
        - {{containerPort: 80}}
      - name: side
        image: busybox:1.36
        command: [sleep, 1d]
"""

# The image changes; the tier label, the note annotation, replicas, env B and the side container are gone.
SECOND = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
  labels: {{app: web}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
      - name: c
        image: nginx:1.27
        env:
        - {{name: A, value: "1"}}
        ports:
        - {{containerPort: 80}}
"""

DEFAULTED_CONTAINER = {
    "imagePullPolicy": "IfNotPresent",
    "resources": {},
    "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}


def namespace(cluster: Cluster, name: str) -> str:
    """A fresh namespace for one test."""
    cluster.kubectl("create", "namespace", name)
    return name


def containers(dep: dict[str, Any]) -> list[dict[str, Any]]:
    return list(dep["spec"]["template"]["spec"]["containers"])


def test_apply_create_update_prune_and_remove_by_key(cluster: Cluster, tmp_path: Path) -> None:
    ns = namespace(cluster, "apply")
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(FIRST.format(ns=ns))
    second.write_text(SECOND.format(ns=ns))

    assert cluster.kubectl("apply", "-f", str(first)).stdout == "deployment.apps/web created\n"
    dep = get_json(cluster, "deployment", "web", "-n", ns)
    meta = dep["metadata"]
    assert meta["labels"] == {"app": "web", "tier": "fe"}
    assert meta["annotations"]["note"] == "one"
    assert json.loads(meta["annotations"][LAST_APPLIED]) == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "annotations": {"note": "one"},
            "labels": {"app": "web", "tier": "fe"},
            "name": "web",
            "namespace": ns,
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                            "image": "nginx:1.26",
                            "name": "c",
                            "ports": [{"containerPort": 80}],
                        },
                        {"command": ["sleep", "1d"], "image": "busybox:1.36", "name": "side"},
                    ]
                },
            },
        },
    }
    assert dep["spec"]["replicas"] == 2 and meta["generation"] == 1
    assert containers(dep) == [
        {
            "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
            "image": "nginx:1.26",
            "name": "c",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            **DEFAULTED_CONTAINER,
        },
        {"command": ["sleep", "1d"], "image": "busybox:1.36", "name": "side", **DEFAULTED_CONTAINER},
    ]
    assert cluster.kubectl("apply", "-f", str(first)).stdout == "deployment.apps/web unchanged\n"
    assert get_json(cluster, "deployment", "web", "-n", ns)["metadata"]["resourceVersion"] == meta["resourceVersion"]

    # diff: exit 1 and a unified diff of live against merged; nothing is written
    diff = cluster.kubectl("diff", "-f", str(second), check=False)
    assert diff.returncode == 1, diff.stderr
    lines = diff.stdout.splitlines()
    assert lines[0].startswith("diff -u -N ") and lines[1].startswith("--- ") and lines[2].startswith("+++ ")
    for changed in (
        "-    note: one",
        "-    tier: fe",
        "-  replicas: 2",
        "+  replicas: 1",
        "-        image: nginx:1.26",
    ):
        assert changed in lines, (changed, diff.stdout)
    assert "+        image: nginx:1.27" in lines and "-      - command:" in lines and "-        - name: B" in lines
    assert get_json(cluster, "deployment", "web", "-n", ns)["metadata"]["generation"] == 1

    assert cluster.kubectl("apply", "-f", str(second)).stdout == "deployment.apps/web configured\n"
    dep = get_json(cluster, "deployment", "web", "-n", ns)
    meta = dep["metadata"]
    assert meta["labels"] == {"app": "web"}  # pruned label
    assert list(meta["annotations"]) == [LAST_APPLIED]  # pruned annotation
    assert json.loads(meta["annotations"][LAST_APPLIED])["metadata"]["annotations"] == {}
    assert meta["generation"] == 2
    assert dep["spec"]["replicas"] == 1  # pruned, so defaulted again
    assert containers(dep) == [  # side container and env B removed by their keys
        {
            "env": [{"name": "A", "value": "1"}],
            "image": "nginx:1.27",
            "name": "c",
            "ports": [{"containerPort": 80, "protocol": "TCP"}],
            **DEFAULTED_CONTAINER,
        }
    ]
    assert cluster.kubectl("apply", "-f", str(second)).stdout == "deployment.apps/web unchanged\n"
    same = cluster.kubectl("diff", "-f", str(second), check=False)
    assert (same.returncode, same.stdout, same.stderr) == (0, "", "")

    # a field set by someone else survives the apply (it is not in last-applied), and
    # switching the strategy to Recreate drops rollingUpdate ($retainKeys)
    cluster.kubectl("set", "env", "deployment/web", "-n", ns, "EXTRA=1")
    second.write_text(
        SECOND.format(ns=ns).replace("spec:\n  selector", "spec:\n  strategy: {type: Recreate}\n  selector")
    )
    assert cluster.kubectl("apply", "-f", str(second)).stdout == "deployment.apps/web configured\n"
    dep = get_json(cluster, "deployment", "web", "-n", ns)
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert containers(dep)[0]["env"] == [{"name": "A", "value": "1"}, {"name": "EXTRA", "value": "1"}]


def test_set_image_env_and_resources(cluster: Cluster) -> None:
    ns = namespace(cluster, "set")
    cluster.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1.26")
    web = ("deployment/web", "-n", ns)

    assert cluster.kubectl("set", "image", *web, "nginx=nginx:1.27").stdout == "deployment.apps/web image updated\n"
    assert containers(get_json(cluster, *web))[0]["image"] == "nginx:1.27"
    assert cluster.kubectl("set", "image", *web, "nginx=nginx:1.27").stdout == ""  # no change: nothing sent
    out = cluster.kubectl("set", "image", *web, "web=nginx:1.28", check=False)
    assert (out.returncode, out.stderr.strip()) == (1, 'error: unable to find container named "web"')

    assert cluster.kubectl("set", "env", *web, "FOO=bar", "BAZ=1").stdout == "deployment.apps/web env updated\n"
    assert containers(get_json(cluster, *web))[0]["env"] == [
        {"name": "FOO", "value": "bar"},
        {"name": "BAZ", "value": "1"},
    ]
    cluster.kubectl("set", "env", *web, "FOO-")
    assert containers(get_json(cluster, *web))[0]["env"] == [{"name": "BAZ", "value": "1"}]
    assert cluster.kubectl("set", "env", *web, "--list").stdout == "# Deployment web, container nginx\nBAZ=1\n"
    cluster.kubectl("set", "env", *web, "BAZ-")
    assert "env" not in containers(get_json(cluster, *web))[0]

    out = cluster.kubectl("set", "resources", *web, "--limits=cpu=200m,memory=64Mi")
    assert out.stdout == "deployment.apps/web resource requirements updated\n"
    cluster.kubectl("set", "resources", *web, "--requests=cpu=100m")
    dep = get_json(cluster, *web)
    assert containers(dep)[0]["resources"] == {"limits": {"cpu": "200m", "memory": "64Mi"}, "requests": {"cpu": "100m"}}
    assert dep["metadata"]["generation"] == 7
    bad = cluster.kubectl("set", "resources", *web, "--requests=cpu=300m", check=False)
    assert bad.returncode == 1
    assert (
        'spec.template.spec.containers[0].resources.requests: Invalid value: "300m": '
        "must be less than or equal to cpu limit of 200m"
    ) in bad.stderr


def test_patch_types_on_a_deployment(cluster: Cluster) -> None:
    ns = namespace(cluster, "patchtypes")
    cluster.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1.26")
    web = ("deployment", "web", "-n", ns)

    # strategic: list merge by name (patch order first), then $patch: delete on one container
    pair = '[{"name":"side","image":"busybox"},{"name":"nginx","image":"nginx:1.27"}]'
    two = '{"spec":{"template":{"spec":{"containers":' + pair + "}}}}"
    cluster.kubectl("patch", *web, "-p", two)
    assert [(c["name"], c["image"]) for c in containers(get_json(cluster, *web))] == [
        ("side", "busybox"),
        ("nginx", "nginx:1.27"),
    ]
    delete = '{"spec":{"template":{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}}}'
    assert cluster.kubectl("patch", *web, "-p", delete).stdout == "deployment.apps/web patched\n"
    assert [c["name"] for c in containers(get_json(cluster, *web))] == ["nginx"]
    assert cluster.kubectl("patch", *web, "-p", delete).stdout == "deployment.apps/web patched (no change)\n"

    # without $retainKeys the old rollingUpdate stays and the result is invalid, as upstream
    recreate = cluster.kubectl("patch", *web, "-p", '{"spec":{"strategy":{"type":"Recreate"}}}', check=False)
    assert recreate.stderr.strip() == (
        'The Deployment "web" is invalid: spec.strategy.rollingUpdate: Forbidden: '
        "may not be specified when strategy `type` is 'Recreate'"
    )
    cluster.kubectl("patch", *web, "-p", '{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}')
    assert get_json(cluster, *web)["spec"]["strategy"] == {"type": "Recreate"}

    # merge: lists are replaced whole, null deletes
    cluster.kubectl("patch", *web, "--type=merge", "-p", '{"metadata":{"labels":{"app":null,"team":"a"}}}')
    assert get_json(cluster, *web)["metadata"]["labels"] == {"team": "a"}
    # json: by path
    ops = '[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"nginx:1.28"}]'
    cluster.kubectl("patch", *web, "--type=json", "-p", ops)
    assert containers(get_json(cluster, *web))[0]["image"] == "nginx:1.28"


def test_duplicate_fields_in_a_raw_body(cluster: Cluster, tmp_path: Path) -> None:
    ns = namespace(cluster, "dupes")
    body = tmp_path / "dup.json"
    body.write_text(
        '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"dup","labels":{"a":"1","a":"2"}},'
        '"data":{"k":"x","k":"y"},"data":{"k":"z"}}'
    )
    url = f"/api/v1/namespaces/{ns}/configmaps"

    strict = cluster.kubectl("create", "--raw", url + "?fieldValidation=Strict", "-f", str(body), check=False)
    assert strict.returncode == 1
    assert strict.stderr.strip() == (
        'Error from server (BadRequest): ConfigMap in version "v1" cannot be handled as a ConfigMap: '
        'strict decoding error: duplicate field "metadata.labels.a", duplicate field "data.k", duplicate field "data"'
    )
    warn = cluster.kubectl("create", "--raw", url + "?fieldValidation=Warn", "-f", str(body))
    assert warn.stderr.splitlines() == [
        'Warning: duplicate field "metadata.labels.a"',
        'Warning: duplicate field "data.k"',
        'Warning: duplicate field "data"',
    ]
    created = json.loads(warn.stdout)
    assert (created["metadata"]["labels"], created["data"]) == ({"a": "2"}, {"k": "z"})  # the last one wins

    # kubectl's own YAML decoding keeps the last duplicate and sends no duplicate: created silently
    yaml_file = tmp_path / "dup.yaml"
    yaml_file.write_text(
        f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: twice\n  namespace: {ns}\ndata:\n  a: '1'\n  a: '2'\n"
    )
    out = cluster.kubectl("create", "-f", str(yaml_file))
    assert (out.stdout, out.stderr) == ("configmap/twice created\n", "")
    assert get_json(cluster, "configmap", "twice", "-n", ns)["data"] == {"a": "2"}


def test_unknown_fields_of_a_patch_are_reported_sorted(cluster: Cluster) -> None:
    ns = namespace(cluster, "unknown-patch")
    cluster.kubectl("create", "configmap", "cm", "-n", ns)
    patch = '{"zz": 1, "metadata": {"foo": 1}, "aa": 2}'
    for kind in ("merge", "strategic"):
        res = cluster.kubectl("patch", "configmap", "cm", "-n", ns, f"--type={kind}", "-p", patch)
        assert res.stderr.splitlines() == [
            'Warning: unknown field "aa"',
            'Warning: unknown field "metadata.foo"',
            'Warning: unknown field "zz"',
        ]
