"""TokenReview and SelfSubjectReview: asking the API server who a token, or the caller, is.

``POST /apis/authentication.k8s.io/v1/tokenreviews`` authenticates
``spec.token`` with the server's bearer-token authenticators (for
``spec.audiences``, default the API server's; the user in
``system:authenticated`` as the request authenticator puts it) and answers 201 with
``status.authenticated``, ``status.user``, ``status.audiences`` or
``status.error`` — what webhook token authenticators and aggregated API servers
call. ``POST /apis/authentication.k8s.io/{v1,v1beta1}/selfsubjectreviews``
answers with the caller's own user (``kubectl auth whoami``). Neither is stored.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pinnace.api import errors
from pinnace.apiserver import negotiation
from pinnace.apiserver.authn.tokens import BearerTokenAuthenticator, TokenRejected
from pinnace.apiserver.authn.union import with_authenticated_group
from pinnace.apiserver.httputil import read_body, respond
from pinnace.apiserver.request_info import RequestInfo
from pinnace.apiserver.user import ANONYMOUS_USER, current_user

__all__ = ["GROUP", "SelfSubjectReviews", "TokenReviews"]

Obj = dict[str, Any]

GROUP = "authentication.k8s.io"


async def _read_review(request: web.BaseRequest, ri: RequestInfo, kind: str) -> Obj:
    body = await read_body(request)
    media = negotiation.content_type_of(request.headers.get("Content-Type"))
    review = negotiation.decode_object(body, media) if body.strip() else {}
    api_version = f"{GROUP}/{ri.version}"
    if review.get("kind") not in (None, "", kind) or review.get("apiVersion") not in (None, "", api_version):
        raise errors.BadRequest(
            f"the kind in the data ({review.get('kind')}) does not match the expected kind ({kind} {api_version})"
        )
    review["kind"], review["apiVersion"] = kind, api_version
    review.setdefault("metadata", {})
    return review


class TokenReviews:
    """Serves TokenReview with the server's bearer-token authenticator."""

    def __init__(self, tokens: BearerTokenAuthenticator) -> None:
        self.tokens = tokens

    async def handle(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        """``POST tokenreviews``."""
        if ri.version != "v1":
            raise errors.NotFound("the server could not find the requested resource")
        wanted = negotiation.negotiate(request.headers.get("Accept"))
        review = await _read_review(request, ri, "TokenReview")
        spec = review.get("spec") or {}
        token = spec.get("token")
        if not isinstance(token, str) or not token:
            raise errors.BadRequest("spec.token is required")
        audiences = [str(a) for a in spec.get("audiences") or []]
        status: Obj = {"user": {}}
        try:
            result = await self.tokens.authenticate_token(token, audiences)
        except TokenRejected as exc:
            status["authenticated"] = False
            status["error"] = str(exc)
        else:
            user = with_authenticated_group(result.user)
            status = {"authenticated": True, "user": user.to_json(), "audiences": list(result.audiences)}
        review["status"] = status
        return respond(review, wanted, status=201)


class SelfSubjectReviews:
    """Serves SelfSubjectReview: the authenticated user of the request itself."""

    async def handle(self, request: web.BaseRequest, ri: RequestInfo) -> web.StreamResponse:
        """``POST selfsubjectreviews``."""
        if ri.version not in ("v1", "v1beta1"):
            raise errors.NotFound("the server could not find the requested resource")
        wanted = negotiation.negotiate(request.headers.get("Accept"))
        review = await _read_review(request, ri, "SelfSubjectReview")
        user = current_user.get() or ANONYMOUS_USER
        review["status"] = {"userInfo": user.to_json()}
        return respond(review, wanted, status=201)
