"""The service proxy against a real API server and real iptables, in a scratch network namespace.

The namespace has an interface (one end of a veth pair) with the "node" address 10.250.0.2 and two
"pods" 10.250.0.3 and 10.250.0.4 (HTTP-less TCP servers that answer with their
name), and a route for the service range. Services and EndpointSlices are made
through the API; connections are made from inside the namespace to cluster IPs
and NodePorts, so the kernel's NAT — not a model of it — decides where they go.
Needs root (CAP_NET_ADMIN), as the proxy does.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from pinnace.client.rest import ResourceRef, RestClient
from pinnace.node.oci.netns import open_connection_in, socket_in
from pinnace.proxy.conntrack import Conntrack, ConntrackError
from pinnace.proxy.iptables import Iptables
from pinnace.proxy.proxier import NetnsLock, ServiceProxy
from pinnace.proxy.stale import Flush

SERVICES = ResourceRef("", "v1", "services")
SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices")
NODE, POD_A, POD_B, CLIENT = "10.250.0.2", "10.250.0.3", "10.250.0.4", "10.251.0.2"


def _namespace(name: str, script: str) -> Iterator[str]:
    """Run ``script`` (which makes the network namespace ``name``), yield its path, then delete it."""
    subprocess.run(["sh", "-ec", script], check=True)
    try:
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


@pytest.fixture
def netns() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.fail("the service proxy tests need root (CAP_NET_ADMIN), as the proxy itself does")
    name = f"pnproxy{os.getpid()}"
    script = f"""
        ip netns add {name}
        ip -n {name} link set lo up
        ip -n {name} link add dummy0 type veth peer name dummy1
        ip -n {name} link set dummy1 up
        ip -n {name} addr add {NODE}/24 dev dummy0
        ip -n {name} addr add {POD_A}/24 dev dummy0
        ip -n {name} addr add {POD_B}/24 dev dummy0
        ip -n {name} link set dummy0 up
        ip -n {name} route add 10.96.0.0/12 dev dummy0 src {NODE}
    """
    yield from _namespace(name, script)


@pytest.fixture
def pod_netns(netns: str) -> Iterator[str]:
    """A "pod": a second namespace routed through the node's (veth, default route via the node), as CNI does."""
    name, node = f"pnpod{os.getpid()}", os.path.basename(netns)
    script = f"""
        ip netns add {name}
        ip -n {node} link add topod type veth peer name eth0 netns {name}
        ip -n {node} addr add 10.251.0.1/24 dev topod
        ip -n {node} link set topod up
        ip netns exec {node} sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
        ip -n {name} addr add {CLIENT}/24 dev eth0
        ip -n {name} link set eth0 up
        ip -n {name} route add default via 10.251.0.1
    """
    yield from _namespace(name, script)


@pytest.fixture
async def pods(netns: str) -> AsyncIterator[None]:
    """A TCP server on each pod address and the node's loopback, port 8080, answering its name and the client's."""
    servers = []
    for ip, name in ((POD_A, "a"), (POD_B, "b"), ("127.0.0.1", "loopback")):
        sock = await asyncio.to_thread(socket_in, netns)
        sock.bind((ip, 8080))
        sock.listen(16)
        sock.setblocking(False)

        async def answer(r: asyncio.StreamReader, w: asyncio.StreamWriter, name: str = name) -> None:
            w.write(f"{name} {w.get_extra_info('peername')[0]}".encode())
            await w.drain()
            w.close()

        servers.append(await asyncio.start_server(answer, sock=sock))
    try:
        yield
    finally:
        for server in servers:
            server.close()


async def ask(netns: str, ip: str, port: int) -> str:
    """Connect from inside the namespace; what the server answered ("" if the connection was refused)."""
    try:
        reader, writer = await asyncio.wait_for(open_connection_in(netns, ip, port), 5)
    except ConnectionRefusedError:
        return ""
    try:
        return (await asyncio.wait_for(reader.read(), 5)).decode()
    finally:
        writer.close()


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = await check()
        if result:
            return result
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def service(name: str, cluster_ip: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"clusterIP": cluster_ip, "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec},
    }


