"""HTTP handlers for resource requests: parse the request, call the REST store, encode.

Every verb lands in :func:`handle_resource`, which looks the resource up in the
registry (404 if unknown, 405 if the verb is not served), decodes the body
within the size limit, and writes the answer in the negotiated form (object,
list, Table, PartialObjectMetadata; JSON or YAML).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from pinnace.api import apply, conversion, crd, duplicates, errors, managedfields, patch, strategic, strategy, typed
from pinnace.api import validation as builtin_validation
from pinnace.api.definitions import definition_for
from pinnace.api.params import query_bool
from pinnace.api.registry import SUBRESOURCE_VERBS, ResourceInfo
from pinnace.api.table import build_table
from pinnace.apiserver import binding, eviction, negotiation, request_warnings, scale
from pinnace.apiserver.httputil import int_param, read_body, respond
from pinnace.apiserver.listing import ListResult, list_objects
from pinnace.apiserver.negotiation import Output, Wanted
from pinnace.apiserver.request_info import RequestInfo
from pinnace.apiserver.rest import DeleteOptions, RestStore
from pinnace.apiserver.rest_base import check_name
from pinnace.apiserver.views import object_view, partial_metadata
from pinnace.apiserver.watch import serve_watch

Obj = dict[str, Any]

#: Verbs served only on an object's path; the others (but watch) only on the collection's.
_NAMED_VERBS = frozenset({"update", "patch", "delete", "get"})


def resolve(rest: RestStore, ri: RequestInfo) -> ResourceInfo:
    """The resource a request names, or the upstream 404."""
    info = rest.registry.get(ri.group, ri.version, ri.resource)
    if info is None:
        if rest.registry.is_virtual(ri.group, ri.version, ri.resource):  # a review: only its create is routed
            raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
        raise errors.NotFound("the server could not find the requested resource")
    if ri.subresource is not None and ri.subresource not in info.subresources:
        raise errors.NotFound("the server could not find the requested resource")
    if ri.subresource is None and ri.verb not in info.verbs:
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    if ri.subresource is None and ri.verb != "watch" and (ri.verb in _NAMED_VERBS) == (ri.name is None):
        # PUT/PATCH on a collection, POST on an object: no such route upstream (go-restful's 405).
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    if ri.subresource is not None and ri.verb not in SUBRESOURCE_VERBS.get(ri.subresource, ()):
        raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
    if info.namespaced and ri.verb == "create" and ri.namespace is None and ri.subresource is None:
        raise errors.NotFound("the server could not find the requested resource")
    if info.namespaced and ri.namespace == "" and ri.name is not None:
        # An empty namespace segment lists or watches every namespace; an object needs one (upstream's key func).
        raise errors.BadRequest("Namespace parameter required.")
    return info


def _dry_run(query: Any) -> bool:
    values = query.getall("dryRun", [])
    for v in values:
        if v != "All":
            raise errors.BadRequest(f'dryRun: Unsupported value: "{v}": supported values: "All"')
    return bool(values)


def list_body(info: ResourceInfo, result: ListResult, wanted: Wanted, query: Any) -> bytes:
    """A list response: cached item JSON is spliced, not re-encoded, for plain JSON lists."""
    list_meta: Obj = {"resourceVersion": str(result.resource_version)}
    if result.continue_token:
        list_meta["continue"] = result.continue_token
        if result.remaining is not None:
            list_meta["remainingItemCount"] = result.remaining
    if wanted.output is Output.TABLE:
        table = build_table(
            info.group,
            info.kind,
            [conversion.to_version(info, o.obj) for o in result.items],
            include_object=query.get("includeObject") or "PartialObjectMetadata",
            list_meta=list_meta,
            printer_columns=crd.printer_columns(info),
        )
        return negotiation.encode(table, wanted)
    if wanted.output is Output.PARTIAL:
        value: Obj = {
            "kind": "PartialObjectMetadataList",
            "apiVersion": f"meta.k8s.io/{wanted.meta_version}",
            "metadata": list_meta,
            "items": [partial_metadata(o.obj, wanted.meta_version) for o in result.items],
        }
        return negotiation.encode(value, wanted)
    if wanted.yaml or conversion.needs_read_conversion(info):
        return negotiation.encode(
            {
                "apiVersion": info.api_version,
                "kind": info.list_kind,
                "metadata": list_meta,
                "items": [conversion.to_version(info, o.obj) for o in result.items],
            },
            wanted,
        )
    head = orjson.dumps({"kind": info.list_kind, "apiVersion": info.api_version, "metadata": list_meta})
    return head[:-1] + b',"items":[' + b",".join(o.json for o in result.items) + b"]}"


def delete_options(query: Any, body: bytes, media: str = "") -> DeleteOptions:
    """DeleteOptions from the body (if any) and the query."""
    opts: Obj = {}
    if body.strip():
        decoded = negotiation.decode_object(body, media)
        if decoded.get("kind") not in (None, "DeleteOptions"):
            raise errors.BadRequest(f"expected DeleteOptions, got {decoded.get('kind')}")
        opts = decoded
    grace = opts.get("gracePeriodSeconds")
    if grace is None:
        grace = int_param(query, "gracePeriodSeconds")
    policy = opts.get("propagationPolicy") or query.get("propagationPolicy")
    orphan = opts.get("orphanDependents")
    if orphan is None and query.get("orphanDependents") is not None:
        orphan = query_bool(query.get("orphanDependents"))
    if policy is None and orphan is not None:
        policy = "Orphan" if orphan else "Background"
    if policy not in (None, "Orphan", "Background", "Foreground"):
        raise errors.BadRequest(
            f'propagationPolicy: Unsupported value: "{policy}": supported values: "Foreground", "Background", "Orphan"'
        )
    pre = opts.get("preconditions") or {}
    dry = opts.get("dryRun") or query.getall("dryRun", [])
    return DeleteOptions(
        grace_period_seconds=int(grace) if grace is not None else None,
        propagation_policy=policy,
        precondition_uid=pre.get("uid"),
        precondition_resource_version=pre.get("resourceVersion"),
        dry_run=bool(dry),
        orphan_dependents_false=orphan is False,
    )


def _undecodable(info: ResourceInfo) -> str:
    """How upstream starts a strict decoding error of a create or update body."""
    return f'{info.kind} in version "{info.version}" cannot be handled as a {info.kind}: '


def _unknown_fields(
    info: ResourceInfo, obj: Obj, schema: Any, validation: str, context: str = "", *, patched: bool = False
) -> list[str]:
    """Unknown fields by the kind's schema (a custom resource's: its CRD's), per ``fieldValidation``."""
    if info.custom:
        builtin_validation.check_custom_metadata(obj, context)
        return crd.check_unknown_fields(info, obj, validation, context)
    if info.definition and not builtin_validation.check_decodable(obj, info.definition, context):
        return []  # the decode walk saw no key the type lacks: no unknown-field pass needed
    return typed.check_unknown_fields(obj, schema, validation, context, patched=patched)


