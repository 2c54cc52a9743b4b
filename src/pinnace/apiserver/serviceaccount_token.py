"""The ``serviceaccounts/token`` subresource: TokenRequest, as kube-apiserver's ``TokenREST``.

``POST /api/v1/namespaces/NS/serviceaccounts/NAME/token`` with an
``authentication.k8s.io/v1`` TokenRequest answers 201 with the same request,
its spec defaulted (audiences: the API server's; ``expirationSeconds``: 3600)
and ``status.token`` (a JWT signed RS256 with the service-account key, see
:mod:`pinnace.api.satoken`) and ``status.expirationTimestamp``. A bound token
names a Pod, Secret or Node in ``spec.boundObjectRef``; the object must exist
(404 otherwise), its uid must match a given one (409), and a pod must run as
the service account (400). That is what ``kubectl create token`` calls.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from pinnace.api import errors, sakeys, satoken
from pinnace.api.satoken import ServiceAccountRef
from pinnace.api.strategy import now_rfc3339
from pinnace.apiserver import negotiation
from pinnace.apiserver.admission import Operation
from pinnace.apiserver.handlers import resolve
from pinnace.apiserver.httputil import read_body, respond
from pinnace.apiserver.request_info import RequestInfo
from pinnace.apiserver.rest import RestStore

__all__ = ["DEFAULT_EXPIRATION_SECONDS", "MIN_EXPIRATION_SECONDS", "TokenIssuer"]

Obj = dict[str, Any]

GROUP = "authentication.k8s.io"
API_VERSION = f"{GROUP}/v1"
#: ``TokenRequestSpec.expirationSeconds`` defaults to an hour.
DEFAULT_EXPIRATION_SECONDS = 3600
#: Upstream refuses tokens shorter than ten minutes …
MIN_EXPIRATION_SECONDS = 600
#: … and longer than 2^32 seconds.
MAX_EXPIRATION_SECONDS = 1 << 32

#: The kinds a token may be bound to, with the resource each is looked up in.
_BINDABLE = {"Pod": "pods", "Secret": "secrets", "Node": "nodes"}


def _invalid(name: str, path: str, value: Any, message: str) -> errors.StatusError:
    cause = errors.Cause(errors.CAUSE_INVALID, f"Invalid value: {value}: {message}", path)
    return errors.invalid("TokenRequest", name, [cause], group=GROUP)


#: What upstream's create handler wipes from a request's metadata (WipeObjectMetaSystemFields).
_SYSTEM_FIELDS = frozenset({"creationTimestamp", "uid", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"})


class TokenIssuer:
    """Issues service-account tokens with one signing key (see the module docstring).

    ``key``: the RSA signing key, or a path to load it from (generated there, 0600, if
    missing); None makes an in-memory key for this process only — tokens then do not
    survive a restart, which suits tests, not clusters.
    """

    def __init__(
        self,
        key: rsa.RSAPrivateKey | Path | None = None,
        *,
        issuer: str = satoken.DEFAULT_ISSUER,
        audiences: list[str] | None = None,
    ) -> None:
        if isinstance(key, Path):
            key = sakeys.load_or_generate(key)
        self._key = key
        self.issuer = issuer
        self.audiences = list(audiences or [issuer])

    @property
    def key(self) -> rsa.RSAPrivateKey:
        """The signing key (an in-memory one is made on first use if none was given)."""
        if self._key is None:
            self._key = sakeys.generate()
        return self._key

    def verify(self, token: str, *, audiences: list[str] | None = None, now: float | None = None) -> Obj:
        """The claims of a token this issuer made (:class:`~pinnace.api.satoken.InvalidToken` otherwise)."""
        return satoken.verify(
            token, [self.key.public_key()], issuers=[self.issuer], audiences=audiences or self.audiences, now=now
        )

    async def handle(self, request: web.BaseRequest, rest: RestStore, ri: RequestInfo) -> web.StreamResponse:
        """Serve ``POST serviceaccounts/NAME/token``."""
        info = resolve(rest, ri)
        wanted = negotiation.negotiate(request.headers.get("Accept"))
        body = await read_body(request)
        media = negotiation.content_type_of(request.headers.get("Content-Type"))
        token_request = negotiation.decode_object(body, media) if body.strip() else {}
        namespace, name = ri.namespace or "", ri.name or ""
        result = await self.issue(rest, namespace, name, token_request, info_plural=info.plural)
        return respond(result, wanted, status=201)

    async def issue(self, rest: RestStore, namespace: str, name: str, token_request: Obj, *, info_plural: str) -> Obj:
        """The answered TokenRequest for service account ``namespace/name``."""
        kind, api_version = token_request.get("kind"), token_request.get("apiVersion")
        if kind not in (None, "", "TokenRequest") or api_version not in (None, "", API_VERSION):
            raise errors.BadRequest(
                f"the kind in the data ({kind}) does not match the expected kind (TokenRequest {API_VERSION})"
            )
        raw_meta = token_request.get("metadata")
        request_meta: Obj = raw_meta if isinstance(raw_meta, dict) else {}
        for key, want in (("name", name), ("namespace", namespace)):
            given = request_meta.get(key)
            if given and given != want:
                raise _invalid(
                    name, f"metadata.{key}", f'"{given}"', f"must match the service account {key} if specified"
                )
        sa_info = rest.registry.get("", "v1", info_plural)
        assert sa_info is not None
        # A TokenRequest is a create of serviceaccounts/token: admitted like one (NodeRestriction checks a node's).
        await rest.admit_subresource(Operation.CREATE, sa_info, namespace, name, "token", token_request)
        account = await rest.get(sa_info, namespace, name)
        spec = dict(token_request.get("spec") or {})
        expiration = spec.get("expirationSeconds")
        if expiration is None:
            expiration = DEFAULT_EXPIRATION_SECONDS
        if not isinstance(expiration, int) or isinstance(expiration, bool):
            raise errors.BadRequest(
                'TokenRequest in version "v1" cannot be handled as a TokenRequest: json: cannot unmarshal '
                f"{type(expiration).__name__} into Go struct field "
                "TokenRequestSpec.spec.expirationSeconds of type int64"
            )
        if expiration < MIN_EXPIRATION_SECONDS:
            raise _invalid(
                name, "spec.expirationSeconds", expiration, "may not specify a duration less than 10 minutes"
            )
        if expiration > MAX_EXPIRATION_SECONDS:
            raise _invalid(
                name, "spec.expirationSeconds", expiration, "may not specify a duration larger than 2^32 seconds"
            )
        spec["expirationSeconds"] = expiration
        audiences = [str(a) for a in spec.get("audiences") or []] or list(self.audiences)
        spec["audiences"] = audiences
        bound = await self._bound_objects(rest, namespace, name, spec.get("boundObjectRef"))
        if not spec.get("boundObjectRef"):
            spec.pop("boundObjectRef", None)
        now = time.time()
        meta = account.get("metadata") or {}
        claims = satoken.token_claims(
            issuer=self.issuer,
            audiences=audiences,
            namespace=namespace,
            service_account=ServiceAccountRef(name, str(meta.get("uid") or "")),
            expiration_seconds=expiration,
            now=now,
            **bound,
        )
        expires = datetime.fromtimestamp(claims["exp"], UTC)
        return {
            "kind": "TokenRequest",
            "apiVersion": API_VERSION,
            # The request's own metadata, its system fields wiped and its namespace the URL's (upstream's create).
            "metadata": {
                **{k: v for k, v in request_meta.items() if k not in _SYSTEM_FIELDS},
                "namespace": namespace,
                "creationTimestamp": None,
            },
            "spec": spec,
            "status": {"token": satoken.sign(claims, self.key), "expirationTimestamp": now_rfc3339(expires)},
        }

    async def _bound_objects(
        self, rest: RestStore, namespace: str, account: str, ref: Obj | None
    ) -> dict[str, ServiceAccountRef]:
        """The pod/secret/node claims of a bound token, after upstream's checks of the reference."""
        if not ref:
            return {}
        kind, api_version, name = ref.get("kind") or "", ref.get("apiVersion") or "", ref.get("name") or ""
        group, _, version = api_version.rpartition("/")
        plural = _BINDABLE.get(kind)
        info = rest.registry.get("", "v1", plural) if plural and api_version == "v1" else None
        if info is None:
            raise errors.BadRequest(f"cannot bind token to object of type {group}/{version}, Kind={kind}")
        obj = await rest.get(info, namespace if info.namespaced else None, name)
        uid = str((obj.get("metadata") or {}).get("uid") or "")
        if ref.get("uid") and ref["uid"] != uid:
            raise errors.Conflict(
                f'Operation cannot be fulfilled on {kind} "{name}": the UID in the bound object reference '
                f"({ref['uid']}) does not match the UID in record. The object might have been deleted and then "
                "recreated",
                kind=kind,
                name=name,
            )
        this = ServiceAccountRef(name, uid)
        if kind == "Secret":
            return {"secret": this}
        if kind == "Node":
            return {"node": this}
        spec = obj.get("spec") or {}
        if (spec.get("serviceAccountName") or "default") != account:
            raise errors.BadRequest(
                f'cannot bind token for serviceaccount "{account}" to pod running with different serviceaccount name.'
            )
        out = {"pod": this}
        node_name = spec.get("nodeName")
        node_info = rest.registry.get("", "v1", "nodes")
        if node_name and node_info is not None:
            try:
                node = await rest.get(node_info, None, str(node_name))
            except errors.NotFound:
                return out
            out["node"] = ServiceAccountRef(str(node_name), str((node.get("metadata") or {}).get("uid") or ""))
        return out
