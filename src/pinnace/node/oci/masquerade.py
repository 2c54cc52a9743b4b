"""Masquerading the pods' egress once per node, as flannel does, instead of once per pod in the bridge plugin.

The CNI ``bridge`` plugin's ``ipMasq`` adds a chain and three iptables rules
for every pod on ADD, and removes them on DEL: several ``iptables`` processes
per pod start and stop (~15 ms of CPU and ~35 ms of wall time each way). Like
flannel, which gives the bridge plugin ``ipMasq: false`` and installs the
masquerading for its whole subnet itself, the ``oci`` runtime installs one
chain per node when it writes the node's network:

    -A POSTROUTING -s <podCIDR> -j PINNACE-MASQ-<bridge>
    -A PINNACE-MASQ-<bridge> -d <podCIDR> -j RETURN
    -A PINNACE-MASQ-<bridge> -d 224.0.0.0/4 -j RETURN
    -A PINNACE-MASQ-<bridge> -j MASQUERADE

which is what the plugin's per-pod chains did (traffic within the pod
subnet and multicast keep their source; the rest leaves with the node's
address). Rules that come earlier in POSTROUTING — the multi-node network's
exemption of the cluster CIDR — still apply first.
"""

from __future__ import annotations

import subprocess

MULTICAST = "224.0.0.0/4"


class MasqueradeError(RuntimeError):
    """An iptables command failed (the message has its stderr)."""


def chain_name(bridge: str) -> str:
    """The node's masquerading chain (iptables chain names are at most 28 characters)."""
    return f"PINNACE-MASQ-{bridge}"[:28]


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["iptables", "-w", "5", "-t", "nat", *args], capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise MasqueradeError(f"iptables -t nat {' '.join(args)}: {done.stderr.strip()}")
    return done


def _jumps(chain: str) -> list[list[str]]:
    """The POSTROUTING rules that jump to ``chain``, as the argument lists that delete them."""
    listed = _iptables("-S", "POSTROUTING").stdout.splitlines()
    return [line.split()[1:] for line in listed if line.startswith("-A ") and line.split()[-2:] == ["-j", chain]]


def ensure(bridge: str, pod_cidr: str) -> None:
    """Install (or refresh, for a new podCIDR) the node's masquerading of ``pod_cidr``. Idempotent."""
    chain = chain_name(bridge)
    if _iptables("-L", chain, "-n", check=False).returncode != 0:
        _iptables("-N", chain)
    _iptables("-F", chain)
    _iptables("-A", chain, "-d", pod_cidr, "-j", "RETURN")
    _iptables("-A", chain, "-d", MULTICAST, "-j", "RETURN")
    _iptables("-A", chain, "-j", "MASQUERADE")
    wanted = ["POSTROUTING", "-s", pod_cidr, "-j", chain]
    for rule in _jumps(chain):
        if rule != wanted:  # a jump for an earlier podCIDR
            _iptables("-D", *rule)
    if _iptables("-C", *wanted, check=False).returncode != 0:
        _iptables("-A", *wanted)


def remove(bridge: str) -> None:
    """Remove the node's masquerading (its jumps and its chain). Idempotent."""
    chain = chain_name(bridge)
    if _iptables("-L", chain, "-n", check=False).returncode != 0:
        return
    for rule in _jumps(chain):
        _iptables("-D", *rule, check=False)
    _iptables("-F", chain, check=False)
    _iptables("-X", chain, check=False)
