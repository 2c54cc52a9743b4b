"""Service cluster IPs and node ports: allocated at create, kept, released, never twice, repaired after a crash."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path
from typing import Any

import pytest

from pinnace.api import errors
from pinnace.apiserver.server import APIServer
from pinnace.apiserver.services import LEAK_REPAIRS
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.testenv import TestEnv
from pinnace.storage.sqlite import SQLiteStore

SERVICES = ResourceRef("", "v1", "services", namespaced=True)
ENDPOINTS = ResourceRef("", "v1", "endpoints", namespaced=True)
SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices", namespaced=True)
RANGE = ipaddress.ip_network("10.96.0.0/12")

Obj = dict[str, Any]


def svc(name: str, type_: str = "ClusterIP", **spec: Any) -> Obj:
    body: Obj = {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": name}, "type": type_}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def invalid_message(exc: pytest.ExceptionInfo[errors.StatusError]) -> str:
    assert exc.value.code == 422, exc.value
    return exc.value.message


async def test_cluster_ip_is_allocated_in_range_with_families(pinnace_env: TestEnv) -> None:
    created = await pinnace_env.rest.create(SERVICES, svc("web"), "default")
    spec = created["spec"]
    ip = ipaddress.ip_address(spec["clusterIP"])
    assert ip in RANGE and str(ip) != "10.96.0.1"
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    assert "nodePort" not in spec["ports"][0]


async def test_kubernetes_service_and_its_endpoints_exist(pinnace_env: TestEnv) -> None:
    kube = await pinnace_env.rest.get(SERVICES, "kubernetes", "default")
    assert kube["spec"]["clusterIP"] == "10.96.0.1"
    port = int(pinnace_env.url.rsplit(":", 1)[1])
    assert kube["spec"]["ports"] == [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}]
    assert "selector" not in kube["spec"]
    ep = await pinnace_env.rest.get(ENDPOINTS, "kubernetes", "default")
    assert ep["subsets"] == [
        {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
    ]
    es = await pinnace_env.rest.get(SLICES, "kubernetes", "default")
    assert es["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes"
    assert es["endpoints"][0]["addresses"] == ["127.0.0.1"]


async def test_requested_ip_is_honoured_and_refused_twice_or_out_of_range(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    created = await rest.create(SERVICES, svc("a", clusterIP="10.96.0.50"), "default")
    assert created["spec"]["clusterIPs"] == ["10.96.0.50"]
    with pytest.raises(errors.StatusError) as taken:
        await rest.create(SERVICES, svc("b", clusterIP="10.96.0.50"), "default")
    assert invalid_message(taken) == (
        'Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.50"}: '
        "failed to allocate IP 10.96.0.50: provided IP is already allocated"
    )
    with pytest.raises(errors.StatusError) as outside:
        await rest.create(SERVICES, svc("c", clusterIP="192.168.0.1"), "default")
    assert "the provided IP (192.168.0.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12" in (
        invalid_message(outside)
    )
    with pytest.raises(errors.StatusError) as kube_ip:
        await rest.create(SERVICES, svc("d", clusterIP="10.96.0.1"), "default")
    assert "provided IP is already allocated" in invalid_message(kube_ip)
    with pytest.raises(errors.StatusError) as garbage:
        await rest.create(SERVICES, svc("e", clusterIP="not-an-ip"), "default")
    assert "must be a valid IP address" in invalid_message(garbage)


async def test_headless_and_external_name_get_no_ip(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    headless = await rest.create(SERVICES, svc("h", clusterIP="None"), "default")
    assert headless["spec"]["clusterIPs"] == ["None"]
    assert headless["spec"]["ipFamilyPolicy"] == "SingleStack"
    bare = svc("h2", clusterIP="None")
    del bare["spec"]["selector"]
    no_selector = await rest.create(SERVICES, bare, "default")
    assert no_selector["spec"]["ipFamilyPolicy"] == "RequireDualStack"
    external = await rest.create(
        SERVICES,
        {"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "example.com"}},
        "default",
    )
    assert "clusterIP" not in external["spec"] and "ipFamilies" not in external["spec"]


async def test_dual_stack_requests_are_refused_on_a_single_stack_cluster(pinnace_env: TestEnv) -> None:
    with pytest.raises(errors.StatusError) as policy:
        await pinnace_env.rest.create(SERVICES, svc("ds", ipFamilyPolicy="RequireDualStack"), "default")
    assert "this cluster is not configured for dual-stack services" in invalid_message(policy)
    with pytest.raises(errors.StatusError) as family:
        await pinnace_env.rest.create(SERVICES, svc("v6", ipFamilies=["IPv6"]), "default")
    assert 'spec.ipFamilies[0]: Invalid value: "IPv6": not configured on this cluster' in invalid_message(family)


async def test_node_ports_allocated_kept_released(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    created = await rest.create(SERVICES, svc("np", "NodePort"), "default")
    port = created["spec"]["ports"][0]["nodePort"]
    assert 30000 <= port <= 32767
    asked = svc("np2", "NodePort")
    asked["spec"]["ports"][0]["nodePort"] = 30080
    assert (await rest.create(SERVICES, asked, "default"))["spec"]["ports"][0]["nodePort"] == 30080
    again = svc("np3", "NodePort")
    again["spec"]["ports"][0]["nodePort"] = 30080
    with pytest.raises(errors.StatusError) as taken:
        await rest.create(SERVICES, again, "default")
    assert invalid_message(taken) == (
        'Service "np3" is invalid: spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated'
    )
    again["spec"]["ports"][0]["nodePort"] = 80
    with pytest.raises(errors.StatusError) as outside:
        await rest.create(SERVICES, again, "default")
    assert "provided port is not in the valid range. The range of valid ports is 30000-32767" in invalid_message(
        outside
    )
    # An update that leaves the node port out keeps it.
    current = await rest.get(SERVICES, "np", "default")
    del current["spec"]["ports"][0]["nodePort"]
    current["metadata"]["labels"] = {"x": "y"}
    updated = await rest.update(SERVICES, current)
    assert updated["spec"]["ports"][0]["nodePort"] == port
    # Back to ClusterIP: the port goes, and another service may take it.
    await rest.patch(SERVICES, "np", {"spec": {"type": "ClusterIP"}}, "default")
    assert "nodePort" not in (await rest.get(SERVICES, "np", "default"))["spec"]["ports"][0]
    reuse = svc("np4", "NodePort")
    reuse["spec"]["ports"][0]["nodePort"] = port
    await rest.create(SERVICES, reuse, "default")
    # Deleting releases both the IP and the port.
    deleted = await rest.get(SERVICES, "np2", "default")
    await rest.delete(SERVICES, "np2", "default")
    asked["spec"]["clusterIP"] = deleted["spec"]["clusterIP"]
    recreated = await rest.create(SERVICES, asked, "default")
    assert recreated["spec"]["clusterIP"] == deleted["spec"]["clusterIP"]


async def test_cluster_ip_is_immutable_and_released_on_type_change(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    created = await rest.create(SERVICES, svc("imm"), "default")
    ip = created["spec"]["clusterIP"]
    with pytest.raises(errors.StatusError) as changed:
        moved = {"spec": {"clusterIP": "10.96.0.77", "clusterIPs": ["10.96.0.77"]}}
        await rest.patch(SERVICES, "imm", moved, "default")
    assert "may not change once set" in invalid_message(changed)
    await rest.patch(SERVICES, "imm", {"spec": {"type": "ExternalName", "externalName": "x.example.com"}}, "default")
    external = await rest.get(SERVICES, "imm", "default")
    assert "clusterIP" not in external["spec"]
    taken_again = await rest.create(SERVICES, svc("imm2", clusterIP=ip), "default")
    assert taken_again["spec"]["clusterIP"] == ip


async def test_dry_run_allocates_nothing(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    body = svc("dry", clusterIP="10.96.0.9")
    dry = await rest.request("POST", SERVICES.path("default"), params={"dryRun": "All"}, body=body)
    assert dry["spec"]["clusterIP"] == "10.96.0.9"
    real = await rest.create(SERVICES, svc("real", clusterIP="10.96.0.9"), "default")
    assert real["spec"]["clusterIP"] == "10.96.0.9"


async def test_concurrent_creates_never_share_an_ip_or_port(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    created = await asyncio.gather(*(rest.create(SERVICES, svc(f"c{i}", "NodePort"), "default") for i in range(40)))
    ips = {s["spec"]["clusterIP"] for s in created}
    ports = {s["spec"]["ports"][0]["nodePort"] for s in created}
    assert len(ips) == 40 and len(ports) == 40


async def test_two_servers_on_one_store_share_the_ranges(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    servers = [APIServer(store), APIServer(store)]
    clients: list[RestClient] = []
    try:
        for server in servers:
            await server.listen("127.0.0.1", 0)
            clients.append(RestClient(server.url))
        made = await asyncio.gather(
            *(clients[i % 2].create(SERVICES, svc(f"s{i}", "NodePort"), "default") for i in range(30))
        )
        assert len({s["spec"]["clusterIP"] for s in made}) == 30
        assert len({s["spec"]["ports"][0]["nodePort"] for s in made}) == 30
    finally:
        for client in clients:
            await client.close()
        for server in servers:
            await server.stop()
        await store.close()


async def test_restart_keeps_allocations_and_repair_releases_leaks(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store)
    await server.listen("127.0.0.1", 0)
    client = RestClient(server.url)
    try:
        kept = await client.create(SERVICES, svc("kept", "NodePort"), "default")
        # A crash between allocation and create leaves a value taken by no Service.
        await server.services.ips.allocate("10.96.0.200")
        await server.services.ports.allocate("30500")
    finally:
        await client.close()
        await server.stop()
    server = APIServer(store)
    await server.listen("127.0.0.1", 0)
    client = RestClient(server.url)
    try:
        with pytest.raises(errors.StatusError):
            await client.create(SERVICES, svc("dup", clusterIP=kept["spec"]["clusterIP"]), "default")
        assert "10.96.0.200" in await server.services.ips.taken_values()  # seen once, at start: not yet freed
        for _ in range(LEAK_REPAIRS - 1):
            await server.services.repair()
        assert "10.96.0.200" not in await server.services.ips.taken_values()
        assert "30500" not in await server.services.ports.taken_values()
        assert kept["spec"]["clusterIP"] in await server.services.ips.taken_values()
        assert "10.96.0.1" in await server.services.ips.taken_values()
    finally:
        await client.close()
        await server.stop()
        await store.close()
