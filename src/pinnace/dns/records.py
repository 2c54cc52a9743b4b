"""The cluster's names: an index from Services, EndpointSlices and Namespaces to what each DNS name holds.

:meth:`ClusterIndex.build` takes the API objects (plain dicts, as the informers
keep them) and :meth:`ClusterIndex.resolve` answers "what is at this name in the
zone?" following the Kubernetes DNS-Based Service Discovery specification as
CoreDNS's ``kubernetes`` plugin (``pods insecure``) implements it:

- ``<svc>.<ns>.svc.<zone>``: a ClusterIP Service's cluster IPs; a headless
  Service's ready endpoints (all of them with ``publishNotReadyAddresses``);
  an ExternalName Service's CNAME;
- ``<endpoint>.<svc>.<ns>.svc.<zone>``: one endpoint, named by its ``hostname``
  or else its address with dashes (``10-0-0-5``, ``fd00--5``);
- ``_<port>._<proto>.<svc>.<ns>.svc.<zone>``: SRV records, one per port and
  address (weights share 100 as CoreDNS shares them);
- ``<a-b-c-d>.<ns>.pod.<zone>``: that address, when the namespace exists;
- ``dns-version.<zone>``: the schema version;
- ``<ns>.svc.<zone>``, ``svc.<zone>``, ``pod.<zone>`` and the apex exist without data.

A name that :meth:`~ClusterIndex.resolve` does not find is NXDOMAIN; one it
finds with no data of the asked type is NODATA. :meth:`~ClusterIndex.pointers`
gives the PTR targets of an address: the Service whose cluster IP it is, else
every endpoint with that address.

Pure: no I/O, no dnslib; names are lower-case label tuples without the zone.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SCHEMA_VERSION", "ClusterIndex", "Endpoint", "Node", "Port", "ServiceEntry", "Srv", "reverse_address"]

Obj = dict[str, Any]

#: The version of the DNS schema served (kubernetes/dns docs/specification.md), as CoreDNS 1.11 reports it.
SCHEMA_VERSION = "1.1.0"
#: The label that ties an EndpointSlice to its Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: A port entry standing in for "no ports": addresses still resolve, but no SRV record is made of it.
NO_PORT = -1


@dataclass(frozen=True, slots=True)
class Port:
    """A named (or unnamed: ``name == ""``) port of a Service or an EndpointSlice."""

    name: str
    protocol: str  #: lower-case: tcp, udp, sctp
    number: int

    def matches(self, name: str | None, protocol: str | None) -> bool:
        """Whether an SRV query's ``_<name>._<protocol>`` picks this port (None: any)."""
        return (name is None or name == self.name) and (protocol is None or protocol == self.protocol)


_SENTINEL_PORTS = (Port("", "", NO_PORT),)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address of a Service's EndpointSlices, with the ports of its slice."""

    ip: str
    hostname: str  #: the endpoint's ``hostname`` field, or ""
    ports: tuple[Port, ...]

    @property
    def label(self) -> str:
        """The endpoint's DNS label: its hostname, else its address with dashes (CoreDNS's ``endpointHostname``)."""
        return self.hostname or self.ip.replace(".", "-").replace(":", "-")


@dataclass(frozen=True, slots=True)
class ServiceEntry:
    """What DNS needs of one Service: its kind, addresses, ports and usable endpoints."""

    namespace: str
    name: str
    kind: str  #: "ClusterIP" (any type with a cluster IP), "Headless" or "ExternalName"
    cluster_ips: tuple[str, ...]
    ports: tuple[Port, ...]
    external_name: str
    endpoints: tuple[Endpoint, ...]  #: ready ones (all with publishNotReadyAddresses)


@dataclass(frozen=True, slots=True)
class Srv:
    """One SRV record's data."""

    priority: int
    weight: int
    port: int
    target: tuple[str, ...]  #: labels of the target, zone excluded


@dataclass(slots=True)
class Node:
    """Everything at one existing name: empty lists mean NODATA for that type."""

    addresses: list[str] = field(default_factory=list)
    cname: str | None = None  #: an ExternalName's target (absolute, no trailing dot)
    srv: list[Srv] = field(default_factory=list)
    #: The addresses of the SRV targets, for the additional section: (target labels, ip).
    srv_extra: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    txt: list[str] = field(default_factory=list)


def _normal_ip(raw: object) -> str | None:
    try:
        return str(ipaddress.ip_address(str(raw)))
    except ValueError:
        return None


