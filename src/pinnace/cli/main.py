"""The ``pinnace`` command: ``up``, ``down``, ``status``."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import platformdirs
import typer

from pinnace.client import kubeconfig
from pinnace.cluster import daemon
from pinnace.cluster.local import ClusterConfig

app = typer.Typer(
    help="Pinnace: a Kubernetes cluster and its tool belt, in one Python package.",
    no_args_is_help=True,
    add_completion=False,
)

DEFAULT_DATA_DIR = Path(platformdirs.user_data_dir("pinnace"))

DataDir = Annotated[Path, typer.Option("--data-dir", help="Where the cluster keeps its state and kubeconfig.")]


@app.command()
def up(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    port: Annotated[int, typer.Option(help="API server port.")] = 6443,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Run in the background; return once ready.")] = False,
    merge_kubeconfig: Annotated[bool, typer.Option(help="Merge a 'pinnace' context into your kubeconfig.")] = True,
    log_level: Annotated[str, typer.Option(help="Logging level.")] = "INFO",
) -> None:
    """Start a cluster: the API server on an embedded SQLite store, and the controllers."""
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    config = ClusterConfig(data_dir=data_dir.expanduser().resolve(), host=host, port=port)
    if detach:
        try:
            running = daemon.start_detached(config, merge_user=merge_kubeconfig)
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


@app.command()
def down(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """Stop the cluster running from the data directory (its data is kept)."""
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
    running = daemon.read_pid_file(data_dir.expanduser().resolve())
    if running is None:
        typer.echo(f"No Pinnace cluster is running from {data_dir}.")
        raise typer.Exit(1)
    ready = daemon.is_ready(running.url)
    typer.echo(f"Pinnace is running (pid {running.pid}) at {running.url}: {'ready' if ready else 'NOT ready'}")
    typer.echo(f"kubeconfig: {data_dir / daemon.KUBECONFIG_FILE}")
    if not ready:
        raise typer.Exit(2)


def main() -> None:
    """Entry point of the ``pinnace`` console script."""
    app()
