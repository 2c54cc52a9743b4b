"""``pinnace adm join --control-plane``: a second (third, …) control plane, as kubeadm's control-plane join.

The steps, over the new node's data directory:

1. **preflight**: the directory is not already a node's or a control plane's; the cluster names a
   ``controlPlaneEndpoint`` (kubeadm refuses a control-plane join without a stable endpoint).
2. **discovery**: as a worker's (token and CA pin, :mod:`pinnace.adm.discovery`).
3. **download-certs**: with the bootstrap token, ``kubeadm-certs`` is fetched and decrypted with
   ``--certificate-key`` (:mod:`pinnace.adm.uploadcerts`); a wrong key or an expired Secret stops the join
   here, before anything is started. The ClusterConfiguration comes from ``kubeadm-config``.
4. **certs** and **kubeconfig**: this node's own API server serving certificate, etcd certificates and
   kubeconfigs, signed by the downloaded CAs (init's phases, with this node's name and address).
5. **etcd**: this node's member is added to the stacked etcd cluster as a learner (MemberAdd through the
   members recorded in ``kubeadm-config``), started with ``--initial-cluster-state existing``, then promoted
   to a voting member once in sync (kubeadm's EtcdLearnerMode); if it does not start, it is removed again.
6. **control-plane**: the API server on the local member, the controller manager and scheduler (leader
   elected: the store is shared) and this host's node agent, as ``pinnace up --detach`` runs them.
7. **mark-control-plane**: the Node's control-plane label and taint; the member's client URL is
   recorded in ``kubeadm-config`` for the next joins.

Unlike a worker's join, the command returns once the control plane is up: its processes run detached
(``adm reset`` stops them; ``pinnace down`` stops the API server and controllers but leaves the etcd member,
which the other control planes count in their quorum), as kubeadm's static pods outlive kubeadm. The node's
``kubeadm.yaml`` is init's, so ``pinnace adm init phase control-plane --data-dir DIR`` starts it all again.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field

from pinnace.adm import init as phases
from pinnace.adm.config import ClusterConfiguration, InitConfiguration
from pinnace.adm.discovery import DiscoveredCluster
from pinnace.adm.join import JoinConfig, JoinError, discover
from pinnace.adm.join import preflight as worker_preflight
from pinnace.adm.kubeadmconfig import download_config, read_etcd_endpoints, record_etcd_endpoint
from pinnace.adm.uploadcerts import ENCRYPTION_CONFIG, UploadCertsError, download_certs
from pinnace.client.rest import RestClient
from pinnace.client.tls import TLSConfig, build_ssl_context
from pinnace.cluster.stacked_etcd import add_member

__all__ = ["ControlPlaneJoin", "join_control_plane"]


@dataclass
class ControlPlaneJoin:
    """What ``adm join --control-plane`` is asked: the worker's join options, and this control plane's own."""

    join: JoinConfig
    certificate_key: str = ""
    #: This API server's address and port (kubeadm's JoinConfiguration ``controlPlane.localAPIEndpoint``).
    advertise_address: str = "127.0.0.1"
    bind_port: int = 6443
    etcd_client_port: int = 2379
    etcd_peer_port: int = 2380
    #: Options for this node's ``pinnace up`` (e.g. ``--runtime=oci``).
    up_args: tuple[str, ...] = ()
    timeout: float = 60.0
    announce: Callable[[str], None] = field(default=print)

    def plan(self, cluster: ClusterConfiguration) -> phases.InitPlan:
        """init's plan for this node: the cluster's configuration, this node's name, address and etcd member."""
        local = InitConfiguration(
            bootstrap_tokens=[], advertise_address=self.advertise_address, bind_port=self.bind_port,
            node_name=self.join.node_name,
        )  # fmt: skip
        cluster.certificates_dir = "/etc/kubernetes/pki"  # the plan puts it in this node's data directory
        plan = phases.InitPlan(self.join.data_dir, local, cluster, self.up_args, timeout=self.timeout)
        plan.etcd, plan.etcd_client_port, plan.etcd_peer_port = "stacked", self.etcd_client_port, self.etcd_peer_port
        return plan


