"""The iptables ruleset rendered from Services and EndpointSlices: upstream's chains, names and rule order."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.proxy.endpoints import Endpoint, categorize, service_ports, slice_endpoints
from pinnace.proxy.iptables import parse_save
from pinnace.proxy.rules import JUMPS, Ruleset, cleanup_input, render

NODE = "node-a"


def svc(name: str, ip: str, namespace: str = "ns1", port_name: str = "p80", **spec: Any) -> dict[str, Any]:
    ports = [{"name": port_name, "port": 80, "protocol": "TCP", **spec.pop("port_extra", {})}]
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"clusterIP": ip, "ports": ports, **spec}}


def eps(service: str, *endpoints: dict[str, Any], namespace: str = "ns1", port: int = 80) -> dict[str, Any]:
    return {
        "metadata": {"namespace": namespace, "name": f"{service}-x", "labels": {"kubernetes.io/service-name": service}},
        "addressType": "IPv4",
        "ports": [{"name": "p80", "port": port, "protocol": "TCP"}],
        "endpoints": list(endpoints),
    }


def ep(ip: str, node: str = "", **conditions: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"addresses": [ip], "conditions": conditions or {"ready": True}}
    if node:
        out["nodeName"] = node
    return out


def chain_rules(rs: Ruleset, table: str, chain: str) -> list[str]:
    return [r for r in rs.rules[table] if r.startswith(f"-A {chain} ")]


def test_a_cluster_ip_service_renders_upstreams_chains_and_rules() -> None:
    rs = render([svc("svc1", "172.30.0.41")], [eps("svc1", ep("10.180.0.1"))], node_name=NODE, local_cidr="10.0.0.0/8")
    # The same chain names upstream's proxier tests expect for ns1/svc1:p80 and its endpoint 10.180.0.1:80.
    assert chain_rules(rs, "nat", "KUBE-SERVICES") == [
        '-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 '
        "-j KUBE-SVC-XPGD46QRK7WJZT7O",
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in '
        'this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    ]
    assert chain_rules(rs, "nat", "KUBE-SVC-XPGD46QRK7WJZT7O") == [
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 '
        "--dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ",
        '-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" '
        "-j KUBE-SEP-SXIVWICOYRO3J4NJ",
    ]
    assert chain_rules(rs, "nat", "KUBE-SEP-SXIVWICOYRO3J4NJ") == [
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ",
        "-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp "
        "-j DNAT --to-destination 10.180.0.1:80",
    ]
    assert chain_rules(rs, "nat", "KUBE-MARK-MASQ") == ["-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000"]
    assert chain_rules(rs, "nat", "KUBE-POSTROUTING") == [
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE',
    ]
    assert rs.chains["nat"] == [
        "KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ",
        "KUBE-SVC-XPGD46QRK7WJZT7O", "KUBE-SEP-SXIVWICOYRO3J4NJ",
    ]  # fmt: skip
    assert chain_rules(rs, "filter", "KUBE-SERVICES") == []


def test_endpoints_are_chosen_at_random_with_falling_probabilities() -> None:
    endpoints = eps("svc4", ep("10.180.0.4"), ep("10.180.0.5"), ep("10.180.0.6"), namespace="ns4")
    rs = render([svc("svc4", "172.30.0.44", namespace="ns4")], [endpoints], node_name=NODE)
    rules = chain_rules(rs, "nat", "KUBE-SVC-4SW47YFZTEDKD3PK")
    # No masquerade rule for cluster IP traffic without a local CIDR; then 1/3, 1/2, and the rest.
    assert [r.split(" -j ")[0].split('" ', 1)[1] if "statistic" in r else "" for r in rules] == [
        "-m statistic --mode random --probability 0.3333333333",
        "-m statistic --mode random --probability 0.5000000000",
        "",
    ]
    assert [r.rsplit("-> ", 1)[1].split('"')[0] for r in rules] == ["10.180.0.4:80", "10.180.0.5:80", "10.180.0.6:80"]


def test_a_service_without_endpoints_is_rejected_on_its_cluster_ip_and_node_port() -> None:
    rs = render([svc("svc6", "172.30.0.46", type="NodePort", port_extra={"nodePort": 3001})], [], node_name=NODE)
    assert chain_rules(rs, "filter", "KUBE-SERVICES") == [
        '-A KUBE-SERVICES -m comment --comment "ns1/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 '
        "--dport 80 -j REJECT"
    ]
    assert chain_rules(rs, "filter", "KUBE-EXTERNAL-SERVICES") == [
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns1/svc6:p80 has no endpoints" -m addrtype --dst-type LOCAL '
        "-m tcp -p tcp --dport 3001 -j REJECT"
    ]
    assert not any(c.startswith(("KUBE-SVC-", "KUBE-EXT-", "KUBE-SEP-")) for c in rs.chains["nat"])
    assert chain_rules(rs, "nat", "KUBE-NODEPORTS") == []


def test_a_node_port_masquerades_external_traffic_into_the_service_chain() -> None:
    service = svc("svc3", "172.30.0.43", "ns3", type="NodePort", port_extra={"nodePort": 3003})
    rs = render([service], [eps("svc3", ep("10.180.0.3"), namespace="ns3")], node_name=NODE)
    assert chain_rules(rs, "nat", "KUBE-NODEPORTS") == [
        "-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK"
    ]
    assert chain_rules(rs, "nat", "KUBE-EXT-X27LE4BHSL4DOUIK") == [
        '-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" '
        "-j KUBE-MARK-MASQ",
        "-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK",
    ]
    # A NodePort Service's external IPs go the same way.
    with_ip = svc("svc3", "172.30.0.43", "ns3", type="NodePort", externalIPs=["192.168.99.33"])
    rs = render([with_ip], [eps("svc3", ep("10.180.0.3"), namespace="ns3")], node_name=NODE)
    assert '"ns3/svc3:p80 external IP" -m tcp -p tcp -d 192.168.99.33 --dport 80 -j KUBE-EXT-X27LE4BHSL4DOUIK' in (
        " ".join(chain_rules(rs, "nat", "KUBE-SERVICES"))
    )


def test_client_ip_affinity_remembers_each_clients_endpoint() -> None:
    service = svc("svc5", "172.30.0.45", "ns5", sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}})  # fmt: skip
    rs = render([service], [eps("svc5", ep("10.180.0.3"), namespace="ns5")], node_name=NODE)
    assert chain_rules(rs, "nat", "KUBE-SVC-NUKIZ6OKUXPJNT4C") == [
        '-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" -m recent '
        "--name KUBE-SEP-I77PXRDZVX7PMWMN --rcheck --seconds 600 --reap -j KUBE-SEP-I77PXRDZVX7PMWMN",
        '-A KUBE-SVC-NUKIZ6OKUXPJNT4C -m comment --comment "ns5/svc5:p80 -> 10.180.0.3:80" '
        "-j KUBE-SEP-I77PXRDZVX7PMWMN",
    ]
    assert chain_rules(rs, "nat", "KUBE-SEP-I77PXRDZVX7PMWMN")[1] == (
        "-A KUBE-SEP-I77PXRDZVX7PMWMN -m comment --comment ns5/svc5:p80 -m recent --name KUBE-SEP-I77PXRDZVX7PMWMN "
        "--set -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80"
    )
    default = svc("svc5", "172.30.0.45", "ns5", sessionAffinity="ClientIP")
    rs = render([default], [eps("svc5", ep("10.180.0.3"), namespace="ns5")], node_name=NODE)
    assert "--rcheck --seconds 10800 --reap" in chain_rules(rs, "nat", "KUBE-SVC-NUKIZ6OKUXPJNT4C")[0]


def test_only_ready_endpoints_serve_and_terminating_ones_only_when_none_is_ready() -> None:
    port = service_ports(svc("web", "10.96.0.10"))[0]
    slices = [
        eps(
            "web",
            ep("10.0.0.1"),
            ep("10.0.0.2", ready=False, serving=False, terminating=False),
            ep("10.0.0.3", ready=False, serving=True, terminating=True),
            ep("10.0.0.4", ready=False, serving=False, terminating=True),
        )
    ]
    endpoints = slice_endpoints(port, slices)
    assert [e.ip for e in categorize(endpoints, NODE).cluster] == ["10.0.0.1"]
    draining = [e for e in endpoints if e.ip != "10.0.0.1"]
    assert [e.ip for e in categorize(draining, NODE).cluster] == ["10.0.0.3"]  # serving while terminating
    # Unset conditions mean ready; a slice port of another name or protocol is not this port's.
    assert slice_endpoints(port, [eps("web", {"addresses": ["10.0.0.9"]})]) == [Endpoint("10.0.0.9", 80)]
    other = eps("web", ep("10.0.0.9"))
    other["ports"][0]["name"] = "metrics"
    assert slice_endpoints(port, [other]) == []


def test_internal_traffic_policy_local_uses_this_nodes_endpoints_or_drops() -> None:
    local = svc("web", "10.96.0.10", internalTrafficPolicy="Local")
    here = eps("web", ep("10.0.0.1", node=NODE), ep("10.0.0.2", node="node-b"))
    rs = render([local], [here], node_name=NODE)
    svl = service_ports(local)[0].chain("KUBE-SVL-")
    assert chain_rules(rs, "nat", "KUBE-SERVICES")[0].endswith(f"-j {svl}")
    assert [r.rsplit("-j ", 1)[1] for r in chain_rules(rs, "nat", svl)] == [
        Endpoint("10.0.0.1", 80).chain(service_ports(local)[0])
    ]
    elsewhere = eps("web", ep("10.0.0.2", node="node-b"))
    rs = render([local], [elsewhere], node_name=NODE)
    assert chain_rules(rs, "filter", "KUBE-SERVICES") == [
        '-A KUBE-SERVICES -m comment --comment "ns1/web:p80 has no local endpoints" -m tcp -p tcp -d 10.96.0.10 '
        "--dport 80 -j DROP"
    ]


def test_external_traffic_policy_local_keeps_the_source_for_outside_traffic() -> None:
    service = svc("svc2", "172.30.0.42", "ns2", type="NodePort", externalTrafficPolicy="Local",
                  port_extra={"nodePort": 3001})  # fmt: skip
    here = eps("svc2", ep("10.180.0.2", node=NODE), namespace="ns2")
    rs = render([service], [here], node_name=NODE, local_cidr="10.180.0.0/24")
    assert chain_rules(rs, "nat", "KUBE-EXT-GNZBNJ2PO5MGZ6GT") == [
        '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" '
        "-s 10.180.0.0/24 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT",
        '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external '
        'destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ',
        '-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external '
        'destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT',
        "-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -j KUBE-SVL-GNZBNJ2PO5MGZ6GT",
    ]
    # No endpoint on this node: outside traffic to the NodePort is dropped here, cluster IP traffic still served.
    rs = render([service], [eps("svc2", ep("10.180.0.2", node="node-b"), namespace="ns2")], node_name=NODE)
    assert chain_rules(rs, "filter", "KUBE-EXTERNAL-SERVICES") == [
        '-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype '
        "--dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP"
    ]
    assert chain_rules(rs, "nat", "KUBE-SERVICES")[0].endswith("-j KUBE-SVC-GNZBNJ2PO5MGZ6GT")


def test_headless_and_external_name_services_and_other_families_are_not_routed() -> None:
    headless = svc("h", "None")
    external = {"metadata": {"namespace": "ns1", "name": "e"}, "spec": {"type": "ExternalName", "externalName": "x"}}
    assert service_ports(headless) == [] and service_ports(external) == []
    v6 = eps("web", ep("fd00::1"))
    v6["addressType"] = "IPv6"
    assert slice_endpoints(service_ports(svc("web", "10.96.0.10"))[0], [v6]) == []


def test_restore_input_rewrites_our_chains_deletes_stale_ones_and_adds_missing_jumps() -> None:
    rs = render([svc("svc1", "172.30.0.41")], [eps("svc1", ep("10.180.0.1"))], node_name=NODE)
    installed = {j for j in JUMPS if j[0] == "nat"}
    text = rs.restore_input({"nat": {"KUBE-SERVICES", "KUBE-SVC-OLDOLDOLDOLDOLDO", "KUBE-SEP-SXIVWICOYRO3J4NJ"}},
                            installed)  # fmt: skip
    lines = text.splitlines()
    nat = lines[lines.index("*nat") :]
    filt = lines[: lines.index("*nat")]
    assert ":KUBE-SVC-OLDOLDOLDOLDOLDO - [0:0]" in nat and nat[-2:] == ["-X KUBE-SVC-OLDOLDOLDOLDOLDO", "COMMIT"]
    assert not any(line.startswith("-I ") for line in nat)  # the nat jumps are there already
    assert [line.split(" -j ")[-1] for line in filt if line.startswith("-I ")] == [
        "KUBE-EXTERNAL-SERVICES", "KUBE-EXTERNAL-SERVICES", "KUBE-SERVICES", "KUBE-SERVICES", "KUBE-FORWARD",
        "KUBE-FIREWALL", "KUBE-FIREWALL",
    ]  # fmt: skip
    assert filt[0] == "*filter" and filt[-1] == "COMMIT"


SAVED = """\
# Generated by iptables-save v1.8.9 (nf_tables)
*filter
:INPUT ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:CNI-FORWARD - [0:0]
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE-MARK-DROP - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d 172.30.0.41/32 -p tcp -j KUBE-SVC-XPGD46QRK7WJZT7O
COMMIT
"""


def test_saved_tables_are_read_for_our_chains_and_jumps_and_cleanup_removes_only_ours() -> None:
    state = parse_save(SAVED)
    assert state.chains == {"filter": {"KUBE-SERVICES"}, "nat": {"KUBE-SERVICES", "KUBE-SVC-XPGD46QRK7WJZT7O"}}
    assert {(t, c) for t, c, _ in state.jumps} == {("filter", "OUTPUT"), ("nat", "PREROUTING")}
    text = cleanup_input(state.chains, state.jump_lines)
    assert text.splitlines() == [
        "*filter",
        '-D OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        ":KUBE-SERVICES - [0:0]",
        "-X KUBE-SERVICES",
        "COMMIT",
        "*nat",
        '-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        ":KUBE-SERVICES - [0:0]",
        ":KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]",
        "-X KUBE-SERVICES",
        "-X KUBE-SVC-XPGD46QRK7WJZT7O",
        "COMMIT",
    ]
    assert cleanup_input({"filter": set(), "nat": set()}, {}) == ""


#: Two clusters' proxies in one namespace: slot 0's chains (KUBE-) and slot 1's (KUBE1-), jumps to both.
TWO_CLUSTERS = """\
*filter
:KUBE-SERVICES - [0:0]
:KUBE1-SERVICES - [0:0]
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE1-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
COMMIT
*nat
:KUBE-SERVICES - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE1-SERVICES - [0:0]
:KUBE1-SVC-XPGD46QRK7WJZT7O - [0:0]
:KUBE1-SVC-OLDOLDOLDOLDOLDO - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE1-SERVICES
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
COMMIT
"""


def test_a_prefixed_ruleset_names_every_chain_jump_and_recent_list_under_its_prefix() -> None:
    service = svc("svc1", "10.112.0.41", type="NodePort", sessionAffinity="ClientIP",
                  port_extra={"nodePort": 30080})  # fmt: skip
    plain = render([service], [eps("svc1", ep("10.245.0.1"))], node_name=NODE, local_cidr="10.245.0.0/24")
    prefixed = render([service], [eps("svc1", ep("10.245.0.1"))], node_name=NODE, local_cidr="10.245.0.0/24",
                      prefix="KUBE1-")  # fmt: skip
    assert prefixed.prefix == "KUBE1-"
    assert prefixed.chains["nat"] == [c.replace("KUBE-", "KUBE1-", 1) for c in plain.chains["nat"]]
    text = prefixed.restore_input()
    assert "KUBE-" not in text.replace("KUBE1-", "")  # not one name of the default prefix is left
    assert "-m recent --name KUBE1-SEP-" in text and "-j KUBE1-MARK-MASQ" in text
    jumped = [line.split(" -j ")[-1] for line in text.splitlines() if line.startswith("-I ")]
    assert jumped and all(j.startswith("KUBE1-") for j in jumped)
    assert max(len(c) for t in prefixed.chains.values() for c in t) <= 28  # iptables' limit on chain names


def test_chain_prefixes_are_checked() -> None:
    for bad in ("kube-", "KUBE", "KUBE1234-", "1KUBE-", "KU BE-"):
        with pytest.raises(ValueError, match="chain prefix"):
            render([], [], node_name=NODE, prefix=bad)
    assert render([], [], node_name=NODE, prefix="KUBE12-").chains["filter"][0] == "KUBE12-SERVICES"


def test_each_prefix_reads_rewrites_and_cleans_up_only_its_own_chains_beside_another_clusters() -> None:
    ours, theirs = parse_save(TWO_CLUSTERS, "KUBE1-"), parse_save(TWO_CLUSTERS)
    assert ours.chains == {
        "filter": {"KUBE1-SERVICES"},
        "nat": {"KUBE1-SERVICES", "KUBE1-SVC-XPGD46QRK7WJZT7O", "KUBE1-SVC-OLDOLDOLDOLDOLDO"},
    }
    assert theirs.chains == {"filter": {"KUBE-SERVICES"}, "nat": {"KUBE-SERVICES", "KUBE-SVC-XPGD46QRK7WJZT7O"}}
    assert {(t, c, r.rsplit(" ", 1)[1]) for t, c, r in ours.jumps} == {
        ("filter", "OUTPUT", "KUBE1-SERVICES"), ("nat", "PREROUTING", "KUBE1-SERVICES"),
    }  # fmt: skip
    # A sync of the KUBE1- proxy (no Services left) deletes its own stale chains, never the other cluster's.
    text = render([], [], node_name=NODE, prefix="KUBE1-").restore_input(ours.chains, ours.jumps)
    assert [line for line in text.splitlines() if line.startswith("-X ")] == [
        "-X KUBE1-SVC-OLDOLDOLDOLDOLDO", "-X KUBE1-SVC-XPGD46QRK7WJZT7O",
    ]  # fmt: skip
    assert not any(" KUBE-" in line or line.startswith(":KUBE-") for line in text.splitlines())
    # Its cleanup removes its jumps and chains; the KUBE- cluster's stay.
    cleanup = cleanup_input(ours.chains, ours.jump_lines, "KUBE1-")
    assert "KUBE-SERVICES" not in cleanup.replace("KUBE1-SERVICES", "")
    assert "-X KUBE1-SVC-XPGD46QRK7WJZT7O" in cleanup and "-X KUBE1-SERVICES" in cleanup
    assert cleanup.count("-D ") == 2


def test_node_ports_answer_only_on_the_nodeport_addresses_when_given() -> None:
    """kube-proxy's --nodeport-addresses: the jump to KUBE-NODEPORTS, and the rejection of a NodePort without
    endpoints, match those destinations instead of every local address."""
    served = svc("svc7", "10.112.0.47", type="NodePort", port_extra={"nodePort": 30047})
    empty = svc("svc8", "10.112.0.48", type="NodePort", port_extra={"nodePort": 30048})
    rs = render([served, empty], [eps("svc7", ep("127.0.1.2"))], node_name=NODE, prefix="KUBE1-",
                node_port_addresses=["127.0.1.0/24", "192.0.2.0/24"])  # fmt: skip
    last = 'this chain" -d {} -j KUBE1-NODEPORTS'
    assert [r.split("NOTE: this must be the last rule in ")[1] for r in chain_rules(rs, "nat", "KUBE1-SERVICES")
            if "NOTE" in r] == [last.format("127.0.1.0/24"), last.format("192.0.2.0/24")]  # fmt: skip
    assert "--dst-type LOCAL" not in "\n".join(rs.rules["nat"])
    assert chain_rules(rs, "filter", "KUBE1-EXTERNAL-SERVICES") == [
        f'-A KUBE1-EXTERNAL-SERVICES -m comment --comment "ns1/svc8:p80 has no endpoints" -d {cidr} '
        "-m tcp -p tcp --dport 30048 -j REJECT"
        for cidr in ("127.0.1.0/24", "192.0.2.0/24")
    ]


#: The first cluster's proxy (re)started after the second's: its jumps went in above the second's in OUTPUT.
REORDERED = """\
*nat
:KUBE-SERVICES - [0:0]
:KUBE1-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE1-SERVICES
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE1-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE1-POSTROUTING
COMMIT
"""


def test_a_second_clusters_service_jump_below_the_first_clusters_is_moved_back_to_the_top() -> None:
    """The first cluster's NodePorts match any local address: the second's jumps into its services chain must come
    first, or the first would take a node port number both gave out at the second's node addresses."""
    state = parse_save(REORDERED, "KUBE1-")
    moved = '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE1-SERVICES'
    assert state.misplaced["nat"] == [moved]
    assert {(c, r.rsplit(" ", 1)[1]) for t, c, r in state.jumps if t == "nat"} == {
        ("PREROUTING", "KUBE1-SERVICES"), ("POSTROUTING", "KUBE1-POSTROUTING"),  # postrouting order is no matter
    }  # fmt: skip
    text = render([], [], node_name=NODE, prefix="KUBE1-").restore_input(state.chains, state.jumps, state.misplaced)
    nat = text.splitlines()[text.splitlines().index("*nat") :]
    changes = [line for line in nat if line.startswith(("-D ", "-I "))]
    assert changes == ["-D" + moved[2:], "-I" + moved[2:]]  # deleted, then inserted at the top
    assert parse_save(REORDERED).misplaced == {"filter": [], "nat": []}  # the first cluster's order is never moved
    assert "-D OUTPUT" in cleanup_input(state.chains, state.jump_lines, "KUBE1-")  # cleanup still finds it
