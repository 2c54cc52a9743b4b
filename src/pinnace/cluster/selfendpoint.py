"""A component of the cluster that is no pod — the DNS server, the metrics server — behind a Service of its own.

Such a Service has no selector: the component publishes where it serves as the Service's EndpointSlice (labelled
``endpointslice.kubernetes.io/managed-by`` with its own name, so the endpointslice controller leaves it alone)
once it serves, retrying while the API refuses or cannot be reached, and takes it away when it stops (clients
then fail fast instead of timing out).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pinnace.api import errors
from pinnace.client.rest import ResourceRef

if TYPE_CHECKING:
    from pinnace.client.rest import RestClient

__all__ = [
    "ENDPOINT_SLICES",
    "MANAGED_BY_LABEL",
    "RETRY_FIRST",
    "RETRY_MAX",
    "SERVICE_NAME_LABEL",
    "endpoint_slice",
    "host_slice_suffix",
    "publish_endpoint_slice",
    "serve_with_retries",
    "withdraw_endpoint_slice",
]

log = logging.getLogger(__name__)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
ENDPOINT_SLICES = ResourceRef("discovery.k8s.io", "v1", "endpointslices")
#: Seconds between attempts (to serve, to publish), growing to the second figure.
RETRY_FIRST, RETRY_MAX = 1.0, 30.0


def host_slice_suffix() -> str:
    """What tells this host's slice from another's (its name, as a DNS label): with several control planes, each
    controller manager serves and publishes its own, and withdrawing one leaves the others in place."""
    label = re.sub(r"[^a-z0-9-]+", "-", socket.gethostname().lower()).strip("-")[:40].strip("-")
    return label or "host"


def endpoint_slice(
    name: str, namespace: str, service: str, managed_by: str, address: str, ports: list[dict[str, Any]]
) -> dict[str, Any]:
    """The EndpointSlice ``name`` of ``service``: one ready endpoint at ``address``, with ``ports``."""
    family = "IPv6" if ipaddress.ip_address(address).version == 6 else "IPv4"
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {SERVICE_NAME_LABEL: service, MANAGED_BY_LABEL: managed_by},
        },
        "addressType": family,
        "endpoints": [{"addresses": [address], "conditions": {"ready": True, "serving": True, "terminating": False}}],
        "ports": ports,
    }


async def publish_endpoint_slice(rest: RestClient, body: dict[str, Any], what: str) -> None:
    """Create or replace the slice ``body``, retrying (with back-off) until the API takes it; ``what`` names the
    component in the log."""
    from pinnace.adm.kubeadmconfig import create_or_update

    meta = body["metadata"]
    delay = RETRY_FIRST
    while True:
        try:
            await create_or_update(rest, ENDPOINT_SLICES, body, meta["namespace"])
            return
        except (errors.StatusError, OSError) as exc:
            log.warning("%s: cannot publish %s/%s (%s); retrying", what, meta["namespace"], meta["name"], exc)
        await asyncio.sleep(delay)
        delay = min(RETRY_MAX, delay * 2)


async def withdraw_endpoint_slice(rest: RestClient, name: str, namespace: str) -> None:
    """Delete the slice (gone already: nothing to do; the API unreachable: left, said nowhere — it is shutdown)."""
    with contextlib.suppress(errors.NotFound):
        await rest.delete(ENDPOINT_SLICES, name, namespace)


async def serve_with_retries(
    serve: Callable[[], Awaitable[None]],
    what: str,
    retry_on: tuple[type[Exception], ...],
    on_stop: Callable[[], Awaitable[None]],
) -> None:
    """Run ``serve`` (which returns only once stopped) until cancelled: while it raises one of ``retry_on`` (an
    address not bindable yet, the API not answering yet), try again with back-off, said once in the log as
    ``what``; in the end, whatever ended it, ``on_stop`` (say, withdraw the slice)."""
    delay = RETRY_FIRST
    said = False
    try:
        while True:
            try:
                await serve()
                return
            except retry_on as exc:
                if not said:
                    log.warning("%s cannot serve yet (%s); retrying", what, exc)
                    said = True
            await asyncio.sleep(delay)
            delay = min(RETRY_MAX, delay * 2)
    finally:
        with contextlib.suppress(Exception):
            await asyncio.shield(on_stop())
