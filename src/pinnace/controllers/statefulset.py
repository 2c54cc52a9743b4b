"""The StatefulSet controller: stable, ordered pods ``<set>-<ordinal>`` with their own claims.

Upstream's ``StatefulSetControl`` semantics (v1.32), on the runtime SDK:

- pods are named ``<set>-<ordinal>`` (ordinals from ``spec.ordinals.start``),
  labelled ``statefulset.kubernetes.io/pod-name``, ``apps.kubernetes.io/pod-index``
  and ``controller-revision-hash``, with hostname and subdomain set, and a
  volume per ``volumeClaimTemplates`` entry bound to the claim
  ``<claim>-<set>-<ordinal>`` (created here, recorded only: nothing provisions it);
- ``OrderedReady``: ordinal *i+1* is created only when 0..*i* are Running and
  Ready (and available after ``minReadySeconds``), and scale-down removes the
  highest ordinal first, one at a time; ``Parallel`` does both without waiting;
- the template history is kept as ControllerRevisions
  (:mod:`._workload_history`), so ``kubectl rollout history/undo`` work;
- ``persistentVolumeClaimRetentionPolicy``: the claims are owned by the set
  (``whenDeleted: Delete``) or, once their pod is scaled away, by the pod
  (``whenScaled: Delete``), so the garbage collector deletes them then;
- ``RollingUpdate`` replaces pods from the highest ordinal down to
  ``partition``, one at a time, each after the previous one is Ready again;
  ``OnDelete`` only gives pods deleted by someone else the new template;
- status: replicas, readyReplicas, availableReplicas, currentReplicas,
  updatedReplicas, currentRevision, updateRevision, collisionCount,
  observedGeneration.
"""

from __future__ import annotations

import contextlib
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from pinnace.api import errors
from pinnace.controllers._workload_history import History, sync_revisions, truncate_history
from pinnace.controllers._workload_pods import (
    controller_ref,
    is_available,
    is_ready,
    is_terminating,
    owned_pods,
    pod_from_template,
    selector_string,
)
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client, MergePatch
from pinnace.runtime.clock import Clock
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder
from pinnace.runtime.manager import Manager
from pinnace.runtime.reconcile import Request, Result

