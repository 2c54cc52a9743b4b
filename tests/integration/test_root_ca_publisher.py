"""The root CA publisher puts ``kube-root-ca.crt`` (the cluster CA) in every namespace, and keeps it so."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers import controller_factory

CONFIGMAPS = ResourceRef("", "v1", "configmaps")
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
CA = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"


async def _published(client: RestClient, namespace: str) -> dict[str, str] | None:
    for _ in range(200):
        try:
            return dict((await client.get(CONFIGMAPS, "kube-root-ca.crt", namespace)).get("data") or {})
        except errors.NotFound:
            await asyncio.sleep(0.05)
    return None


async def test_every_namespace_gets_the_ca_and_keeps_it(pinnace_env: TestEnv, tmp_path: Path) -> None:
    client = pinnace_env.rest
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text(CA)
    manager = pinnace_env.manager()
    await controller_factory("root-ca-cert-publisher")(manager, root_ca_file=ca_file)
    await pinnace_env.start(manager)
    assert await _published(client, "default") == {"ca.crt": CA}
    await client.create(NAMESPACES, {"metadata": {"name": "team-a"}})
    assert await _published(client, "team-a") == {"ca.crt": CA}
    changed = await client.get(CONFIGMAPS, "kube-root-ca.crt", "team-a")
    changed["data"] = {"ca.crt": "tampered"}
    await client.update(CONFIGMAPS, changed)
    for _ in range(200):
        if (await _published(client, "team-a")) == {"ca.crt": CA}:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the tampered kube-root-ca.crt was not put back")
    await client.delete(CONFIGMAPS, "kube-root-ca.crt", "team-a")
    assert await _published(client, "team-a") == {"ca.crt": CA}
