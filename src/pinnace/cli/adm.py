"""``pinnace adm``: cluster administration, kubeadm's jobs.

``init``, ``join``, ``reset``, ``token``, ``certs``, ``config``, ``upgrade`` and
``encryption`` come from their own modules; ``migrate-store`` (copy a stopped
cluster's SQLite store to etcd) is here.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from pinnace.cli import adm_certs, adm_init, adm_upgrade
from pinnace.cli.adm_encryption import encryption_app
from pinnace.cli.adm_join import adm_join
from pinnace.cli.adm_token import token_app

__all__ = ["adm_app"]

DataDir = Annotated[Path, typer.Option("--data-dir", help="Where the cluster keeps its state and kubeconfig.")]

adm_app = typer.Typer(help="Cluster administration (kubeadm's jobs).", no_args_is_help=True)
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
    data_dir: DataDir = adm_init.DEFAULT_DATA_DIR,
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
