"""Admission beyond plain writes: ``kubectl exec``, ``attach``, ``port-forward`` and ``nodes/proxy`` are CONNECT
requests that webhooks see (with the PodExecOptions-like object and its kind) and may refuse before anything
reaches the kubelet; a subresource's own kind (Eviction) is the one its review names; a webhook's patch is
normalised and defaulted like a decoded body, and webhooks see objects defaulted as upstream's decoding leaves them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.integration.admission.conftest import serving
from tests.integration.admission.test_webhooks import MUTATING, VALIDATING, configuration, webhook
from tests.integration.admission.webhook_server import WebhookServer, json_patch

from pinnace.client.rest import ResourceRef, RestClient

Obj = dict[str, Any]
PODS = ResourceRef("", "v1", "pods")
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
PLUGINS = ("NamespaceLifecycle", "MutatingAdmissionWebhook", "ValidatingAdmissionWebhook")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[RestClient]:
    async with serving(tmp_path, PLUGINS) as c:
        yield c


async def _refuse(request: Obj) -> Obj:
    return {"allowed": False, "status": {"code": 403, "message": f"no {request['subResource']} here"}}


async def _bound_pod(client: RestClient) -> None:
    """A pod on a node whose kubelet address nobody listens on: a request that got past admission fails there."""
    node = {"metadata": {"name": "n1"}, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}]}}
    node["status"]["daemonEndpoints"] = {"kubeletEndpoint": {"Port": 1}}
    await client.create(NODES, node)
    pod = {"metadata": {"name": "p"}, "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "busybox"}]}}
    await client.create(PODS, pod, "default")


async def test_exec_port_forward_and_node_proxy_are_admitted_as_connect(
    client: RestClient, hooks: WebhookServer
) -> None:
    hooks.handlers["/deny"] = _refuse
    rules = [
        {
            "operations": ["CONNECT"],
            "apiGroups": [""],
            "apiVersions": ["v1"],
            "resources": ["pods/exec", "pods/attach", "pods/portforward", "nodes/proxy"],
        }
    ]
    config = webhook("connect.example.com", {"url": hooks.url("/deny"), "caBundle": hooks.ca_bundle}, rules=rules)
    await client.create(VALIDATING, configuration("no-connect", config))
    await _bound_pod(client)

    base = f"{client.base_url}/api/v1"
    cases = {
        "exec": "/namespaces/default/pods/p/exec?command=ls&command=-l&stdout=true&stderr=1&container=c",
        "attach": "/namespaces/default/pods/p/attach?stdin=true&tty=true",
        "portforward": "/namespaces/default/pods/p/portforward?ports=8080",
        "proxy": "/nodes/n1/proxy/healthz",
    }
    async with aiohttp.ClientSession() as raw:
        for sub, path in cases.items():
            async with raw.get(base + path) as resp:
                status = await resp.json()
            assert resp.status == 403, (sub, status)
            assert status["message"] == f'admission webhook "connect.example.com" denied the request: no {sub} here'

    reviews = {r["request"]["subResource"]: r["request"] for _, r in hooks.seen}
    assert set(reviews) == set(cases)
    exec_review = reviews["exec"]
    assert (
        exec_review["operation"] == "CONNECT" and exec_review["name"] == "p" and exec_review["namespace"] == "default"
    )
    assert exec_review["kind"] == {"group": "", "version": "v1", "kind": "PodExecOptions"}
    assert exec_review["resource"] == {"group": "", "version": "v1", "resource": "pods"}
    assert exec_review["object"] == {
        "kind": "PodExecOptions",
        "apiVersion": "v1",
        "stdin": False,
        "stdout": True,
        "stderr": True,
        "tty": False,
        "container": "c",
        "command": ["ls", "-l"],
    }
    assert exec_review["options"] is None
    assert reviews["attach"]["object"]["stdin"] is True and reviews["attach"]["object"]["container"] == "c"
    assert reviews["portforward"]["object"] == {"kind": "PodPortForwardOptions", "apiVersion": "v1", "ports": [8080]}
    assert reviews["proxy"]["kind"]["kind"] == "NodeProxyOptions" and reviews["proxy"]["object"]["path"] == "/healthz"


async def test_an_eviction_is_reviewed_as_an_eviction(client: RestClient, hooks: WebhookServer) -> None:
    hooks.handlers["/deny"] = _refuse
    rules = [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods/eviction"]}]
    config = webhook("evict.example.com", {"url": hooks.url("/deny"), "caBundle": hooks.ca_bundle}, rules=rules)
    await client.create(VALIDATING, configuration("no-evictions", config))
    await _bound_pod(client)
    eviction = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": "p", "namespace": "default"}}
    url = f"{client.base_url}/api/v1/namespaces/default/pods/p/eviction"
    async with aiohttp.ClientSession() as raw, raw.post(url, json=eviction) as resp:
        assert resp.status == 403
    ((_, review),) = hooks.seen
    assert review["request"]["kind"] == {"group": "policy", "version": "v1", "kind": "Eviction"}
    assert review["request"]["object"]["kind"] == "Eviction"


async def test_a_webhooks_patch_is_normalised_and_defaulted_as_a_decoded_body_would_be(
    client: RestClient, hooks: WebhookServer
) -> None:
    """The webhook plugin reports its own changes: a create it patched is normalised and defaulted again (an empty
    map dropped, the added container's defaults filled in), one it left alone keeps its proof of normality."""

    seen: list[Obj] = []

    async def add(request: Obj) -> Obj:
        seen.append(request["object"])
        sidecar = {"name": "sidecar", "image": "busybox:1.36"}
        return json_patch(
            [
                {"op": "add", "path": "/metadata/annotations", "value": {}},
                {"op": "add", "path": "/spec/containers/-", "value": sidecar},
            ]
        )

    hooks.handlers["/add"] = add
    rules = [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]
    hook = webhook("sidecar.example.com", {"url": hooks.url("/add"), "caBundle": hooks.ca_bundle}, rules=rules)
    await client.create(MUTATING, configuration("sidecars", hook))
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    created = await client.create(PODS, pod, "default")
    # Like upstream's, the webhook saw the pod as decoding leaves it: defaulted.
    (sent,) = seen
    assert sent["spec"]["restartPolicy"] == "Always" and sent["spec"]["dnsPolicy"] == "ClusterFirst"
    assert sent["spec"]["containers"][0]["imagePullPolicy"] == "Always"  # busybox: the latest tag
    assert "annotations" not in created["metadata"]
    sidecar = created["spec"]["containers"][1]
    assert sidecar["imagePullPolicy"] == "IfNotPresent" and sidecar["terminationMessagePath"]
    plain = await client.create(ResourceRef("", "v1", "configmaps"), {"metadata": {"name": "cm"}}, "default")
    assert plain["metadata"]["name"] == "cm"
