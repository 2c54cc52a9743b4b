"""The default StorageClass ``pinnace up`` installs: ``standard``, served by the local-path provisioner.

As kind and k3s do, a new cluster comes with a default StorageClass, so that a
claim that names none (a StatefulSet's volumeClaimTemplates, a Helm chart's
PVC) gets a volume: a directory on the node its first pod runs on
(:mod:`pinnace.controllers.localpath`), made once the scheduler has chosen that
node (``WaitForFirstConsumer``) and removed with the claim (``Delete``).

The class is the user's once made: it is created at the first start of a data
directory (a marker file in it records that), and never again — a user who
changes the class, takes the default annotation off it or deletes it is not
overruled at the next start. A data directory from before this class existed
gets it at its next start, unless a class of that name is already there.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinnace.api import errors
from pinnace.api.volumes import ANN_DEFAULT_STORAGE_CLASS, DEFAULT_STORAGE_CLASS_NAME, LOCAL_PATH_PROVISIONER

if TYPE_CHECKING:
    from pinnace.apiserver.server import APIServer

__all__ = ["MARKER", "default_storage_class", "install_default_storage_class", "install_once"]

#: In the data directory: the default StorageClass was installed (or found) once; it is left to the user since.
MARKER = "default-storageclass-installed"


def default_storage_class() -> dict[str, Any]:
    """The StorageClass ``standard``: the cluster's default, local-path volumes on the consumer's node."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": DEFAULT_STORAGE_CLASS_NAME, "annotations": {ANN_DEFAULT_STORAGE_CLASS: "true"}},
        "provisioner": LOCAL_PATH_PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "WaitForFirstConsumer",
    }


async def install_once(server: APIServer, data_dir: Path, marker_name: str, resource: tuple[str, str, str],
                       obj: dict[str, Any]) -> None:  # fmt: skip
    """Create the cluster-scoped ``obj`` (of ``resource``: group, version, plural) unless this data directory had it
    made once already (the file ``marker_name`` in it says so) or an object of its name exists; then record that
    it was done (one file check on every later start). What it makes is the user's from then on."""
    marker = data_dir / marker_name
    if marker.exists():
        return
    info = server.registry.get(*resource)
    assert info is not None
    if await server.rest.get_cached(info, None, obj["metadata"]["name"]) is None:
        with contextlib.suppress(errors.AlreadyExists):
            await server.rest.create(info, None, obj)
    marker.write_text(f"the default {obj['kind']} was installed; delete this file to have it made again if missing\n")


async def install_default_storage_class(server: APIServer, data_dir: Path) -> None:
    """Create the default StorageClass unless this data directory had it once already, or a class of its name
    exists (:func:`install_once`)."""
    await install_once(server, data_dir, MARKER, ("storage.k8s.io", "v1", "storageclasses"), default_storage_class())
