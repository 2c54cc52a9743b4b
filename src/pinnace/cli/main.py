"""The ``pinnace`` command: ``up``, ``down``, ``status``, ``controller-manager``, ``lb``, and the command groups.

Each command imports what it needs when it runs, and the groups (``adm``,
``builder``, ``plugin``, ``image``, ``node``) are imported only when used
(:mod:`pinnace.cli.lazy`): one command does not pay for the others. ``pinnace
up`` parses its flags here and then becomes the lean server process
(:mod:`pinnace.cluster.up_main`), which never imported the command line.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import platformdirs
import typer

from pinnace.cli.lazy import Lazy, LazyGroup

if TYPE_CHECKING:
    from pinnace.cluster.controller_manager import ControllerManagerConfig


class _Commands(LazyGroup):
    """``pinnace``'s commands: those below, then the groups of other modules."""

    lazy = {
        "adm": Lazy("pinnace.cli.adm:adm_app", "Cluster administration (kubeadm's jobs)."),
        "builder": Lazy(
            "pinnace.cli.builder:builder_app",
            "Scaffold, generate, install and run operators on the Pinnace SDK (kubebuilder's workflow).",
        ),
        "plugin": Lazy(
            "pinnace.plugins.cli:plugin_app",
            "Find, install and upgrade kubectl plugins (krew's manifests and indexes; root: $PINNACE_PLUGIN_ROOT).",
        ),
        "image": Lazy(
            "pinnace.cli.image:image_app",
            "Build, import, list, remove, pull and push images in the node's image store.",
        ),
        "node": Lazy("pinnace.cli.node:node_app", "Run a node agent: register a Node and run the pods bound to it."),
    }


app = typer.Typer(
    cls=_Commands,
    help="Pinnace: a Kubernetes cluster and its tool belt, in one Python package.",
    no_args_is_help=True,
    add_completion=False,
)

DEFAULT_DATA_DIR = Path(platformdirs.user_data_dir("pinnace"))


def _print_version(wanted: bool) -> None:
    if wanted:
        version()
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    """Pinnace: a Kubernetes cluster and its tool belt, in one Python package."""


DataDir = Annotated[Path, typer.Option("--data-dir", help="Where the cluster keeps its state and kubeconfig.")]
KubeconfigOpt = Annotated[str | None, typer.Option("--kubeconfig", help="Path to the kubeconfig file.")]
ContextOpt = Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")]
LogLevel = Annotated[str, typer.Option(help="Logging level.")]
Controllers = Annotated[
    str,
    typer.Option(
        help="Controllers to run, comma-separated: names, '*' for the defaults, 'all' for all, '-name' to drop one."
    ),
]
SimNodes = Annotated[int, typer.Option(help="Simulated nodes to register and keep up (kwok-style).")]
GracePeriod = Annotated[
    float, typer.Option(help="Seconds without a node heartbeat before the node is marked NotReady/Unknown.")
]
EvictionTimeout = Annotated[
    float, typer.Option(help="Default seconds before pods on a NotReady/unreachable node are evicted.")
]


def _logging(level: str) -> None:
    from pinnace.cluster.child_entry import configure_logging

    configure_logging(level)


