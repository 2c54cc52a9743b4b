"""Where an Ingress backend's requests go: a Service port → the ready endpoints of its EndpointSlices.

An ``IngressBackend`` names a Service in the Ingress's namespace and one of its ports, by number or by name
(``service.port.number`` / ``service.port.name``), or a ``resource`` (an object of another kind, which this
controller does not serve). :class:`BackendResolver` turns it into an :class:`Upstream`:

- the Service's matching port; the EndpointSlices labelled ``kubernetes.io/service-name: <service>`` in the same
  namespace; in each, the port of the same name (the EndpointSlice controller names slice ports after the Service's
  ports, ``""`` for an unnamed one), or else the one whose number is the Service port's numeric ``targetPort``;
  the endpoints whose ``conditions.ready`` is not false, first address each, deduplicated and in a stable order;
- an ``ExternalName`` Service: its external name at the backend's port number (or the Service port's);
- otherwise no target, and a :attr:`Upstream.problem` saying why (the proxy answers 503 with it).

Pure functions of API objects: the routing table is built from them in one pass.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["SERVICE_NAME_LABEL", "BackendResolver", "Target", "Upstream"]

Obj = dict[str, Any]

#: The label that ties an EndpointSlice to its Service.
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True, slots=True)
class Target:
    """One place a request can go: an IP address (or DNS name) and a port."""

    host: str
    port: int

    @property
    def authority(self) -> str:
        """``host:port`` for a URL (an IPv6 address in brackets)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Upstream:
    """A resolved backend: its name (``namespace/service:port``), its targets, and why it has none."""

    name: str
    targets: tuple[Target, ...] = ()
    problem: str = ""


def _slice_port(eps: Obj, port_name: str, target_port: int | None) -> int | None:
    """The number of the slice's TCP port that carries the Service port (by name, else by target port number)."""
    ports = [p for p in eps.get("ports") or [] if str(p.get("protocol") or "TCP") == "TCP" and p.get("port")]
    for p in ports:
        if str(p.get("name") or "") == port_name:
            return int(p["port"])
    for p in ports:
        if target_port is not None and int(p["port"]) == target_port:
            return target_port
    return None


def _address_order(target: Target) -> tuple[int, Any, int]:
    try:
        address = ipaddress.ip_address(target.host)
    except ValueError:
        return 2, target.host, target.port
    return address.version - 4, int(address), target.port


class BackendResolver:
    """Resolves Ingress backends against one snapshot of Services and EndpointSlices (each backend once)."""

    def __init__(self, services: Iterable[Obj], slices: Iterable[Obj]) -> None:
        self._services: dict[tuple[str, str], Obj] = {}
        for service in services:
            meta = service.get("metadata") or {}
            self._services[(str(meta.get("namespace") or ""), str(meta.get("name") or ""))] = service
        self._slices: dict[tuple[str, str], list[Obj]] = defaultdict(list)
        for eps in slices:
            meta = eps.get("metadata") or {}
            owner = (meta.get("labels") or {}).get(SERVICE_NAME_LABEL)
            if owner:
                self._slices[(str(meta.get("namespace") or ""), str(owner))].append(eps)
        self._resolved: dict[str, Upstream] = {}

    def resolve(self, namespace: str, backend: Obj) -> Upstream:
        """The upstream of ``backend`` (an ``IngressBackend``) of an Ingress in ``namespace``."""
        service_ref = backend.get("service")
        if not isinstance(service_ref, dict):
            resource = backend.get("resource") or {}
            kind, name = resource.get("kind") or "?", resource.get("name") or "?"
            return Upstream(
                f"{namespace}/{kind}/{name}",
                problem=f'resource backend {kind} "{namespace}/{name}" is not supported by this ingress controller',
            )
        port_ref = service_ref.get("port") or {}
        number = port_ref.get("number")
        port_key = str(number) if number is not None else str(port_ref.get("name") or "")
        name = f"{namespace}/{service_ref.get('name') or ''}:{port_key}"
        if name not in self._resolved:
            self._resolved[name] = self._resolve_service(name, namespace, str(service_ref.get("name") or ""), port_ref)
        return self._resolved[name]

    def _resolve_service(self, upstream: str, namespace: str, service_name: str, port_ref: Obj) -> Upstream:
        service = self._services.get((namespace, service_name))
        if service is None:
            return Upstream(upstream, problem=f'service "{namespace}/{service_name}" not found')
        spec = service.get("spec") or {}
        number, port_name = port_ref.get("number"), port_ref.get("name")
        port = next(
            (
                p
                for p in spec.get("ports") or []
                if (number is not None and p.get("port") == number) or (port_name and p.get("name") == port_name)
            ),
            None,
        )
        if spec.get("type") == "ExternalName":
            external = str(spec.get("externalName") or "").rstrip(".")
            external_port = number if number is not None else (port or {}).get("port")
            if not external or not external_port:
                return Upstream(upstream, problem=f'ExternalName service "{namespace}/{service_name}" has no address')
            return Upstream(upstream, (Target(external, int(external_port)),))
        if port is None:
            wanted = number if number is not None else port_name
            return Upstream(upstream, problem=f'service "{namespace}/{service_name}" has no port {wanted}')
        target_port = port.get("targetPort", port.get("port"))
        numeric_target = target_port if isinstance(target_port, int) else None
        targets: set[Target] = set()
        for eps in self._slices.get((namespace, service_name), []):
            if eps.get("addressType") not in ("IPv4", "IPv6", "FQDN"):
                continue
            slice_port = _slice_port(eps, str(port.get("name") or ""), numeric_target)
            if slice_port is None:
                continue
            for endpoint in eps.get("endpoints") or []:
                addresses = endpoint.get("addresses") or []
                if addresses and (endpoint.get("conditions") or {}).get("ready") is not False:
                    targets.add(Target(str(addresses[0]), slice_port))
        if not targets:
            return Upstream(upstream, problem=f'service "{namespace}/{service_name}" has no ready endpoints')
        return Upstream(upstream, tuple(sorted(targets, key=_address_order)))