def endpoint_slice(service_name: str, *endpoints: tuple[str, bool]) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{service_name}-abcde",
            "namespace": "default",
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {"addresses": [ip], "conditions": {"ready": ready, "serving": ready, "terminating": False}}
            for ip, ready in endpoints
        ],
    }


@contextlib.asynccontextmanager
async def running(proxy: ServiceProxy) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(proxy.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def make_proxy(
    client: RestClient, netns: str, tmp_path: Path, name: str = "node-a", conntrack: Conntrack | None = None
) -> ServiceProxy:
    return ServiceProxy(
        client,
        name,
        iptables=Iptables(netns),
        conntrack=conntrack,
        lock=NetnsLock(netns, tmp_path / "locks"),
        min_sync_period=0.2,
        lock_retry=0.1,
    )


async def saved(netns: str) -> str:
    return await Iptables(netns).save()


async def test_cluster_ip_and_node_port_reach_ready_endpoints_and_rules_go_at_stop(
    client: RestClient, netns: str, pods: None, tmp_path: Path
) -> None:
    await client.create(SERVICES, service("web", "10.96.10.10", type="NodePort"), "default")
    await client.create(SERVICES, service("empty", "10.96.10.11"), "default")
    await client.create(SLICES, endpoint_slice("web", (POD_A, True), (POD_B, True)), "default")
    created = await client.get(SERVICES, "web", "default")
    node_port = created["spec"]["ports"][0]["nodePort"]
    proxy = make_proxy(client, netns, tmp_path)
    async with running(proxy):
        await asyncio.wait_for(proxy.synced.wait(), 15)
        # Both ready endpoints serve the cluster IP (random choice: ask until each has answered).
        seen: set[str] = set()
        for _ in range(200):
            seen.add((await ask(netns, "10.96.10.10", 80)).split(" ")[0])
            if seen == {"a", "b"}:
                break
        assert seen == {"a", "b"}
        # A Service without endpoints is rejected at once (REJECT), not left to time out.
        assert await ask(netns, "10.96.10.11", 80) == ""
        # The NodePort on the node's address reaches an endpoint, masqueraded to the node's address.
        name, source = (await ask(netns, NODE, node_port)).split(" ")
        assert name in ("a", "b") and source == NODE

        # b stops being ready: only a gets traffic.
        changed = endpoint_slice("web", (POD_A, True), (POD_B, False))
        await client.patch(SLICES, "web-abcde", {"endpoints": changed["endpoints"]}, "default")

        async def only_a() -> bool:
            return {(await ask(netns, "10.96.10.10", 80)).split(" ")[0] for _ in range(20)} == {"a"}

        await eventually(only_a)
        # The Service goes: its chains go with it.
        web_chain = next(line.split()[0][1:] for line in (await saved(netns)).splitlines()
                         if line.startswith(":KUBE-SVC-"))  # fmt: skip
        await client.delete(SERVICES, "web", "default")

        async def chain_gone() -> bool:
            return web_chain not in await saved(netns)

        await eventually(chain_gone)
    after = await saved(netns)
    assert "KUBE-" not in after, after


async def test_client_ip_affinity_sticks_to_one_endpoint(
    client: RestClient, netns: str, pods: None, tmp_path: Path
) -> None:
    sticky = service("sticky", "10.96.10.12", sessionAffinity="ClientIP")
    await client.create(SERVICES, sticky, "default")
    await client.create(SLICES, endpoint_slice("sticky", (POD_A, True), (POD_B, True)), "default")
    proxy = make_proxy(client, netns, tmp_path)
    async with running(proxy):
        await asyncio.wait_for(proxy.synced.wait(), 15)
        answers = {(await ask(netns, "10.96.10.12", 80)).split(" ")[0] for _ in range(30)}
        assert len(answers) == 1 and answers <= {"a", "b"}
        rules = await saved(netns)
        assert "--rcheck --seconds 10800 --reap" in rules


async def test_one_proxy_per_network_namespace_the_second_takes_over(
    client: RestClient, netns: str, pods: None, tmp_path: Path
) -> None:
    await client.create(SERVICES, service("web", "10.96.10.13"), "default")
    await client.create(SLICES, endpoint_slice("web", (POD_A, True)), "default")
    first, second = make_proxy(client, netns, tmp_path, "node-a"), make_proxy(client, netns, tmp_path, "node-b")
    async with running(first) as first_task:
        await asyncio.wait_for(first.synced.wait(), 15)
        async with running(second):
            await asyncio.sleep(0.5)
            assert not second.synced.is_set()  # it waits for the namespace's lock
            first_task.cancel()
            await asyncio.wait_for(second.synced.wait(), 15)
            assert (await ask(netns, "10.96.10.13", 80)).startswith("a ")
    assert "KUBE-" not in await saved(netns)


async def test_two_clusters_proxies_share_a_namespace_under_their_own_chains_and_each_removes_only_its_own(
    client: RestClient, netns: str, pods: None, tmp_path: Path
) -> None:
    """Two clusters' process nodes in one namespace (the host's): proxies with the chain prefixes KUBE- and KUBE1-
    run at once, and the first one stopping as the node agent stops it (cancelled twice: the agent's gather, then
    its stop) removes its chains to the end, leaving the other's routing."""
    await client.create(SERVICES, service("web", "10.96.10.15"), "default")
    await client.create(SLICES, endpoint_slice("web", (POD_A, True)), "default")
    first = make_proxy(client, netns, tmp_path, "node-a")
    second = ServiceProxy(client, "node-b", prefix="KUBE1-", iptables=Iptables(netns),
                          lock=NetnsLock(netns, tmp_path / "locks", prefix="KUBE1-"), min_sync_period=0.2)  # fmt: skip
    assert first.lock.path != second.lock.path
    async with running(second):
        first_task = asyncio.create_task(first.run())
        await asyncio.wait_for(first.synced.wait(), 15)
        await asyncio.wait_for(second.synced.wait(), 15)
        rules = await saved(netns)
        assert "-j KUBE-SERVICES" in rules and "-j KUBE1-SERVICES" in rules
        assert (await ask(netns, "10.96.10.15", 80)).startswith("a ")
        first_task.cancel()
        await asyncio.sleep(0)  # its clean-up has begun
        first_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await first_task
        rules = await saved(netns)
        assert "KUBE-" not in rules.replace("KUBE1-", ""), rules
        assert "-A KUBE1-SERVICES -d 10.96.10.15/32" in rules
        assert (await ask(netns, "10.96.10.15", 80)).startswith("a ")
    assert "KUBE1-" not in await saved(netns)


async def test_a_second_clusters_proxy_moves_its_jumps_back_above_a_restarted_first_clusters(
    client: RestClient, netns: str, pods: None, tmp_path: Path
) -> None:
    """The KUBE- proxy (re)started after the KUBE1- one inserts its jumps on top; the KUBE1- proxy's next sync puts
    its own jump to KUBE1-SERVICES back above (the KUBE- NodePorts match any local address)."""
    await client.create(SERVICES, service("web", "10.96.10.16"), "default")
    second = ServiceProxy(client, "node-b", prefix="KUBE1-", iptables=Iptables(netns),
                          lock=NetnsLock(netns, tmp_path / "locks", prefix="KUBE1-"), min_sync_period=0.2)  # fmt: skip
    first = make_proxy(client, netns, tmp_path, "node-a")

    async def portal_order() -> list[str]:
        return [line.rsplit(" ", 1)[1] for line in (await saved(netns)).splitlines()
                if line.startswith("-A OUTPUT") and line.endswith("SERVICES") and "conntrack" not in line]  # fmt: skip

    async with running(second):
        await asyncio.wait_for(second.synced.wait(), 15)
        async with running(first):
            await asyncio.wait_for(first.synced.wait(), 15)
            assert await portal_order() == ["KUBE-SERVICES", "KUBE1-SERVICES"]
            await client.create(SERVICES, service("other", "10.96.10.17"), "default")  # a change: both sync

            async def second_first() -> bool:
                return await portal_order() == ["KUBE1-SERVICES", "KUBE-SERVICES"]

            await eventually(second_first)


async def test_rules_left_by_a_crashed_proxy_are_replaced(
    client: RestClient, netns: str, pods: None, tmp_path: Path
) -> None:
    stale = (
        "*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-SVC-AAAAAAAAAAAAAAAA - [0:0]\n"
        "-A KUBE-SERVICES -d 10.96.10.14/32 -p tcp -m tcp --dport 80 -j KUBE-SVC-AAAAAAAAAAAAAAAA\n"
        "-A KUBE-SVC-AAAAAAAAAAAAAAAA -p tcp -j DNAT --to-destination 10.250.0.9:1\nCOMMIT\n"
    )
    await Iptables(netns).restore(stale)
    await client.create(SERVICES, service("web", "10.96.10.14"), "default")
    await client.create(SLICES, endpoint_slice("web", (POD_B, True)), "default")
    proxy = make_proxy(client, netns, tmp_path)
    async with running(proxy):
        await asyncio.wait_for(proxy.synced.wait(), 15)
        assert "KUBE-SVC-AAAAAAAAAAAAAAAA" not in await saved(netns)
        assert (await ask(netns, "10.96.10.14", 80)).startswith("b ")


async def test_a_pod_reaches_services_through_the_node_even_on_the_nodes_loopback(
    client: RestClient, netns: str, pod_netns: str, pods: None, tmp_path: Path
) -> None:
    """Pod traffic is routed through the node (PREROUTING, not OUTPUT); an endpoint on 127.0.0.1 — the API server's
    in ``pinnace up`` — is reached thanks to route_localnet (KUBE-FIREWALL lets only DNAT'ed traffic in)."""
    await client.create(SERVICES, service("web", "10.96.10.15"), "default")
    await client.create(SLICES, endpoint_slice("web", (POD_A, True)), "default")
    await client.create(SERVICES, service("api", "10.96.10.16"), "default")
    await client.create(SLICES, endpoint_slice("api", ("127.0.0.1", True)), "default")
    proxy = make_proxy(client, netns, tmp_path)
    async with running(proxy):
        await asyncio.wait_for(proxy.synced.wait(), 15)
        assert await ask(pod_netns, "10.96.10.15", 80) == f"a {CLIENT}"  # the pod's address is kept
        assert await ask(pod_netns, "10.96.10.16", 80) == f"loopback {CLIENT}"


# Stale UDP flows. A UDP "flow" (same addresses and ports) keeps the NAT its first packet got for as long as
# packets keep coming; the proxy deletes the conntrack entries a change leaves stale (proxy/stale.py). Both
# "pods" answer on UDP 8053 with their name; a's server stays up after a leaves the Service, so that a flow
# still DNAT'ed to it is seen (in a cluster the pod is gone and those datagrams vanish).
DNS_IP = "10.96.10.20"


class _Answer(asyncio.DatagramProtocol):
    def __init__(self, name: str) -> None:
        self.name = name
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.name.encode(), addr)


