"""With the real kubectl against ``pinnace up --config`` (a control-plane and a worker node): pods really run."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.kubectl import eventually

from .conftest import Cluster, free_port, start_cluster, stop_cluster

pytestmark = pytest.mark.slow

CLUSTER_YAML = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
    labels:
      tier: apps
"""


@pytest.fixture(scope="module")
def nodes_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster whose nodes run pods as processes: ``control-plane`` (tainted) and ``node-0``."""
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    base = tmp_path_factory.mktemp("pinnace-nodes")
    config = base / "cluster.yaml"
    config.write_text(CLUSTER_YAML)
    c = start_cluster(base / "data", base / "home", extra_args=["--config", str(config)])
    try:
        _wait_nodes(c, 2)
        yield c
    finally:
        output = stop_cluster(c)
        leftovers = _container_pids(c.data_dir)
        assert not [p for p in leftovers if _alive(p)], f"containers outlived the cluster:\n{output[-3000:]}"


def _wait_nodes(c: Cluster, count: int, timeout: float = 60.0) -> None:
    """Wait until ``count`` nodes have registered (the agents start after the API server is ready)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(_json(c, "get", "nodes")["items"]) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} nodes did not register within {timeout}s")


def _json(c: Cluster, *args: str) -> Any:
    return json.loads(c.kubectl(*args, "-o", "json").stdout)


def _http_backend(c: Cluster, name: str, text: str, tmp_path: Path, service_type: str) -> Any:
    """A ready process pod ``name`` (label ``app=<name>``) serving ``text`` over HTTP, behind a Service ``name`` of
    ``service_type`` on port 80; the Service's spec."""
    port, www = free_port(), tmp_path / name
    serve = f"mkdir -p {www} && echo {text} > {www}/index.html && exec busybox httpd -f -p {port} -h {www}"
    run = ["run", name, "--image=busybox", f"--labels=app={name}", "--restart=Never", "--command", "--"]
    c.kubectl(*run, "sh", "-c", serve)
    c.kubectl("create", "service", service_type, name, f"--tcp=80:{port}")
    c.kubectl("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=60s", timeout=70)
    return _json(c, "get", "service", name)["spec"]


def _finished_phase(c: Cluster, pod: str, timeout: float = 90.0) -> str:
    """The phase a pod that runs to completion ends in (Succeeded or Failed)."""
    deadline = time.monotonic() + timeout
    while (phase := _json(c, "get", "pod", pod)["status"].get("phase")) not in ("Succeeded", "Failed"):
        assert time.monotonic() < deadline, f"pod {pod} did not finish"
        time.sleep(0.3)
    return str(phase)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _container_pids(data_dir: Path, pod: str | None = None) -> list[int]:
    """The main process of each container the nodes' process runtimes started (of one pod, if named)."""
    pids = []
    for meta in data_dir.glob("nodes/*/runtime/containers/*/meta.json"):
        labels = json.loads(meta.read_text())["config"]["labels"]
        state = meta.with_name("state.json")
        if (pod is None or labels.get("io.kubernetes.pod.name") == pod) and state.exists():
            pid = json.loads(state.read_text()).get("pid")
            if pid:
                pids.append(int(pid))
    return pids


