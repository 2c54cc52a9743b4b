"""The EndpointSlice controller: a Service's pods, in slices of at most 100 endpoints.

As upstream's ``endpointslice-controller``: for each Service with a selector,
every matching pod with an IP (terminating ones too) becomes an endpoint with
its address, ``conditions`` (``serving``: the pod is Ready; ``terminating``: it
is being deleted; ``ready``: serving and not terminating, or always with
``publishNotReadyAddresses``), ``nodeName``, ``targetRef`` and ``hostname``.
Endpoints whose resolved ports are the same share slices, at most
:data:`MAX_ENDPOINTS_PER_SLICE` each. Slices carry the
``kubernetes.io/service-name`` and ``endpointslice.kubernetes.io/managed-by``
labels, the service's labels, the trigger-time annotation, and an owner
reference to the service (the garbage collector removes them with it). A
service without pods keeps one empty placeholder slice. Existing slices are
reused for the same ports, updated only when they differ; extra ones go.
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
    is_terminating,
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
from pinnace.runtime.handler import EnqueueRequestsFromMapFunc
from pinnace.runtime.manager import Manager
from pinnace.runtime.reconcile import Request, Result

__all__ = [
    "CONTROLLER_NAME",
    "MANAGED_BY_LABEL",
    "MAX_ENDPOINTS_PER_SLICE",
    "SERVICE_NAME_LABEL",
    "EndpointSliceReconciler",
    "add_endpointslice_controller",
    "desired_slices",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

SLICE = "discovery.k8s.io/v1/EndpointSlice"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
#: Upstream's ``--max-endpoints-per-slice`` default.
MAX_ENDPOINTS_PER_SLICE = 100


async def add_endpointslice_controller(
    manager: Manager, *, workers: int = 5, max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE
) -> Controller:
    """Add the EndpointSlice controller to ``manager``."""
    mapper = PodServiceMapper(await manager.cache.informer_for("v1/Service", wait=False))
    return await (
        Builder(manager)
        .named("endpointslice")
        .for_("v1/Service")
        .owns(SLICE)
        .watches("v1/Pod", EnqueueRequestsFromMapFunc(mapper.requests))
        .with_options(max_concurrent_reconciles=workers)
        .complete(EndpointSliceReconciler(manager.client, max_endpoints_per_slice=max_endpoints_per_slice))
    )


def _endpoint(pod: Obj, service: Obj) -> Obj:
    publish_not_ready = bool((service.get("spec") or {}).get("publishNotReadyAddresses"))
    serving, terminating = is_ready(pod), is_terminating(pod)
    endpoint: Obj = {
        "addresses": [pod_ip(pod)],
        "conditions": {
            "ready": publish_not_ready or (serving and not terminating),
            "serving": serving,
            "terminating": terminating,
        },
    }
    hostname = hostname_of(pod, service)
    if hostname:
        endpoint["hostname"] = hostname
    endpoint["targetRef"] = target_ref(pod)
    node = (pod.get("spec") or {}).get("nodeName")
    if node:
        endpoint["nodeName"] = node
    return endpoint


def _slice_port(port: Obj) -> Obj:
    out: Obj = {"name": port.get("name") or "", "port": port["port"], "protocol": port["protocol"]}
    if port.get("appProtocol"):
        out["appProtocol"] = port["appProtocol"]
    return out


def _ports_key(ports: list[Obj]) -> tuple[tuple[str, int, str], ...]:
    return tuple(sorted((str(p.get("name") or ""), int(p["port"]), str(p.get("protocol") or "TCP")) for p in ports))


def desired_slices(service: Obj, pods: list[Obj], max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> list[Obj]:
    """The slices' contents (``ports``, ``endpoints``) for these pods, grouped by ports; one empty if none."""
    groups: dict[tuple[tuple[str, int, str], ...], tuple[list[Obj], list[Obj]]] = {}
    for pod in sorted_pods(pods):
        if not belongs_in_endpoints(pod, include_terminating=True):
            continue
        ports = [_slice_port(p) for p in endpoint_ports(service, pod)]
        if not ports and (service.get("spec") or {}).get("ports"):
            continue
        key = _ports_key(ports)
        _, endpoints = groups.setdefault(key, (sorted(ports, key=lambda p: (p["name"], p["port"])), []))
        endpoints.append(_endpoint(pod, service))
    out: list[Obj] = []
    for key in sorted(groups):
        ports, endpoints = groups[key]
        for start in range(0, len(endpoints), max_per_slice):
            out.append({"ports": ports, "endpoints": endpoints[start : start + max_per_slice]})
    return out or [{"ports": [], "endpoints": []}]


