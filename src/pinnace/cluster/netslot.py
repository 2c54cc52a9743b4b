"""A cluster's place on the host network: which bridge, subnets, loopback addresses and iptables chains it owns.

Several ``pinnace up`` clusters may run on one host (as several kind clusters
do). Whatever of theirs lives in the host's network namespace must not
collide: the node bridge and its subnet, the host routes to the pods'
podCIDRs, the loopback addresses of ``process`` nodes (which are their pods'
IPs too), the Services' cluster IPs and the service proxy's iptables chains
(``process`` nodes' proxies all program the host's namespace). Each cluster
running node agents therefore holds a *network slot*: slot 0 is the
single-cluster default, each next slot moves every range aside::

    slot  bridge    node subnet     pods (cluster CIDR)  Services       process nodes  chains
    0     pinnace0  172.18.0.0/16   10.244.0.0/16        10.96.0.0/12   127.0.0.2 …    KUBE-*
    1     pinnace1  172.19.0.0/16   10.245.0.0/16        10.112.0.0/12  127.0.1.2 …    KUBE1-*
    n     pinnace<n> 172.(18+n)…    10.(244+n).0.0/16    10.(96+16n)…   127.0.<n>.2 …  KUBE<n>-*

up to slot 8 (ranges past it would run into the pods' 10.244.0.0/14). The
``process`` nodes of a cluster past slot 0 answer NodePorts on their own
addresses only (``127.0.<n>.0/24``, kube-proxy's ``--nodeport-addresses``),
slot 0's on every local address as upstream's default; their proxies keep
their jumps above slot 0's (:func:`pinnace.proxy.iptables.parse_save`), so a
NodePort number two clusters both gave out reaches, at each one's node
addresses, its own Service — but for up to a sync period (30 s) after slot 0's
proxy restarts and puts its jumps on top again; at ``127.0.0.1`` it is slot
0's. (``oci`` nodes live in namespaces of their own: their NodePorts, cluster
IPs and chains never meet.)

A slot is held by an exclusive lock (``/run/pinnace/clusters/slot-<n>.lock``
as root; flock, so the kernel drops it when the holder dies however it
dies) for as long as the cluster runs, and recorded in the cluster's data
directory (``network.json``) when it is first taken: a restarted cluster comes
back on the same slot — its Services keep their cluster IPs and its nodes
their podCIDRs — or, if another live cluster holds that slot meanwhile, refuses
to start and says which. A new cluster takes the first slot no live cluster
holds. A data directory that served before slots were recorded (it has its
PKI) used slot 0's ranges, and is given slot 0.

Crash leftovers (a bridge, node namespaces, ``KUBE<n>-`` chains) are named
after the slot, and only the holder of the slot cleans them up: a starting
cluster never touches another live cluster's.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pinnace.cluster.storeconfig import SQLITE_FILE

__all__ = [
    "MAX_SLOTS",
    "NETWORK_FILE",
    "NetworkSlot",
    "SlotBusyError",
    "SlotClaim",
    "claim_slot",
    "default_lock_dir",
    "network_slot",
    "recorded_slot",
]

#: Slots 0 … 8 (the ninth's Services would be 10.240.0.0/12, over the pods' ranges).
MAX_SLOTS = 9
#: Where a cluster's data directory records its slot.
NETWORK_FILE = "network.json"


class SlotBusyError(RuntimeError):
    """The slot this cluster needs is held by another live cluster (or every slot is)."""


@dataclass(frozen=True, slots=True)
class NetworkSlot:
    """The names and ranges of one slot (see the module docstring)."""

    index: int

    @property
    def bridge(self) -> str:
        """The host bridge of the cluster's node namespaces (``oci`` nodes)."""
        return f"pinnace{self.index}"

    @property
    def node_subnet(self) -> str:
        """The bridge's subnet: the host is its .1, node *i* its .(2+i)."""
        return f"172.{18 + self.index}.0.0/16"

    @property
    def cluster_cidr(self) -> str:
        """The pods' range (``--cluster-cidr``), each node's podCIDR cut from it."""
        return f"10.{244 + self.index}.0.0/16"

    @property
    def service_cidr(self) -> str:
        """The Services' cluster IP range (``--service-cluster-ip-range``)."""
        return f"10.{96 + 16 * self.index}.0.0/12"

    @property
    def loopback_base(self) -> str:
        """The address before the first ``process`` node's (node *i* is this + 1 + *i*)."""
        return str(ipaddress.ip_address("127.0.0.1") + 256 * self.index)

    @property
    def chain_prefix(self) -> str:
        """The service proxy's iptables chain prefix (upstream's ``KUBE-`` for slot 0)."""
        return "KUBE-" if self.index == 0 else f"KUBE{self.index}-"


