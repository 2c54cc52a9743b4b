"""``pinnace up --nodes 3 --runtime oci`` as root, with the real kubectl: pods are crun/runc containers on three nodes,
each node in a network namespace of its own on a host bridge, and pods reach each other across nodes by pod IP.

One cluster for the module; the image is built offline from the static busybox (``pinnace image build``).
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.conftest import Cluster, free_port, run_pinnace, start_cluster, stop_cluster
from tests.e2e.kubectl import eventually, get_json, table
from tests.e2e.test_kubectl_streams import drive_tty

from pinnace.cluster.netslot import NetworkSlot, network_slot
from pinnace.node.oci.factory import default_oci_runtime

pytestmark = pytest.mark.slow
IMAGE = "pinnace.test/busybox:1"
#: What ``pinnace up --runtime oci`` runs containers with when not told (crun if installed).
OCI_RUNTIME = default_oci_runtime()
HTTPD = "mkdir -p /www && echo served-by-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"


@pytest.fixture(scope="module")
def oci_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    if shutil.which("kubectl") is None:
        pytest.fail("kubectl is not on the PATH: the e2e tests need the real kubectl 1.32")
    base = tmp_path_factory.mktemp("oci")
    data = base / "data"
    built = run_pinnace("image", "build", "--from-binary", "/bin/busybox", "--tag", IMAGE, "--data-dir", str(data))
    assert built.returncode == 0, built.stderr
    args = ["--nodes", "3", "--runtime", "oci", "--metric-resolution", "3"]
    cluster = start_cluster(data, base / "home", extra_args=args)
    try:
        eventually(lambda: _ready_nodes(cluster) == 3, timeout=60)
        yield cluster
    finally:
        # Pods whose PID 1 ignores SIGTERM would hold the agents' shutdown for their grace period. The Deployment lets
        # go of its pods first: a cascade would have the garbage collector delete them with their own 30 s.
        cluster.kubectl("delete", "deployments,replicasets", "--all", "--cascade=orphan", check=False, timeout=60)
        cluster.kubectl("delete", "pods", "--all", "--grace-period=1", check=False, timeout=60)
        bridge = _net(cluster).bridge
        out = stop_cluster(cluster)
        leftovers = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=False).stdout
        assert bridge not in leftovers and bridge not in links, out[-3000:]


def _net(cluster: Cluster) -> NetworkSlot:
    """The cluster's network slot: pinnace0, 172.18.0.0/16, 10.244.0.0/16 … unless another cluster on the host holds
    that one (:mod:`pinnace.cluster.netslot`)."""
    return network_slot(json.loads((cluster.data_dir / "network.json").read_text())["slot"])


def _node_address(cluster: Cluster, index: int) -> str:
    """Node ``index``'s address on its cluster's bridge (172.18.0.2 for node-0 of the first cluster on the host)."""
    return str(ipaddress.ip_network(_net(cluster).node_subnet).network_address + 2 + index)


def _pod_cidr(cluster: Cluster, index: int) -> str:
    """Node ``index``'s podCIDR (10.244.<index>.0/24 for the first cluster on the host)."""
    return str(list(ipaddress.ip_network(_net(cluster).cluster_cidr).subnets(new_prefix=24))[index])


def _ready_nodes(cluster: Cluster) -> int:
    nodes = get_json(cluster, "nodes")["items"]
    return sum(
        1 for n in nodes for c in n["status"].get("conditions") or [] if c["type"] == "Ready" and c["status"] == "True"
    )


def _apply(cluster: Cluster, doc: dict[str, Any]) -> None:
    done = cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))
    assert done.returncode == 0, done.stderr


def _pod(name: str, node: str, script: str, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": ["sh", "-c", script],
                    **container,
                }
            ],
        },
    }


def test_nodes_have_their_own_addresses_and_pod_cidrs(oci_cluster: Cluster) -> None:
    nodes = get_json(oci_cluster, "nodes")["items"]
    addresses = sorted(a["address"] for n in nodes for a in n["status"]["addresses"] if a["type"] == "InternalIP")
    assert addresses == [_node_address(oci_cluster, i) for i in range(3)]  # 172.18.0.2 …
    assert sorted(n["spec"]["podCIDR"] for n in nodes) == [_pod_cidr(oci_cluster, i) for i in range(3)]
    assert all(n["status"]["nodeInfo"]["containerRuntimeVersion"].startswith(f"{OCI_RUNTIME}://") for n in nodes)


