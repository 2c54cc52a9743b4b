"""CNI with the real plugins: ADD gives an address from the node's podCIDR, DEL frees it, errors say why."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinnace.node.cni import CNI, DEFAULT_PLUGIN_DIRS, node_conflist
from pinnace.node.cri import PortMapping, RuntimeFailure
from pinnace.node.oci import netns

from .conftest import make_cni


@pytest.fixture
def pod_netns() -> Iterator[str]:
    name = f"pnt-cni-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield netns.netns_path(name)
    subprocess.run(["ip", "netns", "delete", name], check=False)


def _leases(network: dict[str, str], name: str) -> set[str]:
    directory = os.path.join(network["data"], "ipam", name)
    return {f for f in os.listdir(directory) if f[0].isdigit()} if os.path.isdir(directory) else set()


async def test_add_gives_an_address_check_passes_and_del_frees_it(network: dict[str, str], pod_netns: str) -> None:
    cni = make_cni(network, "pinnace-cni-test")
    attachment = await cni.add("pod-a", pod_netns)
    (ip,) = attachment.ips
    assert ip.startswith(network["cidr"].rsplit(".", 1)[0] + ".")
    assert _leases(network, "pinnace-cni-test") == {ip}
    inside = subprocess.run(["ip", "netns", "exec", os.path.basename(pod_netns), "ip", "-o", "addr"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert f"eth0    inet {ip}/24" in inside
    await cni.check("pod-a", pod_netns)
    await cni.delete("pod-a", pod_netns)
    assert _leases(network, "pinnace-cni-test") == set()
    await cni.delete("pod-a", pod_netns)  # idempotent


async def test_host_ports_reach_portmap_as_runtime_config(network: dict[str, str], pod_netns: str) -> None:
    cni = make_cni(network, "pinnace-cni-ports")
    await cni.add("pod-b", pod_netns, port_mappings=[PortMapping(container_port=80, host_port=18080)])
    try:
        rules = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
        assert "--dport 18080" in rules
        result, mappings = cni.cached("pod-b")
        assert result is not None and mappings == [PortMapping(80, 18080)]
    finally:
        await cni.delete("pod-b", pod_netns)
    rules = subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True, check=True).stdout
    assert "--dport 18080" not in rules


async def test_plugin_errors_become_runtime_failures(network: dict[str, str], pod_netns: str) -> None:
    bad = node_conflist(network="pinnace-bad", bridge=network["bridge"], pod_cidr="not-a-cidr",
                        data_dir=os.path.join(network["data"], "ipam"))  # fmt: skip
    cni = CNI(bad, cache_dir=os.path.join(network["data"], "cache"))
    with pytest.raises(RuntimeFailure, match=r"plugin type='bridge' ADD failed: .*not-a-cidr"):
        await cni.add("pod-c", pod_netns)
    missing = CNI({"cniVersion": "1.0.0", "name": "x", "plugins": [{"type": "nonesuch"}]}, cache_dir="/tmp")
    with pytest.raises(RuntimeFailure, match="failed to find plugin 'nonesuch'"):
        await missing.add("pod-d", pod_netns)


@pytest.fixture
def logged_plugins(tmp_path: Path) -> Path:
    """A plugin directory whose plugins note each call (``<type> <command>``) and run the real plugin."""
    directory = tmp_path / "plugins"
    directory.mkdir()
    for plugin in ("bridge", "host-local", "portmap", "loopback"):
        script = directory / plugin
        real = next(os.path.join(d, plugin) for d in DEFAULT_PLUGIN_DIRS if os.path.exists(os.path.join(d, plugin)))
        script.write_text(f'#!/bin/sh\necho "{plugin} $CNI_COMMAND" >> {tmp_path}/calls\nexec {real}\n')
        script.chmod(0o755)
    return directory


async def test_portmap_runs_only_for_pods_with_host_ports(
    network: dict[str, str], pod_netns: str, logged_plugins: Path
) -> None:
    conflist = node_conflist(network="pinnace-cni-chain", bridge=network["bridge"], pod_cidr=network["cidr"],
                             data_dir=os.path.join(network["data"], "ipam"))  # fmt: skip
    cni = CNI(conflist, plugin_dirs=[str(logged_plugins)], cache_dir=os.path.join(network["data"], "cache"))
    calls = logged_plugins.parent / "calls"
    await cni.add("pod-e", pod_netns)
    await cni.delete("pod-e", pod_netns)
    assert calls.read_text().split("\n")[:-1] == [
        "bridge ADD", "host-local ADD", "loopback ADD", "loopback DEL", "bridge DEL", "host-local DEL",
    ]  # fmt: skip
    calls.unlink()
    await cni.add("pod-f", pod_netns, port_mappings=[PortMapping(container_port=80, host_port=18081)])
    await cni.delete("pod-f", pod_netns)
    assert calls.read_text().split("\n")[:-1] == [
        "bridge ADD", "host-local ADD", "portmap ADD", "loopback ADD",
        "loopback DEL", "portmap DEL", "bridge DEL", "host-local DEL",
    ]  # fmt: skip
    calls.unlink()
    await cni.delete("pod-g", pod_netns)  # no cached ADD: every plugin's DEL runs
    assert "portmap DEL" in calls.read_text()
