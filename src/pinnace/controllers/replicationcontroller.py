"""The ReplicationController controller: the ReplicaSet controller for the older core/v1 kind.

Upstream runs its ReplicaSet code on ReplicationControllers through an
adapter: the same claim, manage and status passes, the same events (from
``replication-controller``); only the selector differs, a plain map of labels
instead of a LabelSelector. So here: the ReplicaSet reconciler, told the
kind, the resource and how to read the selector.
"""

from __future__ import annotations

from typing import Any

from pinnace.client.rest import ResourceRef
from pinnace.controllers.replicaset import BURST_REPLICAS, ReplicaSetReconciler, add_replica_controller
from pinnace.runtime.controller import Controller
from pinnace.runtime.manager import Manager

__all__ = ["ReplicationControllerReconciler", "add_replicationcontroller_controller"]

Obj = dict[str, Any]


class ReplicationControllerReconciler(ReplicaSetReconciler):
    """Keeps each ReplicationController's pods at ``spec.replicas`` and reports them in its status."""

    kind = "v1/ReplicationController"
    resource = ResourceRef("", "v1", "replicationcontrollers")

    @staticmethod
    def label_selector(rs: Obj) -> Any:
        """The map selector as a LabelSelector; an empty one selects nothing (validation refuses it anyway)."""
        selector = (rs.get("spec") or {}).get("selector")
        return {"matchLabels": selector} if selector else None


async def add_replicationcontroller_controller(
    manager: Manager, *, workers: int = 5, burst_replicas: int = BURST_REPLICAS
) -> Controller:
    """Add the ReplicationController controller to ``manager``."""
    return await add_replica_controller(
        manager,
        ReplicationControllerReconciler,
        "replicationcontroller",
        "replication-controller",
        workers=workers,
        burst_replicas=burst_replicas,
    )
