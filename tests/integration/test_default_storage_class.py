"""The default StorageClass ``pinnace up`` installs: made at a data directory's first start, then the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.api import errors
from pinnace.apiserver.server import APIServer
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.cluster.storageclass import MARKER, install_default_storage_class
from pinnace.storage.sqlite import SQLiteStore

CLASSES = ResourceRef("storage.k8s.io", "v1", "storageclasses", namespaced=False)


async def test_made_once_and_then_left_to_the_user(tmp_path: Path) -> None:
    """What the server installs and what a user then does, read and written through the SDK's REST client."""
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store)
    await server.listen("127.0.0.1", 0)
    user = RestClient(server.url)
    try:
        await install_default_storage_class(server, tmp_path)
        made = await user.get(CLASSES, "standard")
        assert made["provisioner"] == "pinnace.dev/local-path"
        assert made["reclaimPolicy"] == "Delete" and made["volumeBindingMode"] == "WaitForFirstConsumer"
        assert made["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
        assert (tmp_path / MARKER).exists()

        # the user takes the default mark off, then deletes the class: a restart changes nothing
        made["metadata"]["annotations"] = {"storageclass.kubernetes.io/is-default-class": "false"}
        changed = await user.update(CLASSES, made)
        await install_default_storage_class(server, tmp_path)
        assert (await user.get(CLASSES, "standard"))["metadata"] == changed["metadata"]
        await user.delete(CLASSES, "standard")
        await install_default_storage_class(server, tmp_path)
        with pytest.raises(errors.NotFound):  # not made again
            await user.get(CLASSES, "standard")

        # a data directory without the marker (from before the class existed) gets it, unless a class has its name
        (tmp_path / MARKER).unlink()
        await install_default_storage_class(server, tmp_path)
        assert (await user.get(CLASSES, "standard"))["provisioner"] == "pinnace.dev/local-path"
    finally:
        await user.close()
        await server.stop()
        await store.close()
