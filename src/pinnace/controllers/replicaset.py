"""The ReplicaSet controller: as many Pods from the template as ``spec.replicas`` says.

Upstream's ``pkg/controller/replicaset`` on the runtime SDK. Per ReplicaSet:

- **claim** — the pods it controls come from an index on the shared pod
  informer (by controller uid), orphans that match its selector are adopted,
  and pods whose labels stopped matching are released (:mod:`._ownership`);
- **manage** — too few: create from the template (``generateName
  <rs>-``, ownerReference with controller and blockOwnerDeletion), at most
  ``burst_replicas`` per pass, in slow-start batches of 1, 2, 4, … so a
  failing create (quota, admission) fails once rather than a thousand
  times; too many: delete the pods upstream would (unscheduled, pending,
  not ready, doubled up on a node, recently ready, restarting, newer first);
- **expectations** — creations and deletions not yet seen in the cache
  block the next manage pass, so a lagging informer never causes
  over-creation;
- **status** — replicas, fullyLabeledReplicas, readyReplicas,
  availableReplicas (ready for minReadySeconds; the ReplicaSet is looked at
  again when the next pod becomes available), observedGeneration, and the
  ReplicaFailure condition when creating or deleting fails.

Events: SuccessfulCreate, SuccessfulDelete, FailedCreate, FailedDelete —
through a spam filter per ReplicaSet like client-go's (a burst of 25, then
one per five minutes), so a thousand-replica scale-up writes 25 events, not
a thousand.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pinnace.api import errors
from pinnace.api.patch import create_merge_patch
from pinnace.api.selectors import LabelSelector, from_label_selector
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.controllers._ownership import claim, controlled_by, index_by_controller, orphans
from pinnace.controllers._workload_pods import (
    Expectations,
    controller_uid,
    is_active,
    is_available,
    is_ready,
    parse_time,
    pod_from_template,
)
from pinnace.runtime.builder import Builder
from pinnace.runtime.cache.indexer import NAMESPACE_INDEX
from pinnace.runtime.cache.informer import Informer
from pinnace.runtime.clock import Clock
from pinnace.runtime.controller import Controller
from pinnace.runtime.events import NORMAL, WARNING, EventRecorder
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.reconcile import Request, Result

__all__ = [
    "EventSpamFilter",
    "ReplicaSetReconciler",
    "add_replica_controller",
    "add_replicaset_controller",
    "calculate_status",
    "pods_to_delete",
]

Obj = dict[str, Any]

POD_KIND = "v1/Pod"
RS_KIND = "apps/v1/ReplicaSet"
PODS = ResourceRef("", "v1", "pods")
REPLICASETS = ResourceRef("apps", "v1", "replicasets")
#: Upstream's BurstReplicas: the most pods one pass creates or deletes.
BURST_REPLICAS = 500
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"


async def add_replicaset_controller(
    manager: Manager, *, workers: int = 5, burst_replicas: int = BURST_REPLICAS
) -> Controller:
    """Add the ReplicaSet controller to ``manager``."""
    return await add_replica_controller(
        manager,
        ReplicaSetReconciler,
        "replicaset",
        "replicaset-controller",
        workers=workers,
        burst_replicas=burst_replicas,
    )


async def add_replica_controller(
    manager: Manager,
    reconciler_class: type[ReplicaSetReconciler],
    name: str,
    component: str,
    *,
    workers: int = 5,
    burst_replicas: int = BURST_REPLICAS,
) -> Controller:
    """Add a controller of ``reconciler_class``'s kind (ReplicaSets, or ReplicationControllers) to ``manager``.

    ``name`` names the controller, ``component`` is the source of its events.
    """
    pods = await manager.cache.informer_for(POD_KIND, wait=False)
    owners = await manager.cache.informer_for(reconciler_class.kind, wait=False)
    index_by_controller(pods)
    index_by_controller(owners)
    reconciler = reconciler_class(
        manager.rest,
        pods,
        owners,
        EventRecorder(manager.rest, component, manager.identity, clock=manager.clock, core=True),
        manager.clock,
        burst_replicas,
    )
    return await (
        Builder(manager)
        .named(name)
        .for_(reconciler_class.kind)
        .owns(POD_KIND)
        .watches(POD_KIND, EnqueueRequestsFromMapFunc(reconciler.selecting))
        .with_options(max_concurrent_reconciles=workers)
        .complete(reconciler)
    )


@dataclass
class _Bucket:
    tokens: float
    at: float


@dataclass
class EventSpamFilter:
    """Drops events about one object beyond a burst, refilled slowly (client-go's ``EventSourceObjectSpamFilter``)."""

    clock: Clock
    burst: int = 25
    refill_seconds: float = 300.0
    _buckets: dict[str, _Bucket] = field(default_factory=dict)

    def allow(self, obj: Obj) -> bool:
        """Whether one more event about ``obj`` may be written now."""
        key = str((obj.get("metadata") or {}).get("uid") or "")
        now = self.clock.now()
        bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) / self.refill_seconds)
        bucket.at = now
        if bucket.tokens < 1:
            return False
        bucket.tokens -= 1
        return True

    def forget(self, obj: Obj) -> None:
        """The object is gone."""
        self._buckets.pop(str((obj.get("metadata") or {}).get("uid") or ""), None)


