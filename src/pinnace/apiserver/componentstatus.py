"""v1 ComponentStatus (``kubectl get componentstatuses``, ``cs``): the control plane's parts, probed when asked.

kube-apiserver still serves this deprecated API (get and list only, with a
``Warning`` header saying it is deprecated): each read probes the scheduler's
and the controller manager's ``/healthz`` and each etcd server, and reports one
``Healthy`` condition per component, ``True`` with a message or ``False`` with
an error. Here the probes are whatever the embedding registers: the server
always has its storage's (``etcd-0``, or ``sqlite-0`` for the embedded store),
and ``pinnace up`` adds its controller manager's and scheduler's health
endpoints. Nothing is stored.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from aiohttp import web

from pinnace.api import errors
from pinnace.api.table import build_table
from pinnace.apiserver import health, negotiation
from pinnace.apiserver.httputil import respond
from pinnace.apiserver.negotiation import Output
from pinnace.apiserver.request_info import RequestInfo

__all__ = ["DEPRECATION", "ComponentStatuses", "http_probe"]

#: The warning upstream sends with every ComponentStatus response (kubectl prints it).
DEPRECATION = "v1 ComponentStatus is deprecated in v1.19+"
#: How long one probe may take before its component counts as unhealthy.
PROBE_TIMEOUT = 5.0


def http_probe(url: str) -> health.Check:
    """A probe of a component's health endpoint (``http://host:port/healthz``): healthy on a 200, as upstream's."""

    async def check() -> str | None:
        timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
                body = (await response.text()).strip()
        except (aiohttp.ClientError, OSError) as exc:
            return f'Get "{url}": {exc}'
        return None if response.status == 200 else f"{url} answered {response.status}: {body[:200]}"

    return check


class ComponentStatuses:
    """The probes of the control plane's components, by name, and the handler that reports them."""

    def __init__(self) -> None:
        #: Component name → its check (None: healthy; a string: what is wrong), as the health endpoints use.
        self.probes: dict[str, health.Check] = {}

    async def status(self, name: str) -> dict[str, Any]:
        """One component's ComponentStatus, probed now."""
        try:
            problem = await asyncio.wait_for(self.probes[name](), PROBE_TIMEOUT)
        except TimeoutError:
            problem = f"no answer in {PROBE_TIMEOUT:.0f}s"
        except Exception as exc:  # a probe that fails reports its component unhealthy, not the request
            problem = str(exc) or type(exc).__name__
        condition = {"type": "Healthy", "status": "True", "message": "ok"}
        if problem is not None:
            condition = {"type": "Healthy", "status": "False", "error": problem}
        return {"kind": "ComponentStatus", "apiVersion": "v1", "metadata": {"name": name}, "conditions": [condition]}

    async def handle(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        """``get`` or ``list`` (a watch, or any write, is not allowed: upstream's verbs are get and list)."""
        if ri.verb not in ("get", "list"):
            raise errors.MethodNotAllowed(f"{ri.verb} is not supported on componentstatuses")
        wanted = negotiation.negotiate(request.headers.get("Accept"))
        if ri.name:
            if ri.name not in self.probes:
                message = f'componentstatuses "{ri.name}" not found'
                raise errors.NotFound(message, kind="componentstatuses", name=ri.name)
            items = [await self.status(ri.name)]
        else:
            items = list(await asyncio.gather(*(self.status(name) for name in sorted(self.probes))))
        value: Any
        if wanted.output is Output.TABLE:
            include = request.query.get("includeObject") or "PartialObjectMetadata"
            value = build_table("", "ComponentStatus", items, include_object=include, list_meta={})
        elif ri.name:
            value = items[0]
        else:
            value = {"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": items}
        response = respond(value, wanted)
        response.headers["Warning"] = f'299 - "{DEPRECATION}"'
        return response
