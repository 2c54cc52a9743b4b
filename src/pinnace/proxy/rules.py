"""The iptables ruleset of kube-proxy's iptables mode, rendered from Services and EndpointSlices.

:func:`render` gives a :class:`Ruleset`: the chains and rules of the
``filter`` and ``nat`` tables, in upstream's (v1.32) shape and names, so that
``iptables-save`` on a Pinnace node reads like one on a kubeadm node:

nat table::

    PREROUTING, OUTPUT -> KUBE-SERVICES          POSTROUTING -> KUBE-POSTROUTING
    KUBE-SERVICES   -d <clusterIP> --dport <port>      -> KUBE-SVC-<h> (or KUBE-SVL-<h>, internalTrafficPolicy Local)
                    -d <externalIP|lbIP> --dport <port> -> KUBE-EXT-<h>
                    (last) --dst-type LOCAL (or -d <nodeport address>) -> KUBE-NODEPORTS
    KUBE-NODEPORTS  --dport <nodePort>                  -> KUBE-EXT-<h>
    KUBE-EXT-<h>    mark for masquerade, -> KUBE-SVC-<h>  (externalTrafficPolicy Local: pod and local-source
                    traffic -> KUBE-SVC-<h>, the rest -> KUBE-SVL-<h>, source kept)
    KUBE-SVC-<h>    traffic to the cluster IP from outside the node's pod CIDR -> KUBE-MARK-MASQ;
                    ClientIP affinity: -m recent --rcheck per endpoint; then
                    -m statistic --mode random --probability 1/(n-i) -> KUBE-SEP-<e>  (the last unconditionally)
    KUBE-SVL-<h>    the same over this node's endpoints (no masquerade)
    KUBE-SEP-<e>    -s <endpoint IP> -> KUBE-MARK-MASQ (hairpin), DNAT --to-destination <ip:port>
                    (-m recent --set with affinity)
    KUBE-MARK-MASQ  MARK --or-mark 0x4000;  KUBE-POSTROUTING: MASQUERADE what carries the mark

filter table::

    INPUT, FORWARD (ctstate NEW) -> KUBE-EXTERNAL-SERVICES;  FORWARD, OUTPUT (ctstate NEW) -> KUBE-SERVICES
    FORWARD -> KUBE-FORWARD;  INPUT, OUTPUT -> KUBE-FIREWALL
    KUBE-SERVICES           cluster IPs of ports with no endpoints -> REJECT ("has no local endpoints": DROP)
    KUBE-EXTERNAL-SERVICES  their NodePorts, external and load-balancer IPs -> REJECT / DROP
    KUBE-FORWARD            drop INVALID; accept marked and established traffic
    KUBE-FIREWALL           drop traffic to 127.0.0.0/8 from outside it unless DNAT'ed (route_localnet is on)

Endpoints are the ready ones (:func:`~.endpoints.categorize`); a port whose
Service has none is rejected, as upstream does, rather than left to time out.
:meth:`Ruleset.restore_input` turns a ruleset into one ``iptables-restore
--noflush`` transaction that rewrites every chain of ours whole, deletes the
chains of ports that went away and adds the jumps from the built-in chains
that are missing; :func:`cleanup_input` removes all of it.

Several clusters on one host whose nodes share a network namespace (the
``process`` runtime's nodes all live in the host's) each need chains of their
own: a ruleset is rendered with a *chain prefix* (``KUBE-`` by default; the
second cluster on a host, say, ``KUBE1-``, so ``KUBE1-SERVICES``,
``KUBE1-SVC-<h>``, …; :func:`chain_prefix`). Every name of a ruleset, the
jumps into it and the chains it treats as its own follow the prefix, so one
cluster's proxy never rewrites, deletes or cleans up another's chains.

Not rendered (no Pinnace part needs them yet): load-balancer source ranges
(KUBE-FW-), health-check node ports, the nfacct counters and topology hints.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pinnace.proxy.endpoints import (
    Endpoint,
    ServicePort,
    categorize,
    service_ports,
    slice_endpoints,
    slices_by_service,
)

__all__ = [
    "DEFAULT_PREFIX",
    "JUMPS",
    "OWNED_PREFIXES",
    "Ruleset",
    "base_chains",
    "chain_prefix",
    "cleanup_input",
    "jumps",
    "owned_prefixes",
    "render",
]

Obj = dict[str, Any]

MASQ_MARK = "0x4000"
#: The jumps from the built-in chains into ours: (table, chain, rule after the chain name); all inserted first.
JUMPS: tuple[tuple[str, str, str], ...] = (
    ("filter", "INPUT",
     '-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
     "-j KUBE-EXTERNAL-SERVICES"),
    ("filter", "FORWARD",
     '-m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
     "-j KUBE-EXTERNAL-SERVICES"),
    ("filter", "FORWARD",
     '-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
    ("filter", "OUTPUT",
     '-m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
    ("filter", "FORWARD", '-m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD'),
    ("filter", "INPUT", "-j KUBE-FIREWALL"),
    ("filter", "OUTPUT", "-j KUBE-FIREWALL"),
    ("nat", "OUTPUT", '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
    ("nat", "PREROUTING", '-m comment --comment "kubernetes service portals" -j KUBE-SERVICES'),
    ("nat", "POSTROUTING", '-m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING'),
)  # fmt: skip
#: The fixed chains of each table (always present while the proxy runs).
BASE_CHAINS: Mapping[str, tuple[str, ...]] = {
    "filter": ("KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-FORWARD", "KUBE-FIREWALL"),
    "nat": ("KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"),
}
#: Prefixes of the per-port chains; a chain with one of these that the new ruleset lacks is stale and deleted.
OWNED_PREFIXES = ("KUBE-SVC-", "KUBE-SVL-", "KUBE-EXT-", "KUBE-SEP-", "KUBE-FW-")
#: Upstream's chain prefix; a cluster sharing a network namespace with another uses one of its own.
DEFAULT_PREFIX = "KUBE-"
#: A chain name may have 28 characters (XT_EXTENSION_MAXNAMELEN less its NUL); KUBE-SVC-<16> has 25.
MAX_PREFIX_LENGTH = 8
_NAME = re.compile(r"(?<![\w-])KUBE-")


def chain_prefix(prefix: str) -> str:
    """``prefix`` checked: upper-case letters and digits ending in ``-``, at most 8 characters (ValueError if not)."""
    if not re.fullmatch(r"[A-Z][A-Z0-9]*-", prefix) or len(prefix) > MAX_PREFIX_LENGTH:
        raise ValueError(f"invalid iptables chain prefix {prefix!r}: want e.g. KUBE- or KUBE1- (at most 8 characters)")
    return prefix


def _renamed(text: str, prefix: str) -> str:
    """``text`` with every ``KUBE-`` chain name under ``prefix`` instead (comments are lower case: untouched)."""
    return text if prefix == DEFAULT_PREFIX else _NAME.sub(prefix, text)


def jumps(prefix: str = DEFAULT_PREFIX) -> tuple[tuple[str, str, str], ...]:
    """:data:`JUMPS` into the chains of ``prefix``."""
    return tuple((table, chain, _renamed(rule, prefix)) for table, chain, rule in JUMPS)


def base_chains(prefix: str = DEFAULT_PREFIX) -> dict[str, tuple[str, ...]]:
    """:data:`BASE_CHAINS` under ``prefix``."""
    return {table: tuple(_renamed(c, prefix) for c in chains) for table, chains in BASE_CHAINS.items()}


def owned_prefixes(prefix: str = DEFAULT_PREFIX) -> tuple[str, ...]:
    """:data:`OWNED_PREFIXES` under ``prefix``."""
    return tuple(_renamed(p, prefix) for p in OWNED_PREFIXES)


def _comment(text: str) -> str:
    return f'-m comment --comment "{text}"' if " " in text else f"-m comment --comment {text}"


@dataclass
class Ruleset:
    """Chains and rules per table (``filter``, ``nat``), in the order they are written."""

    chains: dict[str, list[str]] = field(default_factory=lambda: {t: list(c) for t, c in BASE_CHAINS.items()})
    rules: dict[str, list[str]] = field(default_factory=lambda: {"filter": [], "nat": []})
    #: The chain prefix of every name here (:func:`chain_prefix`).
    prefix: str = DEFAULT_PREFIX

    def renamed(self, prefix: str) -> Ruleset:
        """This ruleset with its chains (and the names rules use: jumps, ``recent`` lists) under ``prefix``."""
        if prefix == self.prefix:
            return self
        if self.prefix != DEFAULT_PREFIX:
            raise ValueError("only a ruleset under the default prefix can be renamed")
        return Ruleset(
            chains={t: [_renamed(c, prefix) for c in cs] for t, cs in self.chains.items()},
            rules={t: [_renamed(r, prefix) for r in rs] for t, rs in self.rules.items()},
            prefix=prefix,
        )

    def add(self, table: str, chain: str, *parts: str) -> None:
        """Append ``-A chain <parts>`` (the non-empty ones, space-separated) to ``table``."""
        self.rules[table].append(" ".join(["-A", chain, *(p for p in parts if p)]))

    def chain(self, table: str, name: str) -> str:
        """Declare ``name`` in ``table`` (once); returns it."""
        if name not in self.chains[table]:
            self.chains[table].append(name)
        return name

    def restore_input(
        self,
        existing: Mapping[str, Iterable[str]] | None = None,
        jumps_present: Iterable[tuple[str, str, str]] = (),
        misplaced: Mapping[str, Iterable[str]] | None = None,
    ) -> str:
        """One ``iptables-restore --noflush`` input: our chains rewritten whole, stale ones deleted, jumps added.

        ``existing`` is, per table, the chains there now (from ``iptables-save``);
        ``jumps_present`` the :data:`JUMPS` already installed; ``misplaced`` the saved lines of jumps to move to the
        top (deleted here, and inserted again as missing ones).
        """
        present = set(jumps_present)
        owned = owned_prefixes(self.prefix)
        out: list[str] = []
        for table in ("filter", "nat"):
            ours = self.chains[table]
            there = (existing or {}).get(table, ())
            stale = sorted(c for c in there if c.startswith(owned) and c not in ours)
            out.append(f"*{table}")
            out.extend(f":{name} - [0:0]" for name in [*ours, *stale])
            out.extend("-D" + line[2:] for line in (misplaced or {}).get(table, ()))
            wanted = jumps(self.prefix)
            missing = [(chain, rule) for t, chain, rule in wanted if t == table and (t, chain, rule) not in present]
            out.extend(f"-I {chain} {rule}" for chain, rule in missing)
            out.extend(self.rules[table])
            out.extend(f"-X {name}" for name in stale)
            out.append("COMMIT")
        return "\n".join(out) + "\n"


def cleanup_input(
    existing: Mapping[str, Iterable[str]], jump_lines: Mapping[str, Iterable[str]], prefix: str = DEFAULT_PREFIX
) -> str:
    """An ``iptables-restore --noflush`` input removing the jumps (their saved ``-A`` lines) and all our chains
    (those of ``prefix``: another cluster's chains in the same namespace stay)."""
    base, owned = base_chains(prefix), owned_prefixes(prefix)
    out: list[str] = []
    for table in ("filter", "nat"):
        chains = sorted(c for c in existing.get(table, ()) if c in base[table] or c.startswith(owned))
        deletes = ["-D" + line[2:] for line in jump_lines.get(table, ())]
        if not chains and not deletes:
            continue
        out.append(f"*{table}")
        out.extend(deletes)
        out.extend(f":{name} - [0:0]" for name in chains)
        out.extend(f"-X {name}" for name in chains)
        out.append("COMMIT")
    return "\n".join(out) + "\n" if out else ""


def _match(sp: ServicePort) -> str:
    return f"-m {sp.proto} -p {sp.proto}"


def _to_endpoints(rs: Ruleset, sp: ServicePort, chain: str, endpoints: tuple[Endpoint, ...]) -> None:
    """The affinity and random-choice rules of a KUBE-SVC/KUBE-SVL chain (upstream's writeServiceToEndpointRules)."""
    if sp.affinity_seconds is not None:
        for ep in endpoints:
            sep = ep.chain(sp)
            recent = f"-m recent --name {sep} --rcheck --seconds {sp.affinity_seconds} --reap"
            rs.add("nat", chain, _comment(f"{sp.key} -> {ep.address}"), recent, f"-j {sep}")
    n = len(endpoints)
    for i, ep in enumerate(endpoints):
        chance = f" -m statistic --mode random --probability {1.0 / (n - i):.10f}" if i < n - 1 else ""
        rs.add("nat", chain, _comment(f"{sp.key} -> {ep.address}") + chance, f"-j {ep.chain(sp)}")


def _endpoint_chain(rs: Ruleset, sp: ServicePort, ep: Endpoint) -> None:
    sep = rs.chain("nat", ep.chain(sp))
    rs.add("nat", sep, _comment(sp.key), f"-s {ep.ip} -j KUBE-MARK-MASQ")
    recent = f"-m recent --name {sep} --set" if sp.affinity_seconds is not None else ""
    rs.add("nat", sep, _comment(sp.key), recent, _match(sp), f"-j DNAT --to-destination {ep.address}")


def _node_destinations(node_port_addresses: Sequence[str]) -> list[str]:
    """How NodePort traffic is told apart: any local address (upstream's default), or the given CIDRs
    (kube-proxy's ``--nodeport-addresses``)."""
    return [f"-d {cidr}" for cidr in node_port_addresses] or ["-m addrtype --dst-type LOCAL"]


def _render_port(
    rs: Ruleset,
    sp: ServicePort,
    endpoints: list[Endpoint],
    node_name: str,
    local_cidr: str,
    node_port_addresses: Sequence[str] = (),
) -> None:
    targets = categorize(endpoints, node_name)
    svc, svl, ext = sp.chain("KUBE-SVC-"), sp.chain("KUBE-SVL-"), sp.chain("KUBE-EXT-")
    internal = targets.local if sp.internal_local else targets.cluster
    external = targets.local if sp.external_local else targets.cluster
    # Cluster endpoints serve cluster-policy traffic, and short-circuit pod/local traffic of external destinations.
    uses_cluster = bool(targets.cluster) and (not sp.internal_local or sp.has_external)
    uses_local = bool(targets.local) and (sp.internal_local or (sp.has_external and sp.external_local))
    has_any = bool(targets.cluster)
    internal_chain = svl if sp.internal_local else svc
    match = _match(sp)

    def filter_target(usable: tuple[Endpoint, ...]) -> tuple[str, str] | None:
        if usable:
            return None
        return ("REJECT", f"{sp.key} has no endpoints") if not has_any else ("DROP", f"{sp.key} has no local endpoints")

    def route(blocked: tuple[str, str] | None, chain: str, comment: str, dest: str, jump: str, where: str) -> None:
        """Traffic to ``dest``: to ``jump`` in nat ``chain``, or, without endpoints, rejected in filter ``where``."""
        if blocked is None:
            rs.add("nat", chain, _comment(comment), match, dest, f"-j {jump}")
        else:
            for local in _node_destinations(node_port_addresses) if chain == "KUBE-NODEPORTS" else [""]:
                rs.add("filter", where, _comment(blocked[1]), local, match, dest, f"-j {blocked[0]}")

    internal_block = filter_target(internal)
    for ip in sp.cluster_ips:
        dest = f"-d {ip} --dport {sp.port}"
        route(internal_block, "KUBE-SERVICES", f"{sp.key} cluster IP", dest, internal_chain, "KUBE-SERVICES")
    external_block = filter_target(external)
    for kind, ips in (("external IP", sp.external_ips), ("loadbalancer IP", sp.load_balancer_ips)):
        for ip in ips:
            dest = f"-d {ip} --dport {sp.port}"
            route(external_block, "KUBE-SERVICES", f"{sp.key} {kind}", dest, ext, "KUBE-EXTERNAL-SERVICES")
    if sp.node_port:
        route(external_block, "KUBE-NODEPORTS", sp.key, f"--dport {sp.node_port}", ext, "KUBE-EXTERNAL-SERVICES")

    if sp.has_external and external_block is None:
        rs.chain("nat", ext)
        what = f"{sp.key} external destinations"
        if sp.external_local:
            if local_cidr:
                rs.add("nat", ext, _comment(f"pod traffic for {what}"), f"-s {local_cidr} -j {svc}")
            local = "-m addrtype --src-type LOCAL"
            rs.add("nat", ext, _comment(f"masquerade LOCAL traffic for {what}"), local, "-j KUBE-MARK-MASQ")
            rs.add("nat", ext, _comment(f"route LOCAL traffic for {what}"), local, f"-j {svc}")
            rs.add("nat", ext, f"-j {svl}")
        else:
            rs.add("nat", ext, _comment(f"masquerade traffic for {what}"), "-j KUBE-MARK-MASQ")
            rs.add("nat", ext, f"-j {svc}")

    if uses_cluster:
        rs.chain("nat", svc)
        for ip in sp.cluster_ips if local_cidr else ():  # without a local CIDR, as upstream: no such rule
            dest = f"-d {ip} --dport {sp.port}"
            rs.add("nat", svc, _comment(f"{sp.key} cluster IP"), match, dest, f"! -s {local_cidr}", "-j KUBE-MARK-MASQ")
        _to_endpoints(rs, sp, svc, targets.cluster)
    if uses_local:
        rs.chain("nat", svl)
        _to_endpoints(rs, sp, svl, targets.local)
    used = {*(targets.cluster if uses_cluster else ()), *(targets.local if uses_local else ())}
    for ep in sorted(used, key=lambda e: e.chain(sp)):
        _endpoint_chain(rs, sp, ep)


def render(
    services: Iterable[Obj],
    slices: Iterable[Obj],
    *,
    node_name: str,
    local_cidr: str = "",
    prefix: str = DEFAULT_PREFIX,
    node_port_addresses: Sequence[str] = (),
) -> Ruleset:
    """The whole ruleset for ``services`` and their EndpointSlices on node ``node_name``, its chains under ``prefix``.

    ``local_cidr`` is the node's pod CIDR (upstream's ``--detect-local-mode=NodeCIDR``): traffic to a cluster IP
    from outside it is masqueraded; empty, none is (only hairpin and external traffic are).
    ``node_port_addresses`` (kube-proxy's ``--nodeport-addresses``): the CIDRs NodePorts answer on; empty, every
    local address. A second cluster's nodes sharing the host's namespace answer on their own addresses only.
    """
    by_service = slices_by_service(slices)
    rs = Ruleset()
    ports = [sp for svc in services for sp in service_ports(svc)]
    for sp in sorted(ports, key=lambda p: (p.key, p.proto)):
        endpoints = slice_endpoints(sp, by_service.get((sp.namespace, sp.name), []))
        _render_port(rs, sp, endpoints, node_name, local_cidr, node_port_addresses)
    last = _comment("kubernetes service nodeports; NOTE: this must be the last rule in this chain")
    for destination in _node_destinations(node_port_addresses):
        rs.add("nat", "KUBE-SERVICES", last, destination, "-j KUBE-NODEPORTS")
    marked = f"--mark {MASQ_MARK}/{MASQ_MARK}"
    rs.add("nat", "KUBE-MARK-MASQ", f"-j MARK --or-mark {MASQ_MARK}")
    rs.add("nat", "KUBE-POSTROUTING", f"-m mark ! {marked} -j RETURN")
    rs.add("nat", "KUBE-POSTROUTING", f"-j MARK --xor-mark {MASQ_MARK}")
    rs.add("nat", "KUBE-POSTROUTING", _comment("kubernetes service traffic requiring SNAT"), "-j MASQUERADE")
    # route_localnet is on (endpoints on 127.0.0.1, like the API server's, are reachable): only DNAT'ed traffic
    # may reach the loopback from outside it.
    martian = "-d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"
    rs.add("filter", "KUBE-FIREWALL", _comment("block incoming localnet connections"), martian)
    rs.add("filter", "KUBE-FORWARD", "-m conntrack --ctstate INVALID -j DROP")
    rs.add("filter", "KUBE-FORWARD", _comment("kubernetes forwarding rules"), f"-m mark {marked} -j ACCEPT")
    established = "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    rs.add("filter", "KUBE-FORWARD", _comment("kubernetes forwarding conntrack rule"), established)
    return rs.renamed(chain_prefix(prefix))
