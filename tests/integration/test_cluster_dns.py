"""The cluster DNS against a real API server: Services and EndpointSlices made with the official client, names
asked over UDP and TCP with dnslib, names outside the zone forwarded to a real (dnslib) upstream server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Iterator
from typing import Any

import kubernetes.client
import pytest
from dnslib import QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSServer
from tests.integration.conftest import ThreadedServer, eventually

from pinnace.client.rest import RestClient
from pinnace.dns import ClusterDNS, DNSConfig
from pinnace.dns.forward import Forwarder

NS = "dns-test"
ZONE = "cluster.local"


# ---- a real upstream DNS server (dnslib's threaded one) -----------------------------------------------------
class UpstreamResolver(BaseResolver):  # type: ignore[misc]
    """example.com has an address; big.example.com has more TXT than fits in 512 bytes; the rest is NXDOMAIN."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        name = str(request.q.qname).lower()
        self.seen.append((name, handler.protocol))
        reply = request.reply()
        if name == "example.com." and request.q.qtype == QTYPE.A:
            reply.add_answer(RR("example.com", QTYPE.A, ttl=60, rdata=A("93.184.216.34")))
        elif name == "big.example.com.":
            for i in range(10):
                reply.add_answer(RR("big.example.com", QTYPE.TXT, ttl=60, rdata=TXT(f"{i}" * 100)))
        elif name != "example.com.":
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class Truncating(DNSHandler):  # type: ignore[misc]
    """Sends TC instead of UDP replies over 512 bytes, as real servers do."""

    udplen = 512


class Upstream:
    """UDP and TCP servers on one loopback port."""

    def __init__(self) -> None:
        self.resolver = UpstreamResolver()
        self.udp = DNSServer(self.resolver, address="127.0.0.1", port=0, handler=Truncating)
        self.port: int = self.udp.server.server_address[1]
        self.tcp = DNSServer(self.resolver, address="127.0.0.1", port=self.port, tcp=True, handler=Truncating)
        for server in (self.udp, self.tcp):
            server.server.logger.log_request = server.server.logger.log_reply = lambda *_: None
            server.start_thread()

    def stop(self) -> None:
        for server in (self.udp, self.tcp):
            server.stop()  # (dnslib's stop leaves the socket open)
            server.server.server_close()


# ---- fixtures ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    try:
        yield server
    finally:
        server.stop()


class Running:
    """A ClusterDNS serving on the API server's loop (its thread), so the test's thread may block on queries."""

    def __init__(self, server: ThreadedServer, config: DNSConfig) -> None:
        self.server = server
        self.dns, self.rest, self.port = server.call(self._start(server.url, config))

    @staticmethod
    async def _start(url: str, config: DNSConfig) -> tuple[ClusterDNS, RestClient, int]:
        rest = RestClient(url)
        dns = ClusterDNS(rest, config)
        port = await dns.start("127.0.0.1", 0)
        return dns, rest, port

    def stop(self) -> None:
        async def stop() -> None:
            await self.dns.stop()
            await self.rest.close()

        self.server.call(stop())


@pytest.fixture(scope="module")
def cluster(module_server: ThreadedServer) -> Iterator[kubernetes.client.ApiClient]:
    with kubernetes.client.ApiClient(kubernetes.client.Configuration(host=module_server.url)) as api:
        kubernetes.client.CoreV1Api(api).create_namespace({"metadata": {"name": NS}})
        yield api


@pytest.fixture(scope="module")
def dns(module_server: ThreadedServer, cluster: Any, upstream: Upstream) -> Iterator[Running]:
    running = Running(module_server, DNSConfig(upstreams=(("127.0.0.1", upstream.port),)))
    try:
        yield running
    finally:
        running.stop()


def query(port: int, name: str, qtype: str = "A", *, tcp: bool = False) -> DNSRecord:
    return DNSRecord.parse(DNSRecord.question(name, qtype).send("127.0.0.1", port, tcp=tcp, timeout=5))


def answered(port: int, name: str, *, tcp: bool = False) -> DNSRecord | None:
    """The reply to an A query if it has answers (for :func:`eventually`)."""
    reply = query(port, name, tcp=tcp)
    return reply if reply.rr else None


def addresses(reply: DNSRecord) -> list[str]:
    return [str(rr.rdata) for rr in reply.rr if rr.rtype in (QTYPE.A, QTYPE.AAAA)]


def core(api: kubernetes.client.ApiClient) -> kubernetes.client.CoreV1Api:
    return kubernetes.client.CoreV1Api(api)


def discovery(api: kubernetes.client.ApiClient) -> kubernetes.client.DiscoveryV1Api:
    return kubernetes.client.DiscoveryV1Api(api)


