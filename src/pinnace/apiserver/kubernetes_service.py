"""The ``kubernetes`` Service in ``default``: how pods find the API server, as kube-apiserver's bootstrap does.

The Service holds the first IP of the service range (port 443, named ``https``,
to the API server's port) and has no selector: its Endpoints and EndpointSlice
(both named ``kubernetes``) are written here, with the API server's address,
rather than by the endpoint controllers. The Endpoints carry
``endpointslice.kubernetes.io/skip-mirror`` so that no mirroring duplicates the
slice. :func:`ensure_kubernetes_service` is idempotent: the server calls it at
start and again periodically, so a deleted or stale object comes back right.
"""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from pinnace.api import errors
from pinnace.apiserver.rest import RestStore

__all__ = ["ensure_kubernetes_service", "kubernetes_objects"]

Obj = dict[str, Any]

NAME = "kubernetes"
NAMESPACE = "default"


def kubernetes_objects(cluster_ip: str, address: str, port: int) -> tuple[Obj, Obj, Obj]:
    """The Service, Endpoints and EndpointSlice that advertise the API server at ``address:port``."""
    service: Obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"component": "apiserver", "provider": "kubernetes"},
        },
        "spec": {
            "type": "ClusterIP",
            "clusterIP": cluster_ip,
            "clusterIPs": [cluster_ip],
            "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": port}],
            "sessionAffinity": "None",
            "ipFamilyPolicy": "SingleStack",
        },
    }
    endpoints: Obj = {
        "apiVersion": "v1",
        "kind": "Endpoints",
        "metadata": {
            "name": NAME,
            "namespace": NAMESPACE,
            "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"},
        },
        "subsets": [{"addresses": [{"ip": address}], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}],
    }
    family = "IPv6" if ":" in address else "IPv4"
    slice_: Obj = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": {"kubernetes.io/service-name": NAME}},
        "addressType": family,
        "endpoints": [{"addresses": [address], "conditions": {"ready": True}}],
        "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
    }
    return service, endpoints, slice_


async def ensure_kubernetes_service(rest: RestStore, cluster_ip: str, address: str, port: int) -> None:
    """Create the three objects if missing; put the address and port right if they changed."""
    service, endpoints, slice_ = kubernetes_objects(cluster_ip, address, port)
    svc_info = rest.registry.get("", "v1", "services")
    ep_info = rest.registry.get("", "v1", "endpoints")
    slice_info = rest.registry.get("discovery.k8s.io", "v1", "endpointslices")
    if svc_info is None or ep_info is None or slice_info is None:
        return
    current = await rest.get_cached(svc_info, NAMESPACE, NAME)
    if current is None:
        with contextlib.suppress(errors.AlreadyExists):
            await rest.create(svc_info, NAMESPACE, copy.deepcopy(service))
    elif (current.obj.get("spec") or {}).get("ports") != service["spec"]["ports"]:

        def fix_ports(obj: Obj) -> Obj:
            obj.setdefault("spec", {})["ports"] = service["spec"]["ports"]
            return obj

        await rest.mutate(svc_info, NAMESPACE, NAME, fix_ports)
    for info, desired, fields in ((ep_info, endpoints, ("subsets",)), (slice_info, slice_, ("endpoints", "ports"))):
        cached = await rest.get_cached(info, NAMESPACE, NAME)
        if cached is None:
            with contextlib.suppress(errors.AlreadyExists):
                await rest.create(info, NAMESPACE, copy.deepcopy(desired))
        elif any(cached.obj.get(f) != desired[f] for f in fields):

            def fix(obj: Obj, desired: Obj = desired, fields: tuple[str, ...] = fields) -> Obj:
                for f in fields:
                    obj[f] = copy.deepcopy(desired[f])
                return obj

            await rest.mutate(info, NAMESPACE, NAME, fix)
