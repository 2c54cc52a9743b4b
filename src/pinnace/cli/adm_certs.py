"""``pinnace adm certs`` and ``pinnace adm config``: kubeadm's certificate and configuration commands.

``certs renew NAME|all``, ``certs check-expiration``, ``certs certificate-key``
and ``certs generate-csr`` work on a data directory's files
(:mod:`pinnace.adm.certs`); ``config print init-defaults|join-defaults``,
``config migrate`` and ``config images list|pull`` on kubeadm's v1beta4
documents (:mod:`pinnace.adm.config`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pinnace.cli.adm_init import DEFAULT_DATA_DIR, fail

certs_app = typer.Typer(help="Certificates of the control plane (kubeadm certs).", no_args_is_help=True)
config_app = typer.Typer(help="kubeadm configuration documents (kubeadm config).", no_args_is_help=True)
print_app = typer.Typer(help="Print default configuration documents.", no_args_is_help=True)
images_app = typer.Typer(help="The control plane's images.", no_args_is_help=True)
config_app.add_typer(print_app, name="print")
config_app.add_typer(images_app, name="images")

DataDir = Annotated[Path, typer.Option("--data-dir", help="The control plane's directory.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", help="kubeadm configuration YAML.")]


def _data(data_dir: Path) -> Path:
    return data_dir.expanduser().resolve()


@certs_app.command("renew")
def certs_renew(
    name: Annotated[str, typer.Argument(help="A certificate's kubeadm name (apiserver, admin.conf, …) or 'all'.")],
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Sign a certificate again by its CA for another year, keeping its key, subject and SANs."""
    from pinnace.adm.certs import CertsError, renew

    try:
        renew(_data(data_dir), name, announce=typer.echo)
    except CertsError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        "\nDone renewing certificates. You must restart the control plane (pinnace down and up, or "
        "`pinnace adm upgrade node` after `pinnace adm init`) so that it uses the new certificates."
    )


@certs_app.command("check-expiration")
def certs_check_expiration(data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """When each certificate and CA expires, and whether it is managed here."""
    from pinnace.adm.certs import check_expiration, expiration_table

    data = _data(data_dir)
    if not (data / "pki").is_dir():
        raise fail(f"no certificates in {data / 'pki'}: is this a control plane's data directory?")
    typer.echo(f"[check-expiration] Reading the certificates in {data}\n")
    typer.echo(expiration_table(*check_expiration(data)), nl=False)


@certs_app.command("certificate-key")
def certs_certificate_key() -> None:
    """Print a new key for encrypting uploaded control-plane certificates (32 random bytes, hex)."""
    from pinnace.adm.certs import certificate_key

    typer.echo(certificate_key())


@certs_app.command("generate-csr")
def certs_generate_csr(
    cert_dir: Annotated[Path | None, typer.Option(help="Where the keys and CSRs go (default DATA_DIR/pki).")] = None,
    kubeconfig_dir: Annotated[Path | None, typer.Option(help="Where the kubeconfigs go (default DATA_DIR).")] = None,
    config: ConfigOpt = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
) -> None:
    """Keys and certificate signing requests for an external CA to sign (kubeadm's external CA mode)."""
    from pinnace.adm.certs import CertsError, generate_csrs
    from pinnace.adm.config import ConfigError, load_documents, parse_config
    from pinnace.adm.init import InitPlan, pki_config

    data = _data(data_dir)
    try:
        init, cluster = parse_config(load_documents(config.read_text())) if config else parse_config([])
    except (ConfigError, OSError) as exc:
        raise fail(f"cannot use the configuration: {exc}", 2) from None
    plan = InitPlan(data, init, cluster)
    try:
        written = generate_csrs(cert_dir or data / "pki", kubeconfig_dir or data, pki_config(plan), plan.url)
    except CertsError as exc:
        raise fail(str(exc)) from None
    for path in written:
        typer.echo(f"[certs] Wrote {path}")


def _print(docs: list[dict[str, object]]) -> None:
    from pinnace.adm.config import dump_documents

    typer.echo(dump_documents(docs), nl=False)


@print_app.command("init-defaults")
def print_init_defaults() -> None:
    """The default InitConfiguration and ClusterConfiguration (v1beta4)."""
    from pinnace.adm.config import init_defaults

    _print(init_defaults())


@print_app.command("join-defaults")
def print_join_defaults() -> None:
    """The default JoinConfiguration (v1beta4)."""
    from pinnace.adm.config import join_defaults

    _print(join_defaults())


@config_app.command("migrate")
def config_migrate(
    old_config: Annotated[Path, typer.Option(help="A kubeadm configuration file (v1beta3 or v1beta4).")],
    new_config: Annotated[Path | None, typer.Option(help="Where to write it in v1beta4 (default: stdout).")] = None,
) -> None:
    """Rewrite a configuration file in the current API version (v1beta4), with kubeadm's defaults."""
    from pinnace.adm.config import ConfigError, dump_documents, load_documents, migrate_documents

    try:
        text = dump_documents(migrate_documents(load_documents(old_config.read_text())))
    except (ConfigError, OSError) as exc:
        raise fail(str(exc)) from None
    if new_config is None:
        typer.echo(text, nl=False)
    else:
        new_config.write_text(text)


def _images(config: Path | None, data_dir: Path) -> list[str]:
    from pinnace.adm.config import ConfigError, control_plane_images, load_documents, parse_config
    from pinnace.adm.init import load_plan

    try:
        if config is not None:
            cluster = parse_config(load_documents(config.read_text()))[1]
        else:
            saved = load_plan(_data(data_dir))
            cluster = saved.cluster if saved is not None else parse_config([])[1]
    except (ConfigError, OSError) as exc:
        raise fail(f"cannot use the configuration: {exc}", 2) from None
    return control_plane_images(cluster)


@images_app.command("list")
def images_list(config: ConfigOpt = None, data_dir: DataDir = DEFAULT_DATA_DIR) -> None:
    """The images a kubeadm control plane of this configuration uses (Pinnace runs these components itself)."""
    for image in _images(config, data_dir):
        typer.echo(image)


@images_app.command("pull")
def images_pull(
    config: ConfigOpt = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    insecure_registry: Annotated[
        list[str] | None, typer.Option(help="Speak plain http to this host[:port] (repeatable).")
    ] = None,
) -> None:
    """Pull the control plane's images into this host's image store (``imageRepository`` names the registry)."""
    import asyncio

    from pinnace.node.cri import CRIError
    from pinnace.node.images.reference import parse_reference
    from pinnace.node.images.registry import RegistryClient
    from pinnace.node.images.store import ImageStore

    store = ImageStore(_data(data_dir) / "images")
    client = RegistryClient(store, insecure=insecure_registry or ())
    for image in _images(config, data_dir):
        try:
            digest = asyncio.run(client.pull(parse_reference(image), None))
        except (CRIError, ValueError, OSError) as exc:
            raise fail(f'failed to pull image "{image}": {exc}') from None
        typer.echo(f"[config/images] Pulled {image} ({digest})")
