"""The builder: ``for_(Kind).owns(Kind).watches(...).complete(reconciler)`` reads as a sentence.

Every step is a thin layer over plain objects usable without the builder — a
:class:`~pinnace.runtime.controller.Controller` with
:class:`~pinnace.runtime.source.Kind` sources, handlers and predicates — and
``complete`` adds the controller to the manager::

    controller = await (
        Builder(manager)
        .for_("apps/v1/Deployment")
        .owns("apps/v1/ReplicaSet")
        .with_event_filter(GENERATION_CHANGED)
        .complete(DeploymentReconciler(manager.client))
    )
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pinnace.client.restmapper import GVK, KindRef, gvk_of
from pinnace.runtime.controller import Controller
from pinnace.runtime.handler import EnqueueRequestForObject, EnqueueRequestForOwner, Handler
from pinnace.runtime.manager import Manager
from pinnace.runtime.predicate import Predicate
from pinnace.runtime.ratelimit import RateLimiter
from pinnace.runtime.reconcile import Reconciler
from pinnace.runtime.source import Kind

__all__ = ["Builder"]


@dataclass
class _Watch:
    kind: GVK
    handler: Handler | None  # None: the owner handler, made once the for-kind's scope is known
    predicates: list[Predicate] = field(default_factory=list)


class Builder:
    """Builds a controller and adds it to a manager."""

    def __init__(self, manager: Manager) -> None:
        self.manager = manager
        self._for: _Watch | None = None
        self._owns: list[_Watch] = []
        self._watches: list[_Watch] = []
        self._filters: list[Predicate] = []
        self._name = ""
        self._max_concurrent = 1
        self._rate_limiter: RateLimiter | None = None

    def named(self, name: str) -> Builder:
        """The controller's name (metrics, logs); defaults to the for-kind, lower case."""
        self._name = name
        return self

    def for_(self, kind: KindRef, *predicates: Predicate) -> Builder:
        """The kind this controller reconciles: each of its events enqueues the object itself."""
        if self._for is not None:
            raise ValueError("for_ may only be called once")
        self._for = _Watch(gvk_of(kind), EnqueueRequestForObject(), list(predicates))
        return self

    def owns(self, kind: KindRef, *predicates: Predicate) -> Builder:
        """A kind the controller creates: its events enqueue the controlling owner of the for-kind."""
        self._owns.append(_Watch(gvk_of(kind), None, list(predicates)))
        return self

    def watches(self, kind: KindRef, handler: Handler, *predicates: Predicate) -> Builder:
        """Any other kind, mapped to requests by ``handler``."""
        self._watches.append(_Watch(gvk_of(kind), handler, list(predicates)))
        return self

    def with_event_filter(self, predicate: Predicate) -> Builder:
        """A predicate applied to every watched kind."""
        self._filters.append(predicate)
        return self

    def with_options(self, *, max_concurrent_reconciles: int = 1, rate_limiter: RateLimiter | None = None) -> Builder:
        """Worker count and rate limiter."""
        self._max_concurrent = max_concurrent_reconciles
        self._rate_limiter = rate_limiter
        return self

    async def build(self, reconciler: Reconciler) -> Controller:
        """The controller with its sources, not yet added to the manager."""
        if self._for is None:
            raise ValueError("a controller needs for_(kind)")
        mgr = self.manager
        for_mapping = await mgr.mapper.mapping(self._for.kind)
        name = self._name or self._for.kind.kind.lower()
        controller = Controller(
            name,
            reconciler,
            max_concurrent_reconciles=self._max_concurrent,
            rate_limiter=self._rate_limiter,
            clock=mgr.clock,
            subject=(for_mapping.ref.group, for_mapping.ref.plural),
        )
        for watch in [self._for, *self._owns, *self._watches]:
            await mgr.mapper.mapping(watch.kind)  # fail now, clearly, for a kind the server does not serve
            handler = watch.handler or EnqueueRequestForOwner(
                self._for.kind.group, self._for.kind.kind, owner_namespaced=for_mapping.ref.namespaced
            )
            controller.watch(Kind(mgr.cache, watch.kind, handler, [*self._filters, *watch.predicates]))
        return controller

    async def complete(self, reconciler: Reconciler) -> Controller:
        """Build the controller and add it to the manager."""
        controller = await self.build(reconciler)
        self.manager.add(controller)
        return controller