def _ports(raw: Any) -> tuple[Port, ...]:
    ports: list[Port] = []
    for p in raw or ():
        if isinstance(p, dict) and isinstance(p.get("port"), int):
            ports.append(Port(str(p.get("name") or "").lower(), str(p.get("protocol") or "TCP").lower(), p["port"]))
    return tuple(ports)


def _service_entry(svc: Obj, slices: Sequence[Obj]) -> ServiceEntry | None:
    meta, spec = svc.get("metadata") or {}, svc.get("spec") or {}
    name, namespace = meta.get("name"), meta.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str):
        return None
    if spec.get("type") == "ExternalName":
        kind = "ExternalName"
    elif spec.get("clusterIP") == "None":
        kind = "Headless"
    else:
        kind = "ClusterIP"
    cluster_ips: list[str] = []
    if kind == "ClusterIP":
        for raw in spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else []):
            ip = _normal_ip(raw)
            if ip is not None and ip not in cluster_ips:
                cluster_ips.append(ip)
    publish_not_ready = bool(spec.get("publishNotReadyAddresses"))
    endpoints: list[Endpoint] = []
    for es in slices:
        if es.get("addressType") not in ("IPv4", "IPv6"):
            continue
        ports = _ports(es.get("ports"))
        for ep in es.get("endpoints") or ():
            ready = (ep.get("conditions") or {}).get("ready")
            if not (ready is None or ready is True or publish_not_ready):
                continue
            hostname = str(ep.get("hostname") or "").lower()
            for raw in ep.get("addresses") or ():
                ip = _normal_ip(raw)
                if ip is not None:
                    endpoints.append(Endpoint(ip, hostname, ports))
    return ServiceEntry(
        namespace=namespace.lower(),
        name=name.lower(),
        kind=kind,
        cluster_ips=tuple(cluster_ips),
        ports=_ports(spec.get("ports")),
        external_name=str(spec.get("externalName") or "").lower().rstrip("."),
        endpoints=tuple(endpoints),
    )


def reverse_address(labels: Sequence[str]) -> str | None:
    """The address a reverse name (``4.3.2.1.in-addr.arpa``, nibbles ``.ip6.arpa``; labels, lower-case) stands for."""
    if len(labels) == 6 and labels[4:] == ("in-addr", "arpa"):
        return _normal_ip(".".join(reversed(labels[:4])))
    if len(labels) == 34 and labels[32:] == ("ip6", "arpa") and all(len(x) == 1 for x in labels[:32]):
        nibbles = "".join(reversed(labels[:32]))
        try:
            return str(ipaddress.IPv6Address(int(nibbles, 16)))
        except ValueError:
            return None
    return None


def _srv_weights(count: int) -> int:
    """CoreDNS's weight for each of ``count`` SRV records of one priority: 100 shared, at least 1."""
    return max(1, math.floor(100 / count)) if count else 100


