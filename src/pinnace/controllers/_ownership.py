"""Who controls what: indexes by controller, and adoption and release (upstream's ``ControllerRefManager``).

A controller finds what it controls through an index on the shared informer
(controller uid → objects, and namespace → orphans), never by listing a
namespace on each reconcile. :func:`claim` then makes ownership match the
selector: an orphan that matches is adopted (if the owner is not being
deleted, checked once against the API, not the cache), an owned object that
stopped matching is released, objects of other controllers are left alone.
Both are strategic merge patches of ``ownerReferences`` carrying the
object's uid, so they never touch an object recreated under the same name.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pinnace.api import errors
from pinnace.api.selectors import LabelSelector
from pinnace.client.rest import ResourceRef, RestClient
from pinnace.controllers._workload_pods import controller_ref, controller_uid
from pinnace.runtime.cache.informer import Informer

__all__ = ["CONTROLLER_INDEX", "ORPHAN_INDEX", "claim", "controlled_by", "index_by_controller", "orphans"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: Index: the uid of an object's controller.
CONTROLLER_INDEX = "ownership:controller-uid"
#: Index: the namespace of an object that has no controller.
ORPHAN_INDEX = "ownership:orphan"
STRATEGIC = "application/strategic-merge-patch+json"


def _by_controller(obj: Obj) -> list[str]:
    uid = controller_uid(obj)
    return [uid] if uid else []


def _orphan(obj: Obj) -> list[str]:
    meta = obj.get("metadata") or {}
    return [] if controller_uid(obj) is not None else [str(meta.get("namespace") or "")]


def index_by_controller(informer: Informer) -> None:
    """Add the controller and orphan indexes to ``informer`` (once, whoever asks first)."""
    if CONTROLLER_INDEX not in informer.indexer.index_names():
        informer.indexer.add_indexers({CONTROLLER_INDEX: _by_controller, ORPHAN_INDEX: _orphan})


def controlled_by(informer: Informer, uid: str) -> list[Obj]:
    """The cached objects whose controller has ``uid`` (shared, not copies: do not change them)."""
    return informer.indexer.by_index(CONTROLLER_INDEX, uid)


def orphans(informer: Informer, namespace: str, selector: LabelSelector) -> list[Obj]:
    """The cached objects in ``namespace`` without a controller that ``selector`` matches (shared)."""
    return [
        o
        for o in informer.indexer.by_index(ORPHAN_INDEX, namespace)
        if selector.matches((o.get("metadata") or {}).get("labels"))
    ]


async def claim(
    rest: RestClient,
    ref: ResourceRef,
    owner: Obj,
    candidates: list[Obj],
    selector: LabelSelector,
    can_adopt: Callable[[], Awaitable[bool]],
) -> list[Obj]:
    """The candidates ``owner`` controls once adoption and release are done (``ClaimObjects``)."""
    uid = owner["metadata"]["uid"]
    owner_deleting = bool(owner["metadata"].get("deletionTimestamp"))
    claimed: list[Obj] = []
    adoptable: bool | None = None
    for obj in candidates:
        meta = obj.get("metadata") or {}
        matches = selector.matches(meta.get("labels"))
        current = controller_uid(obj)
        if current == uid:
            if matches:
                claimed.append(obj)
            elif not owner_deleting:
                await _patch_refs(rest, ref, obj, [{"$patch": "delete", "uid": uid}], "release")
            continue
        if current is not None or owner_deleting or not matches or meta.get("deletionTimestamp"):
            continue
        if adoptable is None:
            adoptable = await can_adopt()
        if adoptable:
            adopted = await _patch_refs(rest, ref, obj, [controller_ref(owner)], "adopt")
            if adopted is not None:
                claimed.append(adopted)
    return claimed


async def _patch_refs(rest: RestClient, ref: ResourceRef, obj: Obj, refs: list[Obj], what: str) -> Obj | None:
    meta = obj["metadata"]
    body = {"metadata": {"ownerReferences": refs, "uid": meta["uid"]}}
    try:
        return await rest.patch(ref, meta["name"], body, meta.get("namespace"), patch_type=STRATEGIC)
    except (errors.NotFound, errors.Conflict, errors.Invalid) as exc:
        log.info("could not %s %s %s/%s: %s", what, ref.plural, meta.get("namespace"), meta["name"], exc)
        return None
