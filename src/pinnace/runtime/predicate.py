"""Predicates: which events are worth a reconcile.

A :class:`Predicate` answers for each kind of event (create, update, delete,
generic) whether it should be passed on. The stock ones match
controller-runtime's: :data:`GENERATION_CHANGED` (ignores status-only and
metadata-only updates), :data:`LABELS_CHANGED`, :data:`ANNOTATIONS_CHANGED`,
:data:`RESOURCE_VERSION_CHANGED` (drops the no-op updates of a resync), and
:func:`new_predicate` for a user function. Combine with :func:`and_`,
:func:`or_` and :func:`not_`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ANNOTATIONS_CHANGED",
    "GENERATION_CHANGED",
    "LABELS_CHANGED",
    "RESOURCE_VERSION_CHANGED",
    "Predicate",
    "and_",
    "new_predicate",
    "not_",
    "or_",
]

Obj = dict[str, Any]


def _yes(*_: Any) -> bool:
    return True


@dataclass(frozen=True)
class Predicate:
    """Filters per event kind; each defaults to letting the event through."""

    create: Callable[[Obj], bool] = _yes
    update: Callable[[Obj, Obj], bool] = _yes
    delete: Callable[[Obj], bool] = _yes
    generic: Callable[[Obj], bool] = _yes


def _meta(obj: Obj, field: str) -> Any:
    return (obj.get("metadata") or {}).get(field)


def _changed(field: str) -> Predicate:
    return Predicate(update=lambda old, new: _meta(old, field) != _meta(new, field))


#: Passes updates that changed metadata.generation (spec changes), and every create/delete.
GENERATION_CHANGED = _changed("generation")
#: Passes updates that changed the labels.
LABELS_CHANGED = _changed("labels")
#: Passes updates that changed the annotations.
ANNOTATIONS_CHANGED = _changed("annotations")
#: Passes updates that changed the resourceVersion (drops resync replays).
RESOURCE_VERSION_CHANGED = _changed("resourceVersion")


def new_predicate(func: Callable[[Obj], bool]) -> Predicate:
    """A predicate that asks ``func`` about the (new) object of every event."""
    return Predicate(create=func, update=lambda _old, new: func(new), delete=func, generic=func)


def and_(*predicates: Predicate) -> Predicate:
    """Passes an event only if every predicate does."""
    return _combine(predicates, all)


def or_(*predicates: Predicate) -> Predicate:
    """Passes an event if any predicate does."""
    return _combine(predicates, any)


def not_(predicate: Predicate) -> Predicate:
    """Passes exactly the events ``predicate`` drops."""
    return Predicate(
        create=lambda o: not predicate.create(o),
        update=lambda a, b: not predicate.update(a, b),
        delete=lambda o: not predicate.delete(o),
        generic=lambda o: not predicate.generic(o),
    )


def _combine(predicates: Sequence[Predicate], how: Callable[[Any], bool]) -> Predicate:
    return Predicate(
        create=lambda o: how(p.create(o) for p in predicates),
        update=lambda a, b: how(p.update(a, b) for p in predicates),
        delete=lambda o: how(p.delete(o) for p in predicates),
        generic=lambda o: how(p.generic(o) for p in predicates),
    )
