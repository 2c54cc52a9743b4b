"""The node's registration and heartbeats: the Node object, its Lease and its status, at upstream's intervals.

:class:`NodeRegistration` creates the Node (or, when it exists, brings its
labels, addresses and status up to date, as the kubelet's
``tryRegisterWithAPIServer`` does), keeps its Lease in ``kube-node-lease``
renewed every ``heartbeat_interval`` (10 s of a 40 s lease), measures the host
every ``status_update_frequency`` (10 s) and posts the status when it changed
(a condition flipped, capacity moved) and at least every
``status_report_frequency`` (5 min, nodeStatusReportFrequency) — or at once
when someone else changed the conditions (the node lifecycle controller
marking the node Unknown after a pause).

The agent's own annotations (:attr:`NodeRegistration.annotations`: the
local-path root the provisioner makes this node's volumes under) go on the
Node at creation and again whenever an existing Node is taken over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.node.agent import host
from pinnace.node.simstatus import NODE_LEASE_NAMESPACE, lease_object, rfc3339_micro
from pinnace.runtime.clock import Clock

__all__ = ["NodeRegistration", "parse_labels", "parse_taints"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
NODES = ResourceRef("", "v1", "nodes", namespaced=False)
LEASES = ResourceRef("coordination.k8s.io", "v1", "leases")
NAMESPACES = ResourceRef("", "v1", "namespaces", namespaced=False)


def parse_labels(text: str) -> dict[str, str]:
    """``k=v,k2=v2`` (the kubelet's --node-labels)."""
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ValueError(f"invalid label {part!r}: want key=value")
        out[key] = value
    return out


def parse_taints(text: str) -> list[dict[str, Any]]:
    """``key=value:Effect,key:Effect`` (the kubelet's --register-with-taints)."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        head, sep, effect = part.rpartition(":")
        if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ValueError(f"invalid taint {part!r}: want key[=value]:NoSchedule|PreferNoSchedule|NoExecute")
        key, _, value = head.partition("=")
        taint: dict[str, Any] = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        out.append(taint)
    return out


def _essence(status: Obj) -> Obj:
    """What of a node status counts as a change (not heartbeat times)."""
    return {
        "capacity": status.get("capacity"),
        "allocatable": status.get("allocatable"),
        "conditions": sorted((c.get("type"), c.get("status"), c.get("reason")) for c in status.get("conditions") or []),
        "addresses": status.get("addresses"),
    }


class NodeRegistration:
    """Registers one Node and keeps its Lease and status fresh (see the module docstring)."""

    def __init__(
        self,
        rest: RestClient,
        name: str,
        *,
        data_dir: Path,
        internal_ip: str,
        kubelet_port: int,
        runtime_version: str,
        labels: Mapping[str, str],
        taints: Sequence[Obj],
        clock: Clock,
        annotations: Mapping[str, str] | None = None,
        pod_cidr: str = "",
        heartbeat_interval: float = 10.0,
        lease_duration: int = 40,
        status_update_frequency: float = 10.0,
        status_report_frequency: float = 300.0,
    ) -> None:
        self.rest = rest
        self.name = name
        self.data_dir = data_dir
        self.internal_ip = internal_ip
        self.kubelet_port = kubelet_port
        self.runtime_version = runtime_version
        self.labels = dict(labels)
        self.taints = list(taints)
        #: Annotations the agent publishes on its Node (set at every registration, kept on re-registration).
        self.annotations = dict(annotations or {})
        self.wanted_pod_cidr = pod_cidr
        self.clock = clock
        self.heartbeat_interval = heartbeat_interval
        self.lease_duration = lease_duration
        self.status_update_frequency = status_update_frequency
        self.status_report_frequency = status_report_frequency
        self.node: Obj = {}
        self.facts = host.measure(data_dir)
        self._posted: Obj = {}
        self._posted_at = -1e18

    @property
    def allocatable(self) -> dict[str, str]:
        """The node's allocatable resources (for resourceFieldRef defaults)."""
        return dict((self.node.get("status") or {}).get("allocatable") or {})

    @property
    def pod_cidr(self) -> str:
        """The Node's spec.podCIDR ("" until the node IPAM controller sets one)."""
        return str((self.node.get("spec") or {}).get("podCIDR") or "")

    def _status(self, previous: Sequence[Obj] = ()) -> Obj:
        return host.node_status(
            self.facts,
            internal_ip=self.internal_ip,
            hostname=self.name,
            kubelet_port=self.kubelet_port,
            runtime_version=self.runtime_version,
            now=self.clock.wall(),
            previous=previous,
        )

    async def register(self) -> Obj:
        """Create or update the Node and create its Lease; the Node as the server has it."""
        status = self._status()
        body = host.node_object(self.name, status, labels=self.labels, taints=self.taints, annotations=self.annotations)
        if self.wanted_pod_cidr:
            body["spec"].update(podCIDR=self.wanted_pod_cidr, podCIDRs=[self.wanted_pod_cidr])
        try:
            self.node = await self.rest.create(NODES, body)
            log.info("node %s registered", self.name)
        except errors.AlreadyExists:
            existing = await self.rest.get(NODES, self.name)
            patch: Obj = {"metadata": {"labels": body["metadata"]["labels"]}}
            if self.annotations:
                patch["metadata"]["annotations"] = self.annotations
            if self.wanted_pod_cidr and not (existing.get("spec") or {}).get("podCIDR"):
                patch["spec"] = {"podCIDR": self.wanted_pod_cidr, "podCIDRs": [self.wanted_pod_cidr]}
            await self.rest.patch(NODES, self.name, patch)
            previous = (existing.get("status") or {}).get("conditions") or []
            status = self._status(previous)
            self.node = await self.rest.patch(NODES, self.name, {"status": status}, subresource="status")
            log.info("node %s already registered: updated", self.name)
        if not (self.node.get("status") or {}).get("conditions"):  # a server that drops status on create
            self.node = await self.rest.patch(NODES, self.name, {"status": status}, subresource="status")
        self._posted, self._posted_at = _essence(status), self.clock.now()
        # The API server makes kube-node-lease; a server that did not gets it here if this node may create it.
        with contextlib.suppress(errors.AlreadyExists, errors.Forbidden):
            try:
                await self.rest.get(NAMESPACES, NODE_LEASE_NAMESPACE)
            except errors.NotFound:
                await self.rest.create(NAMESPACES, {"metadata": {"name": NODE_LEASE_NAMESPACE}})
        await self.renew()
        return self.node

    async def renew(self) -> None:
        """Renew the node's Lease (creating it, owned by the Node, when missing)."""
        now = self.clock.wall()
        try:
            await self.rest.patch(
                LEASES,
                self.name,
                {"spec": {"renewTime": rfc3339_micro(now), "holderIdentity": self.name}},
                NODE_LEASE_NAMESPACE,
            )
        except errors.NotFound:
            body = lease_object(self.node, duration=self.lease_duration, now=now)
            with contextlib.suppress(errors.AlreadyExists):
                await self.rest.create(LEASES, body, NODE_LEASE_NAMESPACE)

    async def update_status(self) -> bool:
        """Measure the host and post the status if it changed or is due; whether it was posted."""
        self.facts = await asyncio.to_thread(host.measure, self.data_dir)
        current = await self.rest.get(NODES, self.name)
        self.node = current
        previous = (current.get("status") or {}).get("conditions") or []
        status = self._status(previous)
        due = self.clock.now() - self._posted_at >= self.status_report_frequency
        foreign = _essence({**(current.get("status") or {})}) != self._posted
        if not due and not foreign and _essence(status) == self._posted:
            return False
        self.node = await self.rest.patch(NODES, self.name, {"status": status}, subresource="status")
        self._posted, self._posted_at = _essence(status), self.clock.now()
        return True

    async def run(self) -> None:
        """Heartbeat and post status until cancelled (register first)."""
        lease = asyncio.create_task(self._loop(self.heartbeat_interval, self.renew, "lease"), name="node lease")
        status = asyncio.create_task(
            self._loop(self.status_update_frequency, self.update_status, "status"), name="node status"
        )
        try:
            await asyncio.gather(lease, status)
        finally:
            lease.cancel()
            status.cancel()
            await asyncio.gather(lease, status, return_exceptions=True)

    async def _loop(self, interval: float, action: Any, what: str) -> None:
        while True:
            await self.clock.sleep(interval)
            try:
                await action()
            except errors.NotFound:
                log.warning("node %s: the Node is gone; registering it again", self.name)
                with contextlib.suppress(Exception):
                    await self.register()
            except Exception as exc:
                log.warning("node %s: %s update failed: %r", self.name, what, exc)
