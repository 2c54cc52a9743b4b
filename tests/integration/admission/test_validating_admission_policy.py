"""ValidatingAdmissionPolicy against an in-process API server: CEL validations, params, actions, failure policy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from tests.integration.admission.conftest import serving

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient

Obj = dict[str, Any]
POLICIES = ResourceRef("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies", namespaced=False)
BINDINGS = ResourceRef("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings", namespaced=False)
CONFIGMAPS = ResourceRef("", "v1", "configmaps")
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
RULES = [{"operations": ["CREATE", "UPDATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["configmaps"]}]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[RestClient]:
    async with serving(tmp_path, ("NamespaceLifecycle", "ValidatingAdmissionPolicy")) as c:
        yield c


def policy(name: str, validations: list[Obj], **spec: Any) -> Obj:
    return {
        "metadata": {"name": name},
        "spec": {"matchConstraints": {"resourceRules": RULES}, "validations": validations, **spec},
    }


def binding(name: str, policy_name: str, **spec: Any) -> Obj:
    return {"metadata": {"name": name}, "spec": {"policyName": policy_name, "validationActions": ["Deny"], **spec}}


def configmap(name: str, data: dict[str, str], **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": labels}, "data": data}


async def test_a_policy_with_params_denies_with_upstreams_message(client: RestClient) -> None:
    await client.create(
        POLICIES,
        policy(
            "max-keys",
            [
                {
                    "expression": "size(object.data) <= int(params.data.max)",
                    "messageExpression": "'at most ' + params.data.max + ' keys, got ' + string(variables.keys)",
                }
            ],
            paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
            variables=[{"name": "keys", "expression": "object.data.size()"}],
        ),
    )
    await client.create(
        BINDINGS,
        binding(
            "max-keys-default",
            "max-keys",
            paramRef={"name": "limits", "namespace": "kube-system", "parameterNotFoundAction": "Deny"},
            matchResources={"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "default"}}},
        ),
    )
    # No params yet: Deny says so, as a refusal (failurePolicy Fail).
    with pytest.raises(errors.Invalid) as missing:
        await client.create(CONFIGMAPS, configmap("first", {"a": "1"}), "default")
    assert "no params found for policy binding with `Deny` parameterNotFoundAction" in missing.value.message

    await client.create(CONFIGMAPS, configmap("limits", {"max": "2"}), "kube-system")  # not bound there: allowed
    await client.create(CONFIGMAPS, configmap("small", {"a": "1", "b": "2"}), "default")
    with pytest.raises(errors.Invalid) as refused:
        await client.create(CONFIGMAPS, configmap("big", {"a": "1", "b": "2", "c": "3"}), "default")
    assert refused.value.code == 422
    assert refused.value.message == (
        "configmaps \"big\" is forbidden: ValidatingAdmissionPolicy 'max-keys' with binding 'max-keys-default' "
        "denied request: at most 2 keys, got 3"
    )
    await client.create(NAMESPACES, {"metadata": {"name": "elsewhere"}})
    await client.create(CONFIGMAPS, configmap("big", {"a": "1", "b": "2", "c": "3"}), "elsewhere")  # not selected


async def test_param_selector_not_found_allow_and_reason(client: RestClient) -> None:
    await client.create(
        POLICIES,
        policy(
            "forbidden-values",
            [{"expression": "!(params.data.banned in object.data)", "reason": "Forbidden", "message": "banned key"}],
            paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
        ),
    )
    await client.create(
        BINDINGS,
        binding(
            "by-label",
            "forbidden-values",
            paramRef={"selector": {"matchLabels": {"role": "ban"}}, "parameterNotFoundAction": "Allow"},
        ),
    )
    await client.create(CONFIGMAPS, configmap("free", {"x": "1"}), "default")  # no params: Allow
    await client.create(CONFIGMAPS, configmap("ban-x", {"banned": "x"}, role="ban"), "default")
    await client.create(CONFIGMAPS, configmap("ban-y", {"banned": "y"}, role="ban"), "default")
    await client.create(CONFIGMAPS, configmap("ok", {"z": "1"}), "default")
    with pytest.raises(errors.Forbidden) as refused:  # every selected param is checked: y is banned by ban-y
        await client.create(CONFIGMAPS, configmap("has-y", {"y": "1"}), "default")
    assert refused.value.code == 403 and refused.value.message.endswith("denied request: banned key")


async def test_warn_actions_conditions_and_old_object(client: RestClient) -> None:
    await client.create(
        POLICIES,
        policy(
            "immutable-owner",
            [{"expression": "oldObject == null || object.data.owner == oldObject.data.owner"}],
            matchConditions=[{"name": "has-owner", "expression": "has(object.data) && 'owner' in object.data"}],
        ),
    )
    await client.create(BINDINGS, binding("warn-only", "immutable-owner", validationActions=["Warn"]))
    created = await client.create(CONFIGMAPS, configmap("owned", {"owner": "ann"}), "default")
    created["data"]["owner"] = "bob"
    url = f"{client.base_url}/api/v1/namespaces/default/configmaps/owned"
    async with aiohttp.ClientSession() as raw, raw.put(url, json=created) as resp:
        assert resp.status == 200  # Warn only
        warning = resp.headers.getall("Warning", [])
    assert warning == [
        "299 - \"Validation failed for ValidatingAdmissionPolicy 'immutable-owner' with binding 'warn-only': "
        'failed expression: oldObject == null || object.data.owner == oldObject.data.owner"'
    ]
    await client.create(BINDINGS, binding("deny-too", "immutable-owner"))
    current = await client.get(CONFIGMAPS, "owned", "default")
    current["data"]["owner"] = "cy"
    with pytest.raises(errors.Invalid, match="failed expression"):
        await client.update(CONFIGMAPS, current)
    await client.create(CONFIGMAPS, configmap("unowned", {"x": "1"}), "default")  # condition false: not checked


async def test_failure_policy_decides_on_errors(client: RestClient) -> None:
    failing = [{"expression": "object.data.missing == 'x'"}]  # no such key: an evaluation error
    await client.create(POLICIES, policy("ignore-errors", failing, failurePolicy="Ignore"))
    await client.create(BINDINGS, binding("b-ignore", "ignore-errors"))
    await client.create(CONFIGMAPS, configmap("passes", {"a": "1"}), "default")

    await client.create(POLICIES, policy("fail-errors", failing, failurePolicy="Fail"))
    await client.create(BINDINGS, binding("b-fail", "fail-errors"))
    with pytest.raises(errors.Invalid) as refused:
        await client.create(CONFIGMAPS, configmap("stopped", {"a": "1"}), "default")
    assert "expression 'object.data.missing == 'x'' resulted in error" in refused.value.message

    with pytest.raises(errors.Invalid) as broken:  # an expression that does not compile is refused when written
        await client.create(POLICIES, policy("broken", [{"expression": "object.data.("}]))
    assert broken.value.message.startswith(
        'ValidatingAdmissionPolicy.admissionregistration.k8s.io "broken" is invalid: '
        'spec.validations[0].expression: Invalid value: "object.data.(": compilation failed: ERROR: <input>:1:13:'
    )