def _controller_manager_config(
    controllers: str, sim_nodes: int, grace: float, eviction: float
) -> ControllerManagerConfig:
    from pinnace.cluster.up_main import UpOptionsError, controller_manager_config

    try:
        return controller_manager_config(controllers, sim_nodes, grace, eviction)
    except UpOptionsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def up(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    port: Annotated[int, typer.Option(help="API server port.")] = 6443,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background; return once ready.")] = False,
    merge_kubeconfig: Annotated[bool, typer.Option(help="Merge a 'pinnace' context into your kubeconfig.")] = True,
    log_level: LogLevel = "INFO",
    controllers: Controllers = "*",
    sim_nodes: SimNodes = 0,
    nodes: Annotated[int, typer.Option(help="Node agents to run (pods really run on them); 0 for none.")] = 1,
    runtime: Annotated[str, typer.Option(help="The nodes' container runtime: process or oci.")] = "process",
    config_file: Annotated[
        Path | None, typer.Option("--config", help="A kind-like cluster description: nodes with roles, labels, taints.")
    ] = None,
    node_monitor_grace_period: GracePeriod = 40.0,
    pod_eviction_timeout: EvictionTimeout = 300.0,
    store: Annotated[
        str,
        typer.Option(help="etcd://host:port[,host:port...] to keep the objects in etcd (default: embedded SQLite)."),
    ] = "",
    etcd_cafile: Annotated[Path | None, typer.Option(help="CA of the etcd members (turns on TLS to etcd).")] = None,
    etcd_certfile: Annotated[Path | None, typer.Option(help="Client certificate for etcd.")] = None,
    etcd_keyfile: Annotated[Path | None, typer.Option(help="Client key for etcd.")] = None,
    encryption_provider_config: Annotated[
        Path | None,
        typer.Option(help="EncryptionConfiguration for data at rest (default: generated in the data dir, SQLite)."),
    ] = None,
    token_auth_file: Annotated[
        Path | None, typer.Option(help='Static bearer tokens: a CSV of token,user,uid,"group1,group2".')
    ] = None,
    apiserver_cert_extra_sans: Annotated[
        str, typer.Option(help="Extra names and IP addresses (comma-separated) for the API server's certificate.")
    ] = "",
    control_plane_endpoint: Annotated[
        str, typer.Option(help="host:port that admin.conf and cluster-info name (several API servers behind it).")
    ] = "",
    service_cluster_ip_range: Annotated[
        str,
        typer.Option(
            help="The Services' cluster IP range (default: 10.96.0.0/12; the next free one with another cluster up)."
        ),
    ] = "",
    cluster_cidr: Annotated[
        str,
        typer.Option(
            help="The pods' range; each node's podCIDR is cut from it (default: 10.244.0.0/16; the next free one "
            "with another cluster up)."
        ),
    ] = "",
    enable_admission_plugins: Annotated[
        str, typer.Option(help="Admission plugins to run besides the default ones (comma-separated).")
    ] = "",
    disable_admission_plugins: Annotated[
        str, typer.Option(help="Default admission plugins not to run (comma-separated).")
    ] = "",
    event_ttl: Annotated[
        float, typer.Option(help="Seconds an Event lives after its last write (kube-apiserver's 1h); 0: for ever.")
    ] = 3600.0,
    metric_resolution: Annotated[
        float, typer.Option(help="Seconds between the metrics server's scrapes of the nodes (metrics-server's 15 s).")
    ] = 15.0,
    ingress_http_port: Annotated[
        int | None,
        typer.Option(help="The ingress controller's HTTP port (default: 80 as root, else 8080); 0: no ingress."),
    ] = None,
    ingress_https_port: Annotated[
        int | None, typer.Option(help="The ingress controller's HTTPS port (default: 443 as root, else 8443); 0: none.")
    ] = None,
    horizontal_pod_autoscaler_sync_period: Annotated[
        float, typer.Option(help="Seconds between the HorizontalPodAutoscaler controller's looks at each autoscaler.")
    ] = 15.0,
) -> None:
    """Start a cluster: the API server on an embedded SQLite store (or etcd), and the controllers."""
    from pinnace.cluster.up_main import UpOptions, UpOptionsError, exec_up

    options = UpOptions(
        data_dir=str(data_dir),
        port=port,
        host=host,
        merge_kubeconfig=merge_kubeconfig,
        log_level=log_level,
        controllers=controllers,
        sim_nodes=sim_nodes,
        nodes=nodes,
        runtime=runtime,
        config_file=_str(config_file),
        node_monitor_grace_period=node_monitor_grace_period,
        pod_eviction_timeout=pod_eviction_timeout,
        store=store,
        etcd_cafile=_str(etcd_cafile),
        etcd_certfile=_str(etcd_certfile),
        etcd_keyfile=_str(etcd_keyfile),
        encryption_provider_config=_str(encryption_provider_config),
        token_auth_file=_str(token_auth_file),
        apiserver_cert_extra_sans=apiserver_cert_extra_sans,
        control_plane_endpoint=control_plane_endpoint,
        service_cluster_ip_range=service_cluster_ip_range,
        cluster_cidr=cluster_cidr,
        enable_admission_plugins=enable_admission_plugins,
        disable_admission_plugins=disable_admission_plugins,
        event_ttl=event_ttl,
        metric_resolution=metric_resolution,
        horizontal_pod_autoscaler_sync_period=horizontal_pod_autoscaler_sync_period,
        ingress_http_port=ingress_http_port,
        ingress_https_port=ingress_https_port,
    )
    if not detach:
        exec_up(options)  # the server runs without the command line loaded; same pid, exit code and signals
    from pinnace.client import kubeconfig
    from pinnace.cluster import daemon

    _logging(log_level)
    try:
        config = options.config()
        running = daemon.start_detached(config, merge_user=merge_kubeconfig, extra_args=options.arguments())
    except UpOptionsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    own = config.data_dir / daemon.KUBECONFIG_FILE
    merged = kubeconfig.user_kubeconfig_path() if merge_kubeconfig else None
    context = ""
    if merged is not None:
        # The server merged its context and made it current (a second cluster's is pinnace-<dir>), unless the
        # user's kubeconfig could not be read (it said why in its log; so do we).
        try:
            context = str(kubeconfig.load(merged).get("current-context") or daemon.CONTEXT_NAME)
        except (OSError, ValueError) as exc:
            typer.echo(daemon.not_merged(exc), err=True)
            merged = None
    typer.echo(
        daemon.next_steps(running.url, own, merged, context).replace(
            "Stop it with Ctrl-C here, or `pinnace down` from another terminal.",
            "Stop it with `pinnace down`.",
        )
    )
    typer.echo(f"(pid {running.pid}, log: {config.data_dir / daemon.LOG_FILE})")