def _decode_checked(info: ResourceInfo, body: bytes, media: str, schema: Any, validation: str) -> tuple[Obj, list[str]]:
    """A create or update body, and its ``fieldValidation`` warnings: duplicate, then unknown fields (Strict: 400)."""
    obj = negotiation.decode_object(body, media)
    context = _undecodable(info)
    repeated = _duplicate_fields(body, media, obj) if validation != typed.IGNORE else []
    if not repeated:
        return obj, _unknown_fields(info, obj, schema, validation, context)
    unknown = _unknown_fields(info, obj, schema, typed.WARN, context)
    if validation == typed.STRICT:
        raise errors.BadRequest(context + "strict decoding error: " + ", ".join(repeated + unknown))
    return obj, repeated + unknown


def _duplicate_fields(body: bytes, media: str, obj: Obj) -> list[str]:
    """Repeated keys in a JSON or YAML body, worded as upstream's strict decoders (protobuf has none)."""
    if media in ("", negotiation.JSON, "*/*"):
        return duplicates.json_duplicates(body, obj)
    if media in (negotiation.YAML, "application/x-yaml", "text/yaml"):
        found = duplicates.yaml_duplicates(body)
        return [found] if found else []
    return []


#: Control characters become spaces in a ``Warning`` header, as upstream's header quoting does.
_UNPRINTABLE = {c: " " for c in [*range(0x20), 0x7F]}


def _warn(response: web.Response, warnings: list[str]) -> web.Response:
    """Add one RFC 7234 ``Warning`` header per message (kubectl prints them as ``Warning: …``)."""
    for message in warnings:
        escaped = message.replace("\\", "\\\\").replace('"', '\\"').translate(_UNPRINTABLE)
        response.headers.add("Warning", f'299 - "{escaped}"')
    return response


def _success_status(info: ResourceInfo, obj: Obj) -> Obj:
    meta = obj.get("metadata") or {}
    details: Obj = {"name": meta.get("name", ""), "kind": info.plural, "uid": meta.get("uid", "")}
    if info.group:
        details["group"] = info.group
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}


