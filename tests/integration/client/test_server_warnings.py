"""The server's Warning headers reach the SDK's log, each once per client, as client-go's warning logger does."""

from __future__ import annotations

import logging

import pytest

from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient

PODS = ResourceRef("", "v1", "pods")


def _pod(name: str) -> dict[str, object]:
    spec = {"nodeSelector": {"beta.kubernetes.io/os": "linux"}, "containers": [{"name": "c", "image": "busybox"}]}
    return {"metadata": {"name": name}, "spec": spec}


async def test_a_warning_is_logged_once(api_server: APIServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pinnace.client.warnings")
    async with RestClient(api_server.url) as client:
        await client.create(PODS, _pod("a"), "default")
        await client.create(PODS, _pod("b"), "default")
        await client.create(PODS, {**_pod("c"), "spec": {"containers": [{"name": "c", "image": "i"}]}}, "default")
    logged = [r.getMessage() for r in caplog.records if r.name == "pinnace.client.warnings"]
    assert logged == [
        'spec.nodeSelector[beta.kubernetes.io/os]: deprecated since v1.14; use "kubernetes.io/os" instead'
    ]
