"""The pinnace_env fixture, as an operator author uses it (the plugin is registered by the package)."""

from __future__ import annotations

import pytest

from pinnace.api import errors
from pinnace.cluster.testenv import TestEnv, start_env
from pinnace.runtime.builder import Builder
from pinnace.runtime.reconcile import Request, Result

CM = "v1/ConfigMap"


class Labeler:
    """Labels every ConfigMap seen=yes."""

    def __init__(self, env: TestEnv, client: object) -> None:
        self.client = client

    async def reconcile(self, req: Request) -> Result:
        client = self.client
        try:
            cm = await client.get(CM, req.name, req.namespace)  # type: ignore[attr-defined]
        except errors.NotFound:
            return Result()
        labels = cm["metadata"].get("labels") or {}
        if labels.get("seen") != "yes":
            cm["metadata"]["labels"] = {**labels, "seen": "yes"}
            await client.update(cm)  # type: ignore[attr-defined]
        return Result()


async def test_an_operator_runs_against_the_fixture(pinnace_env: TestEnv) -> None:
    mgr = pinnace_env.manager()
    await Builder(mgr).for_(CM).complete(Labeler(pinnace_env, mgr.client))
    await pinnace_env.start(mgr)
    await pinnace_env.client.create(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "default"}}
    )

    async def labelled() -> bool:
        cm = await pinnace_env.client.get(CM, "x", "default")
        return (cm["metadata"].get("labels") or {}).get("seen") == "yes"

    await pinnace_env.eventually(labelled)


@pytest.mark.pinnace_env(controllers=["namespace"])
async def test_namespaces_really_go_away_with_the_namespace_controller(pinnace_env: TestEnv) -> None:
    c = pinnace_env.client
    await c.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "temp"}})
    await c.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "y", "namespace": "temp"}})
    await c.delete({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "temp"}})

    async def gone() -> bool:
        try:
            await c.get("v1/Namespace", "temp")
        except errors.NotFound:
            return True
        return False

    await pinnace_env.eventually(gone)


async def test_eventually_reports_the_last_error() -> None:
    async with start_env() as env:
        with pytest.raises(AssertionError, match='configmaps "missing" not found'):
            await env.eventually(lambda: env.client.get(CM, "missing", "default"), timeout=0.1)


async def test_unknown_controller_is_refused() -> None:
    async with start_env() as env:
        with pytest.raises(ValueError, match=r"unknown controller 'nope'; known: .*deployment, .*gc, .*namespace"):
            await env.run_controllers(["nope"])