class EndpointSliceReconciler:
    """Writes the EndpointSlices of one Service."""

    def __init__(self, client: Client, *, max_endpoints_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> None:
        self.client = client
        self.max_per_slice = max_endpoints_per_slice
        #: Per service: the slices this controller wrote (name -> resourceVersion, None: deleted) that the
        #: cache must show before the service is looked at again (upstream's endpointSliceTracker).
        self._written: dict[tuple[str, str], dict[str, int | None]] = {}

    def _cache_is_stale(self, key: tuple[str, str], slices: list[Obj]) -> bool:
        written = self._written.get(key)
        if not written:
            return False
        seen = {s["metadata"]["name"]: int(s["metadata"].get("resourceVersion") or 0) for s in slices}
        for name, version in written.items():
            if version is None and name in seen:
                return True
            if version is not None and seen.get(name, -1) < version:
                return True
        del self._written[key]
        return False

    def _wrote(self, key: tuple[str, str], obj: Obj | None, name: str) -> None:
        version = int(obj["metadata"]["resourceVersion"]) if obj is not None else None
        self._written.setdefault(key, {})[name] = version

    async def reconcile(self, request: Request) -> Result:
        """Create, update and delete the service's slices until they list its pods."""
        service = await get_or_none(self.client, "v1/Service", request.name, request.namespace)
        if service is None:
            return Result()  # its slices are owned by it: the garbage collector takes them
        selector = selector_of(service)
        if selector is None or (service.get("metadata") or {}).get("deletionTimestamp"):
            return Result()
        label_selector = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
        pods = await self.client.list("v1/Pod", request.namespace, label_selector=label_selector)
        existing = await self.client.list(
            SLICE,
            request.namespace,
            label_selector=f"{SERVICE_NAME_LABEL}={request.name},{MANAGED_BY_LABEL}={CONTROLLER_NAME}",
        )
        key = (request.namespace, request.name)
        if self._cache_is_stale(key, existing):
            return Result(requeue_after=0.05)
        smeta = service.get("metadata") or {}
        existing = [s for s in existing if _owned_by(s, str(smeta.get("uid") or ""))]
        labels = dict(smeta.get("labels") or {})
        labels.update({SERVICE_NAME_LABEL: request.name, MANAGED_BY_LABEL: CONTROLLER_NAME})
        if is_headless(service):
            labels[HEADLESS_LABEL] = ""
        families = (service.get("spec") or {}).get("ipFamilies") or ["IPv4"]
        address_type = str(families[0])
        trigger = trigger_time(service, pods)
        conflict = False
        unused = sorted(existing, key=lambda s: str((s.get("metadata") or {}).get("name") or ""))
        for content in desired_slices(service, pods, self.max_per_slice):
            # A slice's addressType never changes (the API refuses it): one of another type is replaced, not updated.
            match = next(
                (
                    s
                    for s in unused
                    if s.get("addressType") == address_type
                    and _ports_key(s.get("ports") or []) == _ports_key(content["ports"])
                ),
                None,
            )
            if match is None:
                created = await self.client.create(_new_slice(service, labels, address_type, content, trigger))
                self._wrote(key, created, created["metadata"]["name"])
                continue
            unused.remove(match)
            if _same(match, labels, address_type, content):
                continue
            updated = {**match, **content, "addressType": address_type}
            updated["metadata"] = {**match["metadata"], "labels": labels}
            updated["metadata"]["annotations"] = {
                **(match["metadata"].get("annotations") or {}),
                TRIGGER_TIME_ANNOTATION: trigger,
            }
            try:
                self._wrote(key, await self.client.update(updated), match["metadata"]["name"])
            except (errors.Conflict, errors.NotFound):
                conflict = True
        for extra in unused:
            with contextlib.suppress(errors.NotFound):
                await self.client.delete(extra)
            self._wrote(key, None, extra["metadata"]["name"])
        return Result(requeue=conflict)


def _owned_by(slice_: Obj, uid: str) -> bool:
    refs = (slice_.get("metadata") or {}).get("ownerReferences") or []
    return any(r.get("uid") == uid and r.get("controller") for r in refs)


def _same(current: Obj, labels: dict[str, str], address_type: str, content: Obj) -> bool:
    return (
        current.get("addressType") == address_type
        and (current.get("endpoints") or []) == content["endpoints"]
        and (current.get("ports") or []) == content["ports"]
        and ((current.get("metadata") or {}).get("labels") or {}) == labels
    )


def _new_slice(service: Obj, labels: dict[str, str], address_type: str, content: Obj, trigger: str) -> Obj:
    smeta = service.get("metadata") or {}
    owner = {
        "apiVersion": "v1",
        "kind": "Service",
        "name": smeta.get("name"),
        "uid": smeta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": f"{smeta.get('name')}-",
            "namespace": smeta.get("namespace"),
            "labels": labels,
            "annotations": {TRIGGER_TIME_ANNOTATION: trigger},
            "ownerReferences": [owner],
        },
        "addressType": address_type,
        **content,
    }
