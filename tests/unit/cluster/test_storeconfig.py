"""``--store`` URLs: etcd endpoints, or a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.cluster.storeconfig import StoreConfig, parse_store_url


def test_etcd_urls_name_one_or_more_endpoints() -> None:
    assert parse_store_url("etcd://127.0.0.1:2379") == ("127.0.0.1:2379",)
    assert parse_store_url("etcd://a:2379,b:2379/") == ("a:2379", "b:2379")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///x.db", "unsupported store 'sqlite:///x.db'"),
        ("127.0.0.1:2379", "unsupported store"),
        ("etcd://", "no etcd endpoint"),
        ("etcd://host", "bad etcd endpoint 'host'"),
        ("etcd://host:port", "bad etcd endpoint 'host:port'"),
    ],
)
def test_what_is_not_an_etcd_url_is_refused_with_the_reason(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_store_url(url)


def test_the_default_is_the_sqlite_file_in_the_data_directory(tmp_path: Path) -> None:
    assert not StoreConfig().is_etcd
    assert StoreConfig().describe(tmp_path) == f"SQLite at {tmp_path / 'store.db'}"
    assert StoreConfig(("a:1", "b:2")).describe(tmp_path) == "etcd at a:1,b:2"
