"""The ``pods/binding`` subresource (and the legacy ``bindings`` collection): assign a pod to a node.

A scheduler binds a pod by POSTing a v1 ``Binding`` (``target`` names the
node) to ``/api/v1/namespaces/NS/pods/NAME/binding`` — or, the older way, to
``/api/v1/namespaces/NS/bindings`` with the pod's name in the Binding's
metadata. As upstream's ``BindingREST``, the write sets ``spec.nodeName``, adds
the Binding's annotations to the pod and sets the ``PodScheduled`` condition
True, in one compare-and-swap; a pod that is already bound, being deleted or
still gated is refused with 409 Conflict on ``pods/binding``. The answer is a
Success Status (201).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from pinnace.api import errors
from pinnace.api.podutil import set_pod_condition
from pinnace.apiserver import negotiation
from pinnace.apiserver.admission import Operation
from pinnace.apiserver.httputil import read_body, respond
from pinnace.apiserver.negotiation import Wanted
from pinnace.apiserver.request_info import RequestInfo
from pinnace.apiserver.rest import RestStore

__all__ = ["bind", "handle_binding", "serve_create", "success_status"]

Obj = dict[str, Any]


def success_status(code: int = 201) -> Obj:
    """The Status a subresource create answers when it has no object to return."""
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": code}


def _binding_conflict(pod_name: str, why: str) -> errors.Conflict:
    return errors.Conflict(
        f'Operation cannot be fulfilled on pods/binding "{pod_name}": {why}', kind="pods/binding", name=pod_name
    )


def _check_binding(binding: Obj, url_name: str | None) -> tuple[str, str]:
    """The pod and node a Binding names; 400/422 as upstream for a malformed one."""
    if binding.get("kind") not in (None, "Binding"):
        raise errors.BadRequest(
            f"the kind in the data ({binding.get('kind')}) does not match the expected kind (Binding)"
        )
    meta = binding.get("metadata") or {}
    name = str(meta.get("name") or "")
    if url_name is not None and name != url_name:
        raise errors.BadRequest("name in URL does not match name in Binding object")
    target = binding.get("target") or {}
    causes = []
    if target.get("kind") not in (None, "", "Node"):
        causes.append(
            errors.Cause(
                errors.CAUSE_NOT_SUPPORTED,
                f'Unsupported value: "{target.get("kind")}": supported values: "Node"',
                "target.kind",
            )
        )
    if not target.get("name"):
        causes.append(errors.Cause(errors.CAUSE_REQUIRED, "Required value", "target.name"))
    if causes:
        raise errors.invalid("Binding", name, causes)
    return name, str(target["name"])


async def bind(rest: RestStore, namespace: str, binding: Obj, *, url_name: str | None, dry_run: bool = False) -> Obj:
    """Assign the pod a Binding names to its target node; returns the bound pod."""
    pod_name, node = _check_binding(binding, url_name)
    meta = binding.get("metadata") or {}
    want_uid = meta.get("uid")
    annotations = meta.get("annotations") or {}
    pods = rest.registry.get("", "v1", "pods")
    if pods is None:  # pragma: no cover - pods are always served
        raise errors.NotFound("the server could not find the requested resource")

    def assign(pod: Obj) -> Obj:
        pmeta = pod["metadata"]
        if want_uid and want_uid != pmeta.get("uid"):
            raise _binding_conflict(
                pod_name,
                f"Precondition failed: UID in precondition: {want_uid}, UID in object meta: {pmeta.get('uid')}",
            )
        if pmeta.get("deletionTimestamp"):
            raise _binding_conflict(pod_name, f"pod {pod_name} is being deleted, cannot be assigned to a host")
        spec = pod.setdefault("spec", {})
        if spec.get("nodeName"):
            raise _binding_conflict(pod_name, f'pod {pod_name} is already assigned to node "{spec["nodeName"]}"')
        if spec.get("schedulingGates"):
            raise _binding_conflict(pod_name, f"pod {pod_name} has non-empty .spec.schedulingGates")
        spec["nodeName"] = node
        if annotations:
            pmeta["annotations"] = {**(pmeta.get("annotations") or {}), **annotations}
        set_pod_condition(pod, {"type": "PodScheduled", "status": "True"})
        pmeta.pop("resourceVersion", None)  # not a precondition: the CAS is on the revision read
        return pod

    await rest.admit_subresource(Operation.CREATE, pods, namespace, pod_name, "binding", binding, dry_run=dry_run)
    return await rest.mutate(pods, namespace, pod_name, assign, subresource="binding", dry_run=dry_run, prepared=True)


async def serve_create(
    request: web.BaseRequest, wanted: Wanted, act: Callable[[Obj, bool], Awaitable[object]]
) -> web.Response:
    """Decode a subresource's create body, ``act(body, dry_run)`` on it, and answer the Success Status (201)."""
    body = negotiation.decode_object(
        await read_body(request), negotiation.content_type_of(request.headers.get("Content-Type"))
    )
    await act(body, bool(request.query.getall("dryRun", [])))
    return respond(success_status(), Wanted(yaml=wanted.yaml), status=201)


async def handle_binding(
    request: web.BaseRequest, rest: RestStore, namespace: str | None, ri: RequestInfo, wanted: Wanted
) -> web.Response:
    """Serve POST on ``pods/NAME/binding`` or on the ``bindings`` collection."""
    url_name = ri.name if ri.subresource == "binding" else None
    return await serve_create(
        request, wanted, lambda body, dry_run: bind(rest, namespace or "", body, url_name=url_name, dry_run=dry_run)
    )
