"""v1 ComponentStatus through the official ``kubernetes`` client and raw HTTP: probed per read, never stored."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
from kubernetes import client
from kubernetes.client import ApiClient
from kubernetes.client.rest import ApiException
from tests.integration.conftest import ThreadedServer, raw_request

from pinnace.apiserver.componentstatus import DEPRECATION, http_probe


@pytest.fixture
def probed(threaded_server: ThreadedServer) -> ThreadedServer:
    """The server with three components: one healthy, one reporting a problem, one whose probe hangs."""
    calls = {"ok": 0}

    async def healthy() -> str | None:
        calls["ok"] += 1
        return None

    async def broken() -> str | None:
        return "disk full"

    async def hangs() -> str | None:
        await asyncio.sleep(60)
        return None

    probes = threaded_server.server.component_statuses.probes
    probes.update({"etcd-0": healthy, "scheduler": broken, "controller-manager": hangs})
    return threaded_server


def test_list_and_get_probe_each_component_when_asked(
    probed: ThreadedServer, k8s_client: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pinnace.apiserver.componentstatus.PROBE_TIMEOUT", 0.2)
    core = client.CoreV1Api(k8s_client)
    listed = core.list_component_status()
    assert listed.kind == "ComponentStatusList"
    by_name = {item.metadata.name: item.conditions[0] for item in listed.items}
    assert sorted(by_name) == ["controller-manager", "etcd-0", "scheduler"]
    assert (by_name["etcd-0"].type, by_name["etcd-0"].status, by_name["etcd-0"].message) == ("Healthy", "True", "ok")
    assert (by_name["scheduler"].status, by_name["scheduler"].error) == ("False", "disk full")
    assert by_name["controller-manager"].status == "False" and "no answer" in by_name["controller-manager"].error

    one = core.read_component_status("etcd-0")
    assert one.metadata.name == "etcd-0" and one.conditions[0].status == "True"
    with pytest.raises(ApiException) as missing:
        core.read_component_status("nope")
    assert missing.value.status == 404


def test_a_table_with_the_deprecation_warning_and_only_get_and_list(
    probed: ThreadedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("pinnace.apiserver.componentstatus.PROBE_TIMEOUT", 0.2)
    request = urllib.request.Request(
        probed.url + "/api/v1/componentstatuses", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["Warning"] == f'299 - "{DEPRECATION}"'
        table = json.loads(response.read())
    assert [c["name"] for c in table["columnDefinitions"]][:4] == ["Name", "Status", "Message", "Error"]
    assert [row["cells"][:4] for row in table["rows"]][1] == ["etcd-0", "Healthy", "ok", ""]

    status, body = raw_request(probed.url, "POST", "/api/v1/componentstatuses", b'{"metadata":{"name":"x"}}')
    assert status == 405 and body["reason"] == "MethodNotAllowed"
    status, _ = raw_request(probed.url, "GET", "/api/v1/componentstatuses?watch=true")
    assert status == 405
    resources = raw_request(probed.url, "GET", "/api/v1")[1]["resources"]
    (cs,) = [r for r in resources if r["name"] == "componentstatuses"]
    assert (cs["kind"], cs["namespaced"], cs["verbs"], cs["shortNames"]) == (
        "ComponentStatus",
        False,
        ["get", "list"],
        ["cs"],
    )


async def test_an_http_probe_is_healthy_on_200_and_says_why_not_otherwise(threaded_server: ThreadedServer) -> None:
    url = threaded_server.url
    assert await http_probe(url + "/healthz")() is None  # the API server's own /healthz answers 200
    assert "answered 404" in (await http_probe(url + "/nowhere")() or "")
    assert (await http_probe("http://127.0.0.1:9/healthz")() or "").startswith('Get "http://127.0.0.1:9/healthz": ')
