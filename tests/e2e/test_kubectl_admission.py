"""The real kubectl against ``pinnace up``'s admission plugins: PodSecurity, ResourceQuota, LimitRanger.

One cluster for the module, with the controllers these plugins rely on (namespace, service accounts,
resource quotas); each test works in its own namespace.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from tests.e2e.conftest import Cluster, run_pinnace, start_cluster, stop_cluster
from tests.e2e.kubectl import eventually, get_json

pytestmark = pytest.mark.slow

POD = """
apiVersion: v1
kind: Pod
metadata: {{name: {name}, namespace: {ns}}}
spec:
  hostNetwork: {host_network}
  containers: [{{name: app, image: busybox}}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    base = tmp_path_factory.mktemp("pinnace-admission")
    args = ["--controllers", "namespace,serviceaccount,resourcequota"]
    c = start_cluster(base / "data", base / "home", extra_args=args)
    try:
        yield c
    finally:
        stop_cluster(c)


def namespace(cluster: Cluster, name: str, *labels: str) -> str:
    """A fresh namespace (with labels), once its default service account exists."""
    cluster.kubectl("create", "namespace", name)
    if labels:
        cluster.kubectl("label", "namespace", name, *labels)
    eventually(lambda: cluster.kubectl("get", "serviceaccount", "default", "-n", name, check=False).returncode == 0)
    return name


def test_a_restricted_namespace_refuses_an_unhardened_pod(cluster: Cluster) -> None:
    ns = namespace(cluster, "locked", "pod-security.kubernetes.io/enforce=restricted")
    result = cluster.kubectl("run", "web", "--image=busybox", "-n", ns, check=False)
    assert result.returncode != 0
    assert result.stderr.strip() == (
        'Error from server (Forbidden): pods "web" is forbidden: violates PodSecurity "restricted:latest": '
        'allowPrivilegeEscalation != false (container "web" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "web" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "web" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "web" must set securityContext.seccompProfile.type to "RuntimeDefault" '
        'or "Localhost")'
    )
    assert cluster.kubectl("get", "pods", "-n", ns, "-o", "name").stdout == ""


def test_warn_mode_prints_a_warning_and_admits(cluster: Cluster) -> None:
    ns = namespace(cluster, "watched", "pod-security.kubernetes.io/warn=baseline")
    result = cluster.kubectl("apply", "-f", "-", input=POD.format(name="net", ns=ns, host_network="true"))
    assert 'Warning: would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)' in result.stderr
    assert result.stdout.strip() == "pod/net created"


def test_a_quota_refuses_past_its_limit_and_describe_shows_usage(cluster: Cluster) -> None:
    ns = namespace(cluster, "metered")
    cluster.kubectl("create", "quota", "q", "--hard=pods=1,configmaps=5", "-n", ns)
    eventually(lambda: (get_json(cluster, "quota", "q", "-n", ns).get("status") or {}).get("used"))
    cluster.kubectl("run", "one", "--image=busybox", "-n", ns)
    result = cluster.kubectl("run", "two", "--image=busybox", "-n", ns, check=False)
    assert result.returncode != 0
    assert result.stderr.strip() == (
        'Error from server (Forbidden): pods "two" is forbidden: exceeded quota: q, requested: pods=1, '
        "used: pods=1, limited: pods=1"
    )
    described = cluster.kubectl("describe", "quota", "q", "-n", ns).stdout
    rows = {line.split()[0]: line.split()[1:] for line in described.splitlines()[3:] if line.strip()}
    assert rows["pods"] == ["1", "1"]
    assert rows["configmaps"][1] == "5"  # kube-root-ca.crt may or may not be published: only the limit is fixed


def test_a_limit_range_default_lands_in_the_pod(cluster: Cluster) -> None:
    ns = namespace(cluster, "ranged")
    limit_range = f"""
apiVersion: v1
kind: LimitRange
metadata: {{name: defaults, namespace: {ns}}}
spec:
  limits:
  - type: Container
    default: {{cpu: 250m, memory: 64Mi}}
    defaultRequest: {{cpu: 50m, memory: 32Mi}}
"""
    cluster.kubectl("apply", "-f", "-", input=limit_range)
    cluster.kubectl("run", "sized", "--image=busybox", "-n", ns)
    pod = get_json(cluster, "pod", "sized", "-n", ns)
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "250m", "memory": "64Mi"},
        "requests": {"cpu": "50m", "memory": "32Mi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container sized; cpu, memory limit for container sized"
    )
    assert pod["spec"]["serviceAccountName"] == "default"
    assert any(v["name"].startswith("kube-api-access-") for v in pod["spec"]["volumes"])


def test_up_refuses_an_unknown_admission_plugin() -> None:
    result = run_pinnace("up", "--disable-admission-plugins", "PodSecurity,NoSuchPlugin")
    assert result.returncode == 2
    assert "error: unknown admission plugin(s): NoSuchPlugin; known: CertificateApproval," in result.stderr
    assert ", LimitRanger, " in result.stderr
