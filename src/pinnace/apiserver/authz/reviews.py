"""Access reviews (authorization.k8s.io/v1): asking the authorizer, over the API.

- SubjectAccessReview: may this user (name, groups, uid, extra) do this?
- LocalSubjectAccessReview: the same, in the namespace of the URL.
- SelfSubjectAccessReview: may I? (``kubectl auth can-i``)
- SelfSubjectRulesReview: what may I do in this namespace? (``kubectl auth can-i --list``)

None is stored: each is answered with the request object and its ``status``.
Who may ask is decided like any request (``create`` on the review resource).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pinnace.api import errors
from pinnace.apiserver import negotiation
from pinnace.apiserver.authz.rbac import RBACAuthorizer
from pinnace.apiserver.httputil import read_body, respond
from pinnace.apiserver.request_info import RequestInfo
from pinnace.apiserver.user import ANONYMOUS_USER, Attributes, Authorizer, Decision, UserInfo, current_user

__all__ = ["GROUP", "AccessReviews"]

GROUP = "authorization.k8s.io"
API_VERSION = f"{GROUP}/v1"

Obj = dict[str, Any]
_NO_SUBJECT = 'Invalid value: "": at least one of user or group must be specified'


def _attributes(user: UserInfo, spec: Obj, kind: str) -> Attributes:
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if (resource is None) == (non_resource is None):
        raise errors.invalid(
            kind,
            "",
            [
                errors.Cause(
                    errors.CAUSE_INVALID,
                    'Invalid value: "null": exactly one of nonResourceAttributes or resourceAttributes '
                    "must be specified",
                    "spec.resourceAttributes",
                )
            ],
            group=GROUP,
        )
    if isinstance(non_resource, dict):
        return Attributes(user, str(non_resource.get("verb") or ""), False, path=str(non_resource.get("path") or ""))
    assert isinstance(resource, dict)
    return Attributes(
        user,
        str(resource.get("verb") or ""),
        True,
        api_group=str(resource.get("group") or ""),
        api_version=str(resource.get("version") or ""),
        resource=str(resource.get("resource") or ""),
        subresource=str(resource.get("subresource") or ""),
        namespace=str(resource.get("namespace") or ""),
        name=str(resource.get("name") or ""),
    )


def _respond(request: web.BaseRequest, review: Obj, kind: str, status: Obj) -> web.Response:
    """The review answered (201, as upstream), its fields in upstream's order."""
    meta = dict(review.get("metadata") or {})
    meta.setdefault("creationTimestamp", None)
    out = {"kind": kind, "apiVersion": API_VERSION, "metadata": meta, "spec": review["spec"], "status": status}
    return respond(out, negotiation.negotiate(request.headers.get("Accept")), status=201)


