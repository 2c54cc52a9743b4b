"""``pinnace adm upgrade plan|apply|diff|node``: kubeadm's upgrade workflow (see :mod:`pinnace.adm.upgrade`).

``plan`` reads ``kubeadm-config`` and the nodes and says what an upgrade to the
installed version would change; ``apply VERSION`` checks kubeadm's skew policy,
records the version and restarts this host's control plane; ``diff VERSION``
shows the configuration change without making it; ``node`` brings this host
(control plane or worker) in line with the cluster's recorded configuration.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from pinnace.cli.adm_init import DEFAULT_DATA_DIR, PASS_THROUGH, fail, phase_words, with_cluster

upgrade_app = typer.Typer(help="Upgrade the cluster, node by node (kubeadm upgrade).", no_args_is_help=True)

DataDir = Annotated[Path, typer.Option("--data-dir", help="This host's data directory.")]
KubeconfigOpt = Annotated[
    Path | None, typer.Option("--kubeconfig", help="The kubeconfig to use (default: the data dir's admin.conf).")
]
Force = Annotated[bool, typer.Option("--force", "-f", help="Let skippable version errors through.")]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]


def _versions(data_dir: Path, kubeconfig: Path | None) -> Any:
    from pinnace.adm.upgrade import read_versions

    typer.echo('[upgrade/config] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"')
    return with_cluster(data_dir, kubeconfig, read_versions)


def _target(version: str) -> Any:
    from pinnace.adm.upgrade import Version

    try:
        return Version.parse(version)
    except ValueError as exc:
        raise fail(str(exc), 2) from None


@upgrade_app.command("plan")
def upgrade_plan(
    version: Annotated[str | None, typer.Argument(help="The version to plan for (default: the installed one).")] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Say which versions the cluster runs and what an upgrade would change."""
    from pinnace.adm.upgrade import INSTALLED, plan_text

    _, versions = _versions(data_dir, kubeconfig)
    typer.echo(plan_text(versions, _target(version) if version else INSTALLED))