def _meta(obj: Obj) -> Obj:
    return obj.get("metadata") or {}


def _key(obj: Obj) -> str:
    return f"{_meta(obj).get('namespace')}/{_meta(obj).get('name')}"


class ReplicaSetReconciler:
    """Keeps each ReplicaSet's pods at ``spec.replicas`` and reports them in its status."""

    #: The kind kept, and its resource (a subclass keeps ReplicationControllers).
    kind = RS_KIND
    resource = REPLICASETS

    def __init__(
        self,
        rest: RestClient,
        pods: Informer,
        rss: Informer,
        recorder: EventRecorder,
        clock: Clock,
        burst_replicas: int = BURST_REPLICAS,
    ) -> None:
        self.rest = rest
        self.pods = pods
        self.rss = rss
        self.recorder = recorder
        self.clock = clock
        self.burst_replicas = burst_replicas
        self.expectations = Expectations()
        self.spam = EventSpamFilter(clock)
        self._selectors: dict[tuple[str, int], LabelSelector] = {}

    # ---- events -----------------------------------------------------------------
    def selecting(self, pod: Obj) -> list[Request]:
        """The ReplicaSets whose selector matches an orphan pod (they may adopt it)."""
        meta = _meta(pod)
        if controller_uid(pod) is not None or meta.get("deletionTimestamp"):
            return []
        namespace = str(meta.get("namespace") or "")
        return [
            Request(namespace, str(_meta(rs)["name"]))
            for rs in self.rss.indexer.by_index(NAMESPACE_INDEX, namespace)
            if self._selector(rs).matches(meta.get("labels"))
        ]

    def _selector(self, rs: Obj) -> LabelSelector:
        key = (str(_meta(rs).get("uid")), int(_meta(rs).get("generation") or 0))
        selector = self._selectors.get(key)
        if selector is None:
            if len(self._selectors) > 4096:
                self._selectors.clear()
            try:
                selector = from_label_selector(self.label_selector(rs))
            except errors.BadRequest:
                selector = from_label_selector(None)  # selects nothing
            self._selectors[key] = selector
        return selector

    @staticmethod
    def label_selector(rs: Obj) -> Any:
        """The owner's selector as a ``LabelSelector`` (a ReplicaSet's is one already)."""
        return (rs.get("spec") or {}).get("selector")

    # ---- reconcile --------------------------------------------------------------
    async def reconcile(self, request: Request) -> Result:
        """Claim, create or delete pods as needed, then write the status."""
        key = f"{request.namespace}/{request.name}"
        cached = self.rss.indexer.get(key)
        if cached is None:
            self.expectations.forget(key)
            return Result()
        rs: Obj = cached  # shared with the cache: read only
        uid = str(_meta(rs)["uid"])
        selector = self._selector(rs)
        owned = controlled_by(self.pods, uid)
        candidates = [p for p in [*owned, *orphans(self.pods, request.namespace, selector)] if is_active(p)]
        pods = await claim(self.rest, PODS, rs, candidates, selector, lambda: self._can_adopt(rs))
        problem: Exception | None = None
        if self.expectations.satisfied(key, owned, self.clock.now()) and not _meta(rs).get("deletionTimestamp"):
            try:
                await self._manage(rs, key, pods)
            except errors.StatusError as exc:
                problem = exc
        now = datetime.now(UTC)
        status = calculate_status(rs, pods, problem, now)
        await self._write_status(rs, status)
        if problem is not None:
            raise problem
        return _requeue_for_availability(rs, pods, now)

    async def _can_adopt(self, rs: Obj) -> bool:
        try:
            fresh = await self.rest.get(self.resource, _meta(rs)["name"], _meta(rs)["namespace"])
        except errors.NotFound:
            return False
        return _meta(fresh).get("uid") == _meta(rs).get("uid") and not _meta(fresh).get("deletionTimestamp")

    async def _manage(self, rs: Obj, key: str, pods: list[Obj]) -> None:
        diff = len(pods) - int((rs.get("spec") or {}).get("replicas") or 0)
        if diff < 0:
            await self._create(rs, key, min(-diff, self.burst_replicas))
        elif diff > 0:
            related = self._related_pods(rs)
            await self._delete(
                rs, key, pods_to_delete(pods, related, min(diff, self.burst_replicas), datetime.now(UTC))
            )

    async def _create(self, rs: Obj, key: str, count: int) -> None:
        template = (rs.get("spec") or {}).get("template")
        pod = pod_from_template(template, rs, generate_name=f"{_meta(rs)['name']}-")
        namespace = _meta(rs)["namespace"]
        batch, remaining = 1, count
        while remaining > 0:
            size = min(batch, remaining)
            results = await asyncio.gather(
                *(self.rest.create(PODS, pod, namespace) for _ in range(size)), return_exceptions=True
            )
            failure: BaseException | None = None
            for result in results:
                if isinstance(result, BaseException):
                    failure = failure or result
                    continue
                self.expectations.expect_create(key, _meta(result)["name"], self.clock.now())
                self._event(rs, NORMAL, "SuccessfulCreate", f"Created pod: {_meta(result)['name']}")
            if failure is not None:
                if errors.namespace_terminating(failure):
                    return
                self._event(rs, WARNING, "FailedCreate", f"Error creating: {_message(failure)}")
                raise failure
            remaining -= size
            batch *= 2

    async def _delete(self, rs: Obj, key: str, victims: list[Obj]) -> None:
        async def one(pod: Obj) -> None:
            name = _meta(pod)["name"]
            try:
                await self.rest.delete(PODS, name, _meta(pod)["namespace"])
            except errors.NotFound:
                return
            except errors.StatusError as exc:
                self._event(rs, WARNING, "FailedDelete", f"Error deleting: {exc}")
                raise
            self.expectations.expect_delete(key, name, self.clock.now())
            self._event(rs, NORMAL, "SuccessfulDelete", f"Deleted pod: {name}")

        results = await asyncio.gather(*(one(p) for p in victims), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def _related_pods(self, rs: Obj) -> list[Obj]:
        """The pods of every ReplicaSet with the same controller (a Deployment's), this one's included."""
        owner = controller_uid(rs)
        siblings = controlled_by(self.rss, owner) if owner else [rs]
        return [p for s in siblings for p in controlled_by(self.pods, str(_meta(s)["uid"]))]

    def _event(self, rs: Obj, type_: str, reason: str, note: str) -> None:
        if self.spam.allow(rs):
            self.recorder.event(rs, type_, reason, note)

    async def _write_status(self, rs: Obj, status: Obj) -> None:
        old = rs.get("status") or {}
        if status == old:
            return
        diff = create_merge_patch(old, status)
        meta = _meta(rs)
        try:
            await self.rest.patch(
                self.resource, meta["name"], {"status": diff}, meta["namespace"], subresource="status"
            )
        except errors.NotFound:
            return


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, errors.StatusError) else repr(exc)


