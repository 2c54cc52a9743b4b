"""Container environments as the kubelet builds them: ``$(VAR)`` expansion, valueFrom, envFrom, service links."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from pinnace.node.agent.env import ConfigError, container_env, expand, field_value, kubernetes_service_env

Obj = dict[str, Any]


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("$(VAR_A)", "A"),
        ("___$(VAR_B)___", "___B___"),
        ("$(VAR_A)-$(VAR_B)", "A-B"),
        ("$$(VAR_A)", "$(VAR_A)"),  # escaped
        ("$$$(VAR_A)", "$A"),
        ("$(VAR_DOES_NOT_EXIST)", "$(VAR_DOES_NOT_EXIST)"),
        ("$(VAR_A", "$(VAR_A"),  # incomplete reference
        ("$VAR_A", "$VAR_A"),  # not a reference
        ("$", "$"),
        ("$()", "$()"),
        ("$(VAR_EMPTY)x", "x"),
        ("trailing $", "trailing $"),
    ],
)
def test_expand_follows_upstream(text: str, want: str) -> None:
    assert expand(text, {"VAR_A": "A", "VAR_B": "B", "VAR_EMPTY": ""}) == want


POD: Obj = {
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "uid": "u-1",
        "labels": {"app": "web", "tier": "front"},
        "annotations": {"note": 'say "hi"\nthere'},
    },
    "spec": {
        "nodeName": "node-0",
        "serviceAccountName": "builder",
        "containers": [{"name": "main", "resources": {"limits": {"cpu": "250m", "memory": "64Mi"}}}],
    },
    "status": {"podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}], "hostIP": "127.0.0.2"},
}


def test_field_refs() -> None:
    assert field_value(POD, "metadata.name") == "web"
    assert field_value(POD, "metadata.namespace") == "shop"
    assert field_value(POD, "metadata.labels['tier']") == "front"
    assert field_value(POD, "spec.serviceAccountName") == "builder"
    assert field_value(POD, "status.podIPs") == "10.0.0.5"
    assert field_value(POD, "metadata.labels") == 'app="web"\ntier="front"'
    assert field_value(POD, "metadata.annotations") == 'note="say \\"hi\\"\\nthere"'
    with pytest.raises(ConfigError):
        field_value(POD, "spec.nope")


async def test_container_env_in_upstream_order() -> None:
    objects = {
        ("ConfigMap", "shop", "cfg"): {"kind": "ConfigMap", "data": {"color": "blue", "bad-key!": "x"}},
        ("Secret", "shop", "sec"): {
            "kind": "Secret",
            "type": "Opaque",
            "data": {"pw": base64.b64encode(b"s3").decode()},
        },
    }

    async def lookup(kind: str, namespace: str, name: str) -> Obj | None:
        return objects.get((kind, namespace, name))

    container = {
        "name": "main",
        "envFrom": [
            {"prefix": "CFG_", "configMapRef": {"name": "cfg"}},
            {"secretRef": {"name": "missing", "optional": True}},
        ],
        "env": [
            {"name": "CFG_color", "value": "overridden"},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "pw"}}},
            {"name": "NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "GREETING", "value": "hi $(NAME) on $(KUBERNETES_SERVICE_HOST), $(LATER)"},
            {"name": "LATER", "value": "later"},
            {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "REQ", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nope", "optional": True}}},
        ],
    }
    env = dict(
        await container_env(
            POD, container, lookup, service_env=kubernetes_service_env("10.1.0.1", 6443), allocatable={"cpu": "4"}
        )
    )
    assert env["CFG_color"] == "overridden"
    assert "CFG_bad-key!" not in env  # not a valid variable name: skipped, as upstream
    assert env["PW"] == "s3"
    assert env["GREETING"] == "hi web on 10.1.0.1, $(LATER)"  # only variables defined before it expand
    assert (env["CPU"], env["MEM"], env["REQ"]) == ("250", "64", "1")  # cpu rounds up to whole cores
    assert "OPT" not in env
    assert env["KUBERNETES_SERVICE_PORT"] == "6443"


async def test_missing_references_are_config_errors() -> None:
    async def lookup(kind: str, namespace: str, name: str) -> Obj | None:
        return {"kind": "ConfigMap", "data": {"a": "1"}} if name == "cfg" else None

    async def env_of(var: Obj) -> list[tuple[str, str]]:
        return await container_env(POD, {"name": "main", "env": [var]}, lookup, service_env={}, allocatable={})

    with pytest.raises(ConfigError, match='configmap "other" not found'):
        await env_of({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "other", "key": "a"}}})
    with pytest.raises(ConfigError, match="couldn't find key b in ConfigMap shop/cfg"):
        await env_of({"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "b"}}})
    with pytest.raises(ConfigError, match='secret "s" not found'):
        await env_of({"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "b"}}})
