"""The resource metrics pipeline in a local cluster: metrics-server's objects, and the server behind them.

A kubeadm cluster gets ``kubectl top`` and the HorizontalPodAutoscaler's resource metrics by applying
metrics-server's manifests: a Service ``kube-system/metrics-server``, the APIService ``v1beta1.metrics.k8s.io``
pointing at it, and RBAC. ``pinnace up`` makes the same objects (:func:`install_metrics_server`) and runs
:class:`pinnace.metricsserver.MetricsServer` in the controller manager (:class:`MetricsServerEndpoint`), which
publishes where it serves as the Service's EndpointSlice; the API server's aggregation layer proxies
``/apis/metrics.k8s.io/v1beta1`` there. The serving certificate is issued at each start by the cluster CA, the
APIService's ``caBundle``, for ``metrics-server.kube-system.svc``, the name the aggregator verifies.

The metrics server runs as the controller manager's user, which these bindings give what metrics-server's own
ServiceAccount has: reading nodes' stats (through the API server's node proxy) and pods and nodes, delegated
authorization (``system:auth-delegator``) and reading ``extension-apiserver-authentication``.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinnace.api import errors
from pinnace.cluster.selfendpoint import (
    endpoint_slice,
    host_slice_suffix,
    publish_endpoint_slice,
    serve_with_retries,
    withdraw_endpoint_slice,
)

if TYPE_CHECKING:
    from pinnace.apiserver.server import APIServer
    from pinnace.client.rest import RestClient

__all__ = [
    "APISERVICE_NAME",
    "METRICS_NAMESPACE",
    "METRICS_SERVICE",
    "MetricsServerEndpoint",
    "install_metrics_server",
    "metrics_apiservice",
    "metrics_rbac",
    "metrics_service",
]

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "kube-system"
METRICS_SERVICE = "metrics-server"
APISERVICE_NAME = "v1beta1.metrics.k8s.io"
#: The managed-by label of the EndpointSlice the metrics server publishes.
METRICS_MANAGED_BY = "metrics-server.pinnace.dev"
#: The user the metrics server runs as (the controller manager's).
METRICS_USER = "system:kube-controller-manager"
_LABELS = {"k8s-app": "metrics-server"}


def metrics_service() -> dict[str, Any]:
    """``kube-system/metrics-server`` as metrics-server's manifest makes it, without the selector (the server is no
    pod: it publishes its own EndpointSlice)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": METRICS_SERVICE, "namespace": METRICS_NAMESPACE, "labels": dict(_LABELS)},
        "spec": {"ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]},
    }


def metrics_apiservice(ca_pem: bytes) -> dict[str, Any]:
    """The APIService ``v1beta1.metrics.k8s.io``, verifying the server with ``ca_pem``."""
    return {
        "apiVersion": "apiregistration.k8s.io/v1",
        "kind": "APIService",
        "metadata": {"name": APISERVICE_NAME, "labels": dict(_LABELS)},
        "spec": {
            "service": {"name": METRICS_SERVICE, "namespace": METRICS_NAMESPACE, "port": 443},
            "group": "metrics.k8s.io",
            "version": "v1beta1",
            "insecureSkipTLSVerify": False,
            "caBundle": base64.b64encode(ca_pem).decode(),
            "groupPriorityMinimum": 100,
            "versionPriority": 100,
        },
    }


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def metrics_rbac() -> list[tuple[str, dict[str, Any]]]:
    """metrics-server's RBAC, bound to the user it runs as: (plural, object) in the order to create them."""
    subject = [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": METRICS_USER}]
    aggregate = {f"rbac.authorization.k8s.io/aggregate-to-{r}": "true" for r in ("admin", "edit", "view")}
    rbac = "rbac.authorization.k8s.io/v1"

    def cluster_binding(name: str, role: str) -> dict[str, Any]:
        ref = {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role}
        return {"apiVersion": rbac, "kind": "ClusterRoleBinding", "metadata": {"name": name, "labels": dict(_LABELS)},
                "roleRef": ref, "subjects": subject}  # fmt: skip

    return [
        ("clusterroles", {
            "apiVersion": rbac, "kind": "ClusterRole",
            "metadata": {"name": "system:aggregated-metrics-reader", "labels": {**_LABELS, **aggregate}},
            "rules": [_rule(["metrics.k8s.io"], ["pods", "nodes"], ["get", "list", "watch"])],
        }),
        ("clusterroles", {
            "apiVersion": rbac, "kind": "ClusterRole",
            "metadata": {"name": "system:metrics-server", "labels": dict(_LABELS)},
            "rules": [
                _rule([""], ["nodes/metrics", "nodes/stats", "nodes/proxy"], ["get"]),
                _rule([""], ["pods", "nodes"], ["get", "list", "watch"]),
            ],
        }),
        ("clusterrolebindings", cluster_binding("system:metrics-server", "system:metrics-server")),
        ("clusterrolebindings", cluster_binding("metrics-server:system:auth-delegator", "system:auth-delegator")),
        ("rolebindings", {
            "apiVersion": rbac, "kind": "RoleBinding",
            "metadata": {"name": "metrics-server-auth-reader", "namespace": METRICS_NAMESPACE, "labels": dict(_LABELS)},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "extension-apiserver-authentication-reader"},
            "subjects": subject,
        }),
    ]  # fmt: skip


