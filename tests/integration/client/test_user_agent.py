"""The client names itself in a User-Agent as client-go does, so writes without a fieldManager are attributed."""

from __future__ import annotations

from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient, default_user_agent

CONFIGMAPS = ResourceRef("", "v1", "configmaps")


def _managers(obj: dict[str, object]) -> list[str]:
    meta = obj["metadata"]
    assert isinstance(meta, dict)
    return [entry["manager"] for entry in meta["managedFields"]]


async def test_a_write_without_field_manager_is_recorded_as_the_programs(api_server: APIServer) -> None:
    async with RestClient(api_server.url) as plain:
        created = await plain.create(CONFIGMAPS, {"metadata": {"name": "a"}, "data": {"k": "v"}}, "default")
    assert _managers(created) == ["pytest"]  # the running command's name, as client-go uses os.Args[0]

    agent = default_user_agent("kube-controller-manager")
    assert agent.startswith("kube-controller-manager/v") and agent.endswith(" pinnace") and "(linux/" in agent
    async with RestClient(api_server.url, user_agent=agent) as named:
        updated = await named.patch(CONFIGMAPS, "a", {"data": {"k": "w"}}, "default")
    assert sorted(_managers(updated)) == ["kube-controller-manager", "pytest"]
