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

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef

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
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
ENDPOINT_SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices")
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
#: Seconds between attempts to serve while the address cannot be bound yet (the node bridge comes up after the
#: controller manager starts), growing to the second figure.
RETRY_FIRST, RETRY_MAX = 1.0, 30.0


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
    family = "IPv6" if ipaddress.ip_address(address).version == 6 else "IPv4"
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": DNS_NAMESPACE,
            "labels": {SERVICE_NAME_LABEL: DNS_SERVICE, MANAGED_BY_LABEL: DNS_MANAGED_BY},
        },
        "addressType": family,
        "endpoints": [{"addresses": [address], "conditions": {"ready": True, "serving": True, "terminating": False}}],
        "ports": [
            {"name": "dns", "port": port, "protocol": "UDP"},
            {"name": "dns-tcp", "port": port, "protocol": "TCP"},
        ],
    }


@dataclass
class DNSEndpoint:
    """The cluster's DNS server, run by the controller manager: serves on ``address:port`` (retrying while the
    address cannot be bound) and publishes that as ``kube-dns``'s EndpointSlice ``kube-dns-<slice_suffix>`` while
    it serves. A manager runnable that needs no leadership: every controller manager serves on its own host."""

    rest: RestClient
    address: str
    port: int = DNS_PORT
    zone: str = "cluster.local"
    slice_suffix: str = "pinnace"
    name: str = "cluster-dns"
    needs_leader_election: bool = False

    @property
    def slice_name(self) -> str:
        """The EndpointSlice it publishes."""
        return f"{DNS_SERVICE}-{self.slice_suffix}"

    async def run(self) -> None:
        """Serve until cancelled; an address not bindable yet (or taken) is retried with back-off, said once."""
        from pinnace.dns import ClusterDNS, DNSConfig

        delay = RETRY_FIRST
        said = False
        try:
            while True:
                dns = ClusterDNS(self.rest, DNSConfig(zone=self.zone))
                try:
                    await dns.run(self.address, self.port, on_serving=self._publish)
                    return
                except OSError as exc:
                    if not said:
                        log.warning(
                            "cluster DNS cannot serve on %s:%d yet (%s); retrying", self.address, self.port, exc
                        )
                        said = True
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX, delay * 2)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._withdraw())

    async def _publish(self, port: int) -> None:
        """Point ``kube-dns`` at the server (create or replace its slice), retrying while the API refuses or cannot
        be reached (the server answers meanwhile: it is bound before this runs)."""
        from pinnace.adm.kubeadmconfig import create_or_update

        log.info("cluster DNS serving %s on %s:%d", self.zone, self.address, port)
        body = dns_endpoint_slice(self.slice_name, self.address, port)
        delay = RETRY_FIRST
        while True:
            try:
                await create_or_update(self.rest, ENDPOINT_SLICES, body, DNS_NAMESPACE)
                return
            except (errors.StatusError, OSError) as exc:
                log.warning("cluster DNS: cannot publish %s/%s (%s); retrying", DNS_NAMESPACE, self.slice_name, exc)
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)

    async def _withdraw(self) -> None:
        """Take the slice away (the Service then has no endpoint: queries fail fast instead of timing out)."""
        with contextlib.suppress(errors.NotFound):
            await self.rest.delete(ENDPOINT_SLICES, self.slice_name, DNS_NAMESPACE)


def dns_bind_address(runtimes: Sequence[str], *, bridge_host: str, loopback: str) -> str:
    """Where the cluster's DNS listens: the host's end of the node bridge when any node runs ``oci`` (its pods
    reach the host through it), else the slot's loopback address (``process`` pods share the host's network)."""
    return bridge_host if "oci" in runtimes else loopback
