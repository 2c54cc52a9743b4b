"""The files a runtime gives every container of a pod: its /etc/hosts and /etc/resolv.conf, from its sandbox config.

The hosts file is the kubelet's (``managedHostsFileContent``): a header,
the localhost lines, the pod's IPs named by its host name (``<hostname>.<domain>``
first when the pod has a subdomain), then the pod's hostAliases. A hostNetwork
pod gets the node's own hosts file under a header of its own, with the aliases
after it. The resolv.conf is written as containerd writes a CRI DNSConfig.
"""

from __future__ import annotations

from collections.abc import Sequence

from pinnace.node.cri import SandboxConfig

__all__ = ["HOSTS_HEADER", "HOSTS_HEADER_HOST_NETWORK", "hosts_file", "resolv_conf"]

HOSTS_HEADER = "# Kubernetes-managed hosts file.\n"
HOSTS_HEADER_HOST_NETWORK = "# Kubernetes-managed hosts file (host network).\n"
LOCALHOST_LINES = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "fe00::0\tip6-mcastprefix\n"
    "fe00::1\tip6-allnodes\n"
    "fe00::2\tip6-allrouters\n"
)


def hosts_file(config: SandboxConfig, ips: Sequence[str], hostname: str, node_hosts: str = "") -> str:
    """The pod's /etc/hosts: managed, or for a hostNetwork pod ``node_hosts`` (the node's file) under its header."""
    if config.host_network:
        return HOSTS_HEADER_HOST_NETWORK + node_hosts + _aliases(config)
    names = f"{hostname}.{config.host_domain}\t{hostname}" if config.host_domain else hostname
    return HOSTS_HEADER + LOCALHOST_LINES + "".join(f"{ip}\t{names}\n" for ip in ips) + _aliases(config)


def _aliases(config: SandboxConfig) -> str:
    if not config.host_aliases:
        return ""
    lines = "".join(f"{ip}\t{chr(9).join(names)}\n" for ip, names in config.host_aliases)
    return "\n# Entries added by HostAliases.\n" + lines


def resolv_conf(config: SandboxConfig) -> str:
    """The pod's resolv.conf from its DNS config; "" when it has none (the runtime then uses the host's file)."""
    lines = []
    if config.dns_searches:
        lines.append("search " + " ".join(config.dns_searches))
    lines += [f"nameserver {server}" for server in config.dns_servers]
    if config.dns_options:
        lines.append("options " + " ".join(config.dns_options))
    return "".join(line + "\n" for line in lines)