@upgrade_app.command("diff")
def upgrade_diff(
    version: Annotated[
        str | None, typer.Argument(help="The version to upgrade to (default: the installed one).")
    ] = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Show how ``apply VERSION`` would change the cluster's recorded configuration."""
    from pinnace.adm.upgrade import INSTALLED, config_diff

    cluster, _ = _versions(data_dir, kubeconfig)
    typer.echo(config_diff(cluster, _target(version) if version else INSTALLED), nl=False)


def _saved_plan(data_dir: Path) -> Any:
    from pinnace.adm.init import load_plan

    plan = load_plan(data_dir.expanduser().resolve())
    if plan is None:
        raise fail(
            f"this host's control plane was not set up by `pinnace adm init` ({data_dir}/kubeadm.yaml is missing): "
            "there is nothing here to restart"
        )
    return plan


@upgrade_app.command("apply")
def upgrade_apply(
    version: Annotated[str, typer.Argument(help="The Kubernetes version to upgrade to, e.g. v1.32.0.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kubeconfig: KubeconfigOpt = None,
    force: Force = False,
    yes: Yes = False,
    dry_run: Annotated[bool, typer.Option(help="Check and say what would change; change nothing.")] = False,
) -> None:
    """Upgrade the control plane on this host to VERSION, after kubeadm's version skew checks."""
    from pinnace.adm.init import InitError
    from pinnace.adm.upgrade import SkewError, check_versions, record_version, restart_control_plane

    target = _target(version)
    cluster, versions = _versions(data_dir, kubeconfig)
    typer.echo(f'[upgrade/version] You have chosen to change the cluster version to "{target}"')
    typer.echo(f"[upgrade/versions] Cluster version: {versions.cluster}")
    typer.echo(f"[upgrade/versions] kubeadm version: {_installed()}")
    try:
        check_versions(versions.cluster, target, kubelets=tuple(versions.kubelets.values())).raise_for(force)
    except SkewError as exc:
        hint = "\nYou can override this check with --force" if exc.skippable else ""
        raise fail(f"{exc}{hint}") from None
    plan = _saved_plan(data_dir)
    if dry_run:
        typer.echo(f"[dry-run] Would record {target} in kubeadm-config and restart the control plane from "
                   f"{plan.data_dir / 'kubeadm.yaml'}")  # fmt: skip
        return
    if not yes and not typer.confirm("[upgrade] Are you sure you want to proceed?", default=False):
        raise fail("aborted upgrade")
    updated = with_cluster(data_dir, kubeconfig, lambda rest: record_version(rest, cluster, target))
    typer.echo('[upgrade/config] Recorded the new version in the "kubeadm-config" ConfigMap')
    plan.cluster = updated
    try:
        restart_control_plane(plan, announce=typer.echo)
    except InitError as exc:
        raise fail(str(exc)) from None
    typer.echo(f'\n[upgrade/successful] SUCCESS! Your cluster was upgraded to "{target}". Enjoy!\n')
    typer.echo(
        "[upgrade/kubelet] Now that your control plane is upgraded, please proceed with upgrading your "
        "nodes if you haven't already done so (pinnace adm upgrade node on each)."
    )


def _installed() -> str:
    from pinnace.adm.upgrade import INSTALLED

    return str(INSTALLED)


NODE_PHASES = ("preflight", "control-plane", "kubelet-config")


@upgrade_app.command("node", context_settings=PASS_THROUGH)
def upgrade_node(
    ctx: typer.Context,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Bring this host in line with the cluster's recorded configuration: a control plane is restarted with it;
    a worker's version is checked against it (its agent runs in the foreground: restart it to finish).

    `pinnace adm upgrade node phase NAME` runs one phase: preflight, control-plane, kubelet-config.
    """
    from pinnace.adm.kubeadmconfig import download_config

    words = phase_words(ctx, NODE_PHASES)
    data = data_dir.expanduser().resolve()
    control_plane = (data / "kubeadm.yaml").exists()
    node_conf = data / "kubelet.conf"
    if not control_plane and not node_conf.exists():
        raise fail(f"{data} is neither a control plane's (kubeadm.yaml) nor a node's (kubelet.conf) data directory")
    cluster = with_cluster(data, kubeconfig or (None if control_plane else node_conf), download_config)
    for phase in words[:1] or NODE_PHASES:
        if phase == "preflight":
            _node_preflight(cluster, control_plane)
        elif phase == "control-plane" and control_plane:
            _node_control_plane(data, cluster)
        elif phase == "control-plane":
            typer.echo("[upgrade] Skipping phase. Not a control plane node.")
        elif phase == "kubelet-config":
            typer.echo("[upgrade] The configuration for this node was successfully updated!")
            if not control_plane:
                typer.echo(f"[upgrade] Restart this node's agent (`pinnace node --data-dir {data}`) to finish.")
        else:
            raise fail(f"unknown phase {phase!r}; known: {', '.join(NODE_PHASES)}", 2)


def _node_preflight(cluster: Any, control_plane: bool) -> None:
    from pinnace.adm.upgrade import INSTALLED, Version

    typer.echo("[upgrade/preflight] Running pre-flight checks")
    recorded = Version.parse(cluster.kubernetes_version)
    if recorded < INSTALLED and not control_plane:
        raise fail(
            f'the node version "{INSTALLED}" is newer than the control plane version "{recorded}": '
            "upgrade the control plane first (pinnace adm upgrade apply)"
        )
    if recorded > INSTALLED:
        raise fail(f'the cluster is at "{recorded}" but this host runs "{INSTALLED}": install Pinnace {recorded} first')


def _node_control_plane(data: Path, cluster: Any) -> None:
    from pinnace.adm.init import InitError
    from pinnace.adm.upgrade import restart_control_plane

    plan = _saved_plan(data)
    plan.cluster = cluster
    typer.echo(f"[upgrade] Upgrading the control plane instance to version {cluster.kubernetes_version}")
    try:
        restart_control_plane(plan, announce=typer.echo)
    except InitError as exc:
        raise fail(str(exc)) from None
    typer.echo("[upgrade] The control plane instance for this node was successfully upgraded!")