def apply_patch(info: ResourceInfo, current: Obj, media: str, body: bytes) -> Obj:
    """The object after a patch of the given media type. ``current`` is the caller's own copy (a guaranteed
    update's mutation gets one): JSON and merge patches change it in place."""
    if media == negotiation.JSON_PATCH:
        return patch.apply_json_patch(current, negotiation.decode_patch(body), in_place=True)
    doc = negotiation.decode_json_or_yaml(body)
    if not isinstance(doc, dict):
        raise errors.BadRequest("error decoding patch: the patch must be a JSON object")
    if media == negotiation.MERGE_PATCH:
        return patch.apply_merge_patch(current, doc, in_place=True)
    if media == negotiation.STRATEGIC_PATCH:
        schema = definition_for(info.group, info.version, info.kind)
        if schema is None or info.custom:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types include: {_patch_types(info)}"
            )
        return strategic.apply_strategic_patch(current, doc, schema)
    raise errors.UnsupportedMediaType(
        f"the body of the request was in an unknown format - accepted media types include: "
        f"{negotiation.JSON_PATCH}, {negotiation.MERGE_PATCH}, {negotiation.STRATEGIC_PATCH}"
    )


_OPTIONS_KIND = {"create": "CreateOptions", "update": "UpdateOptions", "patch": "PatchOptions"}


def _field_manager(request: web.BaseRequest, verb: str, media: str) -> str:
    """The manager a write is recorded for: ``fieldManager``, else the User-Agent's product (not for apply)."""
    query = request.query
    manager = query.get("fieldManager")
    applying = verb == "patch" and media == negotiation.APPLY_PATCH_YAML
    managedfields.validate_manager(manager, _OPTIONS_KIND[verb], apply=applying, force="force" in query)
    if manager or applying:
        return manager or ""
    return managedfields.manager_from_user_agent(request.headers.get("User-Agent"))


def _patch_types(info: ResourceInfo) -> str:
    types = [negotiation.JSON_PATCH, negotiation.MERGE_PATCH]
    if not info.custom:
        types.append(negotiation.STRATEGIC_PATCH)
    return ", ".join([*types, negotiation.APPLY_PATCH_YAML])


async def _server_side_apply(
    rest: RestStore,
    info: ResourceInfo,
    namespace: str | None,
    ri: RequestInfo,
    body: bytes,
    manager: str,
    *,
    force: bool,
    dry_run: bool,
    check: Any,
) -> tuple[Obj, int]:
    """PATCH with an apply configuration: merge it with ownership, or create the object (201) if it is missing."""
    config = negotiation.decode_json_or_yaml(body)
    apply.check_config(info, config)
    name = ri.name or ""

    def applied(cur: Obj) -> Obj:
        now = strategy.now_rfc3339()
        result = apply.apply(info, cur, config, manager, force=force, subresource=ri.subresource, now=now)
        check(result)
        return result

    try:
        return await rest.mutate(info, namespace, name, applied, subresource=ri.subresource, dry_run=dry_run), 200
    except errors.NotFound as exc:
        if ri.subresource is not None or exc.name != name or exc.kind != info.plural:
            raise
    meta = config.get("metadata") or {}
    if meta.get("name"):  # an apply configuration may leave its name to the URL
        check_name(meta, name, None)
    obj = apply.apply(info, None, config, manager, force=force, now=strategy.now_rfc3339())
    obj["metadata"]["name"] = name
    check(obj)
    return await rest.create(info, namespace, obj, dry_run=dry_run), 201


