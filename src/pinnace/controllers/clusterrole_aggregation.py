"""The ClusterRole aggregation controller: an aggregated role's rules are those of the roles it selects.

As upstream's ``clusterrole-aggregation-controller``: a ClusterRole with an
``aggregationRule`` gets, as its rules, the rules of every other ClusterRole
matching any of its ``clusterRoleSelectors`` (in name order, each rule once).
Any ClusterRole change re-queues every aggregated role, since a label or a rule
anywhere may feed one. The controller writes rules only when they differ, so a
quiet cluster costs nothing. Writing the rules needs the ``escalate`` verb on
clusterroles (its bootstrap role has it): the rules it copies are not its own.
"""

from __future__ import annotations

import logging
from typing import Any

from pinnace.api import errors
from pinnace.api.selectors import from_label_selector
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.reconcile import Request, Result

__all__ = ["ClusterRoleAggregationReconciler", "add_clusterrole_aggregation_controller", "aggregate_rules"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
CLUSTER_ROLE = "rbac.authorization.k8s.io/v1/ClusterRole"


def aggregate_rules(role: Obj, roles: list[Obj]) -> list[Obj]:
    """The rules ``role``'s aggregationRule gives it, from ``roles`` (all ClusterRoles)."""
    selectors = [
        from_label_selector(s)
        for s in ((role.get("aggregationRule") or {}).get("clusterRoleSelectors") or [])
        if isinstance(s, dict)
    ]
    name = role["metadata"]["name"]
    rules: list[Obj] = []
    for other in sorted(roles, key=lambda o: str(o["metadata"]["name"])):
        meta = other["metadata"]
        if meta["name"] == name or not any(s.matches(meta.get("labels") or {}) for s in selectors):
            continue
        for rule in other.get("rules") or []:
            if rule not in rules:
                rules.append(rule)
    return rules


async def add_clusterrole_aggregation_controller(manager: Manager, *, workers: int = 1) -> Controller:
    """Add the ClusterRole aggregation controller to ``manager``."""
    reconciler = ClusterRoleAggregationReconciler(manager.client)
    return await (
        Builder(manager)
        .named("clusterrole-aggregation")
        .for_(CLUSTER_ROLE)
        .watches(CLUSTER_ROLE, EnqueueRequestsFromMapFunc(reconciler.affected))
        .with_options(max_concurrent_reconciles=workers)
        .complete(reconciler)
    )


class ClusterRoleAggregationReconciler:
    """Fills one aggregated ClusterRole's rules."""

    def __init__(self, client: Client) -> None:
        self.client = client
        #: Names of the ClusterRoles seen with an aggregationRule (each change may concern any of them).
        self.aggregated: set[str] = set()

    def affected(self, role: Obj) -> list[Request]:
        """Every aggregated role, when any ClusterRole changes."""
        name = str(role["metadata"]["name"])
        if role.get("aggregationRule") is not None:
            self.aggregated.add(name)
        return [Request("", n) for n in sorted(self.aggregated)]

    async def reconcile(self, request: Request) -> Result:
        """Set the role's rules to the aggregate of the roles it selects."""
        role = await get_or_none(self.client, CLUSTER_ROLE, request.name)
        if role is None or role.get("aggregationRule") is None:
            self.aggregated.discard(request.name)
            return Result()
        rules = aggregate_rules(role, await self.client.list(CLUSTER_ROLE))
        if (role.get("rules") or []) == rules:
            return Result()
        role = dict(role)
        role["rules"] = rules
        try:
            await self.client.update(role)
        except errors.Conflict:
            return Result(requeue=True)
        log.info("aggregated %d rules into ClusterRole %s", len(rules), request.name)
        return Result()
