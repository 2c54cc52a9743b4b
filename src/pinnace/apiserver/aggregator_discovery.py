"""Asking extension API servers what they serve: their discovery and availability checks.

Both are one GET of the extension's ``/apis/<group>/<version>`` as the
aggregator itself (``X-Remote-User: system:kube-aggregator``):

* :func:`discovery_check` is the availability controller's probe: TLS without
  verification (upstream: "if someone owns the network and messes with your
  status, that's not so bad"), the ``system:masters`` group, a 5 s limit; any
  2xx passes, anything else is the ``FailedDiscoveryCheck`` message.
* :func:`fetch_resources` is the discovery manager's fetch, over the proxy's
  verified TLS: the APIResourceList, converted by :func:`to_discovery` to the
  resources of an ``apidiscovery.k8s.io/v2`` APIVersionDiscovery (upstream's
  ConvertGroupVersionIntoToDiscovery).
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
from yarl import URL

from pinnace.api import errors
from pinnace.apiserver.aggregator_proxy import Backend, BackendPool, TLSConfig, auth_proxy_headers, unreachable
from pinnace.apiserver.user import ALL_AUTHENTICATED, MASTERS, UserInfo

__all__ = ["AGGREGATOR_USER", "DiscoveryFailed", "discovery_check", "fetch_resources", "to_discovery"]

Obj = dict[str, Any]

#: Who the aggregator is when it asks an extension itself.
AGGREGATOR_USER = "system:kube-aggregator"
#: Who the discovery fetch is: the aggregator, and (as an extension built on k8s.io/apiserver adds it to every
#: user it authenticates) system:authenticated, which RBAC's system:discovery lets read ``/apis/…``.
DISCOVERY_USER = UserInfo(AGGREGATOR_USER, groups=(ALL_AUTHENTICATED,))
#: How long a check or a fetch may take (upstream's discovery client timeout).
CHECK_TIMEOUT = 5.0
_INSECURE = TLSConfig(b"", True, "")


class DiscoveryFailed(Exception):
    """An extension did not answer its discovery document (the message says how)."""


def discovery_path(group: str, version: str) -> str:
    """The path of a group-version's APIResourceList."""
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


async def _get(pool: BackendPool, tls: TLSConfig, backend: Backend, path: str, user: UserInfo) -> tuple[int, bytes]:
    """One GET to the extension: its status and body; aiohttp's errors and TimeoutError as they come."""
    url = URL(f"https://{backend.address}{path}", encoded=True)
    headers = [("Accept", "application/json"), *auth_proxy_headers(user)]
    async with asyncio.timeout(CHECK_TIMEOUT):
        async with pool.session(tls).get(
            url, headers=headers, allow_redirects=False, server_hostname=tls.server_name or None
        ) as answer:
            return answer.status, await answer.read()


def _go_error(url: str, exc: BaseException, backend: Backend) -> str:
    """A failed GET in the words of Go's http.Client: ``Get "URL": dial tcp …: connect: connection refused``."""
    if isinstance(exc, TimeoutError):
        return f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)'
    detail = unreachable(backend, exc).message.removeprefix("error trying to reach service: ")
    return f'Get "{url}": {detail}'


async def discovery_check(pool: BackendPool, backend: Backend, group: str, version: str) -> str | None:
    """The availability probe of a group-version at ``backend``: None if it passed, else the condition message."""
    path = discovery_path(group, version)
    url = f"https://{backend.address}{path}"
    user = UserInfo(AGGREGATOR_USER, groups=(MASTERS,))
    try:
        status, _ = await _get(pool, _INSECURE, backend, path, user)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        return f"failing or missing response from {url}: {_go_error(url, exc, backend)}"
    if not 200 <= status < 300:
        return f"failing or missing response from {url}: bad status from {url}: {status}"
    return None


async def fetch_resources(
    pool: BackendPool, tls: TLSConfig, backend: Backend, group: str, version: str
) -> tuple[Obj, ...]:
    """The extension's resources of a group-version, in the aggregated form; :class:`DiscoveryFailed` if it does not
    answer its APIResourceList."""
    path = discovery_path(group, version)
    url = f"https://{backend.address}{path}"
    try:
        status, body = await _get(pool, tls, backend, path, DISCOVERY_USER)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise DiscoveryFailed(_go_error(url, exc, backend)) from None
    except errors.StatusError as exc:  # a caBundle that is no certificate
        raise DiscoveryFailed(exc.message) from None
    if status != 200:
        raise DiscoveryFailed(f"failed to download discovery for {path}: {status} {body[:200]!r}")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DiscoveryFailed(f"failed to decode the discovery of {path}: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("resources", []), list):
        raise DiscoveryFailed(f"the discovery of {path} is not an APIResourceList")
    return to_discovery(document.get("resources") or [])


def to_discovery(resources: list[Any]) -> tuple[Obj, ...]:
    """An APIResourceList's resources as APIResourceDiscovery objects: each top-level resource with its
    subresources (``pods/status``) folded in; a subresource whose resource is not listed gets an empty parent."""
    out: list[Obj] = []
    parents: dict[str, Obj] = {}
    entries = [r for r in resources if isinstance(r, dict) and isinstance(r.get("name"), str)]
    for r in entries:
        if "/" in r["name"]:
            continue
        entry: Obj = {
            "resource": r["name"],
            "responseKind": _kind(r),
            "scope": _scope(r),
            "singularResource": str(r.get("singularName") or ""),
            "verbs": list(r.get("verbs") or []),
        }
        if r.get("shortNames"):
            entry["shortNames"] = list(r["shortNames"])
        if r.get("categories"):
            entry["categories"] = list(r["categories"])
        out.append(entry)
        parents[r["name"]] = entry
    for r in entries:
        parent_name, slash, sub = r["name"].partition("/")
        if not slash:
            continue
        parent = parents.get(parent_name)
        if parent is None:
            parent = {
                "resource": parent_name,
                "responseKind": {"group": "", "version": "", "kind": ""},
                "scope": _scope(r),
                "singularResource": "",
                "verbs": [],
            }
            out.append(parent)
            parents[parent_name] = parent
        kind = _kind(r) if r.get("kind") else {"group": "", "version": "", "kind": ""}
        parent.setdefault("subresources", []).append(
            {"subresource": sub, "responseKind": kind, "verbs": list(r.get("verbs") or [])}
        )
    return tuple(out)


def _kind(resource: Obj) -> Obj:
    return {
        "group": str(resource.get("group") or ""),
        "version": str(resource.get("version") or ""),
        "kind": str(resource.get("kind") or ""),
    }


def _scope(resource: Obj) -> str:
    return "Namespaced" if resource.get("namespaced") else "Cluster"
