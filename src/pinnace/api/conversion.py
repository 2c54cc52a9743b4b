"""Serving stored objects at the version a request names, and storing what it sends.

One stored object can be served at several API versions: a custom resource at
each served version of its CRD (stored at the storage version), and a few
built-in resources that share their storage with another group's (an
events.k8s.io/v1 Event is stored as the core/v1 Event it also is, see
:data:`pinnace.api.registry.STORED_WITH`) or version's (an autoscaling/v1
HorizontalPodAutoscaler is stored at v2, see
:data:`pinnace.api.registry.STORED_AT_VERSION`). The REST store, list, watch and
table paths call these three functions and nothing kind-specific:

* :func:`to_version` — a stored object as served at a ResourceInfo's version;
* :func:`to_storage` — an object at a ResourceInfo's version as stored;
* :func:`needs_read_conversion` — whether :func:`to_version` changes anything
  (when not, cached JSON is sent as it is).

Both directions return the object itself when nothing changes, else a new
top-level dict sharing the untouched values; neither mutates its argument.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pinnace.api import crd, eventconversion, hpaconversion
from pinnace.api.registry import ResourceInfo

__all__ = ["needs_read_conversion", "to_storage", "to_version"]

Obj = dict[str, Any]
_Convert = Callable[[Obj], Obj]

#: Built-in group/version/kinds served from another resource's storage: (stored → served, served → stored).
_BUILTIN: dict[tuple[str, str, str], tuple[_Convert, _Convert]] = {
    ("events.k8s.io", "v1", "Event"): (eventconversion.to_events, eventconversion.to_core),
    ("autoscaling", "v1", "HorizontalPodAutoscaler"): (hpaconversion.to_v1, hpaconversion.to_v2),
}


def _builtin(info: ResourceInfo) -> tuple[_Convert, _Convert] | None:
    if info.custom or (info.storage_group is None and info.storage_version == info.version):
        return None
    return _BUILTIN.get((info.group, info.version, info.kind))


def needs_read_conversion(info: ResourceInfo) -> bool:
    """Whether stored objects must be changed to be served at this version."""
    if info.custom:
        return crd.needs_read_conversion(info)
    return _builtin(info) is not None


def to_version(info: ResourceInfo, obj: Obj, *, owned: bool = False) -> Obj:
    """A stored object as served at ``info``'s version (``owned``: the caller's own object, which a custom
    resource's conversion may change in place instead of copying)."""
    if info.custom:
        return crd.to_version(info, obj, owned=owned)
    pair = _builtin(info)
    return obj if pair is None else pair[0](obj)


def to_storage(info: ResourceInfo, obj: Obj) -> Obj:
    """An object sent at ``info``'s version, in its stored form."""
    if info.custom:
        return crd.to_storage(info, obj)
    pair = _builtin(info)
    return obj if pair is None else pair[1](obj)
