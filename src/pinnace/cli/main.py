"""The ``pinnace`` command: ``up``, ``down``, ``status``, ``controller-manager``, ``builder``, ``plugin``.

Each command imports what it needs when it runs, so that (for one) the
controller manager process does not carry the API server's code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import platformdirs
import typer

from pinnace.cli import adm_certs, adm_init, adm_upgrade
from pinnace.cli.adm_encryption import encryption_app
from pinnace.cli.adm_join import adm_join
from pinnace.cli.adm_token import token_app
from pinnace.cli.image import image_app
from pinnace.cli.node import node_app, nodes_config
from pinnace.cluster import controller_manager
from pinnace.plugins.cli import plugin_app

app = typer.Typer(
    help="Pinnace: a Kubernetes cluster and its tool belt, in one Python package.",
    no_args_is_help=True,
    add_completion=False,
)

DEFAULT_DATA_DIR = Path(platformdirs.user_data_dir("pinnace"))

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
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _controller_manager_config(
    controllers: str, sim_nodes: int, grace: float, eviction: float
) -> controller_manager.ControllerManagerConfig:
    try:
        names = controller_manager.resolve_controllers(controllers)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if sim_nodes < 0:
        typer.echo("error: --sim-nodes must be 0 or more", err=True)
        raise typer.Exit(2)
    return controller_manager.ControllerManagerConfig(
        controllers=names, sim_nodes=sim_nodes, node_monitor_grace_period=grace, pod_eviction_timeout=eviction
    )


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
            help="The Services' cluster IP range [default: 10.96.0.0/12; the next free one with another cluster up]."
        ),
    ] = "",
    cluster_cidr: Annotated[
        str,
        typer.Option(
            help="The pods' range; each node's podCIDR is cut from it [default: 10.244.0.0/16; the next free one "
            "with another cluster up]."
        ),
    ] = "",
    enable_admission_plugins: Annotated[
        str, typer.Option(help="Admission plugins to run besides the default ones (comma-separated).")
    ] = "",
    disable_admission_plugins: Annotated[
        str, typer.Option(help="Default admission plugins not to run (comma-separated).")
    ] = "",
) -> None:
    """Start a cluster: the API server on an embedded SQLite store (or etcd), and the controllers."""
    from pinnace.apiserver.admission.plugins import resolve_plugins
    from pinnace.client import kubeconfig
    from pinnace.cluster import daemon
    from pinnace.cluster.local import ClusterConfig
    from pinnace.cluster.security import SecurityConfig
    from pinnace.cluster.storeconfig import StoreConfig, parse_store_url

    _logging(log_level)
    cm = _controller_manager_config(controllers, sim_nodes, node_monitor_grace_period, pod_eviction_timeout)
    config_file = config_file.expanduser().resolve() if config_file is not None else None
    node_config = nodes_config(nodes, runtime, config_file)
    try:
        endpoints = parse_store_url(store) if store else ()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    store_config = StoreConfig(endpoints, etcd_cafile, etcd_certfile, etcd_keyfile)
    try:
        admission_plugins = resolve_plugins(enable_admission_plugins, disable_admission_plugins)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if store_config.is_etcd:
        # Other API servers may share this etcd, each with a controller manager: only one may work at a time.
        cm = dataclasses.replace(cm, leader_elect=True)
    if encryption_provider_config is not None:
        encryption_provider_config = encryption_provider_config.expanduser().resolve()
    _check_encryption_config(data_dir.expanduser().resolve(), encryption_provider_config)
    config = ClusterConfig(
        data_dir=data_dir.expanduser().resolve(),
        host=host,
        port=port,
        controller_manager=cm,
        nodes=node_config,
        store=store_config,
        encryption_provider_config=encryption_provider_config,
        admission_plugins=admission_plugins,
        security=SecurityConfig(
            token_auth_file=token_auth_file.expanduser().resolve() if token_auth_file else None,
            cert_sans=tuple(s.strip() for s in apiserver_cert_extra_sans.split(",") if s.strip()),
            control_plane_endpoint=control_plane_endpoint,
        ),
        service_cidr=service_cluster_ip_range,
        cluster_cidr=cluster_cidr,
    )
    store_args = [f"--store={store}"] if store else []
    store_args += node_config.arguments(config_file)
    for flag, value in (
        ("--etcd-cafile", etcd_cafile),
        ("--etcd-certfile", etcd_certfile),
        ("--etcd-keyfile", etcd_keyfile),
        ("--encryption-provider-config", encryption_provider_config),
        ("--token-auth-file", config.security.token_auth_file),
        ("--apiserver-cert-extra-sans", apiserver_cert_extra_sans or None),
        ("--control-plane-endpoint", control_plane_endpoint or None),
        ("--service-cluster-ip-range", service_cluster_ip_range or None),
        ("--cluster-cidr", cluster_cidr or None),
        ("--enable-admission-plugins", enable_admission_plugins or None),
        ("--disable-admission-plugins", disable_admission_plugins or None),
    ):
        if value is not None:
            store_args.append(f"{flag}={value}")
    if detach:
        try:
            running = daemon.start_detached(
                config, merge_user=merge_kubeconfig, extra_args=[*cm.arguments(), *store_args]
            )
        except RuntimeError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from None
        own = config.data_dir / daemon.KUBECONFIG_FILE
        merged = kubeconfig.user_kubeconfig_path() if merge_kubeconfig else None
        typer.echo(
            daemon.next_steps(running.url, own, merged).replace(
                "Stop it with Ctrl-C here, or `pinnace down` from another terminal.",
                "Stop it with `pinnace down`.",
            )
        )
        typer.echo(f"(pid {running.pid}, log: {config.data_dir / daemon.LOG_FILE})")
        return
    raise typer.Exit(
        daemon.run_foreground(config, merge_user=merge_kubeconfig, announce=lambda s: typer.echo(s, err=False))
    )


def _check_encryption_config(data_dir: Path, explicit: Path | None) -> None:
    """Refuse (exit 2) an EncryptionConfiguration file that would stop the server from starting."""
    from pinnace.apiserver.encryption import ConfigError, load
    from pinnace.cluster.encryption import DEFAULT_CONFIG_FILE

    path = explicit or data_dir / DEFAULT_CONFIG_FILE
    if explicit is None and not path.exists():
        return
    try:
        load(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


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
    )
    from pinnace.cluster.runtime_tuning import install_event_loop

    install_event_loop()
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
    from pinnace.cluster.loadbalancer import LoadBalancer, parse_address
    from pinnace.cluster.runtime_tuning import install_event_loop

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

    install_event_loop()
    asyncio.run(run())


adm_app = typer.Typer(help="Cluster administration (kubeadm's jobs).", no_args_is_help=True)
app.add_typer(adm_app, name="adm")
adm_app.add_typer(encryption_app, name="encryption")
adm_app.add_typer(token_app, name="token")
adm_app.command("init", context_settings=adm_init.PASS_THROUGH)(adm_init.init)
adm_app.command("reset", context_settings=adm_init.PASS_THROUGH)(adm_init.reset)
adm_app.add_typer(adm_certs.certs_app, name="certs")
adm_app.add_typer(adm_certs.config_app, name="config")
adm_app.add_typer(adm_upgrade.upgrade_app, name="upgrade")
adm_app.command("join", context_settings=adm_init.PASS_THROUGH)(adm_join)


@adm_app.command("migrate-store")
def adm_migrate_store(
    to: Annotated[str, typer.Option("--to", help="The target store: etcd://host:port[,host:port...].")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    etcd_cafile: Annotated[Path | None, typer.Option(help="CA of the etcd members (turns on TLS to etcd).")] = None,
    etcd_certfile: Annotated[Path | None, typer.Option(help="Client certificate for etcd.")] = None,
    etcd_keyfile: Annotated[Path | None, typer.Option(help="Client key for etcd.")] = None,
) -> None:
    """Copy a stopped cluster's objects from its SQLite store to etcd (uids and data kept); then `up --store`."""
    from pinnace.cluster import daemon
    from pinnace.cluster.migrate import MigrationConflict, migrate_store
    from pinnace.cluster.storeconfig import StoreConfig, parse_store_url
    from pinnace.storage.interface import StorageError

    data = data_dir.expanduser().resolve()
    running = daemon.read_pid_file(data)
    if running is not None:
        typer.echo(f"error: the cluster is running from {data} (pid {running.pid}); run `pinnace down` first", err=True)
        raise typer.Exit(1)
    if not (data / "store.db").exists():
        typer.echo(f"error: no SQLite store at {data / 'store.db'}", err=True)
        raise typer.Exit(1)
    try:
        target_config = StoreConfig(parse_store_url(to), etcd_cafile, etcd_certfile, etcd_keyfile)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None

    async def run() -> int:
        source = await StoreConfig().open(data)
        try:
            target = await target_config.open(data)
        except (StorageError, OSError) as exc:
            await source.close()
            typer.echo(f"error: cannot open {to}: {exc}", err=True)
            return 1
        try:
            report = await migrate_store(source, target)
        except MigrationConflict as exc:
            typer.echo(f"error: {exc}; nothing was overwritten", err=True)
            return 1
        finally:
            await target.close()
            await source.close()
        typer.echo(
            f"Copied {report.copied} objects to {to} ({report.already_there} were already there), "
            f"as of revision {report.source_revision}."
        )
        typer.echo(f"Start the cluster on it with: pinnace up --data-dir {data} --store {to}")
        return 0

    raise typer.Exit(asyncio.run(run()))


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


