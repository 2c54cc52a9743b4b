"""A whole local cluster: SQLite store, API server and compactor, plus a controller manager.

This is what ``pinnace up`` runs. The store, the API server and the compactor
share this process; the controller manager (built-in controllers, scheduler,
simulated nodes) is a child process that reaches the API server over HTTP on
loopback exactly as it would reach a remote one.

A cluster that runs node agents holds a network slot for as long as it runs
(:mod:`pinnace.cluster.netslot`): its node bridge and subnet, loopback node
addresses, service proxy chains and — unless given — its Service and pod
ranges, so that several clusters run side by side on one host.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from pinnace.apiserver.admission.plugins import DEFAULT_PLUGINS
from pinnace.apiserver.authz import enable_rbac
from pinnace.apiserver.componentstatus import http_probe
from pinnace.apiserver.server import APIServer
from pinnace.cluster.clusterdns import DNS_PORT, dns_bind_address, install_dns_service
from pinnace.cluster.clusterinfo import publish_cluster_info, publish_kubeadm_config
from pinnace.cluster.controller_manager import ControllerManagerConfig, ControllerManagerProcess
from pinnace.cluster.encryption import encrypted_store
from pinnace.cluster.ingress import default_ingress_ports, install_default_ingress_class
from pinnace.cluster.metricsserver import install_metrics_server
from pinnace.cluster.netslot import NetworkSlot, SlotClaim, claim_slot, network_slot, recorded_slot
from pinnace.cluster.nodenet import placer_for
from pinnace.cluster.nodes import NodeLauncher, NodesConfig
from pinnace.cluster.ports import free_port
from pinnace.cluster.security import SecurityConfig, client_url, cluster_pki, secure_server, write_kubeconfigs
from pinnace.cluster.storageclass import install_default_storage_class
from pinnace.cluster.storeconfig import StoreConfig
from pinnace.storage.compactor import Compactor
from pinnace.storage.interface import Store

log = logging.getLogger(__name__)

#: The service-account token signing key (kubeadm's pki/sa.key; the certs phase moves an older DATA_DIR/sa.key there).
SERVICE_ACCOUNT_KEY_FILE = "pki/sa.key"
#: Written by the kubeconfig phase (system:kube-controller-manager).
CONTROLLER_MANAGER_KUBECONFIG = "controller-manager.conf"


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """How to run a local cluster."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 6443
    compaction_interval: float = 300.0
    #: What the controller manager runs; no controllers and no simulated nodes: no child process.
    controller_manager: ControllerManagerConfig = field(default_factory=ControllerManagerConfig)
    #: Where the objects live: SQLite in the data directory unless etcd endpoints are given.
    store: StoreConfig = field(default_factory=StoreConfig)
    #: The node agents to run (none by default here; ``pinnace up`` runs one unless told otherwise).
    nodes: NodesConfig = field(default_factory=NodesConfig)
    #: The EncryptionConfiguration file; None: the one generated in the data directory (cluster.encryption).
    encryption_provider_config: Path | None = None
    #: The admission plugins the API server runs, by upstream name (kube-apiserver's default-on set).
    admission_plugins: tuple[str, ...] = DEFAULT_PLUGINS
    #: PKI and authentication options (HTTPS and authentication are always on).
    security: SecurityConfig = field(default_factory=SecurityConfig)
    #: kube-apiserver's ``--service-cluster-ip-range``: Services' cluster IPs (the first is the ``kubernetes`` one);
    #: "": the network slot's (10.96.0.0/12 for the first cluster on the host).
    service_cidr: str = ""
    #: kube-controller-manager's ``--cluster-cidr``: the pods' range, a podCIDR per node cut from it; "": the network
    #: slot's (10.244.0.0/16 for the first cluster on the host).
    cluster_cidr: str = ""
    #: kube-apiserver's ``--event-ttl``: seconds an Event lives after its last write (0: for ever).
    event_ttl: float = 3600.0
    #: Serve cluster DNS to the node agents' pods (:mod:`pinnace.cluster.clusterdns`; only as root, with nodes).
    cluster_dns: bool = True
    #: The cluster's DNS domain (the kubelets' clusterDomain).
    cluster_domain: str = "cluster.local"
    #: Serve ``metrics.k8s.io`` (``kubectl top``, the HPA's resource metrics) from the node agents' stats
    #: (:mod:`pinnace.cluster.metricsserver`; only with nodes and a controller manager).
    metrics_server: bool = True
    #: The ingress controller's HTTP and HTTPS ports (:mod:`pinnace.cluster.ingress`; None: 80 and 443 as root, else
    #: 8080 and 8443; an HTTP port of 0: no ingress controller, an HTTPS port of 0: no HTTPS).
    ingress_http_port: int | None = None
    ingress_https_port: int | None = None