@pytest.fixture
async def udp_pods(netns: str) -> AsyncIterator[None]:
    transports = []
    for ip, name in ((POD_A, "a"), (POD_B, "b")):
        sock = await asyncio.to_thread(socket_in, netns, socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind((ip, 8053))
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(functools.partial(_Answer, name), sock=sock)
        transports.append(transport)
    try:
        yield
    finally:
        for transport in transports:
            transport.close()


class UdpClient:
    """One UDP flow from inside the namespace: the same source port for every datagram (a connected socket)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def to(cls, netns: str, ip: str, port: int) -> UdpClient:
        sock = await asyncio.to_thread(socket_in, netns, socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect((ip, port))
        return cls(sock)

    async def ask(self) -> str:
        """Send one datagram; who answered ("" if nobody did in a second, or the port was unreachable)."""
        while True:  # forget answers that came after an earlier ask gave up
            try:
                self.sock.recv(64)
            except BlockingIOError:
                break
            except ConnectionRefusedError:
                continue
        self.sock.send(b"?")
        try:
            return (await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 64), 1)).decode()
        except (TimeoutError, ConnectionRefusedError):
            return ""

    def close(self) -> None:
        self.sock.close()


def dns_service(name: str = "dns", ip: str = DNS_IP, **spec: Any) -> dict[str, Any]:
    ports = [{"name": "dns", "port": 53, "targetPort": 8053, "protocol": "UDP"}]
    return {"metadata": {"name": name, "namespace": "default"}, "spec": {"clusterIP": ip, "ports": ports, **spec}}


def dns_slice(*ips: str, name: str = "dns") -> dict[str, Any]:
    eps = endpoint_slice(name, *((ip, True) for ip in ips))
    eps["ports"] = [{"name": "dns", "port": 8053, "protocol": "UDP"}]
    return eps


async def track_connections(netns: str) -> None:
    """Make the namespace track connections, as a node's does (conntrack runs once some rule needs it: CNI's do)."""
    await Iptables(netns).restore("*filter\n-A OUTPUT -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n")


async def replies_from(netns: str, ip: str) -> list[str]:
    """Where the replies of the UDP flows to ``ip`` come from (their conntrack entries' reply sources)."""
    return [entry.reply_src for entry in await Conntrack(netns).entries() if entry.dst == ip]


@pytest.mark.parametrize("conntrack_tool", ["conntrack", "pinnace-no-such-conntrack"])
async def test_udp_flows_move_to_the_new_endpoint_when_their_endpoint_is_replaced(
    client: RestClient, netns: str, udp_pods: None, tmp_path: Path, conntrack_tool: str
) -> None:
    """With the conntrack tool, a flow's next datagram after the sync reaches the new endpoint, through the cluster
    IP and the NodePort alike; without it (the proxy still routes new flows) flows keep going to the old one —
    what the deletion is for."""
    await client.create(SERVICES, dns_service(type="NodePort"), "default")
    await client.create(SLICES, dns_slice(POD_A), "default")
    node_port = (await client.get(SERVICES, "dns", "default"))["spec"]["ports"][0]["nodePort"]
    frontends = ((DNS_IP, 53), (NODE, node_port))
    proxy = make_proxy(client, netns, tmp_path, conntrack=Conntrack(netns, tool=conntrack_tool))
    flows = [await UdpClient.to(netns, ip, port) for ip, port in frontends]
    try:
        async with running(proxy):
            await asyncio.wait_for(proxy.synced.wait(), 15)
            assert [await flow.ask() for flow in flows] == ["a", "a"]
            await client.patch(SLICES, "dns-abcde", {"endpoints": dns_slice(POD_B)["endpoints"]}, "default")

            async def new_flows_reach_b() -> bool:
                fresh = [await UdpClient.to(netns, ip, port) for ip, port in frontends]
                try:
                    return [await flow.ask() for flow in fresh] == ["b", "b"]
                finally:
                    for flow in fresh:
                        flow.close()

            await eventually(new_flows_reach_b)
            if conntrack_tool == "conntrack":

                async def flows_reach_b() -> bool:
                    return [await flow.ask() for flow in flows] == ["b", "b"]

                await eventually(flows_reach_b)
            else:
                assert [await flow.ask() for flow in flows for _ in range(2)] == ["a"] * 4
    finally:
        for flow in flows:
            flow.close()


async def test_a_udp_flow_started_before_the_service_was_routed_reaches_its_endpoint(
    client: RestClient, netns: str, udp_pods: None, tmp_path: Path
) -> None:
    """Datagrams sent to a service IP before any rule existed were not DNAT'ed, and their flow's entry keeps it so:
    the proxy's first sync deletes the entries of UDP frontends that their endpoints do not answer."""
    await client.create(SERVICES, dns_service(), "default")
    await client.create(SLICES, dns_slice(POD_B), "default")
    await track_connections(netns)
    flow = await UdpClient.to(netns, DNS_IP, 53)
    try:
        assert await flow.ask() == ""  # no rules yet: sent towards the service range's route, unanswered
        assert await replies_from(netns, DNS_IP) == [DNS_IP]  # not DNAT'ed
        proxy = make_proxy(client, netns, tmp_path)
        async with running(proxy):
            await asyncio.wait_for(proxy.synced.wait(), 15)
            assert await flow.ask() == "b"
    finally:
        flow.close()


async def test_a_restarted_proxy_cuts_the_udp_flows_to_endpoints_gone_meanwhile_and_keeps_the_others(
    client: RestClient, netns: str, udp_pods: None, tmp_path: Path
) -> None:
    """No earlier state to compare with after a restart: the first sync reads the table (upstream v1.32's
    reconciler) rather than deleting every flow of every UDP Service (v1.31)."""
    keep_ip = "10.96.10.21"
    await client.create(SERVICES, dns_service(), "default")
    await client.create(SLICES, dns_slice(POD_A), "default")
    await client.create(SERVICES, dns_service("keep", keep_ip), "default")
    await client.create(SLICES, dns_slice(POD_A, name="keep"), "default")
    await track_connections(netns)
    moved, kept = await UdpClient.to(netns, DNS_IP, 53), await UdpClient.to(netns, keep_ip, 53)
    try:
        first = make_proxy(client, netns, tmp_path)
        async with running(first):
            await asyncio.wait_for(first.synced.wait(), 15)
            assert [await moved.ask(), await kept.ask()] == ["a", "a"]
        # While no proxy runs, dns's endpoint is replaced; keep's stays.
        await client.patch(SLICES, "dns-abcde", {"endpoints": dns_slice(POD_B)["endpoints"]}, "default")
        second = make_proxy(client, netns, tmp_path)
        async with running(second):
            await asyncio.wait_for(second.synced.wait(), 15)
            assert await replies_from(netns, DNS_IP) == []  # the flow to the endpoint that went: cut
            assert await replies_from(netns, keep_ip) == [POD_A]  # the flow to a live endpoint: untouched
            assert [await moved.ask(), await kept.ask()] == ["b", "a"]
    finally:
        moved.close()
        kept.close()


async def test_conntrack_deletes_what_a_flush_matches_and_reports_failures(
    netns: str, udp_pods: None, tmp_path: Path
) -> None:
    await track_connections(netns)
    flow = await UdpClient.to(netns, POD_A, 8053)
    try:
        assert await flow.ask() == "a"  # one entry, not NAT'ed
    finally:
        flow.close()
    conntrack = Conntrack(netns)
    assert await conntrack.delete(Flush(POD_B, 8053)) == 0  # conntrack exits 1 then: not an error
    assert await conntrack.delete(Flush(POD_A, 8053)) == 1
    assert await conntrack.delete(Flush(POD_A, 8053)) == 0
    broken = Conntrack(str(tmp_path / "not-a-netns"))
    with pytest.raises(ConntrackError, match="not-a-netns"):
        await broken.delete(Flush(POD_A, 8053))
    # A failed deletion is tried again with the next call's, three times in all.
    assert await broken.flush([Flush(POD_A, 8053), Flush("", 30053)]) == [Flush("", 30053), Flush(POD_A, 8053)]
    assert await broken.flush([Flush(POD_B, 8053)]) == [Flush("", 30053), Flush(POD_A, 8053), Flush(POD_B, 8053)]
    assert await broken.flush([]) == [Flush("", 30053), Flush(POD_A, 8053), Flush(POD_B, 8053)]
    assert await broken.flush([]) == [Flush(POD_B, 8053)]
    assert await broken.flush([]) == []
