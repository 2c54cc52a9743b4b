"""``kubectl ns``: list namespaces, and switch the current context's namespace (kubens).

``kubectl ns`` lists them, the current one marked ``*``; ``kubectl ns NAME``
(or ``-n NAME``) sets the context's namespace in the kubeconfig file that
defines the context (after checking the namespace exists); ``kubectl ns -``
goes back to the previous one; ``-c`` prints the current one. The previous
namespace is remembered per context in ``~/.kube/kubens/<context>``, as kubens
keeps it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import yaml

from pinnace.api import errors
from pinnace.client.loader import kubeconfig_paths, load_kubeconfig
from pinnace.client.rest import ResourceRef
from pinnace.plugins.kubeargs import PluginFailure, add_connection_flags, client_config, run

NAMESPACES = ResourceRef("", "v1", "namespaces", False)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kubectl ns", description="List or switch namespaces.")
    parser.add_argument("target", nargs="?", default=None, help="The namespace to switch to, or - for the previous.")
    parser.add_argument("-c", "--current", action="store_true", help="Print the current namespace.")
    add_connection_flags(parser)
    return parser


def _state_file(context: str) -> Path:
    home = Path(os.environ["HOME"]) if os.environ.get("HOME") else Path.home()
    return home / ".kube" / "kubens" / context.replace(os.sep, "__")


def _context_file(explicit: str | None, context: str) -> tuple[Path, dict[str, Any]]:
    """The kubeconfig file that defines ``context`` (it is the one to edit), and its contents."""
    for path in kubeconfig_paths(explicit):
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            continue
        if any(isinstance(c, dict) and c.get("name") == context for c in doc.get("contexts") or []):
            return path, doc
    raise PluginFailure(f"context {context!r} is not defined in any kubeconfig file")


def _set_namespace(explicit: str | None, context: str, namespace: str) -> None:
    path, doc = _context_file(explicit, context)
    for entry in doc.get("contexts") or []:
        if isinstance(entry, dict) and entry.get("name") == context:
            entry.setdefault("context", {})["namespace"] = namespace
    tmp = path.with_name(f".{path.name}.ns-{os.getpid()}")
    tmp.write_text(yaml.safe_dump(doc, sort_keys=False))
    os.chmod(tmp, path.stat().st_mode & 0o777)
    os.replace(tmp, path)


async def _ns(args: argparse.Namespace) -> int:
    config = client_config(args)
    context = args.context or load_kubeconfig(args.kubeconfig).current_context
    current = config.namespace or "default"
    target = args.target or args.namespace
    if args.current:
        print(current)
        return 0
    async with config.rest_client() as client:
        if target is None:
            items = (await client.list(NAMESPACES)).get("items") or []
            for name in sorted(str(i["metadata"]["name"]) for i in items):
                print(f"* {name}" if name == current else f"  {name}")
            return 0
        state = _state_file(context)
        if target == "-":
            if not state.is_file():
                raise PluginFailure(f"no previous namespace is known for context {context!r}")
            target = state.read_text().strip()
        try:
            await client.get(NAMESPACES, target)
        except errors.NotFound:
            raise PluginFailure(f'namespace "{target}" not found') from None
    _set_namespace(args.kubeconfig, context, target)
    if target != current:
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(current + "\n")
    print(f'Context "{context}" modified.\nActive namespace is "{target}".')
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``kubectl-ns``."""
    args = _parser().parse_args(argv)
    return run(lambda: _ns(args))


if __name__ == "__main__":
    sys.exit(main())
