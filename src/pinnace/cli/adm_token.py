"""``pinnace adm token``: kubeadm's ``token create|delete|generate|list`` against a running cluster.

Tokens let nodes join (``pinnace adm join … --token``). The commands talk to
the cluster with ``--kubeconfig`` (default: the data directory's admin
kubeconfig, as kubeadm uses /etc/kubernetes/admin.conf).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import platformdirs
import typer

#: As ``pinnace up``'s (cli.main imports this module, so it cannot import them from there).
DEFAULT_DATA_DIR = Path(platformdirs.user_data_dir("pinnace"))
DataDir = Annotated[Path, typer.Option("--data-dir", help="The cluster's data directory.")]
KubeconfigOpt = Annotated[
    Path | None, typer.Option("--kubeconfig", help="The kubeconfig to use (default: the data dir's admin.conf).")
]

token_app = typer.Typer(help="Bootstrap tokens, with which nodes join a cluster.", no_args_is_help=True)

T = TypeVar("T")


def _kubeconfig(data_dir: Path, explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit.expanduser()
    base = data_dir.expanduser()
    for name in ("admin.conf", "kubeconfig"):
        if (base / name).exists():
            return base / name
    typer.echo(f"error: no admin kubeconfig in {base} (is the cluster up? or pass --kubeconfig)", err=True)
    raise typer.Exit(1)


def _run(kubeconfig: Path, action: Callable[[Any], Awaitable[T]]) -> T:
    """Run ``action(rest_client)`` against the kubeconfig's cluster; errors become one line and exit 1."""
    from pinnace.api import errors
    from pinnace.client.config import load_client_config
    from pinnace.client.exceptions import ConfigError

    async def go() -> T:
        rest = load_client_config(kubeconfig).rest_client()
        try:
            return await action(rest)
        finally:
            await rest.close()

    try:
        return asyncio.run(go())
    except (ValueError, ConfigError, errors.StatusError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@token_app.command("generate")
def token_generate() -> None:
    """Print a new random token (it is not stored: pass it to ``token create``)."""
    from pinnace.api.bootstraptoken import generate_token

    typer.echo(generate_token())


@token_app.command("create")
def token_create(
    token: Annotated[
        str | None, typer.Argument(help="The token to create (\\[a-z0-9]{6}.\\[a-z0-9]{16}); random if omitted.")
    ] = None,
    ttl: Annotated[str, typer.Option(help="How long the token lives ('0' for ever).")] = "24h0m0s",
    description: Annotated[str, typer.Option(help="A human-readable note on what the token is for.")] = "",
    usages: Annotated[str, typer.Option(help="Comma-separated: signing, authentication.")] = "signing,authentication",
    groups: Annotated[str, typer.Option(help="Extra groups the token authenticates as.")] = (
        "system:bootstrappers:kubeadm:default-node-token"
    ),
    print_join_command: Annotated[bool, typer.Option(help="Print the whole join command, not just the token.")] = False,
    certificate_key: Annotated[
        str, typer.Option(help="With --print-join-command: print a control-plane join with this certificate key.")
    ] = "",
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Create a bootstrap token on the cluster and print it (or the join command that uses it)."""
    from pinnace.adm import tokens
    from pinnace.api.bootstraptoken import BootstrapToken, generate_token

    try:
        life = tokens.parse_duration(ttl)
        created = BootstrapToken.parse(
            token or generate_token(),
            description=description,
            usages=tuple(u.strip() for u in usages.split(",") if u.strip()),
            groups=tuple(g.strip() for g in groups.split(",") if g.strip()),
        ).ttl(life)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    path = _kubeconfig(data_dir, kubeconfig)
    _run(path, lambda rest: tokens.create_token(rest, created))
    if not print_join_command:
        typer.echo(created.token)
        return
    typer.echo(_join_command(path, created.token, certificate_key))


def _join_command(path: Path, token: str, certificate_key: str = "") -> str:
    """The join command for the kubeconfig's cluster: its server, the token, its CA's pin."""
    import base64

    from pinnace.adm.tokens import ca_cert_hash, join_command
    from pinnace.client import kubeconfig as kc

    cluster = (kc.load(path).get("clusters") or [{}])[0].get("cluster") or {}
    ca = cluster.get("certificate-authority-data")
    pins = [ca_cert_hash(base64.b64decode(ca))] if ca else []
    return join_command(
        str(cluster.get("server", "")), token, pins, control_plane=bool(certificate_key),
        certificate_key=certificate_key or None,
    )  # fmt: skip


@token_app.command("list")
def token_list(data_dir: DataDir = DEFAULT_DATA_DIR, kubeconfig: KubeconfigOpt = None) -> None:
    """List the cluster's bootstrap tokens: token, TTL, expiry, usages, description, extra groups."""
    from pinnace.adm import tokens

    found = _run(_kubeconfig(data_dir, kubeconfig), tokens.list_tokens)
    rows = [["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]]
    for t in found:
        expires = t.expiration.strftime("%Y-%m-%dT%H:%M:%SZ") if t.expiration else "<never>"
        usages = ",".join(t.usages) or "<none>"  # the kubeadm-certs TTL token has none
        rows.append([t.token, tokens.format_ttl(t), expires, usages, t.description or "<none>", ",".join(t.groups)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


@token_app.command("delete")
def token_delete(
    tokens_to_delete: Annotated[list[str], typer.Argument(help="Tokens, or token ids, to delete.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
    kubeconfig: KubeconfigOpt = None,
) -> None:
    """Delete bootstrap tokens: nodes can no longer join with them."""
    from pinnace.adm import tokens

    path = _kubeconfig(data_dir, kubeconfig)
    for value in tokens_to_delete:
        token_id = _run(path, functools.partial(tokens.delete_token, token_or_id=value))
        typer.echo(f'bootstrap token "{token_id}" deleted')