def test_a_deployments_pods_run(oci_cluster: Cluster) -> None:
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "httpd",
                            "image": IMAGE,
                            "imagePullPolicy": "IfNotPresent",
                            "command": ["sh", "-c", HTTPD],
                        }
                    ]
                },
            },
        },
    }
    _apply(oci_cluster, deployment)

    def running() -> list[dict[str, Any]]:
        pods = get_json(oci_cluster, "pods", "-l", "app=web")["items"]
        ok = [p for p in pods if p["status"].get("phase") == "Running" and p["status"].get("podIP")]
        return ok if len(ok) == 3 else []

    pods = eventually(running, timeout=90)
    pod_range = ipaddress.ip_network(_net(oci_cluster).cluster_cidr)
    assert all(ipaddress.ip_address(p["status"]["podIP"]) in pod_range for p in pods)


def test_http_from_a_pod_on_one_node_to_a_pod_on_another(oci_cluster: Cluster) -> None:
    _apply(oci_cluster, _pod("server", "node-1", HTTPD))
    server = eventually(lambda: _running_ip(oci_cluster, "server"), timeout=60)
    assert ipaddress.ip_address(server) in ipaddress.ip_network(_pod_cidr(oci_cluster, 1))
    client = f"for i in $(seq 1 50); do wget -q -O - http://{server}:8080/index.html && exit 0; sleep 0.2; done; exit 1"
    _apply(oci_cluster, _pod("client", "node-0", client))
    phase = eventually(lambda: _finished(oci_cluster, "client"), timeout=60)
    logs = oci_cluster.kubectl("logs", "client").stdout
    assert (phase, logs) == ("Succeeded", "served-by-server\n")


