"""The ``kube-dns`` Service ``pinnace up`` makes, and the controller manager's DNS server behind it.

The server publishes its own address as the Service's EndpointSlice while it serves, answers for the cluster's
Services (``kube-dns`` itself included), and takes the slice away when it stops.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from dnslib import QTYPE, RCODE, DNSRecord

from pinnace.api import errors
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.clusterdns import DNSEndpoint, dns_service_ip, install_dns_service
from pinnace.storage.sqlite import SQLiteStore

SERVICES = ResourceRef("", "v1", "services")
SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices")


def _ask(name: str, port: int, qtype: str = "A") -> DNSRecord:
    return DNSRecord.parse(DNSRecord.question(name, qtype).send("127.0.0.1", port, timeout=2))


async def test_the_dns_service_and_its_server(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store, service_cidr="10.96.0.0/12")
    await server.listen("127.0.0.1", 0)
    admin = RestClient(server.url)
    task: asyncio.Task[None] | None = None
    try:
        # kubeadm's address, its DNS ports; made again at the next start if deleted, a user's own one kept
        assert dns_service_ip("10.96.0.0/12") == "10.96.0.10"
        assert await install_dns_service(server, "10.96.0.0/12") == "10.96.0.10"
        service = await admin.get(SERVICES, "kube-dns", "kube-system")
        assert service["spec"]["clusterIP"] == "10.96.0.10"
        assert [(p["name"], p["port"], p["protocol"]) for p in service["spec"]["ports"]] == [
            ("dns", 53, "UDP"),
            ("dns-tcp", 53, "TCP"),
        ]
        assert "selector" not in service["spec"] and service["metadata"]["labels"]["k8s-app"] == "kube-dns"
        assert await install_dns_service(server, "10.96.0.0/12") == "10.96.0.10"  # already there: unchanged

        dns = DNSEndpoint(admin, "127.0.0.1", 0, slice_suffix="test")
        task = asyncio.create_task(dns.run())

        async def published() -> dict[str, Any] | None:
            try:
                return await admin.get(SLICES, "kube-dns-test", "kube-system")
            except errors.NotFound:
                return None

        async with asyncio.timeout(30):
            while (slice_ := await published()) is None:
                await asyncio.sleep(0.05)
        assert slice_["metadata"]["labels"] == {
            "kubernetes.io/service-name": "kube-dns",
            "endpointslice.kubernetes.io/managed-by": "cluster-dns.pinnace.dev",
        }
        assert slice_["endpoints"][0]["addresses"] == ["127.0.0.1"]
        port = int(slice_["ports"][0]["port"])
        assert port > 0

        answer = await asyncio.to_thread(_ask, "kube-dns.kube-system.svc.cluster.local", port)
        assert answer.header.rcode == RCODE.NOERROR
        assert [str(rr.rdata) for rr in answer.rr if rr.rtype == QTYPE.A] == ["10.96.0.10"]

        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        task = None
        assert await published() is None  # withdrawn when it stops
    finally:
        if task is not None:
            task.cancel()
        await admin.close()
        await server.stop()
        await store.close()
