"""``pinnace adm init`` and ``pinnace adm reset`` (and their ``phase`` subcommands), as kubeadm's.

``init`` brings up a control plane on this host from flags or ``--config``
(kubeadm's v1beta4 documents) and prints the join command; ``init phase NAME
[PART] [options]`` runs one phase with the same options. ``reset`` undoes init
or join on this host after kubeadm's prompt (``--force`` skips it); ``reset
phase NAME`` runs one of its phases. See :mod:`pinnace.adm.init` and
:mod:`pinnace.adm.reset`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import platformdirs
import typer

#: As ``pinnace up``'s (cli.main's; the adm commands do not import the main command module).
DEFAULT_DATA_DIR = Path(platformdirs.user_data_dir("pinnace"))
#: The commands take ``phase NAME [PART]`` as extra words (options may come before or after them).
PASS_THROUGH = {"allow_extra_args": True}


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}" if not message.startswith("[") else message, err=True)
    return typer.Exit(code)


def _plan(
    data_dir: Path,
    config: Path | None,
    control_plane_endpoint: str | None,
    pod_network_cidr: str | None,
    service_cidr: str | None,
    advertise_address: str | None,
    bind_port: int | None,
    node_name: str | None,
    token: str | None,
    token_ttl: str | None,
    skip_phases: str,
    ignore_preflight_errors: str,
    up_arg: list[str] | None,
) -> Any:
    """An InitPlan from ``--config`` (or the saved ``kubeadm.yaml``), flags overriding as kubeadm's do."""
    from pinnace.adm.config import ConfigError, load_documents, parse_config
    from pinnace.adm.init import InitPlan, load_plan

    data = data_dir.expanduser().resolve()
    try:
        if config is not None:
            init, cluster = parse_config(load_documents(config.read_text()))
            plan = InitPlan(data, init, cluster)
        else:
            plan = load_plan(data) or InitPlan(data)
    except (ConfigError, OSError) as exc:
        raise fail(f"cannot use the configuration: {exc}", 2) from None
    if control_plane_endpoint is not None:
        plan.cluster.control_plane_endpoint = control_plane_endpoint
    if pod_network_cidr is not None:
        plan.cluster.pod_subnet = pod_network_cidr
    if service_cidr is not None:
        plan.cluster.service_subnet = service_cidr
    if advertise_address is not None:
        plan.init.advertise_address = advertise_address
    if bind_port is not None:
        plan.init.bind_port = bind_port
    if node_name is not None:
        plan.init.node_name = node_name.lower()
    if token is not None or token_ttl is not None:
        first = plan.init.bootstrap_tokens[0] if plan.init.bootstrap_tokens else {}
        first = {**first, **({"token": token} if token else {}), **({"ttl": token_ttl} if token_ttl else {})}
        plan.init.bootstrap_tokens = [first, *plan.init.bootstrap_tokens[1:]]
    if skip_phases:
        plan.init.skip_phases = tuple(p.strip() for p in skip_phases.split(",") if p.strip())
    plan.ignore_preflight_errors = tuple(e.strip() for e in ignore_preflight_errors.split(",") if e.strip())
    if up_arg:
        plan.up_args = tuple(up_arg)
    return plan