async def handle_resource(request: web.BaseRequest, rest: RestStore, ri: RequestInfo) -> web.StreamResponse:
    """Serve one resource request."""
    info = resolve(rest, ri)
    query = request.query
    namespace = (ri.namespace or None) if info.namespaced else None  # an empty one: every namespace's objects
    wanted = negotiation.negotiate(request.headers.get("Accept"))
    verb = ri.verb

    if ri.subresource == "scale":
        return await scale.handle_scale(request, rest, info, namespace, ri, wanted)
    if ri.subresource == "binding" or (info.group, info.kind) == ("", "Binding"):
        return await binding.handle_binding(request, rest, namespace, ri, wanted)
    if ri.subresource == "eviction":
        return await eviction.handle_eviction(request, rest, namespace, ri, wanted)

    if verb == "get":
        obj = await rest.get(info, namespace, ri.name or "", query.get("resourceVersion"))
        return respond(object_view(obj, info, wanted, query), wanted)
    if verb == "list":
        result = await list_objects(
            rest,
            info,
            namespace,
            label_selector=query.get("labelSelector"),
            field_selector=query.get("fieldSelector"),
            limit=int_param(query, "limit"),
            continue_token=query.get("continue") or None,
            resource_version=query.get("resourceVersion"),
            resource_version_match=query.get("resourceVersionMatch") or None,
            send_initial_events=query.get("sendInitialEvents"),
        )
        return web.Response(body=list_body(info, result, wanted, query), headers={"Content-Type": wanted.content_type})
    if verb == "watch":
        return await serve_watch(request, rest, info, namespace, ri, wanted)

    body = await read_body(request) if verb in ("create", "update", "patch", "delete", "deletecollection") else b""
    media = negotiation.content_type_of(request.headers.get("Content-Type"))
    dry_run = _dry_run(query)
    validation = typed.field_validation(query.get("fieldValidation")) if verb in ("create", "update", "patch") else ""
    schema = strategy.schema_of(info)
    manager = _field_manager(request, verb, media) if verb in _OPTIONS_KIND else None

    if verb == "create":
        obj, warnings = _decode_checked(info, body, media, schema, validation)
        if info.namespaced and ri.namespace == "":
            # Upstream clears the object's namespace to the request's empty one; it then has none.
            name = str(strategy.meta(obj).get("name") or "")
            cause = errors.Cause(errors.CAUSE_REQUIRED, "Required value", "metadata.namespace")
            raise errors.invalid(info.kind, name, [cause], group=info.group)
        with request_warnings.collected() as noted:
            created = await rest.create(info, namespace, obj, dry_run=dry_run, manager=manager)
        return _warn(respond(object_view(created, info, wanted, query), wanted, status=201), warnings + noted)
    if verb == "update":
        obj, warnings = _decode_checked(info, body, media, schema, validation)
        with request_warnings.collected() as noted:
            updated, was_created = await rest.update(
                info, namespace, ri.name or "", obj, subresource=ri.subresource, dry_run=dry_run, manager=manager
            )
        status = 201 if was_created else 200
        return _warn(respond(object_view(updated, info, wanted, query), wanted, status=status), warnings + noted)
    if verb == "patch":
        if media not in negotiation.PATCH_TYPES:
            raise errors.UnsupportedMediaType(
                f"the body of the request was in an unknown format - accepted media types include: {_patch_types(info)}"
            )
        if not body.strip():
            raise errors.BadRequest("the body of the request must not be empty for a patch")
        warnings = []
        if media == negotiation.APPLY_PATCH_YAML:

            def check(result: Obj) -> None:
                warnings[:] = _unknown_fields(info, result, schema, validation)

            force = query_bool(query.get("force"))
            with request_warnings.collected() as noted:
                applied, status = await _server_side_apply(
                    rest, info, namespace, ri, body, manager or "", force=force, dry_run=dry_run, check=check
                )
            return _warn(respond(object_view(applied, info, wanted, query), wanted, status=status), warnings + noted)

        def patch_and_check(cur: Obj) -> Obj:
            result = apply_patch(info, cur, media, body)
            warnings[:] = _unknown_fields(info, result, schema, validation, patched=True)
            return result

        with request_warnings.collected() as noted:
            patched = await rest.mutate(
                info,
                namespace,
                ri.name or "",
                patch_and_check,
                subresource=ri.subresource,
                dry_run=dry_run,
                manager=manager,
            )
        return _warn(respond(object_view(patched, info, wanted, query), wanted), warnings + noted)
    if verb == "delete":
        options = delete_options(query, body, media)
        obj, gone = await rest.delete(info, namespace, ri.name or "", options)
        if gone and not info.returns_deleted_object:
            return respond(_success_status(info, obj), Wanted(yaml=wanted.yaml))
        # Upstream answers 202 only for a pending deletion that asked for orphanDependents=false (delete.go).
        accepted = not gone and options.orphan_dependents_false
        return respond(object_view(obj, info, wanted, query), wanted, status=202 if accepted else 200)
    if verb == "deletecollection":
        options = delete_options(query, body, media)
        result = await list_objects(
            rest,
            info,
            namespace,
            label_selector=query.get("labelSelector"),
            field_selector=query.get("fieldSelector"),
        )
        deleted = []
        for cached in result.items:
            meta = cached.obj.get("metadata") or {}
            try:
                obj, _ = await rest.delete(info, meta.get("namespace") or None, meta.get("name", ""), options)
            except errors.NotFound:
                continue
            deleted.append(obj)
        value = {
            "kind": info.list_kind,
            "apiVersion": info.api_version,
            "metadata": {"resourceVersion": str(result.resource_version)},
            "items": deleted,
        }
        return respond(value, Wanted(yaml=wanted.yaml))
    raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")
