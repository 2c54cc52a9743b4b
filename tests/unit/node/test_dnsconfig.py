"""The kubelet's pod DNS configuration (GetPodDNS): every dnsPolicy, dnsConfig merging, limits and event texts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pinnace.node.agent import dnsconfig
from pinnace.node.agent.dnsconfig import PodDNS, ResolvConf, parse_resolv_conf, pod_dns, read_resolv_conf

HOST = ResolvConf(("192.168.1.1", "192.168.1.2"), ("corp.example", "example.com"), ("ndots:2", "timeout:1"))
CLUSTER = ("10.96.0.10",)
CLUSTER_SEARCHES = ("ns1.svc.cluster.local", "svc.cluster.local", "cluster.local")


def pod(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "web", "namespace": "ns1", "uid": "u-1"}, "spec": {"containers": [], **spec}}


def dns(p: dict[str, Any], *, cluster: tuple[str, ...] = CLUSTER, host: ResolvConf | None = HOST, **kw: Any) -> PodDNS:
    return pod_dns(p, cluster_dns=cluster, cluster_domain=kw.pop("domain", "cluster.local"), host=host, **kw)


def test_parse_resolv_conf() -> None:
    text = """# generated
nameserver 10.0.0.1
; a comment too
nameserver   10.0.0.2  # trailing
search a.example. b.example
search c.example. d.example .
domain ignored.example
options ndots:1
options ndots:3 rotate
sortlist 10.0.0.0/8
nameserver
"""
    assert parse_resolv_conf(text) == ResolvConf(
        ("10.0.0.1", "10.0.0.2"), ("c.example", "d.example", "."), ("ndots:3", "rotate")
    )
    # A domain line is the search list only when there is no search line.
    assert parse_resolv_conf("domain corp.example.\nnameserver 1.1.1.1\n").searches == ("corp.example",)
    assert parse_resolv_conf("") == ResolvConf()


def test_read_resolv_conf(tmp_path: Path) -> None:
    path = tmp_path / "resolv.conf"
    path.write_text("nameserver 9.9.9.9\nsearch x.example\n")
    assert read_resolv_conf(str(path)) == ResolvConf(("9.9.9.9",), ("x.example",))
    assert read_resolv_conf("") is None
    with pytest.raises(OSError, match=f"^open {tmp_path}/missing: no such file or directory$"):
        read_resolv_conf(str(tmp_path / "missing"))


def test_cluster_first_is_the_default() -> None:
    for p in (pod(), pod(dnsPolicy="ClusterFirst")):
        assert dns(p) == PodDNS(CLUSTER, (*CLUSTER_SEARCHES, "corp.example", "example.com"), ("ndots:5",))
    assert dnsconfig.pod_dns_policy(pod()) == "ClusterFirst"
    # No host resolv.conf: the cluster searches alone; an empty clusterDomain: the host's alone.
    assert dns(pod(), host=None) == PodDNS(CLUSTER, CLUSTER_SEARCHES, ("ndots:5",))
    assert dns(pod(), domain="").searches == HOST.searches
    # Host searches that repeat the cluster's are dropped.
    host = ResolvConf(("1.1.1.1",), ("cluster.local", "x.example"))
    assert dns(pod(), host=host).searches == (*CLUSTER_SEARCHES, "x.example")


def test_host_network_cluster_first_is_default_and_with_host_net_is_cluster() -> None:
    assert dns(pod(hostNetwork=True)) == PodDNS(HOST.nameservers, HOST.searches, HOST.options)
    assert dns(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet")) == dns(pod())
    # Without hostNetwork, ClusterFirstWithHostNet is ClusterFirst.
    assert dns(pod(dnsPolicy="ClusterFirstWithHostNet")) == dns(pod())


def test_default_uses_the_hosts_resolv_conf_or_the_local_resolver() -> None:
    assert dns(pod(dnsPolicy="Default")) == PodDNS(HOST.nameservers, HOST.searches, HOST.options)
    assert dns(pod(dnsPolicy="Default"), host=None) == PodDNS(("127.0.0.1",), (".",))
    assert dns(pod(dnsPolicy="Default"), host=None, node_ip="fd00::5").servers == ("::1",)


def test_none_is_only_the_pods_dns_config() -> None:
    config = {
        "nameservers": ["1.2.3.4"],
        "searches": ["my.dns.search.suffix"],
        "options": [{"name": "ndots", "value": "2"}],
    }
    assert dns(pod(dnsPolicy="None", dnsConfig=config)) == PodDNS(("1.2.3.4",), ("my.dns.search.suffix",), ("ndots:2",))
    assert dns(pod(dnsPolicy="None")) == PodDNS()


def test_dns_config_is_appended_and_merged() -> None:
    config = {
        "nameservers": ["10.96.0.10", "8.8.8.8"],
        "searches": ["svc.cluster.local", "extra.example"],
        "options": [{"name": "ndots", "value": "1"}, {"name": "edns0"}, {"name": "attempts", "value": "3"}],
    }
    got = dns(pod(dnsConfig=config))
    assert got.servers == ("10.96.0.10", "8.8.8.8")
    assert got.searches == (*CLUSTER_SEARCHES, "corp.example", "example.com", "extra.example")
    assert got.options == ("ndots:1", "edns0", "attempts:3")
    # Merged with the host's options under Default: by name, the pod's value wins.
    got = dns(pod(dnsPolicy="Default", dnsConfig={"options": [{"name": "timeout", "value": "5"}]}))
    assert got.options == ("ndots:2", "timeout:5")
    assert got.events == ()


def test_missing_cluster_dns_falls_back_to_default_with_events() -> None:
    message = (
        'kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. '
        'Falling back to "Default" policy.'
    )
    got = dns(pod(), cluster=())
    assert (got.servers, got.searches, got.options) == (HOST.nameservers, HOST.searches, HOST.options)
    assert got.events == (("MissingClusterDNS", f'pod: "web_ns1(u-1)". {message}'),)
    assert got.node_events == (("MissingClusterDNS", message),)
    # Without a resolv.conf the fallback is the local resolver.
    assert dns(pod(), cluster=(), host=None).servers == ("127.0.0.1",)
    # A hostNetwork ClusterFirst pod is Default anyway: nothing is missing.
    assert dns(pod(hostNetwork=True), cluster=()).events == ()
    assert (
        dns(pod(dnsPolicy="ClusterFirstWithHostNet", hostNetwork=True), cluster=()).events[0][0] == "MissingClusterDNS"
    )


def test_nameserver_limit() -> None:
    got = dns(pod(dnsConfig={"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"]}))
    assert got.servers == ("10.96.0.10", "1.1.1.1", "2.2.2.2")
    assert got.events == (
        (
            "DNSConfigForming",
            "Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: "
            "10.96.0.10 1.1.1.1 2.2.2.2",
        ),
    )


def test_search_limits() -> None:
    prefix = "Search Line limits were exceeded, some search paths have been omitted, the applied search line is: "
    many = [f"s{i}.example" for i in range(40)]
    got = dns(pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": many}))
    assert got.searches == tuple(many[:32])
    assert got.events == (("DNSConfigForming", prefix + " ".join(many[:32])),)
    # A search path over 253 characters is dropped.
    long = "a" * 250 + ".com"
    got = dns(pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": ["ok.example", long]}))
    assert got.searches == ("ok.example",)
    assert got.events == (("DNSConfigForming", prefix + "ok.example"),)
    # At most 2048 characters in all: cut from the end.
    wide = [f"{i:02d}" + "b" * 198 + ".example" for i in range(12)]  # 208 characters each: 9 fit in 2048
    got = dns(pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": wide}))
    assert got.searches == tuple(wide[:9]) and len(" ".join(got.searches)) <= 2048
    assert got.events == (("DNSConfigForming", prefix + " ".join(wide[:9])),)
    # Exactly at the limits: nothing cut, no event.
    fits = [f"{i:02d}" + "c" * 60 for i in range(32)]
    assert len(" ".join(fits)) <= 2048
    assert dns(pod(dnsPolicy="None", dnsConfig={"nameservers": ["1.1.1.1"], "searches": fits})).events == ()


def test_both_limits_give_two_events() -> None:
    config = {"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"], "searches": [f"s{i}" for i in range(33)]}
    reasons = [reason for reason, _ in dns(pod(dnsPolicy="None", dnsConfig=config)).events]
    assert reasons == ["DNSConfigForming", "DNSConfigForming"]


def test_host_domain_and_aliases() -> None:
    p = pod(subdomain="sub", hostAliases=[{"ip": "10.1.2.3", "hostnames": ["foo.local", "bar.local"]}])
    assert dnsconfig.host_domain(p, "cluster.local") == "sub.ns1.svc.cluster.local"
    assert dnsconfig.host_domain(pod(), "cluster.local") == ""
    assert dnsconfig.host_aliases(p) == (("10.1.2.3", ("foo.local", "bar.local")),)
    assert dnsconfig.host_aliases(pod()) == ()
