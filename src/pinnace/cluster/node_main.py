"""A node agent's body (``pinnace node``), and the lean entry point ``pinnace up`` starts it by.

:func:`run_node` is what ``pinnace node`` runs once its command line is parsed:
merge the flags ``adm join`` saved in the data directory, check the options,
record the agent's pid for ``adm reset`` and serve until SIGINT/SIGTERM.

``pinnace up`` runs each node's agent as ``python -m pinnace.cluster.node_main
--kubeconfig K --log-level L --config JSON`` (:meth:`NodeOptions.to_json`), the
same body without the command line: typer, pydantic and the other commands'
modules stay out of a process that lives as long as the cluster
(:mod:`pinnace.cluster.child_entry`, shared with the controller manager's child).
Users run ``pinnace node``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import os
import socket
import sys
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pinnace.adm.nodefiles import NODE_KUBECONFIG, read_node_flags, write_node_pid
from pinnace.cluster.child_entry import child_argv, child_main
from pinnace.cluster.runtime_tuning import prepare_server_process

if TYPE_CHECKING:
    from pinnace.client.rest import RestClient
    from pinnace.node.agent.agent import AgentConfig

__all__ = ["PROXY_MODES", "NodeOptions", "NodeOptionsError", "main", "node_argv", "run_node"]

#: The service proxy modes a node agent knows ("none": no Service routing on the node).
PROXY_MODES = ("iptables", "none")


class NodeOptionsError(ValueError):
    """The node agent's options are wrong (``pinnace node`` exits 2 with the message)."""


@dataclass(frozen=True, slots=True)
class NodeOptions:
    """What ``pinnace node`` was asked, past the kubeconfig and context; empty/zero means "saved, else default"."""

    data_dir: str
    node_name: str = ""
    runtime: str = ""
    node_ip: str = ""
    kubelet_port: int = 0
    pod_cidr: str = ""
    oci_runtime: str = ""
    #: --node-labels: ``k=v,k2=v2``.
    node_labels: str = ""
    #: --register-with-taints: ``key=value:Effect,...``.
    register_with_taints: str = ""
    backoff_base: float = 10.0
    heartbeat_interval: float = 10.0
    stop_pods_on_exit: bool = False
    proxy_mode: str = "iptables"
    server_tls_bootstrap: bool = False
    #: The service proxy's iptables chain prefix ("": upstream's ``KUBE-``; ``pinnace up`` gives a second cluster on
    #: the host another, :mod:`pinnace.cluster.netslot`, so clusters sharing the host's namespace keep their chains).
    proxy_chain_prefix: str = ""
    #: kube-proxy's --nodeport-addresses: comma-separated CIDRs NodePorts answer on ("": every local address).
    nodeport_addresses: str = ""
    #: The kubelet's --cluster-dns: comma-separated addresses of the cluster's DNS ("": none, pods use the node's
    #: resolvers) and --cluster-domain ("": cluster.local).
    cluster_dns: str = ""
    cluster_domain: str = ""

    def to_json(self) -> str:
        """These options as one JSON document (how ``pinnace up`` hands them to its child process)."""
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> NodeOptions:
        """The options :meth:`to_json` wrote."""
        return cls(**json.loads(text))


def node_argv(kubeconfig: str, log_level: str, options: NodeOptions) -> list[str]:
    """The command that runs a node agent with ``options`` through this lean entry point."""
    return child_argv("pinnace.cluster.node_main", kubeconfig, log_level, options.to_json())


