"""WATCH over HTTP: a chunked stream of ``{"type": ..., "object": ...}`` lines.

The stream is fed by the resource's watch cache. It starts with the current
state (no resourceVersion, or "0"), or after a given resourceVersion (410
Gone as an ERROR event if that is older than the cache's window), sends
BOOKMARK events when asked (``allowWatchBookmarks``), honours
``timeoutSeconds`` and ``sendInitialEvents``, and ends with an ERROR event if
the server has to drop it. Pending events are written in one batch, so a
watcher that wakes late catches up with one write.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

import orjson
from aiohttp import web

from pinnace.api import conversion, errors
from pinnace.api.params import query_bool
from pinnace.api.registry import ResourceInfo
from pinnace.apiserver.httputil import NO_CACHE, int_param
from pinnace.apiserver.listing import ObjectFilter, build_filter, validate_list_options
from pinnace.apiserver.negotiation import Output, Wanted
from pinnace.apiserver.request_info import RequestInfo
from pinnace.apiserver.rest import RestStore, parse_resource_version
from pinnace.apiserver.views import object_view
from pinnace.apiserver.watch_cache import CachedObject, CacheEvent, Watcher
from pinnace.storage import Compacted

log = logging.getLogger(__name__)

Obj = dict[str, Any]

#: Upstream's minimum request timeout; watches without timeoutSeconds last
#: between one and two times this.
MIN_REQUEST_TIMEOUT = 1800.0
#: Below this much unsent data on the socket, events are written straight to it; above it,
#: through aiohttp's writer, which waits for the client to catch up.
_DIRECT_WRITE_LIMIT = 64 * 1024


class WatchSettings:
    """Server-wide watch knobs (tests shorten the bookmark interval)."""

    bookmark_interval: float = 60.0


def _event_line(event_type: str, obj_json: bytes) -> bytes:
    return b'{"type":"' + event_type.encode() + b'","object":' + obj_json + b"}\n"


def _error_line(err: errors.StatusError) -> bytes:
    return _event_line("ERROR", orjson.dumps(err.status()))


async def serve_watch(
    request: web.BaseRequest,
    rest: RestStore,
    info: ResourceInfo,
    namespace: str | None,
    ri: RequestInfo,
    wanted: Wanted,
) -> web.StreamResponse:
    """Answer a watch request with an event stream."""
    query = request.query
    predicate = build_filter(info, query.get("labelSelector"), query.get("fieldSelector"))
    if ri.name is not None:  # /watch/namespaces/ns/pods/name: one object
        predicate = _only_named(ri.name, predicate)

    rv = query.get("resourceVersion") or ""
    send_initial = query_bool(query.get("sendInitialEvents"))
    bookmarks = query_bool(query.get("allowWatchBookmarks"))
    validate_list_options(
        watch=True,
        resource_version=rv,
        resource_version_match=query.get("resourceVersionMatch"),
        continue_token=query.get("continue"),
        send_initial_events=query.get("sendInitialEvents"),
    )
    if send_initial and not bookmarks:
        raise errors.invalid(
            "ListOptions",
            "",
            [
                errors.Cause(
                    errors.CAUSE_FORBIDDEN,
                    "sendInitialEvents requires setting allowWatchBookmarks to true",
                    "allowWatchBookmarks",
                )
            ],
            group="meta.k8s.io",
        )
    timeout = int_param(query, "timeoutSeconds")
    duration = float(timeout) if timeout and timeout > 0 else MIN_REQUEST_TIMEOUT * (1 + random.random())

    ns = namespace if info.namespaced else None

    def cache_filter(o: CachedObject) -> bool:
        return predicate is None or predicate(o.obj)

    filt = None if predicate is None else cache_filter
    gone: errors.StatusError | None = None
    watcher: Watcher | None
    if rv in ("", "0") or send_initial:
        min_rev = parse_resource_version(rv) if rv not in ("", "0") else 0
        cache = await (rest.caches.get(info) if rv == "0" else rest.fresh_cache(info, min_rev, consistent=not rv))
        # sendInitialEvents=false: start at the most recent (rv unset) or any (rv=0) state, without it.
        skip_initial = (query.get("sendInitialEvents") or "").lower() == "false"
        watcher = cache.watch(ns, filt, after_revision=cache.revision if skip_initial else None)
    else:
        after = parse_resource_version(rv)
        cache = await rest.fresh_cache(info, after)
        try:
            watcher = cache.watch(ns, filt, after_revision=after)
        except Compacted as exc:
            gone = errors.Gone(f"too old resource version: {after} ({exc.compacted})")
            watcher = None

    response = web.StreamResponse(
        status=200,
        headers={
            "Content-Type": wanted.content_type,
            "Cache-Control": NO_CACHE,
        },
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    if watcher is None:
        await response.write(_error_line(gone or errors.Gone("too old resource version")))
        return response

    encode = _encoder(info, wanted, query)
    deadline = time.monotonic() + duration
    initial_end_sent = not send_initial
    transport = request.transport

    def write_chunk(data: bytes) -> bool:
        """Write one chunk of the chunked body straight to the socket, if it is keeping up.

        aiohttp sent the headers in prepare() and frames chunks the same way; a
        client that is behind gets aiohttp's writer instead, which waits for it.
        """
        if transport is None or transport.is_closing() or transport.get_write_buffer_size() >= _DIRECT_WRITE_LIMIT:
            return False
        transport.write(b"%x\r\n%b\r\n" % (len(data), data))
        return True

    waiting_on_client = False  # a write is waiting for the client to read

    def cut_stalled_client() -> None:
        """The watcher fell too far behind: if its client is not reading at all, drop the connection, and with
        it the bytes queued for the client (a suspended ``kubectl get -w`` would otherwise hold them for ever)."""
        if waiting_on_client and transport is not None:
            transport.abort()

    watcher.on_fell_behind = cut_stalled_client
    if wanted.output is Output.OBJECT and not wanted.yaml:  # a line per event the cache's flush can write
        watcher.stream_to(write_chunk, encode)
    try:
        while True:
            if not watcher.pending and not watcher.closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                wait = min(remaining, WatchSettings.bookmark_interval) if bookmarks else remaining
                got = await watcher.wait(0 if not initial_end_sent else wait)
            else:
                got = True
            events = watcher.drain()
            try:
                chunks = [encode(ev) for ev in events]
            except errors.StatusError as exc:  # an event it cannot show (a Table with a bad includeObject)
                log.info("watch of %s ends: unable to encode a watch object: %s", info.plural, exc)
                break  # as upstream's watch server: the stream ends
            if not initial_end_sent and not watcher.pending:
                chunks.append(_bookmark(info, cache.revision, initial_end=True))
                initial_end_sent = True
            elif not got and bookmarks:
                chunks.append(_bookmark(info, cache.revision))
            if chunks:
                data = b"".join(chunks)
                if not write_chunk(data):
                    waiting_on_client = True
                    try:
                        await response.write(data)  # raises if the client is gone; waits if it is slow
                    finally:
                        waiting_on_client = False
            if watcher.closed and not watcher.pending:
                if watcher.error:
                    await response.write(_error_line(errors.Gone(watcher.error)))
                break
            if time.monotonic() >= deadline:
                break
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        watcher.terminate()
    return response


def _only_named(name: str, inner: ObjectFilter | None) -> ObjectFilter:
    def matches(obj: Obj) -> bool:
        return bool((obj.get("metadata") or {}).get("name") == name and (inner is None or inner(obj)))

    return matches


def _bookmark(info: ResourceInfo, revision: int, *, initial_end: bool = False) -> bytes:
    meta: Obj = {"resourceVersion": str(revision)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    return _event_line("BOOKMARK", orjson.dumps({"kind": info.kind, "apiVersion": info.api_version, "metadata": meta}))


def _encoder(info: ResourceInfo, wanted: Wanted, query: Any) -> Any:
    if wanted.output is Output.OBJECT and not wanted.yaml:
        if not conversion.needs_read_conversion(info):
            return CacheEvent.line  # encoded once per event, shared by every watcher
        version = info.version

        def convert(obj: Obj) -> Obj:
            return conversion.to_version(info, obj)

        def converted(ev: CacheEvent) -> bytes:
            return ev.line_as(version, convert)  # converted and encoded once per event and version

        return converted

    def encode(ev: CacheEvent) -> bytes:
        obj = conversion.to_version(info, ev.object.obj)
        return _event_line(ev.type, orjson.dumps(object_view(obj, info, wanted, query)))

    return encode
