"""The Deployment controller: ReplicaSets per pod template, rolled from one to the next.

Upstream's ``pkg/controller/deployment`` on the runtime SDK. Per Deployment
it claims the ReplicaSets its selector matches (controller index on the
shared ReplicaSet informer, orphans adopted, strays released — see
:mod:`._ownership`), then:

- a Deployment being deleted only gets its status synced;
- ``spec.paused`` sets Progressing=Unknown (DeploymentPaused, or
  DeploymentResumed on resume) and only scales — no new ReplicaSet, so
  ``kubectl rollout pause`` holds template changes back;
- a change of ``spec.replicas`` alone (a *scaling event*: an active
  ReplicaSet records another desired size) scales proportionally;
- otherwise the strategy runs one step: RollingUpdate or Recreate
  (:mod:`.deployment_rollout`, arithmetic in :mod:`.deployment_util`).

``kubectl rollout undo`` patches the template back from an old ReplicaSet,
``kubectl rollout restart`` changes a template annotation: both are template
changes, so templates compared ignoring the hash label is all they need.
Progress is checked against progressDeadlineSeconds: a rollout with no
progress for that long gets Progressing=False, ProgressDeadlineExceeded (the
Deployment is looked at again when its deadline falls due).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pinnace.api import errors
from pinnace.api.selectors import from_label_selector
from pinnace.client.rest import RestClient
from pinnace.controllers import deployment_util as du
from pinnace.controllers._ownership import claim, controlled_by, index_by_controller, orphans
from pinnace.controllers._workload_pods import controller_uid
from pinnace.controllers.deployment_rollout import DEPLOYMENTS, REPLICASETS, Rollout
from pinnace.runtime.builder import Builder
from pinnace.runtime.cache.cache import json_copy
from pinnace.runtime.cache.indexer import NAMESPACE_INDEX
from pinnace.runtime.cache.informer import Informer
from pinnace.runtime.controller import Controller
from pinnace.runtime.events import WARNING, EventRecorder
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import Predicate
from pinnace.runtime.reconcile import Request, Result

__all__ = ["DeploymentReconciler", "add_deployment_controller"]

Obj = dict[str, Any]

DEPLOYMENT_KIND = "apps/v1/Deployment"
RS_KIND = "apps/v1/ReplicaSet"
POD_KIND = "v1/Pod"


def _no(*_: Any) -> bool:
    return False


#: Only deletions of pods matter to Deployments (a Recreate rollout waits for old pods to go).
POD_DELETED = Predicate(create=_no, update=_no, generic=_no)


async def add_deployment_controller(manager: Manager, *, workers: int = 5) -> Controller:
    """Add the Deployment controller to ``manager``."""
    deployments = await manager.cache.informer_for(DEPLOYMENT_KIND, wait=False)
    rss = await manager.cache.informer_for(RS_KIND, wait=False)
    pods = await manager.cache.informer_for(POD_KIND, wait=False)
    index_by_controller(rss)
    index_by_controller(pods)
    reconciler = DeploymentReconciler(
        manager.rest,
        deployments,
        rss,
        pods,
        EventRecorder(manager.rest, "deployment-controller", manager.identity, clock=manager.clock, core=True),
    )
    return await (
        Builder(manager)
        .named("deployment")
        .for_(DEPLOYMENT_KIND)
        .owns(RS_KIND)
        .watches(RS_KIND, EnqueueRequestsFromMapFunc(reconciler.selecting))
        .watches(POD_KIND, EnqueueRequestsFromMapFunc(reconciler.recreating), POD_DELETED)
        .with_options(max_concurrent_reconciles=workers)
        .complete(reconciler)
    )


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _now() -> datetime:
    return datetime.now(UTC)


class DeploymentReconciler:
    """Moves each Deployment's ReplicaSets towards its spec, one step per reconcile."""

    def __init__(
        self, rest: RestClient, deployments: Informer, rss: Informer, pods: Informer, recorder: EventRecorder
    ) -> None:
        self.rest = rest
        self.deployments = deployments
        self.rss = rss
        self.pods = pods
        self.recorder = recorder

    # ---- events -----------------------------------------------------------------
    def selecting(self, rs: Obj) -> list[Request]:
        """The Deployments whose selector matches an orphan ReplicaSet (they may adopt it)."""
        meta = _meta(rs)
        if controller_uid(rs) is not None or meta.get("deletionTimestamp"):
            return []
        namespace = str(meta.get("namespace") or "")
        out = []
        for d in self.deployments.indexer.by_index(NAMESPACE_INDEX, namespace):
            try:
                selector = from_label_selector((d.get("spec") or {}).get("selector"))
            except errors.BadRequest:
                continue
            if not selector.empty and selector.matches(meta.get("labels")):
                out.append(Request(namespace, str(_meta(d)["name"])))
        return out

    def recreating(self, pod: Obj) -> list[Request]:
        """The Recreate Deployment whose old pod went away (it may now scale up the new ReplicaSet)."""
        meta = _meta(pod)
        namespace = str(meta.get("namespace") or "")
        for ref in meta.get("ownerReferences") or []:
            if not ref.get("controller") or ref.get("kind") != "ReplicaSet":
                continue
            rs = self.rss.indexer.get(f"{namespace}/{ref.get('name')}")
            if rs is None:
                return []
            for owner in _meta(rs).get("ownerReferences") or []:
                if owner.get("controller") and owner.get("kind") == "Deployment":
                    d = self.deployments.indexer.get(f"{namespace}/{owner.get('name')}")
                    strategy = ((d or {}).get("spec") or {}).get("strategy") or {}
                    if d is not None and strategy.get("type") == "Recreate":
                        return [Request(namespace, str(owner["name"]))]
        return []

    # ---- reconcile --------------------------------------------------------------
    async def reconcile(self, request: Request) -> Result:
        """One step of the Deployment's rollout (or scaling, or status sync)."""
        cached = self.deployments.indexer.get(f"{request.namespace}/{request.name}")
        if cached is None:
            return Result()
        d: Obj = json_copy(cached)
        selector = from_label_selector((d.get("spec") or {}).get("selector"))
        if selector.empty:
            self.recorder.event(
                d, WARNING, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required."
            )
            if int((d.get("status") or {}).get("observedGeneration") or 0) < int(_meta(d).get("generation") or 0):
                status = {**(d.get("status") or {}), "observedGeneration": int(_meta(d).get("generation") or 0)}
                await Rollout(self.rest, self.recorder, d, [], _now).write_status(status)
            return Result()
        uid = str(_meta(d)["uid"])
        candidates = [*controlled_by(self.rss, uid), *orphans(self.rss, request.namespace, selector)]
        claimed = await claim(self.rest, REPLICASETS, d, candidates, selector, lambda: self._can_adopt(d))
        rss: list[Obj] = json_copy(claimed)
        rollout = Rollout(self.rest, self.recorder, d, rss, _now, pods_of=self._pods_of)
        try:
            await self._step(rollout)
        except errors.Conflict:
            return Result(requeue=True)  # a ReplicaSet changed since the cache showed it: again, from fresh reads
        if rollout.requeue_after is not None:
            return Result(requeue_after=rollout.requeue_after)
        return Result()

    async def _step(self, rollout: Rollout) -> None:
        d = rollout.d
        spec = d.get("spec") or {}
        if _meta(d).get("deletionTimestamp"):
            new, old = await rollout.new_and_old(create=False)
            await rollout.write_status(du.calculate_status([*old, *([new] if new else [])], new, d, _now()))
            return
        await self._check_paused(rollout)
        if spec.get("paused") or await self._scaling_event(rollout):
            await rollout.sync()
            return
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            await rollout.recreate()
        else:
            await rollout.rolling()

    async def _can_adopt(self, d: Obj) -> bool:
        try:
            fresh = await self.rest.get(DEPLOYMENTS, _meta(d)["name"], _meta(d)["namespace"])
        except errors.NotFound:
            return False
        return _meta(fresh).get("uid") == _meta(d).get("uid") and not _meta(fresh).get("deletionTimestamp")

    def _pods_of(self, rs: Obj) -> list[Obj]:
        return controlled_by(self.pods, str(_meta(rs).get("uid")))

    async def _check_paused(self, rollout: Rollout) -> None:
        """Progressing=Unknown with DeploymentPaused / DeploymentResumed as the Deployment pauses or resumes."""
        d = rollout.d
        if not du.has_progress_deadline(d):
            return
        cond = du.condition(d.get("status"), "Progressing")
        if cond is not None and cond.get("reason") == "ProgressDeadlineExceeded":
            return
        paused_before = cond is not None and cond.get("reason") == "DeploymentPaused"
        paused = bool((d.get("spec") or {}).get("paused"))
        if paused == paused_before:
            return
        reason, message = (
            ("DeploymentPaused", "Deployment is paused")
            if paused
            else (
                "DeploymentResumed",
                "Deployment is resumed",
            )
        )
        status = json_copy(d.get("status") or {})
        du.set_condition(status, du.new_condition("Progressing", "Unknown", reason, message, _now()))
        await rollout.write_status(status)

    async def _scaling_event(self, rollout: Rollout) -> bool:
        """Whether an active ReplicaSet records another desired size than the Deployment's (``isScalingEvent``)."""
        new, old = await rollout.new_and_old(create=False)
        want = str(du.replicas(rollout.d))
        for rs in du.active([*old, new]):
            desired = (_meta(rs).get("annotations") or {}).get(du.DESIRED_REPLICAS)
            if desired is not None and desired != want:
                return True
        return False
