"""Event handlers: which reconcile requests an event on a watched object causes.

A :class:`Handler` maps an object to the requests it concerns:

- :class:`EnqueueRequestForObject` — the object itself (``for_``);
- :class:`EnqueueRequestForOwner` — its owner of a given kind, through its
  ownerReferences (``owns``), by default only the controlling owner;
- :class:`EnqueueRequestsFromMapFunc` — whatever a user function says.

:func:`bind` turns a handler plus predicates into the informer callbacks that
feed a workqueue. For an update, both the old and the new object are mapped
(an object that changed owners concerns both), and the requests deduplicated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pinnace.client.restmapper import split_api_version
from pinnace.runtime.cache.delta_fifo import DeletedFinalStateUnknown
from pinnace.runtime.cache.informer import EventHandler
from pinnace.runtime.predicate import Predicate
from pinnace.runtime.reconcile import Request
from pinnace.runtime.workqueue import WorkQueue

__all__ = [
    "EnqueueRequestForObject",
    "EnqueueRequestForOwner",
    "EnqueueRequestsFromMapFunc",
    "Handler",
    "bind",
]

Obj = dict[str, Any]


class Handler(Protocol):
    """Maps an object to the reconcile requests it concerns."""

    def requests(self, obj: Obj) -> Iterable[Request]:
        """The requests an event on ``obj`` causes."""
        ...


class EnqueueRequestForObject:
    """The object itself."""

    def requests(self, obj: Obj) -> Iterable[Request]:
        """One request, for ``obj``."""
        meta = obj.get("metadata") or {}
        return [Request(meta.get("namespace") or "", meta.get("name") or "")]


@dataclass(frozen=True)
class EnqueueRequestForOwner:
    """The owner of kind ``owner_group``/``owner_kind`` named in the object's ownerReferences.

    ``owner_namespaced`` says where the owner lives: in the object's namespace,
    or cluster-scoped (namespace ""). ``only_controller`` keeps only the
    reference with ``controller: true``.
    """

    owner_group: str
    owner_kind: str
    owner_namespaced: bool = True
    only_controller: bool = True

    def requests(self, obj: Obj) -> Iterable[Request]:
        """A request per matching owner reference."""
        meta = obj.get("metadata") or {}
        namespace = (meta.get("namespace") or "") if self.owner_namespaced else ""
        out = []
        for ref in meta.get("ownerReferences") or []:
            if self.only_controller and not ref.get("controller"):
                continue
            group, _ = split_api_version(str(ref.get("apiVersion") or ""))
            if group == self.owner_group and ref.get("kind") == self.owner_kind and ref.get("name"):
                out.append(Request(namespace, str(ref["name"])))
        return out


class EnqueueRequestsFromMapFunc:
    """Whatever requests ``func`` maps the object to."""

    def __init__(self, func: Callable[[Obj], Iterable[Request]]) -> None:
        self.func = func

    def requests(self, obj: Obj) -> Iterable[Request]:
        """``func(obj)``."""
        return self.func(obj)


def bind(queue: WorkQueue[Request], handler: Handler, predicates: Sequence[Predicate] = ()) -> EventHandler:
    """Informer callbacks that filter events with ``predicates`` and enqueue ``handler``'s requests."""

    def add(obj: Obj, _initial: bool) -> None:
        if all(p.create(obj) for p in predicates):
            for req in handler.requests(obj):
                queue.add(req)

    def update(old: Obj, new: Obj) -> None:
        if all(p.update(old, new) for p in predicates):
            for req in dict.fromkeys([*handler.requests(old), *handler.requests(new)]):
                queue.add(req)

    def delete(obj: Obj | DeletedFinalStateUnknown) -> None:
        last = obj.obj if isinstance(obj, DeletedFinalStateUnknown) else obj
        if all(p.delete(last) for p in predicates):
            for req in handler.requests(last):
                queue.add(req)

    return EventHandler(on_add=add, on_update=update, on_delete=delete)
