"""The Endpoints controller: a Service's Endpoints list the pods its selector matches.

As upstream's ``endpoint-controller``: for each Service with a selector, the
matching pods with an IP become addresses (``ip``, ``nodeName``, ``targetRef``,
``hostname`` for pods whose subdomain is the service) — ready pods in
``addresses``, the others in ``notReadyAddresses`` (all ready with
``publishNotReadyAddresses``); terminating pods are left out. Ports are resolved
per pod (named target ports from its containers), and addresses with the same
ports share a subset. The Endpoints object has the service's name and labels
(plus ``service.kubernetes.io/headless`` for headless services) and the
``endpoints.kubernetes.io/last-change-trigger-time`` annotation; it is written
only when something changed, and deleted with its service. At most
:data:`MAX_ADDRESSES` addresses are kept, with the ``over-capacity`` annotation
beyond. Services without a selector keep the Endpoints their users write.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from pinnace.api import errors
from pinnace.controllers._service_pods import (
    HEADLESS_LABEL,
    TRIGGER_TIME_ANNOTATION,
    PodServiceMapper,
    belongs_in_endpoints,
    endpoint_ports,
    hostname_of,
    is_headless,
    is_ready,
    pod_ip,
    selector_of,
    sorted_pods,
    target_ref,
    trigger_time,
)
from pinnace.runtime.builder import Builder
from pinnace.runtime.client import Client
from pinnace.runtime.controller import Controller
from pinnace.runtime.controllerutil import get_or_none
from pinnace.runtime.handler import EnqueueRequestForObject, EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import Predicate
from pinnace.runtime.reconcile import Request, Result

__all__ = ["MAX_ADDRESSES", "EndpointsReconciler", "add_endpoints_controller", "desired_subsets"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: Upstream's ``maxCapacity``: addresses beyond are dropped and the object says so.
MAX_ADDRESSES = 1000
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"

#: A deleted Endpoints object is written again if its service still wants it; other changes are not watched.
ONLY_DELETES = Predicate(create=lambda _o: False, update=lambda _o, _n: False, generic=lambda _o: False)


async def add_endpoints_controller(manager: Manager, *, workers: int = 5) -> Controller:
    """Add the Endpoints controller to ``manager``."""
    mapper = PodServiceMapper(await manager.cache.informer_for("v1/Service", wait=False))
    return await (
        Builder(manager)
        .named("endpoints")
        .for_("v1/Service")
        .watches("v1/Pod", EnqueueRequestsFromMapFunc(mapper.requests))
        .watches("v1/Endpoints", EnqueueRequestForObject(), ONLY_DELETES)
        .with_options(max_concurrent_reconciles=workers)
        .complete(EndpointsReconciler(manager.client))
    )


def _address(pod: Obj, service: Obj) -> Obj:
    address: Obj = {"ip": pod_ip(pod)}
    hostname = hostname_of(pod, service)
    if hostname:
        address["hostname"] = hostname
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        address["nodeName"] = node
    address["targetRef"] = target_ref(pod)
    return address


def _port_key(port: Obj) -> tuple[str, int, str]:
    return (str(port.get("name") or ""), int(port["port"]), str(port.get("protocol") or "TCP"))


def desired_subsets(service: Obj, pods: list[Obj]) -> tuple[list[Obj], bool]:
    """The subsets of a service's Endpoints for these pods, and whether some were dropped for capacity."""
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    no_ports = not (service.get("spec") or {}).get("ports")
    groups: dict[tuple[tuple[str, int, str], ...], tuple[list[Obj], list[Obj], list[Obj]]] = {}
    count = 0
    truncated = False
    for pod in sorted_pods(pods):
        if not belongs_in_endpoints(pod, include_terminating=publish_not_ready):
            continue
        ports = endpoint_ports(service, pod)
        if not ports and not (no_ports and is_headless(service)):
            continue
        if count >= MAX_ADDRESSES:
            truncated = True
            break
        count += 1
        ports = sorted(ports, key=_port_key)
        key = tuple(_port_key(p) for p in ports)
        ready, not_ready, _ = groups.setdefault(key, ([], [], ports))
        (ready if publish_not_ready or is_ready(pod) else not_ready).append(_address(pod, service))
    subsets: list[Obj] = []
    for key in sorted(groups):
        ready, not_ready, ports = groups[key]
        subset: Obj = {}
        if ready:
            subset["addresses"] = sorted(ready, key=lambda a: (a["ip"], a["targetRef"].get("uid") or ""))
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: (a["ip"], a["targetRef"].get("uid") or ""))
        if ports:
            subset["ports"] = ports
        subsets.append(subset)
    return subsets, truncated


class EndpointsReconciler:
    """Writes the Endpoints of one Service."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def reconcile(self, request: Request) -> Result:
        """Bring the service's Endpoints in line with its pods (or delete them with the service)."""
        service = await get_or_none(self.client, "v1/Service", request.name, request.namespace)
        if service is None:
            await self._delete(request)
            return Result()
        selector = selector_of(service)
        if selector is None or (service.get("metadata") or {}).get("deletionTimestamp"):
            return Result()
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods = await self.client.list("v1/Pod", request.namespace, label_selector=label_selector)
        subsets, truncated = desired_subsets(service, pods)
        labels = dict((service.get("metadata") or {}).get("labels") or {})
        if is_headless(service):
            labels[HEADLESS_LABEL] = ""
        current = await get_or_none(self.client, "v1/Endpoints", request.name, request.namespace)
        annotations = dict(((current or {}).get("metadata") or {}).get("annotations") or {})
        annotations.pop(OVER_CAPACITY_ANNOTATION, None)
        if truncated:
            annotations[OVER_CAPACITY_ANNOTATION] = "truncated"
        if current is not None:
            cmeta = current.get("metadata") or {}
            same = (
                (current.get("subsets") or []) == subsets
                and (cmeta.get("labels") or {}) == labels
                and (OVER_CAPACITY_ANNOTATION in (cmeta.get("annotations") or {})) == truncated
            )
            if same:
                return Result()
        annotations[TRIGGER_TIME_ANNOTATION] = trigger_time(service, pods)
        meta: Obj = {"name": request.name, "namespace": request.namespace, "labels": labels, "annotations": annotations}
        desired: Obj = {"apiVersion": "v1", "kind": "Endpoints", "metadata": meta, "subsets": subsets}
        if current is None:
            try:
                await self.client.create(desired)
            except errors.AlreadyExists:
                return Result(requeue=True)
            return Result()
        meta["resourceVersion"] = current["metadata"]["resourceVersion"]
        try:
            await self.client.update(desired)
        except errors.Conflict:
            return Result(requeue=True)
        return Result()

    async def _delete(self, request: Request) -> None:
        current = await get_or_none(self.client, "v1/Endpoints", request.name, request.namespace)
        if current is None:
            return
        if ((current.get("metadata") or {}).get("labels") or {}).get("endpointslice.kubernetes.io/skip-mirror"):
            return  # an apiserver-managed object such as the kubernetes service's
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(current)