def _str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


@app.command("controller-manager")
def run_controller_manager(
    kubeconfig_path: KubeconfigOpt = None,
    context: ContextOpt = None,
    controllers: Controllers = "*",
    sim_nodes: SimNodes = 0,
    node_monitor_grace_period: GracePeriod = 40.0,
    pod_eviction_timeout: EvictionTimeout = 300.0,
    leader_elect: Annotated[bool, typer.Option(help="Elect a leader through a Lease before running.")] = False,
    leader_elect_lease_duration: Annotated[float, typer.Option(help="Seconds a leader's Lease lasts.")] = 15.0,
    leader_elect_renew_deadline: Annotated[float, typer.Option(help="Seconds a leader retries renewing.")] = 10.0,
    leader_elect_retry_period: Annotated[float, typer.Option(help="Seconds between acquire/renew tries.")] = 2.0,
    cluster_signing_cert_file: Annotated[
        str | None, typer.Option(help="PEM CA certificate that signs approved CertificateSigningRequests.")
    ] = None,
    cluster_signing_key_file: Annotated[str | None, typer.Option(help="The PEM key of that CA.")] = None,
    root_ca_file: Annotated[
        str | None, typer.Option(help="PEM CA published as the kube-root-ca.crt ConfigMap in every namespace.")
    ] = None,
    health_probe_bind_address: Annotated[
        str | None, typer.Option(help="host:port serving /healthz and /readyz (none if unset).")
    ] = None,
    log_level: LogLevel = "INFO",
) -> None:
    """Run the built-in controllers, scheduler and simulated nodes against a cluster (kube-controller-manager's job).

    With ``--leader-elect``, several can run: one holds the ``kube-system/kube-controller-manager`` Lease and
    works, the others wait and take over within the lease duration if it stops renewing.
    """
    _logging(log_level)
    cm = _controller_manager_config(controllers, sim_nodes, node_monitor_grace_period, pod_eviction_timeout)
    cm = dataclasses.replace(
        cm,
        leader_elect=leader_elect,
        lease_duration=leader_elect_lease_duration,
        renew_deadline=leader_elect_renew_deadline,
        retry_period=leader_elect_retry_period,
        cluster_signing_cert_file=cluster_signing_cert_file,
        cluster_signing_key_file=cluster_signing_key_file,
        root_ca_file=root_ca_file,
        health_probe_bind_address=health_probe_bind_address,
    )
    import asyncio

    from pinnace.cluster import controller_manager
    from pinnace.cluster.runtime_tuning import prepare_server_process

    prepare_server_process()
    raise typer.Exit(asyncio.run(controller_manager.run(kubeconfig_path, context, cm)))


