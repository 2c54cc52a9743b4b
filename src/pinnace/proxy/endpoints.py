"""What a Service port routes to: its ports and the endpoints of its EndpointSlices, as kube-proxy sees them.

:func:`service_ports` turns a Service into the ports a proxy programs (one
:class:`ServicePort` per ``spec.ports`` entry; headless and ExternalName
Services have none). :func:`slice_endpoints` collects, from the Service's
EndpointSlices (IPv4 only), the endpoints of one port — matched by port name
and protocol, deduplicated by address. :func:`categorize` picks what traffic
may use, as upstream's ``CategorizeEndpoints`` does: ready endpoints; only
when none is ready, the serving terminating ones (a rolling update keeps
serving while the last pods drain); and the same over this node's endpoints
for ``internalTrafficPolicy``/``externalTrafficPolicy: Local``.

Pure functions of API objects: no I/O, so the rule rendering above is testable alone.
"""

from __future__ import annotations

import base64
import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Endpoint",
    "ServicePort",
    "Targets",
    "categorize",
    "chain_hash",
    "service_ports",
    "slice_endpoints",
    "slices_by_service",
]

Obj = dict[str, Any]

#: The label that ties an EndpointSlice to its Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
#: Default ClientIP affinity timeout (upstream's DefaultClientIPServiceAffinitySeconds, 3 hours).
DEFAULT_AFFINITY_SECONDS = 10800


def chain_hash(*parts: str) -> str:
    """Upstream's chain-name hash: the first 16 characters of base32(sha256(concatenated parts))."""
    digest = hashlib.sha256("".join(parts).encode()).digest()
    return base64.b32encode(digest).decode()[:16]


