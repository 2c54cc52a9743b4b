"""Admission webhooks against an in-process API server: a TLS webhook server in the test denies and mutates.

Covers url and service references (endpoints from EndpointSlices, TLS checked for
``<service>.<namespace>.svc``), rules, selectors, matchConditions, failurePolicy
with a dead webhook, timeouts, dry run and sideEffects, reinvocation, warnings.
"""

from __future__ import annotations

import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.integration.admission.conftest import serving
from tests.integration.admission.webhook_server import WebhookServer, json_patch, sleep_then_allow

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient

Obj = dict[str, Any]
PLUGINS = ("NamespaceLifecycle", "MutatingAdmissionWebhook", "ValidatingAdmissionWebhook")
MUTATING = ResourceRef("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", namespaced=False)
VALIDATING = ResourceRef("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", namespaced=False)
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[RestClient]:
    async with serving(tmp_path, PLUGINS) as c:
        yield c


def webhook(name: str, client_config: Obj, **fields: Any) -> Obj:
    """One webhook on CREATE/UPDATE of configmaps (override with fields)."""
    return {
        "name": name,
        "clientConfig": client_config,
        "rules": [
            {"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}
        ],
        "sideEffects": "None",
        "admissionReviewVersions": ["v1"],
        **fields,
    }


def configuration(name: str, *webhooks: Obj) -> Obj:
    return {"metadata": {"name": name}, "webhooks": list(webhooks)}


def configmap(name: str, **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}


async def _deny_labelled(request: Obj) -> Obj:
    labels = request["object"]["metadata"].get("labels") or {}
    if labels.get("deny") == "yes":
        return {
            "allowed": False,
            "status": {"code": 403, "reason": "Forbidden", "message": "configmaps labelled deny=yes are refused"},
        }
    return {"warnings": ["checked by the test webhook"]}


async def _add_label(request: Obj) -> Obj:
    return json_patch([{"op": "add", "path": "/metadata/labels/mutated", "value": "by-webhook"}])


async def test_a_webhook_denies_one_object_and_mutates_another(client: RestClient, hooks: WebhookServer) -> None:
    hooks.handlers = {"/validate": _deny_labelled, "/mutate": _add_label}
    ca = hooks.ca_bundle
    await client.create(
        MUTATING, configuration("mutate", webhook("mutate.example.com", {"url": hooks.url("/mutate"), "caBundle": ca}))
    )
    await client.create(
        VALIDATING, configuration("deny", webhook("deny.example.com", {"url": hooks.url("/validate"), "caBundle": ca}))
    )

    created = await client.create(CONFIGMAPS, configmap("fine", app="x"), "default")
    assert created["metadata"]["labels"] == {"app": "x", "mutated": "by-webhook"}
    stored = await client.get(CONFIGMAPS, "fine", "default")
    assert stored["metadata"]["labels"]["mutated"] == "by-webhook"

    with pytest.raises(errors.Forbidden) as refused:
        await client.create(CONFIGMAPS, configmap("bad", deny="yes"), "default")
    assert refused.value.message == (
        'admission webhook "deny.example.com" denied the request: configmaps labelled deny=yes are refused'
    )
    with pytest.raises(errors.NotFound):
        await client.get(CONFIGMAPS, "bad", "default")

    # The validating webhook saw the object as mutated; the review says what upstream's says.
    path, review = hooks.seen[1]
    assert path == "/validate" and review["apiVersion"] == "admission.k8s.io/v1"
    request = review["request"]
    assert request["uid"] and request["operation"] == "CREATE" and request["dryRun"] is False
    assert request["kind"] == {"group": "", "version": "v1", "kind": "ConfigMap"}
    assert request["resource"] == {"group": "", "version": "v1", "resource": "configmaps"}
    assert request["requestKind"] == request["kind"] and request["requestResource"] == request["resource"]
    assert request["namespace"] == "default" and request["name"] == "fine"
    assert request["object"]["metadata"]["labels"]["mutated"] == "by-webhook"
    assert request["oldObject"] is None
    assert request["options"] == {"kind": "CreateOptions", "apiVersion": "meta.k8s.io/v1"}

    # An update carries the old object; the webhook's warning reaches the client as a Warning header.
    stored["data"] = {"k": "changed"}
    url = f"{client.base_url}/api/v1/namespaces/default/configmaps/fine"
    async with aiohttp.ClientSession() as raw, raw.put(url, json=stored) as resp:
        assert resp.status == 200
        assert '299 - "checked by the test webhook"' in resp.headers.getall("Warning", [])
    update = hooks.seen[-1][1]["request"]
    assert update["operation"] == "UPDATE" and update["oldObject"]["data"] == {"k": "v"}
    assert update["options"]["kind"] == "UpdateOptions"


async def test_writes_that_met_no_configuration_are_followed_at_once_by_a_new_one(
    client: RestClient, hooks: WebhookServer
) -> None:
    # Writes while no configuration exists skip both plugins (their handles() knows it without awaiting) ...
    for i in range(3):
        await client.create(CONFIGMAPS, configmap(f"before-{i}", deny="yes"), "default")
    assert hooks.seen == []
    # ... and the first write after a configuration is created meets it, as does every later one.
    hooks.handlers = {"/validate": _deny_labelled}
    url = {"url": hooks.url("/validate"), "caBundle": hooks.ca_bundle}
    await client.create(VALIDATING, configuration("deny", webhook("deny.example.com", url)))
    with pytest.raises(errors.Forbidden):
        await client.create(CONFIGMAPS, configmap("after", deny="yes"), "default")
    assert [path for path, _ in hooks.seen] == ["/validate"]
    # Once it is deleted, writes go through unreviewed again.
    await client.delete(VALIDATING, "deny")
    await client.create(CONFIGMAPS, configmap("after", deny="yes"), "default")
    assert len(hooks.seen) == 1


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"https://127.0.0.1:{port}/dead"


async def test_failure_policy_with_a_dead_webhook(client: RestClient) -> None:
    dead = {"url": _dead_url()}
    await client.create(
        VALIDATING, configuration("dead-ignore", webhook("ignore.example.com", dead, failurePolicy="Ignore"))
    )
    await client.create(CONFIGMAPS, configmap("passes"), "default")  # Ignore: the request goes on

    await client.create(VALIDATING, configuration("dead-fail", webhook("fail.example.com", dead, failurePolicy="Fail")))
    with pytest.raises(errors.InternalError) as failed:
        await client.create(CONFIGMAPS, configmap("blocked"), "default")
    assert failed.value.message.startswith('Internal error occurred: failed calling webhook "fail.example.com": Post "')
    with pytest.raises(errors.NotFound):
        await client.get(CONFIGMAPS, "blocked", "default")


async def test_a_webhook_past_its_timeout_fails(client: RestClient, hooks: WebhookServer) -> None:
    hooks.handlers = {"/slow": lambda request: sleep_then_allow(3)}
    config = {"url": hooks.url("/slow"), "caBundle": hooks.ca_bundle}
    await client.create(VALIDATING, configuration("slow", webhook("slow.example.com", config, timeoutSeconds=1)))
    with pytest.raises(errors.InternalError, match="context deadline exceeded"):
        await client.create(CONFIGMAPS, configmap("late"), "default")
    assert hooks.seen[0][0] == "/slow"


async def test_tls_is_verified_against_the_ca_bundle(client: RestClient, hooks: WebhookServer, tmp_path: Path) -> None:
    hooks.handlers = {"/validate": _deny_labelled}
    (tmp_path / "other").mkdir()
    stranger = WebhookServer(tmp_path / "other")
    config = {"url": hooks.url("/validate"), "caBundle": stranger.ca_bundle}  # not the CA that signed the server
    await client.create(VALIDATING, configuration("wrong-ca", webhook("tls.example.com", config)))
    with pytest.raises(errors.InternalError, match="certificate verify failed"):
        await client.create(CONFIGMAPS, configmap("x"), "default")
    assert hooks.seen == []


async def test_a_webhook_by_service_reference_is_called_at_its_endpoints(
    client: RestClient, hooks: WebhookServer
) -> None:
    hooks.handlers = {"/hook/validate": _deny_labelled}
    await client.create(
        ResourceRef("", "v1", "services"),
        {"metadata": {"name": "hooks"}, "spec": {"ports": [{"name": "https", "port": 8443, "targetPort": 9443}]}},
        "default",
    )
    await client.create(
        ResourceRef("discovery.k8s.io", "v1", "endpointslices"),
        {
            "metadata": {"name": "hooks-1", "labels": {"kubernetes.io/service-name": "hooks"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["127.0.0.2"], "conditions": {"ready": False}},
                {"addresses": ["127.0.0.1"], "conditions": {"ready": True}},
            ],
            "ports": [{"name": "https", "port": hooks.port, "protocol": "TCP"}],
        },
        "default",
    )
    service = {"namespace": "default", "name": "hooks", "path": "/hook/validate", "port": 8443}
    await client.create(
        VALIDATING,
        configuration("by-service", webhook("svc.example.com", {"service": service, "caBundle": hooks.ca_bundle})),
    )
    with pytest.raises(errors.Forbidden, match=re.escape('admission webhook "svc.example.com" denied the request')):
        await client.create(CONFIGMAPS, configmap("no", deny="yes"), "default")
    await client.create(CONFIGMAPS, configmap("yes"), "default")
    assert [p for p, _ in hooks.seen] == ["/hook/validate", "/hook/validate"]


async def test_selectors_and_match_conditions_choose_the_requests(client: RestClient, hooks: WebhookServer) -> None:
    async def deny_all(request: Obj) -> Obj:
        return {"allowed": False, "status": {"message": "nope"}}

    hooks.handlers = {"/deny": deny_all}
    config = {"url": hooks.url("/deny"), "caBundle": hooks.ca_bundle}
    await client.create(NAMESPACES, {"metadata": {"name": "guarded", "labels": {"guard": "on"}}})
    await client.create(NAMESPACES, {"metadata": {"name": "open"}})
    await client.create(
        VALIDATING,
        configuration(
            "selective",
            webhook(
                "selective.example.com",
                config,
                namespaceSelector={"matchLabels": {"guard": "on"}},
                objectSelector={"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]},
                matchConditions=[{"name": "not-exempt", "expression": "!object.metadata.name.startsWith('exempt-')"}],
            ),
        ),
    )
    await client.create(CONFIGMAPS, configmap("a", tier="db"), "open")  # namespace not selected
    await client.create(CONFIGMAPS, configmap("b", tier="web"), "guarded")  # object not selected
    await client.create(CONFIGMAPS, configmap("exempt-c", tier="db"), "guarded")  # condition false
    assert hooks.seen == []
    with pytest.raises(errors.BadRequest) as refused:  # no code in the answer: 400, as upstream
        await client.create(CONFIGMAPS, configmap("d", tier="db"), "guarded")
    assert refused.value.message == 'admission webhook "selective.example.com" denied the request: nope'
    assert len(hooks.seen) == 1


async def test_dry_run_reaches_only_webhooks_without_side_effects(client: RestClient, hooks: WebhookServer) -> None:
    hooks.handlers = {"/validate": _deny_labelled}
    config = {"url": hooks.url("/validate"), "caBundle": hooks.ca_bundle}
    await client.create(
        VALIDATING, configuration("safe", webhook("safe.example.com", config, sideEffects="NoneOnDryRun"))
    )
    dry = await client.request(
        "POST", "/api/v1/namespaces/default/configmaps", body=configmap("dry"), params={"dryRun": "All"}
    )
    assert dry["metadata"]["name"] == "dry"
    assert hooks.seen[-1][1]["request"]["dryRun"] is True

    # v1 knows only None and NoneOnDryRun: a webhook with side effects cannot even be configured.
    with pytest.raises(errors.Invalid, match="supported values"):
        await client.create(
            VALIDATING, configuration("unsafe", webhook("unsafe.example.com", config, sideEffects="Some"))
        )


async def test_if_needed_webhooks_are_reinvoked_after_later_changes(client: RestClient, hooks: WebhookServer) -> None:
    async def first(request: Obj) -> Obj:
        labels = request["object"]["metadata"].get("labels") or {}
        return json_patch([{"op": "add", "path": "/metadata/labels/first-saw", "value": str(len(labels))}])

    async def second(request: Obj) -> Obj:
        return json_patch([{"op": "add", "path": "/metadata/labels/second", "value": "yes"}])

    hooks.handlers = {"/first": first, "/second": second}
    ca = hooks.ca_bundle
    await client.create(
        MUTATING,
        configuration(
            "a-first",
            webhook("first.example.com", {"url": hooks.url("/first"), "caBundle": ca}, reinvocationPolicy="IfNeeded"),
        ),
    )
    await client.create(
        MUTATING,
        configuration("b-second", webhook("second.example.com", {"url": hooks.url("/second"), "caBundle": ca})),
    )
    # (a label to start with: a webhook is sent the object as Go encodes it, without an empty labels map)
    created = await client.create(CONFIGMAPS, configmap("m", app="x"), "default")
    assert [p for p, _ in hooks.seen] == ["/first", "/second", "/first"]
    assert created["metadata"]["labels"] == {"app": "x", "first-saw": "3", "second": "yes"}


async def test_a_webhook_sees_and_may_refuse_deletes(client: RestClient, hooks: WebhookServer) -> None:
    async def keep(request: Obj) -> Obj:
        return {"allowed": False, "status": {"code": 403, "reason": "Forbidden", "message": "kept"}}

    hooks.handlers = {"/keep": keep}
    await client.create(CONFIGMAPS, configmap("precious"), "default")
    rules = [{"operations": ["DELETE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}]
    config = {"url": hooks.url("/keep"), "caBundle": hooks.ca_bundle}
    await client.create(VALIDATING, configuration("keeper", webhook("keep.example.com", config, rules=rules)))
    with pytest.raises(errors.Forbidden, match="denied the request: kept"):
        await client.delete(CONFIGMAPS, "precious", "default", propagationPolicy="Background")
    assert (await client.get(CONFIGMAPS, "precious", "default"))["data"] == {"k": "v"}
    request = hooks.seen[0][1]["request"]
    assert request["operation"] == "DELETE" and request["object"] is None
    assert request["oldObject"]["metadata"]["name"] == "precious"
    assert request["options"]["kind"] == "DeleteOptions" and request["options"]["propagationPolicy"] == "Background"


async def test_a_scale_is_admitted_as_a_scale(client: RestClient, hooks: WebhookServer) -> None:
    """Upstream's attributes for ``deployments/scale``: kind autoscaling/v1 Scale, object and oldObject Scales;
    a mutating webhook's change to the Scale reaches the deployment, a validating one may refuse it."""
    seen: list[Obj] = []

    async def cap_at_five(request: Obj) -> Obj:
        seen.append(request)
        replicas = request["object"]["spec"]["replicas"]
        return json_patch([{"op": "replace", "path": "/spec/replicas", "value": min(replicas, 5)}])

    async def refuse_three(request: Obj) -> Obj:
        if request["object"]["spec"]["replicas"] == 3:
            return {"allowed": False, "status": {"code": 403, "message": "three replicas are refused"}}
        return {}

    hooks.handlers = {"/mutate": cap_at_five, "/validate": refuse_three}
    ca = hooks.ca_bundle
    scale_rules = [
        {"operations": ["UPDATE"], "apiGroups": ["apps"], "apiVersions": ["v1"], "resources": ["deployments/scale"]}
    ]
    await client.create(
        MUTATING,
        configuration(
            "cap", webhook("cap.example.com", {"url": hooks.url("/mutate"), "caBundle": ca}, rules=scale_rules)
        ),
    )
    await client.create(
        VALIDATING,
        configuration(
            "three", webhook("three.example.com", {"url": hooks.url("/validate"), "caBundle": ca}, rules=scale_rules)
        ),
    )
    deployments = ResourceRef("apps", "v1", "deployments")
    labels = {"app": "web"}
    await client.create(
        deployments,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "c", "image": "i"}]}},
            },
        },
        "default",
    )
    scaled = await client.patch(deployments, "web", {"spec": {"replicas": 9}}, "default", subresource="scale")
    assert scaled["kind"] == "Scale" and scaled["spec"]["replicas"] == 5
    assert (await client.get(deployments, "web", "default"))["spec"]["replicas"] == 5
    request = seen[-1]
    assert request["kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    assert request["resource"] == {"group": "apps", "version": "v1", "resource": "deployments"}
    assert request["subResource"] == "scale"
    assert request["object"]["kind"] == "Scale" and request["object"]["spec"]["replicas"] == 9
    assert request["oldObject"]["kind"] == "Scale" and request["oldObject"]["spec"]["replicas"] == 1
    with pytest.raises(errors.Forbidden, match="three replicas are refused"):
        await client.patch(deployments, "web", {"spec": {"replicas": 3}}, "default", subresource="scale")
    assert (await client.get(deployments, "web", "default"))["spec"]["replicas"] == 5


def owned(obj: Obj, manager: str) -> Obj:
    """The FieldsV1 ``manager`` owns in ``obj`` through Update operations."""
    entries = [e for e in obj["metadata"].get("managedFields") or [] if e["manager"] == manager]
    assert len(entries) == 1, obj["metadata"].get("managedFields")
    fields: Obj = entries[0]["fieldsV1"]
    return fields


async def test_what_a_mutating_webhook_adds_belongs_to_no_manager(client: RestClient, hooks: WebhookServer) -> None:
    """Upstream records the writer's fields before mutating admission (on create since kubernetes#87671, on
    update always), so a webhook's additions are nobody's, and the webhook is sent the writer's managedFields."""

    async def stamp(request: Obj) -> Obj:
        path = "/metadata/annotations" if request["operation"] == "UPDATE" else "/metadata/labels/mutated"
        value: Any = {"stamped": "yes"} if request["operation"] == "UPDATE" else "by-webhook"
        return json_patch([{"op": "add", "path": path, "value": value}])

    hooks.handlers = {"/mutate": stamp}
    config = {"url": hooks.url("/mutate"), "caBundle": hooks.ca_bundle}
    await client.create(MUTATING, configuration("stamp", webhook("stamp.example.com", config)))

    path = "/api/v1/namespaces/default/configmaps"
    created = await client.request("POST", path, body=configmap("c", app="x"), params={"fieldManager": "maker"})
    assert created["metadata"]["labels"] == {"app": "x", "mutated": "by-webhook"}
    labels = {"f:labels": {".": {}, "f:app": {}}}
    assert owned(created, "maker") == {"f:data": {".": {}, "f:k": {}}, "f:metadata": labels}
    sent = hooks.seen[0][1]["request"]["object"]
    assert sent["metadata"]["managedFields"][0]["manager"] == "maker"

    patch = {"data": {"k": "changed", "extra": "1"}}
    updated = await client.patch(CONFIGMAPS, "c", patch, "default", field_manager="editor")
    assert updated["metadata"]["annotations"] == {"stamped": "yes"}
    assert owned(updated, "editor") == {"f:data": {"f:extra": {}, "f:k": {}}}
    assert owned(updated, "maker") == {"f:data": {}, "f:metadata": labels}