# ---- tests ------------------------------------------------------------------------------------------------
def test_cluster_ip_service_over_udp_and_tcp(dns: Running, cluster: kubernetes.client.ApiClient) -> None:
    assert dns.dns.synced
    svc = core(cluster).create_namespaced_service(NS, {
        "metadata": {"name": "web"},
        "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]},
    })  # fmt: skip
    ip = svc.spec.cluster_ip
    name = f"web.{NS}.svc.{ZONE}"
    for tcp in (False, True):
        reply = eventually(lambda tcp=tcp: answered(dns.port, name, tcp=tcp))  # type: ignore[misc]
        assert addresses(reply) == [ip] and reply.header.aa == 1 and reply.rr[0].ttl == 5
    srv = query(dns.port, f"_http._tcp.{name}", "SRV")
    assert [str(rr.rdata) for rr in srv.rr] == [f"0 100 80 {name}."]
    assert [str(rr.rdata) for rr in srv.ar] == [ip]
    reverse = ".".join(reversed(ip.split("."))) + ".in-addr.arpa"
    assert [str(rr.rdata) for rr in query(dns.port, reverse, "PTR").rr] == [f"{name}."]
    nodata = query(dns.port, name, "AAAA")
    assert nodata.header.rcode == RCODE.NOERROR and nodata.rr == [] and nodata.auth[0].rtype == QTYPE.SOA
    assert query(dns.port, f"{NS}.svc.{ZONE}").header.rcode == RCODE.NOERROR
    assert query(dns.port, f"nowhere.svc.{ZONE}").header.rcode == RCODE.NXDOMAIN
    assert [str(rr.rdata) for rr in query(dns.port, f"dns-version.{ZONE}", "TXT").rr] == ['"1.1.0"']
    assert addresses(query(dns.port, f"10-1-2-3.{NS}.pod.{ZONE}")) == ["10.1.2.3"]

    # Deleted: gone within moments.
    core(cluster).delete_namespaced_service("web", NS)
    eventually(lambda: query(dns.port, name).header.rcode == RCODE.NXDOMAIN, timeout=5)


def test_headless_service_follows_endpoint_readiness(dns: Running, cluster: kubernetes.client.ApiClient) -> None:
    core(cluster).create_namespaced_service(NS, {
        "metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]},
    })  # fmt: skip
    es = discovery(cluster).create_namespaced_endpoint_slice(NS, {
        "metadata": {"name": "db-1", "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv4",
        "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": ["10.244.0.11"], "hostname": "db-0", "conditions": {"ready": True}},
            {"addresses": ["10.244.0.12"], "hostname": "db-1", "conditions": {"ready": False}},
        ],
    })  # fmt: skip
    name = f"db.{NS}.svc.{ZONE}"
    eventually(lambda: addresses(query(dns.port, name)) == ["10.244.0.11"], timeout=5)
    assert addresses(query(dns.port, f"db-0.{name}", tcp=True)) == ["10.244.0.11"]
    assert query(dns.port, f"db-1.{name}").header.rcode == RCODE.NXDOMAIN
    srv = query(dns.port, f"_pg._tcp.{name}", "SRV")
    assert [str(rr.rdata) for rr in srv.rr] == [f"0 100 5432 db-0.{name}."]
    assert [str(rr.rdata) for rr in query(dns.port, "11.0.244.10.in-addr.arpa", "PTR").rr] == [f"db-0.{name}."]

    # db-1 turns ready.
    es.endpoints[1].conditions.ready = True
    discovery(cluster).replace_namespaced_endpoint_slice("db-1", NS, es)
    eventually(lambda: sorted(addresses(query(dns.port, name))) == ["10.244.0.11", "10.244.0.12"], timeout=5)
    assert addresses(query(dns.port, f"db-1.{name}")) == ["10.244.0.12"]


def test_external_name_is_chased_upstream(dns: Running, cluster: kubernetes.client.ApiClient) -> None:
    core(cluster).create_namespaced_service(NS, {
        "metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "example.com"},
    })  # fmt: skip
    reply = eventually(lambda: answered(dns.port, f"ext.{NS}.svc.{ZONE}"), timeout=5)
    assert [(QTYPE[rr.rtype], str(rr.rdata)) for rr in reply.rr] == [("CNAME", "example.com."), ("A", "93.184.216.34")]