def run_node(kubeconfig: str | None, context: str | None, options: NodeOptions) -> int:
    """Run the node agent until SIGINT/SIGTERM; its exit code (NodeOptionsError before it starts, if wrong)."""
    from pinnace.node.agent.agent import AgentConfig
    from pinnace.node.agent.registration import parse_labels, parse_taints
    from pinnace.node.agent.runtimes import RUNTIMES
    from pinnace.node.agent.serve import serve

    data_dir = Path(options.data_dir).expanduser()
    saved = read_node_flags(data_dir)
    if kubeconfig is None and (data_dir / NODE_KUBECONFIG).exists():
        kubeconfig = str(data_dir / NODE_KUBECONFIG)
    runtime = options.runtime or str(saved.get("runtime") or "process")
    if runtime not in RUNTIMES:
        raise NodeOptionsError(f"unknown runtime {runtime!r}; known: {', '.join(sorted(RUNTIMES))}")
    if options.proxy_mode not in PROXY_MODES:
        raise NodeOptionsError(f"unknown proxy mode {options.proxy_mode!r}; known: {', '.join(PROXY_MODES)}")
    try:
        labels, taints = parse_labels(options.node_labels), parse_taints(options.register_with_taints)
        if options.proxy_chain_prefix:
            from pinnace.proxy.rules import chain_prefix

            chain_prefix(options.proxy_chain_prefix)
        node_port_addresses = [str(ipaddress.ip_network(c.strip())) for c in options.nodeport_addresses.split(",")
                               if c.strip()]  # fmt: skip
        cluster_dns = tuple(
            str(ipaddress.ip_address(a.strip()))
            for a in (options.cluster_dns or str(saved.get("cluster_dns") or "")).split(",")
            if a.strip()
        )
    except ValueError as exc:
        raise NodeOptionsError(str(exc)) from None
    config = AgentConfig(
        node_name=options.node_name or str(saved.get("node_name") or "") or socket.gethostname().lower(),
        data_dir=data_dir.resolve(),
        node_ip=options.node_ip or str(saved.get("node_ip") or "127.0.0.1"),
        kubelet_port=options.kubelet_port or int(saved.get("kubelet_port") or 10250),
        pod_cidr=options.pod_cidr,
        labels=labels,
        taints=tuple(taints),
        backoff_base=options.backoff_base,
        heartbeat_interval=options.heartbeat_interval,
        companions=(("service proxy", _proxy_with(options.proxy_chain_prefix, node_port_addresses)),)
        if options.proxy_mode == "iptables"
        else (),
        server_tls_bootstrap=options.server_tls_bootstrap,
        cluster_dns=cluster_dns,
        cluster_domain=options.cluster_domain or str(saved.get("cluster_domain") or "") or "cluster.local",
    )
    if runtime == "oci":  # the oci runtime's factory takes its options from the environment (OCIOptions)
        chosen = {"PINNACE_OCI_RUNTIME": options.oci_runtime, "PINNACE_POD_CIDR": options.pod_cidr}
        os.environ.update({name: value for name, value in chosen.items() if value})
    write_node_pid(config.data_dir)  # `pinnace adm reset` stops the agent by it
    prepare_server_process()
    return asyncio.run(
        serve(
            config,
            kubeconfig=kubeconfig,
            context=context,
            runtime_name=runtime,
            stop_pods_on_exit=options.stop_pods_on_exit,
        )
    )


def _proxy_with(
    prefix: str, node_port_addresses: Sequence[str] = ()
) -> Callable[[RestClient, AgentConfig], Coroutine[Any, Any, None] | None]:
    """The service proxy companion, its chains under ``prefix`` ("": ``KUBE-``), NodePorts on
    ``node_port_addresses`` (none: every local address)."""

    def service_proxy_companion(rest: RestClient, config: AgentConfig) -> Coroutine[Any, Any, None] | None:
        """kube-proxy's iptables mode beside the agent (:mod:`pinnace.proxy`); None where it cannot run (it says
        why)."""
        from pinnace.proxy import service_proxy

        chains = {"prefix": prefix} if prefix else {}
        proxy = service_proxy(
            rest, config.node_name, local_cidr=config.pod_cidr, node_port_addresses=node_port_addresses, **chains
        )
        return proxy.run() if proxy is not None else None

    return service_proxy_companion


def _run(kubeconfig: str, config_json: str) -> int:
    try:
        return run_node(kubeconfig, None, NodeOptions.from_json(config_json))
    except NodeOptionsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the node agent the parent configured until SIGINT/SIGTERM; the exit code."""
    return child_main(argv, prog="python -m pinnace.cluster.node_main", description=__doc__, run=_run)


if __name__ == "__main__":
    sys.exit(main())
