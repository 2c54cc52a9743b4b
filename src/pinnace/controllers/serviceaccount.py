"""The service-account controller: every active namespace has a ``default`` ServiceAccount.

As upstream's ``serviceaccount-controller`` (ServiceAccountsController), it
reconciles namespaces: an active namespace without the ``default`` account gets
one, and deleting that account brings it back. A Terminating namespace is left
alone (the namespace controller is emptying it). Written on the runtime SDK as a
user would write it; :func:`add_serviceaccount_controller` wires it in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from pinnace.api import errors
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.reconcile import Request, Result

__all__ = ["DEFAULT_SERVICE_ACCOUNTS", "ServiceAccountReconciler", "add_serviceaccount_controller"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: The accounts every namespace gets (upstream ``--service-account-names`` … is just ``default``).
DEFAULT_SERVICE_ACCOUNTS: tuple[str, ...] = ("default",)


async def add_serviceaccount_controller(
    manager: Manager, *, names: Iterable[str] = DEFAULT_SERVICE_ACCOUNTS, workers: int = 2
) -> Controller:
    """Add the service-account controller to ``manager``."""
    wanted = tuple(names)

    def namespace_of(account: Obj) -> list[Request]:
        meta = account.get("metadata") or {}
        if meta.get("name") not in wanted or not meta.get("namespace"):
            return []
        return [Request("", str(meta["namespace"]))]

    return await (
        Builder(manager)
        .named("serviceaccount")
        .for_("v1/Namespace")
        .watches("v1/ServiceAccount", EnqueueRequestsFromMapFunc(namespace_of))
        .with_options(max_concurrent_reconciles=workers)
        .complete(ServiceAccountReconciler(manager.client, wanted))
    )


class ServiceAccountReconciler:
    """Creates the missing default accounts of one namespace."""

    def __init__(self, client: Client, names: tuple[str, ...] = DEFAULT_SERVICE_ACCOUNTS) -> None:
        self.client = client
        self.names = names

    async def reconcile(self, request: Request) -> Result:
        """Create each wanted account the (active) namespace lacks."""
        namespace = await get_or_none(self.client, "v1/Namespace", request.name)
        if namespace is None:
            return Result()
        if (namespace.get("metadata") or {}).get("deletionTimestamp") or (namespace.get("status") or {}).get(
            "phase"
        ) == "Terminating":
            return Result()
        for name in self.names:
            try:
                await self.client.get("v1/ServiceAccount", name, request.name)
                continue
            except errors.NotFound:
                pass
            account = {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": request.name},
            }
            try:
                await self.client.create(account)
            except errors.AlreadyExists:
                continue
            except errors.Forbidden:
                return Result()  # the namespace started terminating meanwhile
            log.debug("created service account %s/%s", request.name, name)
        return Result()
