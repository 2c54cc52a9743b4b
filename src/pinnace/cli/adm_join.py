"""``pinnace adm join``: bring this host into a cluster as a node, then run its node agent in the foreground.

Both forms of kubeadm's discovery: ``pinnace adm join HOST:PORT --token T
--discovery-token-ca-cert-hash sha256:H`` (repeatable pin; or
``--discovery-token-unsafe-skip-ca-verification``, with a warning), and
``--discovery-file FILE|URL``. Then the TLS bootstrap gets the node its own
certificate, ``kubelet.conf`` and the agent's flags go into ``--data-dir``, and
the node agent starts (``pinnace node --data-dir DIR`` starts it again later).

``--control-plane --certificate-key K`` joins a control plane instead
(:mod:`pinnace.adm.joincontrolplane`): the shared keys from ``kubeadm-certs``,
its own etcd member, API server, controllers and node agent, all detached;
the command returns once they are up.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from pinnace.cli.node import DEFAULT_NODE_DIR

JOINED = """This node has joined the cluster:
* Certificate signing request was sent to apiserver and a response was received.
* The node agent was given the new secure connection details ({kubeconfig}).

Run 'kubectl get nodes' on the control-plane to see this node join the cluster."""

JOINED_CONTROL_PLANE = """This node has joined the cluster and a new control plane instance was created:

* The control-plane certificates were downloaded and this node's own were signed with them.
* Control plane label and taint were applied to the new node.
* The Kubernetes control plane instances scaled up (API server at {url}).
* A new etcd member was added to the local/stacked etcd cluster.

To start administering your cluster from this node, you need to run the following as a regular user:

\tmkdir -p $HOME/.kube
\tcp -i {admin} $HOME/.kube/config

