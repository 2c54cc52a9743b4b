"""Built-in controllers, each a runtime Reconciler written as a user would write one.

:data:`BUILTIN_CONTROLLERS` names every component a controller manager can
run — the controllers of kube-controller-manager, and the scheduler — each as
``"module:function"``, where the function adds the component to a
:class:`~pinnace.runtime.manager.Manager`. Modules are imported only when a
component is asked for, so a manager pays only for what it runs.
:func:`add_controllers` adds a selection: that is what ``pinnace
controller-manager`` runs, and what the ``pinnace_env`` test fixture starts on
request.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # the registry itself stays light: a process imports only the components it runs
    from pinnace.runtime.manager import Manager

__all__ = ["BUILTIN_CONTROLLERS", "DEFAULT_CONTROLLERS", "add_controllers", "controller_factory"]

#: Every built-in component by name: where its ``add_…(manager)`` function lives.
BUILTIN_CONTROLLERS: dict[str, str] = {
    "gc": "pinnace.controllers.garbagecollector:add_garbage_collector",
    "namespace": "pinnace.controllers.namespace:add_namespace_controller",
    "deployment": "pinnace.controllers.deployment:add_deployment_controller",
    "replicaset": "pinnace.controllers.replicaset:add_replicaset_controller",
    "replicationcontroller": "pinnace.controllers.replicationcontroller:add_replicationcontroller_controller",
    "statefulset": "pinnace.controllers.statefulset:add_statefulset_controller",
    "daemonset": "pinnace.controllers.daemonset:add_daemonset_controller",
    "job": "pinnace.controllers.job:add_job_controller",
    "cronjob": "pinnace.controllers.cronjob:add_cronjob_controller",
    "disruption": "pinnace.controllers.disruption:add_disruption_controller",
    "horizontalpodautoscaling": (
        "pinnace.controllers.horizontalpodautoscaler:add_horizontal_pod_autoscaler_controller"
    ),
    "endpoints": "pinnace.controllers.endpoints:add_endpoints_controller",
    "endpointslice": "pinnace.controllers.endpointslice:add_endpointslice_controller",
    "serviceaccount": "pinnace.controllers.serviceaccount:add_serviceaccount_controller",
    "resourcequota": "pinnace.controllers.resourcequota:add_resourcequota_controller",
    "nodelifecycle": "pinnace.controllers.nodelifecycle:add_node_lifecycle_controller",
    "clusterrole-aggregation": "pinnace.controllers.clusterrole_aggregation:add_clusterrole_aggregation_controller",
    "csrapproving": "pinnace.controllers.csrapproving:add_csr_approving_controller",
    "csrsigning": "pinnace.controllers.csrsigning:add_csr_signing_controller",
    "bootstrapsigner": "pinnace.controllers.bootstrapsigner:add_bootstrap_signer",
    "tokencleaner": "pinnace.controllers.bootstrapsigner:add_token_cleaner",
    "root-ca-cert-publisher": "pinnace.controllers.rootca:add_root_ca_publisher",
    "persistentvolume-binder": "pinnace.controllers.persistentvolume:add_persistent_volume_binder",
    "local-path-provisioner": "pinnace.controllers.localpath:add_local_path_provisioner",
    "pvc-protection": "pinnace.controllers.storageprotection:add_pvc_protection_controller",
    "pv-protection": "pinnace.controllers.storageprotection:add_pv_protection_controller",
    "ephemeral-volume": "pinnace.controllers.ephemeral:add_ephemeral_volume_controller",
    "scheduler": "pinnace.scheduler.scheduler:add_scheduler",
}

#: What ``pinnace up`` runs unless told otherwise: all of it (kube-controller-manager's and kube-scheduler's jobs).
DEFAULT_CONTROLLERS: tuple[str, ...] = tuple(BUILTIN_CONTROLLERS)

Factory = Callable[["Manager"], Awaitable[object]]


def controller_factory(name: str) -> Factory:
    """The ``add_…(manager)`` function of the named component; ValueError for an unknown name."""
    target = BUILTIN_CONTROLLERS.get(name)
    if target is None:
        raise ValueError(f"unknown controller {name!r}; known: {', '.join(sorted(BUILTIN_CONTROLLERS))}")
    module_name, _, function = target.partition(":")
    return cast(Factory, getattr(importlib.import_module(module_name), function))


async def add_controllers(manager: Manager, names: Iterable[str]) -> list[object]:
    """Add the named built-in components to ``manager``; ValueError for an unknown name."""
    return [await controller_factory(name)(manager) for name in names]