def test_kubectl_logs_exec_and_port_forward_reach_a_container(oci_cluster: Cluster) -> None:
    _apply(oci_cluster, _pod("streams", "node-2", "echo hello from runc; " + HTTPD))
    eventually(lambda: _running_ip(oci_cluster, "streams"), timeout=60)
    assert eventually(lambda: oci_cluster.kubectl("logs", "streams").stdout, timeout=20) == "hello from runc\n"
    script = "cat /www/index.html; hostname; exit 3"
    done = oci_cluster.kubectl("exec", "streams", "--", "sh", "-c", script, check=False)
    assert (done.returncode, done.stdout) == (3, "served-by-streams\nstreams\n")
    piped = oci_cluster.kubectl("exec", "-i", "streams", "--", "tr", "a-z", "A-Z", input="through stdin\n")
    assert piped.stdout == "THROUGH STDIN\n"
    local = free_port()
    forward = subprocess.Popen(
        ["kubectl", "--kubeconfig", str(oci_cluster.kubeconfig), "port-forward", "pod/streams", f"{local}:8080"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=oci_cluster.env,
    )  # fmt: skip
    try:
        assert forward.stdout is not None
        assert forward.stdout.readline().startswith(f"Forwarding from 127.0.0.1:{local} -> 8080")

        def fetch() -> bytes | None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{local}/index.html", timeout=5) as response:
                    return bytes(response.read())
            except OSError:
                return None

        assert eventually(fetch, 20) == b"served-by-streams\n"
    finally:
        forward.terminate()
        forward.wait(10)


def test_kubectl_exec_with_a_terminal(oci_cluster: Cluster) -> None:
    _apply(oci_cluster, _pod("terminal", "node-0", "sleep 600"))
    eventually(lambda: _running_ip(oci_cluster, "terminal"), timeout=60)
    out, code = drive_tty(
        oci_cluster, ["exec", "-it", "terminal", "--", "sh"], [b"echo size=$(stty size) tty=$(tty)\r", b"exit 7\r"]
    )
    assert b"size=40 120 tty=/dev/pts/" in out
    assert code == 7


def test_kubectl_debug_with_a_target_sees_the_targets_processes(oci_cluster: Cluster) -> None:
    _apply(oci_cluster, _pod("debuggee", "node-1", "sleep 600"))
    eventually(lambda: _running_ip(oci_cluster, "debuggee"), timeout=60)
    image = [f"--image={IMAGE}", "--image-pull-policy=IfNotPresent", "--profile=general"]

    def debug(name: str, *target: str) -> str:
        oci_cluster.kubectl("debug", "debuggee", *image, f"--container={name}", *target, "--", "ps", "-o", "args")

        def logged() -> str:
            return oci_cluster.kubectl("logs", "debuggee", "-c", name, check=False).stdout

        return str(eventually(lambda: "ps -o args" in logged() and logged(), timeout=60))

    # In the target's process namespace, the debugger sees the target's process; in its own, only itself.
    assert debug("with-target", "--target=main").split("\n")[1:3] == ["sleep 600", "ps -o args"]
    assert debug("alone").split("\n")[1:2] == ["ps -o args"]


def test_a_host_port_reaches_the_pod_at_its_nodes_address(oci_cluster: Cluster) -> None:
    ports = [{"containerPort": 8080, "hostPort": 18080}]
    _apply(oci_cluster, _pod("hostport", "node-1", HTTPD, ports=ports))
    eventually(lambda: _running_ip(oci_cluster, "hostport"), timeout=60)

    def fetch() -> bytes | None:
        url = f"http://{_node_address(oci_cluster, 1)}:18080/index.html"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return bytes(response.read())
        except OSError:
            return None

    assert eventually(fetch, 20) == b"served-by-hostport\n"


def test_kubectl_delete_pod_stops_it_gracefully_and_leaves_nothing(oci_cluster: Cluster) -> None:
    script = "trap 'echo stopping; exit 0' TERM; echo up; while true; do sleep 0.2; done"
    _apply(oci_cluster, _pod("doomed", "node-2", script))
    eventually(lambda: _running_ip(oci_cluster, "doomed"), timeout=60)
    eventually(lambda: oci_cluster.kubectl("logs", "doomed").stdout == "up\n", timeout=20)
    container_id = get_json(oci_cluster, "pod", "doomed")["status"]["containerStatuses"][0]["containerID"]
    container_id = container_id.removeprefix("oci://")
    runtime_root = oci_cluster.data_dir / "nodes" / "node-2" / "runtime" / "oci" / "runtime"
    listed = subprocess.run([OCI_RUNTIME, "--root", str(runtime_root), "list", "-q"], capture_output=True, text=True)
    assert container_id in listed.stdout.split()
    started = time.monotonic()
    oci_cluster.kubectl("delete", "pod", "doomed", "--grace-period=20", timeout=60)
    assert time.monotonic() - started < 15  # the TERM handler ends it long before its grace period
    listed = subprocess.run([OCI_RUNTIME, "--root", str(runtime_root), "list", "-q"], capture_output=True, text=True)
    assert container_id not in listed.stdout.split()
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
    assert container_id not in processes


def test_a_memory_hog_is_oom_killed(oci_cluster: Cluster) -> None:
    hog = "x=$(head -c 200000000 /dev/zero | tr '\\0' a); echo survived"
    _apply(oci_cluster, _pod("hog", "node-2", hog, resources={"limits": {"memory": "16Mi"}}))
    eventually(lambda: _finished(oci_cluster, "hog"), timeout=60)
    terminated = get_json(oci_cluster, "pod", "hog")["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)


def test_liveness_restarts_a_container_and_readiness_gates_its_endpoints(oci_cluster: Cluster) -> None:
    """Probes on the oci runtime: exec (through crun/runc exec) for liveness, httpGet to the pod IP for readiness."""
    pod = _pod("probed", "node-1", "echo started; " + HTTPD)
    pod["metadata"]["labels"] = {"app": "probed"}
    pod["spec"]["restartPolicy"] = "Always"
    pod["spec"]["containers"][0].update(
        # httpd is PID 1 and ignores SIGTERM: the kill waits out the probe's grace period (the pod's would be 30 s).
        livenessProbe={"exec": {"command": ["sh", "-c", "test ! -e /tmp/die"]}, "periodSeconds": 1,
                       "failureThreshold": 1, "terminationGracePeriodSeconds": 1},
        readinessProbe={"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 1},
    )  # fmt: skip
    _apply(oci_cluster, pod)
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "probed", "namespace": "default"},
               "spec": {"selector": {"app": "probed"}, "ports": [{"port": 80, "targetPort": 8080}]}}  # fmt: skip
    _apply(oci_cluster, service)

    def subsets(key: str) -> list[dict[str, Any]]:
        endpoints = get_json(oci_cluster, "endpoints", "probed")
        return [s for s in endpoints.get("subsets") or [] if s.get(key)]

    ip = eventually(lambda: _running_ip(oci_cluster, "probed"), timeout=60)
    eventually(lambda: subsets("notReadyAddresses"), timeout=30)  # httpd answers 404 for /ready
    assert not subsets("addresses") and not _container(oci_cluster, "probed")["ready"]
    oci_cluster.kubectl("exec", "probed", "--", "touch", "/www/ready")
    ready = eventually(lambda: subsets("addresses"), timeout=30)
    assert ready[0]["addresses"][0]["ip"] == ip and _container(oci_cluster, "probed")["ready"]

    oci_cluster.kubectl("exec", "probed", "--", "touch", "/tmp/die")
    eventually(lambda: _container(oci_cluster, "probed")["restartCount"] >= 1, timeout=60)
    assert oci_cluster.kubectl("logs", "probed", "--previous").stdout == "started\n"
    events = oci_cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=probed").stdout
    assert "Liveness probe failed" in events
    # The new container has a fresh root filesystem: no /www/ready, so it is not ready until told again.
    eventually(lambda: subsets("notReadyAddresses") and not subsets("addresses"), timeout=30)
    oci_cluster.kubectl("delete", "pod,service", "probed", "--grace-period=1", timeout=60)


def _container(cluster: Cluster, name: str) -> dict[str, Any]:
    return dict(get_json(cluster, "pod", name)["status"]["containerStatuses"][0])


def _http_service(name: str, **spec: Any) -> dict[str, Any]:
    """A Service ``name`` on port 80 for the pods labelled ``app: <name>`` that serve HTTPD on 8080."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {**spec, "selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]},
    }


def _running_ip(cluster: Cluster, name: str) -> str:
    status = get_json(cluster, "pod", name)["status"]
    return str(status.get("podIP") or "") if status.get("phase") == "Running" else ""


def _finished(cluster: Cluster, name: str) -> str:
    phase = str(get_json(cluster, "pod", name)["status"].get("phase") or "")
    return phase if phase in ("Succeeded", "Failed") else ""


def test_a_service_routes_a_pod_on_one_node_to_a_pod_on_another_and_the_host_to_its_node_port(
    oci_cluster: Cluster,
) -> None:
    """Each node's service proxy (iptables) routes the ClusterIP and the NodePort to the ready endpoint."""
    backend = _pod("backend", "node-2", HTTPD)
    backend["metadata"]["labels"] = {"app": "backend"}
    _apply(oci_cluster, backend)
    _apply(oci_cluster, _http_service("backend", type="NodePort"))
    eventually(lambda: _running_ip(oci_cluster, "backend"), timeout=60)
    spec = get_json(oci_cluster, "service", "backend")["spec"]
    cluster_ip, node_port = spec["clusterIP"], spec["ports"][0]["nodePort"]
    # The backend; then the kubernetes Service, whose endpoint is the API server on the node's 127.0.0.1 (relayed to
    # the host): a TCP connection (busybox's TLS client cannot talk to the API server's TLS) proves the route.
    kubernetes = next(ipaddress.ip_network(_net(oci_cluster).service_cidr).hosts())  # 10.96.0.1
    backend, api = f"wget -q -O - http://{cluster_ip}/index.html", f"nc -w 2 {kubernetes} 443 </dev/null"
    client = (
        f"for i in $(seq 1 50); do {backend} && break; sleep 0.2; done; "
        f"for i in $(seq 1 50); do {api} && echo api-reached && exit 0; sleep 0.2; done; exit 1"
    )
    _apply(oci_cluster, _pod("service-client", "node-0", client))
    # A client beside the backend on node-2: the reply crosses the node's bridge (bridge netfilter un-NATs it).
    _apply(oci_cluster, _pod("service-neighbour", "node-2", f"for i in $(seq 1 50); do {backend} && exit 0; done"))
    phase = eventually(lambda: _finished(oci_cluster, "service-client"), timeout=60)
    logs = oci_cluster.kubectl("logs", "service-client").stdout
    assert (phase, logs) == ("Succeeded", "served-by-backend\napi-reached\n")
    phase = eventually(lambda: _finished(oci_cluster, "service-neighbour"), timeout=60)
    assert (phase, oci_cluster.kubectl("logs", "service-neighbour").stdout) == ("Succeeded", "served-by-backend\n")

    def fetch() -> bytes | None:  # node-1's address: its proxy forwards to node-2, masqueraded
        try:
            with urllib.request.urlopen(f"http://{_node_address(oci_cluster, 1)}:{node_port}/index.html",
                                        timeout=5) as response:  # fmt: skip
                return bytes(response.read())
        except OSError:
            return None

    assert eventually(fetch, 20) == b"served-by-backend\n"
    rules = subprocess.run(["ip", "netns", "exec", f"{_net(oci_cluster).bridge}-0", "iptables-save", "-t", "nat"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "default/backend cluster IP" in rules and f"{cluster_ip}/32" in rules  # upstream's chains, node-0's netns


def test_a_pod_resolves_a_service_on_another_node_through_the_cluster_dns(oci_cluster: Cluster) -> None:
    """``kube-system/kube-dns`` at the tenth address of the Service range, served on the host's end of the node bridge:
    a container's resolv.conf names it with its namespace's search path, and a Service's name resolves to its cluster
    IP through the node's service proxy."""
    dns = get_json(oci_cluster, "service", "kube-dns", "-n", "kube-system")["spec"]
    assert dns["clusterIP"] == str(ipaddress.ip_network(_net(oci_cluster).service_cidr).network_address + 10)
    backend = _pod("resolvable", "node-2", HTTPD)
    backend["metadata"]["labels"] = {"app": "resolvable"}
    _apply(oci_cluster, backend)
    _apply(oci_cluster, _http_service("resolvable"))
    cluster_ip = get_json(oci_cluster, "service", "resolvable")["spec"]["clusterIP"]
    name = "resolvable.default.svc.cluster.local"
    client = (
        f"cat /etc/resolv.conf; for i in $(seq 1 100); do nslookup {name} >/tmp/out 2>&1; "
        f"grep -q 'Address: {cluster_ip}' /tmp/out && wget -q -O - http://{cluster_ip}/index.html && exit 0; "
        "sleep 0.3; done; cat /tmp/out; exit 1"
    )
    _apply(oci_cluster, _pod("resolver", "node-0", client))
    phase = eventually(lambda: _finished(oci_cluster, "resolver"), timeout=90)
    logs = oci_cluster.kubectl("logs", "resolver").stdout
    assert phase == "Succeeded", logs
    assert f"nameserver {dns['clusterIP']}" in logs
    assert "search default.svc.cluster.local svc.cluster.local cluster.local" in logs
    assert logs.endswith("served-by-resolvable\n")


def test_kubectl_top_shows_a_containers_cpu_within_its_limit(oci_cluster: Cluster) -> None:
    # A busy loop capped at 300m by its cgroup (runc applies the limit): the metrics pipeline (the kubelet's stats
    # from the container's cgroup, the metrics server, the aggregation layer) shows what the cap allows.
    limits = {"limits": {"cpu": "300m", "memory": "32Mi"}}
    _apply(oci_cluster, _pod("burner", "node-2", "while :; do :; done", resources=limits))
    eventually(lambda: _running_ip(oci_cluster, "burner"), timeout=60)

    def top() -> list[str]:
        done = oci_cluster.kubectl("top", "pod", "burner", "--containers", check=False)
        rows = table(done.stdout) if done.returncode == 0 else []
        return rows[1] if len(rows) > 1 and rows[1][2] != "0m" else []

    pod, container, cpu, memory = eventually(top, timeout=60, interval=1)
    assert (pod, container) == ("burner", "main")
    assert 150 <= int(cpu.rstrip("m")) <= 360, cpu
    assert memory.endswith("Mi")
    nodes = table(oci_cluster.kubectl("top", "node").stdout)
    assert sorted(row[0] for row in nodes[1:]) == ["node-0", "node-1", "node-2"]
    oci_cluster.kubectl("delete", "pod", "burner", "--grace-period=1")
