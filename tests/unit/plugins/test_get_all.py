"""get-all's pure parts: durations, ages, and which discovered resources it lists."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pinnace.client.rest import ResourceRef
from pinnace.client.restmapper import GVK, RESTMapping
from pinnace.plugins.get_all import format_age, listable_namespaced, parse_duration
from pinnace.plugins.kubeargs import PluginFailure


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("2d") == timedelta(days=2)
    for bad in ("", "1x", "h", "1h 2m"):
        with pytest.raises(PluginFailure):
            parse_duration(bad)


def test_ages() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert [format_age(now - timedelta(seconds=s), now) for s in (5, 300, 7300, 3 * 86400)] == ["5s", "5m", "2h", "3d"]


def mapping(group: str, version: str, plural: str, namespaced: bool = True, verbs: str = "list get") -> RESTMapping:
    return RESTMapping(
        GVK(group, version, plural.title()),
        ResourceRef(group, version, plural, namespaced),
        frozenset(verbs.split()),
        frozenset(),
    )


def test_only_namespaced_listable_resources_once_each() -> None:
    found = listable_namespaced(
        [
            mapping("apps", "v1", "deployments"),
            mapping("apps", "v1beta1", "deployments"),
            mapping("", "v1", "nodes", namespaced=False),
            mapping("", "v1", "bindings", verbs="create"),
            mapping("", "v1", "events"),
            mapping("events.k8s.io", "v1", "events"),
            mapping("example.com", "v1", "widgets"),
        ],
        exclude={"events", "widgets.example.com"},
    )
    assert [(m.ref.group, m.ref.version, m.ref.plural) for m in found] == [("apps", "v1", "deployments")]
