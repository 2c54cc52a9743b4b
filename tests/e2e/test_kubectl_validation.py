"""The real kubectl 1.32 against ``pinnace up``: the validation errors users meet, worded as upstream's.

Each case is what kubectl prints against a kube-apiserver: a wrong type in a
manifest (a 400 from the decoder), a selector that does not match its
template, an immutable selector changed by ``apply`` or ``replace``, a pod
whose image ``edit`` may change but whose ports it may not, a frozen ConfigMap.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import get_json

pytestmark = pytest.mark.slow

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: {ns}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {selector}}}}}
  template:
    metadata: {{labels: {{app: {labels}}}}}
    spec:
      containers: [{{name: web, image: "busybox:1.36"}}]
"""


def namespace(cluster: Cluster, name: str) -> str:
    cluster.kubectl("create", "namespace", name)
    return name


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "manifest.yaml"
    path.write_text(text)
    return str(path)


def test_a_wrong_type_is_a_decode_error(cluster: Cluster, tmp_path: Path) -> None:
    ns = namespace(cluster, "types")
    path = write(tmp_path, DEPLOYMENT.format(ns=ns, replicas='"three"', selector="web", labels="web"))
    out = cluster.kubectl("apply", "-f", path, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        f'Error from server (BadRequest): error when creating "{path}": Deployment in version "v1" cannot be '
        "handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas "
        "of type int32"
    )


def test_selector_must_match_the_template(cluster: Cluster, tmp_path: Path) -> None:
    ns = namespace(cluster, "selectors")
    path = write(tmp_path, DEPLOYMENT.format(ns=ns, replicas=1, selector="api", labels="web"))
    out = cluster.kubectl("apply", "-f", path, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value: '
        'map[string]string{"app":"web"}: `selector` does not match template `labels`'
    )


def test_an_immutable_selector_through_apply_and_replace(cluster: Cluster, tmp_path: Path) -> None:
    ns = namespace(cluster, "immutable")
    cluster.kubectl("apply", "-f", write(tmp_path, DEPLOYMENT.format(ns=ns, replicas=1, selector="v1", labels="v1")))
    scaled = cluster.kubectl(
        "apply", "-f", write(tmp_path, DEPLOYMENT.format(ns=ns, replicas=3, selector="v1", labels="v1"))
    )
    assert scaled.stdout.strip() == "deployment.apps/web configured"
    changed = write(tmp_path, DEPLOYMENT.format(ns=ns, replicas=3, selector="v2", labels="v2"))
    expected = (
        'The Deployment "web" is invalid: spec.selector: Invalid value: '
        'v1.LabelSelector{MatchLabels:map[string]string{"app":"v2"}, '
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    )
    for verb in ("apply", "replace"):
        out = cluster.kubectl(verb, "-f", changed, check=False)
        assert out.returncode == 1
        assert out.stderr.strip() == expected
    assert get_json(cluster, "deployment", "web", "-n", ns)["spec"]["selector"] == {"matchLabels": {"app": "v1"}}


def test_edit_a_pod_image_but_not_its_ports(cluster: Cluster, tmp_path: Path) -> None:
    ns = namespace(cluster, "pods")
    cluster.kubectl("run", "p", "-n", ns, "--image=busybox:1.36", "--port=80", "--restart=Never", "--", "sleep", "3600")
    out = cluster.kubectl("edit", "pod", "p", "-n", ns, env={"EDITOR": "sed -i s/busybox:1.36/busybox:1.37/"})
    assert out.stdout.strip() == "pod/p edited"
    assert get_json(cluster, "pod", "p", "-n", ns)["spec"]["containers"][0]["image"] == "busybox:1.37"
    out = cluster.kubectl(
        "patch",
        "pod",
        "p",
        "-n",
        ns,
        "-p",
        '{"spec":{"containers":[{"name":"p","ports":[{"containerPort":81}]}]}}',
        check=False,
    )
    assert out.returncode == 1
    assert out.stderr.startswith(
        'The Pod "p" is invalid: spec: Forbidden: pod updates may not change fields other than '
        "`spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,"
        "`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
        "(allow it to be set to 1 if it was previously negative)"
    )
    out = cluster.kubectl(
        "edit", "pod", "p", "-n", ns, env={"EDITOR": "sed -i s/containerPort:\\ 80/containerPort:\\ 81/"}, check=False
    )
    assert out.returncode == 1
    assert 'pods "p" is invalid' in out.stderr


