"""The default StorageClass ``pinnace up`` installs: made at a data directory's first start, then the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

from pinnace.api import errors
from pinnace.apiserver.deleteoptions import DeleteOptions
from pinnace.apiserver.server import APIServer
from pinnace.cluster.storageclass import MARKER, install_default_storage_class
from pinnace.storage.sqlite import SQLiteStore


async def test_made_once_and_then_left_to_the_user(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "store.db", durable=False)
    server = APIServer(store)
    info = server.registry.get("storage.k8s.io", "v1", "storageclasses")
    assert info is not None
    try:
        await install_default_storage_class(server, tmp_path)
        made = await server.rest.get(info, None, "standard", None)
        assert made["provisioner"] == "pinnace.dev/local-path"
        assert made["reclaimPolicy"] == "Delete" and made["volumeBindingMode"] == "WaitForFirstConsumer"
        assert made["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
        assert (tmp_path / MARKER).exists()

        # the user takes the default mark off, then deletes the class: a restart changes nothing
        made["metadata"]["annotations"] = {"storageclass.kubernetes.io/is-default-class": "false"}
        changed, _ = await server.rest.update(info, None, "standard", made)
        await install_default_storage_class(server, tmp_path)
        assert (await server.rest.get(info, None, "standard", None))["metadata"] == changed["metadata"]
        await server.rest.delete(info, None, "standard", DeleteOptions())
        await install_default_storage_class(server, tmp_path)
        with pytest.raises(errors.NotFound):  # not made again
            await server.rest.get(info, None, "standard", None)

        # a data directory without the marker (from before the class existed) gets it, unless a class has its name
        (tmp_path / MARKER).unlink()
        await install_default_storage_class(server, tmp_path)
        assert (await server.rest.get(info, None, "standard", None))["provisioner"] == "pinnace.dev/local-path"
    finally:
        await server.stop()
        await store.close()