def admission_plugins_for(config: ClusterConfig) -> tuple[str, ...]:
    """The admission plugins to run: the configured ones, less ServiceAccount when the service-account controller
    does not run — no one would create the accounts it requires, so it would refuse every pod."""
    plugins = config.admission_plugins
    if "ServiceAccount" in plugins and "serviceaccount" not in config.controller_manager.controllers:
        log.info("admission plugin ServiceAccount is off: the serviceaccount controller does not run")
        plugins = tuple(p for p in plugins if p != "ServiceAccount")
    return plugins


class LocalCluster:
    """Starts and stops every part of a local cluster, in order."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.store: Store | None = None
        self.server: APIServer | None = None
        self.compactor: Compactor | None = None
        self.controller_manager: ControllerManagerProcess | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self.nodes: NodeLauncher | None = None
        #: The network slot held while node agents run (None: no node agents, nothing on the host's network).
        self.slot_claim: SlotClaim | None = None
        #: This cluster's network names and ranges (set by :meth:`start`).
        self.slot: NetworkSlot = network_slot(0)

    @property
    def _ranges(self) -> NetworkSlot:
        """Where the default Service and pod ranges come from: the network slot, or slot 0 with etcd — the ranges
        are the cluster's, and every API server on that etcd (each with a data directory, a slot of its own) must
        use the same."""
        return network_slot(0) if self.config.store.is_etcd else self.slot

    @property
    def service_cidr(self) -> str:
        """The Services' range in effect: the configured one, else the network slot's."""
        return self.config.service_cidr or self._ranges.service_cidr

    @property
    def cluster_cidr(self) -> str:
        """The pods' range in effect: the configured one, else the network slot's."""
        return self.config.cluster_cidr or self._ranges.cluster_cidr

    def _take_network_slot(self) -> None:
        """Hold a network slot when node agents will run (they use the host's network); else only read the
        recorded one (its ranges are this data directory's)."""
        if self.config.nodes.nodes:
            self.slot_claim = claim_slot(self.config.data_dir)
            self.slot = self.slot_claim.slot
        else:
            self.slot = network_slot(recorded_slot(self.config.data_dir) or 0)
        if self.slot.index:
            log.info("network slot %d: bridge %s, Services %s, pods %s", self.slot.index, self.slot.bridge,
                     self.service_cidr, self.cluster_cidr)  # fmt: skip
            if self.config.store.is_etcd and not (self.config.service_cidr and self.config.cluster_cidr):
                log.warning(
                    "another cluster on this host holds the first network slot, and this one keeps the default "
                    "Service and pod ranges (its objects are in etcd, shared by its API servers): give it "
                    "--service-cluster-ip-range and --cluster-cidr of its own if their nodes meet"
                )

    async def start(self) -> None:
        """Open the store, serve the API, and start the controller manager."""
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_network_slot()
        pki = cluster_pki(self.config.data_dir, self.config.host, self.config.security, self.service_cidr)
        self.store = await self.config.store.open(self.config.data_dir)
        stored = encrypted_store(self.store, self.config.data_dir, self.config.encryption_provider_config)
        self.server = APIServer(
            stored,
            service_account_key=self.config.data_dir / SERVICE_ACCOUNT_KEY_FILE,
            admission_plugins=admission_plugins_for(self.config),
            service_cidr=self.service_cidr,
            event_ttl=self.config.event_ttl,
        )
        backend = "etcd" if self.config.store.is_etcd else "sqlite"  # (kubectl get componentstatuses)
        self.server.component_statuses.probes[f"{backend}-0"] = self.server.check_storage
        tls = secure_server(self.server, pki, self.config.security)
        await enable_rbac(self.server)  # the default policy is in place before the first request
        await self.server.listen(self.config.host, self.config.port, ssl=tls)
        write_kubeconfigs(self.config.data_dir, pki, self.url, self.config.security)
        endpoint = self.config.security.endpoint_url(self.url)
        await publish_cluster_info(self.server, endpoint, pki.ca.cert_pem())
        await publish_kubeadm_config(self.server, endpoint, self.config.security.encryption_algorithm)
        await install_default_storage_class(self.server, self.config.data_dir)
        self.compactor = Compactor(self.store, interval=self.config.compaction_interval)
        self.compactor.start()
        cm = self.config.controller_manager
        if not cm.cluster_signing_cert_file:  # csrsigning issues node certificates from the cluster CA
            ca_cert, ca_key = pki.path("ca")
            cm = dataclasses.replace(cm, cluster_signing_cert_file=str(ca_cert), cluster_signing_key_file=str(ca_key))
        cm = dataclasses.replace(cm, cluster_cidr=self.cluster_cidr)
        dns_ip = ""
        if self._serves_dns(cm):
            dns_ip = await install_dns_service(self.server, self.service_cidr)
            address = dns_bind_address(
                [spec.runtime for spec in self.config.nodes.nodes],
                bridge_host=str(ipaddress.ip_network(self.slot.node_subnet).network_address + 1),
                loopback=self.slot.loopback_base,
            )
            cm = dataclasses.replace(
                cm, cluster_dns_address=address, cluster_dns_port=DNS_PORT, cluster_domain=self.config.cluster_domain
            )
        if self._serves_metrics(cm):
            await install_metrics_server(self.server, pki.ca.cert_pem())
            cm = dataclasses.replace(cm, metrics_server_address="127.0.0.1")
        if self._serves_ingress(cm):
            await install_default_ingress_class(self.server, self.config.data_dir)
            http_port, https_port = default_ingress_ports()
            http_port = http_port if self.config.ingress_http_port is None else self.config.ingress_http_port
            https_port = https_port if self.config.ingress_https_port is None else self.config.ingress_https_port
            host = self.config.host
            cm = dataclasses.replace(
                cm,
                ingress_bind_address=host,
                ingress_http_port=http_port,
                ingress_https_port=https_port,
                ingress_address="127.0.0.1" if host in ("0.0.0.0", "::") else host,
            )
        if not cm.root_ca_file:  # kube-root-ca.crt in every namespace: what in-cluster clients verify the server with
            cm = dataclasses.replace(cm, root_ca_file=str(pki.path("ca")[0]))
        if cm.controllers or cm.sim_nodes:
            if cm.health_probe_bind_address is None:
                cm = dataclasses.replace(cm, health_probe_bind_address=f"127.0.0.1:{free_port('127.0.0.1')}")
            healthz = http_probe(f"http://{cm.health_probe_bind_address}/healthz")
            self.server.component_statuses.probes["controller-manager"] = healthz
            if "scheduler" in cm.controllers:  # the scheduler runs in the controller manager's process
                self.server.component_statuses.probes["scheduler"] = healthz
            path = self.config.data_dir / CONTROLLER_MANAGER_KUBECONFIG
            self.controller_manager = ControllerManagerProcess(path, cm)
            self.controller_manager.start()
            self._supervisor = asyncio.create_task(self.controller_manager.supervise(), name="controller-manager")
        if self.config.nodes.nodes:
            runtimes = [spec.runtime for spec in self.config.nodes.nodes]
            placer = placer_for(
                runtimes, self.config.data_dir, self.server.port, cluster_cidr=self.cluster_cidr, slot=self.slot
            )
            self.nodes = NodeLauncher(
                self.config.nodes,
                self.config.data_dir,
                self.url,
                placer=placer,
                cluster_dns=dns_ip,
                cluster_domain=self.config.cluster_domain,
            )
            await self.nodes.start()

    def _serves_ingress(self, cm: ControllerManagerConfig) -> bool:
        """Whether this cluster runs its ingress controller: with node agents (whose pods it routes to), a controller
        manager (that runs it), and an HTTP port."""
        return bool(self.config.ingress_http_port != 0 and self.config.nodes.nodes and (cm.controllers or cm.sim_nodes))

    def _serves_metrics(self, cm: ControllerManagerConfig) -> bool:
        """Whether this cluster runs its metrics server: asked, with node agents (whose stats it reads) and a
        controller manager (that runs it)."""
        return bool(self.config.metrics_server and self.config.nodes.nodes and (cm.controllers or cm.sim_nodes))

    def _serves_dns(self, cm: ControllerManagerConfig) -> bool:
        """Whether this cluster runs its DNS: asked, with node agents (whose pods use it), a controller manager (that
        runs it) and root (port 53)."""
        if not (self.config.cluster_dns and self.config.nodes.nodes and (cm.controllers or cm.sim_nodes)):
            return False
        if os.geteuid() != 0:
            log.info("cluster DNS is off: serving on port 53 needs root; pods use the host's resolvers")
            return False
        return True

    async def wait_for_nodes(self, timeout: float) -> list[str]:
        """Wait until the node agents have registered their Nodes; the names still missing after ``timeout``."""
        return await self.nodes.wait_registered(timeout) if self.nodes is not None else []

    @property
    def url(self) -> str:
        """The API server's URL, as clients on this host reach it."""
        assert self.server is not None
        return client_url(self.server.scheme, self.config.host, self.server.port)

    async def stop(self) -> None:
        """Stop the node agents (and their pods), the controller manager, then the server, then the store."""
        if self._supervisor is not None:  # first, so a controller manager that exits now is not restarted
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self.nodes is not None:
            await self.nodes.stop()
        if self.controller_manager is not None:
            await asyncio.to_thread(self.controller_manager.stop)
        if self.compactor is not None:
            await self.compactor.stop()
        if self.server is not None:
            await self.server.stop()
        if self.store is not None:
            await self.store.close()
        if self.slot_claim is not None:  # last: the nodes' network is gone
            self.slot_claim.release()
