"""The root CA publisher: a ``kube-root-ca.crt`` ConfigMap in every namespace, holding the cluster CA.

Upstream's ``root-ca-cert-publisher`` controller. Pods' ``kube-api-access-*``
projected volumes (added by the ServiceAccount admission plugin) mount its
``ca.crt`` at ``/var/run/secrets/kubernetes.io/serviceaccount/ca.crt``, which
is how in-cluster clients verify the API server's certificate. The ConfigMap
is created in each namespace (but terminating ones), and its data put back if
anyone changes it; the CA comes from ``--root-ca-file`` (``pinnace up``: the
cluster CA).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pinnace.api import errors
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import new_predicate
from pinnace.runtime.reconcile import Request, Result

__all__ = ["NAME", "RootCAPublisher", "add_root_ca_publisher"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

NAME = "kube-root-ca.crt"
KEY = "ca.crt"
NAMESPACES = "v1/Namespace"
CONFIGMAPS = "v1/ConfigMap"


def _is_ours(obj: Obj) -> bool:
    return (obj.get("metadata") or {}).get("name") == NAME


def _namespace_of(obj: Obj) -> list[Request]:
    return [Request("", str((obj.get("metadata") or {}).get("namespace") or ""))]


async def add_root_ca_publisher(manager: Manager, *, root_ca_file: str | Path | None = None) -> Controller | None:
    """Add the root CA publisher to ``manager`` (nothing without a CA file, with a warning, as upstream)."""
    if not root_ca_file:
        log.warning("root-ca-cert-publisher: no --root-ca-file; not publishing %s", NAME)
        return None
    ca = Path(root_ca_file).read_text()
    return await (
        Builder(manager)
        .named("root-ca-cert-publisher")
        .for_(NAMESPACES)
        .watches(CONFIGMAPS, EnqueueRequestsFromMapFunc(_namespace_of), new_predicate(_is_ours))
        .complete(RootCAPublisher(manager.client, ca))
    )


class RootCAPublisher:
    """Keeps ``kube-root-ca.crt`` in each namespace holding exactly the CA."""

    def __init__(self, client: Client, ca: str) -> None:
        self.client = client
        self.ca = ca

    async def reconcile(self, request: Request) -> Result:
        """Create or correct the namespace's ``kube-root-ca.crt``."""
        namespace = await get_or_none(self.client, NAMESPACES, request.name)
        if namespace is None or (namespace.get("metadata") or {}).get("deletionTimestamp"):
            return Result()
        wanted = {KEY: self.ca}
        current = await get_or_none(self.client, CONFIGMAPS, NAME, request.name)
        try:
            if current is None:
                config = {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": NAME, "namespace": request.name},
                }
                await self.client.create({**config, "data": wanted})
            elif current.get("data") != wanted:
                await self.client.update({**current, "data": wanted})
        except errors.AlreadyExists:
            return Result(requeue=True)  # made meanwhile: look again
        except errors.Conflict:
            return Result(requeue=True)
        except errors.Forbidden as exc:  # a namespace that is terminating refuses new objects
            if "terminat" not in str(exc):
                raise
        return Result()