def test_nodes_register_from_the_config(nodes_cluster: Cluster) -> None:
    c = nodes_cluster
    c.kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=60s")
    nodes = {n["metadata"]["name"]: n for n in _json(c, "get", "nodes")["items"]}
    assert set(nodes) == {"control-plane", "node-0"}
    cp, worker = nodes["control-plane"], nodes["node-0"]
    assert "node-role.kubernetes.io/control-plane" in cp["metadata"]["labels"]
    assert {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"} in cp["spec"]["taints"]
    assert worker["metadata"]["labels"]["tier"] == "apps"
    addresses = {a["type"]: a["address"] for a in worker["status"]["addresses"]}
    # On loopback: 127.0.0.x, or 127.0.<n>.x when another cluster on the host holds the first network slot.
    assert addresses["Hostname"] == "node-0" and addresses["InternalIP"].startswith("127.0.")
    assert worker["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("process://")


def test_a_node_may_not_steer_workloads_to_itself(nodes_cluster: Cluster) -> None:
    """NodeRestriction, with the node's own credentials: no new role label, no taint changes on its own Node."""
    c = nodes_cluster
    as_node = ["--kubeconfig", str(c.data_dir / "nodes" / "node-0" / "kubelet.conf")]
    label = c.kubectl(*as_node, "label", "node", "node-0", "node-role.kubernetes.io/gpu=", check=False)
    assert label.returncode == 1
    assert 'nodes "node-0" is forbidden: is not allowed to modify labels: node-role.kubernetes.io/gpu' in label.stderr
    taint = c.kubectl(*as_node, "taint", "node", "node-0", "mine=only:NoSchedule", check=False)
    assert taint.returncode == 1
    assert 'nodes "node-0" is forbidden: node "node-0" is not allowed to modify taints' in taint.stderr
    assert c.kubectl(*as_node, "label", "node", "node-0", "node.kubernetes.io/pool=a").returncode == 0  # its own


def test_a_deployments_pods_run_and_go_ready(nodes_cluster: Cluster) -> None:
    c = nodes_cluster
    script = "echo started on $HOSTNAME as $(hostname); trap 'exit 0' TERM; while :; do sleep 0.2; done"
    c.kubectl("create", "deployment", "web", "--image=busybox", "--replicas=2", "--", "sh", "-c", script)
    c.kubectl("rollout", "status", "deployment/web", "--timeout=90s", timeout=100)
    pods = _json(c, "get", "pods", "-l", "app=web")["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] == "node-0"  # the control-plane is tainted
        assert pod["status"]["phase"] == "Running"
        assert pod["status"]["podIP"] == pod["status"]["hostIP"]  # process pods share their node's address
        name = pod["metadata"]["name"]
        assert f"started on {name} as {name}" in c.kubectl("logs", name).stdout  # its own UTS namespace
        assert c.kubectl("exec", name, "--", "hostname").stdout == f"{name}\n"
        assert _container_pids(c.data_dir, name)


def test_delete_pod_is_graceful_and_leaves_no_process(nodes_cluster: Cluster, tmp_path: Path) -> None:
    c = nodes_cluster
    marker = tmp_path / "stopped"
    polite = f"trap 'echo bye > {marker}; exit 0' TERM; while :; do sleep 0.1; done"
    stubborn = "trap '' TERM; while :; do sleep 0.1; done"
    for name, script in (("polite", polite), ("stubborn", stubborn)):
        c.kubectl("run", name, "--image=busybox", "--restart=Never", "--command", "--", "sh", "-c", script)
    c.kubectl("wait", "--for=condition=Ready", "pod/polite", "pod/stubborn", "--timeout=60s", timeout=70)
    pids = {name: _container_pids(c.data_dir, name) for name in ("polite", "stubborn")}
    assert all(pids.values()) and all(_alive(p) for ps in pids.values() for p in ps)
    c.kubectl("delete", "pod", "polite", "--timeout=60s", timeout=70)
    assert marker.read_text() == "bye\n"  # it got SIGTERM and ran its trap
    c.kubectl("delete", "pod", "stubborn", "--grace-period=2", "--timeout=60s", timeout=70)
    assert not [p for ps in pids.values() for p in ps if _alive(p)]
    assert c.kubectl("get", "pod", "polite", "stubborn", check=False).returncode != 0


def test_a_process_pod_reaches_a_service_and_the_host_its_node_port(nodes_cluster: Cluster, tmp_path: Path) -> None:
    """As root, the nodes' service proxy programs the host (where process pods live): ClusterIP and NodePort work."""
    if os.geteuid() != 0:
        pytest.fail("service routing for process pods needs root (the node agents' proxy programs the host)")
    c = nodes_cluster
    spec = _http_backend(c, "backend", "served by $HOSTNAME", tmp_path, "nodeport")
    url = f"http://{spec['clusterIP']}/"
    # Until this cluster's proxy has its rules in.
    fetch = (
        f"for i in $(seq 1 150); do out=$(busybox wget -q -O - {url} 2>/dev/null) && "
        '[ "$out" = "served by backend" ] && echo "$out" && exit 0; sleep 0.2; done; exit 1'
    )
    c.kubectl("run", "client", "--image=busybox", "--restart=Never", "--command", "--", "sh", "-c", fetch)
    phase = _finished_phase(c, "client")
    assert (phase, c.kubectl("logs", "client").stdout) == ("Succeeded", "served by backend\n")
    node_port = spec["ports"][0]["nodePort"]
    # At the backend's node's address (127.0.0.x: the first cluster on the host answers on 127.0.0.1 too).
    node_ip = _json(c, "get", "pod", "backend")["status"]["hostIP"]
    with urllib.request.urlopen(f"http://{node_ip}:{node_port}/", timeout=10) as response:
        assert response.read() == b"served by backend\n"


def test_a_process_pod_resolves_services_through_the_cluster_dns(nodes_cluster: Cluster, tmp_path: Path) -> None:
    """As root, ``pinnace up`` serves cluster DNS behind ``kube-system/kube-dns`` and the kubelet points pods at it:
    a pod's resolv.conf names the Service's address and its namespace's search path, and a Service is reached by
    its short name."""
    if os.geteuid() != 0:
        pytest.fail("cluster DNS needs root (port 53, and the service proxy that routes kube-dns's address)")
    c = nodes_cluster
    dns = _json(c, "get", "service", "kube-dns", "-n", "kube-system")["spec"]
    assert [p["port"] for p in dns["ports"]][:2] == [53, 53]
    cluster_ip = _http_backend(c, "named", "named by dns", tmp_path, "clusterip")["clusterIP"]
    # getent resolves through the C library, its search path and ndots (busybox is static: it cannot).
    lookup = (
        "cat /etc/resolv.conf; for i in $(seq 1 150); do "
        "ip=$(getent hosts named | cut -d' ' -f1) && [ -n \"$ip\" ] && "
        "out=$(busybox wget -q -O - http://$ip/ 2>/dev/null) && "
        '[ "$out" = "named by dns" ] && getent hosts named && echo "$out" && exit 0; '
        "sleep 0.2; done; exit 1"
    )
    c.kubectl("run", "resolver", "--image=busybox", "--restart=Never", "--command", "--", "sh", "-c", lookup)
    phase = _finished_phase(c, "resolver")
    logs = c.kubectl("logs", "resolver").stdout
    assert phase == "Succeeded", logs
    assert f"nameserver {dns['clusterIP']}" in logs
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in logs
    assert re.search(rf"^{re.escape(cluster_ip)}\s+named\.default\.svc\.cluster\.local$", logs, re.MULTILINE), logs
    assert logs.endswith("named by dns\n"), logs

    # A StatefulSet's pod by its stable name: <pod>.<headless service>, the endpoint's hostname.
    headless = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "ledger"},
        "spec": {"clusterIP": "None", "selector": {"app": "ledger"}, "ports": [{"port": 80}]},
    }
    container = {"name": "main", "image": "busybox", "command": ["sleep", "3600"]}
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "ledger"},
        "spec": {
            "serviceName": "ledger",
            "replicas": 1,
            "selector": {"matchLabels": {"app": "ledger"}},
            "template": {"metadata": {"labels": {"app": "ledger"}}, "spec": {"containers": [container]}},
        },
    }
    both = {"apiVersion": "v1", "kind": "List", "items": [headless, statefulset]}
    c.kubectl("apply", "-f", "-", input=json.dumps(both))
    c.kubectl("rollout", "status", "statefulset/ledger", "--timeout=60s", timeout=70)
    pod_ip = _json(c, "get", "pod", "ledger-0")["status"]["podIP"]
    find = "for i in $(seq 1 150); do getent hosts ledger-0.ledger && exit 0; sleep 0.2; done; exit 1"
    c.kubectl("run", "stable-name", "--image=busybox", "--restart=Never", "--command", "--", "sh", "-c", find)
    assert _finished_phase(c, "stable-name") == "Succeeded"
    found = c.kubectl("logs", "stable-name").stdout.split()
    assert found == [pod_ip, "ledger-0.ledger.default.svc.cluster.local"], found