builder_app = typer.Typer(
    help="Scaffold, generate, install and run operators on the Pinnace SDK (kubebuilder's workflow).",
    no_args_is_help=True,
)
create_app = typer.Typer(help="Add to the project.", no_args_is_help=True)
builder_app.add_typer(create_app, name="create")
app.add_typer(builder_app, name="builder")
app.add_typer(plugin_app, name="plugin")
app.add_typer(image_app, name="image")
app.add_typer(node_app, name="node")

ProjectDir = Annotated[Path, typer.Option("--dir", help="The project directory.")]


def _scaffold_step(step: Callable[[], Any]) -> Any:
    from pinnace.builder.scaffold import ScaffoldError
    from pinnace.client.exceptions import ConfigError

    try:
        return step()
    except (ScaffoldError, ConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _report(paths: list[Path], root: Path) -> None:
    for path in paths:
        typer.echo(f"  wrote {path.relative_to(root) if path.is_relative_to(root) else path}")


@builder_app.command("init")
def builder_init(
    domain: Annotated[str, typer.Option("--domain", help="The API domain, e.g. example.com.")],
    repo: Annotated[str | None, typer.Option("--repo", help="Project name (default: the directory's).")] = None,
    directory: ProjectDir = Path("."),
) -> None:
    """Create an operator project: pyproject, manager entry point, packages, README, PROJECT."""
    from pinnace.builder import scaffold

    root = directory.resolve()
    _report(_scaffold_step(lambda: scaffold.init_project(root, domain, repo)), root)
    typer.echo("Next: pinnace builder create api --group GROUP --version v1 --kind KIND")


@create_app.command("api")
def builder_create_api(
    group: Annotated[str, typer.Option("--group", help="API group (the domain is appended).")],
    version: Annotated[str, typer.Option("--version", help="API version, e.g. v1alpha1.")],
    kind: Annotated[str, typer.Option("--kind", help="Kind, CamelCase.")],
    directory: ProjectDir = Path("."),
) -> None:
    """Add a kind: typed model, controller wired into main, generated CRD, and a test."""
    from pinnace.builder import scaffold

    root = directory.resolve()
    _report(_scaffold_step(lambda: scaffold.create_api(root, group, version, kind)), root)
    typer.echo("Next: edit the model and the reconciler, then `python -m pytest`.")


@builder_app.command("generate")
def builder_generate(directory: ProjectDir = Path(".")) -> None:
    """Regenerate config/crd/ from the project's models."""
    from pinnace.builder import scaffold

    root = directory.resolve()
    _report(_scaffold_step(lambda: scaffold.generate(root)), root)


@builder_app.command("install")
def builder_install(
    directory: ProjectDir = Path("."), kubeconfig: KubeconfigOpt = None, context: ContextOpt = None
) -> None:
    """Create or update the project's CRDs in the current cluster."""
    from pinnace.builder import scaffold

    names = _scaffold_step(lambda: asyncio.run(scaffold.install(directory.resolve(), kubeconfig, context)))
    for name in names:
        typer.echo(f"customresourcedefinition.apiextensions.k8s.io/{name} installed")


@builder_app.command("uninstall")
def builder_uninstall(
    directory: ProjectDir = Path("."), kubeconfig: KubeconfigOpt = None, context: ContextOpt = None
) -> None:
    """Delete the project's CRDs (and their objects) from the current cluster."""
    from pinnace.builder import scaffold

    names = _scaffold_step(lambda: asyncio.run(scaffold.uninstall(directory.resolve(), kubeconfig, context)))
    for name in names:
        typer.echo(f"customresourcedefinition.apiextensions.k8s.io/{name} deleted")


@builder_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def builder_run(ctx: typer.Context, directory: ProjectDir = Path(".")) -> None:
    """Run the project's manager against the current kubeconfig (extra arguments go to it)."""
    from pinnace.builder import scaffold

    raise typer.Exit(_scaffold_step(lambda: scaffold.run(directory.resolve(), list(ctx.args))))


def main() -> None:
    """Entry point of the ``pinnace`` console script."""
    app()
