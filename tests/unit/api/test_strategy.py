"""Strategy hooks: which deletions upstream refuses outright."""

from __future__ import annotations

import pytest

from pinnace.api import errors, strategy
from pinnace.api.registry import builtin_registry


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
def test_immortal_namespaces_may_not_be_deleted(name: str) -> None:
    info = builtin_registry().get("", "v1", "namespaces")
    assert info is not None
    with pytest.raises(errors.Forbidden) as caught:
        strategy.check_delete(info, {"metadata": {"name": name}})
    status = caught.value.status()
    assert status["code"] == 403
    assert status["message"] == f'namespaces "{name}" is forbidden: this namespace may not be deleted'
    assert status["details"]["name"] == name


def test_other_namespaces_and_kinds_may_be_deleted() -> None:
    registry = builtin_registry()
    namespaces = registry.get("", "v1", "namespaces")
    configmaps = registry.get("", "v1", "configmaps")
    assert namespaces is not None and configmaps is not None
    strategy.check_delete(namespaces, {"metadata": {"name": "kube-node-lease"}})
    strategy.check_delete(namespaces, {"metadata": {"name": "team-a"}})
    strategy.check_delete(configmaps, {"metadata": {"name": "default", "namespace": "default"}})
