"""``kube-system/extension-apiserver-authentication``: how extension API servers authenticate requests.

kube-apiserver publishes this ConfigMap (its ClusterAuthenticationTrustController)
so that an extension API server (metrics-server, …) can authenticate the
requests the aggregation layer relays to it: ``client-ca-file`` is the CA of
client certificates (the cluster CA), ``requestheader-client-ca-file`` the CA
that signs the aggregator's front-proxy client certificate, and the
``requestheader-*`` keys say which certificate names may assert a user and in
which headers (JSON arrays, as upstream writes them). An extension trusts the
``X-Remote-User`` of a request only when it comes with a client certificate of
that CA and one of those names.

:class:`ExtensionAuthentication` writes it at start and puts it back every
minute if someone changed or deleted it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import orjson

from pinnace.api import errors
from pinnace.apiserver.aggregator_proxy import EXTRA_PREFIX, GROUP_HEADER, USER_HEADER
from pinnace.apiserver.background import cancel
from pinnace.apiserver.rest import RestStore

__all__ = ["CONFIGMAP_NAME", "CONFIGMAP_NAMESPACE", "ExtensionAuthentication", "authentication_data"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

CONFIGMAP_NAMESPACE = "kube-system"
CONFIGMAP_NAME = "extension-apiserver-authentication"
#: The common name of the aggregator's client certificate (kubeadm's ``--requestheader-allowed-names``).
FRONT_PROXY_CLIENT_NAME = "front-proxy-client"
#: How often the ConfigMap is checked and put back.
RESYNC_INTERVAL = 60.0


def _json_list(*values: str) -> str:
    return orjson.dumps(list(values)).decode()


def authentication_data(client_ca_pem: str, requestheader_ca_pem: str) -> dict[str, str]:
    """The ConfigMap's data for these CAs (PEM text)."""
    return {
        "client-ca-file": client_ca_pem,
        "requestheader-allowed-names": _json_list(FRONT_PROXY_CLIENT_NAME),
        "requestheader-client-ca-file": requestheader_ca_pem,
        "requestheader-extra-headers-prefix": _json_list(EXTRA_PREFIX),
        "requestheader-group-headers": _json_list(GROUP_HEADER),
        "requestheader-username-headers": _json_list(USER_HEADER),
    }


class ExtensionAuthentication:
    """Publishes and keeps the ConfigMap, from the cluster CA and the front-proxy CA files."""

    def __init__(
        self, rest: RestStore, *, client_ca: Path, requestheader_ca: Path, interval: float = RESYNC_INTERVAL
    ) -> None:
        self.rest = rest
        self.client_ca = client_ca
        self.requestheader_ca = requestheader_ca
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def wanted(self) -> dict[str, str]:
        """The data the ConfigMap should hold (the CA files read now: a renewed CA is published)."""
        return authentication_data(self.client_ca.read_text(), self.requestheader_ca.read_text())

    async def sync(self) -> None:
        """Create the ConfigMap, or put its data back as it should be."""
        info = self.rest.registry.get("", "v1", "configmaps")
        assert info is not None
        data = self.wanted()
        current = await self.rest.get_cached(info, CONFIGMAP_NAMESPACE, CONFIGMAP_NAME)
        if current is None:
            obj: Obj = {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": CONFIGMAP_NAME, "namespace": CONFIGMAP_NAMESPACE},
                "data": data,
            }
            with contextlib.suppress(errors.AlreadyExists):
                await self.rest.create(info, CONFIGMAP_NAMESPACE, obj)
            return
        if (current.obj.get("data") or {}) == data:
            return

        def put_back(obj: Obj) -> Obj:
            obj["data"] = dict(data)
            return obj

        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.rest.mutate(info, CONFIGMAP_NAMESPACE, CONFIGMAP_NAME, put_back)

    async def start(self) -> None:
        """Publish now, and keep it in place until :meth:`stop`."""
        await self._sync_logged()
        self._task = asyncio.create_task(self._keep(), name="extension-apiserver-authentication")

    async def stop(self) -> None:
        """Stop keeping the ConfigMap."""
        await cancel(self._task)
        self._task = None

    async def _sync_logged(self) -> None:
        try:
            await self.sync()
        except (errors.StatusError, OSError) as exc:
            log.warning("could not publish %s/%s: %s", CONFIGMAP_NAMESPACE, CONFIGMAP_NAME, exc)

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await self._sync_logged()