async def install_metrics_server(server: APIServer, ca_pem: bytes) -> None:
    """Make metrics-server's objects where missing (a deleted one comes back at the next start, as an add-on
    applied again), and point the APIService's ``caBundle`` at ``ca_pem`` (the CA that issues the server's
    certificate)."""
    objects: list[tuple[str, str, dict[str, Any]]] = [
        ("", "services", metrics_service()),
        *((group_of(plural), plural, obj) for plural, obj in metrics_rbac()),
        ("apiregistration.k8s.io", "apiservices", metrics_apiservice(ca_pem)),
    ]
    for group, plural, obj in objects:
        version = "v1"
        info = server.registry.get(group, version, plural)
        assert info is not None, plural
        meta = obj["metadata"]
        namespace = meta.get("namespace") if info.namespaced else None
        cached = await server.rest.get_cached(info, namespace, meta["name"])
        if cached is None:
            with contextlib.suppress(errors.AlreadyExists):
                await server.rest.create(info, namespace, obj)
        elif plural == "apiservices" and (cached.obj.get("spec") or {}).get("caBundle") != obj["spec"]["caBundle"]:
            current = dict(cached.obj)
            current["spec"] = {**(current.get("spec") or {}), "caBundle": obj["spec"]["caBundle"]}
            await server.rest.update(info, None, meta["name"], current)


def group_of(plural: str) -> str:
    """The API group of the RBAC kinds :func:`metrics_rbac` makes."""
    return "rbac.authorization.k8s.io" if plural in ("clusterroles", "clusterrolebindings", "rolebindings") else ""


@dataclass
class MetricsServerEndpoint:
    """The metrics server, run by the controller manager: serves on ``address`` (any free port) with a certificate
    the CA in ``ca_cert_file``/``ca_key_file`` issues, scraping every ``resolution`` seconds, and publishes that as
    ``metrics-server``'s EndpointSlice while it serves. A manager runnable without leader election."""

    rest: RestClient
    address: str
    ca_cert_file: str
    ca_key_file: str
    resolution: float = 15.0
    slice_suffix: str = field(default_factory=host_slice_suffix)
    name: str = "metrics-server"
    needs_leader_election: bool = False

    @property
    def slice_name(self) -> str:
        """The EndpointSlice it publishes."""
        return f"{METRICS_SERVICE}-{self.slice_suffix}"

    async def run(self) -> None:
        """Serve until cancelled; a failure to start (the API server not answering yet) is retried with back-off."""
        from pinnace.metricsserver import MetricsServer, MetricsServerConfig

        with tempfile.TemporaryDirectory(prefix="pinnace-metrics-server-") as tmp:
            cert_file, key_file = self._serving_certificate(Path(tmp))
            config = MetricsServerConfig(self.address, 0, str(cert_file), str(key_file), self.resolution)

            async def serve() -> None:
                await MetricsServer(self.rest, config).run(on_serving=self._publish)

            await serve_with_retries(serve, "metrics server", (OSError, TimeoutError, errors.StatusError),
                                     self._withdraw)  # fmt: skip

    async def _withdraw(self) -> None:
        await withdraw_endpoint_slice(self.rest, self.slice_name, METRICS_NAMESPACE)

    def _serving_certificate(self, directory: Path) -> tuple[Path, Path]:
        """A fresh serving certificate for the Service's names and the address, issued by the CA, in ``directory``."""
        from pinnace.adm import pki

        ca = pki.load_pair(Path(self.ca_cert_file), Path(self.ca_key_file))
        if ca is None:
            raise ValueError(f"metrics server: no usable CA in {self.ca_cert_file} / {self.ca_key_file}")
        service = f"{METRICS_SERVICE}.{METRICS_NAMESPACE}.svc"
        spec = pki.CertSpec("metrics-server", dns_names=(service, f"{service}.cluster.local"),
                            ip_addresses=(self.address,), server=True)  # fmt: skip
        key = pki.generate_key()
        pair = pki.CertPair(pki.issue(spec, ca, key), key)
        cert_file, key_file = directory / "tls.crt", directory / "tls.key"
        pki.write_pair(cert_file, key_file, pair)
        return cert_file, key_file

    async def _publish(self, port: int) -> None:
        log.info("metrics server serving on %s:%d", self.address, port)
        ports = [{"name": "https", "port": port, "protocol": "TCP"}]
        body = endpoint_slice(self.slice_name, METRICS_NAMESPACE, METRICS_SERVICE, METRICS_MANAGED_BY, self.address,
                              ports)  # fmt: skip
        await publish_endpoint_slice(self.rest, body, "metrics server")
