"""LIST semantics: selectors, resourceVersion matching, and chunked pages.

* No ``limit``: served from the watch cache (consistent: after this server's
  own writes; ``resourceVersion=0``: whatever the cache has; ``N``: at least N;
  ``resourceVersionMatch=Exact``: from the store at exactly N).
* With ``limit``: pages read from the store on one snapshot revision; the
  ``continue`` token carries that revision and the last key, so the next page
  reads the same snapshot. ``resourceVersion=N`` without a match is the
  legacy *Exact* (KEP-2523); ``resourceVersion=0`` is served whole from the
  cache, as upstream's watch cache does. A token whose revision was compacted
  gets 410 Expired with a fresh token (revision -1: the rest, read at the
  latest revision), as upstream's etcd3 store. ``remainingItemCount`` is only
  told for lists without selectors.
* Contradictory options are a 422 on ``ListOptions.meta.k8s.io``
  (:func:`validate_list_options`, upstream's ``ValidateListOptions``).
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from pinnace.api import base64url, conversion, errors, fields, selectors
from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.codec import decode_from_storage
from pinnace.apiserver.rest import RestStore, parse_resource_version
from pinnace.apiserver.watch_cache import CachedObject
from pinnace.storage import Compacted, FutureRevision

Obj = dict[str, Any]
#: Does an object pass the request's selectors?
ObjectFilter = Callable[[Obj], bool]


@dataclass(slots=True)
class ListResult:
    """A page of objects and the list metadata to send with it."""

    items: list[CachedObject]
    resource_version: int
    continue_token: str | None = None
    remaining: int | None = None


def build_filter(info: ResourceInfo, label_selector: str | None, field_selector: str | None) -> ObjectFilter | None:
    """The predicate for a request's selectors; None when it selects everything."""
    labels = selectors.parse_label_selector(label_selector or "")
    field_sel = selectors.parse_field_selector(field_selector or "")
    if not field_sel.empty:
        fields.check_field_selector(info.group, info.kind, field_sel)
    if labels.empty and field_sel.empty:
        return None
    group, kind = info.group, info.kind
    # Objects are filtered as stored; fields are selected by their names at the requested version.
    convert = conversion.needs_read_conversion(info)

    def matches(obj: Obj) -> bool:
        meta = obj.get("metadata") or {}
        found = meta.get("labels")  # no map: malformed metadata a custom resource stored before it was refused
        if not labels.empty and not labels.matches(found if isinstance(found, dict) else {}):
            return False
        if field_sel.empty:
            return True
        return field_sel.matches(fields.field_values(group, kind, conversion.to_version(info, obj) if convert else obj))

    return matches


def encode_continue(revision: int, last_key: str, prefix: str) -> str:
    """A continue token: the snapshot revision (-1: the latest) and where the next page starts."""
    return _encode_token(revision, last_key[len(prefix) :] + "\x00")


def _encode_token(revision: int, start: str) -> str:
    token = {"v": "meta.k8s.io/v1", "rv": revision, "start": start}
    return base64url.encode(orjson.dumps(token))