def network_slot(index: int) -> NetworkSlot:
    """Slot ``index`` (ValueError outside 0 … MAX_SLOTS-1)."""
    if not 0 <= index < MAX_SLOTS:
        raise ValueError(f"network slot {index} is out of range (0 … {MAX_SLOTS - 1})")
    return NetworkSlot(index)


def default_lock_dir() -> Path:
    """Where slot locks live: ``/run/pinnace/clusters`` as root (host-wide), else a per-user directory."""
    if os.geteuid() == 0:
        return Path("/run/pinnace/clusters")
    return Path(tempfile.gettempdir()) / f"pinnace-{os.geteuid()}" / "clusters"


def recorded_slot(data_dir: Path) -> int | None:
    """The slot ``data_dir`` recorded; 0 for a data directory that served before slots were recorded; else None.

    "Served before" is a SQLite store in it: a PKI alone is no sign (``adm init`` and ``adm join`` write theirs
    before the cluster first starts, and a second control plane on the host must not take the first's slot)."""
    try:
        return int(json.loads((data_dir / NETWORK_FILE).read_text())["slot"])
    except FileNotFoundError:
        return 0 if (data_dir / SQLITE_FILE).exists() else None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"cannot read the network slot from {data_dir / NETWORK_FILE}: {exc}") from exc


class SlotClaim:
    """A held slot: the lock stays held until :meth:`release` (or the process's end)."""

    def __init__(self, slot: NetworkSlot, lock: IO[str]) -> None:
        self.slot = slot
        self._lock: IO[str] | None = lock

    @property
    def held(self) -> bool:
        """Whether the lock is still held."""
        return self._lock is not None

    def release(self) -> None:
        """Let the slot go (another cluster may take it now). Idempotent."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None


def _try_lock(lock_dir: Path, index: int, data_dir: Path) -> IO[str] | None:
    """Slot ``index``'s lock, taken and stamped with ``data_dir``; None if another process holds it."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    f = open(lock_dir / f"slot-{index}.lock", "a+")  # noqa: SIM115 - held open for as long as the slot is
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.close()
        return None
    f.seek(0)
    f.truncate()
    f.write(json.dumps({"data_dir": str(data_dir), "pid": os.getpid()}))
    f.flush()
    return f


def _holder(lock_dir: Path, index: int) -> str:
    """Who holds slot ``index``, as its lock file says."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        info = json.loads((lock_dir / f"slot-{index}.lock").read_text())
        return f"the cluster of {info['data_dir']} (pid {info['pid']})"
    return "another cluster"


def claim_slot(data_dir: Path, lock_dir: Path | None = None) -> SlotClaim:
    """Take ``data_dir``'s recorded slot, or (first run) the first free one and record it.

    SlotBusyError if the recorded slot is held by another live cluster, or every slot is.
    """
    lock_dir = lock_dir or default_lock_dir()
    data_dir = data_dir.resolve()
    recorded = recorded_slot(data_dir)
    if recorded is not None:
        slot = network_slot(recorded)
        lock = _try_lock(lock_dir, slot.index, data_dir)
        if lock is None:
            raise SlotBusyError(
                f"this cluster's network (slot {slot.index}: bridge {slot.bridge}, Services {slot.service_cidr}, "
                f"recorded in {data_dir / NETWORK_FILE}) is in use by {_holder(lock_dir, slot.index)}; stop that one "
                "first"
            )
    else:
        for index in range(MAX_SLOTS):
            lock = _try_lock(lock_dir, index, data_dir)
            if lock is not None:
                slot = network_slot(index)
                break
        else:
            raise SlotBusyError(f"all {MAX_SLOTS} cluster network slots on this host are in use")
    if not (data_dir / NETWORK_FILE).exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        (data_dir / NETWORK_FILE).write_text(json.dumps({"slot": slot.index}) + "\n")
    return SlotClaim(slot, lock)
