"""Service storage: cluster IPs and node ports allocated as a Service is written, as upstream's REST storage.

:class:`ServiceStorage` hooks into the generic REST store (``RestStore.hooks``)
for Services:

* **create** — IP families are settled (``ipFamilyPolicy`` SingleStack and the
  cluster's family unless asked otherwise; headless services without a selector
  RequireDualStack, as upstream), a cluster IP is allocated (the requested one,
  or a free one) unless the service is headless or ExternalName, and node ports
  for NodePort and LoadBalancer services (and the health-check node port of a
  LoadBalancer with ``externalTrafficPolicy: Local``);
* **update** — values the client left out are kept, a type change allocates or
  releases what the new type needs, ports that are no longer used are released
  once the write succeeded;
* **delete** — everything the service held is released.

If the write fails after the allocation, the allocation is undone. If the server
dies in between, the value is taken in the store but used by no Service: the
:meth:`ServiceStorage.repair` pass (run at start and periodically) counts such
leaks and releases a value once it has been seen unused by
:data:`LEAK_REPAIRS` passes in a row (upstream's repair controllers do the same,
so that a create in flight on another server is not robbed of its value), and
adds values Services use that the range lost.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from pinnace.api import errors
from pinnace.api.validation.field import go_value
from pinnace.apiserver.ipalloc import (
    AllocatedError,
    IPRange,
    NotInRangeError,
    PortRange,
    RangeAllocator,
    RangeFullError,
)
from pinnace.storage import Store

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_NODE_PORT_RANGE",
    "DEFAULT_SERVICE_CIDR",
    "LEAK_REPAIRS",
    "ServiceStorage",
]

Obj = dict[str, Any]
#: Commits (True) or undoes (False) a begin-hook's allocations once the write's outcome is known.
Finish = Callable[[bool], Awaitable[None]]

#: kube-apiserver's default ``--service-cluster-ip-range`` (kubeadm's too).
DEFAULT_SERVICE_CIDR = "10.96.0.0/12"
#: kube-apiserver's default ``--service-node-port-range``.
DEFAULT_NODE_PORT_RANGE = "30000-32767"
#: Repair passes a value must be seen unused in before it is released (upstream ``numRepairsBeforeLeakCleanup``).
LEAK_REPAIRS = 3

SERVICES_PREFIX = "/registry/core/services/"
SERVICE_IPS_KEY = "/registry/ranges/serviceips"
NODE_PORTS_KEY = "/registry/ranges/servicenodeports"

_NODE_PORT_TYPES = ("NodePort", "LoadBalancer")


def _spec(obj: Obj) -> Obj:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = obj["spec"] = {}
    return spec


def _ports(spec: Obj) -> list[Obj]:
    return [p for p in spec.get("ports") or [] if isinstance(p, dict)]


def needs_cluster_ip(spec: Obj) -> bool:
    """Whether the service gets a cluster IP (not ExternalName, not headless)."""
    return spec.get("type") != "ExternalName" and spec.get("clusterIP") != "None"


def needs_node_ports(spec: Obj) -> bool:
    """Whether unset node ports are allocated (NodePort, and LoadBalancer unless allocation is off)."""
    type_ = spec.get("type")
    return type_ == "NodePort" or (type_ == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is not False)


def needs_health_check_port(spec: Obj) -> bool:
    """Whether the service gets a health-check node port (LoadBalancer with local traffic policy)."""
    return spec.get("type") == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def cluster_ips(spec: Obj) -> list[str]:
    """The service's cluster IPs, headless "None" excluded."""
    ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    return [str(ip) for ip in ips if ip and ip != "None"]


def node_ports(spec: Obj) -> set[str]:
    """Every node port the service holds (health check included)."""
    held = {str(p["nodePort"]) for p in _ports(spec) if p.get("nodePort")}
    if spec.get("healthCheckNodePort"):
        held.add(str(spec["healthCheckNodePort"]))
    return held


def _invalid(name: str, path: str, value: Any, message: str) -> errors.StatusError:
    cause = errors.Cause(errors.CAUSE_INVALID, f"Invalid value: {go_value(value)}: {message}", path)
    return errors.invalid("Service", name, [cause])


def _forbidden(name: str, path: str, message: str) -> errors.StatusError:
    return errors.invalid("Service", name, [errors.Cause("FieldValueForbidden", f"Forbidden: {message}", path)])


