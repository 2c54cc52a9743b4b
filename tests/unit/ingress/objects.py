"""Small builders of the API objects the routing table is made from."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def ingress_class(name: str, controller: str = "pinnace.dev/ingress", *, default: bool = False) -> Obj:
    """An IngressClass (the cluster's default when ``default``)."""
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": {"controller": controller}}


def backend(service: str, port: int | str = 80) -> Obj:
    """A service backend, by port number or name."""
    ref = {"number": port} if isinstance(port, int) else {"name": port}
    return {"service": {"name": service, "port": ref}}


def path(p: str | None, service: str, path_type: str = "Prefix", port: int | str = 80) -> Obj:
    """One HTTP path of a rule."""
    entry: Obj = {"pathType": path_type, "backend": backend(service, port)}
    if p is not None:
        entry["path"] = p
    return entry


def rule(host: str | None, *paths: Obj) -> Obj:
    """A rule (without a host when ``host`` is None)."""
    out: Obj = {"http": {"paths": list(paths)}}
    if host is not None:
        out["host"] = host
    return out


def ingress(
    name: str,
    *rules: Obj,
    namespace: str = "default",
    class_name: str | None = "pinnace",
    created: str = "2024-01-01T00:00:00Z",
    default_backend: Obj | None = None,
    tls: list[Obj] | None = None,
    annotations: dict[str, str] | None = None,
) -> Obj:
    """An Ingress."""
    spec: Obj = {"rules": list(rules)}
    if class_name is not None:
        spec["ingressClassName"] = class_name
    if default_backend is not None:
        spec["defaultBackend"] = default_backend
    if tls is not None:
        spec["tls"] = tls
    meta: Obj = {"name": name, "namespace": namespace, "creationTimestamp": created, "annotations": annotations or {}}
    return {"metadata": meta, "spec": spec}


def service(name: str, *ports: Obj, namespace: str = "default", **spec: Any) -> Obj:
    """A Service with ``ports`` (default: one unnamed port 80 → 8080)."""
    return {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"ports": list(ports) or [{"port": 80, "targetPort": 8080, "protocol": "TCP"}], **spec},
    }


def endpoint_slice(
    service_name: str,
    addresses: list[str],
    *,
    port: int = 8080,
    port_name: str | None = None,
    namespace: str = "default",
    not_ready: tuple[str, ...] = (),
    address_type: str = "IPv4",
) -> Obj:
    """An EndpointSlice of ``service_name`` with one endpoint per address (those in ``not_ready`` not ready)."""
    slice_port: Obj = {"port": port, "protocol": "TCP"}
    if port_name is not None:
        slice_port["name"] = port_name
    return {
        "metadata": {
            "name": f"{service_name}-{len(addresses)}-{port}",
            "namespace": namespace,
            "labels": {"kubernetes.io/service-name": service_name},
        },
        "addressType": address_type,
        "ports": [slice_port],
        "endpoints": [{"addresses": [a], "conditions": {"ready": a not in not_ready}} for a in addresses],
    }
