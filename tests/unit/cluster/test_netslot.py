"""Network slots: each cluster on a host its own bridge, ranges and chains; held while it runs, kept across restarts."""

from __future__ import annotations

import ipaddress
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pinnace.cluster.local import ClusterConfig, LocalCluster
from pinnace.cluster.netslot import (
    MAX_SLOTS,
    NETWORK_FILE,
    SlotBusyError,
    claim_slot,
    network_slot,
    recorded_slot,
)
from pinnace.cluster.nodenet import ClusterNetwork, NetnsPlacer, placer_for
from pinnace.cluster.nodes import LoopbackPlacer, NodeSpec
from pinnace.cluster.storeconfig import StoreConfig


def test_slot_zero_is_the_single_cluster_default_and_the_next_slots_move_every_range_aside() -> None:
    first = network_slot(0)
    assert (first.bridge, first.node_subnet, first.cluster_cidr, first.service_cidr) == (
        "pinnace0", "172.18.0.0/16", "10.244.0.0/16", "10.96.0.0/12",
    )  # fmt: skip
    assert (first.loopback_base, first.chain_prefix) == ("127.0.0.1", "KUBE-")
    second = network_slot(1)
    assert (second.bridge, second.node_subnet, second.cluster_cidr, second.service_cidr) == (
        "pinnace1", "172.19.0.0/16", "10.245.0.0/16", "10.112.0.0/12",
    )  # fmt: skip
    assert (second.loopback_base, second.chain_prefix) == ("127.0.1.1", "KUBE1-")
    with pytest.raises(ValueError, match="out of range"):
        network_slot(MAX_SLOTS)


def test_no_two_ranges_of_any_slots_overlap() -> None:
    ranges = []
    for index in range(MAX_SLOTS):
        slot = network_slot(index)
        loopback = ipaddress.ip_network(f"{slot.loopback_base}/24", strict=False)
        ranges += [(index, kind, ipaddress.ip_network(r)) for kind, r in (
            ("nodes", slot.node_subnet), ("pods", slot.cluster_cidr), ("services", slot.service_cidr),
            ("loopback", str(loopback)),
        )]  # fmt: skip
        assert len(slot.bridge) <= 11  # veths add 4 characters to the bridge's name (15 at most)
    for (i, kind_a, a), (j, kind_b, b) in itertools.combinations(ranges, 2):
        assert not a.overlaps(b), f"slot {i} {kind_a} {a} overlaps slot {j} {kind_b} {b}"
    assert len({network_slot(i).chain_prefix for i in range(MAX_SLOTS)}) == MAX_SLOTS


def test_a_new_cluster_takes_the_first_free_slot_and_records_it(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    a = claim_slot(tmp_path / "a", locks)
    b = claim_slot(tmp_path / "b", locks)
    assert (a.slot.index, b.slot.index) == (0, 1)
    assert json.loads((tmp_path / "b" / NETWORK_FILE).read_text()) == {"slot": 1}
    a.release()
    c = claim_slot(tmp_path / "c", locks)  # slot 0 is free again: the first free one
    assert c.slot.index == 0 and recorded_slot(tmp_path / "c") == 0
    b.release()
    again = claim_slot(tmp_path / "b", locks)  # a restart comes back on its recorded slot, though 1 is not the first
    assert again.slot.index == 1
    for claim in (c, again):
        claim.release()
        assert not claim.held


def test_a_restart_whose_slot_another_live_cluster_holds_is_refused_naming_the_holder(tmp_path: Path) -> None:
    locks = tmp_path / "locks"
    a = claim_slot(tmp_path / "a", locks)
    a.release()
    holder = claim_slot(tmp_path / "other", locks)  # took slot 0 while a was down
    with pytest.raises(SlotBusyError, match=f"slot 0.*in use by the cluster of {tmp_path / 'other'} \\(pid"):
        claim_slot(tmp_path / "a", locks)
    holder.release()
    assert claim_slot(tmp_path / "a", locks).slot.index == 0


def test_every_slot_taken_is_an_error(tmp_path: Path) -> None:
    claims = [claim_slot(tmp_path / f"c{i}", tmp_path / "locks") for i in range(MAX_SLOTS)]
    assert [c.slot.index for c in claims] == list(range(MAX_SLOTS))
    with pytest.raises(SlotBusyError, match="all 9"):
        claim_slot(tmp_path / "one-more", tmp_path / "locks")


def test_a_data_dir_from_before_slots_were_recorded_keeps_slot_zeros_ranges(tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "store.db").write_bytes(b"")
    (tmp_path / "joined" / "pki").mkdir(parents=True)  # adm init/join wrote a PKI; the cluster never ran here
    (tmp_path / "joined" / "pki" / "ca.crt").write_text("a CA")
    assert recorded_slot(tmp_path / "old") == 0 and recorded_slot(tmp_path / "new") is None
    assert recorded_slot(tmp_path / "joined") is None
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / NETWORK_FILE).write_text("{")
    with pytest.raises(ValueError, match="cannot read the network slot"):
        recorded_slot(tmp_path / "bad")


