"""ServiceAccount admission: every pod runs as an existing service account, with its API credentials mounted.

As upstream's ``ServiceAccount`` plugin, on pod creation:

- an empty ``spec.serviceAccountName`` becomes ``default``;
- the account must exist in the pod's namespace, else 403 ``pods "x" is forbidden:
  error looking up service account ns/sa: serviceaccount "sa" not found`` (the
  ``default`` account is looked up again for up to ~5 s, since the service-account
  controller may be creating it for a new namespace, or be starting);
- a pod without ``imagePullSecrets`` gets the account's;
- unless ``automountServiceAccountToken`` is false (the pod's setting wins over the
  account's), a projected ``kube-api-access-<5 random>`` volume — a bound token
  (3607 s, path ``token``), the ``kube-root-ca.crt`` ConfigMap's ``ca.crt`` and the
  namespace from the downward API — is mounted read-only at
  ``/var/run/secrets/kubernetes.io/serviceaccount`` in every container and init
  container that does not already mount something there.

Mirror pods (static pods a node reports) are left alone, as upstream does with
what it cannot give an account.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from pinnace.api import errors, names
from pinnace.apiserver.admission import AdmissionRequest, Operation
from pinnace.apiserver.admission.chain import forbidden

if TYPE_CHECKING:
    from pinnace.apiserver.rest import RestStore
    from pinnace.apiserver.server import APIServer

__all__ = [
    "DEFAULT_SERVICE_ACCOUNT",
    "TOKEN_EXPIRATION_SECONDS",
    "TOKEN_MOUNT_PATH",
    "ServiceAccountAdmission",
    "api_access_volume",
]

Obj = dict[str, Any]

DEFAULT_SERVICE_ACCOUNT = "default"
#: Where the token, CA and namespace appear in a container.
TOKEN_MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
#: The projected volume's name prefix (upstream's ServiceAccountVolumeName).
VOLUME_PREFIX = "kube-api-access-"
#: The bound token's lifetime: upstream's 1 h plus 7 s, so the kubelet can tell it asked for the default.
TOKEN_EXPIRATION_SECONDS = 3607
#: The ConfigMap the root-CA publisher keeps in every namespace.
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
#: Lookups of the default account before giving up, and their interval: about 5 s in all (upstream: 10, 100 to
#: 200 ms apart). The controller that creates it runs in the controller manager, a process of its own that
#: ``pinnace up`` starts after the API server answers: on a loaded machine it may take seconds to sync, and a
#: pod created in the meantime (by a script that just waited for readyz) should wait for it, not fail.
DEFAULT_ACCOUNT_ATTEMPTS = 25
RETRY_INTERVAL = 0.2


def api_access_volume(name: str) -> Obj:
    """The projected volume that carries a pod's API credentials (upstream's createVolume)."""
    return {
        "name": name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
                {"configMap": {"name": ROOT_CA_CONFIGMAP, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {
                    "downwardAPI": {
                        "items": [
                            {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}
                        ]
                    }
                },
            ],
        },
    }


class ServiceAccountAdmission:
    """The ServiceAccount admission plugin (mutating)."""

    name = "ServiceAccount"

    def __init__(self, rest: RestStore, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        """Accounts are read through ``rest``; ``sleep`` paces the retries for the default account."""
        self.rest = rest
        self.sleep = sleep

    @classmethod
    def for_server(cls, server: APIServer) -> ServiceAccountAdmission:
        """The plugin of an API server."""
        return cls(server.rest)

    def handles(self, request: AdmissionRequest) -> bool:
        """Pod creations."""
        return (
            request.operation is Operation.CREATE
            and not request.subresource
            and request.info.plural == "pods"
            and request.info.group == ""
        )

    async def admit(self, request: AdmissionRequest) -> None:
        """Default the account, check that it exists, and mount its credentials."""
        pod = request.obj
        if pod is None:
            return
        meta = pod.get("metadata") or {}
        if (meta.get("annotations") or {}).get(MIRROR_POD_ANNOTATION) is not None:
            return
        spec = pod.setdefault("spec", {})
        if not isinstance(spec, dict):
            return
        account_name = spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
        spec["serviceAccountName"] = account_name
        account = await self._account(request.namespace, str(account_name))
        if account is None:
            raise forbidden(
                request,
                f"error looking up service account {request.namespace}/{account_name}: "
                f'serviceaccount "{account_name}" not found',
            )
        if not spec.get("imagePullSecrets") and account.get("imagePullSecrets"):
            spec["imagePullSecrets"] = [dict(ref) for ref in account["imagePullSecrets"]]
        automount = spec.get("automountServiceAccountToken")
        if automount is None:
            automount = account.get("automountServiceAccountToken")
        if automount is False:
            return
        mount_api_access(spec)

    async def _account(self, namespace: str, name: str) -> Obj | None:
        info = self.rest.registry.get("", "v1", "serviceaccounts")
        if info is None:
            return None
        attempts = DEFAULT_ACCOUNT_ATTEMPTS if name == DEFAULT_SERVICE_ACCOUNT else 1
        for attempt in range(attempts):
            if attempt:
                await self.sleep(RETRY_INTERVAL)
            try:
                return await self.rest.get(info, namespace, name)
            except errors.NotFound:
                continue
        return None


def mount_api_access(spec: Obj) -> None:
    """Mount the API-access volume in every container of a pod spec that lacks a mount at the token path."""
    volumes = spec.get("volumes") or []
    existing = next(
        (v["name"] for v in volumes if isinstance(v, dict) and str(v.get("name", "")).startswith(VOLUME_PREFIX)), None
    )
    volume_name = existing or names.generate_name(VOLUME_PREFIX)
    needs_volume = False
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            if not isinstance(container, dict):
                continue
            mounts = container.setdefault("volumeMounts", [])
            if any(isinstance(m, dict) and m.get("mountPath") == TOKEN_MOUNT_PATH for m in mounts):
                continue
            mounts.append({"name": volume_name, "readOnly": True, "mountPath": TOKEN_MOUNT_PATH})
            needs_volume = True
    if needs_volume and existing is None:
        spec["volumes"] = [*volumes, api_access_volume(volume_name)]
