"""What the Endpoints and EndpointSlice controllers share: which pods back a Service, and how.

Upstream's ``pkg/controller/util/endpoint`` in plain functions over object
dicts: whether a pod belongs in a service's endpoints (an IP, not finished,
not terminating unless asked), whether it is ready, the ports a service port
resolves to on one pod (a named ``targetPort`` looks up the pod's container
ports), the hostname a pod publishes (``spec.hostname`` when its
``spec.subdomain`` is the service), the trigger time the controllers annotate,
and :class:`PodServiceMapper`, which turns a pod event into the services that
select the pod now or selected it before (so a pod that loses its label
leaves the endpoints too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pinnace.runtime.cache.indexer import NAMESPACE_INDEX
from pinnace.runtime.cache.informer import Informer
from pinnace.runtime.reconcile import Request

Obj = dict[str, Any]

#: The annotation both controllers set: when the latest change that led to this version happened.
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
#: Label of headless services' endpoints.
HEADLESS_LABEL = "service.kubernetes.io/headless"


def selector_of(service: Obj) -> dict[str, str] | None:
    """The service's pod selector; None for a service without one (its endpoints are the user's)."""
    spec = service.get("spec") or {}
    selector = spec.get("selector")
    if spec.get("type") == "ExternalName" or not isinstance(selector, Mapping) or not selector:
        return None
    return {str(k): str(v) for k, v in selector.items()}


def selects(selector: Mapping[str, str], pod: Obj) -> bool:
    """Whether a (equality-based) service selector matches the pod's labels."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def pod_ip(pod: Obj) -> str | None:
    """The pod's primary IP, if it has one yet."""
    status = pod.get("status") or {}
    ip = status.get("podIP")
    if ip:
        return str(ip)
    ips = status.get("podIPs") or []
    return str(ips[0].get("ip")) if ips and isinstance(ips[0], dict) and ips[0].get("ip") else None


def is_terminating(pod: Obj) -> bool:
    """Whether the pod is being deleted."""
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def is_ready(pod: Obj) -> bool:
    """Whether the pod's Ready condition is True."""
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def belongs_in_endpoints(pod: Obj, *, include_terminating: bool) -> bool:
    """Upstream's ``ShouldPodBeInEndpoints``: an IP, not finished for good, terminating only if asked."""
    if not pod_ip(pod):
        return False
    if not include_terminating and is_terminating(pod):
        return False
    phase = (pod.get("status") or {}).get("phase")
    restart = (pod.get("spec") or {}).get("restartPolicy") or "Always"
    if restart == "Never":
        return phase not in ("Failed", "Succeeded")
    if restart == "OnFailure":
        return phase != "Succeeded"
    return True


def resolve_port(pod: Obj, service_port: Obj) -> int | None:
    """The pod port a service port sends to: a number as is, a name from the pod's container ports."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    protocol = service_port.get("protocol") or "TCP"
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                return int(port["containerPort"])
    return None


def endpoint_ports(service: Obj, pod: Obj) -> list[Obj]:
    """The service's ports as resolved on one pod (ports the pod cannot serve are left out, as upstream)."""
    out: list[Obj] = []
    for service_port in (service.get("spec") or {}).get("ports") or []:
        number = resolve_port(pod, service_port)
        if number is None:
            continue
        port: Obj = {"port": number, "protocol": service_port.get("protocol") or "TCP"}
        if service_port.get("name"):
            port["name"] = service_port["name"]
        if service_port.get("appProtocol"):
            port["appProtocol"] = service_port["appProtocol"]
        out.append(port)
    return out


def hostname_of(pod: Obj, service: Obj) -> str | None:
    """The pod's ``spec.hostname`` when its ``spec.subdomain`` names the service (same namespace)."""
    spec = pod.get("spec") or {}
    smeta, pmeta = service.get("metadata") or {}, pod.get("metadata") or {}
    if (
        spec.get("hostname")
        and spec.get("subdomain") == smeta.get("name")
        and pmeta.get("namespace") == smeta.get("namespace")
    ):
        return str(spec["hostname"])
    return None


def target_ref(pod: Obj) -> Obj:
    """The ObjectReference an endpoint keeps to its pod."""
    meta = pod.get("metadata") or {}
    return {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta.get("name"), "uid": meta.get("uid")}


def is_headless(service: Obj) -> bool:
    """Whether the service has no cluster IP."""
    return (service.get("spec") or {}).get("clusterIP") == "None"


def trigger_time(service: Obj, pods: Iterable[Obj]) -> str:
    """The time of the latest change behind the endpoints: a pod's readiness change or creation, or the service's."""
    times = [str((service.get("metadata") or {}).get("creationTimestamp") or "")]
    for pod in pods:
        times.append(str((pod.get("metadata") or {}).get("creationTimestamp") or ""))
        for condition in (pod.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Ready" and condition.get("lastTransitionTime"):
                times.append(str(condition["lastTransitionTime"]))
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            times.append(str(pod["metadata"]["deletionTimestamp"]))
    return max(times)


def sorted_pods(pods: Iterable[Obj]) -> list[Obj]:
    """Pods in a stable order (by name), so that equal inputs give equal endpoints."""
    return sorted(pods, key=lambda p: str((p.get("metadata") or {}).get("name") or ""))


class PodServiceMapper:
    """Maps a pod to the services that select it now, and those that did at its last event."""

    def __init__(self, services: Informer) -> None:
        self.services = services
        self._last: dict[tuple[str, str], set[str]] = {}

    def requests(self, pod: Obj) -> list[Request]:
        """The services to reconcile after an event of ``pod``."""
        meta = pod.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        now: set[str] = set()
        for service in self.services.indexer.by_index(NAMESPACE_INDEX, namespace):
            selector = selector_of(service)
            if selector is not None and selects(selector, pod):
                now.add(str((service.get("metadata") or {}).get("name")))
        key = (namespace, name)
        before = self._last.pop(key, set())
        if now:
            self._last[key] = now
        return [Request(namespace, svc) for svc in sorted(now | before)]
