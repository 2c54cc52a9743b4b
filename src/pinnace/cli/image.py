"""``pinnace image``: the node's local image store from the command line.

``build`` (from a directory or a static binary), ``import`` (OCI layout or
``docker save`` tar), ``ls``, ``rm``, ``inspect``, ``pull`` and ``push`` (to any
registry v2; credentials from ``--username``/``--password-stdin`` or the docker
config file), and ``unpack`` (the read-only rootfs a container starts from).
The store is ``<data-dir>/images`` unless ``--root`` says otherwise — the same
directory the node agent's ``oci`` runtime uses.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import orjson
import platformdirs
import typer

from pinnace.node.cri import CRIError, RegistryAuth
from pinnace.node.images.archive import import_archive
from pinnace.node.images.auth import Keyring, docker_config_auths
from pinnace.node.images.build import build_from_binary, build_from_directory
from pinnace.node.images.config import ImageConfig
from pinnace.node.images.reference import Reference, parse_reference
from pinnace.node.images.registry import RegistryClient
from pinnace.node.images.store import ImageStore
from pinnace.node.images.unpack import unpack

image_app = typer.Typer(
    help="Build, import, list, remove, pull and push images in the node's image store.", no_args_is_help=True
)

T = TypeVar("T")

RootOpt = Annotated[Path | None, typer.Option("--root", help="The image store directory (default: <data-dir>/images).")]
DataDirOpt = Annotated[
    Path, typer.Option("--data-dir", help="The cluster's data directory (the store is its images/).")
]
TagOpt = Annotated[list[str] | None, typer.Option("--tag", "-t", help="Name the image (repeatable).")]
UserOpt = Annotated[str | None, typer.Option("--username", "-u", help="Registry user name.")]
PasswordStdinOpt = Annotated[bool, typer.Option("--password-stdin", help="Read the registry password from stdin.")]
CaFileOpt = Annotated[
    Path | None,
    typer.Option("--ca-file", help="CA bundle for the registry's certificate (else /etc/docker/certs.d/HOST/ca.crt)."),
]
InsecureOpt = Annotated[
    list[str] | None, typer.Option("--insecure-registry", help="Speak plain http to this host[:port] (repeatable).")
]

DEFAULT_DATA_DIR = Path(platformdirs.user_data_dir("pinnace"))


def _store(root: Path | None, data_dir: Path) -> ImageStore:
    return ImageStore(root if root is not None else data_dir / "images")


def _run(action: Callable[[], T]) -> T:
    """Run a command's body; a user error becomes ``error: …`` and exit code 1."""
    try:
        return action()
    except (CRIError, ValueError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _refs(tags: list[str] | None) -> list[Reference]:
    return [parse_reference(tag) for tag in tags or []]


def _argv(value: str | None) -> tuple[str, ...]:
    """A command given as a JSON array (exec form) or a shell-quoted string."""
    if not value:
        return ()
    if value.lstrip().startswith("["):
        parsed = json.loads(value)
        return tuple(str(item) for item in parsed)
    return tuple(shlex.split(value))


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.3g}{unit}"
        size /= 1000
    return f"{size:.3g}TB"


def _client(store: ImageStore, ref: Reference, insecure: list[str] | None, ca_file: Path | None) -> RegistryClient:
    ca_files = {ref.api_host: str(ca_file)} if ca_file else None
    return RegistryClient(store, insecure=insecure or (), ca_files=ca_files)


def _auth(ref: Reference, username: str | None, password_stdin: bool) -> RegistryAuth | None:
    """Credentials from the options, else from the docker config file (``$DOCKER_CONFIG/config.json``)."""
    if username:
        password = sys.stdin.readline().rstrip("\n") if password_stdin else os.environ.get("PINNACE_REGISTRY_PASSWORD")
        if password is None:
            password = typer.prompt("Password", hide_input=True)
        return RegistryAuth(username=username, password=password)
    config = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker")) / "config.json"
    if config.is_file():
        found = Keyring(docker_config_auths(orjson.loads(config.read_bytes())).items()).lookup(ref)
        return found[0] if found else None
    return None


