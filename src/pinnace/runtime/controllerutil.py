"""Helpers every reconciler needs: finalizers, owner references, create-or-update.

These work on plain object dicts, in place, and return whether they changed
anything, so a reconciler writes only when something did change:

- :func:`add_finalizer`, :func:`remove_finalizer`, :func:`has_finalizer`;
- :func:`set_controller_reference` (refuses a second controller, and an owner
  that the garbage collector could not honour: a namespaced owner of an object
  in another namespace or of a cluster-scoped object) and
  :func:`set_owner_reference`;
- :func:`create_or_update`: read, mutate, then create or update as needed;
- :func:`get_or_none`: read an object that may be gone (a reconcile's opening
  step: a deleted object is not an error, controller-runtime's
  ``client.IgnoreNotFound``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from pinnace.api import errors

__all__ = [
    "AlreadyOwnedError",
    "add_finalizer",
    "create_or_update",
    "get_or_none",
    "has_finalizer",
    "remove_finalizer",
    "set_controller_reference",
    "set_owner_reference",
]

Obj = dict[str, Any]


class AlreadyOwnedError(ValueError):
    """The object already has a different controller."""


def _meta(obj: Obj) -> Obj:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def has_finalizer(obj: Obj, finalizer: str) -> bool:
    """Whether ``obj`` carries ``finalizer``."""
    return finalizer in (_meta(obj).get("finalizers") or [])


def add_finalizer(obj: Obj, finalizer: str) -> bool:
    """Add ``finalizer`` unless present; True if it was added."""
    meta = _meta(obj)
    finalizers = list(meta.get("finalizers") or [])
    if finalizer in finalizers:
        return False
    meta["finalizers"] = [*finalizers, finalizer]
    return True


def remove_finalizer(obj: Obj, finalizer: str) -> bool:
    """Remove ``finalizer`` if present; True if it was removed."""
    meta = _meta(obj)
    finalizers = list(meta.get("finalizers") or [])
    if finalizer not in finalizers:
        return False
    meta["finalizers"] = [f for f in finalizers if f != finalizer]
    return True


def _owner_ref(owner: Obj, *, controller: bool) -> Obj:
    meta = owner.get("metadata") or {}
    if not owner.get("apiVersion") or not owner.get("kind") or not meta.get("name") or not meta.get("uid"):
        raise ValueError("the owner needs apiVersion, kind, metadata.name and metadata.uid (read it from the API)")
    ref: Obj = {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"]}
    if controller:
        ref["controller"] = True
        ref["blockOwnerDeletion"] = True
    return ref


def _check_scope(owner: Obj, obj: Obj) -> None:
    owner_ns = (owner.get("metadata") or {}).get("namespace")
    obj_ns = _meta(obj).get("namespace")
    if owner_ns and not obj_ns:
        raise ValueError("cluster-scoped resource must not have a namespace-scoped owner")
    if owner_ns and owner_ns != obj_ns:
        raise ValueError(f"cross-namespace owner references are disallowed: owner in {owner_ns}, object in {obj_ns}")


def _same_owner(a: Obj, b: Obj) -> bool:
    group_a = str(a.get("apiVersion", "")).rpartition("/")[0]
    group_b = str(b.get("apiVersion", "")).rpartition("/")[0]
    return group_a == group_b and a.get("kind") == b.get("kind") and a.get("name") == b.get("name")


def set_owner_reference(owner: Obj, obj: Obj) -> bool:
    """Make ``owner`` an owner (not the controller) of ``obj``; True if the references changed."""
    _check_scope(owner, obj)
    return _upsert(obj, _owner_ref(owner, controller=False))


def set_controller_reference(owner: Obj, obj: Obj) -> bool:
    """Make ``owner`` the controller of ``obj``; AlreadyOwnedError if another controller owns it."""
    _check_scope(owner, obj)
    ref = _owner_ref(owner, controller=True)
    for existing in _meta(obj).get("ownerReferences") or []:
        if existing.get("controller") and not _same_owner(existing, ref):
            raise AlreadyOwnedError(
                f"Object {_meta(obj).get('namespace', '')}/{_meta(obj).get('name')} is already owned by another "
                f"{existing.get('kind')} controller {existing.get('name')}"
            )
    return _upsert(obj, ref)


def _upsert(obj: Obj, ref: Obj) -> bool:
    meta = _meta(obj)
    refs = [dict(r) for r in meta.get("ownerReferences") or []]
    for i, existing in enumerate(refs):
        if _same_owner(existing, ref):
            if existing == ref:
                return False
            refs[i] = ref
            break
    else:
        refs.append(ref)
    meta["ownerReferences"] = refs
    return True


async def get_or_none(reader: Any, kind: Any, name: str, namespace: str | None = None) -> Any:
    """The object, or None if it does not exist (any other error propagates).

    ``reader`` is anything with the SDK client's ``get(kind, name, namespace)``.
    """
    try:
        return await reader.get(kind, name, namespace)
    except errors.NotFound:
        return None


async def create_or_update(client: Any, obj: Obj, mutate: Callable[[Obj], None]) -> tuple[Obj, str]:
    """Read ``obj`` (by its kind, namespace and name), apply ``mutate``, then create or update it.

    Returns the object as stored and what happened: ``"created"``, ``"updated"`` or ``"unchanged"``.
    ``client`` is a :class:`pinnace.runtime.client.Client`.
    """
    meta = _meta(obj)
    try:
        current = await client.get(obj, meta["name"], meta.get("namespace"))
    except errors.NotFound:
        desired = copy.deepcopy(obj)
        mutate(desired)
        return await client.create(desired), "created"
    before = copy.deepcopy(current)
    mutate(current)
    if current == before:
        return current, "unchanged"
    return await client.update(current), "updated"
