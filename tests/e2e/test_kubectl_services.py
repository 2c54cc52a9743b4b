"""Services, endpoints and service accounts with the real kubectl against ``pinnace up --sim-nodes 5``."""

from __future__ import annotations

import base64
import ipaddress
import json
from typing import Any, TypeVar

from tests.e2e.conftest import Cluster
from tests.e2e.kubectl import eventually, get_json

T = TypeVar("T")

RANGE = ipaddress.ip_network("10.96.0.0/12")


def set_pod_status(cluster: Cluster, name: str, ip: str, *, ready: bool) -> None:
    status = {
        "status": {
            "phase": "Running",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
    }
    cluster.kubectl("patch", "pod", name, "--subresource=status", "--type=merge", "-p", json.dumps(status))


def test_expose_and_create_service_get_cluster_ips_in_range(sim_cluster: Cluster) -> None:
    sim_cluster.kubectl("create", "deployment", "web", "--image=nginx", "--port=80")
    sim_cluster.kubectl("expose", "deployment", "web", "--port=80", "--target-port=80")
    web = get_json(sim_cluster, "service", "web")
    assert ipaddress.ip_address(web["spec"]["clusterIP"]) in RANGE
    assert web["spec"]["ipFamilies"] == ["IPv4"]
    sim_cluster.kubectl("create", "service", "clusterip", "plain", "--tcp=80:8080")
    plain = get_json(sim_cluster, "service", "plain")
    assert ipaddress.ip_address(plain["spec"]["clusterIP"]) in RANGE
    assert plain["spec"]["clusterIP"] != web["spec"]["clusterIP"]
    kube = get_json(sim_cluster, "service", "kubernetes")
    assert kube["spec"]["clusterIP"] == "10.96.0.1"
    taken = sim_cluster.kubectl(
        "create",
        "service",
        "clusterip",
        "clash",
        "--tcp=80:80",
        f"--clusterip={plain['spec']['clusterIP']}",
        check=False,
    )
    assert taken.returncode != 0 and "provided IP is already allocated" in taken.stderr


def test_node_port_service_gets_a_port_in_range(sim_cluster: Cluster) -> None:
    sim_cluster.kubectl("create", "service", "nodeport", "np", "--tcp=80:8080")
    np = get_json(sim_cluster, "service", "np")
    assert 30000 <= np["spec"]["ports"][0]["nodePort"] <= 32767
    listed = sim_cluster.kubectl("get", "service", "np").stdout
    assert f"80:{np['spec']['ports'][0]['nodePort']}/TCP" in listed


def test_endpoints_follow_pod_readiness(sim_cluster: Cluster) -> None:
    sim_cluster.kubectl("create", "service", "clusterip", "direct", "--tcp=80:8080")
    # Bound to a node nobody runs, so only this test decides the pod's readiness.
    overrides = json.dumps({"spec": {"nodeName": "ghost-node"}})
    sim_cluster.kubectl("run", "ep-a", "--image=nginx", "--labels=app=direct", f"--overrides={overrides}")
    set_pod_status(sim_cluster, "ep-a", "10.244.9.5", ready=False)

    def not_ready_listed() -> bool:
        got = sim_cluster.kubectl("get", "endpoints", "direct", "-o", "json", check=False)
        subsets = (json.loads(got.stdout).get("subsets") or []) if got.returncode == 0 else []
        return bool(subsets) and subsets[0].get("notReadyAddresses", [{}])[0].get("ip") == "10.244.9.5"

    eventually(not_ready_listed)
    assert "10.244.9.5" not in sim_cluster.kubectl("get", "endpoints", "direct").stdout  # only ready ones show

    set_pod_status(sim_cluster, "ep-a", "10.244.9.5", ready=True)
    eventually(lambda: "10.244.9.5:8080" in sim_cluster.kubectl("get", "endpoints", "direct").stdout)
    described = sim_cluster.kubectl("describe", "service", "direct").stdout
    assert any(line.startswith("Endpoints:") and "10.244.9.5:8080" in line for line in described.splitlines())

    def slice_ready() -> dict[str, Any] | None:
        slices = get_json(sim_cluster, "endpointslices", "-l", "kubernetes.io/service-name=direct")["items"]
        endpoints = [e for s in slices for e in s.get("endpoints") or []]
        return endpoints[0] if endpoints and endpoints[0]["conditions"]["ready"] else None

    endpoint = eventually(slice_ready)
    assert endpoint["addresses"] == ["10.244.9.5"]
    assert endpoint["targetRef"]["name"] == "ep-a"
    table = sim_cluster.kubectl("get", "endpointslices", "-l", "kubernetes.io/service-name=direct").stdout
    assert "IPv4" in table and "8080" in table and "10.244.9.5" in table

    set_pod_status(sim_cluster, "ep-a", "10.244.9.5", ready=False)
    eventually(lambda: "10.244.9.5:8080" not in sim_cluster.kubectl("get", "endpoints", "direct").stdout)


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    value: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return value


def test_create_token_and_default_service_accounts(sim_cluster: Cluster) -> None:
    sim_cluster.kubectl("create", "namespace", "e2e-sa")
    eventually(lambda: "default" in sim_cluster.kubectl("get", "sa", "-n", "e2e-sa", check=False).stdout)
    account = get_json(sim_cluster, "sa", "default", "-n", "e2e-sa")
    token = sim_cluster.kubectl("create", "token", "default", "-n", "e2e-sa").stdout.strip()
    claims = _claims(token)
    assert claims["iss"] == "https://kubernetes.default.svc.cluster.local"
    assert claims["sub"] == "system:serviceaccount:e2e-sa:default"
    assert claims["aud"] == ["https://kubernetes.default.svc.cluster.local"]
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["kubernetes.io"]["serviceaccount"] == {"name": "default", "uid": account["metadata"]["uid"]}
    custom = sim_cluster.kubectl(
        "create", "token", "default", "-n", "e2e-sa", "--audience=vault", "--duration=2h"
    ).stdout.strip()
    assert _claims(custom)["aud"] == ["vault"] and _claims(custom)["exp"] - _claims(custom)["iat"] == 7200
    short = sim_cluster.kubectl("create", "token", "default", "-n", "e2e-sa", "--duration=1m", check=False)
    assert short.returncode != 0 and "may not specify a duration less than 10 minutes" in short.stderr