def test_a_frozen_configmap(cluster: Cluster, tmp_path: Path) -> None:
    ns = namespace(cluster, "frozen")
    manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cfg, namespace: {ns}}}\nimmutable: true\n"
    cluster.kubectl("apply", "-f", write(tmp_path, manifest + "data: {a: '1'}\n"))
    changed = write(tmp_path, manifest + "data: {a: '2'}\n")
    out = cluster.kubectl("apply", "-f", changed, check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'The ConfigMap "cfg" is invalid: data: Forbidden: field is immutable when `immutable` is set'
    )


def test_bad_resources(cluster: Cluster, tmp_path: Path) -> None:
    ns = namespace(cluster, "resources")
    pod = f"""
apiVersion: v1
kind: Pod
metadata: {{name: hungry, namespace: {ns}}}
spec:
  containers:
  - name: app
    image: busybox
    resources:
      requests: {{cpu: "2", memory: 64Mi}}
      limits: {{cpu: "1", memory: 128Mi}}
"""
    out = cluster.kubectl("apply", "-f", write(tmp_path, pod), check=False)
    assert out.stderr.strip() == (
        'The Pod "hungry" is invalid: spec.containers[0].resources.requests: Invalid value: "2": must be less '
        "than or equal to cpu limit of 1"
    )
    path = write(tmp_path, pod.replace('cpu: "1"', "cpu: 1 core"))
    out = cluster.kubectl("apply", "-f", path, check=False)
    assert out.stderr.strip() == (
        f'Error from server (BadRequest): error when creating "{path}": Pod in version "v1" cannot be handled as a '
        "Pod: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )


def test_warnings_for_a_pod_and_a_changed_template(cluster: Cluster, tmp_path: Path) -> None:
    """Valid, stored, but likely not meant: kubectl prints the server's Warning headers, as upstream's pod
    warnings word them; a workload warns again only when its template changes."""
    ns = namespace(cluster, "warnings")
    pod = f"""
apiVersion: v1
kind: Pod
metadata: {{name: odd, namespace: {ns}}}
spec:
  nodeSelector: {{beta.kubernetes.io/os: linux}}
  containers:
  - name: app
    image: busybox
    resources: {{limits: {{memory: 500m}}}}
    env: [{{name: MODE, value: "a"}}, {{name: MODE, value: "b"}}]
"""
    out = cluster.kubectl("create", "-f", write(tmp_path, pod))
    assert out.stderr.splitlines() == [
        'Warning: spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead',
        'Warning: spec.containers[0].resources.limits[memory]: fractional byte value "500m" is invalid, must be an '
        "integer",
        'Warning: spec.containers[0].resources.requests[memory]: fractional byte value "500m" is invalid, must be '
        "an integer",
        'Warning: spec.containers[0].env[1]: hides previous definition of "MODE", which may be dropped when using '
        "apply",
    ]
    assert get_json(cluster, "pod", "odd", "-n", ns)["spec"]["containers"][0]["resources"]["limits"] == {
        "memory": "500m"
    }
    cluster.kubectl("create", "deployment", "web", "--image=busybox", "-n", ns)
    out = cluster.kubectl("set", "env", "deployment/web", "-n", ns, "A=1", "A=2")
    assert "Warning:" not in out.stderr  # kubectl keeps the last of a repeated name
    patch = '[{"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "A", "value": "3"}}]'
    out = cluster.kubectl("patch", "deployment", "web", "-n", ns, "--type", "json", "-p", patch)
    assert out.stderr.strip() == (
        'Warning: spec.template.spec.containers[0].env[1]: hides previous definition of "A", which may be dropped '
        "when using apply"
    )
    out = cluster.kubectl("label", "deployment", "web", "-n", ns, "tier=front")
    assert out.stderr == ""  # the template did not change


def test_warnings_for_a_service_and_an_ingress(cluster: Cluster, tmp_path: Path) -> None:
    """A service's fields its type ignores and deprecated annotation, on create and every update; an ingress's
    deprecated class annotation, on create."""
    ns = namespace(cluster, "svc-warnings")
    service = f"""
apiVersion: v1
kind: Service
metadata: {{name: db, namespace: {ns}, annotations: {{service.kubernetes.io/topology-aware-hints: auto}}}}
spec: {{ports: [{{port: 80}}], externalName: db.example.com}}
"""
    warned = [
        "Warning: annotation service.kubernetes.io/topology-aware-hints is deprecated, please use "
        "service.kubernetes.io/topology-mode instead",
        'Warning: spec.externalName is ignored when spec.type is not "ExternalName"',
    ]
    assert cluster.kubectl("create", "-f", write(tmp_path, service)).stderr.splitlines() == warned
    assert cluster.kubectl("label", "service", "db", "-n", ns, "tier=data").stderr.splitlines() == warned
    ingress = f"""
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {{name: web, namespace: {ns}, annotations: {{kubernetes.io/ingress.class: nginx}}}}
spec: {{defaultBackend: {{service: {{name: db, port: {{number: 80}}}}}}}}
"""
    assert cluster.kubectl("create", "-f", write(tmp_path, ingress)).stderr.splitlines() == [
        "Warning: annotation \"kubernetes.io/ingress.class\" is deprecated, please use 'spec.ingressClassName' instead"
    ]
    assert cluster.kubectl("label", "ingress", "web", "-n", ns, "tier=edge").stderr == ""  # on create only


# ---- explain: the OpenAPI v3 documents as kubectl reads them ---------------------------------------------


def test_explain_a_field(cluster: Cluster) -> None:
    out = cluster.kubectl("explain", "deployment.spec.strategy").stdout
    assert out.startswith(
        "GROUP:      apps\n"
        "KIND:       Deployment\n"
        "VERSION:    v1\n"
        "\n"
        "FIELD: strategy <DeploymentStrategy>\n"
        "\n"
        "\n"
        "DESCRIPTION:\n"
        "    The deployment strategy to use to replace existing pods with new ones.\n"
        "    DeploymentStrategy describes how to replace existing pods with new ones.\n"
        "    \n"
        "FIELDS:\n"
        "  rollingUpdate\t<RollingUpdateDeployment>\n"
        "    Rolling update config params. Present only if DeploymentStrategyType =\n"
        "    RollingUpdate.\n"
    )
    assert "  type\t<string>\n" in out
    rolling = cluster.kubectl("explain", "deployment.spec.strategy.rollingUpdate").stdout
    assert "  maxSurge\t<IntOrString>\n" in rolling and "  maxUnavailable\t<IntOrString>\n" in rolling


def test_explain_recursive_and_api_version(cluster: Cluster) -> None:
    out = cluster.kubectl("explain", "pods", "--recursive").stdout
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n\nDESCRIPTION:\n")
    lines = out.splitlines()
    for line in (
        "  spec\t<PodSpec>",
        "    containers\t<[]Container> -required-",
        "      image\t<string>",
        "      name\t<string> -required-",
        "        limits\t<map[string]Quantity>",
        "        containerPort\t<integer> -required-",
        "  status\t<PodStatus>",
    ):
        assert line in lines, line
    deployments = cluster.kubectl("explain", "deployments", "--api-version=apps/v1").stdout
    assert deployments.startswith(
        "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\nDESCRIPTION:\n"
        "    Deployment enables declarative updates for Pods and ReplicaSets.\n"
    )
    assert "  spec\t<DeploymentSpec>\n    Specification of the desired behavior of the Deployment.\n" in deployments
    spec = cluster.kubectl("explain", "deployments.spec", "--api-version=apps/v1").stdout
    assert "  selector\t<LabelSelector> -required-\n" in spec and "  template\t<PodTemplateSpec> -required-\n" in spec
