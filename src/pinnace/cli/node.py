"""``pinnace node``: run a node agent (the kubelet part) against a cluster.

``pinnace node --kubeconfig FILE --node-name N --data-dir D --runtime process``
registers the Node ``N`` and runs the pods the scheduler binds to it, as host
processes (``process``, no root needed) or OCI containers (``oci``).
``pinnace up`` starts one per node it runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import platformdirs
import typer

__all__ = ["node_app"]

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
    runtime: Annotated[str, typer.Option(help="The container runtime: process or oci (default: process).")] = "",
    node_ip: Annotated[
        str, typer.Option(help="The node's InternalIP (process pods share it) (default: 127.0.0.1).")
    ] = "",
    kubelet_port: Annotated[
        int, typer.Option(help="Port of the kubelet API on the node's address (default: 10250).")
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
    cluster_dns: Annotated[
        str,
        typer.Option(help="The cluster DNS server's addresses, comma-separated (none: pods use the node's resolvers)."),
    ] = "",
    cluster_domain: Annotated[str, typer.Option(help="The cluster's DNS domain (default: cluster.local).")] = "",
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Register a Node and run the pods bound to it until SIGINT/SIGTERM.

    A data directory that ``pinnace adm join`` made holds the node's kubeconfig (``kubelet.conf``) and its saved
    flags (``node.yaml``): they are used for whatever is not given here, so ``pinnace node --data-dir DIR`` starts
    the joined node's agent again.
    """
    from pinnace.cluster.child_entry import configure_logging
    from pinnace.cluster.node_main import NodeOptions, NodeOptionsError, run_node

    configure_logging(log_level)
    options = NodeOptions(
        data_dir=str(data_dir),
        node_name=node_name,
        runtime=runtime,
        node_ip=node_ip,
        kubelet_port=kubelet_port,
        pod_cidr=pod_cidr,
        oci_runtime=oci_runtime,
        node_labels=node_labels,
        register_with_taints=register_with_taints,
        backoff_base=backoff_base,
        heartbeat_interval=heartbeat_interval,
        stop_pods_on_exit=stop_pods_on_exit,
        proxy_mode=proxy_mode,
        server_tls_bootstrap=server_tls_bootstrap,
        cluster_dns=cluster_dns,
        cluster_domain=cluster_domain,
    )
    try:
        code = run_node(kubeconfig, context, options)
    except NodeOptionsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    raise typer.Exit(code)