class _Allocation:
    """What one write allocated, to undo on failure or complete with releases on success."""

    def __init__(self, storage: ServiceStorage, dry_run: bool) -> None:
        self.storage = storage
        self.dry_run = dry_run
        self.ips: list[str] = []
        self.ports: list[str] = []
        self.release_ips: list[str] = []
        self.release_ports: list[str] = []

    async def ip(self, value: str | None) -> str:
        return await self._take(self.storage.ips, value, self.ips)

    async def port(self, value: str | None) -> str:
        return await self._take(self.storage.ports, value, self.ports)

    async def _take(self, allocator: RangeAllocator, value: str | None, taken: list[str]) -> str:
        if value:
            got = await allocator.allocate(value, dry_run=self.dry_run)
        else:
            got = await allocator.allocate_next(dry_run=self.dry_run)
        if not self.dry_run:
            taken.append(got)
        return got

    async def finish(self, success: bool) -> None:
        if self.dry_run:
            return
        if success:
            await self.storage.ips.release(self.release_ips)
            await self.storage.ports.release(self.release_ports)
        else:
            await self.storage.ips.release(self.ips)
            await self.storage.ports.release(self.ports)


class ServiceStorage:
    """The allocation hooks of Services, and the repair of their ranges (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        service_cidr: str = DEFAULT_SERVICE_CIDR,
        node_port_range: str = DEFAULT_NODE_PORT_RANGE,
    ) -> None:
        self.store = store
        self.ip_range = IPRange.parse(service_cidr)
        self.port_range = PortRange.parse(node_port_range)
        self.ips = RangeAllocator(store, SERVICE_IPS_KEY, self.ip_range)
        self.ports = RangeAllocator(store, NODE_PORTS_KEY, self.port_range)
        self._leaks: dict[str, dict[int, int]] = {SERVICE_IPS_KEY: {}, NODE_PORTS_KEY: {}}

    @property
    def kubernetes_service_ip(self) -> str:
        """The first IP of the range, which the ``kubernetes`` Service holds."""
        return self.ip_range.value(0)

    # ---- hooks --------------------------------------------------------------------------------------
    async def begin_create(self, obj: Obj, *, dry_run: bool) -> Finish:
        """Settle IP families and allocate what a new service needs; the returned finish undoes on failure."""
        name = str((obj.get("metadata") or {}).get("name") or "")
        spec = _spec(obj)
        self._settle_families(name, spec)
        self._check_node_ports_allowed(name, spec)
        alloc = _Allocation(self, dry_run)
        try:
            if needs_cluster_ip(spec):
                await self._allocate_cluster_ip(name, spec, alloc)
            await self._allocate_node_ports(name, spec, alloc, old=None)
        except BaseException:
            await alloc.finish(False)
            raise
        return alloc.finish

    async def begin_update(self, new: Obj, old: Obj, *, dry_run: bool) -> Finish:
        """Keep, allocate and release as the updated service needs; the returned finish commits or undoes."""
        name = str((new.get("metadata") or {}).get("name") or "")
        spec, old_spec = _spec(new), _spec(old)
        _drop_type_dependent_fields(spec, old_spec)
        _keep_allocated_node_ports(spec, old_spec)
        if needs_cluster_ip(spec) and needs_cluster_ip(old_spec):
            for key in ("ipFamilies", "ipFamilyPolicy"):
                if not spec.get(key) and old_spec.get(key):
                    spec[key] = old_spec[key]
        self._settle_families(name, spec)
        self._check_node_ports_allowed(name, spec)
        alloc = _Allocation(self, dry_run)
        try:
            if needs_cluster_ip(spec) and not cluster_ips(old_spec):
                await self._allocate_cluster_ip(name, spec, alloc)
            await self._allocate_node_ports(name, spec, alloc, old=old_spec)
        except BaseException:
            await alloc.finish(False)
            raise
        alloc.release_ips = [ip for ip in cluster_ips(old_spec) if ip not in cluster_ips(spec)]
        alloc.release_ports = sorted(node_ports(old_spec) - node_ports(spec))
        return alloc.finish

    async def after_delete(self, obj: Obj) -> None:
        """Release everything a deleted service held."""
        spec = _spec(obj)
        await self.ips.release(cluster_ips(spec))
        await self.ports.release(node_ports(spec))

    # ---- allocation ---------------------------------------------------------------------------------
    def _settle_families(self, name: str, spec: Obj) -> None:
        """Upstream's ``initIPFamilyFields`` for a single-stack cluster, and its pre-validation."""
        if spec.get("type") == "ExternalName":
            for key in ("clusterIP", "clusterIPs"):
                if spec.get(key):
                    raise _forbidden(name, f"spec.{key}", "may not be set for ExternalName services")
            spec.pop("ipFamilies", None)
            spec.pop("ipFamilyPolicy", None)
            return
        ip, ips = spec.get("clusterIP"), spec.get("clusterIPs")
        if ip and not ips:
            spec["clusterIPs"] = ips = [ip]
        elif ips and not ip:
            spec["clusterIP"] = ip = ips[0]
        elif ip and ips and ips[0] != ip:
            raise _invalid(name, "spec.clusterIPs", ips, "element [0] must match clusterIP")
        family = self.ip_range.family
        headless_no_selector = ip == "None" and not spec.get("selector")
        policy = spec.get("ipFamilyPolicy")
        if policy is None:
            policy = spec["ipFamilyPolicy"] = "RequireDualStack" if headless_no_selector else "SingleStack"
        elif policy not in ("SingleStack", "PreferDualStack", "RequireDualStack"):
            raise errors.invalid(
                "Service",
                name,
                [
                    errors.Cause(
                        errors.CAUSE_NOT_SUPPORTED,
                        f'Unsupported value: {go_value(policy)}: supported values: "PreferDualStack", '
                        '"RequireDualStack", "SingleStack"',
                        "spec.ipFamilyPolicy",
                    )
                ],
            )
        families = list(spec.get("ipFamilies") or [])
        if ips and ips != ["None"] and not families:
            families = [self._family_of(name, 0, str(ips[0]))]
        if not families:
            families = [family]
        if headless_no_selector:
            if policy == "RequireDualStack" and len(families) == 1:
                families.append("IPv6" if families[0] == "IPv4" else "IPv4")
            spec["ipFamilies"] = families
            return
        if policy == "RequireDualStack":
            raise _invalid(
                name, "spec.ipFamilyPolicy", policy, "this cluster is not configured for dual-stack services"
            )
        for i, fam in enumerate(families):
            if fam not in ("IPv4", "IPv6"):
                raise errors.invalid(
                    "Service",
                    name,
                    [
                        errors.Cause(
                            errors.CAUSE_NOT_SUPPORTED,
                            f'Unsupported value: {go_value(fam)}: supported values: "IPv4", "IPv6"',
                            f"spec.ipFamilies[{i}]",
                        )
                    ],
                )
            if fam != family:
                raise _invalid(name, f"spec.ipFamilies[{i}]", fam, "not configured on this cluster")
        if len(families) > 1 and policy == "SingleStack":
            raise _invalid(name, "spec.ipFamilies", families, "when `ipFamilyPolicy` is SingleStack, may hold 1 value")
        spec["ipFamilies"] = families[:1]
        if ips and ips != ["None"]:
            if len(ips) > 1:
                raise _invalid(name, "spec.clusterIPs", ips, "may only hold up to 1 values on a single-stack cluster")
            if self._family_of(name, 0, str(ips[0])) != family:
                raise _invalid(
                    name, "spec.clusterIPs[0]", ips[0], f"expected an {family} value as indicated by `ipFamilies[0]`"
                )

    def _family_of(self, name: str, index: int, ip: str) -> str:
        try:
            return f"IPv{ipaddress.ip_address(ip).version}"
        except ValueError:
            raise _invalid(
                name,
                f"spec.clusterIPs[{index}]",
                ip,
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ) from None

    async def _allocate_cluster_ip(self, name: str, spec: Obj, alloc: _Allocation) -> None:
        requested = spec.get("clusterIP") or None
        if requested:
            self._family_of(name, 0, str(requested))
        try:
            ip = await alloc.ip(str(requested) if requested else None)
        except (AllocatedError, NotInRangeError) as exc:
            wanted = spec.get("clusterIPs") or [requested]
            raise _invalid(name, "spec.clusterIPs", wanted, f"failed to allocate IP {requested}: {exc}") from None
        except RangeFullError as exc:
            raise errors.InternalError(f"failed to allocate a serviceIP: {exc}") from None
        spec["clusterIP"] = ip
        spec["clusterIPs"] = [ip]

    def _check_node_ports_allowed(self, name: str, spec: Obj) -> None:
        if spec.get("type") in _NODE_PORT_TYPES:
            return
        for i, port in enumerate(_ports(spec)):
            if port.get("nodePort"):
                type_ = spec.get("type") or "ClusterIP"
                raise _forbidden(name, f"spec.ports[{i}].nodePort", f"may not be used when `type` is '{type_}'")

    async def _allocate_node_ports(self, name: str, spec: Obj, alloc: _Allocation, *, old: Obj | None) -> None:
        held = node_ports(old) if old is not None and old.get("type") in _NODE_PORT_TYPES else set()
        if spec.get("type") in _NODE_PORT_TYPES:
            by_port: dict[int, int] = {}  # the same port for two protocols shares its node port
            mine: set[str] = set()
            for i, port in enumerate(_ports(spec)):
                wanted = port.get("nodePort")
                if not wanted and not needs_node_ports(spec):
                    continue
                if not wanted and port.get("port") in by_port:
                    port["nodePort"] = by_port[port["port"]]
                    continue
                if wanted and (str(wanted) in held or str(wanted) in mine):
                    by_port.setdefault(port.get("port"), wanted)  # type: ignore[arg-type]
                    continue
                value = await self._node_port(name, f"spec.ports[{i}].nodePort", wanted, alloc)
                port["nodePort"] = value
                mine.add(str(value))
                by_port.setdefault(port.get("port"), value)  # type: ignore[arg-type]
        if needs_health_check_port(spec):
            wanted = spec.get("healthCheckNodePort")
            if not (wanted and str(wanted) in held):
                spec["healthCheckNodePort"] = await self._node_port(name, "spec.healthCheckNodePort", wanted, alloc)
        elif spec.get("healthCheckNodePort") and old is not None and not needs_health_check_port(old):
            raise _invalid(
                name,
                "spec.healthCheckNodePort",
                spec["healthCheckNodePort"],
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
            )

    async def _node_port(self, name: str, path: str, wanted: Any, alloc: _Allocation) -> int:
        try:
            return int(await alloc.port(str(wanted) if wanted else None))
        except (AllocatedError, NotInRangeError) as exc:
            raise _invalid(name, path, wanted, str(exc)) from None
        except RangeFullError as exc:
            raise errors.InternalError(f"failed to allocate a nodePort: {exc}") from None

    # ---- repair -------------------------------------------------------------------------------------
    async def in_use(self) -> tuple[set[str], set[str]]:
        """The cluster IPs and node ports the stored Services hold."""
        ips: set[str] = set()
        ports: set[str] = set()
        start_after: str | None = None
        revision: int | None = None
        while True:
            page = await self.store.range(SERVICES_PREFIX, revision, 500, start_after)
            revision = page.revision
            for kv in page.items:
                spec = orjson.loads(kv.value).get("spec") or {}
                ips.update(cluster_ips(spec))
                ports.update(node_ports(spec))
            if not page.more or not page.items:
                return ips, ports
            start_after = page.items[-1].key

    async def repair(self) -> None:
        """Re-derive both ranges from the stored Services: add what they use, release leaks seen often enough."""
        ips, ports = await self.in_use()
        for allocator, values in ((self.ips, ips), (self.ports, ports)):
            used = {o for o in (allocator.range.offset(v) for v in values) if o is not None}
            counts = self._leaks[allocator.key]

            def change(taken: set[int], used: set[int] = used, counts: dict[int, int] = counts) -> set[int]:
                leaked = taken - used
                for offset in list(counts):
                    if offset not in leaked:
                        del counts[offset]
                keep = set()
                for offset in leaked:
                    counts[offset] = counts.get(offset, 0) + 1
                    if counts[offset] < LEAK_REPAIRS:
                        keep.add(offset)
                    else:
                        del counts[offset]
                return used | keep

            before = await allocator.taken()
            after = await allocator.reconcile(change)
            if after != before:
                log.info(
                    "repaired %s: %d value(s) added, %d leaked value(s) released",
                    allocator.name,
                    len(after - before),
                    len(before - after),
                )


