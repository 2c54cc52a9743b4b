"""The upstream resolvers the cluster DNS forwards to, read from resolv.conf."""

from __future__ import annotations

from pathlib import Path

from pinnace.dns.forward import host_upstreams


def test_nameservers_of_resolv_conf_without_loopback_ones(tmp_path: Path) -> None:
    conf = tmp_path / "resolv.conf"
    conf.write_text(
        "# generated\nsearch example.internal\nnameserver 127.0.0.53\nnameserver 10.0.0.2  # the VPC's\n"
        "nameserver ::1\nnameserver fd00::53\nnameserver 10.0.0.2\nnameserver not-an-ip\noptions edns0\n"
    )
    assert host_upstreams(conf) == (("10.0.0.2", 53), ("fd00::53", 53))


def test_missing_resolv_conf_means_no_upstreams(tmp_path: Path) -> None:
    assert host_upstreams(tmp_path / "absent") == ()
