"""The pod's /etc/hosts (the kubelet's managed file) and /etc/resolv.conf, as the runtimes write them."""

from __future__ import annotations

from pinnace.node import cri, podfiles

LOCALHOST = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def test_managed_hosts_file() -> None:
    config = cri.SandboxConfig(name="web", namespace="ns1", uid="u")
    assert podfiles.hosts_file(config, ["10.1.0.5"], "web") == (
        "# Kubernetes-managed hosts file.\n" + LOCALHOST + "10.1.0.5\tweb\n"
    )
    # A subdomain: the FQDN first; every pod IP; the host aliases after a blank line and their header.
    config = cri.SandboxConfig(
        name="web",
        namespace="ns1",
        uid="u",
        host_domain="sub.ns1.svc.cluster.local",
        host_aliases=(("127.0.0.1", ("foo.local", "bar.local")), ("10.1.2.3", ("foo.remote",))),
    )
    assert podfiles.hosts_file(config, ["10.1.0.5", "fd00::5"], "web") == (
        "# Kubernetes-managed hosts file.\n"
        + LOCALHOST
        + "10.1.0.5\tweb.sub.ns1.svc.cluster.local\tweb\n"
        + "fd00::5\tweb.sub.ns1.svc.cluster.local\tweb\n"
        + "\n# Entries added by HostAliases.\n"
        + "127.0.0.1\tfoo.local\tbar.local\n"
        + "10.1.2.3\tfoo.remote\n"
    )


def test_host_network_hosts_file_is_the_nodes() -> None:
    config = cri.SandboxConfig(name="h", namespace="ns1", uid="u", host_network=True)
    node = "127.0.0.1 localhost\n10.0.0.2 node-a\n"
    assert podfiles.hosts_file(config, ["10.0.0.2"], "node-a", node) == (
        "# Kubernetes-managed hosts file (host network).\n" + node
    )
    aliased = cri.SandboxConfig(
        name="h", namespace="ns1", uid="u", host_network=True, host_aliases=(("1.2.3.4", ("x",)),)
    )
    assert podfiles.hosts_file(aliased, [], "node-a", node).endswith(
        node + "\n# Entries added by HostAliases.\n1.2.3.4\tx\n"
    )


def test_resolv_conf() -> None:
    config = cri.SandboxConfig(
        name="web",
        namespace="ns1",
        uid="u",
        dns_servers=("10.96.0.10",),
        dns_searches=("ns1.svc.cluster.local", "svc.cluster.local", "cluster.local"),
        dns_options=("ndots:5", "edns0"),
    )
    assert podfiles.resolv_conf(config) == (
        "search ns1.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5 edns0\n"
    )
    assert podfiles.resolv_conf(cri.SandboxConfig(name="web", namespace="ns1", uid="u")) == ""


def test_sandbox_config_round_trips_through_its_record() -> None:
    import dataclasses
    import json

    config = cri.SandboxConfig(
        name="web",
        namespace="ns1",
        uid="u",
        port_mappings=(cri.PortMapping(80, 8080),),
        dns_servers=("10.96.0.10",),
        dns_searches=("a",),
        dns_options=("ndots:5",),
        dns_policy="ClusterFirst",
        host_domain="s.ns1.svc.cluster.local",
        host_aliases=(("1.2.3.4", ("x", "y")),),
    )
    assert cri.sandbox_config_from_dict(json.loads(json.dumps(dataclasses.asdict(config)))) == config