def _preflight(request: ControlPlaneJoin) -> None:
    worker_preflight(request.join)
    if not request.certificate_key:
        raise JoinError("a control-plane join needs --certificate-key (printed by `pinnace adm init --upload-certs`)")
    for port in (request.bind_port, request.etcd_client_port, request.etcd_peer_port):
        problem = phases.port_problem(request.advertise_address, port)
        if problem is not None:
            raise JoinError(f"[preflight] Some fatal errors occurred:\n\t[ERROR {problem[0]}]: {problem[1]}")
    if (request.join.data_dir / phases.CONFIG_FILE).exists():
        raise JoinError(
            f"[preflight] {request.join.data_dir / phases.CONFIG_FILE} already exists: this data directory is already "
            "a control plane's. Run `pinnace adm reset` first"
        )


async def _fetch(request: ControlPlaneJoin, cluster: DiscoveredCluster) -> tuple[ClusterConfiguration, list[str]]:
    """The ClusterConfiguration and etcd members, and the shared keys written to this node's pki/ (step 3)."""
    token = request.join.tls_bootstrap_token or request.join.token
    rest = RestClient(cluster.server, token=token, ssl_context=build_ssl_context(TLSConfig(ca=cluster.ca_pem)))
    try:
        configuration = await download_config(rest)
        if not configuration.control_plane_endpoint:
            raise JoinError(
                "unable to add a new control plane instance to a cluster that doesn't have a stable "
                "controlPlaneEndpoint address: give `pinnace adm init` a --control-plane-endpoint"
            )
        endpoints = await read_etcd_endpoints(rest)
        request.announce('[download-certs] Downloading the certificates in Secret "kubeadm-certs" in "kube-system"')
        written = await download_certs(rest, request.join.data_dir, request.certificate_key)
    finally:
        await rest.close()
    if "pki/etcd/ca.key" not in written or not endpoints:
        raise JoinError(
            "the cluster does not run stacked etcd (its first control plane keeps the objects in its SQLite file), "
            "so no other control plane can share its store: make it with `pinnace adm init --etcd stacked`"
        )
    return configuration, endpoints


def join_control_plane(request: ControlPlaneJoin) -> phases.InitPlan:
    """Run the steps of the module doc; the plan this control plane was made with (JoinError/DiscoveryError/
    UploadCertsError/InitError with a clear message on failure; before etcd, nothing is left running)."""
    say = request.announce
    _preflight(request)
    say("[preflight] Running pre-flight checks before initializing the new control plane instance")
    cluster = asyncio.run(discover(request.join))
    pki_dir, encryption = request.join.data_dir / "pki", request.join.data_dir / ENCRYPTION_CONFIG
    fresh = not pki_dir.exists() and not encryption.exists()
    try:
        configuration, endpoints = asyncio.run(_fetch(request, cluster))
    except (UploadCertsError, JoinError):
        if fresh:  # nothing half-made stays behind
            shutil.rmtree(pki_dir, ignore_errors=True)
            encryption.unlink(missing_ok=True)
        raise
    plan = request.plan(configuration)
    for name in phases.certs(plan):
        say(f"[certs] Using {name} in {plan.data_dir / 'pki'}")
    for path in phases.kubeconfig(plan):
        say(f'[kubeconfig] Writing "{path.name}" kubeconfig file')
    local = plan.local_etcd()
    say(f"[etcd] Announced new etcd member {local.name} ({local.peer_url}) to the cluster at {', '.join(endpoints)}")
    initial_cluster = asyncio.run(add_member(endpoints, local))
    phases.etcd(plan, say, initial_cluster=initial_cluster, state="existing", learner_of=endpoints)
    phases.control_plane(plan, say)
    asyncio.run(phases.with_admin_client(plan, lambda rest: record_etcd_endpoint(rest, local.client_url)))
    phases.run_phase(plan, "mark-control-plane", announce=say)
    return plan
