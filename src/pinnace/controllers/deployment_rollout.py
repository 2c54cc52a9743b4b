"""One pass of the Deployment controller over one Deployment and its ReplicaSets.

Upstream's ``sync.go``, ``rolling.go``, ``recreate.go`` and ``progress.go``:
a :class:`Rollout` is made per reconcile with the Deployment (as read from
the cache, a private copy) and the ReplicaSets it controls, and offers the
steps the reconciler chooses from:

- :meth:`Rollout.sync` — a scaling event or a paused Deployment:
  proportional scaling of the active ReplicaSets, history cleanup when
  paused, status;
- :meth:`Rollout.rolling` — find or create the new ReplicaSet, scale it up
  within maxSurge, scale old ones down within maxUnavailable (unhealthy
  pods first), clean up history once complete, status with the Progressing
  condition;
- :meth:`Rollout.recreate` — old ReplicaSets to zero, wait until their pods
  are gone, then the new one to full size.

Writes go straight to the API: ReplicaSet scaling is a merge patch with the
ReplicaSet's resourceVersion (a stale read fails with 409 and the
Deployment is retried), the Deployment's status a merge patch of what
changed. Events: ``ScalingReplicaSet`` ("Scaled up replica set web-5d8f9
from 0 to 3") and ``FailedCreate`` for a new ReplicaSet that cannot be made.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pinnace.api import errors
from pinnace.api.patch import create_merge_patch
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.controllers import deployment_util as du
from pinnace.controllers._workload_pods import controller_ref, controller_uid, parse_time
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder

__all__ = ["DEPLOYMENTS", "REPLICASETS", "Rollout"]

Obj = dict[str, Any]

DEPLOYMENTS = ResourceRef("apps", "v1", "deployments")
REPLICASETS = ResourceRef("apps", "v1", "replicasets")


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


class Rollout:
    """The Deployment ``d`` and its ReplicaSets ``rss``, and the steps that move them."""

    def __init__(
        self,
        rest: RestClient,
        recorder: EventRecorder,
        d: Obj,
        rss: list[Obj],
        now: Callable[[], datetime],
        *,
        pods_of: Callable[[Obj], list[Obj]] | None = None,
    ) -> None:
        self.rest = rest
        self.recorder = recorder
        self.d = d
        self.rss = rss
        self.now = now
        self.pods_of = pods_of
        #: Seconds after which the Deployment should be looked at again (progress deadline), if any.
        self.requeue_after: float | None = None

    # ---- finding the new and old ReplicaSets ---------------------------------------
    def find_new(self) -> Obj | None:
        """The oldest ReplicaSet whose template is the Deployment's (``FindNewReplicaSet``)."""
        template = (self.d.get("spec") or {}).get("template")
        for rs in sorted(self.rss, key=du.by_creation):
            if du.equal_ignore_hash((rs.get("spec") or {}).get("template"), template):
                return rs
        return None

    async def new_and_old(self, create: bool) -> tuple[Obj | None, list[Obj]]:
        """The new ReplicaSet (synced, or created if ``create``) and all the old ones."""
        existing = self.find_new()
        old = [rs for rs in self.rss if rs is not existing]
        new = await self._sync_new(existing, old, create)
        return new, old

    async def _sync_new(self, existing: Obj | None, old: list[Obj], create: bool) -> Obj | None:
        d = self.d
        new_revision = du.max_revision(old) + 1
        if existing is not None:
            rs = copy.deepcopy(existing)
            changed = du.set_new_rs_annotations(d, rs, new_revision, exists=True)
            min_ready = int((d.get("spec") or {}).get("minReadySeconds") or 0)
            if changed or int((rs.get("spec") or {}).get("minReadySeconds") or 0) != min_ready:
                patch = {
                    "metadata": {
                        "annotations": rs["metadata"]["annotations"],
                        "resourceVersion": _meta(rs).get("resourceVersion"),
                    },
                    "spec": {"minReadySeconds": min_ready},
                }
                updated = await self.rest.patch(REPLICASETS, _meta(rs)["name"], patch, _meta(rs)["namespace"])
                self._replace(existing, updated)
                return updated
            await self._set_revision(_meta(rs).get("annotations", {}).get(du.REVISION, ""))
            if du.has_progress_deadline(d) and du.condition(d.get("status"), "Progressing") is None:
                await self._progressing("True", "FoundNewReplicaSet", f'Found new replica set "{_meta(rs)["name"]}"')
            return existing
        if not create:
            return None
        return await self._create_new(old, new_revision)

    async def _create_new(self, old: list[Obj], new_revision: int) -> Obj:
        d = self.d
        meta = _meta(d)
        spec = d.get("spec") or {}
        collision = (d.get("status") or {}).get("collisionCount")
        template = copy.deepcopy(spec.get("template") or {})
        hash_ = du.pod_template_hash(template, collision)
        tmeta = template.setdefault("metadata", {})
        tmeta["labels"] = {**(tmeta.get("labels") or {}), du.HASH_LABEL: hash_}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), du.HASH_LABEL: hash_}
        rs: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": f"{meta['name']}-{hash_}",
                "namespace": meta["namespace"],
                "labels": dict(tmeta["labels"]),
                "ownerReferences": [controller_ref(d)],
            },
            "spec": {
                "replicas": 0,
                "minReadySeconds": int(spec.get("minReadySeconds") or 0),
                "selector": selector,
                "template": template,
            },
        }
        rs["spec"]["replicas"] = du.new_rs_new_replicas(d, [*old, rs], rs)
        du.set_new_rs_annotations(d, rs, new_revision, exists=False)
        already = False
        try:
            created = await self.rest.create(REPLICASETS, rs, meta["namespace"])
        except errors.AlreadyExists:
            already = True
            created = await self.rest.get(REPLICASETS, rs["metadata"]["name"], meta["namespace"])
            if controller_uid(created) != meta["uid"] or not du.equal_ignore_hash(
                (created.get("spec") or {}).get("template"), spec.get("template")
            ):
                status = self._status()
                status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
                await self.write_status(status)
                raise
        except errors.StatusError as exc:
            if errors.namespace_terminating(exc):
                raise
            message = f'Failed to create new replica set "{rs["metadata"]["name"]}": {exc.message}'
            if du.has_progress_deadline(d):
                await self._progressing("False", "ReplicaSetCreateError", message)
            self.recorder.event(d, WARNING, "ReplicaSetCreateError", message)
            raise
        self.rss.append(created)
        replicas = du.replicas(created)
        if not already and replicas > 0:
            self.recorder.event(
                d, NORMAL, "ScalingReplicaSet", f"Scaled up replica set {_meta(created)['name']} from 0 to {replicas}"
            )
        await self._set_revision(str(new_revision))
        if not already and du.has_progress_deadline(d):
            await self._progressing(
                "True", "NewReplicaSetCreated", f'Created new replica set "{_meta(created)["name"]}"'
            )
        return created

    async def _progressing(self, status: str, reason: str, message: str) -> None:
        """Write the Progressing condition now (as upstream does around the new ReplicaSet)."""
        current = self._status()
        du.set_condition(current, du.new_condition("Progressing", status, reason, message, self.now()))
        await self.write_status(current)

    async def _set_revision(self, revision: str) -> None:
        """Record the new ReplicaSet's revision on the Deployment (a metadata patch: no generation bump)."""
        annotations = _meta(self.d).get("annotations") or {}
        if not revision or annotations.get(du.REVISION) == revision:
            return
        meta = _meta(self.d)
        patch = {"metadata": {"annotations": {du.REVISION: revision}}}
        updated = await self.rest.patch(DEPLOYMENTS, meta["name"], patch, meta["namespace"])
        self.d.setdefault("metadata", {}).setdefault("annotations", {})[du.REVISION] = revision
        self.d["metadata"]["resourceVersion"] = _meta(updated).get("resourceVersion")

    def _replace(self, old: Obj, new: Obj) -> None:
        for i, rs in enumerate(self.rss):
            if rs is old:
                self.rss[i] = new

    # ---- scaling -------------------------------------------------------------------
    async def scale_rs(self, rs: Obj, size: int, operation: str | None = None) -> tuple[bool, Obj]:
        """Set ``rs`` to ``size`` replicas (and the Deployment's size annotations); True if the size changed."""
        d = self.d
        want, most = du.replicas(d), du.replicas(d) + du.max_surge(d)
        size_changed = du.replicas(rs) != size
        if not size_changed and not du.replicas_annotations_need_update(rs, want, most):
            return False, rs
        if operation is None:
            operation = "up" if du.replicas(rs) < size else "down"
        old_size = du.replicas(rs)
        meta = _meta(rs)
        patch = {
            "metadata": {
                "resourceVersion": meta.get("resourceVersion"),
                "annotations": {du.DESIRED_REPLICAS: str(want), du.MAX_REPLICAS: str(most)},
            },
            "spec": {"replicas": size},
        }
        updated = await self.rest.patch(REPLICASETS, meta["name"], patch, meta["namespace"])
        self._replace(rs, updated)
        if size_changed:
            self.recorder.event(
                d,
                NORMAL,
                "ScalingReplicaSet",
                f"Scaled {operation} replica set {meta['name']} from {old_size} to {size}",
            )
        return size_changed, updated

    async def scale(self, new: Obj | None, old: list[Obj]) -> None:
        """Scale to the Deployment's size: one active ReplicaSet takes it all, else proportionally (``scale``)."""
        d = self.d
        want = du.replicas(d)
        target = _active_or_latest(new, old)
        if target is not None:
            if du.replicas(target) != want:
                await self.scale_rs(target, want)
            return
        if du.is_saturated(d, new):
            for rs in du.active(old):
                await self.scale_rs(rs, 0)
            return
        if not du.is_rolling_update(d):
            return
        actives = du.active([*old, new])
        allowed = want + du.max_surge(d) if want > 0 else 0
        to_add = allowed - du.total_replicas(actives)
        if to_add > 0:
            actives.sort(key=du.by_creation, reverse=True)  # ties: newer first
            actives.sort(key=lambda rs: -du.replicas(rs))
            operation = "up"
        elif to_add < 0:
            actives.sort(key=du.by_creation)  # ties: older first
            actives.sort(key=lambda rs: -du.replicas(rs))
            operation = "down"
        else:
            operation = ""
        added = 0
        sizes: list[int] = []
        for rs in actives:
            if to_add != 0:
                proportion = _proportion(rs, d, to_add, added)
                sizes.append(du.replicas(rs) + proportion)
                added += proportion
            else:
                sizes.append(du.replicas(rs))
        for i, rs in enumerate(actives):
            size = sizes[i]
            if i == 0 and to_add != 0:
                size = max(0, size + to_add - added)
            await self.scale_rs(rs, size, operation or None)

    # ---- strategies ----------------------------------------------------------------
    async def sync(self) -> None:
        """Scaling (and history cleanup when paused), then the status (upstream's ``sync``)."""
        new, old = await self.new_and_old(create=False)
        await self.scale(new, old)
        if (self.d.get("spec") or {}).get("paused"):
            await self.cleanup(old)
        await self.write_status(du.calculate_status(self._all(new, old), new, self.d, self.now()))

    async def rolling(self) -> None:
        """One step of a RollingUpdate (``rolloutRolling``)."""
        new, old = await self.new_and_old(create=True)
        assert new is not None
        if await self._reconcile_new(new):
            await self.sync_rollout_status(new, old)
            return
        new = self._current(new)
        if await self._reconcile_old(new, old):
            await self.sync_rollout_status(new, old)
            return
        if du.deployment_complete(self.d, self.d.get("status") or {}):
            await self.cleanup(old)
        await self.sync_rollout_status(new, old)

    async def recreate(self) -> None:
        """One step of a Recreate rollout (``rolloutRecreate``)."""
        new, old = await self.new_and_old(create=False)
        scaled = False
        for rs in du.active(old):
            changed, _ = await self.scale_rs(rs, 0)
            scaled = scaled or changed
        old = [self._current(rs) for rs in old]
        if scaled or self._old_pods_running(new, old):
            await self.sync_rollout_status(new, old)
            return
        if new is None:
            new, old = await self.new_and_old(create=True)
            assert new is not None
        await self.scale_rs(new, du.replicas(self.d))
        new = self._current(new)
        if du.deployment_complete(self.d, self.d.get("status") or {}):
            await self.cleanup(old)
        await self.sync_rollout_status(new, old)

    def _old_pods_running(self, new: Obj | None, old: list[Obj]) -> bool:
        if du.status_sum(old, "replicas") > 0:
            return True
        if self.pods_of is None:
            return False
        new_uid = _meta(new).get("uid") if new is not None else None
        for rs in self.rss:
            if _meta(rs).get("uid") == new_uid:
                continue
            for pod in self.pods_of(rs):
                if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                    return True
        return False

    async def _reconcile_new(self, new: Obj) -> bool:
        want = du.replicas(self.d)
        if du.replicas(new) == want:
            return False
        if du.replicas(new) > want:
            return (await self.scale_rs(new, want))[0]
        size = du.new_rs_new_replicas(self.d, self._all(new, self._old()), new)
        return (await self.scale_rs(new, size))[0]

    async def _reconcile_old(self, new: Obj, old: list[Obj]) -> bool:
        old = [self._current(rs) for rs in old]
        if du.total_replicas(old) == 0:
            return False
        all_rss = self._all(new, old)
        min_available = du.replicas(self.d) - du.max_unavailable(self.d)
        new_unavailable = du.replicas(new) - int((new.get("status") or {}).get("availableReplicas") or 0)
        max_scaled_down = du.total_replicas(all_rss) - min_available - new_unavailable
        if max_scaled_down <= 0:
            return False
        cleaned = 0
        for rs in sorted(du.active(old), key=du.by_creation):  # unhealthy replicas first
            if cleaned >= max_scaled_down:
                break
            available = int((rs.get("status") or {}).get("availableReplicas") or 0)
            if du.replicas(rs) == available:
                continue
            down = min(max_scaled_down - cleaned, du.replicas(rs) - available)
            await self.scale_rs(rs, du.replicas(rs) - down)
            cleaned += down
        old = [self._current(rs) for rs in old]
        all_rss = self._all(new, old)
        available = du.status_sum(all_rss, "availableReplicas")
        scaled = 0
        if available > min_available:
            total = available - min_available
            for rs in sorted(du.active(old), key=du.by_creation):
                if scaled >= total:
                    break
                down = min(du.replicas(rs), total - scaled)
                await self.scale_rs(rs, du.replicas(rs) - down)
                scaled += down
        return cleaned + scaled > 0

    async def cleanup(self, old: list[Obj]) -> None:
        """Delete the oldest ReplicaSets beyond revisionHistoryLimit that run nothing (``cleanupDeployment``)."""
        limit = (self.d.get("spec") or {}).get("revisionHistoryLimit")
        if limit is None:
            return
        alive = [self._current(rs) for rs in old]
        alive = [rs for rs in alive if not _meta(rs).get("deletionTimestamp")]
        extra = len(alive) - int(limit)
        if extra <= 0:
            return
        for rs in sorted(alive, key=du.by_revision)[:extra]:
            status = rs.get("status") or {}
            if (
                int(status.get("replicas") or 0) != 0
                or du.replicas(rs) != 0
                or int(_meta(rs).get("generation") or 0) > int(status.get("observedGeneration") or 0)
            ):
                continue
            with contextlib.suppress(errors.NotFound):
                await self.rest.delete(REPLICASETS, _meta(rs)["name"], _meta(rs)["namespace"])

    # ---- status --------------------------------------------------------------------
    async def sync_rollout_status(self, new: Obj | None, old: list[Obj]) -> None:
        """The status with the Progressing condition (``syncRolloutStatus``); schedules the deadline check."""
        d = self.d
        now = self.now()
        new = self._current(new) if new is not None else None
        status = du.calculate_status(self._all(new, [self._current(rs) for rs in old]), new, d, now)
        if not du.has_progress_deadline(d):
            du.remove_condition(status, "Progressing")
        current = du.condition(d.get("status"), "Progressing")
        complete_before = (
            status.get("replicas", 0) == status.get("updatedReplicas", 0)
            and current is not None
            and current.get("reason") == "NewReplicaSetAvailable"
        )
        if du.has_progress_deadline(d) and not complete_before:
            what = f'ReplicaSet "{_meta(new)["name"]}"' if new is not None else f'Deployment "{_meta(d)["name"]}"'
            if du.deployment_complete(d, status):
                du.set_condition(
                    status,
                    du.new_condition(
                        "Progressing", "True", "NewReplicaSetAvailable", f"{what} has successfully progressed.", now
                    ),
                )
            elif du.deployment_progressing(d, status):
                cond = du.new_condition("Progressing", "True", "ReplicaSetUpdated", f"{what} is progressing.", now)
                if current is not None:
                    if current.get("status") == "True":
                        cond["lastTransitionTime"] = current.get("lastTransitionTime")
                    du.remove_condition(status, "Progressing")
                du.set_condition(status, cond)
            elif du.deployment_timed_out(d, status, now):
                du.set_condition(
                    status,
                    du.new_condition(
                        "Progressing", "False", "ProgressDeadlineExceeded", f"{what} has timed out progressing.", now
                    ),
                )
        failure = next(
            (
                du.condition(rs.get("status"), "ReplicaFailure")
                for rs in self._all(new, old)
                if du.condition(rs.get("status"), "ReplicaFailure")
            ),
            None,
        )
        if failure is not None:
            du.set_condition(
                status,
                du.new_condition(
                    "ReplicaFailure",
                    failure.get("status", "True"),
                    failure.get("reason", ""),
                    failure.get("message", ""),
                    now,
                ),
            )
        else:
            du.remove_condition(status, "ReplicaFailure")
        if _same_status(d.get("status") or {}, status):
            self._schedule_deadline_check(status)
            return
        await self.write_status(status)

    def _schedule_deadline_check(self, status: Obj) -> None:
        """When no progress shows, look again at the progress deadline (``requeueStuckDeployment``)."""
        d = self.d
        current = du.condition(d.get("status"), "Progressing")
        if not du.has_progress_deadline(d) or current is None:
            return
        if du.deployment_complete(d, status) or current.get("reason") == "ProgressDeadlineExceeded":
            return
        since = parse_time(current.get("lastUpdateTime"))
        if since is None:
            return
        left = (since - self.now()).total_seconds() + int((d.get("spec") or {})["progressDeadlineSeconds"])
        self.requeue_after = max(left, 0.0) + 1.0

    async def write_status(self, status: Obj) -> None:
        """Patch the Deployment's status to ``status`` (only what changed)."""
        old = self.d.get("status") or {}
        if status == old:
            return
        meta = _meta(self.d)
        diff = create_merge_patch(old, status)
        updated = await self.rest.patch(
            DEPLOYMENTS, meta["name"], {"status": diff}, meta["namespace"], subresource="status"
        )
        self.d["status"] = updated.get("status") or {}

    def _status(self) -> Obj:
        return copy.deepcopy(self.d.get("status") or {})

    # ---- bookkeeping ---------------------------------------------------------------
    def _current(self, rs: Obj) -> Obj:
        """The latest version of ``rs`` this pass has (after its own writes)."""
        uid = _meta(rs).get("uid")
        return next((r for r in self.rss if _meta(r).get("uid") == uid), rs)

    def _old(self) -> list[Obj]:
        new = self.find_new()
        return [rs for rs in self.rss if rs is not new]

    def _all(self, new: Obj | None, old: list[Obj]) -> list[Obj]:
        return [*(self._current(rs) for rs in old), *([self._current(new)] if new is not None else [])]


