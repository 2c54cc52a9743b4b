"""The controller manager process: built-in controllers, the scheduler and simulated nodes.

``pinnace controller-manager --kubeconfig FILE`` runs what kube-controller-manager
and kube-scheduler run upstream (and, with ``--sim-nodes N``, what kwok does)
in one process, against any API server its kubeconfig names — exactly as a
user's operator would run. ``pinnace up`` starts it as a child process of the
API server's, so the controllers' CPU never competes with request serving on
the server's event loop, and so it dies with its parent.

:class:`ControllerManagerConfig` is what both paths share; :func:`run` is the
process body.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinnace.cluster.child_entry import child_argv
from pinnace.cluster.supervisor import SupervisedProcess
from pinnace.controllers import BUILTIN_CONTROLLERS, DEFAULT_CONTROLLERS, controller_factory

if TYPE_CHECKING:  # the process body's imports are made in it, not by ``pinnace up``'s API server process
    from pinnace.runtime.manager import Manager

__all__ = ["ControllerManagerConfig", "ControllerManagerProcess", "resolve_controllers", "run"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ControllerManagerConfig:
    """What a controller manager runs, and how."""

    controllers: tuple[str, ...] = DEFAULT_CONTROLLERS
    #: Simulated nodes to register and keep up (0: none).
    sim_nodes: int = 0
    #: Seconds without a heartbeat before a node is marked NotReady/Unknown (upstream 40 s).
    node_monitor_grace_period: float = 40.0
    #: Default seconds a pod stays on a NoExecute-tainted node before eviction (upstream 300 s).
    pod_eviction_timeout: float = 300.0
    leader_elect: bool = False
    #: kube-controller-manager's --leader-elect-lease-duration, -renew-deadline and -retry-period (seconds).
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    #: The CA that signs approved CSRs (kube-controller-manager's --cluster-signing-cert-file/-key-file).
    cluster_signing_cert_file: str | None = None
    cluster_signing_key_file: str | None = None
    #: The CA published as kube-root-ca.crt in every namespace (--root-ca-file).
    root_ca_file: str | None = None
    #: The pods' range (--cluster-cidr): simulated nodes get their podCIDRs from it.
    cluster_cidr: str = "10.244.0.0/16"
    #: host:port where /healthz and /readyz are served (kube-controller-manager's health endpoint; None: not
    #: served). ``pinnace up`` sets one and probes it for ``kubectl get componentstatuses``.
    health_probe_bind_address: str | None = None
    #: Where the cluster's DNS server listens (:mod:`pinnace.cluster.clusterdns`; "": no cluster DNS), its port, and
    #: the zone it serves (the kubelets' clusterDomain).
    cluster_dns_address: str = ""
    cluster_dns_port: int = 53
    cluster_domain: str = "cluster.local"
    #: Where the metrics server listens (:mod:`pinnace.cluster.metricsserver`; "": none; any free port), and how
    #: often it scrapes the kubelets (metrics-server's --metric-resolution). Its certificate is issued by the
    #: cluster signing CA.
    metrics_server_address: str = ""
    metric_resolution: float = 15.0
    #: Where the ingress controller listens (:mod:`pinnace.cluster.ingress`; "": none), its HTTP and HTTPS ports (0:
    #: that listener off), and the address it reports in the Ingresses' status.
    ingress_bind_address: str = ""
    ingress_http_port: int = 80
    ingress_https_port: int = 443
    ingress_address: str = ""
    #: kube-controller-manager's --horizontal-pod-autoscaler-sync-period (seconds).
    hpa_sync_period: float = 15.0
    #: Extra keyword options per component, by name, for anything without its own field.
    component_options: dict[str, dict[str, Any]] = field(default_factory=dict)

    def options_for(self, name: str) -> dict[str, Any]:
        """The keyword options the named component's ``add_…`` function gets."""
        options: dict[str, Any] = {}
        if name == "nodelifecycle":
            options.update(grace_period=self.node_monitor_grace_period, eviction_timeout=self.pod_eviction_timeout)
        if name == "csrsigning":
            options.update(cert_file=self.cluster_signing_cert_file, key_file=self.cluster_signing_key_file)
        if name == "root-ca-cert-publisher":
            options.update(root_ca_file=self.root_ca_file)
        if name == "horizontalpodautoscaling":
            options.update(sync_period=self.hpa_sync_period)
        options.update(self.component_options.get(name, {}))
        return options

    def to_json(self) -> str:
        """This configuration as one JSON document (how ``pinnace up`` hands it to its child process)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ControllerManagerConfig:
        """The configuration :meth:`to_json` wrote."""
        data = json.loads(text)
        return cls(**{**data, "controllers": tuple(data["controllers"])})

    def arguments(self) -> list[str]:
        """This configuration as ``pinnace controller-manager`` command-line flags."""
        args = [
            "--controllers",
            ",".join(self.controllers),
            "--sim-nodes",
            str(self.sim_nodes),
            "--node-monitor-grace-period",
            str(self.node_monitor_grace_period),
            "--pod-eviction-timeout",
            str(self.pod_eviction_timeout),
        ]
        if self.cluster_signing_cert_file and self.cluster_signing_key_file:
            args += [
                f"--cluster-signing-cert-file={self.cluster_signing_cert_file}",
                f"--cluster-signing-key-file={self.cluster_signing_key_file}",
            ]
        if self.root_ca_file:
            args.append(f"--root-ca-file={self.root_ca_file}")
        if self.leader_elect:
            args += [
                "--leader-elect",
                f"--leader-elect-lease-duration={self.lease_duration}",
                f"--leader-elect-renew-deadline={self.renew_deadline}",
                f"--leader-elect-retry-period={self.retry_period}",
            ]
        return args


def resolve_controllers(spec: str) -> tuple[str, ...]:
    """Parse a ``--controllers`` value as kube-controller-manager does.

    A comma-separated list of names; ``*`` stands for the defaults, ``all`` for
    every built-in component, and ``-name`` removes one. An empty value means
    none. ValueError names an unknown component.
    """
    chosen: list[str] = []
    for raw in (part.strip() for part in spec.split(",")):
        if not raw:
            continue
        if raw == "*":
            names: Sequence[str] = DEFAULT_CONTROLLERS
        elif raw == "all":
            names = tuple(BUILTIN_CONTROLLERS)
        elif raw.startswith("-"):
            _check_known(raw[1:])
            chosen = [n for n in chosen if n != raw[1:]]
            continue
        else:
            _check_known(raw)
            names = (raw,)
        chosen.extend(n for n in names if n not in chosen)
    return tuple(chosen)


def _check_known(name: str) -> None:
    if name not in BUILTIN_CONTROLLERS:
        raise ValueError(f"unknown controller {name!r}; known: {', '.join(sorted(BUILTIN_CONTROLLERS))}")


async def start(manager: Manager, config: ControllerManagerConfig) -> None:
    """Add every configured component (and the simulated nodes) to ``manager``."""
    for name in config.controllers:
        await controller_factory(name)(manager, **config.options_for(name))
    if config.cluster_dns_address:
        from pinnace.cluster.clusterdns import DNSEndpoint

        manager.add(
            DNSEndpoint(manager.rest, config.cluster_dns_address, config.cluster_dns_port, config.cluster_domain),
            needs_leader_election=False,
        )
    if config.metrics_server_address and config.cluster_signing_cert_file and config.cluster_signing_key_file:
        from pinnace.cluster.metricsserver import MetricsServerEndpoint

        manager.add(
            MetricsServerEndpoint(
                manager.rest,
                config.metrics_server_address,
                config.cluster_signing_cert_file,
                config.cluster_signing_key_file,
                config.metric_resolution,
            ),
            needs_leader_election=False,
        )
    if config.ingress_bind_address and config.ingress_http_port:
        from pinnace.cluster.ingress import IngressEndpoint

        ingress = IngressEndpoint(
            manager.rest,
            config.ingress_bind_address,
            config.ingress_http_port,
            config.ingress_https_port,
            config.ingress_address or config.ingress_bind_address,
        )
        manager.add(ingress, needs_leader_election=False)
    if config.sim_nodes > 0:
        from pinnace.node.simulated import add_simulated_nodes  # only when asked for: ~1 MB of node code

        # Heartbeats renew at a quarter of the grace period, as upstream's 10 s of 40 s.
        heartbeat = min(10.0, config.node_monitor_grace_period / 4)
        await add_simulated_nodes(
            manager, config.sim_nodes, heartbeat_interval=heartbeat, cluster_cidr=config.cluster_cidr
        )


async def run(kubeconfig: str | None, context: str | None, config: ControllerManagerConfig) -> int:
    """Run a controller manager until SIGINT/SIGTERM; returns the exit code."""
    from pinnace.client import load_client_config
    from pinnace.client.rest import default_user_agent
    from pinnace.cluster.runtime_tuning import MemoryScavenger, tune_garbage_collector
    from pinnace.runtime.manager import Manager, ManagerOptions

    # Named as upstream's, so the objects its controllers write show "kube-controller-manager" in managedFields.
    rest = load_client_config(kubeconfig, context).rest_client(user_agent=default_user_agent("kube-controller-manager"))
    options = ManagerOptions(
        leader_election=config.leader_elect,
        leader_election_id="kube-controller-manager",
        lease_duration=config.lease_duration,
        renew_deadline=config.renew_deadline,
        retry_period=config.retry_period,
        health_probe_bind_address=config.health_probe_bind_address,
    )
    manager = Manager(rest, options)
    try:
        await start(manager, config)
        tune_garbage_collector()  # informer caches are long-lived acyclic JSON, like the API server's cache
        # Objects that pass through the informers leave freed heap behind, as in the API server: 30 ConfigMaps
        # of 1.4 MB created and deleted left the controller manager at 100 MB resident (37 MB before).
        scavenger = asyncio.create_task(MemoryScavenger.run_forever(), name="memory-scavenger")
        try:
            return await manager.run_until_signal()
        finally:
            scavenger.cancel()
    finally:
        await rest.close()


class ControllerManagerProcess(SupervisedProcess):
    """A controller manager child process, as ``pinnace up`` runs (and supervises) it.

    The child runs :mod:`pinnace.cluster.controller_manager_main` rather than the
    ``pinnace controller-manager`` command: the same :func:`run`, without the
    command line's code (typer and the pydantic it coerces options with).
    """

    def __init__(self, kubeconfig: Path, config: ControllerManagerConfig, *, log_level: str | None = None) -> None:
        self.kubeconfig = kubeconfig
        self.config = config
        self.log_level = log_level or logging.getLevelName(logging.getLogger().getEffectiveLevel())
        argv = child_argv("pinnace.cluster.controller_manager_main", str(kubeconfig), self.log_level, config.to_json())
        super().__init__("the controller manager", argv)
