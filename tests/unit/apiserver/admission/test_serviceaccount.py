"""ServiceAccount admission's mounting of the API-access volume."""

from __future__ import annotations

from typing import Any

from pinnace.apiserver.admission.serviceaccount import TOKEN_MOUNT_PATH, api_access_volume, mount_api_access


def test_every_container_mounts_one_new_volume() -> None:
    spec: dict[str, Any] = {"initContainers": [{"name": "i"}], "containers": [{"name": "a"}, {"name": "b"}]}
    mount_api_access(spec)
    [volume] = spec["volumes"]
    name = volume["name"]
    assert volume == api_access_volume(name)
    for c in (*spec["initContainers"], *spec["containers"]):
        assert c["volumeMounts"] == [{"name": name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH}]


def test_a_container_with_its_own_mount_there_is_left_alone() -> None:
    own = {"name": "mine", "mountPath": TOKEN_MOUNT_PATH}
    spec: dict[str, Any] = {"containers": [{"name": "a", "volumeMounts": [own]}], "volumes": [{"name": "mine"}]}
    mount_api_access(spec)
    assert spec == {"containers": [{"name": "a", "volumeMounts": [own]}], "volumes": [{"name": "mine"}]}


def test_an_existing_api_access_volume_is_reused() -> None:
    existing = api_access_volume("kube-api-access-abcde")
    spec: dict[str, Any] = {"containers": [{"name": "a"}], "volumes": [existing]}
    mount_api_access(spec)
    assert spec["volumes"] == [existing]
    assert spec["containers"][0]["volumeMounts"][0]["name"] == "kube-api-access-abcde"