def _drop_type_dependent_fields(spec: Obj, old_spec: Obj) -> None:
    """Upstream's ``dropTypeDependentFields``: what the old type needed and the client left as it was goes."""
    if needs_cluster_ip(old_spec) and spec.get("type") == "ExternalName":
        if cluster_ips(spec) == cluster_ips(old_spec):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if spec.get("ipFamilies") == old_spec.get("ipFamilies"):
            spec.pop("ipFamilies", None)
        if spec.get("ipFamilyPolicy") == old_spec.get("ipFamilyPolicy"):
            spec.pop("ipFamilyPolicy", None)
    same_ports = [p.get("nodePort") for p in _ports(spec)] == [p.get("nodePort") for p in _ports(old_spec)]
    if old_spec.get("type") in _NODE_PORT_TYPES and spec.get("type") not in _NODE_PORT_TYPES and same_ports:
        for port in _ports(spec):
            port.pop("nodePort", None)
    if not needs_health_check_port(spec) and spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
        spec.pop("healthCheckNodePort", None)


def _keep_allocated_node_ports(spec: Obj, old_spec: Obj) -> None:
    """Upstream's ``patchAllocatedValues`` for node ports: a port the client left unset keeps its old one, by name."""
    if not (needs_node_ports(old_spec) and needs_node_ports(spec)):
        if needs_health_check_port(old_spec) and needs_health_check_port(spec):
            spec.setdefault("healthCheckNodePort", old_spec.get("healthCheckNodePort"))
        return
    used_new = {p.get("nodePort") for p in _ports(spec) if p.get("nodePort")}
    by_name = {p.get("name") or "": p.get("nodePort") for p in _ports(old_spec)}
    for port in _ports(spec):
        if not port.get("nodePort"):
            old_value = by_name.get(port.get("name") or "")
            if old_value and old_value not in used_new:
                port["nodePort"] = old_value
    if needs_health_check_port(old_spec) and needs_health_check_port(spec) and not spec.get("healthCheckNodePort"):
        spec["healthCheckNodePort"] = old_spec.get("healthCheckNodePort")