@dataclass(frozen=True, slots=True)
class ServicePort:
    """One port of one Service, with everything the rules of that port depend on."""

    namespace: str
    name: str
    port_name: str
    protocol: str
    port: int
    cluster_ips: tuple[str, ...]
    node_port: int = 0
    external_ips: tuple[str, ...] = ()
    load_balancer_ips: tuple[str, ...] = ()
    #: ClientIP session affinity timeout in seconds; None without affinity.
    affinity_seconds: int | None = None
    internal_local: bool = False
    external_local: bool = False

    @property
    def key(self) -> str:
        """Upstream's ServicePortName string: ``ns/name`` or ``ns/name:port``."""
        base = f"{self.namespace}/{self.name}"
        return f"{base}:{self.port_name}" if self.port_name else base

    @property
    def proto(self) -> str:
        """The protocol as iptables spells it (``tcp``, ``udp``, ``sctp``)."""
        return self.protocol.lower()

    @property
    def has_external(self) -> bool:
        """Whether anything but the cluster IP reaches this port (NodePort, external or load-balancer IPs)."""
        return bool(self.node_port or self.external_ips or self.load_balancer_ips)

    def chain(self, prefix: str) -> str:
        """This port's chain of a kind (``KUBE-SVC-``, ``KUBE-SVL-``, ``KUBE-EXT-``, …)."""
        return prefix + chain_hash(self.key, self.proto)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One endpoint address:port of a Service port, with its EndpointSlice conditions."""

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    node_name: str = ""

    @property
    def address(self) -> str:
        """``ip:port``."""
        return f"{self.ip}:{self.port}"

    def chain(self, service: ServicePort) -> str:
        """The endpoint's ``KUBE-SEP-`` chain for ``service`` (upstream's servicePortEndpointChainName)."""
        return "KUBE-SEP-" + chain_hash(service.key, service.proto, self.address)


@dataclass(frozen=True, slots=True)
class Targets:
    """Where a Service port's traffic goes: every endpoint usable cluster-wide, and this node's."""

    cluster: tuple[Endpoint, ...]
    local: tuple[Endpoint, ...]


def _ips(values: Iterable[Any]) -> tuple[str, ...]:
    return tuple(str(v) for v in values if v and ":" not in str(v))  # IPv4 only, as the node network is


def service_ports(service: Obj) -> list[ServicePort]:
    """The ports of ``service`` a proxy routes (none for headless or ExternalName Services)."""
    spec = service.get("spec") or {}
    meta = service.get("metadata") or {}
    if spec.get("type") == "ExternalName":
        return []
    cluster_ips = _ips(spec.get("clusterIPs") or [spec.get("clusterIP")])
    if not cluster_ips or cluster_ips[0] == "None":
        return []
    affinity: int | None = None
    if spec.get("sessionAffinity") == "ClientIP":
        client = ((spec.get("sessionAffinityConfig") or {}).get("clientIP")) or {}
        affinity = int(client.get("timeoutSeconds") or DEFAULT_AFFINITY_SECONDS)
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    lb_ips = _ips(i.get("ip") for i in ingress) if spec.get("type") == "LoadBalancer" else ()
    node_ports = spec.get("type") in ("NodePort", "LoadBalancer")
    return [
        ServicePort(
            namespace=str(meta.get("namespace") or "default"),
            name=str(meta.get("name") or ""),
            port_name=str(p.get("name") or ""),
            protocol=str(p.get("protocol") or "TCP"),
            port=int(p["port"]),
            cluster_ips=cluster_ips,
            node_port=int(p.get("nodePort") or 0) if node_ports else 0,
            external_ips=_ips(spec.get("externalIPs") or []),
            load_balancer_ips=lb_ips,
            affinity_seconds=affinity,
            internal_local=spec.get("internalTrafficPolicy") == "Local",
            external_local=spec.get("externalTrafficPolicy") == "Local",
        )
        for p in spec.get("ports") or []
        if p.get("port")
    ]


def slices_by_service(slices: Iterable[Obj]) -> dict[tuple[str, str], list[Obj]]:
    """EndpointSlices by the (namespace, name) of the Service they belong to (their service-name label)."""
    out: dict[tuple[str, str], list[Obj]] = defaultdict(list)
    for eps in slices:
        meta = eps.get("metadata") or {}
        owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
        if owner:
            out[(str(meta.get("namespace") or ""), str(owner))].append(eps)
    return out


def slice_endpoints(port: ServicePort, slices: Iterable[Obj]) -> list[Endpoint]:
    """The endpoints of ``port`` in ``slices`` (those of its Service), first occurrence of an address wins."""
    seen: dict[str, Endpoint] = {}
    for eps in slices:
        if eps.get("addressType", "IPv4") != "IPv4":
            continue
        number = next(
            (
                int(p["port"])
                for p in eps.get("ports") or []
                if str(p.get("name") or "") == port.port_name
                and str(p.get("protocol") or "TCP") == port.protocol
                and p.get("port") is not None
            ),
            None,
        )
        if number is None:
            continue
        for ep in eps.get("endpoints") or []:
            addresses = ep.get("addresses") or []
            if not addresses:
                continue
            cond = ep.get("conditions") or {}
            ready = cond.get("ready") is not False  # unset means ready (upstream: nil is treated as true)
            endpoint = Endpoint(
                ip=str(addresses[0]),
                port=number,
                ready=ready,
                serving=ready if cond.get("serving") is None else bool(cond["serving"]),
                terminating=bool(cond.get("terminating")),
                node_name=str(ep.get("nodeName") or ""),
            )
            if endpoint.address not in seen or (endpoint.ready and not seen[endpoint.address].ready):
                seen[endpoint.address] = endpoint
    return sorted(seen.values(), key=lambda e: (tuple(int(x) for x in e.ip.split(".")), e.port))


def _usable(endpoints: Iterable[Endpoint]) -> tuple[Endpoint, ...]:
    listed = tuple(endpoints)
    ready = tuple(e for e in listed if e.ready)
    return ready or tuple(e for e in listed if e.serving and e.terminating)


def categorize(endpoints: Iterable[Endpoint], node_name: str) -> Targets:
    """Ready endpoints (else serving terminating ones), cluster-wide and on ``node_name``."""
    listed = tuple(endpoints)
    return Targets(cluster=_usable(listed), local=_usable(e for e in listed if e.node_name == node_name))