class ClusterIndex:
    """An immutable snapshot of the cluster's DNS data (rebuilt when the watched objects change)."""

    def __init__(
        self,
        services: dict[tuple[str, str], ServiceEntry],
        namespaces: frozenset[str],
        serial: int = 0,
    ) -> None:
        self.services = services
        self.namespaces = namespaces
        #: The SOA serial: when the data last changed (Unix time, as CoreDNS's).
        self.serial = serial
        self._by_cluster_ip: dict[str, ServiceEntry] = {}
        self._by_endpoint_ip: dict[str, list[tuple[str, ...]]] = {}
        for entry in services.values():
            for ip in entry.cluster_ips:
                self._by_cluster_ip.setdefault(ip, entry)
            seen: set[tuple[str, str]] = set()
            for ep in entry.endpoints:
                if (ep.ip, ep.label) not in seen:
                    seen.add((ep.ip, ep.label))
                    self._by_endpoint_ip.setdefault(ep.ip, []).append((ep.label, entry.name, entry.namespace, "svc"))

    @classmethod
    def build(
        cls,
        services: Iterable[Obj],
        slices: Iterable[Obj],
        namespaces: Iterable[Obj | str],
        serial: int = 0,
    ) -> ClusterIndex:
        """The index of these objects (``namespaces``: Namespace objects or names)."""
        by_service: dict[tuple[str, str], list[Obj]] = {}
        for es in slices:
            meta = es.get("metadata") or {}
            owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if isinstance(owner, str) and isinstance(meta.get("namespace"), str):
                by_service.setdefault((meta["namespace"], owner), []).append(es)
        entries: dict[tuple[str, str], ServiceEntry] = {}
        for svc in services:
            meta = svc.get("metadata") or {}
            entry = _service_entry(svc, by_service.get((meta.get("namespace", ""), meta.get("name", "")), []))
            if entry is not None:
                entries[(entry.namespace, entry.name)] = entry
        names = frozenset(
            (ns if isinstance(ns, str) else str((ns.get("metadata") or {}).get("name", ""))).lower()
            for ns in namespaces
        )
        # A Service's namespace exists, even if its Namespace has not reached the namespaces' informer yet.
        return cls(entries, names | {namespace for namespace, _ in entries}, serial)

    # ---- lookups ------------------------------------------------------------------
    def pointers(self, ip: str) -> list[tuple[str, ...]]:
        """The PTR targets (labels, zone excluded) of an address: its Service, else its endpoints' names."""
        entry = self._by_cluster_ip.get(ip)
        if entry is not None:
            return [(entry.name, entry.namespace, "svc")]
        return list(self._by_endpoint_ip.get(ip, ()))

    def resolve(self, labels: Sequence[str]) -> Node | None:
        """What is at the name ``labels`` (lower-case, zone excluded); None: no such name (NXDOMAIN)."""
        labels = tuple(labels)
        if not labels or labels in (("svc",), ("pod",)):
            return Node()
        if labels == ("dns-version",):
            return Node(txt=[SCHEMA_VERSION])
        kind, rest = labels[-1], labels[:-1]
        if kind not in ("svc", "pod") or rest[-1] not in self.namespaces:
            return None
        namespace, rest = rest[-1], rest[:-1]
        if not rest:
            return Node()
        if kind == "pod":
            return self._pod(rest)
        entry = self.services.get((namespace, rest[-1]))
        if entry is None:
            return None
        rest = rest[:-1]
        endpoint = port = protocol = None
        if len(rest) == 1:
            endpoint = rest[0]
        elif len(rest) == 2:
            port, protocol = rest[0].removeprefix("_"), rest[1].removeprefix("_")
        elif rest:
            return None
        if entry.kind == "ExternalName":
            if endpoint is not None or not entry.external_name or _normal_ip(entry.external_name) is not None:
                return None
            return Node(cname=entry.external_name)
        if entry.kind == "Headless" or endpoint is not None:
            return self._endpoints(entry, endpoint, port, protocol)
        return self._cluster_ip(entry, port, protocol)

    def _pod(self, rest: tuple[str, ...]) -> Node | None:
        if len(rest) != 1:
            return None
        name = rest[0]
        text = name.replace("-", ".") if name.count("-") == 3 and "--" not in name else name.replace("-", ":")
        ip = _normal_ip(text)
        return None if ip is None else Node(addresses=[ip])

    def _cluster_ip(self, entry: ServiceEntry, port: str | None, protocol: str | None) -> Node | None:
        matched = [p for p in entry.ports or _SENTINEL_PORTS if p.matches(port, protocol)]
        if not matched:
            return None
        node = Node(addresses=list(entry.cluster_ips))
        target = (entry.name, entry.namespace, "svc")
        weight = _srv_weights(len(matched) * len(entry.cluster_ips))
        seen: set[int] = set()
        for p in matched:
            if p.number != NO_PORT and entry.cluster_ips and p.number not in seen:
                seen.add(p.number)
                node.srv.append(Srv(0, weight, p.number, target))
        if node.srv:
            node.srv_extra = [(target, ip) for ip in entry.cluster_ips]
        return node

    def _endpoints(
        self, entry: ServiceEntry, endpoint: str | None, port: str | None, protocol: str | None
    ) -> Node | None:
        found: list[tuple[Endpoint, Port]] = []
        for ep in entry.endpoints:
            if endpoint is not None and ep.label != endpoint:
                continue
            found.extend((ep, p) for p in ep.ports or _SENTINEL_PORTS if p.matches(port, protocol))
        if not found:
            return None
        node = Node()
        weight = _srv_weights(len(found))
        seen_srv: set[tuple[tuple[str, ...], int]] = set()
        seen_extra: set[tuple[tuple[str, ...], str]] = set()
        for ep, p in found:
            if ep.ip not in node.addresses:
                node.addresses.append(ep.ip)
            if p.number == NO_PORT:
                continue
            target = (ep.label, entry.name, entry.namespace, "svc")
            if (target, p.number) not in seen_srv:
                seen_srv.add((target, p.number))
                node.srv.append(Srv(0, weight, p.number, target))
            if (target, ep.ip) not in seen_extra:
                seen_extra.add((target, ep.ip))
                node.srv_extra.append((target, ep.ip))
        return node
