"""Building Pinnace's own plugin index: one archive per plugin and its manifest, sha256 filled in.

Each plugin is a ``kubectl-<name>`` shell wrapper (so it works from any
archive, on any PATH) that runs ``python -m <module>`` with the first Python
that has Pinnace installed: ``$PINNACE_PYTHON``, then ``python3``, then
``python``. Archives are reproducible (fixed mtimes and owners), so the
committed manifests' digests stay valid until a plugin's wrapper changes.

    python -m pinnace.plugins.publish OUT [--version v0.1.0] [--base-uri URI]

writes ``OUT/plugins/<name>.yaml`` and ``OUT/archives/<name>-<version>.tar.gz``;
URIs are ``file://`` paths into OUT unless ``--base-uri`` names where the
archives will be published. ``OUT`` is then an index: ``pinnace plugin index add NAME OUT``.
"""

from __future__ import annotations

import argparse
import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from pinnace import __version__
from pinnace.plugins.archive import sha256_of
from pinnace.plugins.installer import bin_name
from pinnace.plugins.manifest import API_VERSION

__all__ = ["PLUGINS", "BuiltIn", "build_index", "wrapper_script"]

HOMEPAGE = "https://github.com/pinnace/pinnace"
CAVEATS = "Needs Python with the pinnace package (pip install pinnace); set PINNACE_PYTHON to choose one."


@dataclass(frozen=True, slots=True)
class BuiltIn:
    """One of Pinnace's plugins: its name, the module that implements it, and how it describes itself."""

    name: str
    module: str
    short: str
    description: str


PLUGINS = (
    BuiltIn(
        "pkg",
        "pinnace.plugins.pkg",
        "Find, install and upgrade kubectl plugins (Pinnace's krew)",
        "The Pinnace plugin manager as a kubectl plugin: `kubectl pkg install ns`. It upgrades itself\n"
        "like any other plugin: `kubectl pkg upgrade pkg`.",
    ),
    BuiltIn(
        "pinnace",
        "pinnace.plugins.kubectl_pinnace",
        "Pinnace's own commands (status, up, down, builder, plugin, ...)",
        "`kubectl pinnace status` runs `pinnace status`: every Pinnace command, where kubectl users look.",
    ),
    BuiltIn(
        "get-all",
        "pinnace.plugins.get_all",
        "List every namespaced object, of every resource the server serves",
        "Resources are discovered, not hard-coded: CRDs included. -n, -A/--all-namespaces, --since 1h.",
    ),
    BuiltIn(
        "ns",
        "pinnace.plugins.ns",
        "List namespaces and switch the current context's namespace",
        "`kubectl ns` lists (current marked), `kubectl ns NAME` switches, `kubectl ns -` goes back.",
    ),
    BuiltIn(
        "view-secret",
        "pinnace.plugins.view_secret",
        "Decode a secret's values",
        "`kubectl view-secret NAME [KEY]` prints one decoded value, `--all` prints them all.",
    ),
)


def wrapper_script(name: str, module: str) -> str:
    """The ``kubectl-<name>`` executable: find a Python with Pinnace and run ``module`` in it."""
    return f"""#!/bin/sh
# {bin_name(name)}: the Pinnace kubectl plugin "{name}" (python -m {module}).
for py in "${{PINNACE_PYTHON:-}}" python3 python; do
  if [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 \\
     && "$py" -c 'import importlib.util as u, sys; sys.exit(u.find_spec("pinnace") is None)' 2>/dev/null; then
    exec "$py" -m {module} "$@"
  fi
done
echo "{bin_name(name)}: no Python with the pinnace package found (pip install pinnace, or set PINNACE_PYTHON)" >&2
exit 127
"""


def _archive(path: Path, members: dict[str, str]) -> None:
    """A reproducible .tar.gz of executable text files."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member, text in sorted(members.items()):
            data = text.encode()
            info = tarfile.TarInfo(member)
            info.size, info.mode, info.mtime = len(data), 0o755, 0
            tar.addfile(info, io.BytesIO(data))
    with path.open("wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())


def build_index(out: Path, *, version: str = f"v{__version__}", base_uri: str | None = None) -> list[Path]:
    """Write every built-in plugin's archive and manifest under ``out``; returns the manifests."""
    (out / "plugins").mkdir(parents=True, exist_ok=True)
    (out / "archives").mkdir(parents=True, exist_ok=True)
    written = []
    for plugin in PLUGINS:
        exe = bin_name(plugin.name)
        tarball = out / "archives" / f"{plugin.name}-{version}.tar.gz"
        _archive(tarball, {exe: wrapper_script(plugin.name, plugin.module), "LICENSE": "Apache-2.0\n"})
        uri = base_uri.rstrip("/") + "/" + tarball.name if base_uri else tarball.absolute().as_uri()
        manifest = {
            "apiVersion": API_VERSION,
            "kind": "Plugin",
            "metadata": {"name": plugin.name},
            "spec": {
                "version": version,
                "homepage": HOMEPAGE,
                "shortDescription": plugin.short,
                "description": plugin.description,
                "caveats": CAVEATS,
                "platforms": [
                    {
                        "selector": {
                            "matchExpressions": [{"key": "os", "operator": "In", "values": ["linux", "darwin"]}]
                        },
                        "uri": uri,
                        "sha256": sha256_of(tarball),
                        "files": [{"from": exe, "to": "."}, {"from": "LICENSE", "to": "."}],
                        "bin": exe,
                    }
                ],
            },
        }
        path = out / "plugins" / f"{plugin.name}.yaml"
        path.write_text(yaml.safe_dump(manifest, sort_keys=False, width=200))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> None:
    """Build an index directory (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m pinnace.plugins.publish", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="The index directory to write.")
    parser.add_argument("--version", default=f"v{__version__}", help="The plugins' version (v-prefixed semver).")
    parser.add_argument("--base-uri", default=None, help="Where the archives will be published (default: file://).")
    args = parser.parse_args(argv)
    for path in build_index(args.out, version=args.version, base_uri=args.base_uri):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
