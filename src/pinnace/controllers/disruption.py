"""The disruption controller: every PodDisruptionBudget's status, kept current.

As upstream's ``disruption`` controller: a budget is looked at when it or a
pod its selector matches changes, its status computed from those pods
(:mod:`pinnace.api.disruption`: expected pods from their controllers' scale,
currently and desired healthy, ``disruptionsAllowed``, the
``DisruptionAllowed`` condition) and written when it differs. That is what
``kubectl get pdb`` shows as ALLOWED DISRUPTIONS and what ``kubectl drain``'s
evictions spend; an eviction recorded in ``disruptedPods`` is looked at again
when it expires. A budget that selects no pod gets a ``NoPods`` event; one
whose pods include some with no controller an ``UnmanagedPods`` warning (they
are left out of its expected pods); one whose expected pods cannot be counted
(a pod's controller gone, or without scale) a ``CalculateExpectedPodCountFailed``
warning, and it fails safe (no disruption allowed, reason ``SyncFailed``). A
custom resource's scale is read from its ``scale`` subresource.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pinnace.api import disruption, errors
from pinnace.api.gofmt import label_selector_text
from pinnace.api.selectors import from_label_selector
from pinnace.client.rest import RestClient
from pinnace.client.restmapper import RESTMapper
from pinnace.runtime.builder import Builder
from pinnace.runtime.cache.indexer import NAMESPACE_INDEX
from pinnace.runtime.cache.informer import Informer
from pinnace.runtime.client import Client, MergePatch
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.reconcile import Request, Result

__all__ = ["DisruptionReconciler", "add_disruption_controller"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

PDB_KIND = "policy/v1/PodDisruptionBudget"
POD_KIND = "v1/Pod"


async def add_disruption_controller(manager: Manager, *, workers: int = 2) -> Controller:
    """Add the disruption controller to ``manager``."""
    budgets = await manager.cache.informer_for(PDB_KIND, wait=False)
    # Upstream's disruption controller reports as "controllermanager".
    recorder = EventRecorder(manager.rest, "controllermanager", manager.identity, clock=manager.clock, core=True)
    reconciler = DisruptionReconciler(manager.client, budgets, recorder, manager.rest, manager.mapper)
    return await (
        Builder(manager)
        .named("disruption")
        .for_(PDB_KIND)
        .watches(POD_KIND, EnqueueRequestsFromMapFunc(reconciler.covering))
        .with_options(max_concurrent_reconciles=workers)
        .complete(reconciler)
    )


def _selects(pdb: Obj, labels: Any) -> bool:
    try:
        return from_label_selector((pdb.get("spec") or {}).get("selector")).matches(labels or {})
    except errors.BadRequest:
        return False


def unmanaged_note(pdb: Obj) -> str:
    """Upstream's ``UnmanagedPods`` event message (the selector in Go's protobuf text form)."""
    selector = label_selector_text((pdb.get("spec") or {}).get("selector") or {})
    return (
        f"Pods selected by this PodDisruptionBudget (selector: {selector}) were found to be unmanaged. "
        "As a result, the status of the PDB cannot be calculated correctly, which may result in undefined "
        'behavior. To account for these pods please set ".spec.minAvailable" field of the PDB to an integer value.'
    )


class DisruptionReconciler:
    """Computes and writes one PodDisruptionBudget's status."""

    def __init__(
        self, client: Client, budgets: Informer, recorder: EventRecorder, rest: RestClient, mapper: RESTMapper
    ) -> None:
        self.client = client
        self.budgets = budgets
        self.recorder = recorder
        self.rest = rest
        self.mapper = mapper

    def covering(self, pod: Obj) -> list[Request]:
        """The budgets whose selector matches a changed pod."""
        meta = pod.get("metadata") or {}
        namespace = str(meta.get("namespace") or "")
        return [
            Request(namespace, str(pdb["metadata"]["name"]))
            for pdb in self.budgets.indexer.by_index(NAMESPACE_INDEX, namespace)
            if _selects(pdb, meta.get("labels"))
        ]

    async def _get(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        found: Obj | None = await get_or_none(self.client, f"{api_version}/{kind}", name, namespace)
        return found

    async def _read_scale(self, api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        """A custom controller's Scale, as upstream's getScaleController reads it: None if it is gone; the budget
        cannot be counted if its kind is not served or has no scale subresource (discovery read again first, for
        a CRD that gained one)."""
        try:
            mapping = await self.mapper.mapping(f"{api_version}/{kind}")
            if "scale" not in mapping.subresources:
                await self.mapper.refresh()
                mapping = await self.mapper.mapping(f"{api_version}/{kind}")
        except errors.NotFound as exc:
            raise disruption.ExpectedPodsUnknown(exc.message) from exc
        ref = mapping.ref
        if "scale" not in mapping.subresources:
            gr = f"{ref.plural}.{ref.group}" if ref.group else ref.plural
            raise disruption.ExpectedPodsUnknown(f"{gr} does not implement the scale subresource")
        try:
            scale: Obj = await self.rest.request("GET", ref.path(namespace, name, "scale"))
        except errors.NotFound:
            return None
        return scale

    async def reconcile(self, request: Request) -> Result:
        """Write the budget's status if it is not what its pods say."""
        pdb = await get_or_none(self.client, PDB_KIND, request.name, request.namespace)
        if pdb is None or pdb["metadata"].get("deletionTimestamp"):
            return Result()
        pods = [
            p
            for p in await self.client.list(POD_KIND, request.namespace)
            if _selects(pdb, (p.get("metadata") or {}).get("labels"))
        ]
        if not pods:
            self.recorder.event(pdb, NORMAL, "NoPods", "No matching pods found")
        assessment = await disruption.assess(self._get, self._read_scale, pdb, pods, time.time())
        if assessment.failure is not None:
            log.warning("budget %s: %s", request, assessment.failure)
            note = f"Failed to calculate the number of expected pods: {assessment.failure}"
            self.recorder.event(pdb, WARNING, "CalculateExpectedPodCountFailed", note)
        elif assessment.unmanaged:
            self.recorder.event(pdb, WARNING, "UnmanagedPods", unmanaged_note(pdb))
        status = assessment.status
        old = pdb.get("status") or {}
        if status != old:
            patch = {k: status.get(k) for k in set(status) | set(old)}
            try:
                await self.client.status().patch(pdb, MergePatch({"status": patch}))
            except errors.NotFound:
                return Result()
        if status.get("disruptedPods"):
            return Result(requeue_after=disruption.DELETION_TIMEOUT)
        return Result()