def init(
    ctx: typer.Context,
    data_dir: Annotated[Path, typer.Option(help="The control plane's directory (kubeadm's /etc/kubernetes).")] = (
        DEFAULT_DATA_DIR
    ),
    config: Annotated[
        Path | None, typer.Option("--config", help="kubeadm InitConfiguration/ClusterConfiguration YAML.")
    ] = None,
    control_plane_endpoint: Annotated[
        str | None, typer.Option(help="A stable address (host:port) for the control plane, in the join command.")
    ] = None,
    pod_network_cidr: Annotated[str | None, typer.Option(help="The pods' address range (networking.podSubnet).")] = (
        None
    ),
    service_cidr: Annotated[str | None, typer.Option(help="The Services' range (networking.serviceSubnet).")] = None,
    apiserver_advertise_address: Annotated[
        str | None, typer.Option(help="The address the API server listens on and advertises (default 127.0.0.1).")
    ] = None,
    apiserver_bind_port: Annotated[int | None, typer.Option(help="The API server's port (default 6443).")] = None,
    node_name: Annotated[str | None, typer.Option(help="This host's Node name (default: the host name).")] = None,
    token: Annotated[
        str | None, typer.Option(help="The bootstrap token to create (\\[a-z0-9]{6}.\\[a-z0-9]{16}).")
    ] = None,
    token_ttl: Annotated[str | None, typer.Option(help="How long the token lives (default 24h0m0s; 0: ever).")] = None,
    skip_phases: Annotated[str, typer.Option(help="Comma-separated phases to skip.")] = "",
    ignore_preflight_errors: Annotated[str, typer.Option(help="Preflight checks to make warnings ('all').")] = "",
    upload_certs: Annotated[
        bool, typer.Option(help="Upload the shared control-plane keys to kubeadm-certs, for join --control-plane.")
    ] = False,
    certificate_key: Annotated[
        str, typer.Option(help="The key (32 bytes, hex) that encrypts them (default: a new one, printed).")
    ] = "",
    etcd: Annotated[
        str, typer.Option(help="'stacked': keep the objects in a local etcd member (default: the SQLite file).")
    ] = "",
    etcd_client_port: Annotated[int | None, typer.Option(help="The stacked etcd member's client port (2379).")] = None,
    etcd_peer_port: Annotated[int | None, typer.Option(help="The stacked etcd member's peer port (2380).")] = None,
    up_arg: Annotated[
        list[str] | None, typer.Option(help="An option for `pinnace up` itself (e.g. --runtime=oci); repeatable.")
    ] = None,
) -> None:
    """Run kubeadm init's phases on this host: PKI, kubeconfigs, the control plane, then the cluster's setup.

    `pinnace adm init phase NAME [PART] [OPTIONS]` runs one phase (preflight, certs, kubeconfig, control-plane,
    upload-config, mark-control-plane, bootstrap-token, show-join-command).
    """
    from pinnace.adm.config import ConfigError
    from pinnace.adm.init import PHASES, InitError, run_all, run_phase

    words = phase_words(ctx, PHASES)

    plan = _plan(data_dir, config, control_plane_endpoint, pod_network_cidr, service_cidr,
                 apiserver_advertise_address, apiserver_bind_port, node_name, token, token_ttl, skip_phases,
                 ignore_preflight_errors, up_arg)  # fmt: skip
    _etcd_options(plan, etcd, etcd_client_port, etcd_peer_port, from_file=config is not None)
    plan.upload_certs = upload_certs
    if certificate_key:
        from pinnace.adm.uploadcerts import UploadCertsError, parse_certificate_key

        try:
            parse_certificate_key(certificate_key)
        except UploadCertsError as exc:
            raise fail(str(exc), 2) from None
        plan.init.certificate_key = certificate_key
    try:
        if words:
            run_phase(plan, words[0], words[1] if len(words) > 1 else "all", announce=typer.echo)
            return
        typer.echo(f"[init] Using Kubernetes version: {plan.cluster.kubernetes_version}")
        run_all(plan, plan.init.skip_phases, announce=typer.echo)
    except (InitError, ConfigError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None


def _etcd_options(plan: Any, etcd: str, client_port: int | None, peer_port: int | None, *, from_file: bool) -> None:
    """``--etcd stacked`` (or ``etcd.local`` given in a ``--config`` ClusterConfiguration) and the member's ports."""
    if etcd not in ("", "stacked", "sqlite"):
        raise fail(f"--etcd {etcd!r}: want 'stacked' (a local etcd member) or 'sqlite'", 2)
    given = plan.cluster.extra.get("etcd")
    given_local = from_file and isinstance(given, dict) and "local" in given
    if etcd == "stacked" or (not etcd and given_local):
        if any(a.startswith("--store") for a in plan.up_args):
            raise fail("stacked etcd and --up-arg --store (an external store) exclude each other", 2)
        plan.etcd = "stacked"
    elif etcd == "sqlite":
        plan.etcd = ""
    if client_port is not None:
        plan.etcd_client_port = client_port
    if peer_port is not None:
        plan.etcd_peer_port = peer_port


def phase_words(ctx: typer.Context, phases: tuple[str, ...]) -> list[str]:
    """``phase NAME [PART]`` from the command's extra arguments ([] for the whole command)."""
    args = list(ctx.args)
    if not args:
        return []
    if args[0] != "phase" or any(a.startswith("-") for a in args) or len(args) > 3:
        raise fail(f"unexpected arguments: {' '.join(args)} (want: phase NAME [PART])", 2)
    if len(args) == 1:
        typer.echo("Phases, in order: " + ", ".join(phases))
        raise typer.Exit(0)
    return args[1:]


def reset(
    ctx: typer.Context,
    data_dir: Annotated[Path, typer.Option(help="The data directory init or join used.")] = DEFAULT_DATA_DIR,
    force: Annotated[bool, typer.Option("--force", "-f", help="Reset without asking.")] = False,
    kubeconfig: Annotated[
        Path | None, typer.Option(help="An admin kubeconfig, to delete a node's Node object with.")
    ] = None,
) -> None:
    """Stop what init or join started here and remove the PKI, kubeconfigs, store and node state.

    `pinnace adm reset phase NAME [OPTIONS]` runs one phase (preflight, remove-etcd-member, cleanup-node).
    """
    from pinnace.adm.reset import PHASES

    words = phase_words(ctx, PHASES)
    _reset_phases(data_dir, force, tuple(words[:1]) if words else PHASES, kubeconfig)


def _reset_phases(data_dir: Path, force: bool, phases: tuple[str, ...], kubeconfig: Path | None) -> None:
    from pinnace.adm import reset as adm_reset

    data = data_dir.expanduser().resolve()
    for phase in phases:
        if phase == "preflight":
            typer.echo(f"[reset] Reading the configuration from {data}")
            typer.echo(
                "[reset] WARNING: Changes made to this host by 'pinnace adm init' or 'pinnace adm join' will be "
                f"reverted: {data} loses its PKI, kubeconfigs, store and node state."
            )
            if not force and not typer.confirm("[reset] Are you sure you want to proceed?", default=False):
                raise fail("aborted reset operation")
        elif phase == "remove-etcd-member":
            if adm_reset.remove_etcd_member(data, announce=typer.echo):
                continue
            if (data / "store.db").exists():
                typer.echo("[reset] The store is this host's SQLite file: it goes with cleanup-node")
            elif (data / "kubeadm.yaml").exists():
                typer.echo("[reset] No local store found: assuming external etcd. Please, manually reset etcd")
            else:
                typer.echo("[reset] No control plane on this host: no store to remove")
        elif phase == "cleanup-node":
            try:
                adm_reset.cleanup_node(data, announce=typer.echo, kubeconfig=kubeconfig)
            except RuntimeError as exc:
                raise fail(str(exc)) from None
            typer.echo(adm_reset.NOTE)
        else:
            raise fail(f"unknown phase {phase!r}; known: {', '.join(adm_reset.PHASES)}", 2)


def with_cluster(data_dir: Path, kubeconfig: Path | None, action: Any) -> Any:
    """Run ``action(rest_client)`` against the cluster of ``--kubeconfig`` (default the data dir's admin.conf);
    errors become one line and exit 1 (as ``adm token``'s)."""
    from pinnace.cli import adm_token

    path = kubeconfig.expanduser() if kubeconfig else data_dir.expanduser().resolve() / "admin.conf"
    if not path.exists():
        raise fail(f"no kubeconfig at {path}: is this a control plane made by `pinnace adm init`? (or --kubeconfig)")
    return adm_token._run(path, action)
