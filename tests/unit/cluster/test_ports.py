"""Ports for child processes: outside the kernel's ephemeral range, free, never handed out twice; and a member
that cannot bind its port says so."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

from pinnace.cluster import ports
from pinnace.cluster.etcd_member import EtcdMemberSpec, start_member, wait_serving
from pinnace.cluster.ports import free_port


def test_ports_are_free_distinct_and_outside_the_range_outgoing_connections_draw_from() -> None:
    low, high = (int(p) for p in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    chosen = [free_port() for _ in range(200)]
    assert len(set(chosen)) == len(chosen)
    assert all(p >= 20000 and not low <= p <= high for p in chosen)
    with socket.socket() as probe:  # still free: the caller can bind it
        probe.bind(("127.0.0.1", chosen[-1]))


def test_a_port_something_listens_on_is_never_chosen(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        monkeypatch.setattr(ports, "_candidates", lambda count: [busy, busy, busy])
        # every candidate is taken: the kernel's own pick, which is free
        port = free_port()
        assert port != busy
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))


def test_a_kernel_whose_ephemeral_range_leaves_no_room_gets_its_own_pick(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = tmp_path / "ip_local_port_range"
    whole.write_text("1024\t65535\n")
    monkeypatch.setattr(ports, "_RANGE_FILE", whole)
    port = free_port()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


async def test_a_member_whose_port_is_taken_fails_at_once_saying_why(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        spec = EtcdMemberSpec(
            name="m0",
            data_dir=tmp_path / "m0",
            client_url=f"http://127.0.0.1:{taken}",
            peer_url=f"http://127.0.0.1:{free_port()}",
        )
        log = tmp_path / "m0.log"
        process = await start_member(spec, log)
        try:
            with pytest.raises(RuntimeError) as failed:
                await wait_serving(spec.client_url, timeout=20, exit_code=lambda: process.returncode, log_path=log)
        finally:
            if process.returncode is None:
                process.kill()
            await asyncio.wait_for(process.wait(), 10)
    assert f"127.0.0.1:{taken}: bind: address already in use" in str(failed.value)
    assert str(log) in str(failed.value)
