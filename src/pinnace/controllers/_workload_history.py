"""ControllerRevisions: the template history of StatefulSets and DaemonSets.

Upstream's ``controller/history`` package, as plain functions on the runtime
client. A revision stores, in ``data``, the strategic merge patch that puts
its pod template back — ``{"spec": {"template": {…, "$patch": "replace"}}}``
— which is what ``kubectl rollout undo`` applies; revisions are numbered in
order, named ``<owner>-<hash>`` and labelled with the template's labels plus
``controller.kubernetes.io/hash``, annotated with the owner's annotations
when made (``kubernetes.io/change-cause`` is what ``kubectl rollout history``
shows). :func:`sync_revisions` finds or makes the
revision of the current template and returns the history, and
:func:`truncate_history` keeps ``revisionHistoryLimit`` of the revisions no
pod uses any more.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from dataclasses import dataclass
from typing import Any

import orjson

from pinnace.api import errors
from pinnace.controllers._workload_pods import controller_ref, controller_uid, selector_string
from pinnace.runtime.client import Client

__all__ = [
    "HASH_LABEL",
    "REVISION_KIND",
    "History",
    "revision_data",
    "revision_hash",
    "sync_revisions",
    "truncate_history",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

REVISION_KIND = "apps/v1/ControllerRevision"
#: The label every ControllerRevision carries with its hash.
HASH_LABEL = "controller.kubernetes.io/hash"

_SAFE = "bcdfghjklmnpqrstvwxz2456789"


def _fnv32(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = (h * 0x01000193) & 0xFFFFFFFF
        h ^= byte
    return h


def revision_data(owner: Obj) -> Obj:
    """What a revision of ``owner`` stores: the patch that restores its pod template."""
    template = copy.deepcopy((owner.get("spec") or {}).get("template") or {})
    template["$patch"] = "replace"
    return {"spec": {"template": template}}


def revision_hash(data: Obj, collision_count: int = 0) -> str:
    """The hash naming a revision (FNV-32 of its data and the collision count, as upstream encodes it)."""
    raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    if collision_count:
        raw += str(collision_count).encode()
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(_fnv32(raw)))


@dataclass
class History:
    """An owner's revisions (oldest first) and the one that matches its current template."""

    revisions: list[Obj]
    update: Obj
    collision_count: int


def _number(revision: Obj) -> int:
    return int(revision.get("revision") or 0)


async def list_revisions(client: Client, owner: Obj) -> list[Obj]:
    """The revisions ``owner`` controls, oldest first."""
    meta = owner["metadata"]
    found = await client.list(
        REVISION_KIND, meta["namespace"], label_selector=selector_string((owner.get("spec") or {}).get("selector"))
    )
    mine = [r for r in found if controller_uid(r) == meta["uid"]]
    return sorted(mine, key=lambda r: (_number(r), r["metadata"]["name"]))


async def sync_revisions(client: Client, owner: Obj) -> History:
    """Find (or create) the revision of ``owner``'s current template; renumber it if it is an old one."""
    meta = owner["metadata"]
    revisions = await list_revisions(client, owner)
    data = revision_data(owner)
    collision_count = int((owner.get("status") or {}).get("collisionCount") or 0)
    top = max((_number(r) for r in revisions), default=0)
    equal = [r for r in revisions if r.get("data") == data]
    if equal:
        found = equal[-1]
        if _number(found) != top:
            found["revision"] = top + 1
            found = await client.update(found)
            revisions = sorted([*(r for r in revisions if r is not equal[-1]), found], key=_number)
        return History(revisions, found, collision_count)
    template_labels = ((data["spec"]["template"].get("metadata") or {}).get("labels")) or {}
    while True:
        hash_ = revision_hash(data, collision_count)
        revision: Obj = {
            "apiVersion": "apps/v1",
            "kind": "ControllerRevision",
            "metadata": {
                "name": f"{meta['name']}-{hash_}",
                "namespace": meta["namespace"],
                "labels": {**template_labels, HASH_LABEL: hash_},
                # The owner's annotations as they are now (kubernetes.io/change-cause for rollout history).
                **({"annotations": dict(meta["annotations"])} if meta.get("annotations") else {}),
                "ownerReferences": [controller_ref(owner)],
            },
            "data": data,
            "revision": top + 1,
        }
        try:
            created = await client.create(revision)
        except errors.AlreadyExists:
            existing = await client.api_reader.get(REVISION_KIND, revision["metadata"]["name"], meta["namespace"])
            if existing.get("data") == data and controller_uid(existing) == meta["uid"]:
                created = existing
            else:
                collision_count += 1
                continue
        return History([*revisions, created], created, collision_count)


async def truncate_history(client: Client, owner: Obj, history: History, live: set[str]) -> None:
    """Delete the oldest revisions beyond ``revisionHistoryLimit`` that no name in ``live`` uses."""
    limit = int((owner.get("spec") or {}).get("revisionHistoryLimit", 10))
    unused = [r for r in history.revisions if r["metadata"]["name"] not in live]
    for revision in unused[: max(0, len(unused) - limit)]:
        with contextlib.suppress(errors.NotFound):
            await client.delete(revision)
