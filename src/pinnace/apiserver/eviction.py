"""The ``pods/eviction`` subresource: delete a pod unless that breaks its PodDisruptionBudget.

``kubectl drain`` POSTs a ``policy/v1`` Eviction to
``/api/v1/namespaces/NS/pods/NAME/eviction``. As upstream's ``EvictionREST``:

* a pod that is Pending, finished or already being deleted is deleted
  without looking at budgets (it disrupts nothing more);
* a pod covered by more than one budget is refused (429);
* otherwise its budget is checked: with no disruption allowed the answer is
  429 TooManyRequests, "Cannot evict pod as it would violate the pod's
  disruption budget.", with a DisruptionBudget cause saying how many healthy
  pods the budget needs and has; else the budget's ``disruptionsAllowed`` is
  decremented and the pod recorded in ``status.disruptedPods`` (a
  compare-and-swap on the budget, so two evictions never spend one
  disruption), and the pod is deleted with the Eviction's ``deleteOptions``;
* the pod first gets the ``DisruptionTarget`` condition (reason
  ``EvictionByEvictionAPI``), as upstream since 1.31.

The budget's status is computed again here, at eviction time, from the pods
its selector matches (:mod:`pinnace.api.disruption`, which the disruption
controller uses too) and written back with the decrement.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from pinnace.api import disruption, errors, selectors, strategy
from pinnace.api.disruption import Getter, ScaleReader
from pinnace.api.podutil import is_pod_ready, set_pod_condition
from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.admission import Operation
from pinnace.apiserver.binding import serve_create
from pinnace.apiserver.negotiation import Wanted
from pinnace.apiserver.request_info import RequestInfo
from pinnace.apiserver.rest import DeleteOptions, RestStore
from pinnace.apiserver.scale import scale_of

__all__ = ["VIOLATES_BUDGET", "budget_status", "evict", "handle_eviction"]

Obj = dict[str, Any]

VIOLATES_BUDGET = "Cannot evict pod as it would violate the pod's disruption budget."
_EVICTION_RETRIES = 10

#: Evictions in one namespace are checked one at a time in this server (the CAS guards other servers).
_locks: dict[str, asyncio.Lock] = {}


def _info(rest: RestStore, group: str, version: str, plural: str) -> ResourceInfo:
    info = rest.registry.get(group, version, plural)
    if info is None:  # pragma: no cover - built-in kinds are always served
        raise errors.NotFound("the server could not find the requested resource")
    return info


_KINDS = {
    ("apps", "ReplicaSet"): ("apps", "v1", "replicasets"),
    ("apps", "StatefulSet"): ("apps", "v1", "statefulsets"),
    ("apps", "Deployment"): ("apps", "v1", "deployments"),
    ("", "ReplicationController"): ("", "v1", "replicationcontrollers"),
}


def _getter(rest: RestStore) -> Getter:
    """Reads a budget's workload controllers straight from the store."""

    async def get(api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        where = _KINDS.get((api_version.rpartition("/")[0], kind))
        if where is None:
            return None
        try:
            return await rest.get(_info(rest, *where), namespace, name)
        except errors.NotFound:
            return None

    return get


def _scale_reader(rest: RestStore) -> ScaleReader:
    """Reads the scale of a budget's custom workload controllers (their CRD's scale paths) from the store."""

    async def read_scale(api_version: str, kind: str, namespace: str, name: str) -> Obj | None:
        group, _, version = api_version.rpartition("/")
        info = rest.registry.by_kind(group, version, kind)
        if info is None:
            raise disruption.ExpectedPodsUnknown(f'no matches for kind "{kind}" in version "{api_version}"')
        if "scale" not in info.subresources:
            raise disruption.ExpectedPodsUnknown(f"{info.group_resource} does not implement the scale subresource")
        try:
            return scale_of(await rest.get(info, namespace, name), info)
        except errors.NotFound:
            return None

    return read_scale


async def budget_status(rest: RestStore, pdb: Obj, pods: list[Obj], now: float) -> Obj:
    """A PodDisruptionBudget's status from the pods it selects, as the disruption controller computes it."""
    return await disruption.budget_status(_getter(rest), _scale_reader(rest), pdb, pods, now)


def _matching_budgets(budgets: list[Obj], pod: Obj) -> list[Obj]:
    labels = pod["metadata"].get("labels") or {}
    out = []
    for pdb in budgets:
        try:
            selector = selectors.from_label_selector((pdb.get("spec") or {}).get("selector"))
        except errors.StatusError:
            continue
        if selector.matches(labels):
            out.append(pdb)
    return out


def _too_many(cause: str | None = None, message: str = VIOLATES_BUDGET) -> errors.TooManyRequests:
    causes = [errors.Cause("DisruptionBudget", cause)] if cause else None
    return errors.TooManyRequests(message, causes=causes)


async def _spend_disruption(rest: RestStore, pod: Obj, pdb: Obj, pods: list[Obj], *, dry_run: bool) -> None:
    """Decrement the budget for ``pod`` (CAS on the budget's revision), or raise 429."""
    info = _info(rest, "policy", "v1", "poddisruptionbudgets")
    name = pdb["metadata"]["name"]
    status = await budget_status(rest, pdb, pods, datetime.now(UTC).timestamp())
    seen_rv = pdb["metadata"]["resourceVersion"]

    def write(current: Obj) -> Obj:
        current["metadata"]["resourceVersion"] = seen_rv  # the budget must not have moved since it was read
        current["status"] = status
        return current

    namespace = pdb["metadata"]["namespace"]
    if status["disruptionsAllowed"] <= 0:
        if not dry_run and status != pdb.get("status"):
            # No disruption controller keeps budgets' status: record what was computed, so that
            # ``kubectl get pdb`` shows why (a lost race here only means someone wrote a newer one).
            with contextlib.suppress(errors.Conflict):
                await rest.mutate(info, namespace, name, write, subresource="status")
        raise _too_many(
            f"The disruption budget {name} needs {status['desiredHealthy']} healthy pods "
            f"and has {status['currentHealthy']} currently"
        )
    status["disruptionsAllowed"] -= 1
    status.setdefault("disruptedPods", {})[pod["metadata"]["name"]] = strategy.now_rfc3339()
    disruption.set_allowed_condition(status)
    await rest.mutate(info, namespace, name, write, subresource="status", dry_run=dry_run)


def _check_eviction(eviction: Obj, url_name: str) -> Obj:
    if eviction.get("kind") not in (None, "Eviction"):
        raise errors.BadRequest(
            f"the kind in the data ({eviction.get('kind')}) does not match the expected kind (Eviction)"
        )
    if eviction.get("apiVersion") not in (None, "policy/v1", "policy/v1beta1"):
        raise errors.BadRequest(f"unsupported Eviction version {eviction.get('apiVersion')}")
    if (eviction.get("metadata") or {}).get("name") != url_name:
        raise errors.BadRequest("name in URL does not match name in Eviction object")
    options = eviction.get("deleteOptions") or {}
    return options if isinstance(options, dict) else {}


def _delete_options(raw: Obj, *, dry_run: bool, resource_version: str | None = None) -> DeleteOptions:
    pre = raw.get("preconditions") or {}
    grace = raw.get("gracePeriodSeconds")
    return DeleteOptions(
        grace_period_seconds=int(grace) if grace is not None else None,
        propagation_policy=raw.get("propagationPolicy"),
        precondition_uid=pre.get("uid"),
        precondition_resource_version=pre.get("resourceVersion") or resource_version,
        dry_run=dry_run or bool(raw.get("dryRun")),
    )


async def _mark_and_delete(rest: RestStore, pods: ResourceInfo, pod: Obj, options: DeleteOptions) -> None:
    namespace, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    want_rv = options.precondition_resource_version
    if want_rv is not None and want_rv != pod["metadata"].get("resourceVersion"):
        await rest.delete(pods, namespace, name, options)  # raises upstream's precondition conflict
    if not options.dry_run and not pod["metadata"].get("deletionTimestamp"):
        target = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting",
        }

        def mark(current: Obj) -> Obj:
            set_pod_condition(current, target)
            current["metadata"].pop("resourceVersion", None)
            return current

        await rest.mutate(pods, namespace, name, mark, subresource="status")
        options = DeleteOptions(
            grace_period_seconds=options.grace_period_seconds,
            propagation_policy=options.propagation_policy,
            precondition_uid=options.precondition_uid or pod["metadata"].get("uid"),
            dry_run=options.dry_run,
        )
    await rest.delete(pods, namespace, name, options)