def test_a_memory_hog_process_pod_is_oom_killed(nodes_cluster: Cluster, tmp_path: Path) -> None:
    """As root, a process pod's container runs in a cgroup with its limits: a memory hog over its limit is killed and
    reported OOMKilled, as on the oci runtime."""
    if os.geteuid() != 0:
        pytest.fail("cgroup limits for process pods need root; the e2e suite runs as root (see .ci/run)")
    c = nodes_cluster
    hog = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "hog"},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "c",
                    "image": "busybox",
                    "command": ["sh", "-c", hog],
                    "resources": {"limits": {"memory": "16Mi"}},
                }
            ],
        },
    }
    c.kubectl("apply", "-f", "-", input=json.dumps(pod))
    deadline = time.monotonic() + 60
    terminated: dict[str, Any] = {}
    while time.monotonic() < deadline and not terminated:
        statuses = _json(c, "get", "pod", "hog")["status"].get("containerStatuses") or []
        terminated = (statuses[0].get("state") or {}).get("terminated") or {} if statuses else {}
        time.sleep(0.3)
    assert (terminated.get("reason"), terminated.get("exitCode")) == ("OOMKilled", 137), terminated
    assert "survived" not in c.kubectl("logs", "hog").stdout


STATEFUL_STORE = """\
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: store
spec:
  serviceName: store
  replicas: 1
  selector:
    matchLabels: {app: store}
  template:
    metadata:
      labels: {app: store}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
        - name: main
          image: busybox
          command: ["sh", "-c", "echo boot >> /mnt/boots; trap 'exit 0' TERM; while :; do sleep 0.2; done"]
          volumeMounts:
            - {name: data, mountPath: /mnt}
  volumeClaimTemplates:
    - metadata:
        name: data
      spec:
        accessModes: [ReadWriteOnce]
        resources:
          requests: {storage: 1Mi}
"""


