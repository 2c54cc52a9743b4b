"""Where the HorizontalPodAutoscaler controller reads resource usage: the ``metrics.k8s.io/v1beta1`` API.

:class:`ResourceMetricsSource` is the whole contract — the pods' current usage
for a namespace and a label selector, as :class:`PodMetrics` — so the
controller can be driven by any source (a test feeds its own numbers).
:class:`MetricsAPISource` is the real one, upstream's resource metrics client:
it lists ``PodMetrics`` through the API server (which proxies the group to a
metrics server through its aggregation layer) and parses the wire form. When
the API is not served it raises :class:`MetricsUnavailable` in client-go's
words, which the controller quotes after "unable to fetch metrics from
resource metrics API: " exactly as kube-controller-manager does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pinnace.api import errors
from pinnace.api.goduration import parse_go_duration
from pinnace.api.podutil import milli_value, value_of
from pinnace.client.rest import RestClient
from pinnace.controllers._workload_pods import parse_time

__all__ = [
    "METRICS_GROUP_VERSION",
    "MetricsAPISource",
    "MetricsUnavailable",
    "PodMetrics",
    "ResourceMetricsSource",
    "parse_pod_metrics_list",
]

Obj = dict[str, Any]

METRICS_GROUP_VERSION = "metrics.k8s.io/v1beta1"
#: client-go's messages for a request of ``pods.metrics.k8s.io`` that the server answered 404 or 503 to.
NOT_FOUND = "the server could not find the requested resource (get pods.metrics.k8s.io)"
UNAVAILABLE = "the server is currently unable to handle the request (get pods.metrics.k8s.io)"


@dataclass(frozen=True, slots=True)
class PodMetrics:
    """One pod's usage sample: ``containers`` maps a container's name to {"cpu": millicores, "memory": bytes};
    ``timestamp`` (UNIX seconds) is when the sample was taken, ``window`` (seconds) the span it averages."""

    name: str
    timestamp: float
    window: float
    containers: dict[str, dict[str, int]] = field(default_factory=dict)


class ResourceMetricsSource(Protocol):
    """Current resource usage of the pods a label selector picks in a namespace."""

    async def pod_metrics(self, namespace: str, selector: str) -> list[PodMetrics]:
        """The samples of the matching pods (a pod without one is missing); MetricsUnavailable if none can be read."""
        ...


class MetricsUnavailable(Exception):
    """The resource metrics API could not be read; ``str()`` is the client's message (upstream's words)."""


class MetricsAPISource:
    """Reads ``PodMetrics`` from ``/apis/metrics.k8s.io/v1beta1`` through the API server."""

    def __init__(self, rest: RestClient) -> None:
        self.rest = rest

    async def pod_metrics(self, namespace: str, selector: str) -> list[PodMetrics]:
        """List the PodMetrics of ``namespace`` that ``selector`` matches."""
        path = f"/apis/{METRICS_GROUP_VERSION}/namespaces/{namespace}/pods"
        params = {"labelSelector": selector} if selector else None
        try:
            listing = await self.rest.request("GET", path, params=params)
        except errors.NotFound:
            raise MetricsUnavailable(NOT_FOUND) from None
        except errors.ServiceUnavailable:
            raise MetricsUnavailable(UNAVAILABLE) from None
        except errors.StatusError as exc:
            raise MetricsUnavailable(f"{exc.message} (get pods.metrics.k8s.io)") from None
        except Exception as exc:
            if not _is_connection_error(exc):
                raise
            raise MetricsUnavailable(f'Get "{self.rest.base_url}{path}": {exc}') from None
        try:
            return parse_pod_metrics_list(listing)
        except (KeyError, TypeError, ValueError) as exc:
            raise MetricsUnavailable(f"unable to decode the PodMetricsList: {exc}") from None


def _is_connection_error(exc: Exception) -> bool:
    """Whether ``exc`` is a transport failure (the REST client keeps aiohttp's types, imported only on failure)."""
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    import aiohttp

    return isinstance(exc, aiohttp.ClientError)


def parse_pod_metrics_list(listing: Mapping[str, Any]) -> list[PodMetrics]:
    """The samples of a ``PodMetricsList`` (CPU in millicores rounded up, as upstream's MilliValue; memory in
    bytes); ValueError for a malformed item."""
    samples: list[PodMetrics] = []
    for item in listing.get("items") or []:
        if not isinstance(item, dict):
            raise ValueError("a PodMetrics item is not an object")
        name = str((item.get("metadata") or {}).get("name") or "")
        when = parse_time(item.get("timestamp"))
        window = item.get("window")
        containers: dict[str, dict[str, int]] = {}
        for entry in item.get("containers") or []:
            usage = entry.get("usage") or {}
            containers[str(entry.get("name") or "")] = {
                resource: milli_value(amount) if resource == "cpu" else value_of(amount)
                for resource, amount in usage.items()
            }
        samples.append(
            PodMetrics(
                name=name,
                timestamp=when.timestamp() if when is not None else 0.0,
                window=parse_go_duration(str(window)) if window else 0.0,
                containers=containers,
            )
        )
    return samples