Run 'kubectl get nodes' to see this node join the cluster."""


def adm_join(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="The API server (control-plane endpoint) as host:port.")] = "",
    token: Annotated[str, typer.Option(help="The bootstrap token, for discovery and the TLS bootstrap.")] = "",
    discovery_token_ca_cert_hash: Annotated[
        list[str] | None, typer.Option(help="sha256:<hex> pin of the cluster CA's public key (repeatable).")
    ] = None,
    discovery_token_unsafe_skip_ca_verification: Annotated[
        bool, typer.Option(help="Trust the discovered CA without a pin (unsafe).")
    ] = False,
    discovery_file: Annotated[str, typer.Option(help="A kubeconfig file or HTTPS URL naming the cluster.")] = "",
    tls_bootstrap_token: Annotated[str, typer.Option(help="A token for the TLS bootstrap only.")] = "",
    node_name: Annotated[str, typer.Option(help="The Node's name (default: the host name).")] = "",
    data_dir: Annotated[Path, typer.Option(help="The node's data directory.")] = DEFAULT_NODE_DIR,
    runtime: Annotated[str, typer.Option(help="The container runtime: process or oci.")] = "process",
    node_ip: Annotated[
        str, typer.Option(help="The node's InternalIP (default: this host's address on the route to the endpoint).")
    ] = "",
    kubelet_port: Annotated[int, typer.Option(help="Port of the kubelet API on the node's address.")] = 10250,
    control_plane: Annotated[
        bool, typer.Option(help="Join as a control-plane node: its own API server, controllers and etcd member.")
    ] = False,
    certificate_key: Annotated[
        str, typer.Option(help="With --control-plane: the key that decrypts the uploaded control-plane certificates.")
    ] = "",
    apiserver_advertise_address: Annotated[
        str, typer.Option(help="With --control-plane: this API server's address (default: as --node-ip).")
    ] = "",
    apiserver_bind_port: Annotated[int, typer.Option(help="With --control-plane: this API server's port.")] = 6443,
    etcd_client_port: Annotated[int, typer.Option(help="With --control-plane: the etcd member's client port.")] = 2379,
    etcd_peer_port: Annotated[int, typer.Option(help="With --control-plane: the etcd member's peer port.")] = 2380,
    up_arg: Annotated[
        list[str] | None, typer.Option(help="With --control-plane: an option for its `pinnace up` (repeatable).")
    ] = None,
    log_level: Annotated[str, typer.Option(help="Logging level of the node agent.")] = "INFO",
) -> None:
    """Join this host to a cluster as a node, then run its node agent until SIGINT/SIGTERM.

    `pinnace adm join phase NAME [ENDPOINT] [OPTIONS]` runs one phase: preflight, or kubelet-start (the rest).
    """
    import socket

    from pinnace.adm.discovery import DiscoveryError
    from pinnace.adm.join import PHASES, JoinConfig, JoinError, join, local_address_towards, preflight
    from pinnace.adm.tlsbootstrap import BootstrapError

    phase = ""
    if endpoint == "phase":
        if not ctx.args or ctx.args[0] not in PHASES or len(ctx.args) > 2:
            typer.echo(
                f"error: want `pinnace adm join phase NAME [ENDPOINT]`, NAME one of {', '.join(PHASES)}", err=True
            )
            raise typer.Exit(2)
        phase, endpoint = ctx.args[0], (ctx.args[1] if len(ctx.args) > 1 else "")
    elif ctx.args:
        typer.echo(f"error: unexpected arguments: {' '.join(ctx.args)}", err=True)
        raise typer.Exit(2)

    name = node_name or socket.gethostname().lower()
    address = node_ip or (local_address_towards(endpoint) if endpoint else "127.0.0.1")
    config = JoinConfig(
        data_dir=data_dir.expanduser().resolve(),
        endpoint=endpoint,
        token=token,
        ca_cert_hashes=tuple(discovery_token_ca_cert_hash or ()),
        unsafe_skip_ca_verification=discovery_token_unsafe_skip_ca_verification,
        discovery_file=discovery_file,
        tls_bootstrap_token=tls_bootstrap_token,
        node_name=name,
        node_flags={"runtime": runtime, "node_ip": address, "kubelet_port": kubelet_port},
    )
    if discovery_token_unsafe_skip_ca_verification and not discovery_token_ca_cert_hash:
        typer.echo("WARNING: the cluster CA will not be verified against a pinned hash; this is unsafe", err=True)
    if control_plane and not phase:
        runtime_args = [f"--runtime={runtime}"] if runtime != "process" else []  # this host's node agent's runtime
        _join_control_plane(config, certificate_key, apiserver_advertise_address or address, apiserver_bind_port,
                            etcd_client_port, etcd_peer_port, (*runtime_args, *(up_arg or ())))  # fmt: skip
        return
    if phase == "preflight":
        try:
            preflight(config)
        except JoinError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        typer.echo("[preflight] Running pre-flight checks: this host can join")
        return
    try:
        kubeconfig = asyncio.run(join(config))
    except (DiscoveryError, BootstrapError, JoinError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(JOINED.format(kubeconfig=kubeconfig))
    sys.stdout.flush()
    from pinnace.adm.nodefiles import write_node_pid

    write_node_pid(config.data_dir)  # exec keeps the pid: `adm reset` stops the agent by it
    argv = [
        sys.executable, "-m", "pinnace", "node",
        "--kubeconfig", str(kubeconfig),
        "--node-name", name,
        "--data-dir", str(config.data_dir),
        "--runtime", runtime,
        "--node-ip", address,
        "--kubelet-port", str(kubelet_port),
        "--log-level", log_level,
    ]  # fmt: skip
    os.execv(sys.executable, argv)


def _join_control_plane(
    config: Any, key: str, address: str, port: int, client_port: int, peer_port: int, up_args: tuple[str, ...]
) -> None:
    """``join --control-plane``: :mod:`pinnace.adm.joincontrolplane`; returns once the control plane is up."""
    from pinnace.adm.config import ConfigError
    from pinnace.adm.discovery import DiscoveryError
    from pinnace.adm.init import InitError
    from pinnace.adm.join import JoinError
    from pinnace.adm.joincontrolplane import ControlPlaneJoin, join_control_plane
    from pinnace.adm.uploadcerts import UploadCertsError

    request = ControlPlaneJoin(
        config, certificate_key=key, advertise_address=address, bind_port=port, etcd_client_port=client_port,
        etcd_peer_port=peer_port, up_args=up_args, announce=typer.echo,
    )  # fmt: skip
    try:
        plan = join_control_plane(request)
    except (DiscoveryError, UploadCertsError, JoinError, InitError, ConfigError, RuntimeError, OSError) as exc:
        message = str(exc)
        typer.echo(message if message.startswith("[") else f"error: {message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(JOINED_CONTROL_PLANE.format(url=plan.url, admin=plan.admin_conf))
