"""The resource metrics pipeline end to end, with the real kubectl: ``pinnace up`` with a node agent, pods that burn
CPU, ``kubectl top`` and a HorizontalPodAutoscaler that scales on their CPU.

kubelet stats → the metrics server (scraping through the API server's node proxy) → ``metrics.k8s.io`` through the
API server's aggregation layer → kubectl top, the official Python client, and the HPA controller.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from collections.abc import Iterator
from typing import Any

import kubernetes
import pytest
from tests.e2e.kubectl import eventually, get_json, table

from .conftest import Cluster, start_cluster, stop_cluster

pytestmark = pytest.mark.slow

RESOLUTION = 2  # seconds between scrapes (metrics-server's 15 s would make this test slow)
HPA_SYNC = 2
#: Half a core: busy 50 ms, asleep 50 ms, for ever.
BURN = (
    "import time\nwhile True:\n    end = time.time() + 0.05\n    while time.time() < end: pass\n    time.sleep(0.05)\n"
)

DEPLOYMENT = f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: burner
spec:
  replicas: 1
  selector:
    matchLabels: {{app: burner}}
  template:
    metadata:
      labels: {{app: burner}}
    spec:
      containers:
      - name: burn
        image: python
        command: [{json.dumps(sys.executable)}, "-c", {json.dumps(BURN)}]
        resources:
          requests: {{cpu: 100m, memory: 16Mi}}
"""

HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: burner
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burner}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 50}
"""


@pytest.fixture(scope="module")
def metrics_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """``pinnace up`` with one process node, scraping every RESOLUTION seconds, the HPA syncing every HPA_SYNC."""
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    base = tmp_path_factory.mktemp("pinnace-metrics")
    args = ["--nodes", "1", "--metric-resolution", str(RESOLUTION),
            "--horizontal-pod-autoscaler-sync-period", str(HPA_SYNC)]  # fmt: skip
    c = start_cluster(base / "data", base / "home", extra_args=args)
    try:
        eventually(lambda: get_json(c, "nodes")["items"], timeout=60)
        yield c
    finally:
        stop_cluster(c)


def _cores(text: str) -> float:
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _top_pods(c: Cluster) -> dict[str, list[str]]:
    result = c.kubectl("top", "pod", "-l", "app=burner", check=False)
    if result.returncode != 0:
        return {}
    rows = table(result.stdout)
    return {row[0]: row[1:] for row in rows[1:]}


def test_apiservice_is_available_and_kubectl_top_reads_it(metrics_cluster: Cluster) -> None:
    c = metrics_cluster

    def available() -> bool:
        conditions = get_json(c, "apiservice", "v1beta1.metrics.k8s.io")["status"].get("conditions") or []
        return any(x["type"] == "Available" and x["status"] == "True" for x in conditions)

    eventually(available, timeout=60)
    assert "metrics.k8s.io" in c.kubectl("api-versions").stdout
    resources = c.kubectl("api-resources", "--api-group=metrics.k8s.io").stdout
    assert "PodMetrics" in resources and "NodeMetrics" in resources

    def top_node() -> list[list[str]]:
        result = c.kubectl("top", "node", check=False)
        return table(result.stdout) if result.returncode == 0 else []

    rows = eventually(top_node, timeout=60)
    assert rows[0] == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert rows[1][0] == "node-0" and rows[1][1].endswith("m") and rows[1][3].endswith("Mi")

    raw = json.loads(c.kubectl("get", "--raw", "/apis/metrics.k8s.io/v1beta1/nodes/node-0").stdout)
    assert raw["kind"] == "NodeMetrics" and int(raw["usage"]["memory"].rstrip("Ki")) > 0


def test_top_pods_and_the_hpa_scales_on_cpu(metrics_cluster: Cluster) -> None:
    c = metrics_cluster
    c.kubectl("apply", "-f", "-", input=DEPLOYMENT)
    c.kubectl("rollout", "status", "deployment/burner", "--timeout=60s", timeout=70)

    top = eventually(lambda: _top_pods(c), timeout=60)
    (pod, (cpu, memory)), = top.items()  # fmt: skip
    assert 0.2 <= _cores(cpu) <= 1.0, top  # half a core, give or take a busy machine
    assert memory.endswith("Mi")
    containers = table(c.kubectl("top", "pod", pod, "--containers").stdout)
    assert containers[1][:2] == [pod, "burn"]

    # The official client reads the same objects, as many tools do.
    kubernetes.config.load_kube_config(str(c.kubeconfig))
    custom = kubernetes.client.CustomObjectsApi()
    listed = custom.list_namespaced_custom_object("metrics.k8s.io", "v1beta1", "default", "pods")
    assert [i["metadata"]["name"] for i in listed["items"]] == [pod]
    assert listed["items"][0]["containers"][0]["name"] == "burn"

    # 50 % of a 100m request is the target; half a core is 500 %: the HPA goes to its maximum.
    c.kubectl("apply", "-f", "-", input=HPA)

    def scaled() -> Any:
        hpa = get_json(c, "hpa", "burner")
        return hpa if (hpa.get("status") or {}).get("desiredReplicas") == 3 else None

    hpa = eventually(scaled, timeout=90, interval=1)
    current = hpa["status"]["currentMetrics"][0]["resource"]["current"]
    assert current["averageUtilization"] > 100, hpa["status"]
    conditions = {x["type"]: x for x in hpa["status"]["conditions"]}
    assert conditions["ScalingActive"]["status"] == "True", conditions
    eventually(lambda: get_json(c, "deployment", "burner")["status"].get("readyReplicas") == 3, timeout=90)
    rows = table(c.kubectl("get", "hpa", "burner").stdout)
    assert rows[1][2] == "cpu:" and rows[1][3].endswith("%/50%"), rows  # TARGETS "cpu: 480%/50%"
    events = c.kubectl("get", "events", "--field-selector", "involvedObject.name=burner,reason=SuccessfulRescale")
    assert "New size: 3; reason: cpu resource utilization (percentage of request) above target" in events.stdout
    c.kubectl("delete", "hpa", "burner")
    c.kubectl("delete", "deployment", "burner", "--wait=true", timeout=90)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and get_json(c, "pods", "-l", "app=burner")["items"]:
        time.sleep(0.5)
