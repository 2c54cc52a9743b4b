"""When ``pinnace up`` serves cluster DNS, where, and what it publishes (the parts without a server)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.cluster.clusterdns import dns_bind_address, dns_endpoint_slice, dns_service, dns_service_ip
from pinnace.cluster.controller_manager import ControllerManagerConfig
from pinnace.cluster.local import ClusterConfig, LocalCluster
from pinnace.cluster.nodes import NodesConfig


def test_kubeadms_address_is_the_tenth_of_the_service_range() -> None:
    assert dns_service_ip("10.96.0.0/12") == "10.96.0.10"
    assert dns_service_ip("10.112.0.0/12") == "10.112.0.10"  # a second cluster's slot
    assert dns_service_ip("10.0.0.0/16, fd00::/108") == "10.0.0.10"  # dual-stack: the first family's


def test_the_service_and_its_slice() -> None:
    service = dns_service("10.96.0.10")
    assert service["metadata"]["namespace"] == "kube-system" and service["metadata"]["name"] == "kube-dns"
    assert service["spec"]["clusterIP"] == "10.96.0.10" and "selector" not in service["spec"]
    slice_ = dns_endpoint_slice("kube-dns-x", "fd00::1", 5353)
    assert slice_["addressType"] == "IPv6" and slice_["endpoints"][0]["addresses"] == ["fd00::1"]
    assert {(p["port"], p["protocol"]) for p in slice_["ports"]} == {(5353, "UDP"), (5353, "TCP")}


def test_oci_pods_reach_the_host_on_the_bridge_and_process_pods_on_loopback() -> None:
    assert dns_bind_address(["process", "oci"], bridge_host="172.18.0.1", loopback="127.0.0.1") == "172.18.0.1"
    assert dns_bind_address(["process"], bridge_host="172.18.0.1", loopback="127.0.1.1") == "127.0.1.1"


@pytest.mark.parametrize(
    ("euid", "nodes", "controllers", "asked", "served"),
    [
        (0, 1, ("*",), True, True),
        (1000, 1, ("*",), True, False),  # port 53 needs root
        (0, 0, ("*",), True, False),  # no node agent: no pod to serve
        (0, 1, (), True, False),  # no controller manager to run it
        (0, 1, ("*",), False, False),  # turned off
    ],
)
def test_served_only_as_root_with_nodes_and_a_controller_manager(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    euid: int,
    nodes: int,
    controllers: tuple[str, ...],
    asked: bool,
    served: bool,
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: euid)
    config = ClusterConfig(tmp_path, nodes=NodesConfig.count(nodes), cluster_dns=asked)
    cm = ControllerManagerConfig(controllers=controllers)
    assert LocalCluster(config)._serves_dns(cm) is served


def test_each_host_publishes_a_slice_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from pinnace.cluster import selfendpoint

    monkeypatch.setattr(selfendpoint.socket, "gethostname", lambda: "CP_1.Example.com")
    assert selfendpoint.host_slice_suffix() == "cp-1-example-com"
    monkeypatch.setattr(selfendpoint.socket, "gethostname", lambda: "___")
    assert selfendpoint.host_slice_suffix() == "host"