__all__ = ["StatefulSetReconciler", "add_statefulset_controller"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

KIND = "apps/v1/StatefulSet"
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
#: The status counts Go's JSON leaves out at zero (``omitempty``).
_OMITTED_WHEN_ZERO = frozenset({"readyReplicas", "currentReplicas", "updatedReplicas"})


async def add_statefulset_controller(manager: Manager, *, workers: int = 2) -> Controller:
    """Add the StatefulSet controller to ``manager``."""
    return await (
        Builder(manager)
        .named("statefulset")
        .for_(KIND)
        .owns("v1/Pod")
        .owns("apps/v1/ControllerRevision")
        .with_options(max_concurrent_reconciles=workers)
        .complete(
            StatefulSetReconciler(manager.client, manager.get_event_recorder("statefulset-controller"), manager.clock)
        )
    )


def _ordinal(sts_name: str, pod: Obj) -> int | None:
    match = re.fullmatch(re.escape(sts_name) + r"-(\d+)", pod["metadata"].get("name", ""))
    return int(match.group(1)) if match else None


def _revision(pod: Obj) -> str:
    return str((pod["metadata"].get("labels") or {}).get(REVISION_LABEL, ""))


def _running_ready(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") == "Running" and is_ready(pod)


def _finished(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


@dataclass
class _Plan:
    """The pods of one set, by ordinal, and what they add up to."""

    start: int
    replicas: int
    pods: dict[int, Obj] = field(default_factory=dict)
    condemned: list[Obj] = field(default_factory=list)


class StatefulSetReconciler:
    """Makes a StatefulSet's pods and claims match its spec, one ordinal at a time."""

    def __init__(self, client: Client, recorder: EventRecorder, clock: Clock) -> None:
        self.client = client
        self.recorder = recorder
        self.clock = clock

    async def reconcile(self, request: Request) -> Result:
        """Sync one StatefulSet: revisions, pods, then status."""
        sts = await get_or_none(self.client, KIND, request.name, request.namespace)
        if sts is None:
            return Result()
        if sts["metadata"].get("deletionTimestamp"):
            return Result()
        history = await sync_revisions(self.client, sts)
        status = sts.get("status") or {}
        names = {r["metadata"]["name"]: r for r in history.revisions}
        current = names.get(status.get("currentRevision") or "", history.update)
        spec = sts["spec"]
        selector = selector_string(spec.get("selector"))
        pods = owned_pods(await self.client.list("v1/Pod", request.namespace, label_selector=selector), sts)
        plan = self._plan(sts, pods)
        for pod in plan.pods.values():
            await self._claims_follow_policy(sts, pod, condemned=False)
        current_sts = self._apply_revision(sts, current)
        await self._sync_pods(sts, current_sts, plan, current["metadata"]["name"], history)
        pods = owned_pods(await self.client.list("v1/Pod", request.namespace, label_selector=selector), sts)
        requeue = await self._update_status(sts, pods, current["metadata"]["name"], history)
        live = {current["metadata"]["name"], history.update["metadata"]["name"], *(_revision(p) for p in pods)}
        await truncate_history(self.client, sts, history, live)
        return Result(requeue_after=requeue) if requeue else Result()

    @staticmethod
    def _apply_revision(sts: Obj, revision: Obj) -> Obj:
        """The set as it was at ``revision`` (its template restored)."""
        template = dict(revision["data"]["spec"]["template"])
        template.pop("$patch", None)
        return {**sts, "spec": {**sts["spec"], "template": template}}

    @staticmethod
    def _plan(sts: Obj, pods: list[Obj]) -> _Plan:
        spec = sts["spec"]
        start = int((spec.get("ordinals") or {}).get("start") or 0)
        plan = _Plan(start, int(spec.get("replicas", 1)))
        for pod in pods:
            ordinal = _ordinal(sts["metadata"]["name"], pod)
            if ordinal is None:
                continue
            if start <= ordinal < start + plan.replicas:
                plan.pods[ordinal] = pod
            else:
                plan.condemned.append(pod)
        plan.condemned.sort(key=lambda p: _ordinal(sts["metadata"]["name"], p) or 0, reverse=True)
        return plan

    def _healthy(self, sts: Obj, pod: Obj) -> bool:
        min_ready = int(sts["spec"].get("minReadySeconds") or 0)
        return _running_ready(pod) and not is_terminating(pod) and is_available(pod, min_ready, self.clock.wall())

    async def _sync_pods(self, sts: Obj, current_sts: Obj, plan: _Plan, current_rev: str, history: History) -> None:
        spec = sts["spec"]
        monotonic = spec.get("podManagementPolicy", "OrderedReady") != "Parallel"
        update_rev = history.update["metadata"]["name"]
        strategy = spec.get("updateStrategy") or {}
        rolling = strategy.get("type", "RollingUpdate") == "RollingUpdate"
        partition = int((strategy.get("rollingUpdate") or {}).get("partition") or 0) if rolling else 0
        for ordinal in range(plan.start, plan.start + plan.replicas):
            pod = plan.pods.get(ordinal)
            if pod is not None and _finished(pod) and not is_terminating(pod):
                await self._delete_pod(sts, pod)
                if monotonic:
                    return
                continue
            if pod is None:
                use_current = rolling and ordinal < plan.start + partition and current_rev != update_rev
                source, rev = (current_sts, current_rev) if use_current else (sts, update_rev)
                await self._create_pod(sts, source, ordinal, rev)
                if monotonic:
                    return
                continue
            if monotonic and not self._healthy(sts, pod):
                return
        unhealthy = [p for p in plan.pods.values() if not self._healthy(sts, p)]
        for pod in plan.condemned:
            if is_terminating(pod):
                if monotonic:
                    return
                continue
            if monotonic and unhealthy and unhealthy[0] is not pod:
                return
            await self._claims_follow_policy(sts, pod, condemned=True)
            await self._delete_pod(sts, pod)
            if monotonic:
                return
        if not rolling:
            return
        for ordinal in range(plan.start + plan.replicas - 1, plan.start + partition - 1, -1):
            pod = plan.pods.get(ordinal)
            if pod is None:
                return
            if _revision(pod) != update_rev and not is_terminating(pod):
                await self._delete_pod(sts, pod)
                return
            if not self._healthy(sts, pod):
                return

    async def _create_pod(self, sts: Obj, source: Obj, ordinal: int, revision: str) -> None:
        meta = sts["metadata"]
        owner = meta["name"]
        name = f"{owner}-{ordinal}"
        pod = pod_from_template(source["spec"].get("template"), sts, name=name)
        pod["metadata"]["labels"].update(
            {POD_NAME_LABEL: name, POD_INDEX_LABEL: str(ordinal), REVISION_LABEL: revision}
        )
        pod_spec = pod["spec"]
        pod_spec["hostname"] = name
        if sts["spec"].get("serviceName"):
            pod_spec["subdomain"] = sts["spec"]["serviceName"]
        claims = [c for c in sts["spec"].get("volumeClaimTemplates") or [] if isinstance(c, dict)]
        if claims:
            # A template without a name gives a claim name the API refuses: a FailedCreate event, as upstream.
            template_names = [str((c.get("metadata") or {}).get("name") or "") for c in claims]
            volumes = [v for v in pod_spec.get("volumes") or [] if v.get("name") not in template_names]
            for claim, template_name in zip(claims, template_names, strict=True):
                claim_name = f"{template_name}-{name}"
                volumes.append({"name": template_name, "persistentVolumeClaim": {"claimName": claim_name}})
                if not await self._create_claim(sts, claim, claim_name, name):
                    return
            pod_spec["volumes"] = volumes
        try:
            await self.client.create(pod)
        except errors.AlreadyExists:
            return
        except errors.StatusError as exc:
            self.recorder.event(
                sts,
                WARNING,
                "FailedCreate",
                f"create Pod {name} in StatefulSet {owner} failed error: {exc.message}",
            )
            raise
        self.recorder.event(sts, NORMAL, "SuccessfulCreate", f"create Pod {name} in StatefulSet {owner} successful")

    async def _create_claim(self, sts: Obj, template: Obj, claim_name: str, pod_name: str) -> bool:
        meta = sts["metadata"]
        owner = meta["name"]
        tmeta = template.get("metadata") or {}
        labels = {**(tmeta.get("labels") or {}), **((sts["spec"].get("selector") or {}).get("matchLabels") or {})}
        claim: Obj = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim_name, "namespace": meta["namespace"], "labels": labels},
            "spec": template.get("spec") or {},
        }
        if tmeta.get("annotations"):
            claim["metadata"]["annotations"] = dict(tmeta["annotations"])
        retention = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        if retention.get("whenDeleted") == "Delete":
            claim["metadata"]["ownerReferences"] = [controller_ref(sts)]
        try:
            await self.client.create(claim)
        except errors.AlreadyExists:
            return True
        except errors.StatusError as exc:
            self.recorder.event(
                sts,
                WARNING,
                "FailedCreate",
                f"create Claim {claim_name} for Pod {pod_name} in StatefulSet {owner} failed error: {exc.message}",
            )
            return False
        self.recorder.event(
            sts,
            NORMAL,
            "SuccessfulCreate",
            f"create Claim {claim_name} Pod {pod_name} in StatefulSet {owner} success",
        )
        return True

    async def _claims_follow_policy(self, sts: Obj, pod: Obj, *, condemned: bool) -> None:
        """Give the pod's claims the owners ``persistentVolumeClaimRetentionPolicy`` asks for (upstream's
        ``updateClaimOwnerRefForSetAndPod``): the set when they go with it (``whenDeleted: Delete``), the pod
        when it is scaled away and they go with it (``whenScaled: Delete``), so the garbage collector deletes
        them then."""
        policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
        by_pod = condemned and policy.get("whenScaled") == "Delete"
        by_set = policy.get("whenDeleted") == "Delete" and not by_pod
        pod_ref = {"apiVersion": "v1", "kind": "Pod", "name": pod["metadata"]["name"], "uid": pod["metadata"]["uid"]}
        wanted = {
            sts["metadata"]["uid"]: controller_ref(sts) if by_set else None,
            pod_ref["uid"]: pod_ref if by_pod else None,
        }
        for template in sts["spec"].get("volumeClaimTemplates") or []:
            name = f"{(template.get('metadata') or {}).get('name')}-{pod['metadata']['name']}"
            claim = await get_or_none(self.client, "v1/PersistentVolumeClaim", name, sts["metadata"]["namespace"])
            if claim is None:
                continue
            refs = list(claim["metadata"].get("ownerReferences") or [])
            kept = [r for r in refs if r.get("uid") not in wanted or wanted[r.get("uid")] is not None]
            have = {r.get("uid") for r in kept}
            kept += [ref for uid, ref in wanted.items() if ref is not None and uid not in have]
            if kept != refs:
                patch = {
                    "metadata": {
                        "ownerReferences": kept or None,
                        "resourceVersion": claim["metadata"]["resourceVersion"],
                    }
                }
                with contextlib.suppress(errors.NotFound):
                    await self.client.patch(claim, MergePatch(patch))

    async def _delete_pod(self, sts: Obj, pod: Obj) -> None:
        name, owner = pod["metadata"]["name"], sts["metadata"]["name"]
        try:
            await self.client.delete(pod, preconditions={"uid": pod["metadata"]["uid"]})
        except (errors.NotFound, errors.Conflict):
            return
        self.recorder.event(sts, NORMAL, "SuccessfulDelete", f"delete Pod {name} in StatefulSet {owner} successful")

    async def _update_status(self, sts: Obj, pods: list[Obj], current_rev: str, history: History) -> float:
        """Write the counted status; returns when to look again for pods turning available (0: no need)."""
        spec = sts["spec"]
        update_rev = history.update["metadata"]["name"]
        min_ready = int(spec.get("minReadySeconds") or 0)
        now = self.clock.wall()
        counts = {"replicas": 0, "readyReplicas": 0, "availableReplicas": 0, "currentReplicas": 0, "updatedReplicas": 0}
        waiting = False
        for pod in pods:
            if not (pod.get("status") or {}).get("phase"):
                continue
            counts["replicas"] += 1
            if _running_ready(pod):
                counts["readyReplicas"] += 1
                if is_available(pod, min_ready, now):
                    counts["availableReplicas"] += 1
                else:
                    waiting = True
            if not is_terminating(pod):
                if _revision(pod) == current_rev:
                    counts["currentReplicas"] += 1
                if _revision(pod) == update_rev:
                    counts["updatedReplicas"] += 1
        status: Obj = {
            "observedGeneration": sts["metadata"].get("generation"),
            **counts,
            "currentRevision": current_rev,
            "updateRevision": update_rev,
            "collisionCount": history.collision_count,
        }
        rolling = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate") == "RollingUpdate"
        if rolling and counts["updatedReplicas"] == counts["replicas"] == counts["readyReplicas"]:
            status["currentReplicas"] = counts["updatedReplicas"]
            status["currentRevision"] = update_rev
        old = sts.get("status") or {}
        if any(old.get(k, 0 if k in counts or k == "collisionCount" else None) != v for k, v in status.items()):
            # omitempty upstream: these counts are not written when zero (replicas and availableReplicas are).
            patch = {k: None if k in _OMITTED_WHEN_ZERO and not v else v for k, v in status.items()}
            with contextlib.suppress(errors.NotFound):
                await self.client.status().patch(sts, MergePatch({"status": patch}))
        return float(min_ready) if waiting else 0.0