class AccessReviews:
    """The four review resources, served through ``APIServer.virtual_resources``."""

    def __init__(self, authorizer: Authorizer, rbac: RBACAuthorizer) -> None:
        self.authorizer = authorizer
        self.rbac = rbac

    def install(self, virtual: dict[tuple[str, str], Any]) -> None:
        """Register the handlers in a server's ``virtual_resources``."""
        virtual[(GROUP, "subjectaccessreviews")] = self.subject_access_review
        virtual[(GROUP, "localsubjectaccessreviews")] = self.local_subject_access_review
        virtual[(GROUP, "selfsubjectaccessreviews")] = self.self_subject_access_review
        virtual[(GROUP, "selfsubjectrulesreviews")] = self.self_subject_rules_review

    @staticmethod
    async def _read(request: web.BaseRequest, kind: str) -> Obj:
        body = await read_body(request)
        media = negotiation.content_type_of(request.headers.get("Content-Type"))
        obj = negotiation.decode_object(body, media) if body.strip() else {}
        if obj.get("kind") not in (None, "", kind) or obj.get("apiVersion") not in (None, "", API_VERSION):
            raise errors.BadRequest(
                f"the kind in the data ({obj.get('kind')}) does not match the expected kind ({kind} {API_VERSION})"
            )
        if not isinstance(obj.get("spec"), dict):
            obj["spec"] = {}
        return obj

    async def _answer(self, request: web.BaseRequest, review: Obj, kind: str, attrs: Attributes) -> web.Response:
        decision, reason = await self.authorizer.authorize(attrs)
        status: Obj = {"allowed": decision is Decision.ALLOW}
        if decision is Decision.DENY:
            status["denied"] = True
        if reason:
            status["reason"] = reason
        return _respond(request, review, kind, status)

    @staticmethod
    def _subject(spec: Obj, kind: str) -> UserInfo:
        name, groups = str(spec.get("user") or ""), [str(g) for g in spec.get("groups") or []]
        if not name and not groups:
            raise errors.invalid(
                kind,
                "",
                [errors.Cause(errors.CAUSE_INVALID, _NO_SUBJECT, "spec.user")],
                group=GROUP,
            )
        extra = {str(k): tuple(str(v) for v in vs or []) for k, vs in (spec.get("extra") or {}).items()}
        return UserInfo(name, str(spec.get("uid") or ""), tuple(groups), extra)

    async def subject_access_review(self, request: web.BaseRequest, ri: RequestInfo) -> web.Response:
        """Answer a SubjectAccessReview."""
        review = await self._read(request, "SubjectAccessReview")
        spec = review["spec"]
        user = self._subject(spec, "SubjectAccessReview")
        attrs = _attributes(user, spec, "SubjectAccessReview")
        return await self._answer(request, review, "SubjectAccessReview", attrs)

    async def local_subject_access_review(self, request: web.BaseRequest, ri: RequestInfo) -> web.Response:
        """Answer a LocalSubjectAccessReview (its namespace is the URL's)."""
        kind = "LocalSubjectAccessReview"
        review = await self._read(request, kind)
        spec = review["spec"]
        namespace = ri.namespace or ""
        if not namespace:
            raise errors.BadRequest("namespace is required on this type: localsubjectaccessreviews")
        meta_ns = (review.get("metadata") or {}).get("namespace")
        if meta_ns and meta_ns != namespace:
            raise errors.BadRequest(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        attrs = _attributes(self._subject(spec, kind), spec, kind)
        if not attrs.resource_request or attrs.namespace != namespace:
            raise errors.BadRequest(f"spec.resourceAttributes.namespace must match namespace: {namespace}")
        review.setdefault("metadata", {})["namespace"] = namespace
        return await self._answer(request, review, kind, attrs)

    async def self_subject_access_review(self, request: web.BaseRequest, ri: RequestInfo) -> web.Response:
        """Answer a SelfSubjectAccessReview for the requesting user."""
        kind = "SelfSubjectAccessReview"
        review = await self._read(request, kind)
        user = current_user.get() or ANONYMOUS_USER
        return await self._answer(request, review, kind, _attributes(user, review["spec"], kind))

    async def self_subject_rules_review(self, request: web.BaseRequest, ri: RequestInfo) -> web.Response:
        """List what the requesting user may do in ``spec.namespace``."""
        kind = "SelfSubjectRulesReview"
        review = await self._read(request, kind)
        user = current_user.get() or ANONYMOUS_USER
        namespace = str(review["spec"].get("namespace") or "")
        held, errs = await self.rbac.rules_for(user, namespace)
        resource_rules: list[Obj] = []
        non_resource_rules: list[Obj] = []
        for resolved in held:
            rule = resolved.rule
            if rule.non_resource_urls:
                out = {"verbs": list(rule.verbs), "nonResourceURLs": list(rule.non_resource_urls)}
                if out not in non_resource_rules:
                    non_resource_rules.append(out)
            if rule.resources or rule.api_groups:
                out = {"verbs": list(rule.verbs), "apiGroups": list(rule.api_groups), "resources": list(rule.resources)}
                if rule.resource_names:
                    out["resourceNames"] = list(rule.resource_names)
                if out not in resource_rules:
                    resource_rules.append(out)
        status: Obj = {
            "resourceRules": resource_rules,
            "nonResourceRules": non_resource_rules,
            "incomplete": bool(errs),
        }
        if errs:
            status["evaluationError"] = ", ".join(errs)
        return _respond(request, review, kind, status)
