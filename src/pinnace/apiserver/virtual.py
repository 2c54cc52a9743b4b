"""The table of resources served by dedicated handlers, which also lists them in discovery.

TokenReview, SubjectAccessReview and the other reviews are not stored: a
handler answers each create. ComponentStatus is not stored either: a handler
answers its gets and lists. Upstream lists them in discovery (so that
``kubectl create -f review.yaml`` finds its mapping and ``kubectl
api-resources`` shows them) exactly when the server serves them; so putting a
handler in this table also adds the resource to the registry's discovery view,
and routes the resource's verbs (as discovery lists them) to it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from pinnace.api.registry import ResourceRegistry, handled_infos
from pinnace.apiserver.request_info import RequestInfo

__all__ = ["VirtualResources"]

#: A handler of one request: (the aiohttp request, its RequestInfo) → the response.
Handler = Callable[[web.BaseRequest, RequestInfo], Awaitable[web.StreamResponse]]


class VirtualResources(dict[tuple[str, str], Handler]):
    """(group, plural) → the handler of its requests; setting an entry lists the resource in discovery."""

    def __init__(self, registry: ResourceRegistry) -> None:
        super().__init__()
        self.registry = registry
        self._verbs: dict[tuple[str, str], frozenset[str]] = {}

    def __setitem__(self, key: tuple[str, str], handler: Handler) -> None:
        super().__setitem__(key, handler)
        group, plural = key
        for info in handled_infos():
            if (info.group, info.plural) == (group, plural):
                self.registry.add_virtual(info)
                self._verbs[key] = frozenset(info.verbs)

    def handler_for(self, group: str, plural: str, verb: str) -> Handler | None:
        """The handler of this request, if a dedicated one serves the resource and the verb."""
        handler = self.get((group, plural))
        if handler is None or verb not in self._verbs.get((group, plural), ()):
            return None
        return handler