def test_a_statefulsets_claim_gets_a_local_volume_that_outlives_its_pod(nodes_cluster: Cluster) -> None:
    """As on kind: the default StorageClass provisions a directory on the pod's node once it is scheduled; the
    volume survives the pod, and goes with its claim."""
    c = nodes_cluster
    (row,) = [line for line in c.kubectl("get", "storageclass").stdout.splitlines() if line.startswith("standard")]
    assert row.split()[:6] == [
        "standard",
        "(default)",
        "pinnace.dev/local-path",
        "Delete",
        "WaitForFirstConsumer",
        "false",
    ]
    c.kubectl("apply", "-f", "-", input=STATEFUL_STORE)
    c.kubectl("rollout", "status", "statefulset/store", "--timeout=90s", timeout=100)

    claim = _json(c, "get", "pvc", "data-store-0")
    assert claim["spec"]["storageClassName"] == "standard"  # DefaultStorageClass admission
    assert claim["status"]["phase"] == "Bound" and claim["status"]["capacity"] == {"storage": "1Mi"}
    annotations = claim["metadata"]["annotations"]
    assert annotations["volume.kubernetes.io/selected-node"] == "node-0"  # the scheduler chose the node
    assert annotations["volume.kubernetes.io/storage-provisioner"] == "pinnace.dev/local-path"
    assert annotations["pv.kubernetes.io/bind-completed"] == "yes"
    volume = _json(c, "get", "pv", claim["spec"]["volumeName"])
    assert volume["metadata"]["name"] == f"pvc-{claim['metadata']['uid']}"
    assert volume["spec"]["claimRef"]["uid"] == claim["metadata"]["uid"]
    assert volume["status"]["phase"] == "Bound"
    (term,) = volume["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "kubernetes.io/hostname", "operator": "In", "values": ["node-0"]}]
    root = _json(c, "get", "node", "node-0")["metadata"]["annotations"]["pinnace.dev/local-path-root"]
    directory = Path(volume["spec"]["hostPath"]["path"])
    assert directory.parent == Path(root) and directory.is_dir()
    assert (directory / "boots").read_text() == "boot\n"  # the container wrote into the volume

    first_uid = _json(c, "get", "pod", "store-0")["metadata"]["uid"]
    c.kubectl("delete", "pod", "store-0", "--timeout=60s", timeout=70)
    eventually(
        lambda: (
            (pod := c.kubectl("get", "pod", "store-0", "-o", "json", check=False)).returncode == 0
            and json.loads(pod.stdout)["metadata"]["uid"] != first_uid
            and any(
                cond["type"] == "Ready" and cond["status"] == "True"
                for cond in json.loads(pod.stdout)["status"].get("conditions") or []
            )
        ),
        timeout=90,
    )
    assert (directory / "boots").read_text() == "boot\nboot\n"  # the same volume, mounted again

    c.kubectl("delete", "statefulset", "store", "--timeout=60s", timeout=70)
    c.kubectl("delete", "pvc", "data-store-0", "--timeout=60s", timeout=70)
    eventually(lambda: c.kubectl("get", "pv", volume["metadata"]["name"], check=False).returncode != 0)
    assert not directory.exists()  # reclaim policy Delete: the directory went with it


SCRATCH_POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: scratch
spec:
  terminationGracePeriodSeconds: 2
  containers:
    - name: main
      image: busybox
      command: ["sh", "-c", "echo used > /mnt/mark; trap 'exit 0' TERM; while :; do sleep 0.2; done"]
      volumeMounts:
        - {name: work, mountPath: /mnt}
  volumes:
    - name: work
      ephemeral:
        volumeClaimTemplate:
          spec:
            accessModes: [ReadWriteOnce]
            resources:
              requests: {storage: 1Mi}
"""


def test_a_pods_generic_ephemeral_volume_lives_and_dies_with_it(nodes_cluster: Cluster) -> None:
    """The ephemeral volume controller makes the claim, the default class a volume; deleting the pod takes both."""
    c = nodes_cluster
    c.kubectl("apply", "-f", "-", input=SCRATCH_POD)
    c.kubectl("wait", "--for=condition=Ready", "pod/scratch", "--timeout=60s", timeout=70)
    pod = _json(c, "get", "pod", "scratch")
    claim = _json(c, "get", "pvc", "scratch-work")
    assert claim["metadata"]["ownerReferences"][0]["uid"] == pod["metadata"]["uid"]
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == "standard"
    volume = claim["spec"]["volumeName"]
    directory = Path(_json(c, "get", "pv", volume)["spec"]["hostPath"]["path"])
    assert (directory / "mark").read_text() == "used\n"
    c.kubectl("delete", "pod", "scratch", "--timeout=60s", timeout=70)
    eventually(lambda: c.kubectl("get", "pv", volume, check=False).returncode != 0)  # claim collected, volume deleted
    assert c.kubectl("get", "pvc", "scratch-work", check=False).returncode != 0
    assert not directory.exists()
