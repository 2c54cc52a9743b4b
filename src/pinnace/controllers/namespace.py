"""The namespace controller: empties a Terminating namespace, then lets it go.

When a namespace is deleted it turns Terminating (it carries the
``kubernetes`` finalizer in ``spec.finalizers``). This controller deletes every
namespaced object in it — every resource discovery lists, custom ones
included — and, once nothing is left, removes its finalizer through the
``finalize`` subresource, after which the API server deletes the namespace.
While objects remain (their own finalizers hold them), the namespace's
conditions say what is left, as upstream's do, and it looks again after
``retry_interval``.

It is a plain :class:`~pinnace.runtime.reconcile.Reconciler` on the runtime
SDK, written as a user would write one; :func:`add_namespace_controller` wires
it into a manager.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from pinnace.api import errors
from pinnace.client.discovery import namespaced_resources
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.runtime.builder import Builder
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import new_predicate
from pinnace.runtime.reconcile import Request, Result

log = logging.getLogger(__name__)

NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)
FINALIZER = "kubernetes"

Obj = dict[str, Any]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _terminating(ns: Obj) -> bool:
    return bool((ns.get("metadata") or {}).get("deletionTimestamp"))


async def add_namespace_controller(manager: Manager, *, retry_interval: float = 1.0) -> Controller:
    """Add the namespace controller to ``manager`` (it reconciles only Terminating namespaces)."""
    return await (
        Builder(manager)
        .named("namespace")
        .for_("v1/Namespace", new_predicate(_terminating))
        .complete(NamespaceReconciler(manager.rest, retry_interval=retry_interval))
    )


class NamespaceReconciler:
    """Finalizes Terminating namespaces."""

    def __init__(self, client: RestClient, *, retry_interval: float = 1.0) -> None:
        self.client = client
        self.retry_interval = retry_interval

    async def reconcile(self, request: Request) -> Result:
        """Empty the namespace; finalize it once empty, else look again after ``retry_interval``."""
        done = await self.sync(request.name)
        return Result() if done else Result(requeue_after=self.retry_interval)

    async def sync(self, name: str) -> bool:
        """Move one namespace towards deletion; True when nothing is left to do."""
        ns = await get_or_none(self.client, NAMESPACES, name)
        if ns is None:
            return True
        if not (ns.get("metadata") or {}).get("deletionTimestamp"):
            return True
        if FINALIZER not in ((ns.get("spec") or {}).get("finalizers") or []):
            return True
        refs = await namespaced_resources(self.client)
        failures: list[str] = []
        for ref in refs:
            try:
                await self.client.delete_collection(ref, name)
            except errors.MethodNotAllowed:
                continue
            except errors.NotFound:
                continue
            except errors.StatusError as exc:
                failures.append(f"{ref.plural}: {exc.message}")
        remaining: dict[str, int] = {}
        finalizers: dict[str, int] = {}
        for ref in refs:
            try:
                listing = await self.client.list(ref, name)
            except errors.StatusError:
                continue
            items = listing.get("items") or []
            if items:
                remaining[ref.plural + (f".{ref.group}" if ref.group else "")] = len(items)
                for item in items:
                    for f in (item.get("metadata") or {}).get("finalizers") or []:
                        finalizers[f] = finalizers.get(f, 0) + 1
        if remaining or failures:
            await self._report(ns, remaining, finalizers, failures)
            return False
        spec = dict(ns.get("spec") or {})
        spec["finalizers"] = [f for f in spec.get("finalizers") or [] if f != FINALIZER]
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": ns["metadata"], "spec": spec}
        try:
            await self.client.update(NAMESPACES, body, subresource="finalize")
        except errors.NotFound:
            return True
        except errors.Conflict:
            return False
        log.info("namespace %s finalized", name)
        return True

    async def _report(
        self, ns: Obj, remaining: dict[str, int], finalizers: dict[str, int], failures: list[str]
    ) -> None:
        now = _now()
        content = ", ".join(f"{r} has {n} resource instances" for r, n in sorted(remaining.items()))
        fins = ", ".join(f"{f} in {n} resource instances" for f, n in sorted(finalizers.items()))
        conditions = [
            _condition(
                "NamespaceDeletionDiscoveryFailure",
                False,
                "ResourcesDiscovered",
                "All resources successfully discovered",
                now,
            ),
            _condition(
                "NamespaceDeletionGroupVersionParsingFailure",
                False,
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed",
                now,
            ),
            _condition(
                "NamespaceDeletionContentFailure",
                bool(failures),
                "ContentDeletionFailed" if failures else "ContentDeleted",
                "; ".join(failures) if failures else "All content successfully deleted, may be waiting on finalization",
                now,
            ),
            _condition(
                "NamespaceContentRemaining",
                bool(remaining),
                "SomeResourcesRemain" if remaining else "ContentRemoved",
                f"Some resources are remaining: {content}" if remaining else "All content successfully removed",
                now,
            ),
            _condition(
                "NamespaceFinalizersRemaining",
                bool(finalizers),
                "SomeFinalizersRemain" if finalizers else "ContentHasNoFinalizers",
                f"Some content in the namespace has finalizers remaining: {fins}"
                if finalizers
                else "All content-preserving finalizers finished",
                now,
            ),
        ]
        old = {c.get("type"): c for c in (ns.get("status") or {}).get("conditions") or []}
        for c in conditions:
            prev = old.get(c["type"])
            if prev is not None and prev.get("status") == c["status"]:
                c["lastTransitionTime"] = prev.get("lastTransitionTime", now)
        if [old.get(c["type"], {}).get("message") for c in conditions] == [c["message"] for c in conditions]:
            return
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.patch(
                NAMESPACES,
                ns["metadata"]["name"],
                {"status": {"conditions": conditions}},
                subresource="status",
            )


def _condition(type_: str, status: bool, reason: str, message: str, now: str) -> Obj:
    return {
        "type": type_,
        "status": "True" if status else "False",
        "lastTransitionTime": now,
        "reason": reason,
        "message": message,
    }
