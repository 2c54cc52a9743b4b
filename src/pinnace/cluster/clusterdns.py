"""Cluster DNS in a local cluster: the ``kube-dns`` Service, and the DNS server behind it.

A kubeadm cluster runs CoreDNS behind the Service ``kube-system/kube-dns`` at
the tenth address of the Service range (``10.96.0.10``), and every kubelet's
``clusterDNS`` names that address: pods resolve ``<svc>.<ns>.svc.cluster.local``
through it. ``pinnace up`` does the same with :class:`pinnace.dns.ClusterDNS`,
run by the controller manager (beside the controllers, whose Service and
EndpointSlice informers it is fed like theirs) on an address of the host the
cluster's pods reach — the host's end of the node bridge for ``oci`` nodes
(``172.18.0.1``), the slot's loopback address for ``process`` nodes
(``127.0.0.1``), on port 53. The Service has no selector: the DNS server
publishes its own address as the Service's EndpointSlice
(``endpointslice.kubernetes.io/managed-by: cluster-dns.pinnace.dev``) once it
serves, and each node's service proxy routes the Service's address to it.

Port 53 needs root: without it there is no cluster DNS (the nodes are given no
``clusterDNS``, so pods fall back to the host's resolvers, as a kubelet without
one does).
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pinnace.api import errors
from pinnace.cluster.selfendpoint import (
    endpoint_slice,
    host_slice_suffix,
    publish_endpoint_slice,
    serve_with_retries,
    withdraw_endpoint_slice,
)

if TYPE_CHECKING:
    from pinnace.apiserver.server import APIServer
    from pinnace.client.rest import RestClient

__all__ = [
    "DNS_MANAGED_BY",
    "DNS_NAMESPACE",
    "DNS_PORT",
    "DNS_SERVICE",
    "DNSEndpoint",
    "dns_endpoint_slice",
    "dns_service",
    "dns_service_ip",
    "install_dns_service",
]

log = logging.getLogger(__name__)

DNS_NAMESPACE = "kube-system"
DNS_SERVICE = "kube-dns"
DNS_PORT = 53
#: The managed-by label of the EndpointSlice the DNS server publishes (the endpointslice controller leaves it alone).
DNS_MANAGED_BY = "cluster-dns.pinnace.dev"
#: The slice name of earlier releases, where every host's DNS server published the same one.
LEGACY_SLICE = f"{DNS_SERVICE}-pinnace"


def dns_service_ip(service_cidr: str) -> str:
    """kubeadm's DNS address: the tenth of the Service range (``10.96.0.10`` in ``10.96.0.0/12``)."""
    return str(ipaddress.ip_network(service_cidr.split(",")[0].strip(), strict=False).network_address + 10)


def dns_service(cluster_ip: str) -> dict[str, Any]:
    """``kube-system/kube-dns`` as kubeadm's CoreDNS add-on makes it, without the selector (the DNS server is no pod:
    it publishes its own EndpointSlice) and without the metrics port (the server has no Prometheus endpoint)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": DNS_SERVICE,
            "namespace": DNS_NAMESPACE,
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
        },
        "spec": {
            "clusterIP": cluster_ip,
            "ports": [
                {"name": "dns", "port": DNS_PORT, "protocol": "UDP", "targetPort": DNS_PORT},
                {"name": "dns-tcp", "port": DNS_PORT, "protocol": "TCP", "targetPort": DNS_PORT},
            ],
        },
    }


async def install_dns_service(server: APIServer, service_cidr: str) -> str:
    """Make ``kube-system/kube-dns`` if it is missing (as ``kubeadm init`` and ``upgrade`` apply the add-on: a
    deleted one comes back at the next start); the address the nodes' ``clusterDNS`` is to name: the Service's
    cluster IP (a user's Service of that name keeps its own)."""
    info = server.registry.get("", "v1", "services")
    assert info is not None
    wanted = dns_service_ip(service_cidr)
    cached = await server.rest.get_cached(info, DNS_NAMESPACE, DNS_SERVICE)
    if cached is None:
        try:
            return str((await server.rest.create(info, DNS_NAMESPACE, dns_service(wanted)))["spec"]["clusterIP"])
        except errors.AlreadyExists:
            cached = await server.rest.get_cached(info, DNS_NAMESPACE, DNS_SERVICE)
    spec = (cached.obj.get("spec") or {}) if cached is not None else {}
    return str(spec.get("clusterIP") or wanted)


def dns_endpoint_slice(name: str, address: str, port: int = DNS_PORT) -> dict[str, Any]:
    """The EndpointSlice of ``kube-dns`` that points at a DNS server listening on ``address:port``."""
    ports = [{"name": "dns", "port": port, "protocol": "UDP"}, {"name": "dns-tcp", "port": port, "protocol": "TCP"}]
    return endpoint_slice(name, DNS_NAMESPACE, DNS_SERVICE, DNS_MANAGED_BY, address, ports)


@dataclass
class DNSEndpoint:
    """The cluster's DNS server, run by the controller manager: serves on ``address:port`` (retrying while the
    address cannot be bound) and publishes that as ``kube-dns``'s EndpointSlice ``kube-dns-<slice_suffix>`` while
    it serves. A manager runnable that needs no leadership: every controller manager serves on its own host."""

    rest: RestClient
    address: str
    port: int = DNS_PORT
    zone: str = "cluster.local"
    slice_suffix: str = field(default_factory=host_slice_suffix)
    name: str = "cluster-dns"
    needs_leader_election: bool = False

    @property
    def slice_name(self) -> str:
        """The EndpointSlice it publishes."""
        return f"{DNS_SERVICE}-{self.slice_suffix}"

    async def run(self) -> None:
        """Serve until cancelled; an address not bindable yet (or taken) is retried with back-off, said once."""
        from pinnace.dns import ClusterDNS, DNSConfig

        async def serve() -> None:
            await ClusterDNS(self.rest, DNSConfig(zone=self.zone)).run(
                self.address, self.port, on_serving=self._publish
            )

        where = f"cluster DNS on {self.address}:{self.port}"
        await serve_with_retries(serve, where, (OSError,), self._withdraw)

    async def _publish(self, port: int) -> None:
        """Point ``kube-dns`` at the server (the server answers meanwhile: it is bound before this runs)."""
        log.info("cluster DNS serving %s on %s:%d", self.zone, self.address, port)
        await publish_endpoint_slice(self.rest, dns_endpoint_slice(self.slice_name, self.address, port), "cluster DNS")
        if self.slice_name != LEGACY_SLICE:  # the one name every host's server shared before (2026-11), left behind
            with contextlib.suppress(errors.StatusError, OSError):
                await withdraw_endpoint_slice(self.rest, LEGACY_SLICE, DNS_NAMESPACE)

    async def _withdraw(self) -> None:
        """Take the slice away (the Service then has no endpoint: queries fail fast instead of timing out)."""
        await withdraw_endpoint_slice(self.rest, self.slice_name, DNS_NAMESPACE)


def dns_bind_address(runtimes: Sequence[str], *, bridge_host: str, loopback: str) -> str:
    """Where the cluster's DNS listens: the host's end of the node bridge when any node runs ``oci`` (its pods
    reach the host through it), else the slot's loopback address (``process`` pods share the host's network)."""
    return bridge_host if "oci" in runtimes else loopback