def decode_continue(token: str, prefix: str) -> tuple[int | None, str]:
    """The revision (None: the latest) and first key a continue token names, or 400 if it is not one."""
    try:
        raw = base64url.decode(token)
        data = orjson.loads(raw)
        revision = int(data["rv"])
        start = str(data["start"])
        if data.get("v") != "meta.k8s.io/v1" or not start.endswith("\x00") or revision == 0 or revision < -1:
            raise ValueError(token)
    except (ValueError, KeyError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise errors.BadRequest(f"continue key is not valid: {token!r}") from None
    return (revision if revision > 0 else None), prefix + start[:-1]


def validate_list_options(
    *,
    watch: bool,
    resource_version: str | None,
    resource_version_match: str | None,
    continue_token: str | None,
    send_initial_events: str | None,
) -> None:
    """Refuse contradictory list/watch options with upstream's 422 on ``ListOptions.meta.k8s.io``."""
    match, rv = resource_version_match or "", resource_version or ""
    causes: list[errors.Cause] = []

    def forbid(message: str, field: str = "resourceVersionMatch") -> None:
        causes.append(errors.Cause(errors.CAUSE_FORBIDDEN, f"Forbidden: {message}", field))

    def unsupported(supported: str) -> None:
        message = f'Unsupported value: "{match}": supported values: {supported}'
        causes.append(errors.Cause(errors.CAUSE_NOT_SUPPORTED, message, "resourceVersionMatch"))

    if watch:
        if send_initial_events is not None and match != "NotOlderThan":
            forbid("sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
        if match:
            if send_initial_events is None:
                forbid("resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")
            if match != "NotOlderThan":
                unsupported('"NotOlderThan"')
            if continue_token:
                forbid("resourceVersionMatch is forbidden when continue is provided")
    else:
        if match:
            if not rv:
                forbid("resourceVersionMatch is forbidden unless resourceVersion is provided")
            if continue_token:
                forbid("resourceVersionMatch is forbidden when continue is provided")
            if match not in ("Exact", "NotOlderThan"):
                unsupported('"Exact", "NotOlderThan", ""')
            if match == "Exact" and rv == "0":
                forbid('resourceVersionMatch "exact" is forbidden for resourceVersion "0"')
        if send_initial_events is not None:
            forbid("sendInitialEvents is forbidden for list", "sendInitialEvents")
    if causes:
        raise errors.invalid("ListOptions", "", causes, group="meta.k8s.io")


_EXPIRED_LIST = "The resourceVersion for the provided list is too old."
_EXPIRED_CONTINUE = (
    "The provided continue parameter is too old to display a consistent list result. You can start a new list "
    "without the continue parameter, or use the continue token in this response to retrieve the remainder of the "
    "results. Continuing with the provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may show up in the list."
)


async def list_objects(
    rest: RestStore,
    info: ResourceInfo,
    namespace: str | None,
    *,
    label_selector: str | None = None,
    field_selector: str | None = None,
    limit: int | None = None,
    continue_token: str | None = None,
    resource_version: str | None = None,
    resource_version_match: str | None = None,
    send_initial_events: str | None = None,
) -> ListResult:
    """One LIST request's answer (see the module docstring for the rules)."""
    validate_list_options(
        watch=False,
        resource_version=resource_version,
        resource_version_match=resource_version_match,
        continue_token=continue_token,
        send_initial_events=send_initial_events,
    )
    predicate = build_filter(info, label_selector, field_selector)
    if continue_token and resource_version not in (None, "", "0"):
        raise errors.BadRequest("specifying resource version is not allowed when using continue")
    if limit is not None and limit <= 0:
        limit = None

    prefix = info.prefix(namespace)
    if continue_token:
        revision, start_after = decode_continue(continue_token, prefix)
        return await _page_from_store(rest, prefix, predicate, limit, revision, start_after)
    exact = resource_version_match == "Exact" or (
        limit is not None and not resource_version_match and resource_version not in (None, "", "0")
    )
    if exact:
        revision = parse_resource_version(str(resource_version))
        return await _page_from_store(rest, prefix, predicate, limit, revision, None)
    if limit is not None and resource_version in (None, ""):
        return await _page_from_store(rest, prefix, predicate, limit, None, None)

    # From the watch cache.
    if resource_version == "0":
        cache = await rest.caches.get(info)
    else:
        min_rev = parse_resource_version(resource_version) if resource_version else 0
        cache = await rest.fresh_cache(info, min_rev, consistent=not resource_version)
    ns = namespace if info.namespaced else None
    items = cache.list(ns)
    if predicate is not None:
        items = [o for o in items if predicate(o.obj)]
    revision = cache.revision
    if limit is not None and resource_version != "0" and len(items) > limit:
        # Paging a cached list: later pages continue from the store at this snapshot.
        page = items[:limit]
        remaining = len(items) - limit if predicate is None else None
        return ListResult(page, revision, encode_continue(revision, page[-1].key, prefix), remaining)
    return ListResult(items, revision)


async def _page_from_store(
    rest: RestStore,
    prefix: str,
    predicate: ObjectFilter | None,
    limit: int | None,
    revision: int | None,
    start_after: str | None,
) -> ListResult:
    collected: list[CachedObject] = []
    snapshot = revision
    paging = start_after  # where the continue token asked to start, None for a first page
    while True:
        want = None if limit is None else max(limit - len(collected), 1)
        try:
            page = await rest.store.range(prefix, revision=snapshot, limit=want, start_after=start_after)
        except Compacted:
            if paging is None:
                raise errors.Gone(_EXPIRED_LIST) from None
            # Offer the rest of the list at the latest revision (upstream's inconsistent continue).
            fresh = _encode_token(-1, paging[len(prefix) :] + "\x00")
            raise errors.Gone(_EXPIRED_CONTINUE, continue_token=fresh) from None
        except FutureRevision as exc:
            raise errors.Timeout(
                f"Too large resource version: {exc.requested}, current: {exc.current}",
                causes=[errors.Cause("ResourceVersionTooLarge", "Too large resource version")],
                retry_after_seconds=1,
            ) from None
        snapshot = page.revision
        for kv in page.items:
            obj = decode_from_storage(kv)
            if predicate is None or predicate(obj):
                collected.append(CachedObject(kv.key, obj, kv.mod_revision))
        if page.items:
            start_after = page.items[-1].key
        if not page.more or not page.items:
            return ListResult(collected, snapshot)
        if limit is not None and len(collected) >= limit:
            token = encode_continue(snapshot, start_after or prefix, prefix)
            return ListResult(collected, snapshot, token, page.remaining if predicate is None else None)
