"""Where the admission chain is called: every kind of write, with the operation, subresource and objects
upstream gives its plugins; refusals leave nothing written; dry runs are admitted too."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from pinnace.api import errors
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import forbidden
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.storage.sqlite import SQLiteStore

PODS = ResourceRef("", "v1", "pods")
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
DEPLOYMENTS = ResourceRef("apps", "v1", "deployments")


class Recorder:
    """Records what it is asked; refuses objects labelled ``refuse``; stamps a label on what it admits."""

    name = "Recorder"

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str, str, bool, bool]] = []

    def handles(self, request: AdmissionRequest) -> bool:
        return request.info.plural in ("pods", "configmaps", "deployments")

    async def admit(self, request: AdmissionRequest) -> None:
        writes = (Operation.CREATE, Operation.UPDATE)
        if request.obj is not None and request.operation in writes and not request.subresource:
            request.obj.setdefault("metadata", {}).setdefault("labels", {})["admitted"] = "yes"

    async def validate(self, request: AdmissionRequest) -> None:
        self.seen.append(
            (
                request.operation.value,
                request.info.plural,
                request.subresource,
                request.name,
                request.old is not None,
                request.dry_run,
            )
        )
        labels = ((request.obj or {}).get("metadata") or {}).get("labels") or {}
        if "refuse" in labels:
            raise forbidden(request, "refused by the recorder")
        if request.info.plural == "configmaps" and request.operation is Operation.CREATE:
            request.warnings.append("recorded")


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[tuple[RestClient, Recorder]]:
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store)
    recorder = Recorder()
    assert server.rest.admission is not None
    server.rest.admission.mutating.append(recorder)
    server.rest.admission.validating.append(recorder)
    await server.listen("127.0.0.1", 0)
    try:
        async with RestClient(server.url) as rest:
            yield rest, recorder
    finally:
        await server.stop()
        await store.close()


def _pod(name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": labels}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}


async def test_every_write_is_admitted_with_its_operation(env: tuple[RestClient, Recorder]) -> None:
    rest, recorder = env
    created = await rest.create(PODS, _pod("p"), "default")
    assert created["metadata"]["labels"] == {"admitted": "yes"}  # the mutating phase changed what was stored
    await rest.patch(PODS, "p", {"metadata": {"annotations": {"a": "b"}}}, "default")
    await rest.patch(PODS, "p", {"status": {"phase": "Pending"}}, "default", subresource="status")
    await rest.bind("default", "p", "node-1")
    await rest.request("POST", PODS.path("default", "p", "eviction"), body={"metadata": {"name": "p"}})
    assert recorder.seen == [
        ("CREATE", "pods", "", "p", False, False),
        ("UPDATE", "pods", "", "p", True, False),
        ("UPDATE", "pods", "status", "p", True, False),
        ("CREATE", "pods", "binding", "p", False, False),
        ("UPDATE", "pods", "binding", "p", True, False),
        ("CREATE", "pods", "eviction", "p", False, False),
        ("UPDATE", "pods", "status", "p", True, False),  # the DisruptionTarget condition
        ("DELETE", "pods", "", "p", True, False),
    ]


async def test_deletecollection_admits_each_item(env: tuple[RestClient, Recorder]) -> None:
    rest, recorder = env
    for name in ("a", "b"):
        await rest.create(CONFIGMAPS, {"metadata": {"name": name}}, "default")
    recorder.seen.clear()
    await rest.delete_collection(CONFIGMAPS, "default")
    assert sorted(recorder.seen) == [
        ("DELETE", "configmaps", "", "a", True, False),
        ("DELETE", "configmaps", "", "b", True, False),
    ]


async def test_a_refusal_writes_nothing(env: tuple[RestClient, Recorder]) -> None:
    rest, _ = env
    with pytest.raises(errors.Forbidden, match='pods "bad" is forbidden: refused by the recorder'):
        await rest.create(PODS, _pod("bad", refuse="1"), "default")
    with pytest.raises(errors.NotFound):
        await rest.get(PODS, "bad", "default")
    await rest.create(PODS, _pod("good"), "default")
    with pytest.raises(errors.Forbidden):
        await rest.patch(PODS, "good", {"metadata": {"labels": {"refuse": "1"}}}, "default")
    assert "refuse" not in (await rest.get(PODS, "good", "default"))["metadata"]["labels"]


async def test_dry_run_is_admitted_and_warnings_reach_the_client(env: tuple[RestClient, Recorder]) -> None:
    rest, recorder = env
    recorder.seen.clear()
    with pytest.raises(errors.Forbidden):
        await rest.request(
            "POST",
            CONFIGMAPS.path("default"),
            body={"metadata": {"name": "x", "labels": {"refuse": "1"}}},
            params={"dryRun": "All"},
        )
    assert recorder.seen == [("CREATE", "configmaps", "", "x", False, True)]
    async with (
        aiohttp.ClientSession() as session,
        session.post(rest.base_url + CONFIGMAPS.path("default"), json={"metadata": {"name": "w"}}) as resp,
    ):
        assert resp.status == 201
        assert resp.headers.getall("Warning") == ['299 - "recorded"']


async def test_concurrent_charges_of_one_quota_are_written_together(tmp_path: Path) -> None:
    """64 concurrent creates under a roomy quota all succeed (none loses the race for its status, 409) and
    under a tight one exactly the limit does, on a durable store where writes take real time."""
    store = await SQLiteStore.open(tmp_path / "store.db")
    server = APIServer(store, admission_plugins=["NamespaceLifecycle", "ResourceQuota"])
    await server.listen("127.0.0.1", 0)
    rq = server.registry.get("", "v1", "resourcequotas")
    assert rq is not None
    try:
        async with RestClient(server.url) as rest:
            for limit, expected in ((1000, 64), (20, 20)):
                ns = f"q{limit}"
                await rest.create(ResourceRef("", "v1", "namespaces"), {"metadata": {"name": ns}})
                hard = {"configmaps": str(limit)}
                await rest.create(
                    ResourceRef("", "v1", "resourcequotas"), {"metadata": {"name": "q"}, "spec": {"hard": hard}}, ns
                )
                counted = {"hard": hard, "used": {"configmaps": "0"}}

                def count(q: dict[str, Any], counted: dict[str, Any] = counted) -> dict[str, Any]:
                    return {**q, "status": counted}

                await server.rest.mutate(rq, ns, "q", count, subresource="status")

                async def create(i: int, ns: str = ns) -> int:
                    try:
                        await rest.create(CONFIGMAPS, {"metadata": {"name": f"c{i}"}}, ns)
                    except errors.StatusError as exc:
                        return exc.code
                    return 201

                codes = await asyncio.gather(*(create(i) for i in range(64)))
                assert codes.count(201) == expected and set(codes) <= {201, 403}
                used = (await rest.get(ResourceRef("", "v1", "resourcequotas"), "q", ns))["status"]["used"]
                assert used == {"configmaps": str(expected)}
    finally:
        await server.stop()
        await store.close()
