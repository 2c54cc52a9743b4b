"""``pinnace node``: run a node agent (the kubelet part) against a cluster.

``pinnace node --kubeconfig FILE --node-name N --data-dir D --runtime process``
registers the Node ``N`` and runs the pods the scheduler binds to it, as host
processes (``process``, no root needed) or OCI containers (``oci``).
``pinnace up`` starts one per node it runs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import platformdirs
import typer

if TYPE_CHECKING:
    from pinnace.cluster.nodes import NodesConfig

__all__ = ["node_app", "nodes_config"]

#: Where a node keeps its state by default (the same as ``pinnace adm join``'s).
DEFAULT_NODE_DIR = Path(platformdirs.user_data_dir("pinnace")) / "node"

node_app = typer.Typer(
    help="Run a node agent: register a Node and run the pods bound to it.", invoke_without_command=True
)


@node_app.callback()
def node(
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="The kubeconfig of the cluster to join.")
    ] = None,
    context: Annotated[str | None, typer.Option(help="The kubeconfig context to use.")] = None,
    node_name: Annotated[str, typer.Option(help="The Node's name (default: the host name).")] = "",
    data_dir: Annotated[Path, typer.Option(help="Where the node keeps its runtime state, volumes and logs.")] = (
        DEFAULT_NODE_DIR
    ),
    runtime: Annotated[str, typer.Option(help="The container runtime: process or oci [default: process].")] = "",
    node_ip: Annotated[
        str, typer.Option(help="The node's InternalIP (process pods share it) [default: 127.0.0.1].")
    ] = "",
    kubelet_port: Annotated[
        int, typer.Option(help="Port of the kubelet API on the node's address [default: 10250].")
    ] = 0,
    pod_cidr: Annotated[str, typer.Option(help="The node's pod CIDR, set on the Node at registration.")] = "",
    oci_runtime: Annotated[str, typer.Option(help="With --runtime oci: the OCI runtime, runc or crun.")] = "",
    node_labels: Annotated[str, typer.Option(help="Labels to register the Node with: k=v,k2=v2.")] = "",
    register_with_taints: Annotated[str, typer.Option(help="Taints to register with: key=value:Effect,...")] = "",
    backoff_base: Annotated[float, typer.Option(help="CrashLoopBackOff's first back-off, in seconds.")] = 10.0,
    heartbeat_interval: Annotated[float, typer.Option(help="Seconds between Lease renewals.")] = 10.0,
    stop_pods_on_exit: Annotated[
        bool, typer.Option(help="Stop every container when the agent exits (the node goes away for good).")
    ] = False,
    proxy_mode: Annotated[
        str,
        typer.Option(help="Service routing on the node (kube-proxy's mode): iptables (needs root), or none."),
    ] = "iptables",
    server_tls_bootstrap: Annotated[
        bool,
        typer.Option(
            help="Serve the kubelet API with a certificate of the cluster CA, asked for by a kubelet-serving CSR "
            "(an admin approves it), instead of a self-signed one."
        ),
    ] = False,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Register a Node and run the pods bound to it until SIGINT/SIGTERM.

    A data directory that ``pinnace adm join`` made holds the node's kubeconfig (``kubelet.conf``) and its saved
    flags (``node.yaml``): they are used for whatever is not given here, so ``pinnace node --data-dir DIR`` starts
    the joined node's agent again.
    """
    from pinnace.adm.join import NODE_KUBECONFIG, read_node_flags
    from pinnace.node.agent.agent import AgentConfig
    from pinnace.node.agent.registration import parse_labels, parse_taints
    from pinnace.node.agent.runtimes import RUNTIMES
    from pinnace.node.agent.serve import serve

    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    saved = read_node_flags(data_dir.expanduser())
    if kubeconfig is None and (data_dir.expanduser() / NODE_KUBECONFIG).exists():
        kubeconfig = str(data_dir.expanduser() / NODE_KUBECONFIG)
    node_name = node_name or str(saved.get("node_name") or "")
    runtime = runtime or str(saved.get("runtime") or "process")
    node_ip = node_ip or str(saved.get("node_ip") or "127.0.0.1")
    kubelet_port = kubelet_port or int(saved.get("kubelet_port") or 10250)
    if runtime not in RUNTIMES:
        typer.echo(f"error: unknown runtime {runtime!r}; known: {', '.join(sorted(RUNTIMES))}", err=True)
        raise typer.Exit(2)
    if proxy_mode not in ("iptables", "none"):
        typer.echo(f"error: unknown proxy mode {proxy_mode!r}; known: iptables, none", err=True)
        raise typer.Exit(2)
    try:
        labels, taints = parse_labels(node_labels), parse_taints(register_with_taints)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    config = AgentConfig(
        node_name=node_name or socket.gethostname().lower(),
        data_dir=data_dir.expanduser().resolve(),
        node_ip=node_ip,
        kubelet_port=kubelet_port,
        pod_cidr=pod_cidr,
        labels=labels,
        taints=tuple(taints),
        backoff_base=backoff_base,
        heartbeat_interval=heartbeat_interval,
        proxy_mode="" if proxy_mode == "none" else proxy_mode,
        server_tls_bootstrap=server_tls_bootstrap,
    )
    if runtime == "oci":  # the oci runtime's factory takes its options from the environment (OCIOptions)
        chosen = {"PINNACE_OCI_RUNTIME": oci_runtime, "PINNACE_POD_CIDR": pod_cidr}
        os.environ.update({name: value for name, value in chosen.items() if value})
    from pinnace.adm.reset import write_node_pid
    from pinnace.cluster.runtime_tuning import install_event_loop

    write_node_pid(config.data_dir)  # `pinnace adm reset` stops the agent by it
    install_event_loop()
    code = asyncio.run(
        serve(config, kubeconfig=kubeconfig, context=context, runtime_name=runtime, stop_pods_on_exit=stop_pods_on_exit)
    )
    raise typer.Exit(code)


def nodes_config(count: int, runtime: str, config_file: Path | None) -> NodesConfig:
    """``pinnace up``'s --nodes/--runtime/--config as a NodesConfig (exit 2 with a message when wrong)."""
    from pinnace.cluster.nodes import NodesConfig, load_cluster_config

    try:
        if config_file is not None:
            return load_cluster_config(config_file, default_runtime=runtime)
        if count < 0:
            raise ValueError("--nodes must be 0 or more")
        return NodesConfig.count(count, runtime)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