@app.command("lb")
def load_balancer(
    backend: Annotated[list[str], typer.Option("--backend", help="An API server's host:port (repeat for each).")],
    listen: Annotated[str, typer.Option(help="host:port clients connect to (the control-plane endpoint).")] = (
        "127.0.0.1:6443"
    ),
    log_level: LogLevel = "INFO",
) -> None:
    """A TCP load balancer in front of several API servers: connections go round-robin to those that answer."""
    import asyncio
    import signal

    from pinnace.cluster.loadbalancer import LoadBalancer, parse_address
    from pinnace.cluster.runtime_tuning import prepare_server_process

    _logging(log_level)
    try:
        address = parse_address(listen)
        backends = [parse_address(b) for b in backend]
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def run() -> None:
        lb = LoadBalancer(backends)
        port = await lb.listen(address.host, address.port)
        typer.echo(f"Balancing {address.host}:{port} over {', '.join(map(str, backends))}", err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        serving = asyncio.create_task(lb.serve_forever())
        await stop.wait()
        serving.cancel()
        await lb.close()

    prepare_server_process()
    asyncio.run(run())


@app.command()
def down(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Stop the cluster running from the data directory (its data is kept)."""
    from pinnace.cluster import daemon

    try:
        stopped = daemon.stop(data_dir.expanduser().resolve())
    except RuntimeError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if stopped is None:
        typer.echo(f"No Pinnace cluster is running from {data_dir}.")
        return
    typer.echo(f"Stopped the cluster (pid {stopped.pid}, {stopped.url}).")


@app.command()
def status(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Say whether the cluster is running and ready."""
    from pinnace.cluster import daemon

    running = daemon.read_pid_file(data_dir.expanduser().resolve())
    if running is None:
        typer.echo(f"No Pinnace cluster is running from {data_dir}.")
        raise typer.Exit(1)
    ready = daemon.is_ready(running.url, data_dir=data_dir.expanduser().resolve())
    typer.echo(f"Pinnace is running (pid {running.pid}) at {running.url}: {'ready' if ready else 'NOT ready'}")
    typer.echo(f"kubeconfig: {data_dir / daemon.KUBECONFIG_FILE}")
    if not ready:
        raise typer.Exit(2)


@app.command()
def version(
    output: Annotated[
        str, typer.Option("--output", "-o", help="'' for one line, or json or yaml for the /version document.")
    ] = "",
) -> None:
    """Print this Pinnace's version and the Kubernetes version it serves (as ``kind version`` does)."""
    from pinnace import KUBERNETES_VERSION, __version__
    from pinnace.api.buildinfo import platform_name, version_info

    if output == "":
        info = version_info()
        typer.echo(f"pinnace v{__version__} (Kubernetes {KUBERNETES_VERSION}) {info['goVersion']} {platform_name()}")
    elif output in ("json", "yaml"):
        import json

        import yaml

        doc = version_info()
        typer.echo(json.dumps(doc, indent=2) if output == "json" else yaml.safe_dump(doc, sort_keys=False).rstrip())
    else:
        typer.echo(f"error: --output must be json or yaml, not {output!r}", err=True)
        raise typer.Exit(2)


def main() -> None:
    """Entry point of the ``pinnace`` console script."""
    app()
