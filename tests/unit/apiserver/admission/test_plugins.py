"""The plugin table: upstream's order whatever the order asked, and kube-apiserver's enable/disable flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.apiserver.admission.plugins import DEFAULT_PLUGINS, build_chain, resolve_plugins
from pinnace.apiserver.server import APIServer
from pinnace.storage.sqlite import SQLiteStore


def test_enable_and_disable_change_the_default_set() -> None:
    assert resolve_plugins() == DEFAULT_PLUGINS
    assert "ServiceAccount" not in resolve_plugins(disable="ServiceAccount, PodSecurity")
    assert "PodSecurity" not in resolve_plugins(disable="ServiceAccount,PodSecurity")
    with pytest.raises(ValueError, match="unknown admission plugin"):
        resolve_plugins(enable="AlwaysPullImages")
    with pytest.raises(ValueError, match="both enabled and disabled: LimitRanger"):
        resolve_plugins(enable="LimitRanger", disable="LimitRanger")


async def test_the_chain_keeps_upstreams_order(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "s.db", durable=False)
    try:
        server = APIServer(store, admission_plugins=())
        chain = build_chain(server, ["ResourceQuota", "PodSecurity", "LimitRanger", "NamespaceLifecycle"])
        assert [p.name for p in chain.mutating] == ["NamespaceLifecycle", "LimitRanger"]
        assert [p.name for p in chain.validating] == ["LimitRanger", "PodSecurity", "ResourceQuota"]
        assert not server.rest.admission  # none asked: an empty chain, skipped on every write
    finally:
        await store.close()