def test_a_dead_holders_slot_is_free_again(tmp_path: Path) -> None:
    """The lock is the kernel's (flock): a cluster that dies, however, frees its slot."""
    locks = tmp_path / "locks"
    script = (
        "import sys, pathlib; from pinnace.cluster.netslot import claim_slot; "
        "c = claim_slot(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])); print(c.slot.index, flush=True); "
        "sys.stdin.read()"
    )
    child = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "dies"), str(locks)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "0"
        assert claim_slot(tmp_path / "second", locks).slot.index == 1
    finally:
        child.kill()
        child.wait()
    assert claim_slot(tmp_path / "dies", locks).slot.index == 0


async def test_process_nodes_get_the_slots_loopback_addresses_and_chains() -> None:
    nodes = [NodeSpec("node-0"), NodeSpec("node-1")]
    first = placer_for(["process"], "/tmp/unused", 6443, slot=network_slot(0))
    second = placer_for(["process"], "/tmp/unused", 6443, slot=network_slot(2))
    assert isinstance(first, LoopbackPlacer) and isinstance(second, LoopbackPlacer)
    placed = await first.place(nodes)  # upstream's chains, NodePorts on every local address
    assert [(p.address, p.proxy_chain_prefix, p.nodeport_addresses) for p in placed] == [
        ("127.0.0.2", "", ""), ("127.0.0.3", "", ""),
    ]  # fmt: skip
    placed = await second.place(nodes)  # its own chains, NodePorts on its own nodes' addresses
    assert [(p.address, p.proxy_chain_prefix, p.nodeport_addresses) for p in placed] == [
        ("127.0.2.2", "KUBE2-", "127.0.2.0/24"), ("127.0.2.3", "KUBE2-", "127.0.2.0/24"),
    ]  # fmt: skip


def test_oci_nodes_get_the_slots_bridge_and_subnet() -> None:
    assert os.geteuid() == 0, "the oci runtime's placer needs root (CI runs as root)"
    placer = placer_for(["oci"], "/tmp/unused", 6443, cluster_cidr="10.245.0.0/16", slot=network_slot(1))
    assert isinstance(placer, NetnsPlacer)
    network = placer.network
    assert (network.bridge, network.host_address, str(network.cluster_cidr)) == ("pinnace1", "172.19.0.1",
                                                                                   "10.245.0.0/16")  # fmt: skip
    assert [(n.netns, n.address, n.pod_cidr) for n in network.plan(["a", "b"])] == [
        ("pinnace1-0", "172.19.0.2", "10.245.0.0/24"), ("pinnace1-1", "172.19.0.3", "10.245.1.0/24"),
    ]  # fmt: skip


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True)


async def test_leftovers_cleanup_takes_only_its_own_slots_bridge_namespaces_and_veths() -> None:
    """A crashed cluster's leftovers go at its next start; another cluster's (``<bridge>0``: a longer name with the
    same start) stay."""
    assert os.geteuid() == 0, "network namespaces and links need root (CI runs as root)"
    ours, theirs = f"pt{os.getpid() % 10000}x", f"pt{os.getpid() % 10000}x0"
    try:
        for bridge in (ours, theirs):
            _ip("link", "add", bridge, "type", "bridge")
            _ip("link", "add", f"{bridge}v0", "type", "veth", "peer", "name", f"{bridge}n0")
            _ip("netns", "add", f"{bridge}-0")
        await ClusterNetwork(bridge=ours).cleanup_stale()
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
        names = {line.split(":")[1].strip().split("@")[0] for line in links.splitlines()}
        assert ours not in names and f"{ours}v0" not in names and not os.path.exists(f"/run/netns/{ours}-0")
        assert {theirs, f"{theirs}v0"} <= names and os.path.exists(f"/run/netns/{theirs}-0")
    finally:
        for bridge in (ours, theirs):
            subprocess.run(["ip", "netns", "delete", f"{bridge}-0"], capture_output=True, check=False)
            for link in (f"{bridge}v0", bridge):
                subprocess.run(["ip", "link", "delete", link], capture_output=True, check=False)


def test_a_clusters_default_ranges_are_its_slots_unless_given_or_shared_through_etcd(tmp_path: Path) -> None:
    """SQLite: the data directory is the cluster, its slot's ranges are its own. etcd: every API server on it
    (each with a data directory, a slot of its own) must use the same ranges, so the defaults stay slot 0's."""
    sqlite = LocalCluster(ClusterConfig(tmp_path))
    sqlite.slot = network_slot(2)
    assert (sqlite.service_cidr, sqlite.cluster_cidr) == ("10.128.0.0/12", "10.246.0.0/16")
    given = LocalCluster(ClusterConfig(tmp_path, service_cidr="10.0.0.0/16", cluster_cidr="192.168.0.0/16"))
    given.slot = network_slot(2)
    assert (given.service_cidr, given.cluster_cidr) == ("10.0.0.0/16", "192.168.0.0/16")
    etcd = LocalCluster(ClusterConfig(tmp_path, store=StoreConfig(("127.0.0.1:2379",))))
    etcd.slot = network_slot(2)
    assert (etcd.service_cidr, etcd.cluster_cidr) == ("10.96.0.0/12", "10.244.0.0/16")