def calculate_status(rs: Obj, pods: list[Obj], problem: Exception | None, now: datetime) -> Obj:
    """The status of ``rs`` given the active pods it controls (zero counts omitted, as upstream's JSON)."""
    template_labels = ((rs.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    labeled = ready = available = 0
    wanted = template_labels.items()
    for pod in pods:
        labels = _meta(pod).get("labels") or {}
        if wanted <= labels.items():  # (a subset test in C: this runs over every pod on every reconcile)
            labeled += 1
        if is_ready(pod):
            ready += 1
            if is_available(pod, min_ready, now):
                available += 1
    old = rs.get("status") or {}
    counts = {
        "replicas": len(pods),
        "fullyLabeledReplicas": labeled,
        "readyReplicas": ready,
        "availableReplicas": available,
        "observedGeneration": int(_meta(rs).get("generation") or 0),
    }
    status: Obj = {k: v for k, v in counts.items() if v}
    conditions = [dict(c) for c in old.get("conditions") or []]
    failure = next((c for c in conditions if c.get("type") == "ReplicaFailure"), None)
    if problem is not None and failure is None:
        diff = len(pods) - int((rs.get("spec") or {}).get("replicas") or 0)
        reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
        conditions.append(
            {
                "type": "ReplicaFailure",
                "status": "True",
                "lastTransitionTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "reason": reason,
                "message": _message(problem),
            }
        )
    elif problem is None and failure is not None:
        conditions = [c for c in conditions if c.get("type") != "ReplicaFailure"]
    if conditions:
        status["conditions"] = conditions
    return status


def _requeue_for_availability(rs: Obj, pods: list[Obj], now: datetime) -> Result:
    """Look again when the next ready pod will have been ready for minReadySeconds."""
    min_ready = int((rs.get("spec") or {}).get("minReadySeconds") or 0)
    if min_ready <= 0:
        return Result()
    waits = []
    for pod in pods:
        if is_ready(pod) and not is_available(pod, min_ready, now):
            since = parse_time(_ready_since(pod))
            if since is not None:
                waits.append(min_ready - (now - since).total_seconds())
    return Result(requeue_after=max(0.1, min(waits) + 0.1)) if waits else Result()


def _ready_since(pod: Obj) -> str | None:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            since = c.get("lastTransitionTime")
            return str(since) if since else None
    return None


# ---- which pods go first ----------------------------------------------------------
_PHASE_RANK = {"Pending": 0, "Unknown": 1, "Running": 2}


def _log_bucket(since: str | None, now: datetime) -> float:
    """Age on a log2 scale (upstream's LogarithmicScaleDown): pods of about the same age tie."""
    when = parse_time(since)
    if when is None:
        return -math.inf  # unknown time sorts first
    seconds = (now - when).total_seconds()
    return float(math.floor(math.log2(seconds))) if seconds >= 1 else 0.0


def _deletion_cost(pod: Obj) -> int:
    try:
        return int((_meta(pod).get("annotations") or {}).get(DELETION_COST, "0"))
    except ValueError:
        return 0


def _restarts(pod: Obj) -> int:
    return max(
        (int(c.get("restartCount") or 0) for c in (pod.get("status") or {}).get("containerStatuses") or []), default=0
    )


def pods_to_delete(pods: list[Obj], related: list[Obj], count: int, now: datetime) -> list[Obj]:
    """The ``count`` pods to delete first (upstream's ``ActivePodsWithRanks`` order).

    Unscheduled before scheduled; Pending, Unknown, then Running; not ready
    before ready; lower pod-deletion-cost first; pods doubled up on a node
    (counting the related pods of sibling ReplicaSets) before lone ones;
    recently ready before long ready; more restarts first; newer before older.
    """
    if count >= len(pods):
        return list(pods)
    on_node: dict[str, int] = {}
    for pod in related:
        if is_active(pod):
            node = str((pod.get("spec") or {}).get("nodeName") or "")
            on_node[node] = on_node.get(node, 0) + 1

    def rank(pod: Obj) -> tuple[Any, ...]:
        spec = pod.get("spec") or {}
        node = str(spec.get("nodeName") or "")
        ready = is_ready(pod)
        return (
            1 if node else 0,
            _PHASE_RANK.get(str((pod.get("status") or {}).get("phase") or ""), 0),
            1 if ready else 0,
            _deletion_cost(pod),
            -on_node.get(node, 0),
            _log_bucket(_ready_since(pod), now) if ready else 0.0,
            -_restarts(pod),
            _log_bucket(_meta(pod).get("creationTimestamp"), now),
        )

    return sorted(pods, key=rank)[:count]
