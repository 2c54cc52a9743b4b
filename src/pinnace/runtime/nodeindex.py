"""Pods by node: the ``spec.nodeName`` field index that kubelets, the scheduler and node controllers share.

Several components of one manager want "the pods on node N" from the shared
pod informer. :func:`ensure_pod_node_index` adds the index once, however many
ask (the indexer refuses a second index of one name), and :func:`pods_on`
reads it without copying — for hot loops over thousands of pods that only
look. ``manager.client.list("v1/Pod", fields={"spec.nodeName": n})`` reads
the same index and returns copies.
"""

from __future__ import annotations

from typing import Any

from pinnace.runtime.cache.cache import ALL_NAMESPACES, Cache, field_index_name
from pinnace.runtime.cache.indexer import Indexer
from pinnace.runtime.cache.informer import Informer

__all__ = ["NODE_NAME_FIELD", "ensure_pod_node_index", "pods_on"]

Obj = dict[str, Any]

#: The pod field the index is kept for.
NODE_NAME_FIELD = "spec.nodeName"


def _node_name(pod: Obj) -> list[str]:
    return [str((pod.get("spec") or {}).get("nodeName") or "")]


async def ensure_pod_node_index(cache: Cache) -> Informer:
    """The cache's pod informer, indexed by ``spec.nodeName`` (the index added on the first call only)."""
    informer = await cache.informer_for("v1/Pod", wait=False)
    if field_index_name(NODE_NAME_FIELD) not in informer.indexer.index_names():
        await cache.index_field("v1/Pod", NODE_NAME_FIELD, _node_name)
    return informer


def pods_on(indexer: Indexer, node: str) -> list[Obj]:
    """The cached pods bound to ``node``: the stored objects themselves, to read and never to change."""
    return indexer.by_index(field_index_name(NODE_NAME_FIELD), f"{ALL_NAMESPACES}/{node}")