async def evict(rest: RestStore, namespace: str, name: str, eviction: Obj, *, dry_run: bool = False) -> None:
    """Evict one pod, honouring its PodDisruptionBudget (429 when that would break it)."""
    raw_options = _check_eviction(eviction, name)
    pods_info = _info(rest, "", "v1", "pods")
    budgets_info = _info(rest, "policy", "v1", "poddisruptionbudgets")
    await rest.admit_subresource(Operation.CREATE, pods_info, namespace, name, "eviction", eviction, dry_run=dry_run)
    lock = _locks.setdefault(namespace, asyncio.Lock())
    async with lock:
        for _ in range(_EVICTION_RETRIES):
            pod = await rest.get(pods_info, namespace, name)
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Pending", "Succeeded", "Failed") or pod["metadata"].get("deletionTimestamp"):
                await _mark_and_delete(rest, pods_info, pod, _delete_options(raw_options, dry_run=dry_run))
                return
            budgets_cache = await rest.fresh_cache(budgets_info)
            budgets = _matching_budgets([c.obj for c in budgets_cache.list(namespace)], pod)
            if len(budgets) > 1:
                raise _too_many(
                    message="This pod has more than one PodDisruptionBudget, which the eviction subresource "
                    "does not support."
                )
            if not budgets:
                await _mark_and_delete(rest, pods_info, pod, _delete_options(raw_options, dry_run=dry_run))
                return
            pdb = budgets[0]
            selector = selectors.from_label_selector((pdb.get("spec") or {}).get("selector"))
            pods_cache = await rest.fresh_cache(pods_info)
            covered = [
                c.obj for c in pods_cache.list(namespace) if selector.matches(c.obj["metadata"].get("labels") or {})
            ]
            options = _delete_options(raw_options, dry_run=dry_run)
            if not is_pod_ready(pod):
                policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy")
                status = await budget_status(rest, pdb, covered, datetime.now(UTC).timestamp())
                if policy == "AlwaysAllow" or (
                    status["currentHealthy"] >= status["desiredHealthy"] and status["desiredHealthy"] > 0
                ):
                    rv = pod["metadata"].get("resourceVersion")
                    await _mark_and_delete(
                        rest, pods_info, pod, _delete_options(raw_options, dry_run=dry_run, resource_version=rv)
                    )
                    return
            try:
                await _spend_disruption(rest, pod, pdb, covered, dry_run=options.dry_run)
            except errors.Conflict:
                continue  # the budget moved under us: look again
            await _mark_and_delete(rest, pods_info, pod, options)
            return
    raise _too_many(message="Too many concurrent evictions; please try again")


async def handle_eviction(
    request: web.BaseRequest, rest: RestStore, namespace: str | None, ri: RequestInfo, wanted: Wanted
) -> web.Response:
    """Serve POST on ``pods/NAME/eviction``."""
    return await serve_create(
        request, wanted, lambda body, dry_run: evict(rest, namespace or "", ri.name or "", body, dry_run=dry_run)
    )
