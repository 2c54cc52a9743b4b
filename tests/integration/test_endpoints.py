"""Endpoints and EndpointSlices follow the pods a Service selects, and their readiness."""

from __future__ import annotations

from typing import Any

import pytest

from pinnace.api import errors
from pinnace.client.rest import ResourceRef
from pinnace.cluster.testenv import TestEnv
from pinnace.controllers.endpointslice import desired_slices

pytestmark = pytest.mark.pinnace_env(controllers=["endpoints", "endpointslice", "gc"])

SERVICES = ResourceRef("", "v1", "services", namespaced=True)
PODS = ResourceRef("", "v1", "pods", namespaced=True)
ENDPOINTS = ResourceRef("", "v1", "endpoints", namespaced=True)
SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices", namespaced=True)

Obj = dict[str, Any]


def service(name: str = "web", **spec: Any) -> Obj:
    body: Obj = {"selector": {"app": name}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}
    body.update(spec)
    return {"metadata": {"name": name, "labels": {"tier": "front"}}, "spec": body}


def pod(name: str, app: str = "web", port: int = 8080, **spec: Any) -> Obj:
    body: Obj = {"containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": port}]}]}
    body.update(spec)
    return {"metadata": {"name": name, "labels": {"app": app}}, "spec": body}


async def run(env: TestEnv, name: str, ip: str, *, ready: bool) -> None:
    status = {
        "phase": "Running",
        "podIP": ip,
        "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    await env.rest.patch(PODS, name, {"status": status}, "default", subresource="status")


async def endpoints_of(env: TestEnv, name: str = "web") -> Obj:
    return await env.rest.get(ENDPOINTS, name, "default")


async def slices_of(env: TestEnv, name: str = "web") -> list[Obj]:
    found = await env.rest.list(SLICES, "default", labelSelector=f"kubernetes.io/service-name={name}")
    items: list[Obj] = found["items"]
    return items


async def test_endpoints_follow_pod_readiness(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    svc = await rest.create(SERVICES, service(), "default")
    a = await rest.create(PODS, pod("a", nodeName="node-1", hostname="a", subdomain="web"), "default")
    await rest.create(PODS, pod("b", port=9090), "default")
    await rest.create(PODS, pod("other", app="other"), "default")
    await run(pinnace_env, "a", "10.0.0.1", ready=False)
    await run(pinnace_env, "b", "10.0.0.2", ready=True)
    await run(pinnace_env, "other", "10.0.0.3", ready=True)

    async def both_seen() -> Obj | None:
        ep = await endpoints_of(pinnace_env)
        subsets = ep.get("subsets") or []
        return ep if len(subsets) == 2 else None

    ep = await pinnace_env.eventually(both_seen)
    assert ep["metadata"]["labels"] == {"tier": "front"}
    assert "endpoints.kubernetes.io/last-change-trigger-time" in ep["metadata"]["annotations"]
    by_port = {s["ports"][0]["port"]: s for s in ep["subsets"]}
    assert by_port[8080]["notReadyAddresses"] == [
        {
            "ip": "10.0.0.1",
            "hostname": "a",
            "nodeName": "node-1",
            "targetRef": {"kind": "Pod", "namespace": "default", "name": "a", "uid": a["metadata"]["uid"]},
        }
    ]
    assert "addresses" not in by_port[8080]
    assert by_port[9090]["addresses"][0]["ip"] == "10.0.0.2"
    assert by_port[9090]["ports"] == [{"name": "http", "port": 9090, "protocol": "TCP"}]

    await run(pinnace_env, "a", "10.0.0.1", ready=True)

    async def a_ready() -> bool:
        subsets = (await endpoints_of(pinnace_env)).get("subsets") or []
        return any(a.get("ip") == "10.0.0.1" for s in subsets for a in s.get("addresses") or [])

    await pinnace_env.eventually(a_ready)

    # A pod that loses the label leaves; a deleted one too.
    await rest.patch(PODS, "b", {"metadata": {"labels": {"app": "gone"}}}, "default")
    await rest.delete(PODS, "a", "default", gracePeriodSeconds=0)

    async def empty() -> bool:
        return not (await endpoints_of(pinnace_env)).get("subsets")

    await pinnace_env.eventually(empty)
    # The service goes: its Endpoints and slices go too.
    await rest.delete(SERVICES, "web", "default")

    async def all_gone() -> bool:
        try:
            await endpoints_of(pinnace_env)
        except errors.NotFound:
            return not await slices_of(pinnace_env)
        return False

    await pinnace_env.eventually(all_gone)
    assert svc


async def test_slices_carry_conditions_labels_and_owner(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    svc = await rest.create(SERVICES, service(), "default")
    placeholder = await pinnace_env.eventually(lambda: slices_of(pinnace_env))
    assert placeholder[0]["endpoints"] in ([], None) or "endpoints" not in placeholder[0]
    await rest.create(PODS, pod("a", nodeName="n1"), "default")
    await run(pinnace_env, "a", "10.0.0.1", ready=True)

    async def one_endpoint() -> list[Obj] | None:
        slices = await slices_of(pinnace_env)
        return slices if len(slices) == 1 and slices[0].get("endpoints") else None

    slices = await pinnace_env.eventually(one_endpoint)
    es = slices[0]
    assert es["metadata"]["name"].startswith("web-")
    assert es["metadata"]["labels"] == {
        "tier": "front",
        "kubernetes.io/service-name": "web",
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
    }
    owner = es["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "Service",
        "web",
        svc["metadata"]["uid"],
        True,
    )
    assert es["addressType"] == "IPv4"
    assert es["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    endpoint = es["endpoints"][0]
    assert endpoint["addresses"] == ["10.0.0.1"]
    assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert endpoint["nodeName"] == "n1" and endpoint["targetRef"]["name"] == "a"

    await run(pinnace_env, "a", "10.0.0.1", ready=False)

    async def not_ready() -> bool:
        slices = await slices_of(pinnace_env)
        return slices[0]["endpoints"][0]["conditions"] == {"ready": False, "serving": False, "terminating": False}

    await pinnace_env.eventually(not_ready)


async def test_a_slice_of_another_address_type_is_replaced_not_updated(pinnace_env: TestEnv) -> None:
    # addressType is immutable: the controller's own slice of the wrong type (an FQDN one, first by name) goes,
    # instead of an update to IPv4 that the API refuses on every reconcile.
    rest = pinnace_env.rest
    await rest.create(SERVICES, service(), "default")
    await rest.create(PODS, pod("a"), "default")
    await run(pinnace_env, "a", "10.0.0.1", ready=True)

    async def served() -> list[Obj] | None:
        slices = await slices_of(pinnace_env)
        return slices if len(slices) == 1 and slices[0].get("endpoints") else None

    ipv4 = (await pinnace_env.eventually(served))[0]
    stray = {
        "metadata": {
            "name": "web-0",
            "labels": ipv4["metadata"]["labels"],
            "ownerReferences": ipv4["metadata"]["ownerReferences"],
        },
        "addressType": "FQDN",
        "endpoints": [{"addresses": ["a.example.com"]}],
        "ports": ipv4["ports"],
    }
    await rest.create(SLICES, stray, "default")

    async def only_ipv4() -> bool:
        return [s["metadata"]["name"] for s in await slices_of(pinnace_env)] == [ipv4["metadata"]["name"]]

    await pinnace_env.eventually(only_ipv4)
    kept = (await slices_of(pinnace_env))[0]
    assert (kept["addressType"], kept["endpoints"][0]["addresses"]) == ("IPv4", ["10.0.0.1"])


async def test_publish_not_ready_addresses(pinnace_env: TestEnv) -> None:
    rest = pinnace_env.rest
    await rest.create(SERVICES, service(publishNotReadyAddresses=True, clusterIP="None"), "default")
    await rest.create(PODS, pod("a"), "default")
    await run(pinnace_env, "a", "10.0.0.1", ready=False)

    async def published() -> Obj | None:
        subsets = (await endpoints_of(pinnace_env)).get("subsets") or []
        return subsets[0] if subsets and subsets[0].get("addresses") else None

    subset = await pinnace_env.eventually(published)
    assert subset["addresses"][0]["ip"] == "10.0.0.1"
    ep = await endpoints_of(pinnace_env)
    assert ep["metadata"]["labels"]["service.kubernetes.io/headless"] == ""


def test_slices_hold_at_most_100_endpoints_and_group_by_ports() -> None:
    svc = service()
    pods = []
    for i in range(250):
        p = pod(f"p{i:03d}", port=8080 if i < 230 else 9090)
        p["metadata"]["uid"] = f"u{i}"
        p["status"] = {"podIP": f"10.1.{i // 200}.{i % 200}", "conditions": [{"type": "Ready", "status": "True"}]}
        pods.append(p)
    slices = desired_slices(svc, pods)
    assert [len(s["endpoints"]) for s in slices] == [100, 100, 30, 20]
    assert [s["ports"][0]["port"] for s in slices] == [8080, 8080, 8080, 9090]
    assert desired_slices(svc, []) == [{"ports": [], "endpoints": []}]