def test_names_outside_the_zone_are_forwarded(dns: Running, upstream: Upstream) -> None:
    for tcp in (False, True):
        reply = query(dns.port, "example.com", tcp=tcp)
        assert addresses(reply) == ["93.184.216.34"] and reply.header.rcode == RCODE.NOERROR
    assert query(dns.port, "nope.example.com").header.rcode == RCODE.NXDOMAIN
    # 10 large TXT records: the upstream truncates over UDP, so we ask it again over TCP...
    upstream.resolver.seen.clear()
    full = query(dns.port, "big.example.com", "TXT", tcp=True)
    assert len(full.rr) == 10 and full.header.tc == 0
    assert ("big.example.com.", "udp") in upstream.resolver.seen and (
        "big.example.com.",
        "tcp",
    ) in upstream.resolver.seen
    # ...and a UDP client gets what fits in 512 bytes, with TC.
    part = query(dns.port, "big.example.com", "TXT")
    assert part.header.tc == 1 and len(part.rr) < 10


def test_no_upstream_is_servfail(module_server: ThreadedServer, cluster: Any) -> None:
    # A loopback port nobody listens on (refused at once) and no upstream at all.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    for upstreams in (((("127.0.0.1", closed),)), ()):
        running = Running(module_server, DNSConfig(upstreams=upstreams))
        try:
            assert query(running.port, "example.com").header.rcode == RCODE.SERVFAIL
            assert query(running.port, f"kubernetes.default.svc.{ZONE}").header.rcode != RCODE.SERVFAIL
        finally:
            running.stop()


def test_run_serves_until_cancelled(module_server: ThreadedServer, cluster: Any) -> None:
    async def start() -> tuple[asyncio.Task[None], int, RestClient]:
        rest = RestClient(module_server.url)
        serving: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_serving(port: int) -> None:
            serving.set_result(port)

        task = asyncio.create_task(ClusterDNS(rest, DNSConfig(upstreams=())).run("127.0.0.1", 0, on_serving))
        return task, await serving, rest

    async def cancel(task: asyncio.Task[None], rest: RestClient) -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await rest.close()

    task, port, rest = module_server.call(start())
    assert query(port, f"dns-version.{ZONE}", "TXT").rr
    module_server.call(cancel(task, rest))
    with pytest.raises(OSError):
        query(port, f"dns-version.{ZONE}", "TXT", tcp=True)


async def test_silent_upstream_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        forwarder = Forwarder([silent.getsockname()], timeout=0.3)
        started = asyncio.get_running_loop().time()
        assert await forwarder.forward(DNSRecord.question("example.com").pack()) is None
        assert 0.25 < asyncio.get_running_loop().time() - started < 2


def test_garbage_does_not_kill_it(dns: Running) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(2)
        for junk in (b"", b"\x00", b"\xff" * 11, b"hello, is this DNS?" * 3):
            s.sendto(junk, ("127.0.0.1", dns.port))
        # A header and then nonsense: FORMERR, with our ID.
        s.sendto(struct.pack("!HHHHHH", 4242, 0x0100, 1, 0, 0, 0) + b"\x3fabc", ("127.0.0.1", dns.port))
        while True:
            data, _ = s.recvfrom(4096)
            if data[:2] == struct.pack("!H", 4242):
                break
        assert DNSRecord.parse(data).header.rcode == RCODE.FORMERR
    # Broken TCP framing: a length and too few bytes, then a hang-up.
    with socket.create_connection(("127.0.0.1", dns.port), timeout=2) as c:
        c.sendall(b"\x00\x40abc")
    with socket.create_connection(("127.0.0.1", dns.port), timeout=2) as c:
        c.sendall(b"\x00\x02ab")
        assert c.recv(10) == b""  # a frame too short to be a message: the connection is closed
    assert query(dns.port, f"dns-version.{ZONE}", "TXT").header.rcode == RCODE.NOERROR
    assert query(dns.port, f"dns-version.{ZONE}", "TXT", tcp=True).header.rcode == RCODE.NOERROR


def test_several_queries_on_one_tcp_connection(dns: Running) -> None:
    names = [f"dns-version.{ZONE}", f"nowhere.svc.{ZONE}", f"{NS}.svc.{ZONE}"]
    with socket.create_connection(("127.0.0.1", dns.port), timeout=5) as c:
        for i, name in enumerate(names):
            packet = DNSRecord.question(name, "TXT").pack()
            packet[:2] = struct.pack("!H", 100 + i)
            c.sendall(struct.pack("!H", len(packet)) + packet)
        replies = {}
        with c.makefile("rb") as stream:
            for _ in names:
                (size,) = struct.unpack("!H", stream.read(2))
                reply = DNSRecord.parse(stream.read(size))
                replies[reply.header.id] = reply.header.rcode
    assert replies == {100: RCODE.NOERROR, 101: RCODE.NXDOMAIN, 102: RCODE.NOERROR}