@image_app.command("build")
def build(
    directory: Annotated[Path | None, typer.Argument(help="Directory whose tree becomes the image.")] = None,
    tag: TagOpt = None,
    from_binary: Annotated[
        Path | None, typer.Option("--from-binary", help="A static binary to make an image of (busybox: with applets).")
    ] = None,
    entrypoint: Annotated[str | None, typer.Option(help="Entrypoint: a JSON array or a shell-quoted string.")] = None,
    cmd: Annotated[str | None, typer.Option(help="Cmd: a JSON array or a shell-quoted string.")] = None,
    env: Annotated[list[str] | None, typer.Option("--env", "-e", help="K=V (repeatable).")] = None,
    workdir: Annotated[str, typer.Option(help="Working directory.")] = "",
    user: Annotated[str, typer.Option(help="User (name or uid[:gid]).")] = "",
    expose: Annotated[list[str] | None, typer.Option(help="Exposed port, e.g. 8080/tcp (repeatable).")] = None,
    root: RootOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Build a one-layer image from a directory, or from a static binary with --from-binary."""
    if (directory is None) == (from_binary is None):
        typer.echo("error: give a DIRECTORY or --from-binary, not both or neither", err=True)
        raise typer.Exit(2)
    for item in env or []:
        if "=" not in item:
            typer.echo(f"error: --env {item!r} is not K=V", err=True)
            raise typer.Exit(2)

    def action() -> str:
        config = ImageConfig(
            entrypoint=_argv(entrypoint),
            cmd=_argv(cmd),
            env=tuple(env or ()),
            working_dir=workdir,
            user=user,
            exposed_ports=tuple(p if "/" in p else f"{p}/tcp" for p in expose or ()),
        )
        store = _store(root, data_dir)
        if from_binary is not None:
            return build_from_binary(store, from_binary, config, _refs(tag))
        assert directory is not None
        return build_from_directory(store, directory, config, _refs(tag))

    typer.echo(_run(action))


@image_app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="An OCI layout directory or tar, or a docker save tar.")],
    tag: TagOpt = None,
    root: RootOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Import the images of an OCI layout or a docker save archive; prints their IDs."""
    for image_id in _run(lambda: import_archive(_store(root, data_dir), path, _refs(tag))):
        typer.echo(image_id)


@image_app.command("ls")
def ls(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only image IDs.")] = False,
    root: RootOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """List images: REPOSITORY, TAG, IMAGE ID, SIZE."""
    records = _run(lambda: _store(root, data_dir).images())
    if quiet:
        for record in records:
            typer.echo(record.id.removeprefix("sha256:")[:12])
        return
    rows = [("REPOSITORY", "TAG", "IMAGE ID", "SIZE")]
    for record in records:
        short, size = record.id.removeprefix("sha256:")[:12], _human(record.size)
        tags = [parse_reference(t) for t in record.repo_tags]
        if not tags:
            names = {parse_reference(d).name for d in record.repo_digests} or {"<none>"}
            rows += [(name, "<none>", short, size) for name in sorted(names)]
        rows += [(ref.name, ref.tag, short, size) for ref in tags]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        typer.echo("   ".join(cell.ljust(width) for cell, width in zip(row[:3], widths, strict=True)) + "   " + row[3])


@image_app.command("rm")
def rm(
    images: Annotated[list[str], typer.Argument(help="References or image IDs (a prefix will do).")],
    root: RootOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Remove images: a reference untags (the image goes with its last tag); an ID removes the image."""
    store = _store(root, data_dir)
    for name in images:
        record = _run(lambda name=name: store.untag(name))  # type: ignore[misc]
        gone = store.resolve(record.id) is None
        typer.echo(f"Deleted: {record.id}" if gone else f"Untagged: {name}")


@image_app.command("inspect")
def inspect(
    image: Annotated[str, typer.Argument(help="A reference or image ID.")],
    root: RootOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Print an image's record and config as JSON."""
    store = _store(root, data_dir)

    def action() -> dict[str, Any]:
        record = store.require(image)
        return {**store.record_dict(record), "config": store.config(record.id)}

    typer.echo(json.dumps(_run(action), indent=2))


@image_app.command("pull")
def pull(
    image: Annotated[str, typer.Argument(help="The reference to pull.")],
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    insecure_registry: InsecureOpt = None,
    ca_file: CaFileOpt = None,
    root: RootOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Pull an image from its registry (http for loopback and --insecure-registry hosts); prints its ID."""

    def action() -> str:
        ref = parse_reference(image)
        client = _client(_store(root, data_dir), ref, insecure_registry, ca_file)
        return asyncio.run(client.pull(ref, _auth(ref, username, password_stdin)))

    typer.echo(_run(action))


@image_app.command("push")
def push(
    image: Annotated[str, typer.Argument(help="The image to push (reference or ID).")],
    target: Annotated[str | None, typer.Argument(help="Where to push it (default: IMAGE itself).")] = None,
    username: UserOpt = None,
    password_stdin: PasswordStdinOpt = False,
    chunk_size: Annotated[
        int, typer.Option(help="Upload blobs in chunks of this many bytes (0: each in one request).")
    ] = 0,
    insecure_registry: InsecureOpt = None,
    ca_file: CaFileOpt = None,
    root: RootOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Push an image to a registry; prints the manifest digest."""

    def action() -> str:
        ref = parse_reference(target or image)
        client = _client(_store(root, data_dir), ref, insecure_registry, ca_file)
        auth = _auth(ref, username, password_stdin)
        return asyncio.run(client.push(image, ref, auth, chunk_size=chunk_size or None))

    typer.echo(_run(action))


@image_app.command("unpack")
def unpack_(
    image: Annotated[str, typer.Argument(help="A reference or image ID.")],
    root: RootOpt = None,
    data_dir: DataDirOpt = DEFAULT_DATA_DIR,
) -> None:
    """Unpack an image's layers (once; cached) and print its read-only rootfs directory."""
    store = _store(root, data_dir)
    typer.echo(_run(lambda: unpack(store, store.require(image).id)))