def _active_or_latest(new: Obj | None, old: list[Obj]) -> Obj | None:
    """The only active ReplicaSet, or the newest if none is active; None if several are (``FindActiveOrLatest``)."""
    if new is None and not old:
        return None
    newest_first = sorted(old, key=du.by_creation, reverse=True)
    actives = du.active([*newest_first, new])
    if len(actives) == 1:
        return actives[0]
    if not actives:
        return new if new is not None else newest_first[0]
    return None


def _proportion(rs: Obj, d: Obj, to_add: int, added: int) -> int:
    """How many replicas ``rs`` gains (or loses) of ``to_add`` (``GetReplicaSetProportion``)."""
    if du.replicas(rs) == 0 or to_add == 0 or to_add == added:
        return 0
    fraction = _fraction(rs, d)
    allowed = to_add - added
    return min(fraction, allowed) if to_add > 0 else max(fraction, allowed)


def _fraction(rs: Obj, d: Obj) -> int:
    if du.replicas(d) == 0:
        return -du.replicas(rs)
    max_now = du.replicas(d) + du.max_surge(d)
    before = du.max_replicas_annotation(rs)
    if not before:
        before = int((d.get("status") or {}).get("replicas") or 0)
        if before == 0:
            return 0
    size = du.replicas(rs) * max_now / before
    rounded = int(size + 0.5) if size >= 0 else -int(-size + 0.5)
    return rounded - du.replicas(rs)


def _same_status(old: Obj, new: Obj) -> bool:
    return old == new
