"""The conntrack CLI edge: reading ``conntrack -L``, and the proxy's life without the tool."""

from __future__ import annotations

import logging

import pytest

from pinnace.proxy.conntrack import Conntrack, parse_entries
from pinnace.proxy.stale import Entry, Flush

LISTED = """\
udp      17 29 src=10.250.0.2 dst=10.96.10.20 sport=35044 dport=53 [UNREPLIED] src=10.96.10.20 dst=10.250.0.2 \
sport=53 dport=35044 mark=0 use=1
udp      17 118 src=10.251.0.2 dst=10.96.10.20 sport=41000 dport=53 src=10.250.0.3 dst=10.251.0.2 sport=8053 \
dport=41000 [ASSURED] mark=0 use=1
"""


def test_conntrack_list_output_gives_each_flows_destination_and_reply_source() -> None:
    assert parse_entries(LISTED) == [
        Entry("10.96.10.20", 53, "10.96.10.20"),  # unanswered, not DNAT'ed
        Entry("10.96.10.20", 53, "10.250.0.3"),  # DNAT'ed to an endpoint
    ]
    assert parse_entries("conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.\n") == []
    icmp = "icmp     1 29 src=10.0.0.1 dst=10.0.0.2 type=8 code=0 id=7 src=10.0.0.2 dst=10.0.0.1 type=0 code=0 id=7"
    assert parse_entries(icmp) == []  # no ports


async def test_without_the_conntrack_tool_nothing_is_deleted_and_that_is_said_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    conntrack = Conntrack(tool="pinnace-no-such-conntrack")
    with caplog.at_level(logging.WARNING, logger="pinnace.proxy.conntrack"):
        assert await conntrack.flush([Flush("172.30.0.10", 53, "10.1.0.5")]) == []
        assert await conntrack.flush([Flush("172.30.0.10", 53, "10.1.0.6")]) == []
    assert len(caplog.records) == 1 and "not installed" in caplog.records[0].message
