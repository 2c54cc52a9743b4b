"""The ``scale`` subresource: an ``autoscaling/v1`` Scale view of a workload.

GET answers the Scale (spec.replicas, status.replicas and the selector as a
string); PUT and PATCH change only the workload's ``spec.replicas``. A server-side
apply of a Scale applies its ``spec.replicas`` to the workload, owned (and in
conflict with other owners) through the ``scale`` subresource.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson
from aiohttp import web

from pinnace.api import apply, crd, errors, managedfields, patch, selectors, strategy
from pinnace.api.managedfields import manager_from_user_agent
from pinnace.api.params import query_bool
from pinnace.api.registry import SUBRESOURCE_KINDS, ResourceInfo
from pinnace.api.validation import check_decodable
from pinnace.api.validation.field import go_value
from pinnace.apiserver import negotiation
from pinnace.apiserver.httputil import read_body, respond
from pinnace.apiserver.negotiation import Wanted
from pinnace.apiserver.request_info import RequestInfo
from pinnace.apiserver.rest import AdmissionView, RestStore, conflict
from pinnace.apiserver.views import object_view

Obj = dict[str, Any]

SCALE_DEFINITION = "io.k8s.api.autoscaling.v1.Scale"
#: What upstream's decoder says before a Scale body that does not fit the Go type (a PUT; a patch is a 422).
_UPDATE_CONTEXT = 'Scale in version "v1" cannot be handled as a Scale: '
#: What a Scale is printed as in a Table (upstream's NAME, DESIRED, AVAILABLE, AGE).
SCALE_KIND = ("autoscaling", "Scale")


def scale_of(obj: Obj, info: ResourceInfo | None = None) -> Obj:
    """The Scale object describing a workload (a custom resource's by its CRD's scale paths)."""
    custom = crd.scale_view(info, obj) if info is not None else None
    if custom is not None:
        return _custom_scale(obj, *custom)
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = spec.get("selector")
    if isinstance(selector, dict) and ("matchLabels" in selector or "matchExpressions" in selector):
        selector_text = str(selectors.from_label_selector(selector))
    elif isinstance(selector, dict):  # ReplicationController: a plain map
        selector_text = ",".join(f"{k}={v}" for k, v in sorted(selector.items()))
    else:
        selector_text = ""
    scale_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta}
    out: Obj = {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)},
        "status": {"replicas": int(status.get("replicas") or 0)},
    }
    if selector_text:
        out["status"]["selector"] = selector_text
    return out


def _custom_scale(obj: Obj, spec_replicas: int, status_replicas: int, selector: str) -> Obj:
    meta = obj.get("metadata") or {}
    scale_meta = {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta}
    out: Obj = {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": spec_replicas},
        "status": {"replicas": status_replicas},
    }
    if selector:
        out["status"]["selector"] = selector
    return out


def _check_scale(scale: Any, context: str) -> None:
    """Refuse a Scale body (``context`` set: a PUT, a 400) or patched Scale (a 422 on ``patch``) that upstream's decoder
    cannot read into its Go type (``spec`` a string, ``spec.replicas`` beyond int32, ...)."""
    if not isinstance(scale, dict):
        message = f"json: cannot unmarshal {patch.go_json_type(scale)} into Go value of type v1.Scale"
        if context:
            raise errors.BadRequest(context + message)
        cause = errors.Cause(
            errors.CAUSE_INVALID, f"Invalid value: {go_value(orjson.dumps(scale).decode())}: {message}", "patch"
        )
        raise errors.invalid("", "", [cause])
    check_decodable(scale, SCALE_DEFINITION, context)


def _replicas_from(scale: Obj) -> int:
    if scale.get("kind") not in (None, "Scale"):
        raise errors.BadRequest(f"the kind in the data ({scale.get('kind')}) does not match the expected kind (Scale)")
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise errors.invalid(
            "Scale",
            str((scale.get("metadata") or {}).get("name", "")),
            [
                errors.Cause(
                    errors.CAUSE_INVALID,
                    f"Invalid value: {replicas!r}: must be greater than or equal to 0",
                    "spec.replicas",
                )
            ],
            group="autoscaling",
        )
    return replicas


def _parent_config(info: ResourceInfo, name: str, body: bytes) -> Obj:
    """The apply configuration of the workload that an apply configuration of its Scale stands for."""
    scale = negotiation.decode_json_or_yaml(body)
    if not isinstance(scale, dict):
        raise errors.BadRequest("error decoding patch: the patch must be a JSON object")
    if scale.get("apiVersion") != "autoscaling/v1" or scale.get("kind") != "Scale":
        raise errors.BadRequest(
            f"the kind in the data ({scale.get('kind')}) does not match the expected kind (autoscaling/v1 Scale)"
        )
    config: Obj = {"apiVersion": info.api_version, "kind": info.kind, "metadata": {"name": name}}
    if (scale.get("spec") or {}).get("replicas") is not None:
        replicas = _replicas_from(scale)
        if not crd.set_scale(info, config, replicas):
            config["spec"] = {"replicas": replicas}
    return config


async def handle_scale(
    request: web.BaseRequest,
    rest: RestStore,
    info: ResourceInfo,
    namespace: str | None,
    ri: RequestInfo,
    wanted: Wanted,
) -> web.StreamResponse:
    """Serve GET/PUT/PATCH on ``…/scale``."""
    name = ri.name or ""
    if ri.verb == "get":
        obj = await rest.get(info, namespace, name, request.query.get("resourceVersion"))
        return respond(object_view(scale_of(obj, info), info, wanted, request.query, SCALE_KIND), wanted)
    body = await read_body(request)
    media = negotiation.content_type_of(request.headers.get("Content-Type"))
    manager = request.query.get("fieldManager") or manager_from_user_agent(request.headers.get("User-Agent"))
    applying = ri.verb == "patch" and media == negotiation.APPLY_PATCH_YAML
    if applying:
        managedfields.validate_manager(
            request.query.get("fieldManager"), "PatchOptions", apply=True, force="force" in request.query
        )
        config = _parent_config(info, name, body)
        force = query_bool(request.query.get("force"))

    def mutate(current: Obj) -> Obj:
        if applying:  # the Scale's spec.replicas applied as the workload's, owned through the scale subresource
            now = strategy.now_rfc3339()
            return apply.apply(info, current, config, manager, force=force, subresource="scale", now=now)
        current_scale = scale_of(current, info)
        if ri.verb == "update":
            desired = negotiation.decode_object(body, media)
            want_rv = (desired.get("metadata") or {}).get("resourceVersion")
            if want_rv and want_rv != current_scale["metadata"].get("resourceVersion"):
                raise conflict(
                    info,
                    name,
                    "the object has been modified; please apply your changes to the latest version and try again",
                )
        elif media == negotiation.JSON_PATCH:
            desired = patch.apply_json_patch(current_scale, negotiation.decode_patch(body))
        elif media in (negotiation.MERGE_PATCH, negotiation.STRATEGIC_PATCH):
            doc = negotiation.decode_patch(body)
            if not isinstance(doc, dict):
                raise errors.BadRequest("error decoding patch: the patch must be a JSON object")
            desired = patch.apply_merge_patch(current_scale, doc)
        else:
            raise errors.UnsupportedMediaType(f"unsupported patch type for scale: {media}")
        _check_scale(desired, _UPDATE_CONTEXT if ri.verb == "update" else "")
        return apply_scale(current, desired)

    def apply_scale(obj: Obj, scale: Obj) -> Obj:
        out = copy.deepcopy(obj)
        replicas = _replicas_from(scale)
        if not crd.set_scale(info, out, replicas):
            out.setdefault("spec", {})["replicas"] = replicas
        return out

    # Admission sees the write as the Scale it is (kind autoscaling/v1 Scale, object and oldObject Scales).
    view = AdmissionView(SUBRESOURCE_KINDS["scale"], lambda obj: scale_of(obj, info), apply_scale)
    try:
        tracked = None if applying else manager  # an apply writes its own managedFields entry
        updated = await rest.mutate(info, namespace, name, mutate, subresource="scale", manager=tracked, view=view)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest(f"error decoding patch: {exc}") from None
    return respond(object_view(scale_of(updated, info), info, wanted, request.query, SCALE_KIND), wanted)
