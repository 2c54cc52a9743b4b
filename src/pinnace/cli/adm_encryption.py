"""``pinnace adm encryption``: encryption at rest — generate a configuration, rotate its key, re-encrypt.

Key rotation, as upstream documents it for one API server:

1. ``pinnace adm encryption rotate-key`` puts a new key first in the data
   directory's configuration (the old keys stay, to read what they wrote);
2. restart the cluster (``pinnace down`` / ``pinnace up``): new writes use the new key;
3. ``pinnace adm encryption reencrypt`` rewrites every Secret with it;
4. the old key may then be removed from the file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import platformdirs
import typer

#: As ``pinnace up``'s (cli.main imports this module, so it cannot import them from there).
DEFAULT_DATA_DIR = Path(platformdirs.user_data_dir("pinnace"))
DataDir = Annotated[Path, typer.Option("--data-dir", help="The cluster's data directory.")]
ContextOpt = Annotated[str | None, typer.Option("--context", help="The kubeconfig context to use.")]

encryption_app = typer.Typer(
    help="Encryption at rest: configuration, key rotation, re-encryption.", no_args_is_help=True
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--encryption-provider-config", help="The configuration file (default: the data dir's)."),
]


def _config_file(data_dir: Path, explicit: Path | None) -> Path:
    from pinnace.cluster.encryption import DEFAULT_CONFIG_FILE

    return explicit.expanduser() if explicit is not None else data_dir.expanduser().resolve() / DEFAULT_CONFIG_FILE


@encryption_app.command("generate-config")
def generate_config(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    config: ConfigOpt = None,
    provider: Annotated[str, typer.Option(help="aescbc, aesgcm or secretbox.")] = "aescbc",
    resource: Annotated[list[str] | None, typer.Option("--resource", help="A resource to encrypt (repeat).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing file (its keys are lost).")] = False,
) -> None:
    """Write an EncryptionConfiguration with one fresh key (identity after it, to read older plaintext)."""
    from pinnace.apiserver.encryption import generate

    path = _config_file(data_dir, config)
    if path.exists() and not force:
        typer.echo(f"error: {path} exists; its keys may be needed to read the store (--force to overwrite)", err=True)
        raise typer.Exit(1)
    try:
        generate(path, provider, tuple(resource or ("secrets",)))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(f"Wrote {path}.")


@encryption_app.command("rotate-key")
def rotate_key(data_dir: DataDir = DEFAULT_DATA_DIR, config: ConfigOpt = None) -> None:
    """Put a new random key first (it writes from the next start on); the old keys keep reading."""
    from pinnace.apiserver.encryption import ConfigError, rotate

    path = _config_file(data_dir, config)
    try:
        name = rotate(path)
    except FileNotFoundError:
        typer.echo(f"error: no encryption configuration at {path}", err=True)
        raise typer.Exit(1) from None
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Added key {name} to {path}; it encrypts new writes once the API server restarts.")
    typer.echo("Then rewrite what the old keys wrote: pinnace adm encryption reencrypt")


@encryption_app.command("reencrypt")
def reencrypt(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kubeconfig: Annotated[
        str | None, typer.Option("--kubeconfig", help="Kubeconfig (default: the data dir's, else the usual one).")
    ] = None,
    context: ContextOpt = None,
    resource: Annotated[
        list[str] | None, typer.Option("--resource", help="resource[.group] to rewrite (repeat; default: secrets).")
    ] = None,
) -> None:
    """Rewrite every object of the resources through the API, so each is stored with the current key."""
    from pinnace.api import errors
    from pinnace.client import load_client_config
    from pinnace.client.exceptions import ConfigError
    from pinnace.cluster import daemon
    from pinnace.cluster.encryption import ReencryptReport
    from pinnace.cluster.encryption import reencrypt as rewrite

    own = data_dir.expanduser().resolve() / daemon.KUBECONFIG_FILE
    path = kubeconfig or (str(own) if own.exists() else None)

    async def run() -> list[ReencryptReport]:
        async with load_client_config(path, context).rest_client() as client:
            return [await rewrite(client, r) for r in resource or ["secrets"]]

    try:
        reports = asyncio.run(run())
    except (errors.StatusError, ConfigError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    for report in reports:
        typer.echo(
            f"{report.resource}: re-encrypted {report.rewritten}, {report.current} already with the current key"
            + (f", {report.skipped} changed or deleted meanwhile" if report.skipped else "")
        )
